// akt/passivation.h — stopping actors that are not needed, to free memory.
//
// A passivated actor is stopped gracefully (PostStop runs, queued messages go
// to dead letters); it is gone, and its PID answers kStopped afterwards.
// Grains come back on their next message; plain actors do not. That is why
// plain actors are long-lived by default (GoAkt passivates them after two
// idle minutes, which silently breaks PIDs users still hold): opt in per
// actor.
//
//   akt::Result<akt::PID> session = system.Spawn("session", factory,
//       akt::SpawnOptions().WithPassivation(akt::PassivationStrategy::TimeBased(30s)));
//
// One manager per system drives it (a deadline heap on the system's timer
// thread, never a timer per actor). Activity is recorded at most once per
// 100 ms per actor, so an idle time is exact to about 100 ms. An actor pauses
// and resumes its own passivation with the PausePassivation and
// ResumePassivation messages (akt/messages.h).
#pragma once

#include <cstddef>
#include <cstdint>

#include "akt/fwd.h"

namespace akt {

struct PassivationStrategy {
  enum class Kind {
    kLongLived,     // never passivated (the default)
    kTimeBased,     // after `idle` without a message
    kMessageCount,  // after handling `max_messages` messages
  };
  Kind kind = Kind::kLongLived;
  Duration idle{};
  uint64_t max_messages = 0;

  static PassivationStrategy LongLived() { return {}; }
  static PassivationStrategy TimeBased(Duration idle) {
    PassivationStrategy s;
    s.kind = Kind::kTimeBased;
    s.idle = idle;
    return s;
  }
  static PassivationStrategy MessageCount(uint64_t max_messages) {
    PassivationStrategy s;
    s.kind = Kind::kMessageCount;
    s.max_messages = max_messages;
    return s;
  }
};

// Which actors node-wide eviction passivates first.
enum class EvictionPolicy {
  kLRU,  // least recently active
  kLFU,  // fewest messages handled
  kMRU,  // most recently active
};

// Keep at most `max_actors` actors alive: every `interval`, when there are
// more, passivate the surplus among the actors that have a passivation
// strategy other than long-lived (long-lived actors are never evicted).
struct EvictionOptions {
  std::size_t max_actors = 0;  // 0: no eviction
  EvictionPolicy policy = EvictionPolicy::kLRU;
  Duration interval = std::chrono::milliseconds(100);
};

}  // namespace akt
