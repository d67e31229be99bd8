#include "passivation_manager.h"

#include <algorithm>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include "actor_cell.h"
#include "envelope.h"
#include "internal/access.h"
#include "system_impl.h"

namespace akt::internal {

PassivationManager::PassivationManager(SystemImpl* system) : system_(system) {}

void PassivationManager::Start() {
  const EvictionOptions& ev = system_->options().eviction;
  if (ev.max_actors > 0) {
    system_->timers().Schedule(system_->Now() + ev.interval, [this] { Sweep(); });
  }
}

void PassivationManager::Stop() {
  std::lock_guard<std::mutex> lock(mu_);
  stopped_ = true;
  heap_.clear();
  evictable_.clear();
}

void PassivationManager::WatchIdle(ActorCell* cell, Duration idle) {
  std::lock_guard<std::mutex> lock(mu_);
  if (stopped_) return;
  TimePoint deadline = system_->Now() + idle;
  heap_.push_back({deadline, cell->self()});
  std::push_heap(heap_.begin(), heap_.end(), std::greater<Entry>());
  ArmLocked(deadline);
}

void PassivationManager::AddEvictable(ActorCell* cell) {
  if (system_->options().eviction.max_actors == 0) return;
  std::lock_guard<std::mutex> lock(mu_);
  if (!stopped_) evictable_.push_back(cell->self());
}

void PassivationManager::ArmLocked(TimePoint deadline) {
  if (deadline >= armed_) return;
  armed_ = deadline;
  system_->timers().Schedule(deadline, [this] { OnTimer(); });
}

void PassivationManager::OnTimer() {
  std::vector<PID> due;
  TimePoint now = system_->Now();
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopped_) return;
    armed_ = TimePoint::max();
    while (!heap_.empty() && heap_.front().deadline <= now) {
      std::pop_heap(heap_.begin(), heap_.end(), std::greater<Entry>());
      due.push_back(std::move(heap_.back().pid));
      heap_.pop_back();
    }
    if (!heap_.empty()) {
      ArmLocked(heap_.front().deadline);
    } else if (heap_.capacity() > 4096) {
      std::vector<Entry>().swap(heap_);  // give a big heap's memory back
    }
  }
  if (due.size() >= 1000) NoteMassPassivation();
  for (const PID& p : due) {
    ActorCell* c = internal::CellOf(p);
    if (c->life() == ActorCell::Life::kTerminated) continue;  // gone: forget it
    // The actor decides in its own turn (it may have been active since).
    c->RequestPassivation(/*eviction=*/false);
  }
}

void PassivationManager::Sweep() {
  const EvictionOptions& ev = system_->options().eviction;
  std::vector<PID> candidates;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopped_) return;
    evictable_.erase(std::remove_if(evictable_.begin(), evictable_.end(),
                                    [](const PID& p) { return !p.IsRunning(); }),
                     evictable_.end());
    std::size_t live = system_->actor_count();
    if (live > ev.max_actors && !evictable_.empty()) {
      std::size_t surplus = std::min(live - ev.max_actors, evictable_.size());
      auto key_less = [&](const PID& a, const PID& b) {
        switch (ev.policy) {
          case EvictionPolicy::kLRU:
            return internal::CellOf(a)->last_activity() < internal::CellOf(b)->last_activity();
          case EvictionPolicy::kMRU:
            return internal::CellOf(a)->last_activity() > internal::CellOf(b)->last_activity();
          case EvictionPolicy::kLFU:
            return internal::CellOf(a)->processed() < internal::CellOf(b)->processed();
        }
        return false;
      };
      std::nth_element(evictable_.begin(), evictable_.begin() + (surplus - 1), evictable_.end(),
                       key_less);
      candidates.assign(evictable_.begin(), evictable_.begin() + surplus);
      evictable_.erase(evictable_.begin(), evictable_.begin() + surplus);
    }
  }
  for (const PID& p : candidates) {
    internal::CellOf(p)->RequestPassivation(/*eviction=*/true);
  }
  if (candidates.size() >= 1000) NoteMassPassivation();
  std::lock_guard<std::mutex> lock(mu_);
  if (!stopped_) system_->timers().Schedule(system_->Now() + ev.interval, [this] { Sweep(); });
}

void PassivationManager::NoteMassPassivation() {
#if defined(__GLIBC__)
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopped_ || trim_pending_) return;
    trim_pending_ = true;
  }
  // Once the actors are gone, hand the freed pages back to the OS.
  system_->timers().Schedule(system_->Now() + std::chrono::seconds(1), [this] {
    {
      std::lock_guard<std::mutex> lock(mu_);
      trim_pending_ = false;
      if (stopped_) return;
    }
    TrimEnvelopePool();
    malloc_trim(0);
  });
#endif
}

}  // namespace akt::internal
