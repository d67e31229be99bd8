// ActorCell: the mailbox (producers), the turn (system messages first, then
// user messages up to the throughput, backpressure between actors) and the
// invocation of the actor. The other concerns are in actor_cell_*.cc.
#include "actor_cell.h"

#include <algorithm>
#include <array>

#include "akt/messages.h"
#include "cycle_clock.h"
#include "internal/access.h"
#include "system_impl.h"
#include "turn_hooks.h"

namespace akt::internal {
namespace {

// A turn never takes more than this many messages, however long the backlog.
constexpr uint64_t kMaxTurnMessages = 1u << 16;

// Backpressure between actors: an actor that sends to a mailbox holding at
// least kBackpressureHigh messages is parked after its turn until that
// mailbox is down to kBackpressureLow (or its owner stops, suspends, or parks
// itself). Senders that are not actors are never parked.
constexpr uint64_t kBackpressureHigh = 32768;
constexpr uint64_t kBackpressureLow = 8192;

// The cell whose turn runs on this thread, if any.
thread_local ActorCell* t_current = nullptr;
}  // namespace

namespace {
constexpr int kMaxTurnEnd = 8;  // one per layer is plenty
thread_local std::array<TurnEndFn, kMaxTurnEnd> t_turn_end_fns{};
}  // namespace
thread_local int t_turn_end_count = 0;

void AtTurnEnd(TurnEndFn f) {
  for (int i = 0; i < t_turn_end_count; ++i) {
    if (t_turn_end_fns[i] == f) return;
  }
  if (t_turn_end_count == kMaxTurnEnd) {
    f();  // more layers than slots: run it now rather than lose it
    return;
  }
  t_turn_end_fns[t_turn_end_count++] = f;
}

void RunTurnEndSlow() {
  // What a function asks for while it runs waits for the next turn end.
  std::array<TurnEndFn, kMaxTurnEnd> fns = t_turn_end_fns;
  int n = t_turn_end_count;
  t_turn_end_count = 0;
  for (int i = 0; i < n; ++i) fns[i]();
}
thread_local std::vector<ActorCell*>* t_inline_runs = nullptr;
thread_local const EnvelopeMeta* t_current_meta = nullptr;
thread_local int64_t t_send_deadline_ns = 0;
thread_local int t_defer_depth = 0;
DeferWrites::DeferWrites() { ++t_defer_depth; }
DeferWrites::~DeferWrites() {
  if (--t_defer_depth == 0) RunTurnEnd();
}

bool InActorTurn() { return t_current != nullptr; }
ActorCell* CurrentCell() { return t_current; }

std::mutex& StripeFor(const void* p) {
  static std::array<std::mutex, 128> stripes;
  auto h = reinterpret_cast<std::uintptr_t>(p);
  return stripes[(h >> 6) % stripes.size()];
}

ActorCell::ActorCell(SystemImpl* system, uint64_t id, std::string name, ActorCell* parent,
                     ActorFactory factory, const SpawnOptions& options, int default_throughput)
    : system_(system),
      parent_(parent),
      id_(id),
      throughput_(options.throughput > 0 ? options.throughput : default_throughput),
      custom_(MakeUserMailbox(options.mailbox)),
      name_(std::move(name)),
      factory_(std::move(factory)),
      supervisor_(options.supervisor) {
  if (options.stash_capacity != 0 || options.reentrancy.mode != ReentrancyMode::kAllowAll ||
      options.reentrancy.max_in_flight != 0 || !options.dependencies.empty() ||
      options.passivation.kind != PassivationStrategy::Kind::kLongLived) {
    tuning_ = std::make_unique<Tuning>();
    tuning_->stash_capacity = options.stash_capacity;
    tuning_->reentrancy = options.reentrancy;
    tuning_->passivation = options.passivation;
    if (!options.dependencies.empty()) {
      tuning_->dependencies =
          std::make_shared<const std::vector<std::shared_ptr<Dependency>>>(options.dependencies);
    }
  }
  MpscInit(user_tail_, user_head_);
  MpscInit(sys_tail_, sys_head_);
  system_->AddRef();
  if (parent_ != nullptr) parent_->AddRef();
  AddRef();
  self_ = internal::AdoptCell(this);
  if (throughput_ <= 0) throughput_ = 1;
}

ActorCell::~ActorCell() {
  // Whatever is still queued (the dispatcher stopped first) is dropped; a
  // waiting asker learns the actor is gone instead of waiting out its timeout.
  while (QueueNode* n = MpscPop(sys_head_, sys_tail_)) FreeEnvelope(static_cast<Envelope*>(n));
  while (Envelope* e = PopUser()) {
    FailReply(e, StoppedError("actor " + name_ + " stopped"));
    FreeEnvelope(e);
  }
  if (Extra* x = extra_.load(std::memory_order_acquire)) {
    for (ActorCell* w : x->watchers) w->Release();
    for (ActorCell* w : x->waiters) {
      w->Unpark();
      w->Release();
    }
    for (Envelope* e : x->deferred) FreeEnvelope(e);
    for (auto* q : {&x->stash, &x->front, &x->reentrancy_stash}) {
      for (Envelope* e : *q) {
        FailReply(e, StoppedError("actor " + name_ + " stopped"));
        FreeEnvelope(e);
      }
    }
    delete x;
  }
  if (throttled_on_ != nullptr) throttled_on_->Release();
  if (parent_ != nullptr) parent_->Release();
  system_->Release();
}

ActorCell::Extra& ActorCell::extra() {
  Extra* x = extra_.load(std::memory_order_acquire);
  if (x != nullptr) return *x;
  auto* fresh = new Extra();
  if (extra_.compare_exchange_strong(x, fresh, std::memory_order_acq_rel)) return *fresh;
  delete fresh;
  return *x;
}

Duration ActorCell::uptime() const {
  if (life() == Life::kTerminated) return Duration::zero();
  // Start time in cycle-counter ticks: spawning reads no clock.
  int64_t s = started_ns_.load(std::memory_order_relaxed);
  if (s == 0) return Duration::zero();
  return Duration(static_cast<int64_t>(static_cast<double>(static_cast<int64_t>(CycleNow()) - s) *
                                       NanosPerCycle()));
}

Duration ActorCell::last_duration() const {
  uint64_t cycles = last_duration_cycles_.load(std::memory_order_relaxed);
  if (cycles == 0) return Duration::zero();
  return Duration(static_cast<int64_t>(static_cast<double>(cycles) * NanosPerCycle()));
}

std::size_t ActorCell::mailbox_size() const {
  uint64_t pushed = user_pushed_.load(std::memory_order_relaxed);
  uint64_t popped = user_popped_.load(std::memory_order_relaxed);
  return pushed > popped ? static_cast<std::size_t>(pushed - popped) : 0;
}

const Supervisor& ActorCell::supervisor() const {
  static const Supervisor kDefault;
  return supervisor_ ? *supervisor_ : kDefault;
}

// ---------------------------------------------------------------------------
// Producers.

bool ActorCell::TryPostUser(Envelope* e, Status* status) {
  if (remote_ || !system_->accepting_messages()) {
    *status = PostUser(e);
    return true;
  }
  // One look at the life: a message pushed after termination is handed on
  // by the terminated turn's drain (it never becomes a dead letter here).
  if (life() == Life::kTerminated) {
    *status = StoppedError("actor " + name_ + " is stopped");
    return false;
  }
  *status = Push(e, false);
  return true;
}

Status ActorCell::PostUser(Envelope* e, bool force) {
  if (remote_) return system_->RemotePost(this, e);
  if (life() == Life::kTerminated || !system_->accepting_messages()) {
    if (e->watch_notice) {
      FreeEnvelope(e);  // death-watch notice to a watcher that is gone
    } else {
      system_->DeadLetter(e, DeadLetterReason::kStopped, this, name_);
    }
    return StoppedError("actor " + name_ + " is stopped");
  }
  return Push(e, force);
}

Status ActorCell::Push(Envelope* e, bool force) {
  if (custom_ == nullptr) {
    uint64_t pushed = user_pushed_.fetch_add(1, std::memory_order_seq_cst) + 1;
    MpscPush(user_tail_, e);
    // Look at the backlog only now and then: it costs a read of the
    // consumer's cache line.
    if ((pushed & 255) == 0 && t_current != nullptr && t_current != this &&
        pushed - user_popped_.load(std::memory_order_relaxed) >= kBackpressureHigh) {
      t_current->NoteBackpressure(this);
    }
  } else {
    user_pushed_.fetch_add(1, std::memory_order_seq_cst);
    switch (custom_->Push(e, force)) {
      case UserMailbox::PushResult::kOk:
        break;
      case UserMailbox::PushResult::kFullReject:
        user_pushed_.fetch_sub(1, std::memory_order_seq_cst);
        system_->DeadLetter(e, DeadLetterReason::kMailboxFull, this, name_);
        return MailboxFullError("mailbox of " + name_ + " is full");
      case UserMailbox::PushResult::kFullDeadLetter:
        user_pushed_.fetch_sub(1, std::memory_order_seq_cst);
        system_->DeadLetter(e, DeadLetterReason::kMailboxFull, this, name_);
        return Status();
    }
  }
  ScheduleIfIdle();
  return Status();
}

void ActorCell::PostSystem(Envelope* e) {
  if (remote_) {
    system_->RemoteControl(this, e->sys);
    FreeEnvelope(e);
    return;
  }
  sys_pushed_.fetch_add(1, std::memory_order_seq_cst);
  MpscPush(sys_tail_, e);
  if (sched_.load(std::memory_order_seq_cst) == kParked) {
    Unpark();  // system messages never wait behind backpressure
    return;
  }
  ScheduleIfIdle();
}

void ActorCell::PostSystem(SysKind kind) {
  if (remote_) {
    system_->RemoteControl(this, kind);
    return;
  }
  Envelope* e = NewEnvelope();
  e->sys = kind;
  PostSystem(e);
}

void ActorCell::ScheduleIfIdle() {
  if (sched_.load(std::memory_order_seq_cst) != 0) return;
  if (sched_.exchange(1, std::memory_order_seq_cst) != 0) return;
  if (system_->state() == SystemImpl::State::kStopped && !system_->dispatcher().deterministic()) {
    // Nothing runs turns any more: what just arrived is not left unreported.
    sched_.store(0, std::memory_order_seq_cst);
    DropQueuedAfterStop();
    return;
  }
  AddRef();
  system_->dispatcher().Submit(this);
}

// ---------------------------------------------------------------------------
// The turn.

bool ActorCell::HasRunnableWork() const {
  if (sys_pushed_.load(std::memory_order_seq_cst) != sys_popped_.load(std::memory_order_relaxed))
    return true;
  if (passivate_request_.load(std::memory_order_seq_cst) != 0) return true;
  Life l = life();
  bool can_process = l == Life::kRunning || l == Life::kTerminated;
  if (can_process) {
    // Unstashed messages wait in `front` (consumer-side state: this runs at
    // the end of our own turn or before the first one).
    Extra* x = extra_.load(std::memory_order_acquire);
    if (x != nullptr && !x->front.empty() && x->blocking_requests == 0) return true;
  }
  if (user_pushed_.load(std::memory_order_seq_cst) == user_popped_.load(std::memory_order_relaxed))
    return false;
  return can_process;
}

Envelope* ActorCell::PopUser() {
  if (Extra* x = extra_.load(std::memory_order_acquire); x != nullptr && !x->front.empty()) {
    Envelope* f = x->front.front();
    x->front.pop_front();
    return f;  // counted as popped when it first left the mailbox
  }
  Envelope* e = custom_ ? custom_->Pop() : static_cast<Envelope*>(MpscPop(user_head_, user_tail_));
  if (e != nullptr) {
    user_popped_.store(user_popped_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  }
  return e;
}

bool ActorCell::RunTurn() {
  in_turn_ = true;
  ActorCell* outer = t_current;
  t_current = this;
  ReleaseBatch batch;  // sender references dropped in this turn, coalesced
  ProcessSystemMessages();
  Life l = life();
  if (l == Life::kRunning) {
    uint64_t t0 = CycleNow();
    // A turn takes at least `throughput` messages, and the whole backlog that
    // was waiting when it began: a receiver with many senders then keeps up
    // with them instead of getting one turn in N+1 (memory stays bounded).
    // Messages that arrive during the turn wait for the next one.
    // Deterministic mode keeps `throughput` exact: a test's Step() runs
    // exactly that many messages (one by default), as the fixture promises.
    uint64_t budget = static_cast<uint64_t>(throughput_);
    if (!system_->options().deterministic) {
      uint64_t backlog = user_pushed_.load(std::memory_order_acquire) -
                         user_popped_.load(std::memory_order_relaxed);
      budget = std::max<uint64_t>(budget, std::min<uint64_t>(backlog, kMaxTurnMessages));
    }
    uint64_t n = 0;
    while (n < budget) {
      if (sys_pushed_.load(std::memory_order_acquire) !=
          sys_popped_.load(std::memory_order_relaxed)) {
        ProcessSystemMessages();
        if (life() != Life::kRunning) break;
      }
      Envelope* e = PopUser();
      if (e == nullptr) break;
      Invoke(e);
      ++n;
      if (life() != Life::kRunning) break;
      if (throttled_on_ != nullptr) break;  // yield now: we are flooding someone
    }
    if (n > 0) {
      last_duration_cycles_.store((CycleNow() - t0) / n, std::memory_order_relaxed);
      processed_.store(processed_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
      if (tuning().passivation.kind != PassivationStrategy::Kind::kLongLived) {
        Touch(system_->options().deterministic ? system_->ActivityNow() : static_cast<int64_t>(t0));
        if (tuning().passivation.kind == PassivationStrategy::Kind::kMessageCount &&
            !passivation_paused_ && processed() >= tuning().passivation.max_messages &&
            life() == Life::kRunning) {
          Passivate("handled " + std::to_string(processed()) + " messages");
        }
      }
    }
  } else if (l == Life::kTerminated) {
    DrainUserToDeadLetters();
  }
  in_turn_ = false;
  t_current = outer;
  if (outer == nullptr && t_defer_depth == 0) RunTurnEnd();
  if (has_waiters_.load(std::memory_order_acquire) && backlog() < kBackpressureLow) {
    UnparkWaiters();
  }
  if (throttled_on_ != nullptr) {
    ActorCell* target = std::exchange(throttled_on_, nullptr);
    bool parked = HasRunnableWork() && target->TryParkSender(this);
    target->Release();
    if (parked) {
      // Our own waiters must not wait on a parked actor (no cycles).
      UnparkWaiters();
      // A system message that came in before we parked still runs now.
      if (sys_pushed_.load(std::memory_order_seq_cst) !=
          sys_popped_.load(std::memory_order_relaxed)) {
        uint32_t expected = kParked;
        if (sched_.compare_exchange_strong(expected, 1, std::memory_order_seq_cst)) return true;
      }
      return false;  // the target's waiter list holds our reference now
    }
  }
  sched_.store(0, std::memory_order_seq_cst);
  if (HasRunnableWork() && sched_.exchange(1, std::memory_order_seq_cst) == 0) return true;
  return false;
}

uint64_t ActorCell::backlog() const {
  return user_pushed_.load(std::memory_order_acquire) -
         user_popped_.load(std::memory_order_relaxed);
}

void ActorCell::NoteBackpressure(ActorCell* target) {
  if (throttled_on_ != nullptr) return;
  target->AddRef();
  throttled_on_ = target;
}

bool ActorCell::TryParkSender(ActorCell* sender) {
  std::lock_guard<std::mutex> lock(StripeFor(this));
  if (life() != Life::kRunning || sched_.load(std::memory_order_seq_cst) == kParked ||
      backlog() < kBackpressureLow) {
    return false;
  }
  sender->AddRef();
  extra().waiters.push_back(sender);
  sender->sched_.store(kParked, std::memory_order_seq_cst);
  has_waiters_.store(true, std::memory_order_release);
  return true;
}

void ActorCell::UnparkWaiters() {
  if (!has_waiters_.load(std::memory_order_acquire)) return;
  std::vector<ActorCell*> waiters;
  {
    std::lock_guard<std::mutex> lock(StripeFor(this));
    Extra* x = extra_.load(std::memory_order_acquire);
    if (x != nullptr) waiters.swap(x->waiters);
    has_waiters_.store(false, std::memory_order_release);
  }
  for (ActorCell* w : waiters) {
    w->Unpark();
    w->Release();
  }
}

void ActorCell::Unpark() {
  uint32_t expected = kParked;
  if (sched_.compare_exchange_strong(expected, 1, std::memory_order_seq_cst)) {
    if (system_->state() == SystemImpl::State::kStopped && !system_->dispatcher().deterministic()) {
      sched_.store(0, std::memory_order_seq_cst);  // no turns any more
      DropQueuedAfterStop();
      return;
    }
    AddRef();
    system_->dispatcher().SubmitSpread(this);
  }
}

void ActorCell::AbandonTurn() {
  sched_.store(0, std::memory_order_seq_cst);
  Release();
}

void ActorCell::ProcessSystemMessages() {
  if (passivate_request_.load(std::memory_order_relaxed) != 0) {
    uint8_t req = passivate_request_.exchange(0, std::memory_order_seq_cst);
    if (req >= 3 && life() != Life::kTerminated && life() != Life::kStopping) {
      passivation_cause_ = req;  // asked for: whatever the idleness
      Passivate(req == 3 ? "deactivation requested" : "handing off");
    } else if (req != 0 && life() != Life::kTerminated) {
      HandlePassivate(req == 2);
    }
  }
  while (sys_pushed_.load(std::memory_order_acquire) !=
         sys_popped_.load(std::memory_order_relaxed)) {
    QueueNode* n = MpscPop(sys_head_, sys_tail_);
    if (n == nullptr) break;  // mid-push; the counters bring us back
    sys_popped_.store(sys_popped_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    HandleSystem(static_cast<Envelope*>(n));
  }
}

void ActorCell::HandleSystem(Envelope* e) {
  Life l = life();
  if (l == Life::kTerminated) {
    if (e->sys == SysKind::kRequestReply && !e->is_error) {
      system_->DeadLetter(e, DeadLetterReason::kStopped, this, name_);
    } else {
      FreeEnvelope(e);
    }
    return;
  }
  switch (e->sys) {
    case SysKind::kStop:
      FreeEnvelope(e);
      BeginStop();
      return;
    case SysKind::kRestart: {
      uint64_t epoch = e->request_id;  // non-zero: a supervisor's delayed restart
      FreeEnvelope(e);
      if (l == Life::kStopping) return;
      if (epoch != 0) {
        Extra* x = extra_.load(std::memory_order_acquire);
        if (x == nullptr || x->restart_epoch != epoch) return;  // superseded meanwhile
      }
      BeginRestart();
      return;
    }
    case SysKind::kKill:
      FreeEnvelope(e);
      if (l == Life::kStopping) return;
      HandleFailure(std::make_exception_ptr(ActorKilledError()), nullptr, nullptr);
      return;
    case SysKind::kReinstate:
      FreeEnvelope(e);
      if (l == Life::kSuspended) Reinstate();
      return;
    case SysKind::kChildTerminated:
      FreeEnvelope(e);
      MaybeFinishPending();
      return;
    case SysKind::kFailure: {
      ActorCell* child = e->sender;  // null: our own PreStart failed in a restart
      std::exception_ptr error;
      if (auto* p = e->msg.As<std::exception_ptr>()) error = *p;
      if (l == Life::kStopping || l == Life::kRestarting) {
        FreeEnvelope(e);
        return;  // the child is being stopped anyway
      }
      if (is_root_) {
        // A top-level actor escalated: the guardian stops it.
        if (child != nullptr) child->PostSystem(SysKind::kStop);
        FreeEnvelope(e);
        return;
      }
      HandleFailure(error, nullptr, child);
      FreeEnvelope(e);
      return;
    }
    case SysKind::kPassivate: {
      bool eviction = e->is_error;
      FreeEnvelope(e);
      HandlePassivate(eviction);
      return;
    }
    case SysKind::kApplyToChildren: {
      Directive d = Directive::kRestart;
      if (auto* p = e->msg.As<Directive>()) d = *p;
      FreeEnvelope(e);
      for (const PID& c : Children()) {
        internal::CellOf(c)->PostSystem(d == Directive::kStop ? SysKind::kStop : SysKind::kRestart);
      }
      return;
    }
    case SysKind::kRequestReply:
    case SysKind::kRequestCheck:
      if (l == Life::kSuspended || l == Life::kRestarting || l == Life::kStarting) {
        extra().deferred.push_back(e);  // continuations wait until we run again
        return;
      }
      if (l == Life::kStopping) {
        FreeEnvelope(e);
        return;
      }
      if (e->sys == SysKind::kRequestReply) {
        RunRequestReply(e);
      } else {
        FreeEnvelope(e);
        CheckRequestDeadlines();
      }
      return;
    case SysKind::kUser:
      break;
  }
  FreeEnvelope(e);
}

void ActorCell::Invoke(Envelope* e) {
  if (e->meta != nullptr) {
    if (e->meta->deadline_ns != 0 && system_->NowNs() > e->meta->deadline_ns) {
      FailReply(e, TimeoutError("the caller's deadline passed before " + name_ +
                                " could handle the message"));
      FreeEnvelope(e);
      return;
    }
    struct MetaScope {
      const EnvelopeMeta* saved;
      ~MetaScope() { t_current_meta = saved; }
    } scope{t_current_meta};
    t_current_meta = e->meta;
    system_->RemoteBeforeInvoke(e->meta);
    InvokeLocal(e);
    return;
  }
  InvokeLocal(e);
}

void ActorCell::InvokeLocal(Envelope* e) {
  if (e->msg.Is<PoisonPill>()) {
    FreeEnvelope(e);
    BeginStop();
    return;
  }
  if (e->msg.Is<PausePassivation>() || e->msg.Is<ResumePassivation>()) {
    passivation_paused_ = e->msg.Is<PausePassivation>();
    if (!passivation_paused_ && tuning_)
      tuning_->last_activity.store(system_->ActivityNow(), std::memory_order_relaxed);
    FreeEnvelope(e);
    return;
  }
  if (const Terminated* t = e->msg.As<Terminated>()) {
    // The watch is over; a later Watch of the same PID starts a new one.
    bool watched = false;
    if (Extra* x = extra_.load(std::memory_order_acquire)) {
      auto it = std::find_if(x->watching.begin(), x->watching.end(),
                             [t](const PID& p) { return p == t->actor; });
      if (it != x->watching.end()) {
        x->watching.erase(it);
        watched = true;
      }
    }
    if (e->watch_notice && !watched) {
      FreeEnvelope(e);  // unwatched after it was sent: Unwatch cancelled it
      return;
    }
  }
  Extra* x = extra_.load(std::memory_order_acquire);
  if (x != nullptr && x->blocking_requests > 0) {
    x->reentrancy_stash.push_back(e);  // a blocking request waits: later
    return;
  }
  ReceiveContext ctx(this, e);
  try {
    if (x != nullptr && !x->behaviors.empty()) {
      std::shared_ptr<const Behavior> b = x->behaviors.back();  // may Become inside
      (*b)(ctx);
    } else {
      actor_->Receive(ctx);
    }
  } catch (...) {
    pending_error_ = std::current_exception();
  }
  if (pending_error_) {
    std::exception_ptr error = std::move(pending_error_);
    pending_error_ = nullptr;
    if (internal::Access::Stashed(ctx)) {
      HandleFailure(std::move(error), nullptr, nullptr);  // the stash keeps it
    } else {
      HandleFailure(std::move(error), e, nullptr);
      FreeEnvelope(e);
    }
    return;
  }
  if (internal::Access::Stashed(ctx)) return;
  if (internal::Access::Unhandled(ctx)) {
    system_->DeadLetter(e, DeadLetterReason::kUnhandled, this, name_);
    return;
  }
  FreeEnvelope(e);
}

// Passivation's activity clock, read by the manager (once per turn here).
void ActorCell::Touch(int64_t now_ticks) {
  // At most one store per 100 ms: the manager reads it rarely, and a store
  // per message would cost every message.
  if (now_ticks - tuning_->last_activity.load(std::memory_order_relaxed) >=
      system_->touch_ticks()) {
    tuning_->last_activity.store(now_ticks, std::memory_order_relaxed);
  }
}

}  // namespace akt::internal
