// akt/grain.h — grains: virtual actors addressed by identity.
//
// A grain always exists in principle. It is addressed by its identity (kind +
// name), activated on its first message, deactivated when idle, and activated
// again on demand — callers never spawn or stop it.
//
// doc-test: context=headers body-from="akt::Status registered"
//   class Account : public akt::Grain {
//    public:
//     akt::Status OnActivate(akt::GrainActivation& a) override { return LoadState(a); }
//     void OnReceive(akt::GrainContext& ctx) override {
//       ctx.Match([&](const Deposit& d) { balance_ += d.cents; ctx.NoErr(); },
//                 [&](const GetBalance&) { ctx.Reply(balance_).IgnoreError(); });
//     }
//     akt::Status OnDeactivate(akt::GrainActivation& a) override { return SaveState(a); }
//    private:
//     int64_t balance_ = 0;
//   };
//
//   akt::Status registered =
//       system.RegisterGrainKind("account", akt::MakeGrainFactory<Account>());
//   auto id = akt::GrainIdentity::Make("account", "acc-42");
//   akt::Status accepted = system.TellGrain(*id, Deposit{500});  // ok once in its mailbox
//   auto b = system.AskGrain<int64_t>(*id, GetBalance{}, 1s);
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "akt/context.h"
#include "akt/extension.h"
#include "akt/message.h"
#include "akt/pid.h"
#include "akt/status.h"

namespace akt {

class ActorSystem;

// akt's stable 64-bit hash of a byte string: fixed forever (the same value
// in every build, process and machine), fast for short keys. 8-byte
// little-endian words through murmur3's 64-bit finaliser; see grains.cc.
uint64_t StableHash64(std::string_view bytes);

// A grain's identity: its kind and its name. Kind: 1..63 characters of
// [A-Za-z0-9_.-]; name: 1 or more characters of [A-Za-z0-9_.:@=+-]; the
// whole "kind/name" at most 255 characters. The string form is built once.
class GrainIdentity {
 public:
  static Result<GrainIdentity> Make(std::string_view kind, std::string_view name);
  // Parses "kind/name".
  static Result<GrainIdentity> Parse(std::string_view text);

  std::string_view kind() const { return std::string_view(text_).substr(0, kind_len_); }
  std::string_view name() const { return std::string_view(text_).substr(kind_len_ + 1); }
  // "kind/name", cached.
  const std::string& String() const { return text_; }
  // A stable 64-bit hash of String(), computed once: the same value in every
  // build, process and machine (placement depends on it; StableHash64).
  uint64_t hash() const { return hash_; }

  friend bool operator==(const GrainIdentity& a, const GrainIdentity& b) {
    return a.text_ == b.text_;
  }
  friend bool operator!=(const GrainIdentity& a, const GrainIdentity& b) { return !(a == b); }

 private:
  GrainIdentity(std::string text, std::size_t kind_len)
      : text_(std::move(text)), kind_len_(kind_len), hash_(StableHash64(text_)) {}
  std::string text_;
  std::size_t kind_len_ = 0;
  uint64_t hash_ = 0;
};

struct GrainIdentityHash {
  std::size_t operator()(const GrainIdentity& id) const { return static_cast<std::size_t>(id.hash()); }
};

// Where a cluster activates a grain the first time it is sent a message
// (or again, after it deactivated or its node was lost); a single node
// activates every grain itself. The identity's directory owner decides, once,
// among the live members that have the kind's role, so concurrent first
// messages from several nodes still make one activation.
enum class ActivationStrategy : uint8_t {
  kLocal,       // the node the first message came from (the default)
  kRoundRobin,  // the next member in turn (per deciding owner)
  kRandom,
  kLeastLoad,   // the member with the fewest actors and grains (as last probed)
};

struct GrainOptions {
  // One OnActivate attempt may take this long; a slower one counts as failed.
  Duration activation_timeout = std::chrono::seconds(5);
  // Attempts after the first failed OnActivate (then the failure is reported
  // to the callers waiting for this activation).
  int activation_retries = 2;
  Duration activation_backoff = std::chrono::milliseconds(10);
  // Deactivate after this much idle time; ignored when long_lived.
  Duration deactivate_after = std::chrono::minutes(2);
  bool long_lived = false;
  // Messages waiting at most; 0: unbounded. A full mailbox refuses with
  // kMailboxFull to the caller (and a dead letter), nothing silently lost.
  std::size_t mailbox_capacity = 0;
  std::vector<std::shared_ptr<Dependency>> dependencies;
  // Keep this grain where it is: no relocation path (node leave, failover,
  // rebalancing) moves it. Recorded with the grain's identity and kept across
  // deactivations (unlike GoAkt v3.14, where the flag was silently reset).
  bool disable_relocation = false;
  // In a cluster: where a new activation goes, and which members may host
  // it (empty: any member). The kind's options at the deciding owner count,
  // so register each kind with the same options on every member (also on
  // those without the role: they route, they never host it).
  ActivationStrategy activation_strategy = ActivationStrategy::kLocal;
  std::string activation_role;

  GrainOptions& WithActivationTimeout(Duration d) {
    activation_timeout = d;
    return *this;
  }
  GrainOptions& WithActivationRetries(int n, Duration backoff = std::chrono::milliseconds(10)) {
    activation_retries = n;
    activation_backoff = backoff;
    return *this;
  }
  GrainOptions& WithDeactivateAfter(Duration d) {
    deactivate_after = d;
    long_lived = false;
    return *this;
  }
  GrainOptions& WithLongLived() {
    long_lived = true;
    return *this;
  }
  GrainOptions& WithMailboxCapacity(std::size_t n) {
    mailbox_capacity = n;
    return *this;
  }
  GrainOptions& WithDependencies(std::vector<std::shared_ptr<Dependency>> deps) {
    dependencies = std::move(deps);
    return *this;
  }
  GrainOptions& WithGrainDisableRelocation() {
    disable_relocation = true;
    return *this;
  }
  GrainOptions& WithActivationStrategy(ActivationStrategy s) {
    activation_strategy = s;
    return *this;
  }
  GrainOptions& WithActivationRole(std::string role) {
    activation_role = std::move(role);
    return *this;
  }
};

// Why a grain deactivates (GrainActivation::reason() in OnDeactivate).
enum class DeactivationReason : uint8_t {
  kIdle,        // idle for deactivate_after
  kEvicted,     // the node holds more than its maximum of actors
  kStopping,    // the actor system (or the grain's actor) is stopping
  kRequested,   // ActorSystem::DeactivateGrain
  kHandingOff,  // moving to another node (the cluster layer)
};
std::string_view DeactivationReasonName(DeactivationReason r);

// What a grain sees while it activates or deactivates.
class GrainActivation {
 public:
  const GrainIdentity& self() const { return *id_; }
  [[deprecated("use self()")]] const GrainIdentity& Self() const { return self(); }
  ActorSystem& system() const;
  Logger& logger() const;
  std::shared_ptr<Dependency> GetDependency(std::string_view id) const;
  std::shared_ptr<Extension> GetExtension(std::string_view id) const;
  // When this activation attempt counts as timed out.
  TimePoint deadline() const { return deadline_; }
  // In OnDeactivate: why the grain deactivates (kIdle in OnActivate).
  DeactivationReason reason() const { return reason_; }

  // Internal.
  GrainActivation(Context* ctx, const GrainIdentity* id, TimePoint deadline,
                  DeactivationReason reason = DeactivationReason::kIdle)
      : ctx_(ctx), id_(id), deadline_(deadline), reason_(reason) {}

 private:
  Context* ctx_;
  const GrainIdentity* id_;
  TimePoint deadline_;
  DeactivationReason reason_;
};

// What a grain can do while it handles one message. Valid only during
// OnReceive: contexts come from a bounded per-thread pool and are recycled
// after the call; a context used after its call refuses with
// kFailedPrecondition instead of touching someone else's request.
class GrainContext {
 public:
  const GrainIdentity& self() const;
  [[deprecated("use self()")]] const GrainIdentity& Self() const { return self(); }
  ActorSystem& system() const;
  Logger& logger() const;
  const Message& message() const;
  Message& message();
  const PID& sender() const;
  template <typename... Fs>
  bool Match(Fs&&... fs) {
    return raw().Match(std::forward<Fs>(fs)...);
  }

  // Answers the request (Ask) or, for a Tell with a sender, tells the sender.
  Status Reply(Message reply);
  // Fails the request with a typed error (the caller gets `error` as is);
  // the grain stays active and keeps its state.
  void Err(Status error);
  // Acknowledges without a reply: an Ask completes with an empty message
  // (an akt.remote.Ack across processes). Each request is answered once: a
  // later Reply/Err on the same request is refused, never sent twice.
  void NoErr();
  // The message is not for this grain: the caller gets kUnhandled.
  void Unhandled();

  // Other grains and actors. A request never blocks: it continues in
  // Then(...), like ReceiveContext::Request. (Ask / AskGrain name the
  // blocking calls everywhere else: PID::Ask, ActorSystem::AskGrain.)
  Status TellGrain(const GrainIdentity& id, Message msg);
  RequestBuilder RequestGrain(const GrainIdentity& id, Message msg, Duration timeout);
  Status Tell(const PID& to, Message msg);
  RequestBuilder Request(const PID& to, Message msg, Duration timeout);
  // The former names of RequestGrain / Request.
  [[deprecated("use RequestGrain: it does not block")]] RequestBuilder AskGrain(
      const GrainIdentity& id, Message msg, Duration timeout) {
    return RequestGrain(id, std::move(msg), timeout);
  }
  [[deprecated("use Request: it does not block")]] RequestBuilder Ask(const PID& to, Message msg,
                                                                      Duration timeout) {
    return Request(to, std::move(msg), timeout);
  }
  // Runs `task` on the blocking pool and sends its result to a grain / an actor.
  Status PipeToGrain(const GrainIdentity& id, std::function<Result<Message>()> task);
  Status PipeTo(const PID& to, std::function<Result<Message>()> task);

  std::shared_ptr<Dependency> GetDependency(std::string_view id) const;
  std::shared_ptr<Extension> GetExtension(std::string_view id) const;

  // The underlying actor context (advanced use; same lifetime rules).
  ReceiveContext& raw() const;
  // False once the call this context was made for has returned.
  bool valid() const;

  // Internal: contexts are pooled (see GrainContextPoolStats).
  struct Slot;
  explicit GrainContext(Slot* slot, uint64_t generation) : slot_(slot), generation_(generation) {}

 private:
  Slot* slot_;
  uint64_t generation_;
};

struct GrainContextPoolStats {
  uint64_t created = 0;   // context slots ever allocated (bounded per thread)
  uint64_t reused = 0;    // acquisitions served by a recycled slot
};
GrainContextPoolStats GetGrainContextPoolStats();

class Grain {
 public:
  virtual ~Grain() = default;
  // Load state; a failure (error or exception) is retried per the options.
  virtual Status OnActivate(GrainActivation& /*activation*/) { return Status(); }
  virtual void OnReceive(GrainContext& ctx) = 0;
  // Save state; runs when the grain deactivates (activation.reason() says
  // why). Its status goes to the caller of ActorSystem::DeactivateGrain;
  // otherwise a failure is logged.
  virtual Status OnDeactivate(GrainActivation& /*activation*/) { return Status(); }
};

using GrainFactory = std::function<std::unique_ptr<Grain>()>;

template <typename G, typename... Args>
GrainFactory MakeGrainFactory(Args... args) {
  return [args...]() -> std::unique_ptr<Grain> { return std::make_unique<G>(args...); };
}

struct GrainInfo {
  GrainIdentity id;
  PID pid;
  bool disable_relocation = false;
  // Activations of this identity so far. Counted across deactivations only
  // for pinned identities (WithGrainDisableRelocation), whose record the
  // system keeps; 1 for the others (nothing is kept once they deactivate).
  uint64_t activations = 0;
};

}  // namespace akt
