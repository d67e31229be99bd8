// akt/router.h — one address in front of a pool of identical actors.
//
// A router is an actor that owns a pool of routees (its children, built from
// one factory) and passes every message it receives on to one or more of them,
// as its strategy says. Asks sent to a router are answered by the routee
// itself: the router forwards the reply route with the message, so the answer
// goes straight to the asker with no extra hop.
//
//   akt::Result<akt::PID> workers = akt::SpawnRouter<Resizer>(
//       system, "resizers", akt::RouterOptions().WithPoolSize(8), /*Resizer args*/ 1024);
//   workers->Tell(ResizeImage{"a.png"}).IgnoreError();            // next routee in turn
//   akt::Result<Done> done = workers->Ask<Done>(ResizeImage{"b.png"}, 1s);  // a routee answers
//   workers->Tell(akt::AdjustPoolSize{+4}).IgnoreError();       // grow to 12
//   workers->Tell(akt::Broadcast{ReloadConfig{}}).IgnoreError();  // every routee, any strategy
//   auto pool = workers->Ask<akt::Routees>(akt::GetRoutees{}, 1s);  // pool->pids
//
// Routees are watched: one that stops (by itself, by its failure policy, or
// because the pool shrank) leaves the pool. A router whose pool is empty
// sends what it receives to dead letters and fails asks with kStopped.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "akt/context.h"
#include "akt/fwd.h"
#include "akt/message.h"
#include "akt/pid.h"
#include "akt/spawn_options.h"
#include "akt/status.h"

namespace akt {

enum class RoutingStrategy {
  // Each message to the next routee in turn. Allocation-free.
  kRoundRobin,
  // Each message to a routee picked uniformly at random. Allocation-free.
  kRandom,
  // Each message to every routee: a copy each (the type must be copyable
  // when there are two or more routees). An asker is answered by the first
  // routee of the pool; the others see the sender but cannot answer the ask.
  kFanOut,
  // Each message to every routee as a request; the first successful reply
  // within `within` answers the asker. No reply in time: the asker gets
  // kTimeout. Every routee failed before then: the asker gets the last error.
  kScatterGatherFirst,
  // Each message to one routee; if no reply came within `interval`, also to
  // the next, and so on. The first successful reply within `within` answers
  // the asker (kTimeout otherwise); a routee that fails makes the router try
  // the next one at once. Successive messages start at successive routees.
  kTailChopping,
  // Each message to the routee that owns its key on a hash ring with virtual
  // nodes: the same key always reaches the same routee while the pool is
  // unchanged, and a resize moves only the keys of the routees added/removed.
  kConsistentHashing,
};

// What happens to a routee whose Receive throws (or calls ctx.Err).
// A routee killed with pid.Kill() always stops.
enum class RouteeFailure {
  kResume,   // drop the failing message, keep the routee and its state
  kRestart,  // a fresh instance, at most `max_restarts` within `restart_window`; then stop
  kStop,     // stop it: it leaves the pool
};

// The key of a message for kConsistentHashing. Called on the router's thread
// for every routed message; an exception makes that message a dead letter
// (its asker gets kInvalidArgument).
using RouterKeyFunction = std::function<std::string(const Message&)>;

struct RouterOptions {
  RoutingStrategy strategy = RoutingStrategy::kRoundRobin;
  // Routees spawned with the router (>= 1). Change it later with AdjustPoolSize.
  int pool_size = 1;
  RouteeFailure on_failure = RouteeFailure::kRestart;
  int max_restarts = 10;  // kRestart: < 0 means unlimited
  Duration restart_window = std::chrono::seconds(10);
  // kScatterGatherFirst and kTailChopping: the deadline for a reply.
  Duration within{0};
  // kTailChopping: how long to wait for one routee before trying the next.
  Duration interval{0};
  // kConsistentHashing: the message's key, and ring points per routee (more
  // points spread keys more evenly; each costs 16 bytes in the router).
  RouterKeyFunction key;
  int virtual_nodes = 128;
  // Mailbox and throughput of each routee. Its supervisor is replaced by one
  // built from `on_failure`.
  SpawnOptions routee_options;
  // kRandom: the generator's seed; 0 picks one at random.
  uint64_t random_seed = 0;

  RouterOptions& WithPoolSize(int n) {
    pool_size = n;
    return *this;
  }
  // kRoundRobin (the default), kRandom or kFanOut; the other strategies take
  // parameters and have their own setters below.
  RouterOptions& WithStrategy(RoutingStrategy s) {
    strategy = s;
    return *this;
  }
  RouterOptions& WithScatterGatherFirst(Duration within_deadline) {
    strategy = RoutingStrategy::kScatterGatherFirst;
    within = within_deadline;
    return *this;
  }
  RouterOptions& WithTailChopping(Duration within_deadline, Duration next_after) {
    strategy = RoutingStrategy::kTailChopping;
    within = within_deadline;
    interval = next_after;
    return *this;
  }
  RouterOptions& WithConsistentHashing(RouterKeyFunction key_of, int points_per_routee = 128) {
    strategy = RoutingStrategy::kConsistentHashing;
    key = std::move(key_of);
    virtual_nodes = points_per_routee;
    return *this;
  }
  // kRestart only counts restarts within `window` (see Supervisor::WithRetry).
  RouterOptions& OnRouteeFailure(RouteeFailure f, int max_restarts_in_window = 10,
                                 Duration window = std::chrono::seconds(10)) {
    on_failure = f;
    max_restarts = max_restarts_in_window;
    restart_window = window;
    return *this;
  }
  RouterOptions& WithRouteeOptions(SpawnOptions o) {
    routee_options = std::move(o);
    return *this;
  }
  RouterOptions& WithRandomSeed(uint64_t seed) {
    random_seed = seed;
    return *this;
  }
};

// ---- Messages a router handles itself (never routed) ----

// Asks for the current pool; the router replies with `Routees`.
struct GetRoutees {};
struct Routees {
  std::vector<PID> pids;  // in pool order
};
// Grows (delta > 0) or shrinks (delta < 0) the pool. New routees come from the
// router's factory; shrinking removes the most recently added routees, each
// of which finishes the messages already in its mailbox and then stops. Not
// answered; a GetRoutees sent after it sees the new pool.
struct AdjustPoolSize {
  int delta = 0;
};
// Delivers `message` to every routee whatever the strategy (as kFanOut does).
struct Broadcast {
  Message message;
};

// Spawns a router named `name` (empty: anonymous) with `options.pool_size`
// routees built by `routee`. Routees are named "<name>.routee-<n>" (anonymous
// when the router is). Fails with kInvalidArgument for bad options, and with
// kActorFailed when a routee fails to start. The router's own supervisor
// resumes it on any error, so its pool survives a failing key function.
Result<PID> SpawnRouter(ActorSystem& system, std::string name, ActorFactory routee,
                        RouterOptions options);
// The same, as a child of the calling actor.
Result<PID> SpawnRouter(Context& ctx, std::string name, ActorFactory routee, RouterOptions options);

// Routees of type A built from copies of `args` (copied again at every restart).
template <typename A, typename... Args>
Result<PID> SpawnRouter(ActorSystem& system, std::string name, RouterOptions options,
                        Args&&... args) {
  return SpawnRouter(system, std::move(name), Context::MakeFactory<A>(std::forward<Args>(args)...),
                     std::move(options));
}
template <typename A, typename... Args>
Result<PID> SpawnRouter(Context& ctx, std::string name, RouterOptions options, Args&&... args) {
  return SpawnRouter(ctx, std::move(name), Context::MakeFactory<A>(std::forward<Args>(args)...),
                     std::move(options));
}

}  // namespace akt
