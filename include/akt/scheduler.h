// akt/scheduler.h — sending a message later, periodically, or on a cron
// schedule.
//
//   akt::Scheduler& scheduler = system.scheduler();
//   // Once, in 30 s.
//   akt::Result<akt::ScheduleRef> expire = scheduler.ScheduleOnce(session, Expire{}, 30s);
//   // Every second, first in one second.
//   akt::Result<akt::ScheduleRef> tick = scheduler.Schedule(monitor, Tick{}, 1s);
//   // At 02:00:00 UTC every day.
//   akt::Result<akt::ScheduleRef> nightly =
//       scheduler.ScheduleCron(reports, Compact{}, "0 0 2 * * *");
//   tick->Pause().IgnoreError();   // holds it
//   tick->Resume().IgnoreError();  // goes on with the next tick
//   tick->Cancel();                // ends it
//
// Every schedule of a system is driven by the system's one timer thread: a
// schedule costs a small heap entry, never a thread or a timer object. A
// schedule ends when it is cancelled, when a ScheduleOnce has fired, when its
// target actor stops, or when the system stops; from then on it sends
// nothing and holds no reference to the target or the message. Dropping the
// ScheduleRef does not cancel it.
//
// Inside an actor, schedule to yourself through the context's system; a
// schedule made in PreStart and cancelled in PostStop exists exactly once per
// incarnation (PostStop runs before a restart too):
//
// doc-test: context=headers wrap=class
//   akt::Status PreStart(akt::Context& ctx) override {
//     akt::Result<akt::ScheduleRef> r =
//         ctx.system().scheduler().Schedule(ctx.self(), Flush{}, 100ms);
//     if (!r.ok()) return r.status();
//     flush_ = *r;
//     return akt::Status();
//   }
//   akt::Status PostStop(akt::Context&) override {
//     flush_.Cancel();
//     return akt::Status();
//   }
//
// Timing: a message is sent at or after its time, never before. Periodic
// schedules run at a fixed rate on a grid (start + k * interval): a late tick
// does not shift the next ones, and ticks missed entirely (a stalled timer
// thread, a pause) are skipped, not sent in a burst. On the deterministic test
// fixture time is virtual, so fire counts and times are exact.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string_view>

#include "akt/cron.h"
#include "akt/fwd.h"
#include "akt/message.h"
#include "akt/pid.h"
#include "akt/status.h"

namespace akt {

namespace internal {
struct ScheduleEntry;
class SchedulerCore;
}  // namespace internal

enum class ScheduleState {
  kActive,     // waiting for its next time
  kPaused,     // held by Pause; Resume continues it
  kCompleted,  // a ScheduleOnce that has sent its message
  kCancelled,  // ended by Cancel, by its target stopping, or by the system stopping
};

struct ScheduleOptions {
  // The scheduled message's ctx.sender(); empty (the default) for none.
  PID sender;

  ScheduleOptions& WithSender(PID s) {
    sender = std::move(s);
    return *this;
  }
};

// Controls one schedule. Copyable: every copy controls the same schedule.
// Safe from any thread, and after the system has stopped (then the schedule
// has ended and Pause/Resume report it). A default-constructed ScheduleRef
// controls nothing.
class ScheduleRef {
 public:
  ScheduleRef() = default;

  // Ends the schedule for good. True if this call ended it; false if it had
  // already ended. Nothing is sent after Cancel returns, except a message
  // another thread was sending at that moment (it may still arrive).
  bool Cancel();
  // Holds the schedule: nothing is sent until Resume. Idempotent.
  // kFailedPrecondition when the schedule has ended.
  Status Pause();
  // Continues a paused schedule. A ScheduleOnce whose time passed while it was
  // paused fires at once; a periodic schedule continues with its next grid
  // tick (ticks during the pause are skipped); a cron schedule with its next
  // match from now. Idempotent on an active schedule. kFailedPrecondition
  // when it has ended.
  Status Resume();

  ScheduleState state() const;
  bool active() const { return state() == ScheduleState::kActive; }
  // Messages sent so far.
  uint64_t fire_count() const;
  // When the next message is due on the system's clock (virtual on the test
  // fixture); TimePoint::max() when paused or ended.
  TimePoint next_fire() const;

  explicit operator bool() const { return entry_ != nullptr; }

 private:
  friend class internal::SchedulerCore;
  explicit ScheduleRef(std::shared_ptr<internal::ScheduleEntry> entry) : entry_(std::move(entry)) {}
  std::shared_ptr<internal::ScheduleEntry> entry_;
};

// The system's scheduler: `system.scheduler()`. Thread-safe.
//
// Every call returns kInvalidArgument for a bad argument (an empty message,
// a delay < 0, an interval <= 0, a malformed cron expression, a target of
// another system, a move-only message for a repeating schedule), kNotFound
// for an empty target, kStopped when the target has stopped,
// kFailedPrecondition before the system started and kSystemStopped once it
// is stopping.
class Scheduler {
 public:
  ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Sends `msg` to `target` once, `delay` from now (0: at once, from the
  // timer thread). The message is moved, never copied.
  Result<ScheduleRef> ScheduleOnce(const PID& target, Message msg, Duration delay,
                                   ScheduleOptions options = {});
  // Sends a copy of `msg` (Message::Clone; it must be copyable) every
  // `interval`, the first one interval from now.
  Result<ScheduleRef> Schedule(const PID& target, Message msg, Duration interval,
                               ScheduleOptions options = {});
  // As above, the first one `initial_delay` from now (0: at once).
  Result<ScheduleRef> Schedule(const PID& target, Message msg, Duration initial_delay,
                               Duration interval, ScheduleOptions options = {});
  // Sends a copy of `msg` at every second matching `cron` (see akt/cron.h;
  // UTC, with a seconds field).
  Result<ScheduleRef> ScheduleCron(const PID& target, Message msg, std::string_view cron,
                                   ScheduleOptions options = {});
  Result<ScheduleRef> ScheduleCron(const PID& target, Message msg, const CronExpression& cron,
                                   ScheduleOptions options = {});

  // The wall-clock time cron schedules are evaluated against: the system
  // clock, or on the deterministic fixture a virtual clock that reads
  // 2025-01-01 00:00:00 UTC when the system is created and moves with Advance.
  std::chrono::system_clock::time_point WallClockNow() const;

  // Schedules not yet ended (active or paused).
  std::size_t size() const;

 private:
  friend class internal::SystemImpl;
  explicit Scheduler(internal::SystemImpl* system);
  // Ends every schedule and refuses new ones (the system is stopping).
  void Shutdown();
  // Ends the schedules whose target is `cell`.
  void OnActorTerminated(internal::ActorCell* cell);

  std::unique_ptr<internal::SchedulerCore> core_;
};

}  // namespace akt
