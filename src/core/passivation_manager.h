// One passivation manager per system: a deadline heap for time-based
// passivation and a periodic sweep for node-wide eviction, both driven by the
// system's timer thread. It never touches an actor's state directly: it posts
// a passivation request that the actor's own turn carries out.
#pragma once

#include <cstdint>
#include <mutex>
#include <vector>

#include "akt/passivation.h"
#include "akt/pid.h"

namespace akt::internal {

class SystemImpl;
class ActorCell;

class PassivationManager {
 public:
  explicit PassivationManager(SystemImpl* system);
  void Start();
  void Stop();

  // A cell with a time-based strategy: check it `idle` from now.
  void WatchIdle(ActorCell* cell, Duration idle);
  // A cell eviction may pick (any strategy but long-lived).
  void AddEvictable(ActorCell* cell);
  // Many actors were passivated: give freed memory back to the OS soon.
  void NoteMassPassivation();

 private:
  struct Entry {
    TimePoint deadline;
    PID pid;
    bool operator>(const Entry& o) const { return deadline > o.deadline; }
  };
  void ArmLocked(TimePoint deadline);
  void OnTimer();
  void Sweep();

  SystemImpl* system_;
  std::mutex mu_;
  std::vector<Entry> heap_;  // a min-heap by deadline (std::push_heap with greater)
  TimePoint armed_ = TimePoint::max();
  std::vector<PID> evictable_;
  bool stopped_ = false;
  bool trim_pending_ = false;
};

}  // namespace akt::internal
