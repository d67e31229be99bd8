// akt/spawn_options.h — per-actor options given at spawn.
//
//   akt::Result<akt::PID> w = system.SpawnWith<Worker>(
//       "w", akt::SpawnOptions()
//                .WithMailbox(akt::MailboxSpec::Bounded(1024))
//                .WithSupervisor(akt::Supervisor().WithRetry(3, 5s)));
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <vector>

#include "akt/extension.h"
#include "akt/mailbox.h"
#include "akt/passivation.h"
#include "akt/supervisor.h"

namespace akt {

// Builds a fresh actor instance: at spawn and at every restart.
using ActorFactory = std::function<std::unique_ptr<Actor>()>;

// How an actor behaves while one of its own Requests waits for a reply.
enum class ReentrancyMode {
  // Request is not allowed: the continuation gets kFailedPrecondition.
  kOff,
  // Other messages (including calls back from the callee) are processed
  // while the request waits. A call chain A -> B -> A completes.
  kAllowAll,
  // Other user messages wait (stashed internally, in order) until every
  // such request got its reply or timed out: request/reply reads like a
  // blocking call, without blocking a worker. A chain A -> B -> A then ends
  // in kTimeout for A's request, with a message saying why.
  kStashNonReentrant,
};

struct Reentrancy {
  ReentrancyMode mode = ReentrancyMode::kAllowAll;
  // Requests in flight at once; one more gets kResourceExhausted. 0: no limit.
  int max_in_flight = 0;
};

struct SpawnOptions {
  MailboxSpec mailbox;
  // Null: the system's default supervisor (see Supervisor()).
  std::shared_ptr<const Supervisor> supervisor;
  // Messages per turn before the actor yields its worker; 0: system default.
  int throughput = 0;
  // Stash capacity; 0 disables the stash (ctx.Stash then fails).
  std::size_t stash_capacity = 0;
  Reentrancy reentrancy;
  std::vector<std::shared_ptr<Dependency>> dependencies;
  // Default: long-lived (see akt/passivation.h for why).
  PassivationStrategy passivation;

  SpawnOptions& WithMailbox(MailboxSpec m) {
    mailbox = std::move(m);
    return *this;
  }
  SpawnOptions& WithSupervisor(Supervisor s) {
    supervisor = std::make_shared<const Supervisor>(std::move(s));
    return *this;
  }
  SpawnOptions& WithThroughput(int messages_per_turn) {
    throughput = messages_per_turn;
    return *this;
  }
  // Enables ctx.Stash with room for `capacity` messages.
  SpawnOptions& WithStash(std::size_t capacity) {
    stash_capacity = capacity;
    return *this;
  }
  // Objects this actor gets with ctx.GetDependency(id); kept across restarts.
  SpawnOptions& WithDependencies(std::vector<std::shared_ptr<Dependency>> deps) {
    dependencies = std::move(deps);
    return *this;
  }
  SpawnOptions& WithPassivation(PassivationStrategy strategy) {
    passivation = strategy;
    return *this;
  }
  SpawnOptions& WithReentrancy(ReentrancyMode mode, int max_in_flight = 0) {
    reentrancy = Reentrancy{mode, max_in_flight};
    return *this;
  }
};

}  // namespace akt
