// Non-blocking requests from inside actors: Request(...).Then(...).
#include <akt/testing/deterministic.h>

#include <atomic>
#include <string>
#include <vector>

#include "test_util.h"

namespace akt {
namespace {

using namespace std::chrono_literals;
using test::Ping;
using test::Pong;

struct Start {
  PID target;
  int count = 1;
  Duration timeout = std::chrono::seconds(5);
};
struct Report {};

// Sends `count` requests one after another, each from the previous reply's
// continuation, and records what came back.
class Requester : public Actor {
 public:
  void Receive(ReceiveContext& ctx) override {
    ctx.Match(
        [&](Start& s) {
          start_ = s;
          Next(ctx, 0);
        },
        [&](const Report&) { ctx.Reply(log_).IgnoreError(); },
        [&](const std::string& other) { log_.push_back("other:" + other); });
  }

 private:
  void Next(ReceiveContext& ctx, int i) {
    ctx.Request(start_.target, Ping{i}, start_.timeout)
        .Then([this, i](ReceiveContext& ctx, Result<Message> r) {
          if (r.ok() && r->Is<Pong>()) {
            log_.push_back("pong:" + std::to_string(r->As<Pong>()->n));
          } else {
            log_.push_back(std::string(StatusCodeName(r.status().code())));
          }
          if (i + 1 < start_.count) Next(ctx, i + 1);
        });
  }
  Start start_;
  std::vector<std::string> log_;
};

class Silent : public Actor {
 public:
  void Receive(ReceiveContext&) override {}
};

TEST(Request, ContinuationRunsOnTheActorWithTheReply) {
  ActorSystem system(test::QuietOptions());
  ASSERT_TRUE(system.Start().ok());
  auto echo = system.Spawn<test::Echo>("echo");
  auto req = system.Spawn<Requester>("req");
  ASSERT_TRUE(echo.ok() && req.ok());
  ASSERT_TRUE(req->Tell(Start{*echo, 1000}).ok());
  std::vector<std::string> log;
  ASSERT_TRUE(test::WaitFor([&] {
    auto r = req->Ask<std::vector<std::string>>(Report{}, 5s);
    if (r.ok()) log = *r;
    return log.size() == 1000;
  }));
  for (int i = 0; i < 1000; ++i) EXPECT_EQ(log[i], "pong:" + std::to_string(i));
}

TEST(Request, OtherMessagesAreProcessedWhileARequestIsPending) {
  testing::DeterministicSystem d;
  auto silent = d.system().Spawn<Silent>("silent");
  auto req = d.system().Spawn<Requester>("req");
  ASSERT_TRUE(silent.ok() && req.ok());
  ASSERT_TRUE(req->Tell(Start{*silent, 1, 10s}).ok());
  ASSERT_TRUE(req->Tell(std::string("meanwhile")).ok());
  d.RunUntilIdle();
  auto log = req->Ask<std::vector<std::string>>(Report{}, 1s);
  ASSERT_TRUE(log.ok());
  EXPECT_EQ(*log, std::vector<std::string>{"other:meanwhile"});
}

TEST(Request, TimesOutAtItsDeadlineAndNotBefore) {
  testing::DeterministicSystem d;
  auto silent = d.system().Spawn<Silent>("silent");
  auto req = d.system().Spawn<Requester>("req");
  ASSERT_TRUE(silent.ok() && req.ok());
  ASSERT_TRUE(req->Tell(Start{*silent, 1, 100ms}).ok());
  d.RunUntilIdle();
  d.Advance(99ms);
  auto before = req->Ask<std::vector<std::string>>(Report{}, 1ms);
  ASSERT_TRUE(before.ok()) << before.status().ToString();
  EXPECT_TRUE(before->empty());
  d.Advance(1ms);
  auto after = req->Ask<std::vector<std::string>>(Report{}, 1ms);
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(*after, std::vector<std::string>{"TIMEOUT"});
}

TEST(Request, LateReplyAfterTimeoutIsADeadLetterAndTheCallbackRunsOnce) {
  testing::DeterministicSystem d;
  // Back answers pings but is suspended (no supervisor rule matches) until
  // reinstated: its answer to our request comes after the deadline.
  class Back : public Actor {
   public:
    void Receive(ReceiveContext& ctx) override {
      ctx.Match([&](const Ping& p) { ctx.Reply(Pong{p.n}).IgnoreError(); },
                [&](const std::string&) { throw std::runtime_error("suspend me"); });
    }
  };
  auto back =
      d.system().SpawnWith<Back>("back", SpawnOptions().WithSupervisor(Supervisor().ClearRules()));
  auto req = d.system().Spawn<Requester>("req");
  ASSERT_TRUE(back.ok() && req.ok());
  ASSERT_TRUE(back->Tell(std::string("fail")).ok());
  d.RunUntilIdle();
  ASSERT_TRUE(back->IsSuspended());
  ASSERT_TRUE(req->Tell(Start{*back, 1, 50ms}).ok());
  d.RunUntilIdle();
  d.Advance(50ms);
  uint64_t late_before = d.system().DeadLetterCount(DeadLetterReason::kAskTimedOut);
  back->Reinstate();
  d.RunUntilIdle();
  EXPECT_EQ(d.system().DeadLetterCount(DeadLetterReason::kAskTimedOut), late_before + 1);
  auto log = req->Ask<std::vector<std::string>>(Report{}, 1ms);
  ASSERT_TRUE(log.ok());
  EXPECT_EQ(*log, std::vector<std::string>{"TIMEOUT"});
}

TEST(Request, RequestToAStoppedActorFailsWithStopped) {
  testing::DeterministicSystem d;
  auto echo = d.system().Spawn<test::Echo>("echo");
  auto req = d.system().Spawn<Requester>("req");
  ASSERT_TRUE(echo.ok() && req.ok());
  echo->Stop();
  d.RunUntilIdle();
  ASSERT_TRUE(req->Tell(Start{*echo, 1, 10s}).ok());
  d.RunUntilIdle();
  auto log = req->Ask<std::vector<std::string>>(Report{}, 1ms);
  ASSERT_TRUE(log.ok());
  EXPECT_EQ(*log, std::vector<std::string>{"STOPPED"});
}

// Requests `target` with `timeout` and logs, in order, the end of that turn
// and what its continuation got.
class OneRequest : public Actor {
 public:
  void Receive(ReceiveContext& ctx) override {
    ctx.Match(
        [&](Start& s) {
          ctx.Request(s.target, Ping{1}, s.timeout)
              .Then([this](ReceiveContext&, Result<Message> r) {
                log_.push_back(r.ok() ? std::string("ok")
                                      : std::string(StatusCodeName(r.status().code())));
              });
          log_.push_back("turn ends");
        },
        [&](const Report&) { ctx.Reply(log_).IgnoreError(); });
  }

 private:
  std::vector<std::string> log_;
};

TEST(Request, ATimeoutOfZeroOrLessFailsWithInvalidArgumentOnALaterTurnAndSendsNothing) {
  for (Duration timeout : {Duration::zero(), Duration(-std::chrono::milliseconds(5))}) {
    testing::DeterministicSystem d;
    auto echo = d.system().Spawn<test::Echo>("echo");
    auto req = d.system().Spawn<OneRequest>("req");
    ASSERT_TRUE(echo.ok() && req.ok());

    ASSERT_TRUE(req->Tell(Start{*echo, 1, timeout}).ok());
    d.RunUntilIdle();

    auto log = req->Ask<std::vector<std::string>>(Report{}, 1s);
    ASSERT_TRUE(log.ok()) << log.status().ToString();
    EXPECT_EQ(*log, (std::vector<std::string>{"turn ends", "INVALID_ARGUMENT"}))
        << timeout.count();
    EXPECT_EQ(echo->ProcessedCount(), 0u);
    EXPECT_EQ(d.system().DeadLetterCount(), 0u);
  }
}

// A -> B -> A: B asks A back while A waits for B, and answers A's request
// only once A answered it. With non-blocking requests this completes instead
// of deadlocking.
TEST(Request, CallChainBackToTheCallerCompletes) {
  struct Outer {};
  struct Inner {};
  class A : public Actor {
   public:
    void Receive(ReceiveContext& ctx) override {
      ctx.Match(
          [&](const PID& b) {
            ctx.Request(b, Outer{}, 5s).Then([this](ReceiveContext&, Result<Message> r) {
              result_ = r.ok() ? *r->As<std::string>() : r.status().ToString();
            });
          },
          [&](const Inner&) { ctx.Reply(std::string("A")).IgnoreError(); },
          [&](const Report&) { ctx.Reply(result_).IgnoreError(); });
    }
    std::string result_;
  };
  class B : public Actor {
   public:
    void Receive(ReceiveContext& ctx) override {
      ctx.Match([&](const Outer&) {
        auto answer = std::make_shared<PendingReply>(ctx.TakeReply());
        ctx.Request(ctx.sender(), Inner{}, 5s).Then([answer](ReceiveContext&, Result<Message> r) {
          answer->Reply(std::string("B after ") + (r.ok() ? *r->As<std::string>() : "error"))
              .IgnoreError();
        });
      });
    }
  };
  ActorSystem system(test::QuietOptions());
  ASSERT_TRUE(system.Start().ok());
  auto a = system.Spawn<A>("a");
  auto b = system.Spawn<B>("b");
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_TRUE(a->Tell(*b).ok());
  std::string result;
  ASSERT_TRUE(test::WaitFor([&] {
    auto r = a->Ask<std::string>(Report{}, 5s);
    if (r.ok()) result = *r;
    return !result.empty();
  }));
  EXPECT_EQ(result, "B after A");
}

// A request has a sender, but a second answer must not reach it as a plain
// message: each request is answered at most once.
TEST(Request, SecondReplyToARequestIsRefusedAndNeverDelivered) {
  testing::DeterministicSystem d;
  std::atomic<int> second_code{-1};
  class DoubleReplier : public Actor {
   public:
    explicit DoubleReplier(std::atomic<int>* code) : code_(code) {}
    void Receive(ReceiveContext& ctx) override {
      ctx.Match([&](const Ping& p) {
        ctx.Reply(Pong{p.n}).IgnoreError();
        *code_ = static_cast<int>(ctx.Reply(Pong{-1}).code());
      });
    }
    std::atomic<int>* code_;
  };
  auto target = d.system().Spawn<DoubleReplier>("double", &second_code);
  auto req = d.system().Spawn<Requester>("req");
  ASSERT_TRUE(target.ok() && req.ok());
  ASSERT_TRUE(req->Tell(Start{*target, 1, 10s}).ok());
  d.RunUntilIdle();
  EXPECT_EQ(second_code.load(), static_cast<int>(StatusCode::kFailedPrecondition));
  auto log = req->Ask<std::vector<std::string>>(Report{}, 1ms);
  ASSERT_TRUE(log.ok());
  EXPECT_EQ(*log, std::vector<std::string>{"pong:0"});  // no stray Pong{-1}
}

// A restart drops the old instance's pending continuations: they may point
// into the destroyed object. The late reply becomes a dead letter.
TEST(Request, RestartDropsPendingContinuations) {
  testing::DeterministicSystem d;
  class Back : public Actor {
   public:
    void Receive(ReceiveContext& ctx) override {
      ctx.Match([&](const Ping& p) { ctx.Reply(Pong{p.n}).IgnoreError(); },
                [&](const std::string&) { throw std::runtime_error("suspend me"); });
    }
  };
  auto back =
      d.system().SpawnWith<Back>("back", SpawnOptions().WithSupervisor(Supervisor().ClearRules()));
  auto req = d.system().Spawn<Requester>("req");
  ASSERT_TRUE(back.ok() && req.ok());
  ASSERT_TRUE(back->Tell(std::string("fail")).ok());
  d.RunUntilIdle();
  ASSERT_TRUE(req->Tell(Start{*back, 1, 10s}).ok());
  d.RunUntilIdle();
  req->Restart();
  d.RunUntilIdle();
  ASSERT_EQ(req->RestartCount(), 1u);
  uint64_t late_before = d.system().DeadLetterCount(DeadLetterReason::kAskTimedOut);
  back->Reinstate();
  d.RunUntilIdle();
  d.Advance(20s);
  EXPECT_EQ(d.system().DeadLetterCount(DeadLetterReason::kAskTimedOut), late_before + 1);
  auto log = req->Ask<std::vector<std::string>>(Report{}, 1ms);
  ASSERT_TRUE(log.ok());
  EXPECT_TRUE(log->empty());  // the new instance never saw the old request
}

}  // namespace
}  // namespace akt
