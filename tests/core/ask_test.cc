#include <atomic>
#include <latch>
#include <string>
#include <thread>

#include "test_util.h"

namespace akt {
namespace {

using namespace std::chrono_literals;
using test::Ping;
using test::Pong;

class AskTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(system_.Start().ok()); }
  ActorSystem system_{test::QuietOptions()};
};

struct Hold {};

// Replies only when the test opens the gate: lets a test make a reply late.
class Gated : public Actor {
 public:
  explicit Gated(std::latch* gate) : gate_(gate) {}
  void Receive(ReceiveContext& ctx) override {
    ctx.Match(
        [&](const Hold&) {
          gate_->wait();
          ctx.Reply(std::string("late")).IgnoreError();
        },
        [&](const Ping& p) { ctx.Reply(Pong{p.n}).IgnoreError(); });
  }
  std::latch* gate_;
};

class Silent : public Actor {
 public:
  void Receive(ReceiveContext&) override {}
};

TEST_F(AskTest, ReturnsTheReply) {
  auto echo = system_.Spawn<test::Echo>("echo");
  ASSERT_TRUE(echo.ok());
  for (int i = 0; i < 1000; ++i) {
    Result<Pong> r = echo->Ask<Pong>(Ping{i}, 5s);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    ASSERT_EQ(r->n, i);
  }
}

TEST_F(AskTest, TimesOutWhenReceiverNeverReplies) {
  auto silent = system_.Spawn<Silent>("silent");
  ASSERT_TRUE(silent.ok());
  auto start = std::chrono::steady_clock::now();
  Result<Message> r = silent->Ask(Ping{}, 50ms);
  auto took = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kTimeout);
  EXPECT_GE(took, 50ms);
}

TEST_F(AskTest, WrongReplyTypeIsATypeMismatch) {
  auto echo = system_.Spawn<test::Echo>("echo");
  ASSERT_TRUE(echo.ok());
  Result<std::string> r = echo->Ask<std::string>(Ping{1}, 5s);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kTypeMismatch);
}

TEST_F(AskTest, RejectsNonPositiveTimeout) {
  auto echo = system_.Spawn<test::Echo>("echo");
  ASSERT_TRUE(echo.ok());
  EXPECT_EQ(echo->Ask(Ping{}, 0ms).status().code(), StatusCode::kInvalidArgument);
}

TEST_F(AskTest, UnhandledMessageFailsTheAskAtOnce) {
  auto echo = system_.Spawn<test::Echo>("echo");
  ASSERT_TRUE(echo.ok());
  auto start = std::chrono::steady_clock::now();
  Result<Message> r = echo->Ask(std::string("not a ping"), 10s);
  EXPECT_EQ(r.status().code(), StatusCode::kUnhandled);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
}

TEST_F(AskTest, BlockingAskFromInsideAnActorIsRefused) {
  std::atomic<int> code{-1};
  class Asker : public Actor {
   public:
    Asker(PID target, std::atomic<int>* code) : target_(std::move(target)), code_(code) {}
    void Receive(ReceiveContext&) override {
      *code_ = static_cast<int>(target_.Ask(Ping{}, 1s).status().code());
    }
    PID target_;
    std::atomic<int>* code_;
  };
  auto echo = system_.Spawn<test::Echo>("echo");
  ASSERT_TRUE(echo.ok());
  auto asker = system_.Spawn<Asker>("asker", *echo, &code);
  ASSERT_TRUE(asker.ok());
  ASSERT_TRUE(asker->Tell(1).ok());
  ASSERT_TRUE(test::WaitFor([&] { return code.load() != -1; }));
  EXPECT_EQ(code.load(), static_cast<int>(StatusCode::kFailedPrecondition));
}

// GoAkt v3.14 bug 1: a reply slot returned to its pool after a timeout must
// never receive the late reply meant for the old request.
TEST_F(AskTest, LateReplyNeverReachesALaterAsk) {
  std::latch gate(1);
  auto gated = system_.Spawn<Gated>("gated", &gate);
  auto echo = system_.Spawn<test::Echo>("echo");
  ASSERT_TRUE(gated.ok() && echo.ok());
  Result<Message> first = gated->Ask(Hold{}, 20ms);
  ASSERT_EQ(first.status().code(), StatusCode::kTimeout);
  uint64_t late_before = system_.DeadLetterCount(DeadLetterReason::kAskTimedOut);

  // New asks run while the old request is still being handled; then the
  // late reply is sent and the asks go on.
  std::thread opener([&] { gate.count_down(); });
  for (int i = 0; i < 2000; ++i) {
    Result<Pong> r = echo->Ask<Pong>(Ping{i}, 5s);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    ASSERT_EQ(r->n, i) << "a stale reply was delivered";
  }
  opener.join();
  EXPECT_TRUE(test::WaitFor(
      [&] { return system_.DeadLetterCount(DeadLetterReason::kAskTimedOut) == late_before + 1; }));
  // The gated actor serves new asks normally afterwards.
  Result<Pong> again = gated->Ask<Pong>(Ping{5}, 5s);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->n, 5);
}

// GoAkt v3.14 bug 2: a call must never complete on both its reply and its
// error path. Here the actor replies and then fails.
TEST_F(AskTest, ReplyThenFailureCompletesTheAskOnceWithTheReply) {
  class ReplyThenThrow : public Actor {
   public:
    void Receive(ReceiveContext& ctx) override {
      ctx.Reply(std::string("answer")).IgnoreError();
      EXPECT_EQ(ctx.Reply(std::string("again")).code(), StatusCode::kFailedPrecondition);
      throw std::runtime_error("after reply");
    }
  };
  auto pid = system_.SpawnWith<ReplyThenThrow>(
      "rtt", SpawnOptions().WithSupervisor(Supervisor().WithAnyErrorDirective(Directive::kResume)));
  ASSERT_TRUE(pid.ok());
  for (int i = 0; i < 200; ++i) {
    Result<std::string> r = pid->Ask<std::string>(1, 5s);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(*r, "answer");
  }
}

TEST_F(AskTest, FailureWithoutReplyFailsTheAskPromptly) {
  class Thrower : public Actor {
   public:
    void Receive(ReceiveContext&) override { throw std::invalid_argument("bad input"); }
  };
  auto pid = system_.Spawn<Thrower>("thrower");
  ASSERT_TRUE(pid.ok());
  auto start = std::chrono::steady_clock::now();
  Result<Message> r = pid->Ask(1, 10s);
  ASSERT_EQ(r.status().code(), StatusCode::kActorFailed);
  EXPECT_NE(r.status().message().find("bad input"), std::string::npos);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
}

TEST_F(AskTest, SendSyncAsksByName) {
  ASSERT_TRUE(system_.Spawn<test::Echo>("named-echo").ok());
  Result<Message> r = system_.SendSync("named-echo", Ping{3}, 5s);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->As<Pong>()->n, 3);
  EXPECT_EQ(system_.SendSync("nobody", Ping{}, 1s).status().code(), StatusCode::kNotFound);
}

TEST_F(AskTest, ManyThreadsAskConcurrently) {
  auto echo = system_.Spawn<test::Echo>("echo");
  ASSERT_TRUE(echo.ok());
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 500; ++i) {
        Result<Pong> r = echo->Ask<Pong>(Ping{t * 1000 + i}, 10s);
        if (r.ok() && r->n == t * 1000 + i) ok++;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(ok.load(), 2000);
}

}  // namespace
}  // namespace akt
