// akt/events.h — the system's event stream: lifecycle events and dead letters.
//
//   auto sub = system.events().Subscribe([](const akt::Message& e) {
//     if (auto* d = e.As<akt::DeadLetter>()) std::cerr << d->recipient_name << "\n";
//   });
//   // ... events flow until `sub` is destroyed or sub.Unsubscribe().
//
// Callbacks run on the thread that published the event (often a worker):
// keep them short and never block in them. `SubscribeActor` delivers events
// as messages to an actor instead.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "akt/message.h"
#include "akt/pid.h"

namespace akt {

struct ActorStarted {
  PID actor;
};
struct ActorStopped {
  PID actor;
};
struct ActorRestarted {
  PID actor;
  uint32_t restart_count;
};
struct ActorSuspended {
  PID actor;
  std::string reason;
};
struct ActorReinstated {
  PID actor;
};
// Published when an actor is passivated (idle, message count or eviction);
// an ActorStopped follows when it has stopped.
struct ActorPassivated {
  PID actor;
  std::string reason;
};

enum class DeadLetterReason {
  kNoSuchActor,  // sent by name to a name nobody has
  kStopped,      // the recipient had stopped (or stopped with it queued)
  kMailboxFull,  // a bounded mailbox refused it
  kUnhandled,    // the recipient did not handle it
  kAskTimedOut,  // a reply that arrived after its asker gave up
  kUnreachable,  // the recipient is remote and its node could not be reached
};
std::string_view DeadLetterReasonName(DeadLetterReason r);

struct DeadLetter {
  PID recipient;               // may be empty (kNoSuchActor)
  std::string recipient_name;  // the name it was sent to
  PID sender;                  // may be empty
  DeadLetterReason reason;
  std::string type_name;  // C++ type of the undelivered message
  // The undelivered message itself, shared by all subscribers.
  std::shared_ptr<const Message> message;
};

class EventStream;

// Keeps a subscription alive; unsubscribes when destroyed. Once Unsubscribe
// (or the destructor) returns, the callback is not running and will not run
// again. Must not outlive the ActorSystem whose stream it subscribes to.
class Subscription {
 public:
  Subscription() = default;
  Subscription(Subscription&&) noexcept;
  Subscription& operator=(Subscription&&) noexcept;
  ~Subscription();
  void Unsubscribe();
  bool active() const { return stream_ != nullptr; }

 private:
  friend class EventStream;
  Subscription(EventStream* stream, uint64_t id) : stream_(stream), id_(id) {}
  EventStream* stream_ = nullptr;
  uint64_t id_ = 0;
};

class EventStream {
 public:
  EventStream();
  ~EventStream();
  EventStream(const EventStream&) = delete;
  EventStream& operator=(const EventStream&) = delete;

  // `callback` gets every event published after this call returns.
  [[nodiscard]] Subscription Subscribe(std::function<void(const Message&)> callback);
  // Every event is told to `actor` (events are copied per subscriber).
  [[nodiscard]] Subscription SubscribeActor(PID actor);

  // Publishes a copyable event to all subscribers. Cheap when nobody listens.
  template <typename E>
  void Publish(E event) {
    if (has_subscribers()) PublishMessage(Message(std::move(event)));
  }
  void PublishMessage(const Message& event);
  bool has_subscribers() const { return count_.load(std::memory_order_acquire) != 0; }

 private:
  friend class Subscription;
  void Remove(uint64_t id);
  void AwaitCallbacks();
  struct State;
  std::unique_ptr<State> state_;
  std::atomic<uint32_t> count_{0};
};

}  // namespace akt
