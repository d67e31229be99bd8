#include "actor_cell.h"
#include "turn_hooks.h"

#include <algorithm>
#include <array>

#include "akt/messages.h"
#include "cycle_clock.h"
#include "system_impl.h"

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
thread_local const RemoteMeta* t_current_meta = nullptr;
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
  self_ = PID::Adopt(this);
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

ActorCell* ActorCell::NewProxy(SystemImpl* system, uint64_t id, std::string name,
                               std::string address, std::shared_ptr<void> data) {
  auto* c = new ActorCell(system, id, std::move(name), nullptr, ActorFactory(), SpawnOptions(), 1);
  c->remote_ = true;
  c->life_.store(Life::kRunning, std::memory_order_release);
  Extra& x = c->extra();
  std::call_once(x.address_once, [&] { x.address = std::move(address); });
  x.remote_data = std::move(data);
  return c;
}

void ActorCell::RetireProxy() {
  life_.store(Life::kTerminated, std::memory_order_release);
  self_ = PID();  // may drop the last reference: touch nothing after
}

void ActorCell::TellWatchers(std::vector<ActorCell*>& watchers, TerminationReason reason) {
  for (ActorCell* w : watchers) {
    Envelope* e = NewEnvelope();
    AddRef();
    e->msg = Terminated{PID::Adopt(this), reason};
    AddRef();
    e->sender = this;
    e->watch_notice = true;
    w->PostUser(e, /*force=*/true).IgnoreError();
    w->Release();  // the watcher list's reference
  }
  watchers.clear();
}

void ActorCell::ProxyNodeLost() {
  std::vector<ActorCell*> watchers;
  {
    std::lock_guard<std::mutex> lock(StripeFor(this));
    Extra& x = extra();
    if (x.node_lost) return;
    x.node_lost = true;
    life_.store(Life::kTerminated, std::memory_order_release);
    watchers.swap(x.watchers);
  }
  TellWatchers(watchers, TerminationReason::kNodeLost);
}

void ActorCell::ProxyActorStopped() {
  std::vector<ActorCell*> watchers;
  {
    std::lock_guard<std::mutex> lock(StripeFor(this));
    Extra* x = extra_.load(std::memory_order_acquire);
    if (x == nullptr || x->node_lost) return;
    watchers.swap(x->watchers);
  }
  TellWatchers(watchers, TerminationReason::kStopped);
}

const std::shared_ptr<void>& ActorCell::remote_data() {
  static const std::shared_ptr<void> kNone;
  if (!remote_) return kNone;
  return extra().remote_data;
}

const std::string& ActorCell::address() {
  Extra& x = extra();
  std::call_once(x.address_once, [&] { x.address = system_->address_prefix() + name_; });
  return x.address;
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

void ActorCell::RequestPassivation(bool eviction) {
  uint8_t want = eviction ? 2 : 1;
  uint8_t cur = passivate_request_.load(std::memory_order_relaxed);
  while (cur < want &&
         !passivate_request_.compare_exchange_weak(cur, want, std::memory_order_seq_cst)) {
  }
  if (sched_.load(std::memory_order_seq_cst) == kParked) {
    Unpark();
    return;
  }
  ScheduleIfIdle();
}

void ActorCell::ProcessSystemMessages() {
  if (passivate_request_.load(std::memory_order_relaxed) != 0) {
    uint8_t req = passivate_request_.exchange(0, std::memory_order_seq_cst);
    if (req != 0 && life() != Life::kTerminated) HandlePassivate(req == 2);
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
        c.cell()->PostSystem(d == Directive::kStop ? SysKind::kStop : SysKind::kRestart);
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
      const RemoteMeta* saved;
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
    if (ctx.stashed()) {
      HandleFailure(std::move(error), nullptr, nullptr);  // the stash keeps it
    } else {
      HandleFailure(std::move(error), e, nullptr);
      FreeEnvelope(e);
    }
    return;
  }
  if (ctx.stashed()) return;
  if (ctx.unhandled()) {
    system_->DeadLetter(e, DeadLetterReason::kUnhandled, this, name_);
    return;
  }
  FreeEnvelope(e);
}

// ---------------------------------------------------------------------------
// Replies and requests.

Status ActorCell::ReplyTo(Envelope* request, Message&& reply, ActorCell* replier) {
  switch (request->reply_kind) {
    case ReplyKind::kSlot: {
      ReplySlot* slot = request->slot;
      request->reply_kind = ReplyKind::kAnswered;
      if (!slot->Complete(std::move(reply))) {
        // The asker gave up (timeout) or was failed: a late reply.
        Envelope* late = NewEnvelope();
        late->msg = std::move(reply);
        if (replier != nullptr) {
          replier->AddRef();
          late->sender = replier;
        }
        SystemImpl* sys = replier != nullptr ? replier->system_ : nullptr;
        if (sys != nullptr) {
          sys->DeadLetter(late, DeadLetterReason::kAskTimedOut, nullptr, "<asker>");
        } else {
          FreeEnvelope(late);
        }
      }
      slot->Release();
      return Status();
    }
    case ReplyKind::kRequest: {
      ActorCell* requester = request->requester;
      request->reply_kind = ReplyKind::kAnswered;
      Envelope* r = NewEnvelope();
      r->sys = SysKind::kRequestReply;
      r->request_id = request->request_id;
      r->msg = std::move(reply);
      if (replier != nullptr) {
        replier->AddRef();
        r->sender = replier;
      }
      requester->PostSystem(r);
      requester->Release();
      return Status();
    }
    case ReplyKind::kRemote: {
      RemoteRoute* route = request->route;
      request->reply_kind = ReplyKind::kAnswered;
      route->Reply(request->request_id, std::move(reply));
      route->Release();
      return Status();
    }
    case ReplyKind::kNone:
    case ReplyKind::kAnswered:
      break;
  }
  return FailedPreconditionError("nobody is waiting for a reply to this message");
}

void ActorCell::FailReply(Envelope* request, Status error) {
  switch (request->reply_kind) {
    case ReplyKind::kSlot:
      request->slot->Fail(std::move(error));
      request->slot->Release();
      break;
    case ReplyKind::kRequest: {
      Envelope* r = NewEnvelope();
      r->sys = SysKind::kRequestReply;
      r->request_id = request->request_id;
      r->is_error = true;
      r->msg = std::move(error);
      request->requester->PostSystem(r);
      request->requester->Release();
      break;
    }
    case ReplyKind::kRemote:
      request->route->Fail(request->request_id, error);
      request->route->Release();
      break;
    case ReplyKind::kNone:
    case ReplyKind::kAnswered:
      return;
  }
  request->reply_kind = ReplyKind::kAnswered;
}

Status ActorCell::Reply(Envelope* request, Message&& reply) {
  if (request->expects_reply()) return ReplyTo(request, std::move(reply), this);
  if (request->reply_kind == ReplyKind::kAnswered) {
    return FailedPreconditionError("this request was already answered");
  }
  if (request->sender != nullptr) {
    Envelope* out = NewEnvelope();
    out->msg = std::move(reply);
    AddRef();
    out->sender = this;
    return request->sender->PostUser(out);
  }
  return FailedPreconditionError("nobody to reply to: the message has no sender and no asker");
}

void ActorCell::StartRequest(PID to, Message msg, Duration timeout, RequestCallback callback,
                             const ReentrancyMode* mode_override) {
  Extra& x = extra();
  ReentrancyMode mode = mode_override != nullptr ? *mode_override : tuning().reentrancy.mode;
  uint64_t id = ++x.next_request_id;
  TimePoint deadline = system_->Now() + timeout;
  Status refused;
  if (timeout <= Duration::zero()) {
    refused = InvalidArgumentError("request needs a positive timeout");  // as Ask
  } else if (mode == ReentrancyMode::kOff) {
    refused = FailedPreconditionError("reentrancy is off for actor " + name_ +
                                      ": Request is not allowed");
  } else if (tuning().reentrancy.max_in_flight > 0 &&
             x.requests_in_flight >= tuning().reentrancy.max_in_flight) {
    refused = Status(StatusCode::kResourceExhausted, "actor " + name_ + " already has " +
                                                         std::to_string(x.requests_in_flight) +
                                                         " requests in flight (the maximum)");
  }
  bool blocking = mode == ReentrancyMode::kStashNonReentrant && refused.ok();
  x.requests.push_back({id, deadline, std::move(callback), blocking});
  x.requests_in_flight++;
  if (blocking) x.blocking_requests++;
  if (!refused.ok()) {
    // The continuation learns it on a later turn, like any other reply.
    Envelope* r = NewEnvelope();
    r->sys = SysKind::kRequestReply;
    r->request_id = id;
    r->is_error = true;
    r->msg = std::move(refused);
    PostSystem(r);
    return;
  }
  Envelope* e = NewEnvelope();
  e->msg = std::move(msg);
  AddRef();
  e->sender = this;
  AddRef();
  e->requester = this;
  e->reply_kind = ReplyKind::kRequest;
  e->request_id = id;
  if (to.cell() == nullptr) {
    system_->DeadLetter(e, DeadLetterReason::kNoSuchActor, nullptr, "<empty PID>");
  } else {
    SendDeadline d(to.cell()->is_remote() ? system_->NowNs() + ToNs(timeout) : 0);
    to.cell()->PostUser(e).IgnoreError();  // a failure comes back as an error reply
  }
  if (deadline < x.armed_deadline) ArmRequestTimer(deadline);
}

void ActorCell::CompleteRequest(PendingRequest& r) {
  Extra& x = extra();
  r.callback = nullptr;
  x.requests_in_flight--;
  if (r.blocking) {
    r.blocking = false;
    if (--x.blocking_requests == 0) ReleaseReentrancyStash();
  }
}

void ActorCell::ReleaseReentrancyStash() {
  Extra& x = extra();
  // Held messages go first, in arrival order, ahead of anything unstashed.
  while (!x.reentrancy_stash.empty()) {
    x.front.push_front(x.reentrancy_stash.back());
    x.reentrancy_stash.pop_back();
  }
}

void ActorCell::Become(Behavior b, bool stacked) {
  Extra& x = extra();
  auto shared = std::make_shared<const Behavior>(std::move(b));
  if (stacked || x.behaviors.empty()) {
    x.behaviors.push_back(std::move(shared));
  } else {
    x.behaviors.back() = std::move(shared);
  }
}

void ActorCell::UnBecome(bool one) {
  Extra* x = extra_.load(std::memory_order_acquire);
  if (x == nullptr || x->behaviors.empty()) return;
  if (one) {
    x->behaviors.pop_back();
  } else {
    x->behaviors.clear();
  }
}

Status ActorCell::StashCurrent(Envelope* e) {
  if (tuning().stash_capacity == 0) {
    return FailedPreconditionError("actor " + name_ +
                                   " has no stash (SpawnOptions::WithStash enables it)");
  }
  Extra& x = extra();
  if (x.stash.size() >= tuning().stash_capacity) {
    return Status(
        StatusCode::kResourceExhausted,
        "stash of " + name_ + " is full (" + std::to_string(tuning().stash_capacity) + ")");
  }
  x.stash.push_back(e);
  tuning_->stash_size.store(static_cast<uint32_t>(x.stash.size()), std::memory_order_relaxed);
  return Status();
}

Status ActorCell::Unstash(bool all) {
  Extra* x = extra_.load(std::memory_order_acquire);
  if (x == nullptr || x->stash.empty()) {
    return all ? Status() : FailedPreconditionError("the stash is empty");
  }
  if (all) {
    while (!x->stash.empty()) {
      x->front.push_front(x->stash.back());
      x->stash.pop_back();
    }
  } else {
    x->front.push_front(x->stash.front());
    x->stash.pop_front();
  }
  tuning_->stash_size.store(static_cast<uint32_t>(x->stash.size()), std::memory_order_relaxed);
  return Status();
}

std::shared_ptr<Dependency> ActorCell::dependency(std::string_view id) const {
  if (!tuning().dependencies) return nullptr;
  for (const auto& d : *tuning().dependencies) {
    if (d && d->ID() == id) return d;
  }
  return nullptr;
}

void ActorCell::Touch(int64_t now_ticks) {
  // At most one store per 100 ms: the manager reads it rarely, and a store
  // per message would cost every message.
  if (now_ticks - tuning_->last_activity.load(std::memory_order_relaxed) >=
      system_->touch_ticks()) {
    tuning_->last_activity.store(now_ticks, std::memory_order_relaxed);
  }
}

void ActorCell::HandlePassivate(bool eviction) {
  if (life() != Life::kRunning) {
    // Suspended or restarting: look again later.
    if (!eviction && tuning().passivation.kind == PassivationStrategy::Kind::kTimeBased &&
        life() != Life::kStopping) {
      system_->passivation().WatchIdle(this, tuning().passivation.idle);
    }
    return;
  }
  if (eviction) {
    if (passivation_paused_) {
      system_->passivation().AddEvictable(this);
      return;
    }
    Passivate("evicted: the node holds more than its maximum of actors");
    return;
  }
  Duration idle_for = system_->TicksToDuration(
      system_->ActivityNow() - tuning_->last_activity.load(std::memory_order_relaxed));
  bool busy = backlog() > 0;
  if (passivation_paused_ || busy || idle_for < tuning().passivation.idle) {
    Duration left = tuning().passivation.idle - idle_for;
    if (passivation_paused_ || busy || left < std::chrono::milliseconds(1)) {
      left = tuning().passivation.idle;
    }
    system_->passivation().WatchIdle(this, left);
    return;
  }
  Passivate(
      "idle for " +
      std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(idle_for).count()) +
      " ms");
}

void ActorCell::Passivate(const std::string& reason) {
  system_->OnPassivated();
  system_->events().Publish(ActorPassivated{self_, reason});
  BeginStop();
}

std::size_t ActorCell::stash_size() const {
  return tuning_ ? tuning_->stash_size.load(std::memory_order_relaxed) : 0;
}

const ActorCell::Tuning& ActorCell::tuning() const {
  static const Tuning kDefaults;
  return tuning_ ? *tuning_ : kDefaults;
}

void ActorCell::DrainHeldToDeadLetters() {
  Extra* x = extra_.load(std::memory_order_acquire);
  if (x == nullptr) return;
  for (auto* q : {&x->front, &x->reentrancy_stash, &x->stash}) {
    while (!q->empty()) {
      Envelope* e = q->front();
      q->pop_front();
      system_->DeadLetter(e, DeadLetterReason::kStopped, this, name_);
    }
  }
  if (tuning_) tuning_->stash_size.store(0, std::memory_order_relaxed);
}

void ActorCell::ArmRequestTimer(TimePoint deadline) {
  Extra& x = extra();
  x.armed_deadline = deadline;
  PID self = self_;
  system_->timers().Schedule(deadline, [self] {
    if (ActorCell* c = self.cell()) c->PostSystem(SysKind::kRequestCheck);
  });
}

void ActorCell::RunRequestReply(Envelope* e) {
  Extra& x = extra();
  auto it = std::lower_bound(x.requests.begin(), x.requests.end(), e->request_id,
                             [](const PendingRequest& r, uint64_t id) { return r.id < id; });
  if (it == x.requests.end() || it->id != e->request_id || !it->callback) {
    // Its deadline passed already: the reply is late.
    if (e->is_error) {
      FreeEnvelope(e);
    } else {
      system_->DeadLetter(e, DeadLetterReason::kAskTimedOut, this, name_);
    }
    return;
  }
  RequestCallback cb = std::move(it->callback);
  CompleteRequest(*it);
  while (!x.requests.empty() && !x.requests.front().callback) x.requests.pop_front();
  ReceiveContext ctx(this, e);
  try {
    if (e->is_error) {
      Status s = std::move(*e->msg.As<Status>());
      cb(ctx, Result<Message>(std::move(s)));
    } else {
      cb(ctx, Result<Message>(std::move(e->msg)));
    }
  } catch (...) {
    pending_error_ = std::current_exception();
  }
  if (pending_error_) {
    std::exception_ptr error = std::move(pending_error_);
    pending_error_ = nullptr;
    HandleFailure(std::move(error), nullptr, nullptr);
  }
  FreeEnvelope(e);
}

void ActorCell::CheckRequestDeadlines() {
  Extra& x = extra();
  x.armed_deadline = TimePoint::max();
  TimePoint now = system_->Now();
  TimePoint earliest = TimePoint::max();
  // Collect first: a callback may start new requests (which appends).
  std::vector<std::pair<RequestCallback, bool>> expired;
  for (PendingRequest& r : x.requests) {
    if (!r.callback) continue;
    if (r.deadline <= now) {
      expired.emplace_back(std::move(r.callback), r.blocking);
      CompleteRequest(r);
    } else {
      earliest = std::min(earliest, r.deadline);
    }
  }
  while (!x.requests.empty() && !x.requests.front().callback) x.requests.pop_front();
  if (earliest != TimePoint::max()) ArmRequestTimer(earliest);
  for (auto& [cb, blocking] : expired) {
    if (life() != Life::kRunning) return;
    Envelope* e = NewEnvelope();
    ReceiveContext ctx(this, e);
    try {
      cb(ctx, Result<Message>(TimeoutError(
                  blocking ? "request timed out (reentrancy kStashNonReentrant: other messages, "
                             "including calls back to this actor, waited for the reply)"
                           : "request timed out")));
    } catch (...) {
      pending_error_ = std::current_exception();
    }
    FreeEnvelope(e);
    if (pending_error_) {
      std::exception_ptr error = std::move(pending_error_);
      pending_error_ = nullptr;
      HandleFailure(std::move(error), nullptr, nullptr);
    }
  }
}

// ---------------------------------------------------------------------------
// Supervision.

void ActorCell::HandleFailure(std::exception_ptr error, Envelope* request,
                              ActorCell* escalating_child) {
  failures_.fetch_add(1, std::memory_order_relaxed);
  system_->OnFailure();
  std::string what = DescribeError(error);
  if (request != nullptr && request->expects_reply()) {
    // ctx.Err(s) answers with s itself (as a grain's does); an exception
    // that is not an ActorError is kActorFailed.
    Status answer(StatusCode::kActorFailed, "actor " + name_ + " failed: " + what);
    try {
      std::rethrow_exception(error);
    } catch (const ActorError& e) {
      if (!e.status().ok()) answer = e.status();
    } catch (...) {
    }
    FailReply(request, answer);
  }
  if (system_->logger().Enabled(LogLevel::kWarn)) {
    system_->logger().Log(LogLevel::kWarn, "actor " + name_ + " failed: " + what);
  }
  std::optional<Directive> d = supervisor().Decide(error);
  if (!d) {
    Suspend("no supervisor rule for: " + what);
    return;
  }
  ApplyDirective(*d, error, escalating_child);
}

void ActorCell::ApplyDirective(Directive d, const std::exception_ptr& error,
                               ActorCell* escalating_child) {
  const Supervisor& sup = supervisor();
  switch (d) {
    case Directive::kResume:
      if (escalating_child != nullptr) escalating_child->PostSystem(SysKind::kReinstate);
      return;
    case Directive::kStop:
      if (sup.strategy() == Strategy::kOneForAll && parent_ != nullptr) {
        Envelope* e = NewEnvelope();
        e->sys = SysKind::kApplyToChildren;
        e->msg = Directive::kStop;
        parent_->PostSystem(e);
        life_.store(Life::kSuspended, std::memory_order_release);
        return;
      }
      BeginStop();
      return;
    case Directive::kRestart: {
      Extra& x = extra();
      TimePoint now = system_->Now();
      if (sup.max_retries() >= 0) {
        if (x.failures_in_window == 0 || now - x.window_start > sup.window()) {
          x.window_start = now;
          x.failures_in_window = 0;
          x.consecutive_restarts = 0;  // a quiet window resets the backoff
        }
        if (++x.failures_in_window > sup.max_retries()) {
          system_->logger().Log(LogLevel::kWarn,
                                "actor " + name_ + " exceeded its restart limit; stopping");
          BeginStop();
          return;
        }
      }
      if (sup.strategy() == Strategy::kOneForAll && parent_ != nullptr) {
        Envelope* e = NewEnvelope();
        e->sys = SysKind::kApplyToChildren;
        e->msg = Directive::kRestart;
        parent_->PostSystem(e);
        life_.store(Life::kSuspended, std::memory_order_release);
        return;
      }
      Duration delay{0};
      if (sup.backoff_initial().count() > 0) {
        delay = sup.backoff_initial();
        for (int i = 0; i < x.consecutive_restarts && delay < sup.backoff_max(); ++i) delay *= 2;
        delay = std::min(delay, std::max(sup.backoff_max(), sup.backoff_initial()));
      }
      x.consecutive_restarts++;
      if (delay.count() > 0) {
        life_.store(Life::kRestarting, std::memory_order_release);
        PID self = self_;
        uint64_t epoch = ++x.restart_epoch;
        system_->timers().Schedule(system_->Now() + delay, [self, epoch] {
          if (ActorCell* c = self.cell()) {
            Envelope* e = NewEnvelope();
            e->sys = SysKind::kRestart;
            e->request_id = epoch;
            c->PostSystem(e);
          }
        });
        return;
      }
      BeginRestart();
      return;
    }
    case Directive::kEscalate:
      life_.store(Life::kSuspended, std::memory_order_release);
      if (parent_ != nullptr) {
        Envelope* e = NewEnvelope();
        e->sys = SysKind::kFailure;
        e->msg = error;
        AddRef();
        e->sender = this;
        parent_->PostSystem(e);
      } else {
        BeginStop();
      }
      return;
  }
}

void ActorCell::Suspend(const std::string& reason) {
  life_.store(Life::kSuspended, std::memory_order_release);
  UnparkWaiters();
  system_->events().Publish(ActorSuspended{self_, reason});
}

void ActorCell::Reinstate() {
  life_.store(Life::kRunning, std::memory_order_release);
  system_->events().Publish(ActorReinstated{self_});
  Extra* x = extra_.load(std::memory_order_acquire);
  if (x != nullptr && !x->deferred.empty()) {
    std::vector<Envelope*> deferred;
    deferred.swap(x->deferred);
    for (Envelope* e : deferred) HandleSystem(e);
  }
}

// ---------------------------------------------------------------------------
// Lifecycle.

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
  x.children.push_back(PID::Adopt(child));
  return true;
}

bool ActorCell::DetachChildLocked(ActorCell* child) {
  Extra* x = extra_.load(std::memory_order_acquire);
  if (x == nullptr) return false;
  std::size_t i = child->index_in_parent_;
  if (i >= x->children.size() || x->children[i].cell() != child) return false;
  // O(1) swap-remove; the moved sibling learns its new index. The reference
  // dropped here is never the last: the child holds its own self_.
  if (i + 1 != x->children.size()) {
    x->children[i] = std::move(x->children.back());
    x->children[i].cell()->index_in_parent_ = static_cast<uint32_t>(i);
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
  for (const PID& c : children) c.cell()->PostSystem(SysKind::kStop);
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
  if (actor_ != nullptr) {
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

void ActorCell::FinishStop(bool run_post_stop) {
  if (actor_ != nullptr && run_post_stop) {
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
  actor_.reset();
  factory_ = nullptr;
  // Stop watching others (they need not tell a dead watcher).
  Extra* x = extra_.load(std::memory_order_acquire);
  if (x != nullptr) {
    for (const PID& w : x->watching) w.cell()->RemoveWatcher(this);
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

// ---------------------------------------------------------------------------
// Watch.

void ActorCell::AddWatcher(ActorCell* watcher) {
  {
    std::unique_lock<std::mutex> lock(StripeFor(this));
    if (life() != Life::kTerminated) {
      Extra& x = extra();
      if (std::find(x.watchers.begin(), x.watchers.end(), watcher) == x.watchers.end()) {
        watcher->AddRef();
        x.watchers.push_back(watcher);
      }
      lock.unlock();
      // A remote actor: its node is asked to say when it terminates.
      if (remote_) system_->RemoteWatched(this, true);
      return;
    }
  }
  // Already dead: Terminated at once.
  Extra* dead = extra_.load(std::memory_order_acquire);
  bool lost = dead != nullptr && dead->node_lost;
  Envelope* e = NewEnvelope();
  AddRef();
  e->msg = Terminated{PID::Adopt(this),
                      lost ? TerminationReason::kNodeLost : TerminationReason::kStopped};
  e->watch_notice = true;
  watcher->PostUser(e, /*force=*/true).IgnoreError();
}

void ActorCell::RemoveWatcher(ActorCell* watcher) {
  ActorCell* removed = nullptr;
  bool last_gone = false;
  {
    std::lock_guard<std::mutex> lock(StripeFor(this));
    Extra* x = extra_.load(std::memory_order_acquire);
    if (x == nullptr) return;
    auto it = std::find(x->watchers.begin(), x->watchers.end(), watcher);
    if (it == x->watchers.end()) return;
    removed = *it;
    x->watchers.erase(it);
    if (remote_ && x->watchers.empty()) last_gone = true;
  }
  removed->Release();
  if (last_gone) system_->RemoteWatched(this, false);
}

void ActorCell::Watch(ActorCell* target) {
  if (target == nullptr || target == this) return;
  Extra& x = extra();
  bool known = std::any_of(x.watching.begin(), x.watching.end(),
                           [target](const PID& p) { return p.cell() == target; });
  if (known) return;  // one Terminated per watch, however often Watch is called
  target->AddRef();
  x.watching.push_back(PID::Adopt(target));
  target->AddWatcher(this);
}

void ActorCell::Unwatch(ActorCell* target) {
  if (target == nullptr) return;
  Extra& x = extra();
  auto it = std::find_if(x.watching.begin(), x.watching.end(),
                         [target](const PID& p) { return p.cell() == target; });
  if (it != x.watching.end()) x.watching.erase(it);
  target->RemoveWatcher(this);
}

}  // namespace akt::internal
