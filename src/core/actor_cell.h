// The control block of one actor: mailbox, scheduling flag, lifecycle,
// supervision state. A PID is a counted reference to it.
//
// Threading: producers (any thread) only push envelopes and flip the
// scheduled flag; everything else is touched only inside the actor's own turn
// (one thread at a time), except the few fields guarded by the cell's stripe
// lock (children, watchers) and the atomics read by introspection.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "akt/messages.h"
#include "akt/actor.h"
#include "akt/context.h"
#include "akt/events.h"
#include "akt/pid.h"
#include "akt/spawn_options.h"
#include "envelope.h"
#include "mpsc_queue.h"

namespace akt::internal {

class SystemImpl;

// Mailboxes other than the default unbounded MPSC queue.
class UserMailbox {
 public:
  enum class PushResult { kOk, kFullReject, kFullDeadLetter };
  virtual ~UserMailbox() = default;
  // `force` bypasses a capacity limit (akt's own messages, e.g. Terminated).
  virtual PushResult Push(Envelope* e, bool force) = 0;
  virtual Envelope* Pop() = 0;  // consumer only; null when empty
};
// Null for the default (unbounded) kind.
std::unique_ptr<UserMailbox> MakeUserMailbox(const MailboxSpec& spec);

// True while an actor's turn runs on this thread (blocking calls are refused).
bool InActorTurn();
// The actor whose turn runs on this thread (null outside turns).
ActorCell* CurrentCell();

// Striped locks for the few cross-thread structures of a cell.
std::mutex& StripeFor(const void* p);

class ActorCell {
 public:
  enum class Life : uint8_t {
    kStarting,    // PreStart running
    kRunning,     // processing messages
    kSuspended,   // a supervisor suspended it (or it escalated); waits
    kRestarting,  // waiting for backoff or for children to stop
    kStopping,    // waiting for children to stop
    kTerminated,  // gone; every message goes to dead letters
  };

  ActorCell(SystemImpl* system, uint64_t id, std::string name, ActorCell* parent,
            ActorFactory factory, const SpawnOptions& options, int default_throughput);
  ~ActorCell();
  // A proxy: a cell that stands for the actor at `address` in another
  // process. Messages posted to it go to the system's remote hooks; it never
  // runs a turn. `data` is the remoting layer's own record for it.
  static ActorCell* NewProxy(SystemImpl* system, uint64_t id, std::string name,
                             std::string address, std::shared_ptr<void> data);
  bool is_remote() const { return remote_; }
  // A turn of this actor once held a remoting I/O thread too long: from then
  // on it runs on the workers only (any thread may set or read it).
  void RunOnWorkersOnly() { workers_only_.store(true, std::memory_order_relaxed); }
  bool workers_only() const { return workers_only_.load(std::memory_order_relaxed); }
  // Retires a proxy when remoting shuts down (breaks its self-reference).
  void RetireProxy();
  // The remoting layer's record of a proxy (null for a local actor).
  const std::shared_ptr<void>& remote_data();
  // Proxies: the node of the actor is lost. The proxy counts as terminated;
  // every watcher gets Terminated{kNodeLost}, and so does a later Watch.
  void ProxyNodeLost(TerminationReason reason = TerminationReason::kNodeLost);
  // Proxies: the remote actor terminated (its node said so). Every watcher
  // gets Terminated{kStopped}; the proxy itself stays usable (a new actor
  // of that name on that node may take its messages).
  void ProxyActorStopped();
  // Terminated{this, reason} to each of `watchers` (taken out of the list,
  // one reference each, which this drops).
  void TellWatchers(std::vector<ActorCell*>& watchers, TerminationReason reason);
  ActorCell(const ActorCell&) = delete;
  ActorCell& operator=(const ActorCell&) = delete;

  void AddRef() { refs_.fetch_add(1, std::memory_order_relaxed); }
  void Release() {
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
  }
  void ReleaseN(uint32_t n) {
    if (refs_.fetch_sub(n, std::memory_order_acq_rel) == n) delete this;
  }

  // ---- producers (any thread) ----
  // Enqueues a user message; always takes ownership of `e`. On failure the
  // envelope went to dead letters (its requester, if any, got the error).
  Status PostUser(Envelope* e, bool force = false);
  // As PostUser, except that when the actor has terminated the envelope is
  // not consumed: false, and the caller still owns `e` (grains re-activate).
  bool TryPostUser(Envelope* e, Status* status);
  // The mailbox push of PostUser, after its liveness check.
  Status Push(Envelope* e, bool force);
  // Where the messages still queued go when this actor terminates, instead
  // of dead letters (grains hand them to their next activation); after the
  // last one the hook is called with null. Set from the actor's own turn.
  using DrainHook = std::function<void(Envelope*)>;
  void SetDrainHook(DrainHook hook);
  void PostSystem(Envelope* e);
  void PostSystem(SysKind kind);

  // ---- dispatcher ----
  // Runs one turn. True: still scheduled, run again (the dispatcher keeps its
  // reference). False: idle (the dispatcher releases its reference).
  bool RunTurn();
  // The dispatcher is stopping and drops this queued cell.
  void AbandonTurn();
  // The system has stopped and no turn of this actor will run again: every
  // user message it still holds (mailbox, stash, held for reentrancy) goes to
  // dead letters (kStopped). Does nothing while another thread holds the
  // scheduling flag (that thread drops them itself).
  void DropQueuedAfterStop();
  // Neither scheduled nor in a turn (parked by backpressure counts as idle:
  // it waits for others). Stop's drain looks at every actor.
  bool IdleForDrain() const {
    uint32_t s = sched_.load(std::memory_order_seq_cst);
    return s == 0 || s == kParked;
  }
  // Stop() timed out and no turn runs any more: this actor, which never got
  // to stop, terminates now without PostStop (watchers and the parent are
  // told, its queued messages go to dead letters). Children first.
  void AbandonAfterStop();

  // ---- spawning (called by SystemImpl) ----
  // Runs PreStart on the calling thread. On failure the cell is terminated.
  Status Start();
  bool AttachChild(ActorCell* child);  // false if this cell is stopping
  // Removes `child` from the children; caller holds StripeFor(this).
  bool DetachChildLocked(ActorCell* child);

  // ---- watch ----
  void AddWatcher(ActorCell* watcher);
  void RemoveWatcher(ActorCell* watcher);

  // ---- inside the actor's turn ----
  Status Reply(Envelope* request, Message&& reply);
  static Status ReplyTo(Envelope* request, Message&& reply, ActorCell* replier);
  static void FailReply(Envelope* request, Status error);
  void StartRequest(PID to, Message msg, Duration timeout, RequestCallback callback,
                    const ReentrancyMode* mode_override);
  void Become(Behavior b, bool stacked);
  void UnBecome(bool one);
  Status StashCurrent(Envelope* e);
  Status Unstash(bool all);
  std::size_t stash_size() const;
  std::shared_ptr<Dependency> dependency(std::string_view id) const;
  uint64_t failures() const { return failures_.load(std::memory_order_relaxed); }
  int64_t last_activity() const {
    return tuning_ ? tuning_->last_activity.load(std::memory_order_relaxed) : 0;
  }
  void ReportError(std::exception_ptr error) { pending_error_ = std::move(error); }
  void Watch(ActorCell* target);
  void Unwatch(ActorCell* target);
  std::vector<PID> Children();
  bool in_turn() const { return in_turn_; }

  // ---- introspection (any thread) ----
  const PID& self() const { return self_; }
  const std::string& name() const { return name_; }
  const std::string& address();
  uint64_t id() const { return id_; }
  SystemImpl* system() const { return system_; }
  ActorCell* parent() const { return parent_; }
  Life life() const { return life_.load(std::memory_order_acquire); }
  uint64_t processed() const { return processed_.load(std::memory_order_relaxed); }
  Duration last_duration() const;
  uint32_t restarts() const { return restarts_.load(std::memory_order_relaxed); }
  Duration uptime() const;
  std::size_t mailbox_size() const;

 private:
  struct PendingRequest {
    uint64_t id;
    TimePoint deadline;
    RequestCallback callback;  // empty once completed
    bool blocking;             // kStashNonReentrant: other messages wait for it
  };
  void CompleteRequest(PendingRequest& r);
  void ReleaseReentrancyStash();
  void DrainHeldToDeadLetters();
  enum class PendingOp : uint8_t { kNone, kStop, kRestart };
  // State that most actors never need; allocated on first use.
  struct Extra {
    // Guarded by StripeFor(this cell).
    // A deque: a million children never need one giant block (a vector's
    // reallocations kept RSS up after mass stops).
    std::deque<PID> children;
    std::vector<ActorCell*> watchers;  // one reference each
    // Own turn only.
    std::vector<PID> watching;
    std::deque<PendingRequest> requests;
    uint64_t next_request_id = 0;
    TimePoint armed_deadline = TimePoint::max();
    std::vector<Envelope*> deferred;  // sys items that wait while suspended
    std::vector<ActorCell*> waiters;  // parked senders (one reference each); stripe lock
    int failures_in_window = 0;
    TimePoint window_start{};
    int consecutive_restarts = 0;
    // Names the supervisor's pending delayed restart; any restart that
    // begins bumps it, so a backoff timer that fires later is ignored.
    uint64_t restart_epoch = 0;
    std::once_flag address_once;
    std::string address;
    std::shared_ptr<void> remote_data;  // proxies only
    bool node_lost = false;             // proxies only; stripe lock
    DrainHook drain_hook;               // grains only
    Status stop_status;                 // set_stop_status (own turn, before terminated)
    // Own turn only.
    std::vector<std::shared_ptr<const Behavior>> behaviors;  // top = back
    std::deque<Envelope*> stash;
    std::deque<Envelope*> front;             // unstashed: processed before the mailbox
    std::deque<Envelope*> reentrancy_stash;  // held while a blocking request waits
    int blocking_requests = 0;               // kStashNonReentrant requests in flight
    int requests_in_flight = 0;
  };
  Extra& extra();

  static constexpr uint32_t kParked = 2;
  void ScheduleIfIdle();
  uint64_t backlog() const;
  // Backpressure (see kBackpressureHigh in actor_cell.cc).
  void NoteBackpressure(ActorCell* target);
  bool TryParkSender(ActorCell* sender);
  void UnparkWaiters();
  void Unpark();
  bool HasRunnableWork() const;
  Envelope* PopUser();
  void ProcessSystemMessages();
  void HandleSystem(Envelope* e);
  void Invoke(Envelope* e);
  void InvokeLocal(Envelope* e);
  void HandleFailure(std::exception_ptr error, Envelope* request, ActorCell* escalating_child);
  void ApplyDirective(Directive d, const std::exception_ptr& error, ActorCell* escalating_child);
  void Suspend(const std::string& reason);
  void Reinstate();
  void BeginStop();
  void BeginRestart();
  void MaybeFinishPending();
  void FinishStop(bool run_post_stop = true);
  // PostStop of the current instance, its failure logged (stop and restart).
  void RunPostStop();
  // One-for-all: the parent applies `d` to all its children (this one
  // included), which waits suspended; false when that does not apply.
  bool ApplyToSiblings(const Supervisor& sup, Directive d);
  void FinishRestart();
  void RunRequestReply(Envelope* e);
  void CheckRequestDeadlines();
  void ArmRequestTimer(TimePoint deadline);
  void DrainUserToDeadLetters();
  bool StopChildren();  // true if there were children to wait for
  const Supervisor& supervisor() const;

  // Producer side: written by every sender; one cache line of its own.
  alignas(64) MpscTail user_tail_;
  std::atomic<uint64_t> user_pushed_{0};
  MpscTail sys_tail_;
  std::atomic<uint64_t> sys_pushed_{0};
  std::atomic<uint32_t> sched_{0};  // 0 idle, 1 scheduled/running, kParked
  bool remote_ = false;             // a proxy for an actor in another process
  std::atomic<bool> workers_only_{false};
  // Read-only after construction; they fill the producer line's spare room.
  SystemImpl* system_;
  ActorCell* parent_;  // one reference held; null for the root
  uint64_t id_;
  // Consumer side: written per message by the running turn only.
  alignas(64) MpscHead user_head_;
  MpscHead sys_head_;
  std::atomic<uint64_t> user_popped_{0};
  std::atomic<uint64_t> sys_popped_{0};
  std::atomic<uint64_t> processed_{0};
  std::atomic<uint64_t> last_duration_cycles_{0};
  // Cold.
  alignas(64) std::atomic<uint32_t> refs_{0};
  std::atomic<Life> life_{Life::kStarting};
  PendingOp pending_op_ = PendingOp::kNone;
  bool in_turn_ = false;
  bool is_root_ = false;
  int throughput_;
  std::unique_ptr<UserMailbox> custom_;
  std::atomic<uint32_t> restarts_{0};
  std::atomic<uint64_t> failures_{0};
  // Options most actors leave at their defaults live apart, allocated only
  // for the actors that set them (keeps the cell at five cache lines).
  struct Tuning {
    std::size_t stash_capacity = 0;
    Reentrancy reentrancy;
    // Shared by every restart of this actor; null when it has none.
    std::shared_ptr<const std::vector<std::shared_ptr<Dependency>>> dependencies;
    PassivationStrategy passivation;
    // SystemImpl::ActivityNow() ticks; written at most once per 100 ms.
    std::atomic<int64_t> last_activity{0};
    std::atomic<uint32_t> stash_size{0};
    // Grains: kept here rather than in Extra (whose deques cost kilobytes).
    DrainHook drain_hook;
  };
  const Tuning& tuning() const;
  std::unique_ptr<Tuning> tuning_;  // null: every default
  bool passivation_paused_ = false;
  // Set by the passivation manager (1: check idleness, 2: evict) or by a
  // caller (3: deactivate on request, 4: hand off); read at the start of a
  // turn. A flag, not a message: a mass passivation then allocates nothing
  // on the timer thread.
  std::atomic<uint8_t> passivate_request_{0};
  // Why this actor is passivating (0: it is not; else the request above),
  // set in its own turn before it stops; and what its PostStop reported
  // for the caller that asked (set before the cell is terminated).
  uint8_t passivation_cause_ = 0;  // the status lives in Extra: the cell stays five cache lines
  void Touch(int64_t now_ticks);
  void HandlePassivate(bool eviction);

 public:
  // Called by the passivation manager (any thread).
  void RequestPassivation(bool eviction);
  // Passivates at the start of its next turn (any thread): `cause` 1 (if
  // idle), 2 (evict), 3 (requested) or 4 (handing off); 3 and 4 whatever
  // its idleness.
  void RequestDeactivation(uint8_t cause);
  // In PostStop: 0 (a plain stop), 1 idle, 2 evicted, 3 requested, 4 handing off.
  uint8_t passivation_cause() const { return passivation_cause_; }
  // Set by the actor while it stops (a grain: OnDeactivate's status); read
  // by whoever waited for its termination.
  // Only a failure is kept (a cell stops once: ok is the default).
  void set_stop_status(Status s) {
    if (!s.ok()) extra().stop_status = std::move(s);
  }
  Status stop_status() const {
    Extra* x = extra_.load(std::memory_order_acquire);
    return x != nullptr ? x->stop_status : Status();
  }

 private:
  void Passivate(const std::string& reason);
  std::atomic<bool> has_waiters_{false};
  ActorCell* throttled_on_ = nullptr;  // own turn only; one reference
  std::atomic<int64_t> started_ns_{0};
  std::string name_;
  std::unique_ptr<Actor> actor_;
  ActorFactory factory_;
  std::shared_ptr<const Supervisor> supervisor_;
  std::atomic<Extra*> extra_{nullptr};
  uint32_t index_in_parent_ = 0;  // guarded by StripeFor(parent_)
  std::exception_ptr pending_error_;
  PID self_;  // reset when terminated (breaks the self-reference)

  friend class SystemImpl;
};

}  // namespace akt::internal
