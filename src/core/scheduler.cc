#include "akt/scheduler.h"

#include <algorithm>
#include <atomic>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <vector>

#include "actor_cell.h"
#include "internal/access.h"
#include "system_impl.h"

namespace akt {
namespace internal {

enum class ScheduleKind { kOnce, kInterval, kCron };

// One schedule. Everything but the constants is guarded by the core's mutex.
struct ScheduleEntry : std::enable_shared_from_this<ScheduleEntry> {
  ScheduleEntry(SystemImpl* s, SchedulerCore* c, ScheduleKind k, ActorCell* target_cell)
      : system(s), core(c), kind(k), cell(target_cell) {
    system->AddRef();  // the core (inside the system) must outlive every handle
  }
  ~ScheduleEntry() {
    target = PID();
    sender = PID();
    msg.Reset();
    system->Release();
  }

  SystemImpl* const system;
  SchedulerCore* const core;
  const ScheduleKind kind;
  ActorCell* const cell;  // the target's cell: the index key, never dereferenced once ended

  ScheduleState state = ScheduleState::kActive;
  PID target;  // empty once ended
  PID sender;
  Message msg;
  Duration interval{};
  std::optional<CronExpression> cron;
  std::chrono::sys_seconds cron_next{};  // the wall time of the next cron match
  TimePoint due = TimePoint::max();      // when the next message is due
  uint64_t timer_id = 0;                 // the armed timer, 0 when none
  uint64_t epoch = 0;                    // bumped at every arm and end: stale timers do nothing
  uint64_t fires = 0;
  // Timer callbacks that may still run: pending, or taken off the heap and
  // about to run. They hold a raw pointer (16 bytes with the epoch, so
  // std::function stores them inline: arming allocates nothing), so the
  // entry keeps itself alive while there is one.
  int callbacks = 0;
  std::shared_ptr<ScheduleEntry> armed;  // self, while callbacks > 0
};

class SchedulerCore {
 public:
  explicit SchedulerCore(SystemImpl* system)
      : system_(system),
        virtual_wall_(system->options().deterministic),
        steady_origin_(system->timers().Now()) {}

  Result<ScheduleRef> Create(const PID& target, Message msg, ScheduleKind kind, Duration first,
                             Duration interval, std::optional<CronExpression> cron,
                             ScheduleOptions options);
  bool Cancel(const std::shared_ptr<ScheduleEntry>& e);
  Status Pause(const std::shared_ptr<ScheduleEntry>& e);
  Status Resume(const std::shared_ptr<ScheduleEntry>& e);
  ScheduleState StateOf(const ScheduleEntry& e) const {
    std::lock_guard<std::mutex> lock(mu_);
    return e.state;
  }
  uint64_t FiresOf(const ScheduleEntry& e) const {
    std::lock_guard<std::mutex> lock(mu_);
    return e.fires;
  }
  TimePoint DueOf(const ScheduleEntry& e) const {
    std::lock_guard<std::mutex> lock(mu_);
    return e.state == ScheduleState::kActive ? e.due : TimePoint::max();
  }
  void Shutdown();
  void OnActorTerminated(ActorCell* cell);
  std::chrono::system_clock::time_point WallNow() const;
  std::size_t size() const { return live_.load(std::memory_order_relaxed); }

 private:
  // What an ended schedule let go of: destroyed after the lock is released,
  // since releasing an actor or a message may run arbitrary code.
  struct Garbage {
    std::vector<PID> pids;
    std::vector<Message> msgs;
    std::vector<std::shared_ptr<ScheduleEntry>> entries;
  };

  void Fire(ScheduleEntry* e, uint64_t epoch);
  void ArmLocked(ScheduleEntry& e, TimePoint when);
  void ArmCronLocked(ScheduleEntry& e);
  void DisarmLocked(ScheduleEntry& e, Garbage* g);
  void EndLocked(ScheduleEntry& e, ScheduleState final_state, Garbage* g, bool unindex = true);
  static bool TargetGone(const ScheduleEntry& e);

  SystemImpl* const system_;
  const bool virtual_wall_;
  const TimePoint steady_origin_;

  mutable std::mutex mu_;
  bool shutdown_ = false;
  // Schedules not yet ended, by target: ended when the target terminates.
  std::unordered_map<ActorCell*, std::vector<std::shared_ptr<ScheduleEntry>>> by_target_;
  // Their number; read without the lock on every actor termination.
  std::atomic<std::size_t> live_{0};
};

namespace {

// Real time: a cron schedule re-reads the wall clock at least this often, so
// a clock step (NTP, a suspended VM) shifts a fire by at most this much.
constexpr Duration kCronRecheck = std::chrono::seconds(60);

// The virtual wall clock of a deterministic system starts here.
constexpr std::chrono::sys_days kVirtualWallOrigin =
    std::chrono::sys_days(std::chrono::year(2025) / 1 / 1);

// The first grid tick at or after `now`.
TimePoint CatchUp(TimePoint due, Duration interval, TimePoint now) {
  if (due >= now) return due;
  auto ticks = (now - due + interval - Duration(1)) / interval;
  return due + ticks * interval;
}

}  // namespace

std::chrono::system_clock::time_point SchedulerCore::WallNow() const {
  if (!virtual_wall_) return std::chrono::system_clock::now();
  auto elapsed = std::chrono::duration_cast<std::chrono::system_clock::duration>(
      system_->timers().Now() - steady_origin_);
  return std::chrono::system_clock::time_point(kVirtualWallOrigin) + elapsed;
}

bool SchedulerCore::TargetGone(const ScheduleEntry& e) {
  ActorCell::Life l = e.cell->life();
  return l == ActorCell::Life::kStopping || l == ActorCell::Life::kTerminated;
}

Result<ScheduleRef> SchedulerCore::Create(const PID& target, Message msg, ScheduleKind kind,
                                          Duration first, Duration interval,
                                          std::optional<CronExpression> cron,
                                          ScheduleOptions options) {
  if (!target) return NotFoundError("schedule to an empty PID");
  if (internal::CellOf(target)->system() != system_) {
    return InvalidArgumentError("schedule target " + target.Address() +
                                " belongs to another actor system");
  }
  if (msg.empty()) return InvalidArgumentError("the scheduled message is empty");
  if (kind != ScheduleKind::kOnce && !msg.copyable()) {
    return InvalidArgumentError("a repeating schedule sends copies, but " +
                                std::string(msg.TypeName()) + " is not copyable");
  }
  if (first < Duration::zero()) return InvalidArgumentError("a schedule delay must be >= 0");
  if (kind == ScheduleKind::kInterval && interval <= Duration::zero()) {
    return InvalidArgumentError("a schedule interval must be > 0");
  }
  if (system_->state() == SystemImpl::State::kNew) {
    return FailedPreconditionError("actor system " + system_->options().name + " is not started");
  }
  if (system_->state() != SystemImpl::State::kRunning) {
    return SystemStoppedError("actor system " + system_->options().name + " is stopping");
  }
  auto e = std::make_shared<ScheduleEntry>(system_, this, kind, internal::CellOf(target));
  e->target = target;
  e->sender = std::move(options.sender);
  e->msg = std::move(msg);
  e->interval = interval;
  e->cron = std::move(cron);
  Garbage g;  // destroyed after the lock
  std::lock_guard<std::mutex> lock(mu_);
  if (shutdown_) {
    return SystemStoppedError("actor system " + system_->options().name + " is stopping");
  }
  by_target_[e->cell].push_back(e);
  live_.fetch_add(1, std::memory_order_relaxed);
  // Pairs with the fence in OnActorTerminated: either it sees this schedule
  // in live_, or we see the target stopping.
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if (TargetGone(*e)) {
    std::string name(target.Name());
    EndLocked(*e, ScheduleState::kCancelled, &g);
    return StoppedError("actor " + name + " has stopped; nothing scheduled");
  }
  if (kind == ScheduleKind::kCron) {
    e->cron_next = e->cron->Next(WallNow());
    ArmCronLocked(*e);
  } else {
    e->due = system_->timers().Now() + first;
    ArmLocked(*e, e->due);
  }
  return ScheduleRef(e);
}

void SchedulerCore::ArmLocked(ScheduleEntry& e, TimePoint when) {
  uint64_t epoch = ++e.epoch;
  if (e.callbacks++ == 0) e.armed = e.shared_from_this();
  ScheduleEntry* raw = &e;
  e.timer_id = system_->timers().Schedule(when, [raw, epoch] { raw->core->Fire(raw, epoch); });
}

void SchedulerCore::ArmCronLocked(ScheduleEntry& e) {
  auto wall = WallNow();
  TimePoint now = system_->timers().Now();
  e.due = now + std::chrono::duration_cast<Duration>(
                    std::max(e.cron_next - wall, std::chrono::system_clock::duration::zero()));
  TimePoint when = e.due;
  if (!virtual_wall_ && when - now > kCronRecheck) when = now + kCronRecheck;
  ArmLocked(e, when);
}

void SchedulerCore::DisarmLocked(ScheduleEntry& e, Garbage* g) {
  ++e.epoch;
  if (e.timer_id != 0) {
    // A callback already taken off the heap cannot be cancelled: it runs,
    // finds the epoch changed, and drops the self-reference if it is the last.
    if (system_->timers().Cancel(e.timer_id) && --e.callbacks == 0) {
      g->entries.push_back(std::move(e.armed));
    }
    e.timer_id = 0;
  }
}

void SchedulerCore::EndLocked(ScheduleEntry& e, ScheduleState final_state, Garbage* g,
                              bool unindex) {
  e.state = final_state;
  DisarmLocked(e, g);
  g->pids.push_back(std::move(e.target));
  g->pids.push_back(std::move(e.sender));
  e.target = PID();
  e.sender = PID();
  g->msgs.push_back(std::move(e.msg));
  e.msg.Reset();
  e.cron.reset();
  if (!unindex) return;
  auto it = by_target_.find(e.cell);
  if (it == by_target_.end()) return;
  auto& v = it->second;
  auto pos = std::find_if(v.begin(), v.end(), [&](const auto& p) { return p.get() == &e; });
  if (pos == v.end()) return;
  g->entries.push_back(std::move(*pos));
  v.erase(pos);
  if (v.empty()) by_target_.erase(it);
  live_.fetch_sub(1, std::memory_order_relaxed);
}

void SchedulerCore::Fire(ScheduleEntry* e, uint64_t epoch) {
  Message out;
  PID target;
  PID sender;
  std::shared_ptr<ScheduleEntry> keep;  // may be the last reference to `e`: released last
  Garbage g;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (--e->callbacks == 0) keep = std::move(e->armed);
    if (e->epoch != epoch || e->state != ScheduleState::kActive) return;  // stale timer
    e->timer_id = 0;
    if (TargetGone(*e)) {
      EndLocked(*e, ScheduleState::kCancelled, &g);
      return;
    }
    TimePoint now = system_->timers().Now();
    switch (e->kind) {
      case ScheduleKind::kOnce:
        out = std::move(e->msg);
        target = e->target;
        sender = e->sender;
        ++e->fires;
        EndLocked(*e, ScheduleState::kCompleted, &g);
        break;
      case ScheduleKind::kInterval:
        out = e->msg.Clone();
        target = e->target;
        sender = e->sender;
        ++e->fires;
        e->due = CatchUp(e->due + e->interval, e->interval, now);
        ArmLocked(*e, e->due);
        break;
      case ScheduleKind::kCron: {
        auto wall = WallNow();
        if (wall < e->cron_next) {  // a re-check of the wall clock, not yet due
          ArmCronLocked(*e);
          return;
        }
        out = e->msg.Clone();
        target = e->target;
        sender = e->sender;
        ++e->fires;
        e->cron_next =
            e->cron->Next(std::max<std::chrono::system_clock::time_point>(e->cron_next, wall));
        ArmCronLocked(*e);
        break;
      }
    }
  }
  // Outside the lock: a refused message goes to dead letters, which may run
  // subscriber callbacks.
  target.Forward(std::move(out), sender).IgnoreError();
}

bool SchedulerCore::Cancel(const std::shared_ptr<ScheduleEntry>& e) {
  Garbage g;
  std::lock_guard<std::mutex> lock(mu_);
  if (e->state != ScheduleState::kActive && e->state != ScheduleState::kPaused) return false;
  EndLocked(*e, ScheduleState::kCancelled, &g);
  return true;
}

Status SchedulerCore::Pause(const std::shared_ptr<ScheduleEntry>& e) {
  Garbage g;
  std::lock_guard<std::mutex> lock(mu_);
  if (e->state == ScheduleState::kPaused) return Status();
  if (e->state != ScheduleState::kActive) {
    return FailedPreconditionError("the schedule has ended; nothing to pause");
  }
  e->state = ScheduleState::kPaused;
  DisarmLocked(*e, &g);
  return Status();
}

Status SchedulerCore::Resume(const std::shared_ptr<ScheduleEntry>& e) {
  std::lock_guard<std::mutex> lock(mu_);
  if (e->state == ScheduleState::kActive) return Status();
  if (e->state != ScheduleState::kPaused) {
    return FailedPreconditionError("the schedule has ended; nothing to resume");
  }
  e->state = ScheduleState::kActive;
  TimePoint now = system_->timers().Now();
  switch (e->kind) {
    case ScheduleKind::kOnce:
      ArmLocked(*e, std::max(e->due, now));
      break;
    case ScheduleKind::kInterval:
      e->due = CatchUp(e->due, e->interval, now);
      ArmLocked(*e, e->due);
      break;
    case ScheduleKind::kCron: {
      auto wall = WallNow();
      if (e->cron_next < wall) e->cron_next = e->cron->Next(wall);
      ArmCronLocked(*e);
      break;
    }
  }
  return Status();
}

void SchedulerCore::Shutdown() {
  Garbage g;
  std::lock_guard<std::mutex> lock(mu_);
  shutdown_ = true;
  for (auto& [cell, entries] : by_target_) {
    for (auto& e : entries) {
      EndLocked(*e, ScheduleState::kCancelled, &g, /*unindex=*/false);
      g.entries.push_back(std::move(e));
    }
  }
  by_target_.clear();
  live_.store(0, std::memory_order_relaxed);
}

void SchedulerCore::OnActorTerminated(ActorCell* cell) {
  // Every actor termination passes here: without schedules it costs a fence
  // and a load.
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if (live_.load(std::memory_order_relaxed) == 0) return;
  Garbage g;
  std::lock_guard<std::mutex> lock(mu_);
  auto it = by_target_.find(cell);
  if (it == by_target_.end()) return;
  std::vector<std::shared_ptr<ScheduleEntry>> entries = std::move(it->second);
  by_target_.erase(it);
  live_.fetch_sub(entries.size(), std::memory_order_relaxed);
  for (auto& e : entries) {
    EndLocked(*e, ScheduleState::kCancelled, &g, /*unindex=*/false);
    g.entries.push_back(std::move(e));
  }
}

}  // namespace internal

// ---------------------------------------------------------------------------
// ScheduleRef.

bool ScheduleRef::Cancel() { return entry_ != nullptr && entry_->core->Cancel(entry_); }

Status ScheduleRef::Pause() {
  if (!entry_) return FailedPreconditionError("an empty ScheduleRef controls no schedule");
  return entry_->core->Pause(entry_);
}

Status ScheduleRef::Resume() {
  if (!entry_) return FailedPreconditionError("an empty ScheduleRef controls no schedule");
  return entry_->core->Resume(entry_);
}

ScheduleState ScheduleRef::state() const {
  return entry_ ? entry_->core->StateOf(*entry_) : ScheduleState::kCancelled;
}

uint64_t ScheduleRef::fire_count() const { return entry_ ? entry_->core->FiresOf(*entry_) : 0; }

TimePoint ScheduleRef::next_fire() const {
  return entry_ ? entry_->core->DueOf(*entry_) : TimePoint::max();
}

// ---------------------------------------------------------------------------
// Scheduler.

Scheduler::Scheduler(internal::SystemImpl* system)
    : core_(std::make_unique<internal::SchedulerCore>(system)) {}

Scheduler::~Scheduler() = default;

Result<ScheduleRef> Scheduler::ScheduleOnce(const PID& target, Message msg, Duration delay,
                                            ScheduleOptions options) {
  return core_->Create(target, std::move(msg), internal::ScheduleKind::kOnce, delay, Duration(0),
                       std::nullopt, std::move(options));
}

Result<ScheduleRef> Scheduler::Schedule(const PID& target, Message msg, Duration interval,
                                        ScheduleOptions options) {
  return Schedule(target, std::move(msg), interval, interval, std::move(options));
}

Result<ScheduleRef> Scheduler::Schedule(const PID& target, Message msg, Duration initial_delay,
                                        Duration interval, ScheduleOptions options) {
  return core_->Create(target, std::move(msg), internal::ScheduleKind::kInterval, initial_delay,
                       interval, std::nullopt, std::move(options));
}

Result<ScheduleRef> Scheduler::ScheduleCron(const PID& target, Message msg, std::string_view cron,
                                            ScheduleOptions options) {
  Result<CronExpression> parsed = CronExpression::Parse(cron);
  if (!parsed.ok()) return parsed.status();
  return ScheduleCron(target, std::move(msg), *parsed, std::move(options));
}

Result<ScheduleRef> Scheduler::ScheduleCron(const PID& target, Message msg,
                                            const CronExpression& cron, ScheduleOptions options) {
  return core_->Create(target, std::move(msg), internal::ScheduleKind::kCron, Duration(0),
                       Duration(0), cron, std::move(options));
}

std::chrono::system_clock::time_point Scheduler::WallClockNow() const { return core_->WallNow(); }

std::size_t Scheduler::size() const { return core_->size(); }

void Scheduler::Shutdown() { core_->Shutdown(); }

void Scheduler::OnActorTerminated(internal::ActorCell* cell) { core_->OnActorTerminated(cell); }

}  // namespace akt
