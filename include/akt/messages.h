// akt/messages.h — messages that akt itself delivers or understands.
#pragma once

#include "akt/pid.h"

namespace akt {

enum class TerminationReason : uint8_t {
  kStopped,   // the actor stopped
  kNodeLost,  // its node was lost (remote PIDs; see akt/remote.h, NodeLost)
  kNodeLeft,  // its node left the cluster gracefully (akt/cluster.h, NodeLeft)
  kNodeDown,  // its node was declared down by the cluster (akt/cluster.h, NodeDown)
};
// Delivered exactly once to each watcher when a watched actor has terminated.
// Arrives after every message the dead actor sent to the watcher.
struct Terminated {
  PID actor;
  TerminationReason reason = TerminationReason::kStopped;
};

// Stops the receiving actor when it is processed, in mailbox order: messages
// sent before it are processed first.
struct PoisonPill {};

// Sent to an actor (usually by itself): passivation does not apply to it
// until ResumePassivation. Its idle time starts again at resume.
struct PausePassivation {};
struct ResumePassivation {};

}  // namespace akt
