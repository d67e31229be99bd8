// ActorCell: start, children, stop and restart (children first, then
// PostStop), and what is left in a mailbox when an actor ends.
#include <algorithm>

#include "actor_cell.h"
#include "akt/messages.h"
#include "cycle_clock.h"
#include "internal/access.h"
#include "system_impl.h"
#include "turn_hooks.h"

namespace akt::internal {

Status ActorCell::Start() {
  sched_.store(1, std::memory_order_seq_cst);  // hold turns off until PreStart is done
  Status result;
  try {
    actor_ = factory_ ? factory_() : nullptr;
    if (actor_ == nullptr) {
      result = InvalidArgumentError("actor factory returned null");
    } else {
      Context ctx(this);
      in_turn_ = true;
      result = actor_->PreStart(ctx);
      in_turn_ = false;
      if (!result.ok()) {
        result = Status(StatusCode::kActorFailed,
                        "PreStart of " + name_ + " failed: " + result.ToString());
      }
    }
  } catch (...) {
    in_turn_ = false;
    result = Status(StatusCode::kActorFailed,
                    "PreStart of " + name_ + " threw: " + DescribeError(std::current_exception()));
  }
  if (!result.ok()) {
    actor_.reset();
    // Children PreStart may have spawned are stopped; this cell goes away.
    life_.store(Life::kStopping, std::memory_order_release);
    StopChildren();
    life_.store(Life::kTerminated, std::memory_order_release);
    sched_.store(0, std::memory_order_seq_cst);
    return result;
  }
  started_ns_.store(static_cast<int64_t>(CycleNow()), std::memory_order_relaxed);
  life_.store(Life::kRunning, std::memory_order_release);
  if (!is_root_) {
    system_->OnActorStarted();
    system_->events().Publish(ActorStarted{self_});
    if (tuning().passivation.kind != PassivationStrategy::Kind::kLongLived) {
      tuning_->last_activity.store(system_->ActivityNow(), std::memory_order_relaxed);
      system_->passivation().AddEvictable(this);
      if (tuning().passivation.kind == PassivationStrategy::Kind::kTimeBased) {
        system_->passivation().WatchIdle(this, tuning().passivation.idle);
      }
    }
  }
  sched_.store(0, std::memory_order_seq_cst);
  if (HasRunnableWork() && sched_.exchange(1, std::memory_order_seq_cst) == 0) {
    AddRef();
    system_->dispatcher().Submit(this);
  }
  return Status();
}

bool ActorCell::AttachChild(ActorCell* child) {
  std::lock_guard<std::mutex> lock(StripeFor(this));
  Life l = life();
  if (l == Life::kStopping || l == Life::kTerminated) return false;
  child->AddRef();
  Extra& x = extra();
  child->index_in_parent_ = static_cast<uint32_t>(x.children.size());
  x.children.push_back(internal::AdoptCell(child));
  return true;
}

bool ActorCell::DetachChildLocked(ActorCell* child) {
  Extra* x = extra_.load(std::memory_order_acquire);
  if (x == nullptr) return false;
  std::size_t i = child->index_in_parent_;
  if (i >= x->children.size() || internal::CellOf(x->children[i]) != child) return false;
  // O(1) swap-remove; the moved sibling learns its new index. The reference
  // dropped here is never the last: the child holds its own self_.
  if (i + 1 != x->children.size()) {
    x->children[i] = std::move(x->children.back());
    internal::CellOf(x->children[i])->index_in_parent_ = static_cast<uint32_t>(i);
  }
  x->children.pop_back();
  return true;
}

std::vector<PID> ActorCell::Children() {
  Extra* x = extra_.load(std::memory_order_acquire);
  if (x == nullptr) return {};
  std::lock_guard<std::mutex> lock(StripeFor(this));
  return std::vector<PID>(x->children.begin(), x->children.end());
}

bool ActorCell::StopChildren() {
  std::vector<PID> children = Children();
  for (const PID& c : children) internal::CellOf(c)->PostSystem(SysKind::kStop);
  return !children.empty();
}

void ActorCell::BeginStop() {
  Life l = life();
  if (l == Life::kTerminated) return;
  if (l == Life::kStopping && pending_op_ == PendingOp::kStop) return;
  {
    std::lock_guard<std::mutex> lock(StripeFor(this));
    life_.store(Life::kStopping, std::memory_order_release);
  }
  pending_op_ = PendingOp::kStop;
  UnparkWaiters();
  StopChildren();
  MaybeFinishPending();
}

void ActorCell::BeginRestart() {
  if (Extra* x = extra_.load(std::memory_order_acquire)) x->restart_epoch++;
  {
    std::lock_guard<std::mutex> lock(StripeFor(this));
    life_.store(Life::kRestarting, std::memory_order_release);
  }
  pending_op_ = PendingOp::kRestart;
  UnparkWaiters();
  StopChildren();
  MaybeFinishPending();
}

void ActorCell::MaybeFinishPending() {
  if (pending_op_ == PendingOp::kNone) return;
  {
    Extra* x = extra_.load(std::memory_order_acquire);
    if (x != nullptr) {
      std::lock_guard<std::mutex> lock(StripeFor(this));
      if (!x->children.empty()) return;
    }
  }
  PendingOp op = pending_op_;
  pending_op_ = PendingOp::kNone;
  if (op == PendingOp::kStop) {
    FinishStop();
  } else {
    FinishRestart();
  }
}

void ActorCell::FinishRestart() {
  RunPostStop();
  actor_.reset();
  // Continuations of the old instance's requests must not run on the new one
  // (they may point into the old object): drop them; late replies become
  // dead letters.
  if (Extra* x = extra_.load(std::memory_order_acquire)) {
    x->requests.clear();
    x->requests_in_flight = 0;
    x->blocking_requests = 0;
    x->behaviors.clear();  // the new instance starts from Receive
    // Held and stashed messages are processed by the new instance, first.
    ReleaseReentrancyStash();
    while (!x->stash.empty()) {
      x->front.push_front(x->stash.back());
      x->stash.pop_back();
    }
    if (tuning_) tuning_->stash_size.store(0, std::memory_order_relaxed);
    for (auto it = x->deferred.begin(); it != x->deferred.end();) {
      if ((*it)->sys == SysKind::kRequestReply || (*it)->sys == SysKind::kRequestCheck) {
        FreeEnvelope(*it);
        it = x->deferred.erase(it);
      } else {
        ++it;
      }
    }
  }
  std::exception_ptr failure;
  try {
    actor_ = factory_();
    if (actor_ == nullptr) throw std::runtime_error("actor factory returned null");
    Context ctx(this);
    Status s = actor_->PreStart(ctx);
    if (!s.ok()) failure = std::make_exception_ptr(ActorError(s));
  } catch (...) {
    failure = std::current_exception();
  }
  restarts_.fetch_add(1, std::memory_order_relaxed);
  system_->OnRestart();
  started_ns_.store(static_cast<int64_t>(CycleNow()), std::memory_order_relaxed);
  life_.store(Life::kRunning, std::memory_order_release);
  system_->events().Publish(ActorRestarted{self_, restarts()});
  if (failure) {
    if (actor_ == nullptr) {
      BeginStop();
      return;
    }
    // Supervised as our next system message (a kFailure without a sender),
    // before any user message. Not by calling HandleFailure here: a Restart
    // directive would re-enter FinishRestart, and a PreStart that keeps
    // failing would nest one frame chain per retry until the stack overflows.
    Envelope* e = NewEnvelope();
    e->sys = SysKind::kFailure;
    e->msg = failure;
    PostSystem(e);
    return;
  }
  Extra* x = extra_.load(std::memory_order_acquire);
  if (x != nullptr && !x->deferred.empty()) {
    std::vector<Envelope*> deferred;
    deferred.swap(x->deferred);
    for (Envelope* e : deferred) HandleSystem(e);
  }
}

void ActorCell::AbandonAfterStop() {
  if (life() == Life::kTerminated) {
    DropQueuedAfterStop();
    return;
  }
  FinishStop(/*run_post_stop=*/false);
}

void ActorCell::RunPostStop() {
  if (actor_ == nullptr) return;
  Context ctx(this);
  try {
    Status s = actor_->PostStop(ctx);
    if (!s.ok())
      system_->logger().Log(LogLevel::kWarn, "PostStop of " + name_ + ": " + s.ToString());
  } catch (...) {
    system_->logger().Log(LogLevel::kWarn, "PostStop of " + name_ + " threw: " +
                                               DescribeError(std::current_exception()));
  }
}

void ActorCell::FinishStop(bool run_post_stop) {
  if (run_post_stop) RunPostStop();
  actor_.reset();
  factory_ = nullptr;
  // Stop watching others (they need not tell a dead watcher).
  Extra* x = extra_.load(std::memory_order_acquire);
  if (x != nullptr) {
    for (const PID& w : x->watching) internal::CellOf(w)->RemoveWatcher(this);
    x->watching.clear();
    x->requests.clear();
    for (Envelope* e : x->deferred) FreeEnvelope(e);
    x->deferred.clear();
  }
  std::vector<ActorCell*> watchers;
  {
    std::lock_guard<std::mutex> lock(StripeFor(this));
    life_.store(Life::kTerminated, std::memory_order_release);
    if (x != nullptr) watchers.swap(x->watchers);
  }
  system_->Unregister(this);
  UnparkWaiters();
  DrainHeldToDeadLetters();
  DrainUserToDeadLetters();
  TellWatchers(watchers, TerminationReason::kStopped);
  // Detach from the parent; tell it if it waits for its children.
  if (parent_ != nullptr) {
    bool notify = false;
    {
      std::lock_guard<std::mutex> lock(StripeFor(parent_));
      Extra* px = parent_->extra_.load(std::memory_order_acquire);
      if (px != nullptr && parent_->DetachChildLocked(this)) {
        Life pl = parent_->life();
        notify = pl == Life::kStopping || pl == Life::kRestarting;
      }
    }
    if (notify) parent_->PostSystem(SysKind::kChildTerminated);
  }
  if (!is_root_) {
    system_->events().Publish(ActorStopped{self_});
  }
  system_->OnActorTerminated(this);
  PID self = std::move(self_);  // the cell may be freed when this goes
}

void ActorCell::SetDrainHook(DrainHook hook) {
  if (tuning_) {
    tuning_->drain_hook = std::move(hook);
  } else {
    extra().drain_hook = std::move(hook);
  }
}

void ActorCell::DrainUserToDeadLetters() {
  Extra* x = extra_.load(std::memory_order_acquire);
  const DrainHook* hook = nullptr;
  if (tuning_ && tuning_->drain_hook) {
    hook = &tuning_->drain_hook;
  } else if (x != nullptr && x->drain_hook) {
    hook = &x->drain_hook;
  }
  while (Envelope* e = PopUser()) {
    if (e->watch_notice) {
      FreeEnvelope(e);  // a Terminated for a watcher that is gone: nobody needs it
      continue;
    }
    if (hook != nullptr) {
      (*hook)(e);
      continue;
    }
    system_->DeadLetter(e, DeadLetterReason::kStopped, this, name_);
  }
  if (hook != nullptr) (*hook)(nullptr);  // drained
}

void ActorCell::DropQueuedAfterStop() {
  for (;;) {
    uint32_t expected = 0;
    if (!sched_.compare_exchange_strong(expected, 1, std::memory_order_seq_cst)) {
      if (expected != kParked ||
          !sched_.compare_exchange_strong(expected, 1, std::memory_order_seq_cst)) {
        return;  // its holder drops them
      }
    }
    // Holding the flag, this thread is the only consumer.
    DrainHeldToDeadLetters();
    while (Envelope* e = PopUser()) {
      if (e->watch_notice) {
        FreeEnvelope(e);
      } else {
        system_->DeadLetter(e, DeadLetterReason::kStopped, this, name_);
      }
    }
    sched_.store(0, std::memory_order_seq_cst);
    // A push that saw the flag held left its message to us: look again.
    if (user_pushed_.load(std::memory_order_seq_cst) ==
        user_popped_.load(std::memory_order_relaxed)) {
      return;
    }
  }
}

}  // namespace akt::internal
