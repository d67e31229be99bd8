// Dead letters and the event stream: every undeliverable message is counted
// under its reason and published with enough detail to act on; lifecycle
// events are published too, to callbacks and to actors.
#include <akt/testing/deterministic.h>

#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include "event_log.h"
#include "test_util.h"

namespace akt {
namespace {

using namespace std::chrono_literals;
using akt::testing::DeterministicSystem;
using test::EventLog;
using test::Ping;
using test::Pong;

struct Crash {};

// Echo that can be suspended: a Crash matches no supervisor rule (spawn it
// with Supervisor().ClearRules()).
class SuspendableEcho : public Actor {
 public:
  void Receive(ReceiveContext& ctx) override {
    ctx.Match([&](const Ping& p) { ctx.Reply(Pong{p.n}).IgnoreError(); },
              [&](const Crash&) { throw std::runtime_error("crash"); });
  }
};

SpawnOptions SuspendOnError() { return SpawnOptions().WithSupervisor(Supervisor().ClearRules()); }

class DeadLetterTest : public ::testing::Test {
 protected:
  ActorSystem& system() { return d_.system(); }

  // A SuspendableEcho that is suspended now.
  PID SpawnSuspendedEcho(const std::string& name) {
    Result<PID> pid =
        system().Spawn(name, Context::MakeFactory<SuspendableEcho>(), SuspendOnError());
    EXPECT_TRUE(pid.ok()) << pid.status().ToString();
    if (!pid.ok()) return PID();
    EXPECT_TRUE(pid->Tell(Crash{}).ok());
    d_.RunUntilIdle();
    EXPECT_TRUE(pid->IsSuspended());
    return *pid;
  }

  DeterministicSystem d_;
};

// ---------------------------------------------------------------------------
// Reasons.

TEST_F(DeadLetterTest, SendingToAnUnknownNameIsNotFoundAndADeadLetter) {
  EventLog<DeadLetter> dead(system());

  Status s = system().SendAsync("nobody", Ping{7});

  EXPECT_EQ(s.code(), StatusCode::kNotFound);
  EXPECT_EQ(system().DeadLetterCount(DeadLetterReason::kNoSuchActor), 1u);
  ASSERT_EQ(dead.Count(), 1u);
  const DeadLetter d = dead.events()[0];
  EXPECT_EQ(d.reason, DeadLetterReason::kNoSuchActor);
  EXPECT_EQ(d.recipient_name, "nobody");
  EXPECT_TRUE(d.recipient.empty());
  EXPECT_EQ(d.type_name, "akt::test::Ping");
  ASSERT_TRUE(d.message && d.message->Is<Ping>());
  EXPECT_EQ(d.message->As<Ping>()->n, 7);
}

TEST_F(DeadLetterTest, AskingAnUnknownNameIsNotFoundAndADeadLetter) {
  Result<Message> reply = system().SendSync("nobody", Ping{1}, 1s);

  ASSERT_FALSE(reply.ok());
  EXPECT_EQ(reply.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(system().DeadLetterCount(DeadLetterReason::kNoSuchActor), 1u);
}

TEST_F(DeadLetterTest, TellingAStoppedActorIsStoppedAndADeadLetter) {
  Result<PID> pid = system().Spawn<test::Echo>("echo");
  ASSERT_TRUE(pid.ok());
  pid->Stop();
  ASSERT_TRUE(pid->AwaitTermination(1s));
  EventLog<DeadLetter> dead(system());

  Status s = pid->Tell(Ping{3});

  EXPECT_EQ(s.code(), StatusCode::kStopped);
  EXPECT_EQ(system().DeadLetterCount(DeadLetterReason::kStopped), 1u);
  ASSERT_EQ(dead.Count(), 1u);
  const DeadLetter d = dead.events()[0];
  EXPECT_EQ(d.reason, DeadLetterReason::kStopped);
  EXPECT_EQ(d.recipient, *pid);
  EXPECT_EQ(d.recipient_name, "echo");
  EXPECT_EQ(d.type_name, "akt::test::Ping");
  EXPECT_EQ(d.message->As<Ping>()->n, 3);
}

TEST_F(DeadLetterTest, AskingAStoppedActorFailsWithStoppedAndIsADeadLetter) {
  Result<PID> pid = system().Spawn<test::Echo>("echo");
  ASSERT_TRUE(pid.ok());
  pid->Stop();
  ASSERT_TRUE(pid->AwaitTermination(1s));

  Result<Message> reply = pid->Ask(Ping{3}, 1s);

  ASSERT_FALSE(reply.ok());
  EXPECT_EQ(reply.status().code(), StatusCode::kStopped);
  EXPECT_EQ(system().DeadLetterCount(DeadLetterReason::kStopped), 1u);
}

TEST_F(DeadLetterTest, AFullMailboxMakesADeadLetterWithReasonMailboxFull) {
  Result<PID> pid =
      system().SpawnWith<test::Echo>("echo", SpawnOptions().WithMailbox(MailboxSpec::Bounded(1)));
  ASSERT_TRUE(pid.ok());
  EventLog<DeadLetter> dead(system());
  ASSERT_TRUE(pid->Tell(Ping{1}).ok());

  EXPECT_EQ(pid->Tell(Ping{2}).code(), StatusCode::kMailboxFull);

  EXPECT_EQ(system().DeadLetterCount(DeadLetterReason::kMailboxFull), 1u);
  ASSERT_EQ(dead.Count(), 1u);
  EXPECT_EQ(dead.events()[0].reason, DeadLetterReason::kMailboxFull);
  EXPECT_EQ(dead.events()[0].recipient, *pid);
  EXPECT_EQ(dead.events()[0].message->As<Ping>()->n, 2);
}

TEST_F(DeadLetterTest, AMessageNoHandlerMatchesIsADeadLetterWithReasonUnhandled) {
  Result<PID> pid = system().Spawn<test::Echo>("echo");
  ASSERT_TRUE(pid.ok());
  EventLog<DeadLetter> dead(system());

  ASSERT_TRUE(pid->Tell(std::string("what is this")).ok());
  d_.RunUntilIdle();

  EXPECT_EQ(system().DeadLetterCount(DeadLetterReason::kUnhandled), 1u);
  ASSERT_EQ(dead.Count(), 1u);
  const DeadLetter d = dead.events()[0];
  EXPECT_EQ(d.reason, DeadLetterReason::kUnhandled);
  EXPECT_EQ(d.recipient, *pid);
  ASSERT_TRUE(d.message && d.message->Is<std::string>());
  EXPECT_EQ(*d.message->As<std::string>(), "what is this");
  EXPECT_TRUE(pid->IsRunning());  // not a failure
}

TEST_F(DeadLetterTest, AnUnhandledDeadLetterNamesTheActorThatSentIt) {
  struct SendTo {
    PID to;
  };
  class Sender : public Actor {
   public:
    void Receive(ReceiveContext& ctx) override {
      ctx.Match([&](const SendTo& s) { ctx.Tell(s.to, 42).IgnoreError(); });
    }
  };
  Result<PID> echo = system().Spawn<test::Echo>("echo");
  Result<PID> sender = system().Spawn<Sender>("sender");
  ASSERT_TRUE(echo.ok() && sender.ok());
  EventLog<DeadLetter> dead(system());

  ASSERT_TRUE(sender->Tell(SendTo{*echo}).ok());
  d_.RunUntilIdle();

  ASSERT_EQ(dead.Count(), 1u);
  EXPECT_EQ(dead.events()[0].sender, *sender);
  EXPECT_EQ(dead.events()[0].type_name, "int");
}

TEST_F(DeadLetterTest, AskingWithAMessageNoHandlerMatchesFailsWithUnhandled) {
  Result<PID> pid = system().Spawn<test::Echo>("echo");
  ASSERT_TRUE(pid.ok());
  TimePoint before = d_.Now();

  Result<Message> reply = pid->Ask(std::string("what is this"), 1s);

  ASSERT_FALSE(reply.ok());
  EXPECT_EQ(reply.status().code(), StatusCode::kUnhandled);
  EXPECT_EQ(d_.Now(), before);  // answered at once, not timed out
  EXPECT_EQ(system().DeadLetterCount(DeadLetterReason::kUnhandled), 1u);
}

TEST_F(DeadLetterTest, AReplyArrivingAfterItsAskTimedOutIsADeadLetter) {
  PID echo = SpawnSuspendedEcho("echo");
  EventLog<DeadLetter> dead(system());

  // The echo is suspended: the Ask waits out its deadline.
  Result<Message> reply = echo.Ask(Ping{5}, 100ms);
  ASSERT_FALSE(reply.ok());
  ASSERT_EQ(reply.status().code(), StatusCode::kTimeout);
  EXPECT_EQ(system().DeadLetterCount(), 0u);

  // Reinstated, it processes the Ping and replies to an asker who gave up.
  echo.Reinstate();
  d_.RunUntilIdle();

  EXPECT_EQ(system().DeadLetterCount(DeadLetterReason::kAskTimedOut), 1u);
  ASSERT_EQ(dead.Count(), 1u);
  const DeadLetter d = dead.events()[0];
  EXPECT_EQ(d.reason, DeadLetterReason::kAskTimedOut);
  EXPECT_EQ(d.sender, echo);
  ASSERT_TRUE(d.message && d.message->Is<Pong>());
  EXPECT_EQ(d.message->As<Pong>()->n, 5);
}

TEST_F(DeadLetterTest, AReplyArrivingAfterItsRequestTimedOutIsADeadLetter) {
  struct AskIt {
    PID to;
  };
  struct Outcome {
    std::vector<StatusCode> codes;
  };
  class Requester : public Actor {
   public:
    explicit Requester(std::shared_ptr<Outcome> out) : out_(std::move(out)) {}
    void Receive(ReceiveContext& ctx) override {
      ctx.Match([&](const AskIt& a) {
        ctx.Request(a.to, Ping{9}, 100ms).Then([out = out_](ReceiveContext&, Result<Message> r) {
          out->codes.push_back(r.status().code());
        });
      });
    }

   private:
    std::shared_ptr<Outcome> out_;
  };
  PID echo = SpawnSuspendedEcho("echo");
  auto outcome = std::make_shared<Outcome>();
  Result<PID> requester = system().Spawn<Requester>("requester", outcome);
  ASSERT_TRUE(requester.ok());
  ASSERT_TRUE(requester->Tell(AskIt{echo}).ok());
  d_.RunUntilIdle();

  d_.Advance(100ms);
  ASSERT_EQ(outcome->codes, std::vector<StatusCode>{StatusCode::kTimeout});
  echo.Reinstate();
  d_.RunUntilIdle();

  EXPECT_EQ(outcome->codes.size(), 1u);  // the callback ran once only
  EXPECT_EQ(system().DeadLetterCount(DeadLetterReason::kAskTimedOut), 1u);
}

// ---------------------------------------------------------------------------
// Counting and publishing.

TEST_F(DeadLetterTest, DeadLettersAreCountedInTotalAndPerReason) {
  PID suspended = SpawnSuspendedEcho("suspended");
  Result<PID> stopped = system().Spawn<test::Echo>("stopped");
  Result<PID> full =
      system().SpawnWith<test::Echo>("full", SpawnOptions().WithMailbox(MailboxSpec::Bounded(1)));
  Result<PID> picky = system().Spawn<test::Echo>("picky");
  ASSERT_TRUE(stopped.ok() && full.ok() && picky.ok());
  stopped->Stop();
  ASSERT_TRUE(stopped->AwaitTermination(1s));
  ASSERT_EQ(system().DeadLetterCount(), 0u);

  system().SendAsync("nobody", Ping{}).IgnoreError();  // no such actor
  stopped->Tell(Ping{}).IgnoreError();                 // stopped
  stopped->Tell(Ping{}).IgnoreError();                 // stopped
  ASSERT_TRUE(full->Tell(Ping{}).ok());
  full->Tell(Ping{}).IgnoreError();    // mailbox full
  ASSERT_TRUE(picky->Tell(1.5).ok());  // unhandled
  ASSERT_FALSE(suspended.Ask(Ping{}, 10ms).ok());
  suspended.Reinstate();  // ask timed out
  d_.RunUntilIdle();

  EXPECT_EQ(system().DeadLetterCount(DeadLetterReason::kNoSuchActor), 1u);
  EXPECT_EQ(system().DeadLetterCount(DeadLetterReason::kStopped), 2u);
  EXPECT_EQ(system().DeadLetterCount(DeadLetterReason::kMailboxFull), 1u);
  EXPECT_EQ(system().DeadLetterCount(DeadLetterReason::kUnhandled), 1u);
  EXPECT_EQ(system().DeadLetterCount(DeadLetterReason::kAskTimedOut), 1u);
  EXPECT_EQ(system().DeadLetterCount(), 6u);
}

TEST_F(DeadLetterTest, EverySubscriberGetsTheDeadLetterAndUnsubscribedOnesNoMore) {
  EventLog<DeadLetter> first(system());
  std::vector<std::string> names;
  Subscription second = system().events().Subscribe([&](const Message& m) {
    if (const DeadLetter* d = m.As<DeadLetter>()) names.push_back(d->recipient_name);
  });

  system().SendAsync("one", Ping{}).IgnoreError();
  second.Unsubscribe();
  system().SendAsync("two", Ping{}).IgnoreError();

  EXPECT_EQ(first.Count(), 2u);
  EXPECT_EQ(names, std::vector<std::string>{"one"});
  EXPECT_FALSE(second.active());
}

TEST_F(DeadLetterTest, DeadLettersAreCountedEvenWithoutSubscribers) {
  system().SendAsync("nobody", Ping{}).IgnoreError();

  EXPECT_EQ(system().DeadLetterCount(), 1u);
}

// Keeps every event it is sent.
struct Inbox {
  std::vector<DeadLetter> dead;
  std::vector<ActorStarted> started;
  std::vector<ActorStopped> stopped;
};
class EventSink : public Actor {
 public:
  explicit EventSink(std::shared_ptr<Inbox> inbox) : inbox_(std::move(inbox)) {}
  void Receive(ReceiveContext& ctx) override {
    // Takes everything: an unhandled event would itself become a dead letter.
    if (DeadLetter* d = ctx.As<DeadLetter>()) inbox_->dead.push_back(*d);
    if (ActorStarted* s = ctx.As<ActorStarted>()) inbox_->started.push_back(*s);
    if (ActorStopped* s = ctx.As<ActorStopped>()) inbox_->stopped.push_back(*s);
  }

 private:
  std::shared_ptr<Inbox> inbox_;
};

TEST_F(DeadLetterTest, SubscribeActorDeliversEventsToAnActorAsMessages) {
  auto inbox = std::make_shared<Inbox>();
  Result<PID> sink = system().Spawn<EventSink>("sink", inbox);
  ASSERT_TRUE(sink.ok());
  Subscription sub = system().events().SubscribeActor(*sink);

  system().SendAsync("nobody", Ping{4}).IgnoreError();
  Result<PID> other = system().Spawn<test::Echo>("other");
  ASSERT_TRUE(other.ok());
  other->Stop();
  d_.RunUntilIdle();

  ASSERT_EQ(inbox->dead.size(), 1u);
  EXPECT_EQ(inbox->dead[0].reason, DeadLetterReason::kNoSuchActor);
  EXPECT_EQ(inbox->dead[0].recipient_name, "nobody");
  EXPECT_EQ(inbox->dead[0].message->As<Ping>()->n, 4);
  ASSERT_EQ(inbox->started.size(), 1u);
  EXPECT_EQ(inbox->started[0].actor, *other);
  ASSERT_EQ(inbox->stopped.size(), 1u);
  EXPECT_EQ(inbox->stopped[0].actor, *other);
}

TEST_F(DeadLetterTest, LifecycleEventsArePublishedForStartRestartAndStop) {
  EventLog<ActorStarted> started(system());
  EventLog<ActorRestarted> restarted(system());
  EventLog<ActorStopped> stopped(system());

  Result<PID> pid = system().Spawn<test::Echo>("echo");
  ASSERT_TRUE(pid.ok());
  ASSERT_EQ(started.Count(), 1u);
  EXPECT_EQ(started.events()[0].actor, *pid);
  EXPECT_EQ(restarted.Count(), 0u);

  pid->Restart();
  d_.RunUntilIdle();
  pid->Restart();
  d_.RunUntilIdle();
  ASSERT_EQ(restarted.Count(), 2u);
  EXPECT_EQ(restarted.events()[0].actor, *pid);
  EXPECT_EQ(restarted.events()[0].restart_count, 1u);
  EXPECT_EQ(restarted.events()[1].restart_count, 2u);
  EXPECT_EQ(stopped.Count(), 0u);

  pid->Stop();
  d_.RunUntilIdle();
  ASSERT_EQ(stopped.Count(), 1u);
  EXPECT_EQ(stopped.events()[0].actor, *pid);
  EXPECT_EQ(started.Count(), 1u);  // a restart is not a start
}

TEST_F(DeadLetterTest, AFailedSpawnPublishesNoStartedEvent) {
  class Broken : public Actor {
   public:
    Status PreStart(Context&) override { return Status(StatusCode::kInternal, "broken"); }
    void Receive(ReceiveContext&) override {}
  };
  EventLog<ActorStarted> started(system());

  ASSERT_FALSE(system().Spawn<Broken>("broken").ok());

  EXPECT_EQ(started.Count(), 0u);
}

}  // namespace
}  // namespace akt
