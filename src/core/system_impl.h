// The actor system's internals: dispatcher, timers, name registry, dead
// letters, the root guardian of all top-level actors.
#pragma once

#include <array>
#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <type_traits>
#include <unordered_map>
#include <vector>

#include "actor_cell.h"
#include "akt/events.h"
#include "akt/logger.h"
#include "akt/system.h"
#include "blocking_pool.h"
#include "cycle_clock.h"
#include "dispatcher.h"
#include "passivation_manager.h"
#include "reply_slot.h"
#include "services.h"
#include "timer_service.h"

namespace akt::internal {

// What core needs of the remoting layer (src/remote): the service in the
// kRemote slot. OnActorsStopped closes every connection.
class RemoteHooks : public Service {
 public:
  // A user message posted to a proxy cell; takes ownership of `e`. On
  // refusal the requester (if any) has been failed with the same error.
  virtual Status Post(ActorCell* proxy, Envelope* e) = 0;
  // A lifecycle request (stop, restart, kill, reinstate) to a proxy cell.
  virtual void Control(ActorCell* proxy, SysKind kind) = 0;
  // A watcher was added to / the last one removed from a proxy cell.
  virtual void Watched(ActorCell* proxy) = 0;
  virtual void Unwatched(ActorCell* proxy) = 0;
  // Runs on the receiving thread before a message from another process is
  // handled (the context propagator's extract step).
  virtual void BeforeInvoke(const EnvelopeMeta* meta) = 0;
};

// What core needs of the cluster layer (src/cluster): the service in the
// kCluster slot. A top-level actor's name (ActorSystem::Spawn, a remote
// spawn) is claimed cluster-wide before the actor starts and released when
// it is gone; a name not found on this node is resolved across the cluster.
class NameHooks : public Service {
 public:
  // Blocks until the cluster's record of `name` (for this node) is in
  // place: ok, kAlreadyExists (another node holds it) or why not.
  virtual Status ClaimName(const std::string& name) = 0;
  // The local actor named `name` is gone (or its spawn failed); does not block.
  virtual void ReleaseName(const std::string& name) = 0;
  // The actor named `name` elsewhere in the cluster (blocks for a lookup
  // unless cached), or kNotFound.
  virtual Result<PID> ResolveName(std::string_view name) = 0;
};

class SystemImpl {
 public:
  enum class State { kNew, kRunning, kStopping, kStopped };

  SystemImpl(ActorSystem* owner, SystemOptions options);
  ~SystemImpl();

  // Kept alive by the ActorSystem and by every cell (cells may outlive it).
  void AddRef() { refs_.fetch_add(1, std::memory_order_relaxed); }
  void Release() {
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
  }

  Status Start();
  Status Stop();
  State state() const { return state_.load(std::memory_order_acquire); }
  bool accepting_messages() const { return state() != State::kStopped; }

  // `validate_name` false: an internal name outside the user name rules
  // (grains are named "grain:<kind>/<name>").
  Result<PID> Spawn(ActorCell* parent, std::string name, ActorFactory factory,
                    const SpawnOptions& options, bool validate_name = true);
  Result<PID> Lookup(std::string_view name) const;
  // `release`: tell the cluster the name is free (false when the claim
  // itself failed).
  void Unregister(ActorCell* cell, bool release = true);

  Result<Message> Ask(ActorCell* target, Message msg, Duration timeout);
  // What every blocking call from a plain thread shares (Ask, AskGrain, a
  // remote control call): refused inside an actor turn (`instead` names the
  // non-blocking form) or without a positive timeout; `send` gets a reply
  // slot with one reference for whoever answers (it hands it on, or fails
  // the slot); then the wait, and a timeout named after `what`.
  // `what` + `whom` name the call in errors (joined only for an error).
  // `send` is called in place (no copy, no allocation per call).
  template <typename Send>
  Result<Message> BlockingCall(std::string_view what, std::string_view whom,
                               std::string_view instead, Duration timeout, Duration spin,
                               Send&& send) {
    return BlockingCallImpl(
        what, whom, instead, timeout, spin,
        [](void* f, ReplySlot* slot) { (*static_cast<std::remove_reference_t<Send>*>(f))(slot); },
        static_cast<void*>(&send));
  }
  Result<Message> BlockingCallImpl(std::string_view what, std::string_view whom,
                                   std::string_view instead, Duration timeout, Duration spin,
                                   void (*send)(void*, ReplySlot*), void* send_arg);
  // Waits for a blocked caller's answer: spins then sleeps, or, in a
  // deterministic system, runs the system until answered or `deadline`.
  Result<Message> AwaitReply(ReplySlot* slot, TimePoint deadline, Duration spin);
  std::vector<Result<Message>> BatchAsk(ActorCell* target, std::vector<Message> msgs,
                                        Duration timeout);

  // Sends `e` to dead letters: counts it, publishes it, fails its requester
  // with an error matching `reason`, frees it.
  void DeadLetter(Envelope* e, DeadLetterReason reason, ActorCell* recipient,
                  std::string_view recipient_name);
  uint64_t dead_letters() const;
  uint64_t dead_letters(DeadLetterReason r) const;

  void OnActorStarted() {
    actors_.fetch_add(1, std::memory_order_relaxed);
    spawned_.fetch_add(1, std::memory_order_relaxed);
  }
  void OnFailure() { failures_.fetch_add(1, std::memory_order_relaxed); }
  void OnRestart() { restarts_.fetch_add(1, std::memory_order_relaxed); }
  void OnPassivated() { passivated_.fetch_add(1, std::memory_order_relaxed); }

  Status AddShutdownHook(std::string name, std::function<Status()> hook,
                         ShutdownHookOptions options);
  Status RegisterExtension(std::shared_ptr<Extension> extension);
  std::shared_ptr<Extension> GetExtension(std::string_view id) const;
  Status RegisterDependencyType(std::string type_name, DependencyFactory factory);
  Result<std::shared_ptr<Dependency>> RestoreDependency(std::string_view type_name,
                                                        std::string_view bytes) const;
  SystemMetrics Metrics() const;

  PassivationManager& passivation() { return passivation_; }
  // The activity clock: cycle counter ticks, or virtual ns when deterministic.
  int64_t ActivityNow() const;
  Duration TicksToDuration(int64_t ticks) const;
  int64_t touch_ticks() const { return touch_ticks_; }
  void OnActorTerminated(ActorCell* cell);
  std::size_t actor_count() const { return actors_.load(std::memory_order_relaxed); }

  // Deterministic mode: runs one step; false when nothing can happen before
  // `deadline` (then time stops at the deadline).
  bool PumpUntil(TimePoint deadline);
  bool PumpOwn(TimePoint deadline);  // this system alone

  TimePoint Now() const { return timers_->Now(); }
  // Now() in nanoseconds since the clock's epoch: steady_clock, or virtual
  // time when deterministic (remote deadlines and connection clocks use it).
  int64_t NowNs() const {
    if (!options_.deterministic) return SteadyNowNs();
    return std::chrono::duration_cast<std::chrono::nanoseconds>(Now().time_since_epoch()).count();
  }
  // Holds the current turn for `d` (a grain's activation backoff): sleeps,
  // or in a deterministic system takes no time at all (virtual time moves
  // only between turns; the wait is not real there).
  void PauseTurn(Duration d) const;
  // Deterministic mode: a driver of several systems (akt::testing::SimNetwork)
  // replaces PumpUntil, so a blocking call on one system moves them all.
  void SetPump(std::function<bool(TimePoint)> pump) { pump_ = std::move(pump); }
  Dispatcher& dispatcher() { return *dispatcher_; }
  TimerService& timers() { return *timers_; }
  Scheduler& scheduler() { return *scheduler_; }
  BlockingPool& blocking_pool() { return blocking_pool_; }
  EventStream& events() { return events_; }
  Logger& logger() { return *logger_; }
  ActorSystem& owner() { return *owner_; }
  const SystemOptions& options() const { return options_; }
  SlotPool& slots() { return slots_; }
  ActorCell* root() { return root_; }
  void ReleaseRoot() { root_holder_ = PID(); }
  const std::string& address_prefix() const { return address_prefix_; }

  // The layers above core (grains, remoting, ...), one slot each.
  ServiceRegistry& services() { return services_; }
  const ServiceRegistry& services() const { return services_; }

  // The cluster's naming (null: not in a cluster).
  NameHooks* name_hooks() const { return services_.Get<NameHooks>(ServiceSlot::kCluster); }
  // The actor named `name` here, or else in the cluster.
  Result<PID> LookupAnywhere(std::string_view name) const;

  // Remoting (null: this system has none).
  Status SetRemoteHooks(std::shared_ptr<RemoteHooks> hooks);
  RemoteHooks* remote_hooks() const { return services_.Get<RemoteHooks>(ServiceSlot::kRemote); }
  Status RemotePost(ActorCell* proxy, Envelope* e);
  void RemoteControl(ActorCell* proxy, SysKind kind);
  void RemoteWatched(ActorCell* proxy, bool watched) {
    RemoteHooks* h = remote_hooks();
    if (h == nullptr || state() == State::kStopped) return;
    if (watched) {
      h->Watched(proxy);
    } else {
      h->Unwatched(proxy);
    }
  }
  void RemoteBeforeInvoke(const EnvelopeMeta* meta) {
    if (RemoteHooks* h = remote_hooks()) h->BeforeInvoke(meta);
  }
  // How long a blocked Ask on a remote PID spins before it sleeps.
  void set_remote_ask_spin(Duration d) { remote_ask_spin_ = d; }
  Duration ask_spin(const ActorCell* target) const;
  uint64_t NextActorId() { return next_id_.fetch_add(1, std::memory_order_relaxed) + 1; }

 private:
  struct Shard {
    mutable std::mutex mu;
    std::unordered_map<std::string, ActorCell*> names;
  };
  static constexpr std::size_t kShards = 16;
  Shard& ShardFor(std::string_view name) const;
  void LogDeadLetter(const std::string& recipient, DeadLetterReason reason,
                     std::string_view type_name);
  Status RunShutdownHooks();
  // Stop's drain: true once nothing is runnable or in a turn, false when
  // drain_timeout passed first.
  bool Drain();
  // No actor is scheduled or in a turn (one look).
  bool Quiescent() const;
  // After a shutdown timeout, once the workers are joined.
  void DropQueuedOfUnstoppedActors();

  struct Hook {
    std::string name;
    std::function<Status()> fn;
    ShutdownHookOptions options;
  };
  mutable std::mutex services_mu_;  // hooks, dependency types
  std::vector<Hook> hooks_;
  std::unordered_map<std::string, DependencyFactory> dependency_types_;
  std::atomic<uint64_t> spawned_{0};
  std::atomic<uint64_t> stopped_{0};
  std::atomic<uint64_t> passivated_{0};
  std::atomic<uint64_t> failures_{0};
  std::atomic<uint64_t> restarts_{0};
  std::atomic<int64_t> started_at_ns_{0};
  Status hook_status_;
  PassivationManager passivation_{this};
  double nanos_per_tick_ = 1.0;
  int64_t touch_ticks_ = 100000000;  // 100 ms of activity-clock ticks
  std::atomic<bool> hooks_ran_{false};

  ActorSystem* owner_;
  SystemOptions options_;
  std::shared_ptr<Logger> logger_;
  std::string address_prefix_;
  std::atomic<uint32_t> refs_{1};
  std::atomic<State> state_{State::kNew};
  std::unique_ptr<TimerService> timers_;
  std::function<bool(TimePoint)> pump_;  // SetPump
  std::unique_ptr<Dispatcher> dispatcher_;
  std::unique_ptr<Scheduler> scheduler_;  // built after timers_ (it reads the clock)
  BlockingPool blocking_pool_;            // for PipeTo; threads start on first use
  mutable std::array<Shard, kShards> shards_;
  EventStream events_;
  std::array<std::atomic<uint64_t>, 5> dead_letters_{};
  std::atomic<int64_t> dead_letter_log_window_{0};
  std::atomic<uint64_t> dead_letter_suppressed_{0};
  std::atomic<uint64_t> next_id_{0};
  std::atomic<std::size_t> actors_{0};
  SlotPool slots_;
  ServiceRegistry services_;  // the layers and the user's extensions
  Duration remote_ask_spin_{};
  ActorCell* root_ = nullptr;
  PID root_holder_;  // dropped by ReleaseRoot (breaks the root <-> system cycle)
  std::mutex stop_mu_;
  std::condition_variable stop_cv_;
  bool root_terminated_ = false;
};

// The system a PID or context belongs to, from its cell.
SystemImpl* SystemOf(const PID& pid);

}  // namespace akt::internal
