#include <akt/grain.h>
#include <akt/pipe_to.h>
#include <akt/system.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <exception>
#include <thread>

#include "actor_cell.h"
#include "grain_registry.h"
#include "names.h"
#include "internal/access.h"
#include "reply_slot.h"
#include "system_impl.h"

namespace akt {

// ---------------------------------------------------------------------------
// Identity.

namespace {
bool KindChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '.' || c == '-';
}
bool NameChar(char c) { return KindChar(c) || c == ':' || c == '@' || c == '=' || c == '+'; }
}  // namespace

Result<GrainIdentity> GrainIdentity::Make(std::string_view kind, std::string_view name) {
  if (kind.empty() || name.empty()) {
    return InvalidArgumentError("a grain identity needs a kind and a name");
  }
  if (kind.size() > 63) return InvalidArgumentError("a grain kind has at most 63 characters");
  if (kind.size() + 1 + name.size() > 255) {
    return InvalidArgumentError("a grain identity (kind/name) has at most 255 characters");
  }
  for (char c : kind) {
    if (!KindChar(c)) {
      return InvalidArgumentError("grain kind '" + std::string(kind) +
                                  "' may use only letters, digits, '_', '.', '-'");
    }
  }
  for (char c : name) {
    if (!NameChar(c)) {
      return InvalidArgumentError("grain name '" + std::string(name) +
                                  "' may use only letters, digits and _ . - : @ = +");
    }
  }
  std::string text;
  text.reserve(kind.size() + 1 + name.size());
  text.append(kind).push_back('/');
  text.append(name);
  return GrainIdentity(std::move(text), kind.size());
}

Result<GrainIdentity> GrainIdentity::Parse(std::string_view text) {
  std::size_t slash = text.find('/');
  if (slash == std::string_view::npos) {
    return InvalidArgumentError(internal::Quoted(text) + " is not kind/name");
  }
  return Make(text.substr(0, slash), text.substr(slash + 1));
}

// ---------------------------------------------------------------------------
// Context pool.

struct GrainContext::Slot {
  ReceiveContext* rc = nullptr;  // null while not in a call
  const GrainIdentity* id = nullptr;
  uint64_t generation = 0;
  Slot* next_free = nullptr;
};

namespace {

std::atomic<uint64_t> g_slots_created{0};
std::atomic<uint64_t> g_slots_reused{0};

// Per thread: slots are never freed while the thread lives (a stale context
// only ever sees a bumped generation), and a thread needs one per nested
// call, so the pool is bounded by threads x nesting depth.
struct SlotPool {
  GrainContext::Slot* free = nullptr;
  std::vector<std::unique_ptr<GrainContext::Slot>> owned;
  GrainContext::Slot* Acquire() {
    if (free != nullptr) {
      GrainContext::Slot* s = free;
      free = s->next_free;
      g_slots_reused.fetch_add(1, std::memory_order_relaxed);
      return s;
    }
    owned.push_back(std::make_unique<GrainContext::Slot>());
    g_slots_created.fetch_add(1, std::memory_order_relaxed);
    return owned.back().get();
  }
  void Release(GrainContext::Slot* s) {
    s->rc = nullptr;
    s->generation++;
    s->next_free = free;
    free = s;
  }
};
thread_local SlotPool t_slots;

const PID kNoPid;
Message kNoMessage;

Status Stale() {
  return FailedPreconditionError("this GrainContext belongs to a call that has returned");
}

}  // namespace

GrainContextPoolStats GetGrainContextPoolStats() {
  return {g_slots_created.load(), g_slots_reused.load()};
}

bool GrainContext::valid() const {
  return slot_ != nullptr && slot_->rc != nullptr && slot_->generation == generation_;
}
ReceiveContext& GrainContext::raw() const { return *slot_->rc; }
const GrainIdentity& GrainContext::self() const { return *slot_->id; }
ActorSystem& GrainContext::system() const { return slot_->rc->system(); }
Logger& GrainContext::logger() const { return slot_->rc->logger(); }
const Message& GrainContext::message() const { return valid() ? slot_->rc->message() : kNoMessage; }
Message& GrainContext::message() { return valid() ? slot_->rc->message() : kNoMessage; }
const PID& GrainContext::sender() const { return valid() ? slot_->rc->sender() : kNoPid; }

Status GrainContext::Reply(Message reply) {
  if (!valid()) return Stale();
  return slot_->rc->Reply(std::move(reply));
}

void GrainContext::Err(Status error) {
  if (!valid()) return;
  internal::Envelope* e = internal::EnvelopeOf(*slot_->rc);
  if (e->expects_reply()) {
    internal::ActorCell::FailReply(e, std::move(error));
  } else if (e->reply_kind != internal::ReplyKind::kAnswered) {
    slot_->rc->logger().Log(
        LogLevel::kDebug,
        "grain " + slot_->id->String() + " reported an error for a tell: " + error.ToString());
  }
}

void GrainContext::NoErr() {
  if (!valid()) return;
  internal::Envelope* e = internal::EnvelopeOf(*slot_->rc);
  if (e->expects_reply()) slot_->rc->Reply(Message()).IgnoreError();
}

void GrainContext::Unhandled() {
  if (valid()) slot_->rc->Unhandled();
}

Status GrainContext::TellGrain(const GrainIdentity& id, Message msg) {
  if (!valid()) return Stale();
  internal::ActorCell* self = internal::CellOf(slot_->rc->self());
  internal::Envelope* e = internal::NewEnvelope();
  e->msg = std::move(msg);
  self->AddRef();
  e->sender = self;
  return internal::GrainRegistry::Of(self->system())->Deliver(id, e);
}

RequestBuilder GrainContext::RequestGrain(const GrainIdentity& id, Message msg, Duration timeout) {
  if (!valid()) return RequestBuilder(nullptr, PID(), std::move(msg), timeout);  // dropped
  // An unknown kind: the request goes to an empty PID and its continuation
  // gets kNotFound. A timeout <= 0 is refused before anything is activated.
  Result<PID> pid = timeout > Duration::zero() ? system().GrainOf(id) : Result<PID>(PID());
  return slot_->rc->Request(pid.ok() ? *pid : PID(), std::move(msg), timeout);
}

Status GrainContext::Tell(const PID& to, Message msg) {
  if (!valid()) return Stale();
  return slot_->rc->Tell(to, std::move(msg));
}

RequestBuilder GrainContext::Request(const PID& to, Message msg, Duration timeout) {
  if (!valid()) return RequestBuilder(nullptr, PID(), std::move(msg), timeout);  // dropped
  return slot_->rc->Request(to, std::move(msg), timeout);
}

Status GrainContext::PipeToGrain(const GrainIdentity& id, std::function<Result<Message>()> task) {
  if (!valid()) return Stale();
  Result<PID> pid = system().GrainOf(id);
  if (!pid.ok()) return pid.status();
  return akt::PipeTo(*slot_->rc, *pid, std::move(task));
}

Status GrainContext::PipeTo(const PID& to, std::function<Result<Message>()> task) {
  if (!valid()) return Stale();
  return akt::PipeTo(*slot_->rc, to, std::move(task));
}

std::shared_ptr<Dependency> GrainContext::GetDependency(std::string_view id) const {
  return valid() ? slot_->rc->GetDependency(id) : nullptr;
}
std::shared_ptr<Extension> GrainContext::GetExtension(std::string_view id) const {
  return valid() ? slot_->rc->system().GetExtension(id) : nullptr;
}

ActorSystem& GrainActivation::system() const { return ctx_->system(); }
Logger& GrainActivation::logger() const { return ctx_->logger(); }
std::shared_ptr<Dependency> GrainActivation::GetDependency(std::string_view id) const {
  return ctx_->GetDependency(id);
}
std::shared_ptr<Extension> GrainActivation::GetExtension(std::string_view id) const {
  return ctx_->system().GetExtension(id);
}

namespace {

uint64_t Mix64(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdull;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ull;
  x ^= x >> 33;
  return x;
}

uint64_t LoadLe(const unsigned char* p, std::size_t n) {
  uint64_t v = 0;
  for (std::size_t i = 0; i < n; ++i) v |= static_cast<uint64_t>(p[i]) << (8 * i);
  return v;
}

}  // namespace

uint64_t StableHash64(std::string_view bytes) {
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  const std::size_t n = bytes.size();
  uint64_t h = 0x9E3779B97F4A7C15ull ^ (static_cast<uint64_t>(n) * 0xC2B2AE3D27D4EB4Full);
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) h = Mix64(h ^ LoadLe(p + i, 8));
  return Mix64(h ^ LoadLe(p + i, n - i) ^ (static_cast<uint64_t>(n - i) << 56));
}

namespace internal {

namespace {}  // namespace

// What every activation of a kind shares (one per kind, or one per explicit
// options given to GrainOf).
struct GrainConfig {
  GrainFactory factory;
  GrainOptions options;
};

namespace {

// The actor behind one activation of a grain.
class GrainActor final : public Actor {
 public:
  GrainActor(GrainRegistry* registry, GrainIdentity id, std::shared_ptr<const GrainConfig> config)
      : registry_(registry),
        id_(std::move(id)),
        config_(std::move(config)),
        factory_(config_->factory),
        options_(config_->options) {}

  Status PreStart(Context& ctx) override {
    cell_ = internal::CellOf(ctx.self());
    GrainRegistry* registry = registry_;
    GrainIdentity id = id_;
    ActorCell* cell = cell_;
    // Messages still queued when this activation ends go to the next one,
    // in order; only then is this activation forgotten (until then, senders
    // still find it and queue behind them). A failed activation replaces
    // this hook: its messages then fail with the activation error.
    cell_->SetDrainHook([registry, id, cell](Envelope* e) {
      if (e == nullptr) {
        registry->Forget(id, cell);
      } else {
        registry->Deliver(id, e).IgnoreError();
      }
    });
    return Status();
  }

  void Receive(ReceiveContext& rc) override {
    // The activation runs on the first message, in this actor's own turn:
    // Spawn returns at once and later messages queue behind this one.
    if (!activated_ && !failed_) Activate(rc);
    if (failed_) {
      if (internal::EnvelopeOf(rc)->expects_reply())
        ActorCell::FailReply(internal::EnvelopeOf(rc), activation_error_);
      return;
    }
    GrainContext::Slot* slot = t_slots.Acquire();
    slot->rc = &rc;
    slot->id = &id_;
    GrainContext gctx(slot, slot->generation);
    try {
      grain_->OnReceive(gctx);
    } catch (...) {
      // A typed error to the caller; the grain keeps its state and goes on.
      Envelope* e = internal::EnvelopeOf(rc);
      if (e->expects_reply()) {
        ActorCell::FailReply(e, Status(StatusCode::kActorFailed,
                                       "grain " + id_.String() +
                                           " failed: " + DescribeError(std::current_exception())));
      } else {
        rc.logger().Log(LogLevel::kWarn, "grain " + id_.String() + " failed on a tell: " +
                                             DescribeError(std::current_exception()));
      }
    }
    t_slots.Release(slot);
  }

  Status PostStop(Context& ctx) override {
    if (activated_ && grain_) {
      // The cell's passivation cause (0 none, 1 idle, 2 evicted, 3 asked,
      // 4 handing off) as the grain's reason; none: the system is stopping.
      static constexpr DeactivationReason kByCause[] = {
          DeactivationReason::kStopping, DeactivationReason::kIdle, DeactivationReason::kEvicted,
          DeactivationReason::kRequested, DeactivationReason::kHandingOff};
      uint8_t cause = cell_->passivation_cause();
      DeactivationReason reason = cause < std::size(kByCause) ? kByCause[cause]
                                                              : DeactivationReason::kStopping;
      GrainActivation a(&ctx, &id_, cell_->system()->Now() + options_.activation_timeout, reason);
      Status s;
      try {
        s = grain_->OnDeactivate(a);
      } catch (...) {
        s = Status(StatusCode::kActorFailed,
                   "OnDeactivate threw: " + DescribeError(std::current_exception()));
      }
      if (!s.ok() && reason != DeactivationReason::kRequested &&
          reason != DeactivationReason::kHandingOff) {
        ctx.logger().Log(LogLevel::kWarn, "OnDeactivate of grain " + id_.String() + " (" +
                                              std::string(DeactivationReasonName(reason)) +
                                              "): " + s.ToString());
      }
      cell_->set_stop_status(std::move(s));  // to the caller that asked, if one did
    }
    grain_.reset();
    // The directory forgets this activation once its mailbox is drained (the
    // drain hook); a sender that finds it terminated activates a new one.
    return Status();
  }

 private:
  void Activate(ReceiveContext& rc) {
    Status last;
    int attempts = 1 + std::max(0, options_.activation_retries);
    for (int i = 0; i < attempts; ++i) {
      if (i > 0) cell_->system()->PauseTurn(options_.activation_backoff);
      std::unique_ptr<Grain> g;
      try {
        g = factory_();
      } catch (...) {
        last = Status(StatusCode::kActivationFailed,
                      "grain factory threw: " + DescribeError(std::current_exception()));
        continue;
      }
      if (!g) {
        last = Status(StatusCode::kActivationFailed, "the grain factory returned null");
        continue;
      }
      TimePoint start = cell_->system()->Now();
      GrainActivation a(&rc, &id_, start + options_.activation_timeout);
      try {
        last = g->OnActivate(a);
      } catch (...) {
        last = Status(StatusCode::kActivationFailed,
                      "OnActivate threw: " + DescribeError(std::current_exception()));
      }
      if (last.ok() && cell_->system()->Now() - start > options_.activation_timeout) {
        last = TimeoutError("OnActivate took longer than the activation timeout");
      }
      if (last.ok()) {
        grain_ = std::move(g);
        activated_ = true;
        return;
      }
    }
    failed_ = true;
    activation_error_ = Status(StatusCode::kActivationFailed,
                               "grain " + id_.String() + " failed to activate after " +
                                   std::to_string(attempts) + " attempt(s): " + last.ToString());
    rc.logger().Log(LogLevel::kWarn, activation_error_.message());
    // Queued messages fail with the activation error; the next message to
    // this identity tries a new activation.
    Status error = activation_error_;
    SystemImpl* sys = cell_->system();
    GrainIdentity id = id_;
    GrainRegistry* registry = registry_;
    ActorCell* cell = cell_;
    cell_->SetDrainHook([error, sys, id, registry, cell](Envelope* e) {
      if (e == nullptr) {
        registry->Forget(id, cell);
        return;
      }
      ActorCell::FailReply(e, error);
      sys->DeadLetter(e, DeadLetterReason::kStopped, nullptr, id.String());
    });
    rc.self().Stop();
  }

  GrainRegistry* registry_;
  GrainIdentity id_;
  std::shared_ptr<const GrainConfig> config_;  // shared by the kind's activations
  const GrainFactory& factory_;
  const GrainOptions& options_;
  bool failed_ = false;
  Status activation_error_;
  std::unique_ptr<Grain> grain_;
  bool activated_ = false;
  ActorCell* cell_ = nullptr;
};

std::shared_ptr<GrainRegistry> MakeRegistry(SystemImpl* sys) {
  return std::make_shared<GrainRegistry>(sys);
}

SpawnOptions GrainSpawnOptions(const GrainOptions& opts) {
  SpawnOptions so;
  if (opts.mailbox_capacity > 0) so.mailbox = MailboxSpec::Bounded(opts.mailbox_capacity);
  if (!opts.long_lived) so.passivation = PassivationStrategy::TimeBased(opts.deactivate_after);
  so.dependencies = opts.dependencies;
  // A failure stays with the caller; the grain keeps its state (GrainActor
  // catches what OnReceive throws, so this rule is for akt's own errors).
  static const auto kResume = std::make_shared<const Supervisor>(
      Supervisor().ClearRules().WithAnyErrorDirective(Directive::kResume));
  so.supervisor = kResume;
  return so;
}

}  // namespace

GrainRegistry* GrainRegistry::Of(SystemImpl* sys) {
  return sys->services().GetOrInstall(ServiceSlot::kGrains, &MakeRegistry, sys);
}

Status GrainRegistry::RegisterKind(std::string kind, GrainFactory factory, GrainOptions defaults) {
  if (!factory) return InvalidArgumentError("grain kind " + kind + " has no factory");
  Result<GrainIdentity> probe = GrainIdentity::Make(kind, "x");
  if (!probe.ok()) return probe.status();
  std::lock_guard<std::mutex> lock(mu_);
  SpawnOptions so = GrainSpawnOptions(defaults);
  auto config = std::make_shared<const GrainConfig>(GrainConfig{factory, defaults});
  if (!kinds_
           .emplace(std::move(kind),
                    Kind{std::move(factory), std::move(defaults), std::move(so), std::move(config)})
           .second) {
    return AlreadyExistsError("grain kind " + std::string(probe->kind()) +
                              " is already registered");
  }
  return Status();
}

bool GrainRegistry::HasKind(std::string_view kind) {
  std::lock_guard<std::mutex> lock(mu_);
  return kinds_.count(std::string(kind)) != 0;
}

Result<PID> GrainRegistry::GetOrActivate(const GrainIdentity& id, const GrainOptions* options) {
  Shard& shard = ShardFor(id.hash());
  std::lock_guard<std::mutex> lock(shard.mu);
  Result<ActorCell*> cell = GetOrActivateLocked(shard, id, options);
  if (!cell.ok()) return cell.status();
  (*cell)->AddRef();
  return internal::AdoptCell(*cell);
}

Status GrainRegistry::SetDirectory(std::shared_ptr<GrainDirectory> directory) {
  std::lock_guard<std::mutex> lock(mu_);
  if (activated_.load()) {
    return FailedPreconditionError("grains are already active: install the directory first");
  }
  directory_ = std::move(directory);
  directory_raw_.store(directory_.get(), std::memory_order_release);
  return Status();
}

Result<ActorCell*> GrainRegistry::GetOrActivateLocked(Shard& shard, const GrainIdentity& id,
                                                      const GrainOptions* options,
                                                      std::string_view from) {
  auto it = shard.map.find(Key{id.String(), id.hash()});
  if (it != shard.map.end()) {
    if (internal::CellOf(it->second->pid)->life() != ActorCell::Life::kTerminated) {
      return internal::CellOf(it->second->pid);
    }
    shard.map.erase(it);  // its Forget is on the way
  }
  const std::string& key = id.String();
  std::shared_ptr<const GrainConfig> config;
  GrainOptions opts;
  SpawnOptions so;
  uint64_t activations = 1;
  {
    std::lock_guard<std::mutex> klock(mu_);
    auto k = kinds_.find(std::string(id.kind()));
    if (k == kinds_.end()) {
      return NotFoundError("no grain kind '" + std::string(id.kind()) + "' is registered");
    }
    opts = options != nullptr ? *options : k->second.defaults;
    so = options != nullptr ? GrainSpawnOptions(*options) : k->second.spawn;
    config = options != nullptr
                 ? std::make_shared<const GrainConfig>(GrainConfig{k->second.factory, *options})
                 : k->second.config;
    // The relocation flag sticks to the identity: once disabled, every later
    // activation keeps it, whatever options it is given. Only such pinned
    // identities keep a record after they deactivate (memory returns for
    // all the others).
    if (opts.disable_relocation || !records_.empty()) {
      auto r = records_.find(key);
      if (r == records_.end() && opts.disable_relocation) r = records_.emplace(key, Record{}).first;
      if (r != records_.end()) {
        r->second.disable_relocation = true;
        opts.disable_relocation = true;
        activations = ++r->second.activations;
      }
    }
  }
  uint64_t epoch = 0;
  if (GrainDirectory* dir = directory()) {
    GrainPlacement owner;
    Result<uint64_t> claim = dir->Claim(id, opts, from, &owner);
    if (claim.ok()) {
      epoch = *claim;
    } else if (claim.status().code() == StatusCode::kAlreadyExists && owner.target) {
      // Served by (or decided on) another node: its PID takes the message —
      // also one sent here by name of this node, so there is one activation.
      return internal::CellOf(owner.target);
    } else {
      return claim.status();  // e.g. kUnavailable while the directory moves it: retryable
    }
  }
  if (!activated_.load(std::memory_order_relaxed))
    activated_.store(true, std::memory_order_relaxed);
  GrainRegistry* self = this;
  // Anonymous: the registry is the grains' directory (no name registration).
  Result<PID> pid = sys_->Spawn(
      nullptr, std::string(),
      [self, id, config]() -> std::unique_ptr<Actor> {
        return std::make_unique<GrainActor>(self, id, config);
      },
      so, /*validate_name=*/false);
  if (!pid.ok()) {
    if (GrainDirectory* dir = directory()) dir->Release(id, epoch);
    return pid.status();
  }
  auto entry = std::make_unique<Entry>(
      Entry{*pid, id, epoch, static_cast<uint32_t>(std::min<uint64_t>(activations, UINT32_MAX)),
            opts.disable_relocation});
  Key k{entry->id.String(), entry->id.hash()};
  ActorCell* cell = internal::CellOf(*pid);
  shard.map.emplace(k, std::move(entry));
  return cell;
}

void GrainRegistry::Forget(const GrainIdentity& id, ActorCell* cell) {
  Shard& shard = ShardFor(id.hash());
  std::lock_guard<std::mutex> lock(shard.mu);
  auto it = shard.map.find(Key{id.String(), id.hash()});
  if (it != shard.map.end() && internal::CellOf(it->second->pid) == cell) {
    if (GrainDirectory* dir = directory()) dir->Release(id, it->second->epoch);
    shard.map.erase(it);
  }
}

Status GrainRegistry::Deliver(const GrainIdentity& id, Envelope* e, std::string_view from) {
  GrainDirectory* dir = from.empty() ? directory() : nullptr;
  if (dir != nullptr) {
    Result<GrainPlacement> place = dir->Resolve(id);
    if (!place.ok()) {
      ActorCell::FailReply(e, place.status());
      sys_->DeadLetter(e, DeadLetterReason::kNoSuchActor, nullptr, id.String());
      return place.status();
    }
    if (place->where == GrainPlacement::Where::kRemote && place->target) {
      // Another node hosts it: its PID takes the message (a failure there
      // reaches the caller); a node that cannot take it is forgotten.
      Status s = internal::CellOf(place->target)->PostUser(e);
      if (s.code() == StatusCode::kUnavailable) dir->Invalidate(id, *place);
      return s;
    }
  }
  Shard& shard = ShardFor(id.hash());
  Status last;
  for (int attempt = 0; attempt < 16; ++attempt) {
    PID target;
    {
      std::lock_guard<std::mutex> lock(shard.mu);
      Result<ActorCell*> cell = GetOrActivateLocked(shard, id, nullptr, from);
      if (!cell.ok()) {  // the activation was refused: say why, as it is
        ActorCell::FailReply(e, cell.status());
        sys_->DeadLetter(e, DeadLetterReason::kNoSuchActor, nullptr, id.String());
        return cell.status();
      }
      (*cell)->AddRef();  // the entry's reference keeps it alive until here
      target = internal::AdoptCell(*cell);
    }
    // Posted outside the lock (a refusal may run dead-letter subscribers).
    // An activation that ends after this lookup hands what reached its
    // mailbox to the next one (its drain hook); one already ended refuses.
    Status s;
    if (internal::CellOf(target)->TryPostUser(e, &s)) return s;
    last = s;
    // That activation just ended; the next lookup starts a new one.
    if (attempt > 2) std::this_thread::yield();
  }
  if (last.code() != StatusCode::kNotFound && last.code() != StatusCode::kSystemStopped &&
      last.code() != StatusCode::kFailedPrecondition) {
    last = UnavailableError("grain " + id.String() + " keeps deactivating: " + last.ToString());
  }
  ActorCell::FailReply(e, last);
  sys_->DeadLetter(e, DeadLetterReason::kNoSuchActor, nullptr, id.String());
  return last;
}

std::vector<GrainInfo> GrainRegistry::Active() {
  std::vector<GrainInfo> out;
  for (Shard& shard : shards_) {
    std::lock_guard<std::mutex> lock(shard.mu);
    for (auto& [key, entry] : shard.map) {
      if (internal::CellOf(entry->pid)->life() == ActorCell::Life::kTerminated) continue;
      out.push_back(
          GrainInfo{entry->id, entry->pid, entry->disable_relocation, entry->activations});
    }
  }
  return out;
}

PID GrainRegistry::ActivePid(const GrainIdentity& id) {
  Shard& shard = ShardFor(id.hash());
  std::lock_guard<std::mutex> lock(shard.mu);
  auto it = shard.map.find(Key{id.String(), id.hash()});
  if (it != shard.map.end() &&
      internal::CellOf(it->second->pid)->life() != ActorCell::Life::kTerminated) {
    return it->second->pid;
  }
  return PID();
}

bool GrainRegistry::StartDeactivate(const GrainIdentity& id, DeactivationReason reason) {
  PID pid = ActivePid(id);
  if (!pid) return false;
  internal::CellOf(pid)->RequestDeactivation(reason == DeactivationReason::kHandingOff ? 4 : 3);
  return true;
}

Status GrainRegistry::Deactivate(const GrainIdentity& id, DeactivationReason reason,
                                 Duration timeout) {
  PID pid = ActivePid(id);
  if (!pid) return NotFoundError("grain " + id.String() + " is not active here");
  internal::CellOf(pid)->RequestDeactivation(reason == DeactivationReason::kHandingOff ? 4 : 3);
  if (!pid.AwaitTermination(timeout)) {
    return TimeoutError("grain " + id.String() + " did not deactivate in time");
  }
  return internal::CellOf(pid)->stop_status();
}

std::vector<GrainIdentity> GrainRegistry::Relocatable() {
  std::vector<GrainIdentity> out;
  for (GrainInfo& g : Active()) {
    if (!g.disable_relocation) out.push_back(g.id);
  }
  return out;
}

Result<GrainIdentity> ParseGrainActorName(std::string_view actor_name) {
  if (!IsGrainActorName(actor_name)) return NotFoundError("not a grain");
  return GrainIdentity::Parse(actor_name.substr(kGrainActorPrefix.size()));
}

Status DeliverToGrainByActorName(SystemImpl* sys, std::string_view actor_name, Envelope* e,
                                 std::string_view from) {
  Result<GrainIdentity> id = ParseGrainActorName(actor_name);
  if (!id.ok()) {
    ActorCell::FailReply(e, id.status());
    FreeEnvelope(e);
    return id.status();
  }
  return GrainRegistry::Of(sys)->Deliver(*id, e, from);  // the sender chose this node
}

Result<PID> ActivateGrainByIdentity(SystemImpl* sys, std::string_view kind, std::string_view name) {
  Result<GrainIdentity> id = GrainIdentity::Make(kind, name);
  if (!id.ok()) return id.status();
  return GrainRegistry::Of(sys)->GetOrActivate(*id, nullptr);
}

}  // namespace internal

// ---------------------------------------------------------------------------
// ActorSystem's grain API.

Status ActorSystem::RegisterGrainKind(std::string kind, GrainFactory factory) {
  return RegisterGrainKind(std::move(kind), std::move(factory), GrainOptions());
}

Status ActorSystem::RegisterGrainKind(std::string kind, GrainFactory factory,
                                      const GrainOptions& defaults) {
  return internal::GrainRegistry::Of(impl_.get())
      ->RegisterKind(std::move(kind), std::move(factory), defaults);
}

Result<PID> ActorSystem::GrainOf(const GrainIdentity& id) {
  return internal::GrainRegistry::Of(impl_.get())->GetOrActivate(id, nullptr);
}

Result<PID> ActorSystem::GrainOf(const GrainIdentity& id, const GrainOptions& options) {
  return internal::GrainRegistry::Of(impl_.get())->GetOrActivate(id, &options);
}

Status ActorSystem::TellGrain(const GrainIdentity& id, Message msg) {
  internal::Envelope* e = internal::NewEnvelope();
  e->msg = std::move(msg);
  return internal::GrainRegistry::Of(impl_.get())->Deliver(id, e);
}

Result<Message> ActorSystem::AskGrain(const GrainIdentity& id, Message msg, Duration timeout) {
  internal::SystemImpl& sys = *impl_;
  return sys.BlockingCall("ask to grain ", id.String(), "GrainContext::RequestGrain(...).Then(...)",
                          timeout, sys.options().idle_spin, [&](internal::ReplySlot* slot) {
                            internal::Envelope* e = internal::NewEnvelope();
                            e->msg = std::move(msg);
                            e->reply_kind = internal::ReplyKind::kSlot;
                            e->slot = slot;  // the envelope's reference
                            // A failure fails the slot.
                            internal::GrainRegistry::Of(&sys)->Deliver(id, e).IgnoreError();
                          });
}

Status ActorSystem::DeactivateGrain(const GrainIdentity& id, Duration timeout) {
  if (internal::InActorTurn()) {
    return FailedPreconditionError("blocking DeactivateGrain from inside an actor");
  }
  return internal::GrainRegistry::Of(impl_.get())
      ->Deactivate(id, DeactivationReason::kRequested, timeout);
}

std::string_view DeactivationReasonName(DeactivationReason r) {
  switch (r) {
    case DeactivationReason::kIdle:
      return "idle";
    case DeactivationReason::kEvicted:
      return "evicted";
    case DeactivationReason::kStopping:
      return "stopping";
    case DeactivationReason::kRequested:
      return "requested";
    case DeactivationReason::kHandingOff:
      return "handing off";
  }
  return "unknown";
}

std::vector<GrainInfo> ActorSystem::ActiveGrains() const {
  return internal::GrainRegistry::Of(impl_.get())->Active();
}

std::vector<GrainIdentity> ActorSystem::RelocatableGrains() const {
  return internal::GrainRegistry::Of(impl_.get())->Relocatable();
}

}  // namespace akt
