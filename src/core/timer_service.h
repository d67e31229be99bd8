// One timer service per system (never a timer per actor): request deadlines,
// restart backoff, and later the user-facing scheduler. Callbacks run on the
// timer thread and must only enqueue work (never run actor code).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>

#include "akt/fwd.h"

namespace akt::internal {

class TimerService {
 public:
  virtual ~TimerService() = default;
  virtual TimePoint Now() const = 0;
  // Runs `fn` at or after `when`. Returns an id for Cancel (never 0).
  virtual uint64_t Schedule(TimePoint when, std::function<void()> fn) = 0;
  // Best effort: a callback already running is not interrupted. True if the
  // callback was still pending and now never runs (it is destroyed before
  // Cancel returns); false if it ran, is running, or the id is stale.
  virtual bool Cancel(uint64_t id) = 0;
  virtual void Stop() = 0;
  // Manual timers only: moves time forward by `d`, running due callbacks.
  virtual void Advance(Duration d) { (void)d; }
  // Manual timers only: the earliest pending deadline, or TimePoint::max().
  virtual TimePoint NextDeadline() const { return TimePoint::max(); }
};

std::unique_ptr<TimerService> MakeThreadTimerService();
std::unique_ptr<TimerService> MakeManualTimerService();

}  // namespace akt::internal
