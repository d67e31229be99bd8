// akt/testing/deterministic.h — run actors step by step on the test thread.
//
// No worker threads and no real time: actors run only when the test calls
// Step / RunUntilIdle, and time moves only with Advance. Message orders are
// exact and repeatable, and tests need no sleeps.
//
//   akt::testing::DeterministicSystem d;
//   auto pid = d.system().Spawn<Counter>("c").value();
//   pid.Tell(Add{2}).IgnoreError();
//   d.RunUntilIdle();
//   // A blocking Ask from the test thread runs the actors itself until the
//   // reply arrives (or advances time to the deadline and times out).
//   auto total = pid.Ask<int64_t>(Get{}, std::chrono::seconds(1));
#pragma once

#include <cstddef>

#include "akt/system.h"

namespace akt::testing {

class DeterministicSystem {
 public:
  // `options.deterministic` is forced on; throughput defaults to 1 so each
  // step processes exactly one message. The system is started.
  explicit DeterministicSystem(SystemOptions options = DefaultOptions());
  ~DeterministicSystem();

  ActorSystem& system() { return system_; }

  // Runs one turn of the next runnable actor. False when none is runnable.
  bool Step();
  // Steps until nothing is runnable (or max_steps); returns the steps run.
  std::size_t RunUntilIdle(std::size_t max_steps = 10'000'000);
  // Moves the manual clock forward, firing due timers (request deadlines,
  // restart backoff); then runs until idle.
  void Advance(Duration d);
  TimePoint Now() const;

  static SystemOptions DefaultOptions();

 private:
  ActorSystem system_;
};

}  // namespace akt::testing
