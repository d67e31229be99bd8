#include <akt/status.h>
#include <gtest/gtest.h>

#include <memory>
#include <set>

namespace akt {
namespace {

TEST(Status, DefaultIsOkAndPrintsOk) {
  Status s;
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(s.ToString(), "OK");
}

TEST(Status, ErrorCarriesCodeAndMessage) {
  Status s = TimeoutError("ask to x timed out");
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kTimeout);
  EXPECT_EQ(s.ToString(), "TIMEOUT: ask to x timed out");
}

TEST(Status, EveryCodeHasADistinctName) {
  std::set<std::string_view> names;
  for (int c = 0; c <= static_cast<int>(StatusCode::kActivationFailed); ++c) {
    auto name = StatusCodeName(static_cast<StatusCode>(c));
    EXPECT_NE(name, "UNKNOWN");
    names.insert(name);
  }
  EXPECT_EQ(names.size(), static_cast<size_t>(StatusCode::kActivationFailed) + 1);
}

TEST(Result, HoldsValueOrError) {
  Result<int> v = 42;
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(*v, 42);
  Result<int> e = NotFoundError("nope");
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(e.value_or(7), 7);
}

TEST(Result, MovesOutMoveOnlyValues) {
  Result<std::unique_ptr<int>> r = std::make_unique<int>(5);
  std::unique_ptr<int> p = std::move(r).value();
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(*p, 5);
}

}  // namespace
}  // namespace akt

namespace akt {
namespace {

TEST(Status, EveryCodeHasAConstructorAndAPredicate) {
  struct Row {
    Status (*make)(std::string);
    bool (*is)(const Status&);
    StatusCode code;
  };
  const Row rows[] = {
      {TimeoutError, IsTimeout, StatusCode::kTimeout},
      {NotFoundError, IsNotFound, StatusCode::kNotFound},
      {StoppedError, IsStopped, StatusCode::kStopped},
      {MailboxFullError, IsMailboxFull, StatusCode::kMailboxFull},
      {InvalidArgumentError, IsInvalidArgument, StatusCode::kInvalidArgument},
      {AlreadyExistsError, IsAlreadyExists, StatusCode::kAlreadyExists},
      {UnhandledError, IsUnhandled, StatusCode::kUnhandled},
      {FailedPreconditionError, IsFailedPrecondition, StatusCode::kFailedPrecondition},
      {ActorFailedError, IsActorFailed, StatusCode::kActorFailed},
      {TypeMismatchError, IsTypeMismatch, StatusCode::kTypeMismatch},
      {SystemStoppedError, IsSystemStopped, StatusCode::kSystemStopped},
      {CancelledError, IsCancelled, StatusCode::kCancelled},
      {ResourceExhaustedError, IsResourceExhausted, StatusCode::kResourceExhausted},
      {InternalError, IsInternal, StatusCode::kInternal},
      {UnavailableError, IsUnavailable, StatusCode::kUnavailable},
      {ProtocolError, IsProtocolError, StatusCode::kProtocolError},
      {ActivationFailedError, IsActivationFailed, StatusCode::kActivationFailed},
  };
  EXPECT_EQ(std::size(rows), static_cast<std::size_t>(StatusCode::kActivationFailed));
  for (const Row& r : rows) {
    Status s = r.make("why");
    EXPECT_EQ(s.code(), r.code) << StatusCodeName(r.code);
    EXPECT_EQ(s.message(), "why");
    for (const Row& other : rows) {
      EXPECT_EQ(other.is(s), other.code == r.code) << StatusCodeName(r.code);
    }
    EXPECT_FALSE(r.is(Status()));
  }
}

TEST(ResultDeathTest, ValueOnAnErrorAbortsWithTheErrorsText) {
  Result<int> r = NotFoundError("no actor named 'ghost'");
  EXPECT_DEATH((void)r.value(), "value\\(\\) on an error: NOT_FOUND: no actor named 'ghost'");
  EXPECT_DEATH((void)*r, "NOT_FOUND");
}

}  // namespace
}  // namespace akt
