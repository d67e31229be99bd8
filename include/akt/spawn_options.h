// akt/spawn_options.h — per-actor options given at spawn.
//
//   system.SpawnWith<Worker>("w", akt::SpawnOptions()
//                                .WithMailbox(akt::MailboxSpec::Bounded(1024))
//                                .WithSupervisor(akt::Supervisor().WithRetry(3, 5s)));
#pragma once

#include <functional>
#include <memory>

#include "akt/mailbox.h"
#include "akt/supervisor.h"

namespace akt {

// Builds a fresh actor instance: at spawn and at every restart.
using ActorFactory = std::function<std::unique_ptr<Actor>()>;

struct SpawnOptions {
  MailboxSpec mailbox;
  // Null: the system's default supervisor (see Supervisor()).
  std::shared_ptr<const Supervisor> supervisor;
  // Messages per turn before the actor yields its worker; 0: system default.
  int throughput = 0;

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
};

}  // namespace akt
