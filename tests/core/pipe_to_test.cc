// PipeTo: blocking work on the system's blocking pool, its value or failure
// delivered as a message, timeouts, the circuit breaker, and the pool's bounds
// and shutdown. The pool always runs real threads; timeouts and breaker reset
// times are asserted on the deterministic fixture's virtual clock.
#include <akt/pipe_to.h>
#include <akt/testing/deterministic.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "dispatcher.h"
#include "internal/access.h"
#include "system_impl.h"
#include "test_util.h"

namespace akt {
namespace {

using namespace std::chrono_literals;
using akt::test::WaitFor;

struct Quote {
  int price = 0;
};

// A latch the test opens; tasks wait on it (with a deadline, so a broken
// test cannot hang forever).
class Gate {
 public:
  void Open() {
    std::lock_guard<std::mutex> lock(mu_);
    open_ = true;
    cv_.notify_all();
  }
  bool Wait() {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, 10s, [&] { return open_; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = false;
};

struct Inbox {
  std::mutex mu;
  std::vector<int> quotes;
  std::vector<PipeFailure> failures;
  std::vector<PID> senders;

  std::size_t quote_count() {
    std::lock_guard<std::mutex> lock(mu);
    return quotes.size();
  }
  std::size_t failure_count() {
    std::lock_guard<std::mutex> lock(mu);
    return failures.size();
  }
  PipeFailure failure(std::size_t i) {
    std::lock_guard<std::mutex> lock(mu);
    return failures.at(i);
  }
};

class Collector : public Actor {
 public:
  explicit Collector(std::shared_ptr<Inbox> inbox) : inbox_(std::move(inbox)) {}
  void Receive(ReceiveContext& ctx) override {
    std::lock_guard<std::mutex> lock(inbox_->mu);
    ctx.Match(
        [&](const Quote& q) {
          inbox_->quotes.push_back(q.price);
          inbox_->senders.push_back(ctx.sender());
        },
        [&](const PipeFailure& f) {
          inbox_->failures.push_back(f);
          inbox_->senders.push_back(ctx.sender());
        });
  }

 private:
  std::shared_ptr<Inbox> inbox_;
};

// Runs the deterministic system's actors until `cond` holds (pool threads
// deliver in real time).
bool RunUntil(testing::DeterministicSystem& d, const std::function<bool()>& cond) {
  return WaitFor([&] {
    d.RunUntilIdle();
    return cond();
  });
}

struct Threaded {
  ActorSystem system{test::QuietOptions()};
  std::shared_ptr<Inbox> inbox = std::make_shared<Inbox>();
  PID collector;
  Threaded() {
    EXPECT_TRUE(system.Start().ok());
    collector = system.Spawn<Collector>("collector", inbox).value();
  }
};

TEST(PipeToTest, DeliversTheTaskValueAsAMessage) {
  Threaded t;
  ASSERT_TRUE(PipeTo(t.system, t.collector, [] { return Quote{42}; }).ok());
  ASSERT_TRUE(WaitFor([&] { return t.inbox->quote_count() == 1; }));
  std::lock_guard<std::mutex> lock(t.inbox->mu);
  EXPECT_EQ(t.inbox->quotes[0], 42);
  EXPECT_TRUE(t.inbox->senders[0].empty());
}

TEST(PipeToTest, TasksMayReturnResultOfMessageResultOfTOrT) {
  Threaded t;
  ASSERT_TRUE(
      PipeTo(t.system, t.collector, []() -> Result<Message> { return Message(Quote{1}); }).ok());
  ASSERT_TRUE(PipeTo(t.system, t.collector, []() -> Result<Quote> { return Quote{2}; }).ok());
  ASSERT_TRUE(PipeTo(t.system, t.collector, [] { return Message(Quote{3}); }).ok());
  auto owned = std::make_unique<int>(4);  // move-only captures are fine
  ASSERT_TRUE(PipeTo(t.system, t.collector, [p = std::move(owned)] { return Quote{*p}; }).ok());
  ASSERT_TRUE(WaitFor([&] { return t.inbox->quote_count() == 4; }));
  std::lock_guard<std::mutex> lock(t.inbox->mu);
  std::vector<int> got = t.inbox->quotes;
  std::sort(got.begin(), got.end());
  EXPECT_EQ(got, (std::vector<int>{1, 2, 3, 4}));
}

TEST(PipeToTest, AnErrorStatusArrivesAsAPipeFailureWithThatStatus) {
  Threaded t;
  ASSERT_TRUE(PipeTo(t.system, t.collector, []() -> Result<Quote> {
                return NotFoundError("no such symbol");
              }).ok());
  ASSERT_TRUE(WaitFor([&] { return t.inbox->failure_count() == 1; }));
  PipeFailure f = t.inbox->failure(0);
  EXPECT_EQ(f.cause, PipeFailure::Cause::kTaskFailed);
  EXPECT_EQ(f.status, NotFoundError("no such symbol"));
  EXPECT_FALSE(f.exception);
  EXPECT_EQ(t.inbox->quote_count(), 0u);
}

TEST(PipeToTest, AnExceptionArrivesAsAPipeFailureCarryingIt) {
  Threaded t;
  ASSERT_TRUE(PipeTo(t.system, t.collector, []() -> Quote {
                throw std::runtime_error("disk on fire");
              }).ok());
  ASSERT_TRUE(WaitFor([&] { return t.inbox->failure_count() == 1; }));
  PipeFailure f = t.inbox->failure(0);
  EXPECT_EQ(f.cause, PipeFailure::Cause::kTaskFailed);
  EXPECT_EQ(f.status.code(), StatusCode::kActorFailed);
  EXPECT_NE(f.status.message().find("disk on fire"), std::string::npos);
  ASSERT_TRUE(f.exception);
  EXPECT_THROW(std::rethrow_exception(f.exception), std::runtime_error);
}

TEST(PipeToTest, AnEmptyMessageIsAFailure) {
  Threaded t;
  ASSERT_TRUE(PipeTo(t.system, t.collector, [] { return Message(); }).ok());
  ASSERT_TRUE(WaitFor([&] { return t.inbox->failure_count() == 1; }));
  EXPECT_EQ(t.inbox->failure(0).status.code(), StatusCode::kInvalidArgument);
}

struct Fetch {};

// Pipes blocking work to the collector from inside Receive.
class Fetcher : public Actor {
 public:
  Fetcher(PID collector, std::shared_ptr<std::atomic<int>> on_worker)
      : collector_(std::move(collector)), on_worker_(std::move(on_worker)) {}
  void Receive(ReceiveContext& ctx) override {
    ctx.Match([&](const Fetch&) {
      auto on_worker = on_worker_;
      PipeTo(ctx, collector_, [on_worker] {
        on_worker->store(internal::OnWorkerThread() ? 1 : 0);
        return Quote{7};
      }).IgnoreError();
    });
  }

 private:
  PID collector_;
  std::shared_ptr<std::atomic<int>> on_worker_;
};

TEST(PipeToTest, FromAnActorTheTaskRunsOffTheWorkersAndTheActorIsTheSender) {
  Threaded t;
  auto on_worker = std::make_shared<std::atomic<int>>(-1);
  PID fetcher = t.system.Spawn<Fetcher>("fetcher", t.collector, on_worker).value();
  ASSERT_TRUE(fetcher.Tell(Fetch{}).ok());
  ASSERT_TRUE(WaitFor([&] { return t.inbox->quote_count() == 1; }));
  EXPECT_EQ(on_worker->load(), 0);
  std::lock_guard<std::mutex> lock(t.inbox->mu);
  EXPECT_EQ(t.inbox->senders[0], fetcher);
}

TEST(PipeToTest, ArgumentsAreValidated) {
  Threaded t;
  EXPECT_EQ(PipeTo(t.system, PID(), [] { return Quote{}; }).code(), StatusCode::kNotFound);
  EXPECT_EQ(PipeTo(
                t.system, t.collector, [] { return Quote{}; }, PipeOptions().WithTimeout(-1ms))
                .code(),
            StatusCode::kInvalidArgument);
  testing::DeterministicSystem other;
  PID foreign = other.system().Spawn<Collector>("foreign", t.inbox).value();
  EXPECT_EQ(PipeTo(t.system, foreign, [] { return Quote{}; }).code(), StatusCode::kInvalidArgument);
}

TEST(PipeToTest, ThePoolStartsThreadsOnDemandUpToItsBound) {
  Threaded t;
  internal::BlockingPool& pool = akt::internal::ImplOf(t.system).blocking_pool();
  EXPECT_EQ(pool.threads(), 0);  // nothing until the first PipeTo
  ASSERT_TRUE(ConfigureBlockingPool(t.system, {.max_threads = 2}).ok());
  Gate gate;
  std::atomic<int> running{0};
  std::atomic<int> most{0};
  for (int i = 0; i < 6; ++i) {
    ASSERT_TRUE(PipeTo(t.system, t.collector, [&, i] {
                  int now = running.fetch_add(1) + 1;
                  int seen = most.load();
                  while (now > seen && !most.compare_exchange_weak(seen, now)) {
                  }
                  gate.Wait();
                  running.fetch_sub(1);
                  return Quote{i};
                }).ok());
  }
  ASSERT_TRUE(WaitFor([&] { return running.load() == 2; }));
  EXPECT_EQ(pool.threads(), 2);
  EXPECT_EQ(pool.queued(), 4u);
  gate.Open();
  ASSERT_TRUE(WaitFor([&] { return t.inbox->quote_count() == 6; }));
  EXPECT_EQ(most.load(), 2);
  EXPECT_EQ(pool.threads(), 2);
}

TEST(PipeToTest, ConfigureIsValidatedAndOnlyAllowedBeforeFirstUse) {
  Threaded t;
  EXPECT_EQ(ConfigureBlockingPool(t.system, {.max_threads = 0}).code(),
            StatusCode::kInvalidArgument);
  ASSERT_TRUE(PipeTo(t.system, t.collector, [] { return Quote{1}; }).ok());
  ASSERT_TRUE(WaitFor([&] { return t.inbox->quote_count() == 1; }));
  EXPECT_EQ(ConfigureBlockingPool(t.system, {.max_threads = 4}).code(),
            StatusCode::kFailedPrecondition);
}

TEST(PipeToTest, AFullQueueRejectsTheTaskWithAPipeFailure) {
  Threaded t;
  ASSERT_TRUE(ConfigureBlockingPool(t.system, {.max_threads = 1, .max_queued = 1}).ok());
  Gate gate;
  std::atomic<bool> first_running{false};
  std::atomic<bool> third_ran{false};
  ASSERT_TRUE(PipeTo(t.system, t.collector, [&] {
                first_running = true;
                gate.Wait();
                return Quote{1};
              }).ok());
  ASSERT_TRUE(WaitFor([&] { return first_running.load(); }));
  ASSERT_TRUE(PipeTo(t.system, t.collector, [] { return Quote{2}; }).ok());  // waits
  ASSERT_TRUE(PipeTo(t.system, t.collector, [&] {
                third_ran = true;
                return Quote{3};
              }).ok());
  ASSERT_TRUE(WaitFor([&] { return t.inbox->failure_count() == 1; }));
  PipeFailure f = t.inbox->failure(0);
  EXPECT_EQ(f.cause, PipeFailure::Cause::kRejected);
  EXPECT_EQ(f.status.code(), StatusCode::kResourceExhausted);
  gate.Open();
  ASSERT_TRUE(WaitFor([&] { return t.inbox->quote_count() == 2; }));
  EXPECT_FALSE(third_ran.load());
}

TEST(PipeToTest, ATimeoutArrivesInsteadAndTheLateValueBecomesADeadLetter) {
  testing::DeterministicSystem d;
  auto inbox = std::make_shared<Inbox>();
  PID collector = d.system().Spawn<Collector>("collector", inbox).value();
  Gate gate;
  std::atomic<bool> finished{false};
  ASSERT_TRUE(PipeTo(
                  d.system(), collector,
                  [&] {
                    gate.Wait();
                    finished = true;
                    return Quote{1};
                  },
                  PipeOptions().WithTimeout(500ms))
                  .ok());
  d.Advance(499ms);
  EXPECT_EQ(inbox->failure_count(), 0u);
  d.Advance(1ms);
  ASSERT_EQ(inbox->failure_count(), 1u);
  PipeFailure f = inbox->failure(0);
  EXPECT_EQ(f.cause, PipeFailure::Cause::kTimedOut);
  EXPECT_EQ(f.status.code(), StatusCode::kTimeout);
  EXPECT_NE(f.status.message().find("500ms"), std::string::npos);

  gate.Open();
  ASSERT_TRUE(
      RunUntil(d, [&] { return d.system().DeadLetterCount(DeadLetterReason::kAskTimedOut) == 1; }));
  EXPECT_TRUE(finished.load());
  d.RunUntilIdle();
  EXPECT_EQ(inbox->quote_count(), 0u);
  EXPECT_EQ(inbox->failure_count(), 1u);
}

TEST(PipeToTest, AValueInTimeCancelsTheTimeout) {
  testing::DeterministicSystem d;
  auto inbox = std::make_shared<Inbox>();
  PID collector = d.system().Spawn<Collector>("collector", inbox).value();
  ASSERT_TRUE(PipeTo(
                  d.system(), collector, [] { return Quote{5}; }, PipeOptions().WithTimeout(1s))
                  .ok());
  ASSERT_TRUE(RunUntil(d, [&] { return inbox->quote_count() == 1; }));
  EXPECT_EQ(akt::internal::ImplOf(d.system()).timers().NextDeadline(), TimePoint::max());
  d.Advance(2s);
  EXPECT_EQ(inbox->failure_count(), 0u);
  EXPECT_EQ(d.system().DeadLetterCount(), 0u);
}

TEST(PipeToTest, AnOpenBreakerFailsFastWithoutRunningTheTaskAndRecovers) {
  testing::DeterministicSystem d;
  auto inbox = std::make_shared<Inbox>();
  PID collector = d.system().Spawn<Collector>("collector", inbox).value();
  auto breaker = CircuitBreaker::Create({.failure_threshold = 2, .reset_timeout = 1s}).value();
  PipeOptions opts = PipeOptions().WithCircuitBreaker(breaker);
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(PipeTo(
                    d.system(), collector,
                    []() -> Result<Quote> { return Status(StatusCode::kInternal, "down"); }, opts)
                    .ok());
    ASSERT_TRUE(RunUntil(d, [&] { return inbox->failure_count() == std::size_t(i + 1); }));
  }
  EXPECT_EQ(breaker->state(d.Now()), CircuitBreaker::State::kOpen);

  std::atomic<bool> ran{false};
  ASSERT_TRUE(PipeTo(
                  d.system(), collector,
                  [&] {
                    ran = true;
                    return Quote{1};
                  },
                  opts)
                  .ok());
  d.RunUntilIdle();  // delivered at once, on the calling thread
  ASSERT_EQ(inbox->failure_count(), 3u);
  EXPECT_EQ(inbox->failure(2).cause, PipeFailure::Cause::kCircuitOpen);
  EXPECT_EQ(inbox->failure(2).status.code(), StatusCode::kResourceExhausted);
  EXPECT_FALSE(ran.load());

  d.Advance(1s);  // reset timeout: half-open, one trial
  EXPECT_EQ(breaker->state(d.Now()), CircuitBreaker::State::kHalfOpen);
  ASSERT_TRUE(PipeTo(
                  d.system(), collector, [] { return Quote{2}; }, opts)
                  .ok());
  ASSERT_TRUE(RunUntil(d, [&] { return inbox->quote_count() == 1; }));
  EXPECT_EQ(breaker->state(d.Now()), CircuitBreaker::State::kClosed);
}

TEST(PipeToTest, ATimeoutCountsAsABreakerFailureAndTheLateValueDoesNotCount) {
  testing::DeterministicSystem d;
  auto inbox = std::make_shared<Inbox>();
  PID collector = d.system().Spawn<Collector>("collector", inbox).value();
  auto breaker = CircuitBreaker::Create({.failure_threshold = 1, .reset_timeout = 1h}).value();
  Gate gate;
  ASSERT_TRUE(PipeTo(
                  d.system(), collector,
                  [&] {
                    gate.Wait();
                    return Quote{1};
                  },
                  PipeOptions().WithTimeout(100ms).WithCircuitBreaker(breaker))
                  .ok());
  d.Advance(100ms);
  EXPECT_EQ(breaker->state(d.Now()), CircuitBreaker::State::kOpen);
  gate.Open();
  ASSERT_TRUE(
      RunUntil(d, [&] { return d.system().DeadLetterCount(DeadLetterReason::kAskTimedOut) == 1; }));
  EXPECT_EQ(breaker->state(d.Now()), CircuitBreaker::State::kOpen);
}

TEST(PipeToTest, AValueForAStoppedActorIsADeadLetter) {
  Threaded t;
  Gate gate;
  ASSERT_TRUE(PipeTo(t.system, t.collector, [&] {
                gate.Wait();
                return Quote{1};
              }).ok());
  t.collector.Stop();
  ASSERT_TRUE(t.collector.AwaitTermination(5s));
  gate.Open();
  ASSERT_TRUE(WaitFor([&] { return t.system.DeadLetterCount(DeadLetterReason::kStopped) == 1; }));
}

TEST(PipeToTest, StopDropsQueuedTasksAndWaitsForRunningOnes) {
  Threaded t;
  ASSERT_TRUE(ConfigureBlockingPool(t.system, {.max_threads = 1}).ok());
  Gate gate;
  std::atomic<bool> first_running{false};
  std::atomic<bool> first_done{false};
  std::atomic<bool> second_ran{false};
  ASSERT_TRUE(PipeTo(t.system, t.collector, [&] {
                first_running = true;
                gate.Wait();
                first_done = true;
                return Quote{1};
              }).ok());
  ASSERT_TRUE(WaitFor([&] { return first_running.load(); }));
  ASSERT_TRUE(PipeTo(t.system, t.collector, [&] {
                second_ran = true;
                return Quote{2};
              }).ok());
  Status stopped;
  std::thread stopper([&] { stopped = t.system.Stop(); });
  ASSERT_TRUE(WaitFor([&] { return akt::internal::ImplOf(t.system).blocking_pool().stopping(); }));
  gate.Open();
  stopper.join();
  EXPECT_TRUE(stopped.ok()) << stopped.ToString();
  EXPECT_TRUE(first_done.load());  // Stop waited for it
  EXPECT_FALSE(second_ran.load());
  EXPECT_EQ(PipeTo(t.system, t.collector, [] { return Quote{3}; }).code(),
            StatusCode::kSystemStopped);
}

TEST(PipeToTest, EveryPipeEndsExactlyOnceUnderRacingTimeouts) {
  Threaded t;
  ASSERT_TRUE(ConfigureBlockingPool(t.system, {.max_threads = 4}).ok());
  constexpr int kPipes = 200;
  std::atomic<int> completed{0};
  std::vector<std::thread> senders;
  for (int s = 0; s < 4; ++s) {
    senders.emplace_back([&, s] {
      for (int i = 0; i < kPipes / 4; ++i) {
        auto work = std::chrono::microseconds((i * 37 + s * 11) % 1500);
        ASSERT_TRUE(PipeTo(
                        t.system, t.collector,
                        [&, work] {
                          std::this_thread::sleep_for(work);  // the blocking work itself
                          completed.fetch_add(1);
                          return Quote{1};
                        },
                        PipeOptions().WithTimeout(700us))
                        .ok());
      }
    });
  }
  for (std::thread& s : senders) s.join();
  ASSERT_TRUE(WaitFor(
      [&] {
        return completed.load() == kPipes &&
               t.inbox->quote_count() + t.inbox->failure_count() == std::size_t(kPipes) &&
               t.inbox->quote_count() + t.system.DeadLetterCount(DeadLetterReason::kAskTimedOut) ==
                   std::size_t(kPipes);
      },
      std::chrono::milliseconds(20000)))
      << "quotes " << t.inbox->quote_count() << " failures " << t.inbox->failure_count() << " late "
      << t.system.DeadLetterCount(DeadLetterReason::kAskTimedOut);
  std::lock_guard<std::mutex> lock(t.inbox->mu);
  for (const PipeFailure& f : t.inbox->failures) EXPECT_EQ(f.cause, PipeFailure::Cause::kTimedOut);
}

// ---------------------------------------------------------------------------
// The circuit breaker on its own, with explicit times.

TimePoint T(int ms) { return TimePoint(std::chrono::milliseconds(ms)); }

TEST(CircuitBreakerTest, OpensAfterThresholdFailuresInARowAndASuccessResetsTheCount) {
  auto b = CircuitBreaker::Create({.failure_threshold = 3, .reset_timeout = 1s}).value();
  b->RecordFailure(*b->TryAcquire(T(0)), T(0));
  b->RecordFailure(*b->TryAcquire(T(0)), T(0));
  EXPECT_EQ(b->consecutive_failures(), 2);
  b->RecordSuccess(*b->TryAcquire(T(0)));
  EXPECT_EQ(b->consecutive_failures(), 0);
  for (int i = 0; i < 2; ++i) b->RecordFailure(*b->TryAcquire(T(0)), T(0));
  EXPECT_EQ(b->state(T(0)), CircuitBreaker::State::kClosed);
  b->RecordFailure(*b->TryAcquire(T(10)), T(10));
  EXPECT_EQ(b->state(T(10)), CircuitBreaker::State::kOpen);
  EXPECT_EQ(b->open_until(), T(1010));
}

TEST(CircuitBreakerTest, OpenRefusesUntilTheResetTimeoutThenLetsTrialsThrough) {
  auto b = CircuitBreaker::Create({.failure_threshold = 1, .reset_timeout = 1s}).value();
  b->RecordFailure(*b->TryAcquire(T(0)), T(0));
  EXPECT_FALSE(b->TryAcquire(T(999)).has_value());
  EXPECT_EQ(b->state(T(999)), CircuitBreaker::State::kOpen);
  EXPECT_EQ(b->state(T(1000)), CircuitBreaker::State::kHalfOpen);
  std::optional<CircuitBreaker::Ticket> trial = b->TryAcquire(T(1000));
  ASSERT_TRUE(trial.has_value());
  EXPECT_FALSE(b->TryAcquire(T(1000)).has_value());  // one trial at a time
  b->RecordSuccess(*trial);
  EXPECT_EQ(b->state(T(1000)), CircuitBreaker::State::kClosed);
  EXPECT_TRUE(b->TryAcquire(T(1000)).has_value());
}

TEST(CircuitBreakerTest, HalfOpenClosesAfterAsManySuccessesAsTrials) {
  auto b = CircuitBreaker::Create(
               {.failure_threshold = 1, .reset_timeout = 1s, .max_half_open_trials = 3})
               .value();
  b->RecordFailure(*b->TryAcquire(T(0)), T(0));
  std::vector<CircuitBreaker::Ticket> trials;
  for (int i = 0; i < 3; ++i) trials.push_back(*b->TryAcquire(T(1000)));
  EXPECT_FALSE(b->TryAcquire(T(1000)).has_value());
  b->RecordSuccess(trials[0]);
  b->RecordSuccess(trials[1]);
  EXPECT_EQ(b->state(T(1000)), CircuitBreaker::State::kHalfOpen);
  b->RecordSuccess(trials[2]);
  EXPECT_EQ(b->state(T(1000)), CircuitBreaker::State::kClosed);
}

TEST(CircuitBreakerTest, AFailedTrialReopensForAnotherResetTimeout) {
  auto b = CircuitBreaker::Create(
               {.failure_threshold = 1, .reset_timeout = 1s, .max_half_open_trials = 2})
               .value();
  b->RecordFailure(*b->TryAcquire(T(0)), T(0));
  CircuitBreaker::Ticket first = *b->TryAcquire(T(1500));
  CircuitBreaker::Ticket second = *b->TryAcquire(T(1500));
  b->RecordSuccess(first);
  b->RecordFailure(second, T(1600));
  EXPECT_EQ(b->state(T(2599)), CircuitBreaker::State::kOpen);
  EXPECT_EQ(b->state(T(2600)), CircuitBreaker::State::kHalfOpen);
}

TEST(CircuitBreakerTest, OutcomesFromAnEarlierStateAreIgnored) {
  auto b = CircuitBreaker::Create({.failure_threshold = 1, .reset_timeout = 1s}).value();
  CircuitBreaker::Ticket old_a = *b->TryAcquire(T(0));
  CircuitBreaker::Ticket old_b = *b->TryAcquire(T(0));
  b->RecordFailure(old_a, T(0));  // opens
  CircuitBreaker::Ticket trial = *b->TryAcquire(T(1000));
  b->RecordSuccess(old_b);  // about the closed period: ignored
  EXPECT_EQ(b->state(T(1000)), CircuitBreaker::State::kHalfOpen);
  b->RecordFailure(old_b, T(1000));  // ignored as well
  EXPECT_EQ(b->state(T(1000)), CircuitBreaker::State::kHalfOpen);
  b->RecordSuccess(trial);
  EXPECT_EQ(b->state(T(1000)), CircuitBreaker::State::kClosed);
}

TEST(CircuitBreakerTest, ReleaseGivesAHalfOpenTrialBack) {
  auto b = CircuitBreaker::Create({.failure_threshold = 1, .reset_timeout = 1s}).value();
  b->RecordFailure(*b->TryAcquire(T(0)), T(0));
  CircuitBreaker::Ticket trial = *b->TryAcquire(T(1000));
  EXPECT_FALSE(b->TryAcquire(T(1000)).has_value());
  b->Release(trial);
  EXPECT_TRUE(b->TryAcquire(T(1000)).has_value());
}

TEST(CircuitBreakerTest, CreateValidatesOptions) {
  EXPECT_EQ(CircuitBreaker::Create({.failure_threshold = 0}).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(CircuitBreaker::Create({.reset_timeout = 0s}).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(CircuitBreaker::Create({.max_half_open_trials = 0}).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(CircuitBreakerStateName(CircuitBreaker::State::kHalfOpen), "HALF_OPEN");
}

}  // namespace
}  // namespace akt
