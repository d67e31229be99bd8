// akt/system.h — the actor system: workers, actors, names, events.
//
//   akt::SystemOptions opts;
//   opts.name = "shop";
//   akt::ActorSystem system(opts);
//   if (auto s = system.Start(); !s.ok()) return s;
//   akt::Result<akt::PID> orders = system.Spawn<OrderBook>("orders");
//   system.SendAsync("orders", PlaceOrder{"book", 1200}).IgnoreError();
//   system.Stop().IgnoreError();  // children before parents, asks failed
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "akt/actor.h"
#include "akt/context.h"
#include "akt/events.h"
#include "akt/extension.h"
#include "akt/fwd.h"
#include "akt/logger.h"
#include "akt/message.h"
#include "akt/metrics.h"
#include "akt/passivation.h"
#include "akt/pid.h"
#include "akt/scheduler.h"
#include "akt/spawn_options.h"
#include "akt/status.h"

namespace akt {

struct SystemOptions {
  // Appears in addresses ("akt://<name>/<actor>"); letters, digits, '-', '_'.
  std::string name = "akt";
  // Worker threads; 0 means one per hardware thread.
  int workers = 0;
  // Default messages per actor turn before the worker moves on.
  int throughput = 64;
  // How long an idle worker spins looking for work before it parks, and how
  // long a blocked Ask spins before it sleeps. Spinning trades CPU for
  // microsecond wake-ups.
  Duration idle_spin = std::chrono::microseconds(50);
  // Stop() first lets the actors work off what is queued, and what they send
  // each other, until no actor is runnable or in a turn, for at most this
  // long; what is left then goes to dead letters. 0: no drain.
  Duration drain_timeout = std::chrono::seconds(5);
  // Then Stop() waits at most this long for the actors to stop.
  Duration shutdown_timeout = std::chrono::seconds(10);
  // Null: stderr at kWarn.
  std::shared_ptr<Logger> logger;
  // Used by akt::testing::DeterministicSystem: no worker threads; actors run
  // only when the test steps them, and time moves only when it advances it.
  bool deterministic = false;
  // Node-wide eviction (off unless max_actors > 0); see akt/passivation.h.
  EvictionOptions eviction;
};

// What a shutdown hook's failure does to the rest of the shutdown.
enum class HookRecovery {
  kFail,           // stop running hooks; Stop() returns the hook's error
  kRetryThenFail,  // retry `retries` times, then as kFail
  kSkip,           // log it and run the next hook
  kRetryThenSkip,  // retry `retries` times, then as kSkip
};

struct ShutdownHookOptions {
  HookRecovery recovery = HookRecovery::kFail;
  int retries = 0;
  Duration retry_delay{};
};

class ActorSystem {
 public:
  explicit ActorSystem(SystemOptions options = {});
  ~ActorSystem();  // calls Stop()
  ActorSystem(const ActorSystem&) = delete;
  ActorSystem& operator=(const ActorSystem&) = delete;

  // Starts the workers. kFailedPrecondition if already started or stopped;
  // kInvalidArgument if options.name is not 1..255 of [A-Za-z0-9_-].
  Status Start();
  // Graceful stop, in order: the shutdown hooks run; the actors drain (they
  // go on processing what is queued, and what they send each other, until
  // none is runnable or in a turn — messages a suspended, stashing or
  // backpressure-parked actor cannot take do not hold it up — or
  // drain_timeout passes); every actor stops (children before parents,
  // PostStop runs) and what is still queued goes to dead letters (kStopped;
  // an Ask among it fails with kStopped); every other pending Ask fails with
  // kSystemStopped; the workers exit. Every message a mailbox accepted ends
  // processed or in dead letters. Idempotent; kFailedPrecondition when called
  // from inside an actor.
  // kTimeout: actors did not all stop within shutdown_timeout. A turn cannot
  // be interrupted: Stop returns once the turns still running have ended;
  // an actor whose stop was due stops then, and the messages of every actor
  // that never got to stop go to dead letters (kStopped) without PostStop.
  Status Stop();
  bool running() const;

  // Spawns a top-level actor. `name` must be unique in the system: 1..255
  // characters of [A-Za-z0-9_.-], starting with a letter or digit; names
  // starting with "akt." are reserved. An empty name spawns an anonymous actor
  // (named "$<id>", not found by ActorOf). PreStart runs before this returns;
  // its failure is returned as kActorFailed. In a cluster the name is
  // claimed cluster-wide first: kAlreadyExists when another node holds it;
  // Spawn returns once the record is in the cluster's directory.
  Result<PID> Spawn(std::string name, ActorFactory factory, SpawnOptions options = {});
  template <typename A, typename... Args>
  Result<PID> Spawn(std::string name, Args&&... args) {
    return Spawn(std::move(name), Context::MakeFactory<A>(std::forward<Args>(args)...));
  }
  template <typename A, typename... Args>
  Result<PID> SpawnWith(std::string name, SpawnOptions options, Args&&... args) {
    return Spawn(std::move(name), Context::MakeFactory<A>(std::forward<Args>(args)...),
                 std::move(options));
  }

  // The live actor with this name, or kNotFound. In a cluster (akt/cluster.h)
  // a top-level name is unique cluster-wide: one not on this node is looked
  // up in the cluster's directory (one round trip, then cached; a blocking
  // call, so from inside an actor only a cached name resolves).
  Result<PID> ActorOf(std::string_view name) const;
  // Tell by name. kNotFound (and a dead letter) when no such actor.
  Status SendAsync(std::string_view name, Message msg);
  // Ask by name; blocks the calling thread (never call from an actor).
  Result<Message> SendSync(std::string_view name, Message msg, Duration timeout);

  // Coordinated shutdown: hooks run in the order they were added, at Stop(),
  // before any actor is stopped. A failing hook is handled per its recovery
  // policy; the system stops either way. kFailedPrecondition once stopping.
  Status AddShutdownHook(std::string name, std::function<Status()> hook,
                         ShutdownHookOptions options = {});

  // Extensions: kAlreadyExists when the id is taken.
  Status RegisterExtension(std::shared_ptr<Extension> extension);
  std::shared_ptr<Extension> GetExtension(std::string_view id) const;
  template <typename T>
  std::shared_ptr<T> GetExtension(std::string_view id) const {
    return std::dynamic_pointer_cast<T>(GetExtension(id));
  }
  // Dependencies: how to re-create a dependency type from its bytes.
  Status RegisterDependencyType(std::string type_name, DependencyFactory factory);
  Result<std::shared_ptr<Dependency>> RestoreDependency(std::string_view type_name,
                                                        std::string_view bytes) const;

  SystemMetrics Metrics() const;

  // ---- Grains (virtual actors); see akt/grain.h ----
  // Registers a grain kind. kAlreadyExists when the kind is taken.
  Status RegisterGrainKind(std::string kind, GrainFactory factory);
  Status RegisterGrainKind(std::string kind, GrainFactory factory, const GrainOptions& defaults);
  // The grain's PID, activating it first if it is not active (exactly one
  // activation per identity, however many threads ask at once). Options
  // given here apply to this activation (the relocation flag sticks to the
  // identity); otherwise the kind's defaults.
  Result<PID> GrainOf(const GrainIdentity& id);
  Result<PID> GrainOf(const GrainIdentity& id, const GrainOptions& options);
  // Delivers `msg` to the grain (activating it). Ok once the grain accepted
  // the message into its mailbox; kMailboxFull when its mailbox is full.
  Status TellGrain(const GrainIdentity& id, Message msg);
  // Asks the grain (activating it); blocks the calling thread.
  Result<Message> AskGrain(const GrainIdentity& id, Message msg, Duration timeout);
  template <typename R>
  Result<R> AskGrain(const GrainIdentity& id, Message msg, Duration timeout) {
    Result<Message> r = AskGrain(id, std::move(msg), timeout);
    if (!r.ok()) return r.status();
    if (R* v = r->template As<R>()) return std::move(*v);
    return Status(StatusCode::kTypeMismatch,
                  "reply is " + std::string(r->TypeName()) + ", not the type asked for");
  }
  // The grains active now.
  std::vector<GrainInfo> ActiveGrains() const;
  // Deactivates the grain now (OnDeactivate with reason kRequested) and
  // waits for it; returns OnDeactivate's status. kNotFound when it is not
  // active here, kTimeout when it did not end in time; blocks the calling
  // thread (kFailedPrecondition inside an actor). Its next message
  // activates it again.
  Status DeactivateGrain(const GrainIdentity& id, Duration timeout = std::chrono::seconds(5));
  // Active grains that a relocation may move (those without
  // WithGrainDisableRelocation); what the cluster layer relocates.
  std::vector<GrainIdentity> RelocatableGrains() const;

  EventStream& events();
  [[deprecated("use events()")]] EventStream& Events() { return events(); }
  // Sends messages later, periodically or on cron schedules; see akt/scheduler.h.
  Scheduler& scheduler();
  // Dead letters since start, in total and for one reason.
  uint64_t DeadLetterCount() const;
  uint64_t DeadLetterCount(DeadLetterReason reason) const;
  // Actors alive now (spawned and not yet terminated).
  std::size_t ActorCount() const;
  const std::string& name() const;
  Logger& logger() const;
  const SystemOptions& options() const;

 private:
  friend struct internal::Access;  // the layers' way in (not installed)
  std::unique_ptr<internal::SystemImpl> impl_;
};

}  // namespace akt
