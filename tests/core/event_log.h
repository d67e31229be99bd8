// Records the events of one type that an actor system publishes, so tests can
// assert on lifecycle events and dead letters.
//
//   akt::test::EventLog<akt::DeadLetter> dead(system);
//   ... act ...
//   EXPECT_EQ(dead.Count(), 1u);
//   EXPECT_EQ(dead.events()[0].reason, akt::DeadLetterReason::kStopped);
#pragma once

#include <akt/akt.h>

#include <cstddef>
#include <memory>
#include <mutex>
#include <vector>

namespace akt::test {

// Subscribes on construction and unsubscribes on destruction; thread-safe.
// Declare it after the system it listens to so that it is destroyed first.
template <typename E>
class EventLog {
 public:
  explicit EventLog(ActorSystem& system)
      : subscription_(system.events().Subscribe([state = state_](const Message& m) {
          if (const E* e = m.As<E>()) {
            std::lock_guard<std::mutex> lock(state->mu);
            state->events.push_back(*e);
          }
        })) {}
  EventLog(const EventLog&) = delete;
  EventLog& operator=(const EventLog&) = delete;

  std::vector<E> events() const {
    std::lock_guard<std::mutex> lock(state_->mu);
    return state_->events;
  }
  std::size_t Count() const {
    std::lock_guard<std::mutex> lock(state_->mu);
    return state_->events.size();
  }

 private:
  // Shared with the callback: a publisher that took its snapshot of the
  // subscribers just before we unsubscribed may still call it.
  struct State {
    std::mutex mu;
    std::vector<E> events;
  };
  std::shared_ptr<State> state_ = std::make_shared<State>();
  Subscription subscription_;
};

}  // namespace akt::test
