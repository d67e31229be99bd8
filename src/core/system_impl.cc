#include "system_impl.h"

#include <functional>
#include <thread>

#include "cycle_clock.h"
#include "internal/access.h"
#include "names.h"
#include "turn_hooks.h"

namespace akt::internal {

namespace {

class RootActor final : public Actor {
 public:
  void Receive(ReceiveContext& ctx) override { ctx.Unhandled(); }
};

Status ErrorForDeadLetter(DeadLetterReason reason, std::string_view name) {
  switch (reason) {
    case DeadLetterReason::kNoSuchActor:
      return NotFoundError("no actor named " + std::string(name));
    case DeadLetterReason::kStopped:
      return StoppedError("actor " + std::string(name) + " stopped");
    case DeadLetterReason::kMailboxFull:
      return MailboxFullError("mailbox of " + std::string(name) + " is full");
    case DeadLetterReason::kUnhandled:
      return Status(StatusCode::kUnhandled, "actor " + std::string(name) + " did not handle it");
    case DeadLetterReason::kAskTimedOut:
      return TimeoutError("late reply");
    case DeadLetterReason::kUnreachable:
      return UnavailableError("the node of " + std::string(name) + " cannot be reached");
  }
  return Status(StatusCode::kInternal, "unknown dead letter reason");
}

}  // namespace

SystemImpl::SystemImpl(ActorSystem* owner, SystemOptions options)
    : owner_(owner), options_(std::move(options)), slots_(1024) {
  logger_ = options_.logger ? options_.logger : MakeStderrLogger(LogLevel::kWarn);
  address_prefix_ = "akt://" + options_.name + "/";
  if (options_.deterministic) {
    timers_ = MakeManualTimerService();
    dispatcher_ = MakeManualDispatcher();
  } else {
    timers_ = MakeThreadTimerService();
    DispatcherOptions d;
    d.workers = options_.workers;
    d.idle_spin = options_.idle_spin;
    dispatcher_ = MakeWorkStealingDispatcher(d);
  }
  scheduler_.reset(new Scheduler(this));
  SpawnOptions root_options;
  root_options.supervisor = std::make_shared<const Supervisor>(
      Supervisor().ClearRules().WithAnyErrorDirective(Directive::kResume));
  root_ = new ActorCell(
      this, 0, "akt.user", nullptr, [] { return std::unique_ptr<Actor>(new RootActor()); },
      root_options, options_.throughput);
  root_->is_root_ = true;
  root_holder_ = root_->self();
}

SystemImpl::~SystemImpl() = default;

Status SystemImpl::Start() {
  if (!ValidSystemName(options_.name)) {
    return InvalidArgumentError("actor system name '" + options_.name +
                                "' must be 1..255 letters, digits, '-' or '_'");
  }
  State expected = State::kNew;
  if (!state_.compare_exchange_strong(expected, State::kRunning)) {
    return FailedPreconditionError("actor system " + options_.name + " was already started");
  }
  started_at_ns_.store(SteadyNowNs(), std::memory_order_relaxed);
  if (!options_.deterministic) {
    nanos_per_tick_ = NanosPerCycle();
    touch_ticks_ = static_cast<int64_t>(1e8 / nanos_per_tick_);
  }
  passivation_.Start();
  dispatcher_->Start();
  Status s = root_->Start();
  return s;
}

Status SystemImpl::Stop() {
  if (InActorTurn() && !dispatcher_->deterministic()) {
    // Stop waits for every actor, this one included: it would wait forever.
    return FailedPreconditionError("ActorSystem::Stop called from inside an actor");
  }
  State expected = State::kRunning;
  if (state() == State::kRunning && !hooks_ran_.exchange(true)) {
    // Hooks run first (once), while every actor still works.
    hook_status_ = RunShutdownHooks();
  }
  if (!state_.compare_exchange_strong(expected, State::kStopping)) {
    if (expected == State::kNew) {
      state_.store(State::kStopped);
      dispatcher_->Stop();
      timers_->Stop();
      root_->life_.store(ActorCell::Life::kTerminated);
      root_->self_ = PID();  // the root never started; let it go
    }
    return Status();  // idempotent
  }
  scheduler_->Shutdown();  // nothing fires into stopping actors
  if (!Drain()) {
    logger_->Log(LogLevel::kWarn, "actor system " + options_.name +
                                      ": actors were still busy when drain_timeout passed; what "
                                      "is still queued goes to dead letters");
  }
  root_->PostSystem(SysKind::kStop);
  TimePoint deadline = Now() + options_.shutdown_timeout;
  bool stopped;
  if (dispatcher_->deterministic()) {
    while (!root_terminated_ && PumpUntil(deadline)) {
    }
    stopped = root_terminated_;
  } else {
    std::unique_lock<std::mutex> lock(stop_mu_);
    stopped = stop_cv_.wait_until(lock, Clock::now() + options_.shutdown_timeout,
                                  [this] { return root_terminated_; });
  }
  // Actors are gone: close the remoting layer (pending remote asks fail).
  services_.StopAll();
  // Nobody will answer now: fail every Ask still waiting.
  slots_.FailAll(SystemStoppedError("actor system " + options_.name + " stopped"));
  state_.store(State::kStopped, std::memory_order_seq_cst);
  if (!blocking_pool_.Stop(options_.shutdown_timeout)) {
    logger_->Log(LogLevel::kError, "actor system " + options_.name +
                                       ": blocking tasks outlived the shutdown timeout; their "
                                       "threads were detached");
  }
  passivation_.Stop();
  timers_->Stop();
  if (!stopped) {
    logger_->Log(LogLevel::kError, "actor system " + options_.name +
                                       ": actors did not stop within the shutdown timeout; "
                                       "waiting for running turns to end");
  }
  dispatcher_->Stop();  // joins the workers: a turn still running ends first
  if (!stopped) {
    DropQueuedOfUnstoppedActors();
    return TimeoutError("actors did not stop within the shutdown timeout");
  }
  return hook_status_;
}

bool SystemImpl::Drain() {
  if (options_.drain_timeout <= Duration::zero()) return true;
  if (dispatcher_->deterministic()) {
    // Nothing else runs turns: run until nothing is runnable (bounded like
    // DeterministicSystem::RunUntilIdle, against actors that never go quiet).
    for (int steps = 0; steps < 10'000'000; ++steps) {
      if (!dispatcher_->RunOne()) return true;
    }
    return false;
  }
  // Quiescent twice in a row, a moment apart: a message handed between
  // threads at the first look has shown up by the second.
  TimePoint until = Clock::now() + options_.drain_timeout;
  Duration pause = std::chrono::microseconds(20);
  int quiet = 0;
  for (;;) {
    quiet = Quiescent() ? quiet + 1 : 0;
    if (quiet == 2) return true;
    TimePoint now = Clock::now();
    if (now >= until) return false;
    std::this_thread::sleep_for(std::min(pause, until - now));  // shutdown only
    pause = std::min<Duration>(pause * 2, std::chrono::milliseconds(1));
  }
}

bool SystemImpl::Quiescent() const {
  // Walks the whole tree (unnamed actors too) at shutdown only, so the
  // message paths pay nothing for it; it also sees turns a remoting I/O
  // thread runs itself.
  std::vector<PID> todo = root_->Children();
  while (!todo.empty()) {
    PID pid = std::move(todo.back());
    todo.pop_back();
    if (!internal::CellOf(pid)->IdleForDrain()) return false;
    for (PID& child : internal::CellOf(pid)->Children()) todo.push_back(std::move(child));
  }
  return true;
}

void SystemImpl::DropQueuedOfUnstoppedActors() {
  // No turn runs any more (the workers are joined): every actor still in the
  // tree gave up before it could stop. Children before parents, each ends
  // without PostStop and its queued messages become dead letters.
  std::vector<PID> order;  // parents before children
  std::vector<PID> todo = root_->Children();
  while (!todo.empty()) {
    PID pid = std::move(todo.back());
    todo.pop_back();
    for (PID& child : internal::CellOf(pid)->Children()) todo.push_back(std::move(child));
    order.push_back(std::move(pid));
  }
  for (auto it = order.rbegin(); it != order.rend(); ++it)
    internal::CellOf(*it)->AbandonAfterStop();
  root_->AbandonAfterStop();
}

Status SystemImpl::SetRemoteHooks(std::shared_ptr<RemoteHooks> hooks) {
  if (state() != State::kRunning) {
    return FailedPreconditionError("remoting needs a running actor system");
  }
  if (remote_hooks() != nullptr) {
    return AlreadyExistsError("remoting is already enabled on this system");
  }
  return services_.Install(ServiceSlot::kRemote, std::move(hooks));
}

Duration SystemImpl::ask_spin(const ActorCell* target) const {
  if (target != nullptr && target->is_remote() && remote_ask_spin_ > options_.idle_spin) {
    return remote_ask_spin_;
  }
  return options_.idle_spin;
}

Status SystemImpl::RemotePost(ActorCell* proxy, Envelope* e) {
  RemoteHooks* hooks = remote_hooks();
  if (hooks == nullptr || state() == State::kStopped) {
    Status s = SystemStoppedError("remoting of " + options_.name + " is stopped");
    ActorCell::FailReply(e, s);
    FreeEnvelope(e);
    return s;
  }
  return hooks->Post(proxy, e);
}

void SystemImpl::RemoteControl(ActorCell* proxy, SysKind kind) {
  RemoteHooks* hooks = remote_hooks();
  if (hooks != nullptr && state() != State::kStopped) hooks->Control(proxy, kind);
}

Status SystemImpl::AddShutdownHook(std::string name, std::function<Status()> hook,
                                   ShutdownHookOptions options) {
  if (!hook) return InvalidArgumentError("shutdown hook " + name + " has no function");
  if (options.retries < 0) return InvalidArgumentError("shutdown hook retries must be >= 0");
  if (state() == State::kStopping || state() == State::kStopped) {
    return FailedPreconditionError("actor system " + options_.name + " is stopping");
  }
  std::lock_guard<std::mutex> lock(services_mu_);
  hooks_.push_back({std::move(name), std::move(hook), options});
  return Status();
}

Status SystemImpl::RunShutdownHooks() {
  std::vector<Hook> hooks;
  {
    std::lock_guard<std::mutex> lock(services_mu_);
    hooks = hooks_;
  }
  for (const Hook& h : hooks) {
    bool retry = h.options.recovery == HookRecovery::kRetryThenFail ||
                 h.options.recovery == HookRecovery::kRetryThenSkip;
    int attempts = 1 + (retry ? h.options.retries : 0);
    Status s;
    for (int i = 0; i < attempts; ++i) {
      try {
        s = h.fn();
      } catch (...) {
        s = Status(StatusCode::kInternal, DescribeError(std::current_exception()));
      }
      if (s.ok()) break;
      if (i + 1 < attempts && h.options.retry_delay.count() > 0) {
        std::this_thread::sleep_for(h.options.retry_delay);  // shutdown only, by request
      }
    }
    if (s.ok()) continue;
    bool skip = h.options.recovery == HookRecovery::kSkip ||
                h.options.recovery == HookRecovery::kRetryThenSkip;
    logger_->Log(LogLevel::kWarn, "shutdown hook " + h.name + " failed (" +
                                      (skip ? "skipped" : "shutdown hooks stop here") +
                                      "): " + s.ToString());
    if (!skip) return Status(s.code(), "shutdown hook " + h.name + ": " + s.message());
  }
  return Status();
}

Status SystemImpl::RegisterExtension(std::shared_ptr<Extension> extension) {
  return services_.AddExtension(std::move(extension));
}

std::shared_ptr<Extension> SystemImpl::GetExtension(std::string_view id) const {
  return services_.FindExtension(id);
}

Status SystemImpl::RegisterDependencyType(std::string type_name, DependencyFactory factory) {
  if (type_name.empty() || !factory) {
    return InvalidArgumentError("a dependency type needs a name and a factory");
  }
  std::lock_guard<std::mutex> lock(services_mu_);
  if (!dependency_types_.try_emplace(type_name, std::move(factory)).second) {
    return AlreadyExistsError("dependency type " + type_name + " is already registered");
  }
  return Status();
}

Result<std::shared_ptr<Dependency>> SystemImpl::RestoreDependency(std::string_view type_name,
                                                                  std::string_view bytes) const {
  DependencyFactory factory;
  {
    std::lock_guard<std::mutex> lock(services_mu_);
    auto it = dependency_types_.find(std::string(type_name));
    if (it == dependency_types_.end()) {
      return NotFoundError("no dependency type " + std::string(type_name) + " is registered");
    }
    factory = it->second;
  }
  return factory(bytes);
}

int64_t SystemImpl::ActivityNow() const {
  if (options_.deterministic) {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(Now().time_since_epoch()).count();
  }
  return static_cast<int64_t>(CycleNow());
}

Duration SystemImpl::TicksToDuration(int64_t ticks) const {
  return Duration(static_cast<int64_t>(static_cast<double>(ticks) * nanos_per_tick_));
}

SystemMetrics SystemImpl::Metrics() const {
  SystemMetrics m;
  m.actor_count = actor_count();
  m.spawned = spawned_.load(std::memory_order_relaxed);
  m.stopped = stopped_.load(std::memory_order_relaxed);
  m.passivated = passivated_.load(std::memory_order_relaxed);
  m.failures = failures_.load(std::memory_order_relaxed);
  m.restarts = restarts_.load(std::memory_order_relaxed);
  m.dead_letters = dead_letters();
  int64_t start = started_at_ns_.load(std::memory_order_relaxed);
  if (start != 0 && state() != State::kStopped) m.uptime = Duration(SteadyNowNs() - start);
  return m;
}

void SystemImpl::OnActorTerminated(ActorCell* cell) {
  if (cell == root_) {
    std::lock_guard<std::mutex> lock(stop_mu_);
    root_terminated_ = true;
    stop_cv_.notify_all();
    return;
  }
  scheduler_->OnActorTerminated(cell);  // its schedules end with it
  actors_.fetch_sub(1, std::memory_order_relaxed);
  stopped_.fetch_add(1, std::memory_order_relaxed);
}

SystemImpl::Shard& SystemImpl::ShardFor(std::string_view name) const {
  return shards_[std::hash<std::string_view>()(name) % kShards];
}

Result<PID> SystemImpl::Spawn(ActorCell* parent, std::string name, ActorFactory factory,
                              const SpawnOptions& options, bool validate_name) {
  if (state() != State::kRunning) {
    return state() == State::kNew
               ? FailedPreconditionError("actor system " + options_.name + " is not started")
               : SystemStoppedError("actor system " + options_.name + " is stopping");
  }
  if (!factory) return InvalidArgumentError("spawn needs an actor factory");
  bool named = !name.empty();
  if (named && validate_name) {
    if (Status s = ValidateActorName(name); !s.ok()) return s;
  }
  if (options.mailbox.kind == MailboxKind::kBounded && options.mailbox.capacity == 0) {
    return InvalidArgumentError("a bounded mailbox needs a capacity > 0");
  }
  if (options.mailbox.kind == MailboxKind::kPriority && !options.mailbox.before) {
    return InvalidArgumentError("a priority mailbox needs a comparator");
  }
  uint64_t id = next_id_.fetch_add(1, std::memory_order_relaxed) + 1;
  if (!named) name = "$" + std::to_string(id);
  if (parent == nullptr) parent = root_;
  auto* cell = new ActorCell(this, id, std::move(name), parent, std::move(factory), options,
                             options_.throughput);
  if (named) {
    Shard& shard = ShardFor(cell->name());
    std::lock_guard<std::mutex> lock(shard.mu);
    auto [it, inserted] = shard.names.try_emplace(cell->name(), cell);
    if (!inserted && it->second->life() == ActorCell::Life::kTerminated) {
      // The holder has terminated and is about to unregister (FinishStop marks
      // it terminated first): the name is free, as Lookup already says. Its
      // Unregister erases only an entry that still names it, so not ours.
      it->second = cell;
      inserted = true;
    }
    if (!inserted) {
      std::string taken = cell->name();
      cell->life_.store(ActorCell::Life::kTerminated);
      cell->self_ = PID();  // frees the cell
      return AlreadyExistsError("an actor named " + taken + " already exists");
    }
  }
  // A top-level name is the cluster's too: claimed before the actor starts.
  NameHooks* cluster = named && validate_name && parent == root_ ? name_hooks() : nullptr;
  if (cluster != nullptr) {
    if (Status claimed = cluster->ClaimName(cell->name()); !claimed.ok()) {
      Unregister(cell, /*release=*/false);
      cell->life_.store(ActorCell::Life::kTerminated);
      cell->self_ = PID();
      return claimed;
    }
  }
  if (!parent->AttachChild(cell)) {
    Unregister(cell);
    cell->life_.store(ActorCell::Life::kTerminated);
    cell->self_ = PID();
    return StoppedError("the parent is stopping; cannot spawn a child");
  }
  PID pid = cell->self_;
  Status s = cell->Start();
  if (!s.ok()) {
    // Detach from the parent and the registry; the PID we hold frees it.
    Unregister(cell);
    {
      std::lock_guard<std::mutex> lock(StripeFor(parent));
      parent->DetachChildLocked(cell);
    }
    cell->self_ = PID();
    return s;
  }
  return pid;
}

void SystemImpl::Unregister(ActorCell* cell, bool release) {
  if (cell == root_ || cell->name().empty() || cell->name()[0] == '$') return;
  bool erased = false;
  {
    Shard& shard = ShardFor(cell->name());
    std::lock_guard<std::mutex> lock(shard.mu);
    auto it = shard.names.find(cell->name());
    if (it != shard.names.end() && it->second == cell) {
      shard.names.erase(it);
      erased = true;
    }
  }
  // Only the holder of the name releases it (the cluster ignores names it
  // never claimed: children, internal names).
  if (erased && release && cell->parent() == root_) {
    if (NameHooks* cluster = name_hooks()) cluster->ReleaseName(cell->name());
  }
}

Result<PID> SystemImpl::LookupAnywhere(std::string_view name) const {
  Result<PID> here = Lookup(name);
  if (here.ok()) return here;
  NameHooks* cluster = name_hooks();
  if (cluster == nullptr) return here;
  return cluster->ResolveName(name);
}

Result<PID> SystemImpl::Lookup(std::string_view name) const {
  Shard& shard = ShardFor(name);
  std::lock_guard<std::mutex> lock(shard.mu);
  auto it = shard.names.find(std::string(name));
  if (it == shard.names.end()) return NotFoundError("no actor named " + std::string(name));
  ActorCell* c = it->second;
  if (c->life() == ActorCell::Life::kTerminated) {
    return NotFoundError("no actor named " + std::string(name));
  }
  return c->self();
}

namespace {
bool PumpThunk(void* arg) {
  auto* p = static_cast<std::pair<SystemImpl*, TimePoint>*>(arg);
  return p->first->PumpUntil(p->second);
}
}  // namespace

void SystemImpl::PauseTurn(Duration d) const {
  if (!options_.deterministic && d > Duration::zero()) std::this_thread::sleep_for(d);
}

bool SystemImpl::PumpUntil(TimePoint deadline) {
  if (pump_) return pump_(deadline);
  return PumpOwn(deadline);
}

bool SystemImpl::PumpOwn(TimePoint deadline) {
  if (dispatcher_->RunOne()) return true;
  TimePoint next = timers_->NextDeadline();
  if (next <= deadline && next != TimePoint::max()) {
    timers_->Advance(next - timers_->Now());
    return true;
  }
  if (timers_->Now() < deadline) timers_->Advance(deadline - timers_->Now());
  return false;
}

Result<Message> SystemImpl::AwaitReply(ReplySlot* slot, TimePoint deadline, Duration spin) {
  if (dispatcher_->deterministic()) {
    // Nothing runs unless this thread runs it: pump until answered.
    std::pair<SystemImpl*, TimePoint> arg{this, deadline};
    return slot->Wait(deadline, Duration::zero(), &PumpThunk, &arg);
  }
  return slot->Wait(deadline, spin);
}

Result<Message> SystemImpl::BlockingCallImpl(std::string_view what, std::string_view whom,
                                             std::string_view instead, Duration timeout,
                                             Duration spin, void (*send)(void*, ReplySlot*),
                                             void* send_arg) {
  auto name = [&] { return std::string(what) + std::string(whom); };
  if (timeout <= Duration::zero())
    return InvalidArgumentError(name() + " needs a positive timeout");
  if (InActorTurn()) {
    return FailedPreconditionError("blocking " + name() + " from inside an actor; use " +
                                   std::string(instead));
  }
  ReplySlot* slot = slots_.Acquire();  // two references: the answerer's and ours
  TimePoint deadline = Now() + timeout;
  send(send_arg, slot);
  Result<Message> r = AwaitReply(slot, deadline, spin);
  slot->Release();
  if (!r.ok() && r.status().code() == StatusCode::kTimeout) {
    return TimeoutError(name() + " timed out");
  }
  return r;
}

Result<Message> SystemImpl::Ask(ActorCell* target, Message msg, Duration timeout) {
  if (target == nullptr) return NotFoundError("ask to an empty PID");
  if (state() == State::kStopped) {
    return SystemStoppedError("actor system " + options_.name + " stopped");
  }
  return BlockingCall("ask to ", target->name(), "ctx.Request(...).Then(...)", timeout,
                      ask_spin(target), [&](ReplySlot* slot) {
                        Envelope* e = NewEnvelope();
                        e->msg = std::move(msg);
                        e->reply_kind = ReplyKind::kSlot;
                        e->slot = slot;  // the envelope's reference
                        SendDeadline d(target->is_remote() ? NowNs() + ToNs(timeout) : 0);
                        target->PostUser(e).IgnoreError();  // a refusal already failed the slot
                      });
}

std::vector<Result<Message>> SystemImpl::BatchAsk(ActorCell* target, std::vector<Message> msgs,
                                                  Duration timeout) {
  std::vector<Result<Message>> out;
  out.reserve(msgs.size());
  if (target == nullptr || timeout <= Duration::zero() || InActorTurn()) {
    Status err = target == nullptr ? NotFoundError("ask to an empty PID")
                 : timeout <= Duration::zero()
                     ? InvalidArgumentError("ask needs a positive timeout")
                     : FailedPreconditionError("blocking BatchAsk from inside an actor");
    for (std::size_t i = 0; i < msgs.size(); ++i) out.emplace_back(err);
    return out;
  }
  TimePoint deadline = Now() + timeout;
  std::vector<ReplySlot*> slots;
  slots.reserve(msgs.size());
  {
    DeferWrites batch;  // a remote target gets the whole batch in one write
    SendDeadline d(target->is_remote() ? NowNs() + ToNs(timeout) : 0);
    for (Message& m : msgs) {
      ReplySlot* slot = slots_.Acquire();
      Envelope* e = NewEnvelope();
      e->msg = std::move(m);
      e->reply_kind = ReplyKind::kSlot;
      e->slot = slot;
      slots.push_back(slot);
      target->PostUser(e).IgnoreError();
    }
  }
  for (ReplySlot* slot : slots) {
    out.push_back(AwaitReply(slot, deadline, ask_spin(target)));
    slot->Release();
  }
  return out;
}

void SystemImpl::DeadLetter(Envelope* e, DeadLetterReason reason, ActorCell* recipient,
                            std::string_view recipient_name) {
  dead_letters_[static_cast<int>(reason)].fetch_add(1, std::memory_order_relaxed);
  if (e->expects_reply()) ActorCell::FailReply(e, ErrorForDeadLetter(reason, recipient_name));
  std::string_view type_name = e->msg.TypeName();
  if (logger_->Enabled(LogLevel::kWarn)) {
    LogDeadLetter(std::string(recipient_name), reason, type_name);
  }
  // A dead letter raised while publishing one (a subscriber actor that is
  // itself gone) is counted but not published again: no feedback loop.
  static thread_local bool publishing = false;
  if (events_.has_subscribers() && !publishing) {
    publishing = true;
    akt::DeadLetter d;
    if (recipient != nullptr) {
      // Not recipient->self(): a terminated cell has dropped its self
      // reference, and letters to stopped actors would name nobody. The
      // caller holds a reference to the cell for the length of this call.
      recipient->AddRef();
      d.recipient = internal::AdoptCell(recipient);
    }
    d.recipient_name = std::string(recipient_name);
    if (e->sender != nullptr) {
      e->sender->AddRef();
      d.sender = internal::AdoptCell(e->sender);
    }
    d.reason = reason;
    d.type_name = std::string(type_name);
    d.message = std::make_shared<const Message>(std::move(e->msg));
    events_.Publish(std::move(d));
    publishing = false;
  }
  FreeEnvelope(e);
}

void SystemImpl::LogDeadLetter(const std::string& recipient, DeadLetterReason reason,
                               std::string_view type_name) {
  // At most one line per second; the rest are counted into the next line.
  int64_t now = SteadyNowNs();
  int64_t window = dead_letter_log_window_.load(std::memory_order_relaxed);
  if (now - window < 1000000000 || !dead_letter_log_window_.compare_exchange_strong(window, now)) {
    dead_letter_suppressed_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  uint64_t suppressed = dead_letter_suppressed_.exchange(0, std::memory_order_relaxed);
  std::string line = "dead letter: " + std::string(type_name) + " to " + recipient + " (" +
                     std::string(DeadLetterReasonName(reason)) + ")";
  if (suppressed > 0) line += "; " + std::to_string(suppressed) + " more not logged";
  logger_->Log(LogLevel::kWarn, line);
}

uint64_t SystemImpl::dead_letters() const {
  uint64_t n = 0;
  for (const auto& c : dead_letters_) n += c.load(std::memory_order_relaxed);
  return n;
}

uint64_t SystemImpl::dead_letters(DeadLetterReason r) const {
  return dead_letters_[static_cast<int>(r)].load(std::memory_order_relaxed);
}

SystemImpl* SystemOf(const PID& pid) {
  return internal::CellOf(pid) ? internal::CellOf(pid)->system() : nullptr;
}

}  // namespace akt::internal
