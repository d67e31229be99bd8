// akt/metrics.h — counters and gauges read through the API (an admin layer
// exports them). Every read is a handful of relaxed atomic loads.
//
//   akt::ActorMetrics m = pid.Metrics();
//   akt::SystemMetrics s = system.Metrics();
#pragma once

#include <cstddef>
#include <cstdint>

#include "akt/fwd.h"

namespace akt {

struct ActorMetrics {
  uint64_t processed = 0;                 // messages handled (counter)
  uint64_t failures = 0;                  // failures supervised (counter)
  uint32_t restarts = 0;                  // restarts (counter)
  std::size_t stash_size = 0;             // gauge
  std::size_t mailbox_size = 0;           // gauge: messages waiting
  Duration uptime{};                      // since the (re)start; zero once stopped
  Duration latest_processing_duration{};  // mean per message, latest turn
};

struct SystemMetrics {
  std::size_t actor_count = 0;  // gauge: live actors
  uint64_t spawned = 0;         // counter: actors started
  uint64_t stopped = 0;         // counter: actors terminated (incl. passivated)
  uint64_t passivated = 0;      // counter
  uint64_t failures = 0;        // counter: failures supervised, all actors
  uint64_t restarts = 0;        // counter
  uint64_t dead_letters = 0;    // counter
  Duration uptime{};            // since Start
};

}  // namespace akt
