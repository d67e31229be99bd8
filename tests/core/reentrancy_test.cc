// Reentrancy modes for Request: kOff, kAllowAll, kStashNonReentrant.
#include <akt/testing/deterministic.h>

#include <string>
#include <vector>

#include "test_util.h"

namespace akt {
namespace {

using namespace std::chrono_literals;

struct Outer {};
struct Inner {};
struct Report {};
struct Side {
  int n;
};

// A asks B (Outer); B asks A back (Inner) before answering A.
class A : public Actor {
 public:
  void Receive(ReceiveContext& ctx) override {
    ctx.Match(
        [&](const PID& b) {
          ctx.Request(b, Outer{}, 1s).Then([this](ReceiveContext&, Result<Message> r) {
            log_.push_back(r.ok() ? "outer:" + *r->As<std::string>()
                                  : "outer:" + std::string(StatusCodeName(r.status().code())));
          });
        },
        [&](const Inner&) {
          log_.push_back("inner");
          ctx.Reply(std::string("A")).IgnoreError();
        },
        [&](const Side& s) { log_.push_back("side:" + std::to_string(s.n)); },
        [&](const Report&) { ctx.Reply(log_).IgnoreError(); });
  }
  std::vector<std::string> log_;
};

class B : public Actor {
 public:
  void Receive(ReceiveContext& ctx) override {
    ctx.Match([&](const Outer&) {
      auto answer = std::make_shared<PendingReply>(ctx.TakeReply());
      ctx.Request(ctx.sender(), Inner{}, 5s).Then([answer](ReceiveContext&, Result<Message> r) {
        answer->Reply(std::string(r.ok() ? "B after A" : "B without A")).IgnoreError();
      });
    });
  }
};

std::vector<std::string> RunChain(ReentrancyMode mode) {
  testing::DeterministicSystem d;
  auto a = d.system().SpawnWith<A>("a", SpawnOptions().WithReentrancy(mode));
  auto b = d.system().Spawn<B>("b");
  EXPECT_TRUE(a.ok() && b.ok());
  EXPECT_TRUE(a->Tell(*b).ok());
  d.RunUntilIdle();
  d.Advance(2s);  // past A's 1 s deadline if it is still waiting
  d.Advance(5s);  // and past B's
  auto log = a->Ask<std::vector<std::string>>(Report{}, 1s);
  EXPECT_TRUE(log.ok());
  return log.ok() ? *log : std::vector<std::string>{};
}

TEST(Reentrancy, AllowAllCompletesACallChainBackToTheCaller) {
  EXPECT_EQ(RunChain(ReentrancyMode::kAllowAll),
            (std::vector<std::string>{"inner", "outer:B after A"}));
}

TEST(Reentrancy, StashNonReentrantTimesOutTheChainWithAClearError) {
  // A holds B's call back until its own request is over: it times out, then
  // A processes the held Inner (too late for B's answer to reach A).
  EXPECT_EQ(RunChain(ReentrancyMode::kStashNonReentrant),
            (std::vector<std::string>{"outer:TIMEOUT", "inner"}));
}

TEST(Reentrancy, StashNonReentrantHoldsOtherMessagesUntilTheReplyInOrder) {
  testing::DeterministicSystem d;
  class Slow : public Actor {
   public:
    void Receive(ReceiveContext& ctx) override {
      if (ctx.Is<Outer>()) held_ = std::make_shared<PendingReply>(ctx.TakeReply());
      if (ctx.Is<Report>() && held_) held_->Reply(std::string("late")).IgnoreError();
    }
    std::shared_ptr<PendingReply> held_;
  };
  auto slow = d.system().Spawn<Slow>("slow");
  auto a = d.system().SpawnWith<A>(
      "a", SpawnOptions().WithReentrancy(ReentrancyMode::kStashNonReentrant));
  ASSERT_TRUE(slow.ok() && a.ok());
  ASSERT_TRUE(a->Tell(*slow).ok());
  ASSERT_TRUE(a->Tell(Side{1}).ok());
  ASSERT_TRUE(a->Tell(Side{2}).ok());
  d.RunUntilIdle();
  ASSERT_TRUE(slow->Tell(Report{}).ok());  // now Slow answers
  d.RunUntilIdle();
  auto log = a->Ask<std::vector<std::string>>(Report{}, 1s);
  ASSERT_TRUE(log.ok());
  EXPECT_EQ(*log, (std::vector<std::string>{"outer:late", "side:1", "side:2"}));
}

TEST(Reentrancy, OffRefusesRequests) {
  EXPECT_EQ(RunChain(ReentrancyMode::kOff),
            (std::vector<std::string>{"outer:FAILED_PRECONDITION"}));
}

TEST(Reentrancy, MaxInFlightRefusesOneMore) {
  testing::DeterministicSystem d;
  class Many : public Actor {
   public:
    void Receive(ReceiveContext& ctx) override {
      ctx.Match(
          [&](const PID& target) {
            for (int i = 0; i < 3; ++i) {
              ctx.Request(target, test::Ping{i}, 1s)
                  .Then([this](ReceiveContext&, Result<Message> r) {
                    codes_.push_back(r.ok() ? StatusCode::kOk : r.status().code());
                  });
            }
          },
          [&](const Report&) { ctx.Reply(codes_).IgnoreError(); });
    }
    std::vector<StatusCode> codes_;
  };
  auto echo = d.system().Spawn<test::Echo>("echo");
  auto many = d.system().SpawnWith<Many>(
      "many", SpawnOptions().WithReentrancy(ReentrancyMode::kAllowAll, 2));
  ASSERT_TRUE(echo.ok() && many.ok());
  ASSERT_TRUE(many->Tell(*echo).ok());
  d.RunUntilIdle();
  auto codes = many->Ask<std::vector<StatusCode>>(Report{}, 1s);
  ASSERT_TRUE(codes.ok());
  // The third was refused at once; the first two were answered.
  EXPECT_EQ(*codes, (std::vector<StatusCode>{StatusCode::kResourceExhausted, StatusCode::kOk,
                                             StatusCode::kOk}));
}

TEST(Reentrancy, PerRequestModeOverridesTheActorDefault) {
  testing::DeterministicSystem d;
  class Mixed : public Actor {
   public:
    void Receive(ReceiveContext& ctx) override {
      ctx.Match(
          [&](const PID& target) {
            ctx.Request(target, test::Ping{1}, 1s)
                .WithMode(ReentrancyMode::kAllowAll)
                .Then([this](ReceiveContext&, Result<Message> r) { ok_ = r.ok(); });
          },
          [&](const Report&) { ctx.Reply(ok_).IgnoreError(); });
    }
    bool ok_ = false;
  };
  auto echo = d.system().Spawn<test::Echo>("echo");
  auto m = d.system().SpawnWith<Mixed>("m", SpawnOptions().WithReentrancy(ReentrancyMode::kOff));
  ASSERT_TRUE(echo.ok() && m.ok());
  ASSERT_TRUE(m->Tell(*echo).ok());
  d.RunUntilIdle();
  EXPECT_TRUE(*m->Ask<bool>(Report{}, 1s));
}

}  // namespace
}  // namespace akt
