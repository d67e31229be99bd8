// Supervision: what happens to an actor that fails — the four directives, how
// rules are matched, suspension, retry limits, backoff and the strategies.
// Almost everything runs on the deterministic fixture so orders and restart
// times are exact.
#include <akt/testing/deterministic.h>

#include <atomic>
#include <memory>
#include <stdexcept>
#include <string>

#include "event_log.h"
#include "test_util.h"

namespace akt {
namespace {

using namespace std::chrono_literals;
using akt::testing::DeterministicSystem;
using test::EventLog;
using test::Ping;

struct Add {
  int n = 0;
};
struct Get {};

enum class ErrorKind { kRuntime, kInvalidArgument, kOutOfRange, kCustom, kNonStandard };
// Makes the receiver throw.
struct Boom {
  ErrorKind kind = ErrorKind::kRuntime;
};
// Makes the receiver report `code` with ctx.Err.
struct ReportError {
  StatusCode code = StatusCode::kInternal;
};

class CustomError : public std::runtime_error {
 public:
  CustomError() : std::runtime_error("custom failure") {}
};

[[noreturn]] void Throw(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::kRuntime:
      throw std::runtime_error("boom");
    case ErrorKind::kInvalidArgument:
      throw std::invalid_argument("bad argument");
    case ErrorKind::kOutOfRange:
      throw std::out_of_range("out of range");
    case ErrorKind::kCustom:
      throw CustomError();
    case ErrorKind::kNonStandard:
      throw 42;
  }
  throw std::logic_error("unknown error kind");
}

// What happened to the instances one factory built; shared with the test.
struct Probe {
  std::atomic<int> instances{0};
  std::atomic<int> pre_starts{0};
  std::atomic<int> post_stops{0};
  // PreStart of the instance with this number (1-based) throws; 0: none.
  std::atomic<int> failing_instance{0};
};

// Sums Adds; fails on Boom and ReportError.
class Counter : public Actor {
 public:
  explicit Counter(std::shared_ptr<Probe> probe)
      : probe_(std::move(probe)), instance_(++probe_->instances) {}

  Status PreStart(Context&) override {
    probe_->pre_starts++;
    if (instance_ == probe_->failing_instance.load()) throw CustomError();
    return Status();
  }
  Status PostStop(Context&) override {
    probe_->post_stops++;
    return Status();
  }
  void Receive(ReceiveContext& ctx) override {
    ctx.Match([&](const Add& a) { total_ += a.n; },
              [&](const Get&) { ctx.Reply(total_).IgnoreError(); },
              [&](const Boom& b) { Throw(b.kind); },
              [&](const ReportError& r) { ctx.Err(Status(r.code, "reported")); });
  }

 private:
  std::shared_ptr<Probe> probe_;
  int instance_;
  int total_ = 0;
};

SpawnOptions Supervised(Supervisor s) { return SpawnOptions().WithSupervisor(std::move(s)); }

// Spawns `children` Counters named "child-<i>" in PreStart, each under
// `child_supervisor`.
class Parent : public Actor {
 public:
  Parent(std::shared_ptr<Probe> probe, std::shared_ptr<Probe> child_probe,
         Supervisor child_supervisor, int children)
      : probe_(std::move(probe)),
        child_probe_(std::move(child_probe)),
        child_supervisor_(std::move(child_supervisor)),
        children_(children) {
    probe_->instances++;
  }

  Status PreStart(Context& ctx) override {
    probe_->pre_starts++;
    for (int i = 0; i < children_; ++i) {
      Result<PID> child =
          ctx.Spawn("child-" + std::to_string(i), Context::MakeFactory<Counter>(child_probe_),
                    Supervised(child_supervisor_));
      if (!child.ok()) return child.status();
    }
    return Status();
  }
  void Receive(ReceiveContext& ctx) override { ctx.Unhandled(); }

 private:
  std::shared_ptr<Probe> probe_;
  std::shared_ptr<Probe> child_probe_;
  Supervisor child_supervisor_;
  int children_;
};

PID Lookup(ActorSystem& system, const std::string& name) {
  Result<PID> pid = system.ActorOf(name);
  EXPECT_TRUE(pid.ok()) << name << ": " << pid.status().ToString();
  return pid.ok() ? *pid : PID();
}

int TotalOf(const PID& pid) { return pid.Ask<int>(Get{}, 1s).value_or(-1); }

class SupervisionTest : public ::testing::Test {
 protected:
  Result<PID> SpawnCounter(const std::string& name, Supervisor supervisor) {
    return system().SpawnWith<Counter>(name, Supervised(std::move(supervisor)), probe_);
  }
  ActorSystem& system() { return d_.system(); }

  DeterministicSystem d_;
  std::shared_ptr<Probe> probe_ = std::make_shared<Probe>();
};

// ---------------------------------------------------------------------------
// Directives.

TEST_F(SupervisionTest, StopDirectiveStopsTheActorAndDeadLettersWhatWasQueued) {
  Result<PID> pid = SpawnCounter("c", Supervisor().WithAnyErrorDirective(Directive::kStop));
  ASSERT_TRUE(pid.ok()) << pid.status().ToString();

  ASSERT_TRUE(pid->Tell(Add{1}).ok());
  ASSERT_TRUE(pid->Tell(Boom{}).ok());
  ASSERT_TRUE(pid->Tell(Add{1}).ok());
  d_.RunUntilIdle();

  EXPECT_TRUE(pid->AwaitTermination(1s));
  EXPECT_FALSE(pid->IsRunning());
  EXPECT_EQ(probe_->instances, 1);  // not restarted
  EXPECT_EQ(probe_->post_stops, 1);
  EXPECT_EQ(system().DeadLetterCount(DeadLetterReason::kStopped), 1u);
}

TEST_F(SupervisionTest, ResumeDirectiveKeepsTheStateAndDropsOnlyTheFailingMessage) {
  Result<PID> pid = SpawnCounter("c", Supervisor().WithAnyErrorDirective(Directive::kResume));
  ASSERT_TRUE(pid.ok());

  ASSERT_TRUE(pid->Tell(Add{2}).ok());
  ASSERT_TRUE(pid->Tell(Boom{}).ok());
  ASSERT_TRUE(pid->Tell(Add{3}).ok());
  d_.RunUntilIdle();

  EXPECT_EQ(TotalOf(*pid), 5);
  EXPECT_TRUE(pid->IsRunning());
  EXPECT_EQ(pid->RestartCount(), 0u);
  EXPECT_EQ(probe_->instances, 1);
  EXPECT_EQ(probe_->post_stops, 0);
}

TEST_F(SupervisionTest, RestartDirectiveBuildsAFreshInstanceAndKeepsTheMailbox) {
  Result<PID> pid = SpawnCounter("c", Supervisor().WithAnyErrorDirective(Directive::kRestart));
  ASSERT_TRUE(pid.ok());

  // Everything is queued before the actor runs: the two Adds behind the
  // failure must survive the restart and reach the new instance.
  ASSERT_TRUE(pid->Tell(Add{100}).ok());
  ASSERT_TRUE(pid->Tell(Boom{}).ok());
  ASSERT_TRUE(pid->Tell(Add{1}).ok());
  ASSERT_TRUE(pid->Tell(Add{2}).ok());
  d_.RunUntilIdle();

  EXPECT_EQ(TotalOf(*pid), 3);  // the 100 died with the old instance
  EXPECT_EQ(pid->RestartCount(), 1u);
  EXPECT_EQ(probe_->instances, 2);
  EXPECT_EQ(probe_->pre_starts, 2);
  EXPECT_EQ(probe_->post_stops, 1);  // the old instance
  EXPECT_TRUE(pid->IsRunning());
  EXPECT_EQ(system().ActorOf("c").value_or(PID()), *pid);  // same actor, same PID
}

TEST_F(SupervisionTest, DefaultSupervisorRestartsAFailingActor) {
  Result<PID> pid = system().Spawn<Counter>("c", probe_);
  ASSERT_TRUE(pid.ok());

  ASSERT_TRUE(pid->Tell(Add{7}).ok());
  ASSERT_TRUE(pid->Tell(Boom{}).ok());
  d_.RunUntilIdle();

  EXPECT_EQ(pid->RestartCount(), 1u);
  EXPECT_EQ(TotalOf(*pid), 0);
}

TEST_F(SupervisionTest, EscalateLetsTheParentsSupervisorDecideToResumeTheChild) {
  auto parent_probe = std::make_shared<Probe>();
  Supervisor parent_supervisor =
      Supervisor().ClearRules().WithDirective<CustomError>(Directive::kResume);
  Supervisor child_supervisor =
      Supervisor().ClearRules().WithAnyErrorDirective(Directive::kEscalate);
  Result<PID> parent = system().SpawnWith<Parent>("parent", Supervised(parent_supervisor),
                                                  parent_probe, probe_, child_supervisor, 1);
  ASSERT_TRUE(parent.ok()) << parent.status().ToString();
  PID child = Lookup(system(), "child-0");
  EventLog<ActorReinstated> reinstated(system());

  ASSERT_TRUE(child.Tell(Add{2}).ok());
  ASSERT_TRUE(child.Tell(Boom{ErrorKind::kCustom}).ok());
  ASSERT_TRUE(child.Tell(Add{3}).ok());
  d_.RunUntilIdle();

  // The parent's rule for CustomError said Resume: the child goes on with its state.
  EXPECT_EQ(TotalOf(child), 5);
  EXPECT_FALSE(child.IsSuspended());
  EXPECT_EQ(child.RestartCount(), 0u);
  EXPECT_EQ(parent->RestartCount(), 0u);
  ASSERT_EQ(reinstated.Count(), 1u);
  EXPECT_EQ(reinstated.events()[0].actor, child);
}

TEST_F(SupervisionTest, EscalateLetsTheParentsSupervisorDecideToRestartTheParent) {
  auto parent_probe = std::make_shared<Probe>();
  Supervisor parent_supervisor =
      Supervisor().ClearRules().WithDirective<CustomError>(Directive::kRestart);
  Supervisor child_supervisor =
      Supervisor().ClearRules().WithAnyErrorDirective(Directive::kEscalate);
  Result<PID> parent = system().SpawnWith<Parent>("parent", Supervised(parent_supervisor),
                                                  parent_probe, probe_, child_supervisor, 1);
  ASSERT_TRUE(parent.ok()) << parent.status().ToString();
  PID old_child = Lookup(system(), "child-0");
  ASSERT_TRUE(old_child.Tell(Add{2}).ok());
  d_.RunUntilIdle();

  ASSERT_TRUE(old_child.Tell(Boom{ErrorKind::kCustom}).ok());
  d_.RunUntilIdle();

  EXPECT_EQ(parent->RestartCount(), 1u);
  EXPECT_EQ(parent_probe->pre_starts, 2);
  // The parent's restart stopped the old child; its new PreStart made a new one.
  EXPECT_TRUE(old_child.AwaitTermination(1s));
  PID new_child = Lookup(system(), "child-0");
  EXPECT_NE(new_child, old_child);
  EXPECT_TRUE(new_child.IsRunning());
  EXPECT_EQ(new_child.Parent(), *parent);
  EXPECT_EQ(TotalOf(new_child), 0);
  EXPECT_EQ(probe_->instances, 2);
}

TEST_F(SupervisionTest, EscalationFromATopLevelActorStopsIt) {
  Result<PID> pid =
      SpawnCounter("c", Supervisor().ClearRules().WithAnyErrorDirective(Directive::kEscalate));
  ASSERT_TRUE(pid.ok());

  ASSERT_TRUE(pid->Tell(Boom{}).ok());
  d_.RunUntilIdle();

  EXPECT_TRUE(pid->AwaitTermination(1s));
  EXPECT_EQ(probe_->post_stops, 1);
  EXPECT_EQ(pid->RestartCount(), 0u);
}

// ---------------------------------------------------------------------------
// Rules.

TEST_F(SupervisionTest, RulesMatchAnExceptionTypeAndTypesDerivedFromIt) {
  Result<PID> pid = SpawnCounter("c", Supervisor()
                                          .ClearRules()
                                          .WithDirective<std::logic_error>(Directive::kResume)
                                          .WithDirective<std::runtime_error>(Directive::kStop));
  ASSERT_TRUE(pid.ok());

  ASSERT_TRUE(pid->Tell(Add{1}).ok());
  ASSERT_TRUE(pid->Tell(Boom{ErrorKind::kInvalidArgument}).ok());  // a logic_error
  ASSERT_TRUE(pid->Tell(Boom{ErrorKind::kOutOfRange}).ok());       // a logic_error
  ASSERT_TRUE(pid->Tell(Add{1}).ok());
  d_.RunUntilIdle();
  EXPECT_EQ(TotalOf(*pid), 2);  // resumed twice, state kept

  ASSERT_TRUE(pid->Tell(Boom{ErrorKind::kRuntime}).ok());
  d_.RunUntilIdle();
  EXPECT_TRUE(pid->AwaitTermination(1s));
}

TEST_F(SupervisionTest, RulesAreTriedInOrderAndTheFirstMatchWins) {
  // CustomError is a runtime_error: both rules match it, the first decides.
  Result<PID> pid = SpawnCounter("c", Supervisor()
                                          .ClearRules()
                                          .WithDirective<CustomError>(Directive::kResume)
                                          .WithDirective<std::runtime_error>(Directive::kStop));
  ASSERT_TRUE(pid.ok());

  ASSERT_TRUE(pid->Tell(Boom{ErrorKind::kCustom}).ok());
  d_.RunUntilIdle();
  EXPECT_TRUE(pid->IsRunning());
  EXPECT_FALSE(pid->IsSuspended());

  ASSERT_TRUE(pid->Tell(Boom{ErrorKind::kRuntime}).ok());
  d_.RunUntilIdle();
  EXPECT_TRUE(pid->AwaitTermination(1s));
}

TEST_F(SupervisionTest, RulesMatchTheStatusCodeAnActorReportsWithErr) {
  Result<PID> pid = SpawnCounter("c", Supervisor()
                                          .ClearRules()
                                          .WithDirective(StatusCode::kTimeout, Directive::kResume)
                                          .WithDirective(StatusCode::kInternal, Directive::kRestart)
                                          .WithAnyErrorDirective(Directive::kStop));
  ASSERT_TRUE(pid.ok());

  ASSERT_TRUE(pid->Tell(Add{4}).ok());
  ASSERT_TRUE(pid->Tell(ReportError{StatusCode::kTimeout}).ok());
  d_.RunUntilIdle();
  EXPECT_EQ(TotalOf(*pid), 4);  // resumed
  EXPECT_EQ(pid->RestartCount(), 0u);

  ASSERT_TRUE(pid->Tell(ReportError{StatusCode::kInternal}).ok());
  d_.RunUntilIdle();
  EXPECT_EQ(pid->RestartCount(), 1u);  // restarted
  EXPECT_EQ(TotalOf(*pid), 0);

  ASSERT_TRUE(pid->Tell(ReportError{StatusCode::kNotFound}).ok());
  d_.RunUntilIdle();
  EXPECT_TRUE(pid->AwaitTermination(1s));  // only the any-error rule matched
}

TEST_F(SupervisionTest, AnyErrorRuleAppliesToEveryErrorNoOtherRuleMatches) {
  Result<PID> pid = SpawnCounter("c", Supervisor()
                                          .ClearRules()
                                          .WithDirective<std::invalid_argument>(Directive::kStop)
                                          .WithAnyErrorDirective(Directive::kResume));
  ASSERT_TRUE(pid.ok());

  ASSERT_TRUE(pid->Tell(Add{1}).ok());
  ASSERT_TRUE(pid->Tell(Boom{ErrorKind::kRuntime}).ok());
  ASSERT_TRUE(pid->Tell(Boom{ErrorKind::kNonStandard}).ok());  // not even a std::exception
  ASSERT_TRUE(pid->Tell(ReportError{StatusCode::kInternal}).ok());
  ASSERT_TRUE(pid->Tell(Add{1}).ok());
  d_.RunUntilIdle();
  EXPECT_EQ(TotalOf(*pid), 2);
  EXPECT_FALSE(pid->IsSuspended());

  ASSERT_TRUE(pid->Tell(Boom{ErrorKind::kInvalidArgument}).ok());
  d_.RunUntilIdle();
  EXPECT_TRUE(pid->AwaitTermination(1s));
}

TEST_F(SupervisionTest, AnErrorNoRuleMatchesSuspendsTheActorUntilReinstated) {
  Result<PID> pid = SpawnCounter(
      "c", Supervisor().ClearRules().WithDirective<std::invalid_argument>(Directive::kResume));
  ASSERT_TRUE(pid.ok());
  EventLog<ActorSuspended> suspended(system());
  EventLog<ActorReinstated> reinstated(system());

  ASSERT_TRUE(pid->Tell(Add{1}).ok());
  ASSERT_TRUE(pid->Tell(Boom{ErrorKind::kRuntime}).ok());
  ASSERT_TRUE(pid->Tell(Add{2}).ok());
  ASSERT_TRUE(pid->Tell(Add{3}).ok());
  d_.RunUntilIdle();

  EXPECT_TRUE(pid->IsSuspended());
  EXPECT_TRUE(pid->IsRunning());  // suspended is still alive
  EXPECT_EQ(pid->ProcessedCount(), 2u);
  EXPECT_EQ(pid->MailboxSize(), 2u);  // the Adds wait
  ASSERT_EQ(suspended.Count(), 1u);
  EXPECT_EQ(suspended.events()[0].actor, *pid);
  EXPECT_NE(suspended.events()[0].reason.find("boom"), std::string::npos)
      << suspended.events()[0].reason;
  EXPECT_EQ(reinstated.Count(), 0u);

  d_.Advance(1min);  // waiting longer changes nothing
  EXPECT_TRUE(pid->IsSuspended());
  EXPECT_EQ(pid->MailboxSize(), 2u);

  pid->Reinstate();
  d_.RunUntilIdle();

  EXPECT_FALSE(pid->IsSuspended());
  EXPECT_EQ(pid->MailboxSize(), 0u);
  EXPECT_EQ(TotalOf(*pid), 6);  // state kept, waiting messages processed
  EXPECT_EQ(pid->RestartCount(), 0u);
  ASSERT_EQ(reinstated.Count(), 1u);
  EXPECT_EQ(reinstated.events()[0].actor, *pid);
}

TEST_F(SupervisionTest, ASuspendedActorCanBeStopped) {
  Result<PID> pid = SpawnCounter("c", Supervisor().ClearRules());
  ASSERT_TRUE(pid.ok());
  ASSERT_TRUE(pid->Tell(Boom{}).ok());
  ASSERT_TRUE(pid->Tell(Add{1}).ok());
  d_.RunUntilIdle();
  ASSERT_TRUE(pid->IsSuspended());

  pid->Stop();
  d_.RunUntilIdle();

  EXPECT_TRUE(pid->AwaitTermination(1s));
  EXPECT_EQ(probe_->post_stops, 1);
  EXPECT_EQ(system().DeadLetterCount(DeadLetterReason::kStopped), 1u);
}

// ---------------------------------------------------------------------------
// Retry limits and backoff.

TEST_F(SupervisionTest, OneFailureMoreThanTheRetryLimitWithinTheWindowStopsTheActor) {
  Result<PID> pid =
      SpawnCounter("c", Supervisor().WithAnyErrorDirective(Directive::kRestart).WithRetry(2, 1min));
  ASSERT_TRUE(pid.ok());

  for (int i = 0; i < 2; ++i) ASSERT_TRUE(pid->Tell(Boom{}).ok());
  d_.RunUntilIdle();
  EXPECT_EQ(pid->RestartCount(), 2u);
  EXPECT_TRUE(pid->IsRunning());

  ASSERT_TRUE(pid->Tell(Boom{}).ok());
  d_.RunUntilIdle();
  EXPECT_TRUE(pid->AwaitTermination(1s));
  EXPECT_EQ(pid->RestartCount(), 2u);
  EXPECT_EQ(probe_->instances, 3);
  EXPECT_EQ(probe_->post_stops, 3);
}

TEST_F(SupervisionTest, FailuresFurtherApartThanTheWindowDoNotUseUpTheRetries) {
  Result<PID> pid =
      SpawnCounter("c", Supervisor().WithAnyErrorDirective(Directive::kRestart).WithRetry(1, 1s));
  ASSERT_TRUE(pid.ok());

  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(pid->Tell(Boom{}).ok());
    d_.RunUntilIdle();
    d_.Advance(2s);
  }

  EXPECT_TRUE(pid->IsRunning());
  EXPECT_EQ(pid->RestartCount(), 3u);
}

TEST_F(SupervisionTest, BackoffDelaysTheRestartAndDoublesForConsecutiveRestarts) {
  Result<PID> pid = SpawnCounter(
      "c", Supervisor().WithAnyErrorDirective(Directive::kRestart).WithBackoff(100ms, 1s));
  ASSERT_TRUE(pid.ok());

  ASSERT_TRUE(pid->Tell(Add{5}).ok());
  ASSERT_TRUE(pid->Tell(Boom{}).ok());
  ASSERT_TRUE(pid->Tell(Add{2}).ok());
  d_.RunUntilIdle();

  // Failed, waiting out the backoff: not restarted yet, the Add waits.
  EXPECT_EQ(pid->RestartCount(), 0u);
  EXPECT_EQ(probe_->pre_starts, 1);
  EXPECT_EQ(pid->MailboxSize(), 1u);
  EXPECT_TRUE(pid->IsRunning());

  d_.Advance(99ms);
  EXPECT_EQ(pid->RestartCount(), 0u);
  EXPECT_EQ(pid->MailboxSize(), 1u);

  d_.Advance(1ms);
  EXPECT_EQ(pid->RestartCount(), 1u);
  EXPECT_EQ(probe_->pre_starts, 2);
  EXPECT_EQ(pid->MailboxSize(), 0u);
  EXPECT_EQ(TotalOf(*pid), 2);  // the new instance got the waiting Add

  // The next restart waits twice as long.
  ASSERT_TRUE(pid->Tell(Boom{}).ok());
  d_.RunUntilIdle();
  d_.Advance(199ms);
  EXPECT_EQ(pid->RestartCount(), 1u);
  d_.Advance(1ms);
  EXPECT_EQ(pid->RestartCount(), 2u);
}

TEST_F(SupervisionTest, AStopDuringTheBackoffWinsOverThePendingRestart) {
  Result<PID> pid = SpawnCounter(
      "c", Supervisor().WithAnyErrorDirective(Directive::kRestart).WithBackoff(100ms, 1s));
  ASSERT_TRUE(pid.ok());
  ASSERT_TRUE(pid->Tell(Boom{}).ok());
  d_.RunUntilIdle();

  pid->Stop();
  d_.RunUntilIdle();
  d_.Advance(1s);  // the backoff timer fires into a stopped actor

  EXPECT_TRUE(pid->AwaitTermination(Duration::zero()));
  EXPECT_EQ(pid->RestartCount(), 0u);
  EXPECT_EQ(probe_->instances, 1);
}

TEST_F(SupervisionTest, AManualRestartDuringTheBackoffReplacesThePendingRestart) {
  Result<PID> pid = SpawnCounter(
      "c", Supervisor().WithAnyErrorDirective(Directive::kRestart).WithBackoff(100ms, 1s));
  ASSERT_TRUE(pid.ok());
  ASSERT_TRUE(pid->Tell(Boom{}).ok());
  d_.RunUntilIdle();

  pid->Restart();
  d_.RunUntilIdle();
  ASSERT_EQ(pid->RestartCount(), 1u);
  ASSERT_TRUE(pid->Tell(Add{3}).ok());
  d_.RunUntilIdle();
  d_.Advance(1s);  // the supervisor's timer fires after the manual restart

  EXPECT_EQ(pid->RestartCount(), 1u);
  EXPECT_EQ(probe_->instances, 2);
  EXPECT_EQ(TotalOf(*pid), 3);  // the state of the manually restarted instance
}

// ---------------------------------------------------------------------------
// Strategies.

TEST_F(SupervisionTest, OneForOneRestartsOnlyTheFailingChild) {
  auto parent_probe = std::make_shared<Probe>();
  Supervisor child_supervisor = Supervisor().WithStrategy(Strategy::kOneForOne);
  Result<PID> parent = system().Spawn<Parent>("parent", parent_probe, probe_, child_supervisor, 3);
  ASSERT_TRUE(parent.ok()) << parent.status().ToString();
  PID children[3] = {Lookup(system(), "child-0"), Lookup(system(), "child-1"),
                     Lookup(system(), "child-2")};
  for (const PID& c : children) ASSERT_TRUE(c.Tell(Add{1}).ok());
  d_.RunUntilIdle();

  ASSERT_TRUE(children[1].Tell(Boom{}).ok());
  d_.RunUntilIdle();

  EXPECT_EQ(children[0].RestartCount(), 0u);
  EXPECT_EQ(children[1].RestartCount(), 1u);
  EXPECT_EQ(children[2].RestartCount(), 0u);
  EXPECT_EQ(TotalOf(children[0]), 1);
  EXPECT_EQ(TotalOf(children[1]), 0);
  EXPECT_EQ(TotalOf(children[2]), 1);
  EXPECT_EQ(parent->RestartCount(), 0u);
}

TEST_F(SupervisionTest, OneForAllRestartsTheSiblingsOfTheFailingChildToo) {
  auto parent_probe = std::make_shared<Probe>();
  Supervisor child_supervisor = Supervisor().WithStrategy(Strategy::kOneForAll);
  Result<PID> parent = system().Spawn<Parent>("parent", parent_probe, probe_, child_supervisor, 3);
  ASSERT_TRUE(parent.ok()) << parent.status().ToString();
  PID children[3] = {Lookup(system(), "child-0"), Lookup(system(), "child-1"),
                     Lookup(system(), "child-2")};
  for (const PID& c : children) ASSERT_TRUE(c.Tell(Add{1}).ok());
  d_.RunUntilIdle();

  ASSERT_TRUE(children[1].Tell(Boom{}).ok());
  d_.RunUntilIdle();

  for (int i = 0; i < 3; ++i) {
    SCOPED_TRACE("child-" + std::to_string(i));
    EXPECT_EQ(children[i].RestartCount(), 1u);
    EXPECT_EQ(TotalOf(children[i]), 0);  // fresh instance
    EXPECT_TRUE(children[i].IsRunning());
    EXPECT_EQ(Lookup(system(), "child-" + std::to_string(i)), children[i]);  // same actors
  }
  EXPECT_EQ(probe_->instances, 6);
  EXPECT_EQ(parent->RestartCount(), 0u);
}

TEST_F(SupervisionTest, OneForAllStopStopsTheSiblingsToo) {
  auto parent_probe = std::make_shared<Probe>();
  Supervisor child_supervisor =
      Supervisor().WithStrategy(Strategy::kOneForAll).WithAnyErrorDirective(Directive::kStop);
  Result<PID> parent = system().Spawn<Parent>("parent", parent_probe, probe_, child_supervisor, 2);
  ASSERT_TRUE(parent.ok()) << parent.status().ToString();
  PID first = Lookup(system(), "child-0");
  PID second = Lookup(system(), "child-1");

  ASSERT_TRUE(first.Tell(Boom{}).ok());
  d_.RunUntilIdle();

  EXPECT_TRUE(first.AwaitTermination(1s));
  EXPECT_TRUE(second.AwaitTermination(1s));
  EXPECT_TRUE(parent->IsRunning());
}

// ---------------------------------------------------------------------------
// PreStart failures, asks, Kill.

class FailingPreStart : public Actor {
 public:
  explicit FailingPreStart(bool by_status) : by_status_(by_status) {}
  Status PreStart(Context&) override {
    if (by_status_) return Status(StatusCode::kInternal, "no database");
    throw CustomError();
  }
  void Receive(ReceiveContext&) override {}

 private:
  bool by_status_;
};

TEST_F(SupervisionTest, SpawnReturnsActorFailedWhenPreStartThrows) {
  Result<PID> pid = system().Spawn<FailingPreStart>("bad", false);

  ASSERT_FALSE(pid.ok());
  EXPECT_EQ(pid.status().code(), StatusCode::kActorFailed);
  EXPECT_NE(pid.status().message().find("custom failure"), std::string::npos)
      << pid.status().ToString();
  EXPECT_EQ(system().ActorOf("bad").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(system().ActorCount(), 0u);
  // The name was not kept by the failed actor.
  EXPECT_TRUE(system().Spawn<test::Echo>("bad").ok());
}

TEST_F(SupervisionTest, SpawnReturnsActorFailedWhenPreStartReturnsAnError) {
  Result<PID> pid = system().Spawn<FailingPreStart>("bad", true);

  ASSERT_FALSE(pid.ok());
  EXPECT_EQ(pid.status().code(), StatusCode::kActorFailed);
  EXPECT_NE(pid.status().message().find("no database"), std::string::npos)
      << pid.status().ToString();
}

TEST_F(SupervisionTest, PreStartFailureDuringARestartIsSupervisedByTheRules) {
  probe_->failing_instance = 2;  // the first restart's PreStart throws CustomError
  Result<PID> pid = SpawnCounter("c", Supervisor()
                                          .ClearRules()
                                          .WithDirective<CustomError>(Directive::kStop)
                                          .WithAnyErrorDirective(Directive::kRestart));
  ASSERT_TRUE(pid.ok()) << pid.status().ToString();

  ASSERT_TRUE(pid->Tell(Boom{ErrorKind::kRuntime}).ok());
  d_.RunUntilIdle();

  EXPECT_EQ(probe_->instances, 2);
  EXPECT_TRUE(pid->AwaitTermination(1s));  // the CustomError rule said Stop
}

TEST_F(SupervisionTest, PreStartFailureDuringARestartCanBeRestartedAgain) {
  probe_->failing_instance = 2;
  Result<PID> pid = SpawnCounter("c", Supervisor().WithAnyErrorDirective(Directive::kRestart));
  ASSERT_TRUE(pid.ok()) << pid.status().ToString();

  ASSERT_TRUE(pid->Tell(Boom{}).ok());
  ASSERT_TRUE(pid->Tell(Add{9}).ok());
  d_.RunUntilIdle();

  EXPECT_EQ(probe_->instances, 3);
  EXPECT_EQ(pid->RestartCount(), 2u);
  EXPECT_TRUE(pid->IsRunning());
  EXPECT_EQ(TotalOf(*pid), 9);  // the third instance got the waiting message
}

TEST_F(SupervisionTest, APreStartThatKeepsFailingIsRetriedUpToTheLimitThenStopped) {
  // Every instance after the first fails in PreStart; restarts are immediate.
  // The retries must not nest (one stack frame chain per retry would
  // overflow the stack long before the limit).
  class FailsAfterFirst : public Actor {
   public:
    explicit FailsAfterFirst(std::shared_ptr<Probe> probe)
        : probe_(std::move(probe)), instance_(++probe_->instances) {}
    Status PreStart(Context&) override {
      if (instance_ > 1) throw CustomError();
      return Status();
    }
    void Receive(ReceiveContext&) override { throw std::runtime_error("boom"); }

   private:
    std::shared_ptr<Probe> probe_;
    int instance_;
  };
  constexpr int kRetries = 50000;  // nested, ~13k overflowed an 8 MB stack
  Result<PID> pid = system().SpawnWith<FailsAfterFirst>(
      "c",
      Supervised(Supervisor().WithAnyErrorDirective(Directive::kRestart).WithRetry(kRetries, 1h)),
      probe_);
  ASSERT_TRUE(pid.ok());

  ASSERT_TRUE(pid->Tell(Add{1}).ok());
  d_.RunUntilIdle();

  EXPECT_TRUE(pid->AwaitTermination(1s));
  EXPECT_EQ(probe_->instances, kRetries + 1);
}

TEST_F(SupervisionTest, AskWhoseHandlerThrowsFailsWithActorFailedWithoutWaitingForTheTimeout) {
  Result<PID> pid = SpawnCounter("c", Supervisor());
  ASSERT_TRUE(pid.ok());
  TimePoint before = d_.Now();

  Result<Message> reply = pid->Ask(Boom{}, 10s);

  ASSERT_FALSE(reply.ok());
  EXPECT_EQ(reply.status().code(), StatusCode::kActorFailed);
  EXPECT_NE(reply.status().message().find("boom"), std::string::npos) << reply.status().ToString();
  EXPECT_EQ(d_.Now(), before);  // no time passed: the failure answered the Ask
}

TEST_F(SupervisionTest, AskWhoseHandlerReportsAnErrorFailsWithThatError) {
  Result<PID> pid = SpawnCounter("c", Supervisor().WithAnyErrorDirective(Directive::kResume));
  ASSERT_TRUE(pid.ok());

  Result<Message> reply = pid->Ask(ReportError{StatusCode::kInvalidArgument}, 10s);

  ASSERT_FALSE(reply.ok());
  EXPECT_EQ(reply.status().code(), StatusCode::kInvalidArgument);  // as a grain's ctx.Err
  EXPECT_EQ(reply.status().message(), "reported");
  EXPECT_TRUE(pid->IsRunning());
}

TEST_F(SupervisionTest, AskWhoseHandlerThrowsFailsPromptlyOnRealThreads) {
  ActorSystem system(test::QuietOptions());
  ASSERT_TRUE(system.Start().ok());
  Result<PID> pid = system.Spawn<Counter>("c", probe_);
  ASSERT_TRUE(pid.ok());
  auto start = Clock::now();

  Result<Message> reply = pid->Ask(Boom{}, 30s);

  ASSERT_FALSE(reply.ok());
  EXPECT_EQ(reply.status().code(), StatusCode::kActorFailed);
  EXPECT_LT(Clock::now() - start, 10s);
}

TEST_F(SupervisionTest, KillStopsTheActorUnderTheDefaultSupervisor) {
  Result<PID> pid = system().Spawn<Counter>("c", probe_);
  ASSERT_TRUE(pid.ok());

  pid->Kill();
  d_.RunUntilIdle();

  EXPECT_TRUE(pid->AwaitTermination(1s));
  EXPECT_EQ(pid->RestartCount(), 0u);
  EXPECT_EQ(probe_->post_stops, 1);
}

TEST_F(SupervisionTest, KillIsAFailureThatTheSupervisorRulesDecide) {
  Result<PID> pid = SpawnCounter(
      "c", Supervisor().ClearRules().WithDirective<ActorKilledError>(Directive::kRestart));
  ASSERT_TRUE(pid.ok());

  pid->Kill();
  d_.RunUntilIdle();

  EXPECT_TRUE(pid->IsRunning());
  EXPECT_EQ(pid->RestartCount(), 1u);
}

}  // namespace
}  // namespace akt
