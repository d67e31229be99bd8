// TestProbe: expectations with deadlines, on the deterministic fixture (where
// waiting runs the actors and moves virtual time) and on real threads (where
// waiting blocks and wakes as soon as a message arrives).
#include <akt/testing/deterministic.h>
#include <akt/testkit.h>

#include <string>
#include <thread>

#include "test_util.h"

namespace akt {
namespace {

using namespace std::chrono_literals;
using akt::testing::DeterministicSystem;
using akt::testkit::TestProbe;
using test::Ping;
using test::Pong;

struct Other {};

// Tells `to` "late" once a request to a silent actor times out after `after`:
// a message that only virtual time (a timer) can produce.
struct NotifyLater {
  PID to;
  Duration after;
};
class Silent : public Actor {
 public:
  void Receive(ReceiveContext&) override {}
};
class Delayer : public Actor {
 public:
  Status PreStart(Context& ctx) override {
    Result<PID> s = ctx.Spawn<Silent>("");
    if (!s.ok()) return s.status();
    silent_ = *s;
    return Status();
  }
  void Receive(ReceiveContext& ctx) override {
    ctx.Match([&](const NotifyLater& n) {
      PID to = n.to;
      ctx.Request(silent_, Ping{}, n.after).Then([to](ReceiveContext& ctx, Result<Message>) {
        ctx.Tell(to, std::string("late")).IgnoreError();
      });
    });
  }

 private:
  PID silent_;
};

// Requests Ping{1} from `to` and keeps the answer for Get.
struct AskIt {
  PID to;
};
struct Get {};
class Requester : public Actor {
 public:
  void Receive(ReceiveContext& ctx) override {
    ctx.Match(
        [&](const AskIt& a) {
          ctx.Request(a.to, Ping{1}, 10s).Then([this](ReceiveContext&, Result<Message> r) {
            answer_ = r.ok() && r->Is<Pong>() ? r->As<Pong>()->n : -1;
          });
        },
        [&](const Get&) { ctx.Reply(answer_).IgnoreError(); });
  }

 private:
  int answer_ = 0;
};

bool Contains(const Status& s, const std::string& text) {
  return s.ToString().find(text) != std::string::npos;
}

// ---------------------------------------------------------------------------
// On the deterministic fixture.

TEST(TestProbe, ExpectMessageReturnsTheNextMessageOfThatType) {
  DeterministicSystem d;
  TestProbe probe(d.system(), "probe");
  ASSERT_TRUE(probe.status().ok());
  EXPECT_EQ(probe.pid().Name(), "probe");
  ASSERT_TRUE(probe.pid().Tell(Ping{3}).ok());
  ASSERT_TRUE(probe.pid().Tell(Ping{4}).ok());
  Result<Ping> first = probe.ExpectMessage<Ping>(1s);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_EQ(first->n, 3);
  EXPECT_EQ(probe.ExpectMessage<Ping>(1s)->n, 4);
}

TEST(TestProbe, AMessageOfAnotherTypeFailsNamingBothTypes) {
  DeterministicSystem d;
  TestProbe probe(d.system(), "probe");
  ASSERT_TRUE(probe.pid().Tell(Ping{1}).ok());
  Result<Pong> r = probe.ExpectMessage<Pong>(1s);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kTypeMismatch);
  EXPECT_TRUE(Contains(r.status(), "probe probe: expected akt::test::Pong, got akt::test::Ping"))
      << r.status().ToString();
  // The message was taken all the same.
  EXPECT_TRUE(probe.ExpectNoMessage(1s).ok());
}

TEST(TestProbe, WaitingTimesOutInVirtualTimeWithoutWallClockWait) {
  DeterministicSystem d;
  TestProbe probe(d.system());
  TimePoint t0 = d.Now();
  auto wall0 = std::chrono::steady_clock::now();
  Result<Ping> r = probe.ExpectMessage<Ping>(1h);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kTimeout);
  EXPECT_TRUE(Contains(r.status(), "within 3600000ms, but no message arrived"))
      << r.status().ToString();
  EXPECT_EQ(d.Now() - t0, 1h);
  EXPECT_LT(std::chrono::steady_clock::now() - wall0, 10s);
}

TEST(TestProbe, WaitingRunsTheActorsAndFiresTimers) {
  DeterministicSystem d;
  TestProbe probe(d.system());
  auto delayer = d.system().Spawn<Delayer>("delayer");
  ASSERT_TRUE(delayer.ok());
  ASSERT_TRUE(delayer->Tell(NotifyLater{probe.pid(), 200ms}).ok());
  TimePoint t0 = d.Now();
  EXPECT_TRUE(probe.ExpectMessage(std::string("late"), 1s).ok());
  EXPECT_EQ(d.Now() - t0, 200ms);  // exactly when the timer fired
}

TEST(TestProbe, ExpectMessageWithAValueComparesAndPrintsBoth) {
  DeterministicSystem d;
  TestProbe probe(d.system(), "p");
  ASSERT_TRUE(probe.pid().Tell(42).ok());
  ASSERT_TRUE(probe.pid().Tell(7).ok());
  EXPECT_TRUE(probe.ExpectMessage(42, 1s).ok());
  Status s = probe.ExpectMessage(8, 1s);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition);
  EXPECT_TRUE(Contains(s, "probe p: expected 8, got 7")) << s.ToString();
}

TEST(TestProbe, ExpectAnyMessageOfTypeAcceptsAnyOfTheListedTypes) {
  DeterministicSystem d;
  TestProbe probe(d.system());
  ASSERT_TRUE(probe.pid().Tell(Pong{1}).ok());
  ASSERT_TRUE(probe.pid().Tell(Ping{2}).ok());
  ASSERT_TRUE(probe.pid().Tell(Other{}).ok());
  Result<Message> a = probe.ExpectAnyMessageOfType<Ping, Pong>(1s);
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_TRUE(a->Is<Pong>());
  Result<Message> b = probe.ExpectAnyMessageOfType<Ping, Pong>(1s);
  EXPECT_TRUE(b.ok()) << b.status().ToString();
  Result<Message> c = probe.ExpectAnyMessageOfType<Ping, Pong>(1s);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), StatusCode::kTypeMismatch);
  EXPECT_TRUE(Contains(c.status(), "one of akt::test::Ping, akt::test::Pong"))
      << c.status().ToString();
}

TEST(TestProbe, ExpectMessageWithinChecksBothBounds) {
  DeterministicSystem d;
  TestProbe probe(d.system());
  auto delayer = d.system().Spawn<Delayer>("delayer");
  ASSERT_TRUE(delayer.ok());

  ASSERT_TRUE(delayer->Tell(NotifyLater{probe.pid(), 200ms}).ok());
  Result<std::string> in_window = probe.ExpectMessageWithin<std::string>(100ms, 300ms);
  ASSERT_TRUE(in_window.ok()) << in_window.status().ToString();
  EXPECT_EQ(*in_window, "late");

  ASSERT_TRUE(delayer->Tell(NotifyLater{probe.pid(), 200ms}).ok());
  Result<Message> early = probe.ExpectMessageWithin(300ms, 1s);
  ASSERT_FALSE(early.ok());
  EXPECT_EQ(early.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_TRUE(Contains(early.status(), "no sooner than 300ms")) << early.status().ToString();

  ASSERT_TRUE(delayer->Tell(NotifyLater{probe.pid(), 200ms}).ok());
  Result<Message> late = probe.ExpectMessageWithin(Duration::zero(), 100ms);
  ASSERT_FALSE(late.ok());
  EXPECT_EQ(late.status().code(), StatusCode::kTimeout);
  EXPECT_TRUE(probe.ExpectMessage<std::string>(1s).ok());  // it does come, later
}

TEST(TestProbe, ExpectNoMessageLetsVirtualTimePassAndReportsAnIntruder) {
  DeterministicSystem d;
  TestProbe probe(d.system(), "quiet");
  TimePoint t0 = d.Now();
  EXPECT_TRUE(probe.ExpectNoMessage(500ms).ok());
  EXPECT_EQ(d.Now() - t0, 500ms);

  auto delayer = d.system().Spawn<Delayer>("delayer");
  ASSERT_TRUE(delayer.ok());
  ASSERT_TRUE(delayer->Tell(NotifyLater{probe.pid(), 200ms}).ok());
  Status s = probe.ExpectNoMessage(500ms);
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(Contains(s, "probe quiet: expected no message for 500ms, got std::")) << s.ToString();
}

TEST(TestProbe, ExpectTerminatedWatchesTheActor) {
  DeterministicSystem d;
  TestProbe probe(d.system());
  auto a = d.system().Spawn<Silent>("a");
  auto b = d.system().Spawn<Silent>("b");
  ASSERT_TRUE(a.ok() && b.ok());

  Status alive = probe.ExpectTerminated(*a, 200ms);
  EXPECT_EQ(alive.code(), StatusCode::kTimeout) << alive.ToString();

  a->Stop();
  Status s = probe.ExpectTerminated(*a, 1s);
  EXPECT_TRUE(s.ok()) << s.ToString();

  // An already dead actor: Terminated at once. Another actor's: a failure.
  ASSERT_TRUE(probe.Watch(*a).ok());
  b->Stop();
  Status wrong = probe.ExpectTerminated(*b, 1s);
  EXPECT_FALSE(wrong.ok());
  EXPECT_TRUE(Contains(wrong, "expected Terminated of b, got Terminated of a")) << wrong.ToString();
}

TEST(TestProbe, SendMakesTheProbeTheSender) {
  DeterministicSystem d;
  TestProbe probe(d.system());
  auto echo = d.system().Spawn<test::Echo>("echo");
  ASSERT_TRUE(echo.ok());
  ASSERT_TRUE(probe.Send(*echo, Ping{5}).ok());
  Result<Pong> r = probe.ExpectMessage<Pong>(1s);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->n, 5);
  EXPECT_EQ(probe.LastSender(), *echo);
}

TEST(TestProbe, ReplyAnswersAnActorsRequest) {
  DeterministicSystem d;
  TestProbe probe(d.system());
  auto requester = d.system().Spawn<Requester>("requester");
  ASSERT_TRUE(requester.ok());
  ASSERT_TRUE(requester->Tell(AskIt{probe.pid()}).ok());
  ASSERT_TRUE(probe.ExpectMessage<Ping>(1s).ok());
  EXPECT_EQ(probe.LastSender(), *requester);
  ASSERT_TRUE(probe.Reply(Pong{9}).ok());
  EXPECT_EQ(probe.Reply(Pong{10}).code(), StatusCode::kFailedPrecondition);  // once
  EXPECT_EQ(requester->Ask<int>(Get{}, 1s).value_or(0), 9);
}

TEST(TestProbe, ReplyWithNobodyToAnswerIsRefused) {
  DeterministicSystem d;
  TestProbe probe(d.system());
  EXPECT_EQ(probe.Reply(Pong{1}).code(), StatusCode::kFailedPrecondition);
  ASSERT_TRUE(probe.pid().Tell(Ping{1}).ok());  // no sender, no asker
  ASSERT_TRUE(probe.ExpectMessage<Ping>(1s).ok());
  EXPECT_EQ(probe.Reply(Pong{1}).code(), StatusCode::kFailedPrecondition);
  EXPECT_TRUE(probe.LastSender().empty());
}

TEST(TestProbe, AProbeThatCannotBeSpawnedReportsWhyEverywhere) {
  DeterministicSystem d;
  TestProbe first(d.system(), "taken");
  TestProbe second(d.system(), "taken");
  EXPECT_EQ(second.status().code(), StatusCode::kAlreadyExists);
  Result<Ping> r = second.ExpectMessage<Ping>(1s);
  EXPECT_EQ(r.status().code(), StatusCode::kAlreadyExists);
  EXPECT_TRUE(Contains(r.status(), "could not be spawned")) << r.status().ToString();
  EXPECT_EQ(second.Send(first.pid(), Ping{}).code(), StatusCode::kAlreadyExists);
}

TEST(TestProbe, DestroyingTheProbeStopsItsActor) {
  DeterministicSystem d;
  PID pid;
  {
    TestProbe probe(d.system());
    pid = probe.pid();
  }
  EXPECT_TRUE(pid.AwaitTermination(1s));
}

// ---------------------------------------------------------------------------
// On real threads.

TEST(TestProbe, ABlockedExpectationWakesAsSoonAsTheMessageArrives) {
  ActorSystem system(test::QuietOptions());
  ASSERT_TRUE(system.Start().ok());
  TestProbe probe(system);
  for (int i = 0; i < 20; ++i) {
    std::thread sender([&, i] { probe.pid().Tell(Ping{i}).IgnoreError(); });
    auto t0 = std::chrono::steady_clock::now();
    Result<Ping> r = probe.ExpectMessage<Ping>(30s);
    auto waited = std::chrono::steady_clock::now() - t0;
    sender.join();
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->n, i);
    EXPECT_LT(waited, 5s);  // woken by the message, not by the deadline
  }
}

TEST(TestProbe, RealTimeoutsAndSilenceLastTheirDuration) {
  ActorSystem system(test::QuietOptions());
  ASSERT_TRUE(system.Start().ok());
  TestProbe probe(system);
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_TRUE(probe.ExpectNoMessage(50ms).ok());
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 50ms);
  t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(probe.ExpectAnyMessage(50ms).status().code(), StatusCode::kTimeout);
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 50ms);
}

TEST(TestProbe, ReplyCompletesAnAskFromAnotherThread) {
  ActorSystem system(test::QuietOptions());
  ASSERT_TRUE(system.Start().ok());
  TestProbe probe(system);
  Result<Pong> answer = Status(StatusCode::kInternal, "unset");
  std::thread asker([&] { answer = probe.pid().Ask<Pong>(Ping{1}, 30s); });
  Result<Ping> ping = probe.ExpectMessage<Ping>(30s);
  ASSERT_TRUE(ping.ok()) << ping.status().ToString();
  EXPECT_TRUE(probe.LastSender().empty());  // an Ask has no sender, only an asker
  ASSERT_TRUE(probe.Reply(Pong{ping->n + 1}).ok());
  asker.join();
  ASSERT_TRUE(answer.ok()) << answer.status().ToString();
  EXPECT_EQ(answer->n, 2);
}

TEST(TestProbe, ExpectTerminatedOnRealThreads) {
  ActorSystem system(test::QuietOptions());
  ASSERT_TRUE(system.Start().ok());
  TestProbe probe(system);
  auto a = system.Spawn<Silent>("a");
  ASSERT_TRUE(a.ok());
  std::thread stopper([&] { a->Stop(); });
  Status s = probe.ExpectTerminated(*a, 30s);
  stopper.join();
  EXPECT_TRUE(s.ok()) << s.ToString();
}

}  // namespace
}  // namespace akt
