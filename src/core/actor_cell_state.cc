// ActorCell: what an actor keeps between messages besides its own fields:
// behaviors, the stash, dependencies, and passivation.
#include "actor_cell.h"

#include <algorithm>

#include "akt/messages.h"
#include "cycle_clock.h"
#include "system_impl.h"
#include "turn_hooks.h"

namespace akt::internal {

void ActorCell::Become(Behavior b, bool stacked) {
  Extra& x = extra();
  auto shared = std::make_shared<const Behavior>(std::move(b));
  if (stacked || x.behaviors.empty()) {
    x.behaviors.push_back(std::move(shared));
  } else {
    x.behaviors.back() = std::move(shared);
  }
}

void ActorCell::UnBecome(bool one) {
  Extra* x = extra_.load(std::memory_order_acquire);
  if (x == nullptr || x->behaviors.empty()) return;
  if (one) {
    x->behaviors.pop_back();
  } else {
    x->behaviors.clear();
  }
}

Status ActorCell::StashCurrent(Envelope* e) {
  if (tuning().stash_capacity == 0) {
    return FailedPreconditionError("actor " + name_ +
                                   " has no stash (SpawnOptions::WithStash enables it)");
  }
  Extra& x = extra();
  if (x.stash.size() >= tuning().stash_capacity) {
    return Status(
        StatusCode::kResourceExhausted,
        "stash of " + name_ + " is full (" + std::to_string(tuning().stash_capacity) + ")");
  }
  x.stash.push_back(e);
  tuning_->stash_size.store(static_cast<uint32_t>(x.stash.size()), std::memory_order_relaxed);
  return Status();
}

Status ActorCell::Unstash(bool all) {
  Extra* x = extra_.load(std::memory_order_acquire);
  if (x == nullptr || x->stash.empty()) {
    return all ? Status() : FailedPreconditionError("the stash is empty");
  }
  if (all) {
    while (!x->stash.empty()) {
      x->front.push_front(x->stash.back());
      x->stash.pop_back();
    }
  } else {
    x->front.push_front(x->stash.front());
    x->stash.pop_front();
  }
  tuning_->stash_size.store(static_cast<uint32_t>(x->stash.size()), std::memory_order_relaxed);
  return Status();
}

std::shared_ptr<Dependency> ActorCell::dependency(std::string_view id) const {
  if (!tuning().dependencies) return nullptr;
  for (const auto& d : *tuning().dependencies) {
    if (d && d->ID() == id) return d;
  }
  return nullptr;
}

void ActorCell::HandlePassivate(bool eviction) {
  if (life() != Life::kRunning) {
    // Suspended or restarting: look again later.
    if (!eviction && tuning().passivation.kind == PassivationStrategy::Kind::kTimeBased &&
        life() != Life::kStopping) {
      system_->passivation().WatchIdle(this, tuning().passivation.idle);
    }
    return;
  }
  if (eviction) {
    if (passivation_paused_) {
      system_->passivation().AddEvictable(this);
      return;
    }
    passivation_cause_ = 2;
    Passivate("evicted: the node holds more than its maximum of actors");
    return;
  }
  Duration idle_for = system_->TicksToDuration(
      system_->ActivityNow() - tuning_->last_activity.load(std::memory_order_relaxed));
  bool busy = backlog() > 0;
  if (passivation_paused_ || busy || idle_for < tuning().passivation.idle) {
    Duration left = tuning().passivation.idle - idle_for;
    if (passivation_paused_ || busy || left < std::chrono::milliseconds(1)) {
      left = tuning().passivation.idle;
    }
    system_->passivation().WatchIdle(this, left);
    return;
  }
  passivation_cause_ = 1;
  Passivate(
      "idle for " +
      std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(idle_for).count()) +
      " ms");
}

void ActorCell::Passivate(const std::string& reason) {
  system_->OnPassivated();
  system_->events().Publish(ActorPassivated{self_, reason});
  BeginStop();
}

std::size_t ActorCell::stash_size() const {
  return tuning_ ? tuning_->stash_size.load(std::memory_order_relaxed) : 0;
}

const ActorCell::Tuning& ActorCell::tuning() const {
  static const Tuning kDefaults;
  return tuning_ ? *tuning_ : kDefaults;
}

void ActorCell::DrainHeldToDeadLetters() {
  Extra* x = extra_.load(std::memory_order_acquire);
  if (x == nullptr) return;
  for (auto* q : {&x->front, &x->reentrancy_stash, &x->stash}) {
    while (!q->empty()) {
      Envelope* e = q->front();
      q->pop_front();
      system_->DeadLetter(e, DeadLetterReason::kStopped, this, name_);
    }
  }
  if (tuning_) tuning_->stash_size.store(0, std::memory_order_relaxed);
}

void ActorCell::RequestPassivation(bool eviction) { RequestDeactivation(eviction ? 2 : 1); }

void ActorCell::RequestDeactivation(uint8_t cause) {
  // The strongest request wins: hand off > requested > evict > idle check.
  uint8_t cur = passivate_request_.load(std::memory_order_relaxed);
  while (cur < cause &&
         !passivate_request_.compare_exchange_weak(cur, cause, std::memory_order_seq_cst)) {
  }
  if (sched_.load(std::memory_order_seq_cst) == kParked) {
    Unpark();
    return;
  }
  ScheduleIfIdle();
}

}  // namespace akt::internal
