// The scheduler: once, periodic and cron schedules; cancel, pause, resume;
// schedules end with their target and with the system. Timing is asserted on
// the deterministic fixture's virtual clock; a few tests use real threads for
// the races (stop while firing, concurrent control).
#include <akt/scheduler.h>
#include <akt/testing/deterministic.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "internal/access.h"
#include "system_impl.h"
#include "test_util.h"

namespace akt {
namespace {

using namespace std::chrono_literals;
using akt::test::WaitFor;

// Copyable; `token` shows whether a copy of the message is still alive.
struct Tick {
  int n = 0;
  std::shared_ptr<int> token;
};

struct MoveOnly {
  std::unique_ptr<int> p;
};

struct Seen {
  std::mutex mu;
  std::vector<int> ticks;
  std::vector<PID> senders;
  int move_only = 0;

  std::size_t count() {
    std::lock_guard<std::mutex> lock(mu);
    return ticks.size();
  }
};

class Recorder : public Actor {
 public:
  explicit Recorder(std::shared_ptr<Seen> seen) : seen_(std::move(seen)) {}
  void Receive(ReceiveContext& ctx) override {
    std::lock_guard<std::mutex> lock(seen_->mu);
    ctx.Match(
        [&](const Tick& t) {
          seen_->ticks.push_back(t.n);
          seen_->senders.push_back(ctx.sender());
        },
        [&](const MoveOnly&) { seen_->move_only++; });
  }

 private:
  std::shared_ptr<Seen> seen_;
};

class Idle : public Actor {
 public:
  void Receive(ReceiveContext& ctx) override { ctx.Unhandled(); }
};

struct Fixture {
  testing::DeterministicSystem d;
  std::shared_ptr<Seen> seen = std::make_shared<Seen>();
  PID target = d.system().Spawn<Recorder>("target", seen).value();
  Scheduler& scheduler = d.system().scheduler();
  TimePoint t0 = d.Now();

  // Nothing armed on the timer service: no schedule holds a timer.
  bool NoTimers() {
    return akt::internal::ImplOf(d.system()).timers().NextDeadline() == TimePoint::max();
  }
};

TEST(SchedulerTest, ScheduleOnceSendsOnceAtItsDelay) {
  Fixture f;
  ScheduleRef r = f.scheduler.ScheduleOnce(f.target, Tick{1}, 1s).value();
  EXPECT_EQ(r.next_fire(), f.t0 + 1s);
  f.d.Advance(999ms);
  EXPECT_EQ(f.seen->count(), 0u);
  f.d.Advance(1ms);
  EXPECT_EQ(f.seen->count(), 1u);
  f.d.Advance(1h);
  EXPECT_EQ(f.seen->count(), 1u);
  EXPECT_EQ(r.state(), ScheduleState::kCompleted);
  EXPECT_EQ(r.fire_count(), 1u);
  EXPECT_EQ(r.next_fire(), TimePoint::max());
  EXPECT_EQ(f.scheduler.size(), 0u);
  EXPECT_TRUE(f.NoTimers());
}

TEST(SchedulerTest, ScheduleSendsEveryIntervalOnAFixedGrid) {
  Fixture f;
  ScheduleRef r = f.scheduler.Schedule(f.target, Tick{7}, 100ms).value();
  f.d.Advance(99ms);
  EXPECT_EQ(f.seen->count(), 0u);
  f.d.Advance(1ms);
  EXPECT_EQ(f.seen->count(), 1u);
  f.d.Advance(1s);
  EXPECT_EQ(f.seen->count(), 11u);
  EXPECT_EQ(r.fire_count(), 11u);
  EXPECT_EQ(r.next_fire(), f.t0 + 1200ms);
  EXPECT_EQ(r.state(), ScheduleState::kActive);
  std::lock_guard<std::mutex> lock(f.seen->mu);
  for (int n : f.seen->ticks) EXPECT_EQ(n, 7);
}

TEST(SchedulerTest, InitialDelayComesBeforeTheFirstInterval) {
  Fixture f;
  ScheduleRef now = f.scheduler.Schedule(f.target, Tick{1}, 0s, 1s).value();
  f.d.Advance(0s);
  EXPECT_EQ(f.seen->count(), 1u);
  f.d.Advance(1s);
  EXPECT_EQ(f.seen->count(), 2u);
  now.Cancel();

  ScheduleRef later = f.scheduler.Schedule(f.target, Tick{2}, 250ms, 1s).value();
  EXPECT_EQ(later.next_fire(), f.d.Now() + 250ms);
  f.d.Advance(250ms);
  EXPECT_EQ(f.seen->count(), 3u);
  EXPECT_EQ(later.next_fire(), f.d.Now() + 1s);
}

TEST(SchedulerTest, ScheduledMessagesCarryTheGivenSender) {
  Fixture f;
  PID other = f.d.system().Spawn<Idle>("other").value();
  ASSERT_TRUE(
      f.scheduler.ScheduleOnce(f.target, Tick{1}, 1s, ScheduleOptions().WithSender(other)).ok());
  ASSERT_TRUE(f.scheduler.ScheduleOnce(f.target, Tick{2}, 2s).ok());
  f.d.Advance(2s);
  std::lock_guard<std::mutex> lock(f.seen->mu);
  ASSERT_EQ(f.seen->senders.size(), 2u);
  EXPECT_EQ(f.seen->senders[0], other);
  EXPECT_TRUE(f.seen->senders[1].empty());
}

TEST(SchedulerTest, SchedulesDueTogetherFireInCreationOrder) {
  Fixture f;
  for (int n = 1; n <= 3; ++n) ASSERT_TRUE(f.scheduler.ScheduleOnce(f.target, Tick{n}, 1s).ok());
  f.d.Advance(1s);
  std::lock_guard<std::mutex> lock(f.seen->mu);
  EXPECT_EQ(f.seen->ticks, (std::vector<int>{1, 2, 3}));
}

TEST(SchedulerTest, CancelEndsTheScheduleAndReleasesItsMessage) {
  Fixture f;
  auto token = std::make_shared<int>(0);
  std::weak_ptr<int> watch = token;
  ScheduleRef r = f.scheduler.Schedule(f.target, Tick{1, std::move(token)}, 100ms).value();
  ScheduleRef copy = r;
  f.d.Advance(300ms);
  EXPECT_EQ(f.seen->count(), 3u);
  EXPECT_TRUE(copy.Cancel());
  EXPECT_FALSE(r.Cancel());
  EXPECT_EQ(r.state(), ScheduleState::kCancelled);
  EXPECT_TRUE(watch.expired());  // the schedule let go of its message
  EXPECT_TRUE(f.NoTimers());
  EXPECT_EQ(f.scheduler.size(), 0u);
  f.d.Advance(1s);
  EXPECT_EQ(f.seen->count(), 3u);
  EXPECT_EQ(r.fire_count(), 3u);
}

TEST(SchedulerTest, PauseHoldsTheScheduleAndResumeContinuesOnItsGrid) {
  Fixture f;
  ScheduleRef r = f.scheduler.Schedule(f.target, Tick{1}, 100ms).value();
  f.d.Advance(250ms);
  EXPECT_EQ(f.seen->count(), 2u);
  ASSERT_TRUE(r.Pause().ok());
  ASSERT_TRUE(r.Pause().ok());  // idempotent
  EXPECT_EQ(r.state(), ScheduleState::kPaused);
  EXPECT_EQ(r.next_fire(), TimePoint::max());
  EXPECT_TRUE(f.NoTimers());
  f.d.Advance(300ms);  // ticks at 300, 400, 500 ms are skipped
  EXPECT_EQ(f.seen->count(), 2u);
  ASSERT_TRUE(r.Resume().ok());
  ASSERT_TRUE(r.Resume().ok());  // idempotent
  EXPECT_EQ(r.next_fire(), f.t0 + 600ms);
  f.d.Advance(49ms);
  EXPECT_EQ(f.seen->count(), 2u);
  f.d.Advance(1ms);
  EXPECT_EQ(f.seen->count(), 3u);
  f.d.Advance(100ms);
  EXPECT_EQ(f.seen->count(), 4u);
}

TEST(SchedulerTest, ResumingAPausedOnceFiresAtOnceIfItsTimePassed) {
  Fixture f;
  ScheduleRef passed = f.scheduler.ScheduleOnce(f.target, Tick{1}, 100ms).value();
  ScheduleRef pending = f.scheduler.ScheduleOnce(f.target, Tick{2}, 1s).value();
  ASSERT_TRUE(passed.Pause().ok());
  ASSERT_TRUE(pending.Pause().ok());
  f.d.Advance(500ms);
  EXPECT_EQ(f.seen->count(), 0u);
  ASSERT_TRUE(passed.Resume().ok());
  ASSERT_TRUE(pending.Resume().ok());
  EXPECT_EQ(pending.next_fire(), f.t0 + 1s);  // keeps its time
  f.d.Advance(0s);
  EXPECT_EQ(f.seen->count(), 1u);
  f.d.Advance(500ms);
  EXPECT_EQ(f.seen->count(), 2u);
}

TEST(SchedulerTest, AnEndedScheduleCannotBePausedOrResumed) {
  Fixture f;
  ScheduleRef r = f.scheduler.ScheduleOnce(f.target, Tick{1}, 1s).value();
  f.d.Advance(1s);
  EXPECT_EQ(r.Pause().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(r.Resume().code(), StatusCode::kFailedPrecondition);
  EXPECT_FALSE(r.Cancel());
  ScheduleRef empty;
  EXPECT_FALSE(empty);
  EXPECT_FALSE(empty.Cancel());
  EXPECT_EQ(empty.Pause().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(empty.state(), ScheduleState::kCancelled);
}

TEST(SchedulerTest, RepeatingSchedulesNeedACopyableMessage) {
  Fixture f;
  Result<ScheduleRef> r = f.scheduler.Schedule(f.target, MoveOnly{std::make_unique<int>(1)}, 1s);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("not copyable"), std::string::npos);
  EXPECT_EQ(f.scheduler.ScheduleCron(f.target, MoveOnly{}, "* * * * * *").status().code(),
            StatusCode::kInvalidArgument);
  // Once is fine: the message is moved, never copied.
  ASSERT_TRUE(f.scheduler.ScheduleOnce(f.target, MoveOnly{std::make_unique<int>(1)}, 1s).ok());
  f.d.Advance(1s);
  std::lock_guard<std::mutex> lock(f.seen->mu);
  EXPECT_EQ(f.seen->move_only, 1);
}

TEST(SchedulerTest, ArgumentsAreValidated) {
  Fixture f;
  EXPECT_EQ(f.scheduler.ScheduleOnce(PID(), Tick{}, 1s).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(f.scheduler.ScheduleOnce(f.target, Tick{}, -1ms).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(f.scheduler.ScheduleOnce(f.target, Message(), 1s).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(f.scheduler.Schedule(f.target, Tick{}, 0s).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(f.scheduler.Schedule(f.target, Tick{}, 1s, -1s).status().code(),
            StatusCode::kInvalidArgument);
  Result<ScheduleRef> cron = f.scheduler.ScheduleCron(f.target, Tick{}, "0 0 9 * * MON-FRY");
  ASSERT_FALSE(cron.ok());
  EXPECT_EQ(cron.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(cron.status().message().find("day-of-week"), std::string::npos);
  EXPECT_EQ(f.scheduler.size(), 0u);

  testing::DeterministicSystem other;
  PID foreign = other.system().Spawn<Idle>("foreign").value();
  EXPECT_EQ(f.scheduler.ScheduleOnce(foreign, Tick{}, 1s).status().code(),
            StatusCode::kInvalidArgument);
}

TEST(SchedulerTest, SchedulesEndWhenTheirTargetStops) {
  Fixture f;
  auto token = std::make_shared<int>(0);
  std::weak_ptr<int> watch = token;
  PID doomed = f.d.system().Spawn<Recorder>("doomed", f.seen).value();
  ScheduleRef periodic = f.scheduler.Schedule(doomed, Tick{1, token}, 100ms).value();
  ScheduleRef once = f.scheduler.ScheduleOnce(doomed, Tick{2, token}, 10s).value();
  ScheduleRef cron = f.scheduler.ScheduleCron(doomed, Tick{3, token}, "0 0 0 1 1 *").value();
  ScheduleRef paused = f.scheduler.Schedule(doomed, Tick{4, token}, 1s).value();
  ASSERT_TRUE(paused.Pause().ok());
  ScheduleRef survivor = f.scheduler.Schedule(f.target, Tick{5}, 100ms).value();
  token.reset();
  f.d.Advance(200ms);
  EXPECT_EQ(f.seen->count(), 4u);  // two from each periodic schedule

  doomed.Stop();
  ASSERT_TRUE(doomed.AwaitTermination(1s));
  for (ScheduleRef* r : {&periodic, &once, &cron, &paused}) {
    EXPECT_EQ(r->state(), ScheduleState::kCancelled);
  }
  EXPECT_TRUE(watch.expired());  // nothing left holds the messages
  EXPECT_EQ(f.scheduler.size(), 1u);
  uint64_t dead = f.d.system().DeadLetterCount();
  f.d.Advance(20s);
  EXPECT_EQ(f.d.system().DeadLetterCount(), dead);  // nothing fired at the dead actor
  EXPECT_EQ(survivor.state(), ScheduleState::kActive);
  EXPECT_EQ(survivor.fire_count(), 202u);
  EXPECT_EQ(periodic.Resume().code(), StatusCode::kFailedPrecondition);
}

TEST(SchedulerTest, SchedulingToAStoppedActorFails) {
  Fixture f;
  f.target.Stop();
  ASSERT_TRUE(f.target.AwaitTermination(1s));
  Result<ScheduleRef> r = f.scheduler.ScheduleOnce(f.target, Tick{}, 1s);
  EXPECT_EQ(r.status().code(), StatusCode::kStopped);
  EXPECT_EQ(f.scheduler.size(), 0u);
  EXPECT_TRUE(f.NoTimers());
}

TEST(SchedulerTest, CronFiresAtMatchingWallClockSeconds) {
  Fixture f;
  using std::chrono::sys_days;
  EXPECT_EQ(f.scheduler.WallClockNow(),
            std::chrono::system_clock::time_point(sys_days(std::chrono::year(2025) / 1 / 1)));
  ScheduleRef r = f.scheduler.ScheduleCron(f.target, Tick{1}, "*/10 * * * * *").value();
  EXPECT_EQ(r.next_fire(), f.t0 + 10s);
  f.d.Advance(9s);
  EXPECT_EQ(f.seen->count(), 0u);
  f.d.Advance(1s);
  EXPECT_EQ(f.seen->count(), 1u);
  f.d.Advance(50s);
  EXPECT_EQ(f.seen->count(), 6u);
  EXPECT_EQ(r.next_fire(), f.t0 + 70s);
}

TEST(SchedulerTest, MonthlyCronFollowsTheCalendar) {
  Fixture f;
  // The virtual wall clock starts at 2025-01-01 00:00:00 UTC.
  ScheduleRef r = f.scheduler.ScheduleCron(f.target, Tick{1}, "0 0 0 1 * *").value();
  EXPECT_EQ(r.next_fire(), f.t0 + 24h * 31);  // 2025-02-01
  f.d.Advance(24h * 31 - 1s);
  EXPECT_EQ(f.seen->count(), 0u);
  f.d.Advance(1s);
  EXPECT_EQ(f.seen->count(), 1u);
  EXPECT_EQ(r.next_fire(), f.t0 + 24h * (31 + 28));  // 2025-03-01: not a leap year
  f.d.Advance(24h * 28);
  EXPECT_EQ(f.seen->count(), 2u);
}

TEST(SchedulerTest, PausedCronSkipsTheMatchesItMissed) {
  Fixture f;
  ScheduleRef r = f.scheduler.ScheduleCron(f.target, Tick{1}, "0 * * * * *").value();  // minutely
  f.d.Advance(60s);
  EXPECT_EQ(f.seen->count(), 1u);
  ASSERT_TRUE(r.Pause().ok());
  f.d.Advance(150s);  // 00:03:30
  ASSERT_TRUE(r.Resume().ok());
  EXPECT_EQ(r.next_fire(), f.t0 + 240s);
  f.d.Advance(30s);
  EXPECT_EQ(f.seen->count(), 2u);
}

// A schedule made in PreStart and cancelled in PostStop exists once per
// incarnation, restarts included.
class SelfTicker : public Actor {
 public:
  explicit SelfTicker(std::shared_ptr<Seen> seen) : seen_(std::move(seen)) {}
  Status PreStart(Context& ctx) override {
    Result<ScheduleRef> r = ctx.system().scheduler().Schedule(ctx.self(), Tick{1}, 100ms);
    if (!r.ok()) return r.status();
    tick_ = *r;
    return Status();
  }
  void Receive(ReceiveContext& ctx) override {
    ctx.Match([&](const Tick& t) {
      std::lock_guard<std::mutex> lock(seen_->mu);
      seen_->ticks.push_back(t.n);
    });
  }
  Status PostStop(Context&) override {
    tick_.Cancel();
    return Status();
  }

 private:
  std::shared_ptr<Seen> seen_;
  ScheduleRef tick_;
};

TEST(SchedulerTest, AnActorCanScheduleItselfOncePerIncarnation) {
  testing::DeterministicSystem d;
  auto seen = std::make_shared<Seen>();
  PID ticker = d.system().Spawn<SelfTicker>("ticker", seen).value();
  d.Advance(1s);
  EXPECT_EQ(seen->count(), 10u);
  ticker.Restart();
  d.RunUntilIdle();
  EXPECT_EQ(d.system().scheduler().size(), 1u);
  d.Advance(1s);
  EXPECT_EQ(seen->count(), 20u);
}

TEST(SchedulerTest, SystemStopCancelsEveryScheduleAndRefusesNewOnes) {
  auto token = std::make_shared<int>(0);
  std::weak_ptr<int> watch = token;
  ScheduleRef periodic;
  ScheduleRef once;
  {
    Fixture f;
    periodic = f.scheduler.Schedule(f.target, Tick{1, token}, 100ms).value();
    once = f.scheduler.ScheduleOnce(f.target, Tick{2, token}, 1h).value();
    token.reset();
    f.d.Advance(100ms);
    ASSERT_TRUE(f.d.system().Stop().ok());
    EXPECT_EQ(periodic.state(), ScheduleState::kCancelled);
    EXPECT_EQ(once.state(), ScheduleState::kCancelled);
    EXPECT_EQ(f.scheduler.size(), 0u);
    EXPECT_EQ(f.scheduler.ScheduleOnce(f.target, Tick{}, 1s).status().code(),
              StatusCode::kSystemStopped);
  }
  // The handles outlive the system and stay safe to use.
  EXPECT_TRUE(watch.expired());
  EXPECT_FALSE(periodic.Cancel());
  EXPECT_EQ(once.Resume().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(periodic.fire_count(), 1u);
}

// ---------------------------------------------------------------------------
// Real threads.

TEST(SchedulerTest, ThreadedScheduleDeliversUntilCancelled) {
  ActorSystem system(test::QuietOptions());
  ASSERT_TRUE(system.Start().ok());
  auto seen = std::make_shared<Seen>();
  PID target = system.Spawn<Recorder>("target", seen).value();
  ScheduleRef r = system.scheduler().Schedule(target, Tick{1}, 2ms).value();
  ASSERT_TRUE(WaitFor([&] { return seen->count() >= 3; }));
  ASSERT_TRUE(r.Cancel());
  uint64_t fired = r.fire_count();
  // A marker sent well after the cancel: once it arrives, any tick still in
  // flight at the cancel has arrived too.
  ASSERT_TRUE(system.scheduler().ScheduleOnce(target, Tick{99}, 20ms).ok());
  ASSERT_TRUE(WaitFor([&] {
    std::lock_guard<std::mutex> lock(seen->mu);
    return !seen->ticks.empty() && seen->ticks.back() == 99;
  }));
  EXPECT_EQ(r.fire_count(), fired);
  EXPECT_EQ(seen->count(), fired + 1);
  EXPECT_TRUE(system.Stop().ok());
}

TEST(SchedulerTest, ThreadedStopWhileSchedulesFireIsClean) {
  auto seen = std::make_shared<Seen>();
  std::vector<ScheduleRef> refs;
  {
    ActorSystem system(test::QuietOptions());
    ASSERT_TRUE(system.Start().ok());
    for (int i = 0; i < 8; ++i) {
      PID p = system.Spawn<Recorder>("r" + std::to_string(i), seen).value();
      refs.push_back(system.scheduler().Schedule(p, Tick{i}, 0s, 1ms).value());
      refs.push_back(system.scheduler().ScheduleCron(p, Tick{i}, "* * * * * *").value());
    }
    ASSERT_TRUE(WaitFor([&] { return seen->count() >= 40; }));
    EXPECT_TRUE(system.Stop().ok());
    for (ScheduleRef& r : refs) EXPECT_EQ(r.state(), ScheduleState::kCancelled);
  }
  for (ScheduleRef& r : refs) EXPECT_FALSE(r.Cancel());
}

TEST(SchedulerTest, ConcurrentPauseResumeAndCancelAreSafe) {
  ActorSystem system(test::QuietOptions());
  ASSERT_TRUE(system.Start().ok());
  auto seen = std::make_shared<Seen>();
  PID target = system.Spawn<Recorder>("target", seen).value();
  std::vector<ScheduleRef> refs;
  for (int i = 0; i < 4; ++i)
    refs.push_back(system.scheduler().Schedule(target, Tick{i}, 1ms).value());
  std::atomic<bool> go{true};
  std::vector<std::thread> threads;
  for (int t = 0; t < 3; ++t) {
    threads.emplace_back([&, t] {
      int i = 0;
      while (go.load()) {
        ScheduleRef& r = refs[(i++ + t) % refs.size()];
        if (i % 2) {
          r.Pause().IgnoreError();
        } else {
          r.Resume().IgnoreError();
        }
        (void)r.next_fire();
      }
    });
  }
  ASSERT_TRUE(WaitFor([&] { return seen->count() >= 20; }));
  for (ScheduleRef& r : refs) r.Cancel();
  go.store(false);
  for (std::thread& t : threads) t.join();
  for (ScheduleRef& r : refs) EXPECT_EQ(r.state(), ScheduleState::kCancelled);
  EXPECT_EQ(system.scheduler().size(), 0u);
  EXPECT_TRUE(system.Stop().ok());
}

}  // namespace
}  // namespace akt
