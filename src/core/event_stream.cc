#include <mutex>
#include <shared_mutex>
#include <vector>

#include "akt/events.h"

namespace akt {

struct EventStream::State {
  struct Sub {
    uint64_t id;
    std::function<void(const Message&)> callback;  // or
    PID actor;
  };
  std::mutex mu;
  // Copy-on-write: publishers take a snapshot and call without the lock, so a
  // callback may subscribe or unsubscribe.
  std::shared_ptr<const std::vector<Sub>> subs = std::make_shared<std::vector<Sub>>();
  uint64_t next_id = 0;
  // Held shared while callbacks run; Remove takes it exclusively so that
  // once Unsubscribe returns, no callback of that subscription is running
  // or will run.
  std::shared_mutex calling;
};

namespace {
thread_local int t_publish_depth = 0;
}  // namespace

EventStream::EventStream() : state_(std::make_unique<State>()) {}
EventStream::~EventStream() = default;

Subscription EventStream::Subscribe(std::function<void(const Message&)> callback) {
  std::lock_guard<std::mutex> lock(state_->mu);
  auto next = std::make_shared<std::vector<State::Sub>>(*state_->subs);
  uint64_t id = ++state_->next_id;
  next->push_back({id, std::move(callback), PID()});
  state_->subs = std::move(next);
  count_.fetch_add(1, std::memory_order_release);
  return Subscription(this, id);
}

Subscription EventStream::SubscribeActor(PID actor) {
  std::lock_guard<std::mutex> lock(state_->mu);
  auto next = std::make_shared<std::vector<State::Sub>>(*state_->subs);
  uint64_t id = ++state_->next_id;
  next->push_back({id, nullptr, std::move(actor)});
  state_->subs = std::move(next);
  count_.fetch_add(1, std::memory_order_release);
  return Subscription(this, id);
}

void EventStream::Remove(uint64_t id) {
  std::lock_guard<std::mutex> lock(state_->mu);
  auto next = std::make_shared<std::vector<State::Sub>>();
  for (const auto& s : *state_->subs) {
    if (s.id != id) next->push_back(s);
  }
  if (next->size() != state_->subs->size()) count_.fetch_sub(1, std::memory_order_release);
  state_->subs = std::move(next);
}

void EventStream::AwaitCallbacks() {
  // Inside a callback (unsubscribing itself or another) waiting would
  // deadlock; that callback is the one running anyway.
  if (t_publish_depth > 0) return;
  std::unique_lock<std::shared_mutex> wait(state_->calling);
}

void EventStream::PublishMessage(const Message& event) {
  std::shared_ptr<const std::vector<State::Sub>> subs;
  {
    std::lock_guard<std::mutex> lock(state_->mu);
    subs = state_->subs;
  }
  std::shared_lock<std::shared_mutex> calling(state_->calling);
  ++t_publish_depth;
  struct Depth {
    ~Depth() { --t_publish_depth; }
  } depth;
  for (const auto& s : *subs) {
    if (s.callback) {
      s.callback(event);
    } else if (s.actor) {
      // A dead letter *to* the subscriber (e.g. an event it left unhandled)
      // is not sent back to it: that would loop forever.
      if (const DeadLetter* d = event.As<DeadLetter>(); d != nullptr && d->recipient == s.actor) {
        continue;
      }
      s.actor.Tell(event.Clone()).IgnoreError();
    }
  }
}

Subscription::Subscription(Subscription&& o) noexcept
    : stream_(std::exchange(o.stream_, nullptr)), id_(o.id_) {}

Subscription& Subscription::operator=(Subscription&& o) noexcept {
  if (this != &o) {
    Unsubscribe();
    stream_ = std::exchange(o.stream_, nullptr);
    id_ = o.id_;
  }
  return *this;
}

Subscription::~Subscription() { Unsubscribe(); }

void Subscription::Unsubscribe() {
  if (stream_ != nullptr) {
    stream_->Remove(id_);
    stream_->AwaitCallbacks();
    stream_ = nullptr;
  }
}

std::string_view DeadLetterReasonName(DeadLetterReason r) {
  switch (r) {
    case DeadLetterReason::kNoSuchActor:
      return "no such actor";
    case DeadLetterReason::kStopped:
      return "stopped";
    case DeadLetterReason::kMailboxFull:
      return "mailbox full";
    case DeadLetterReason::kUnhandled:
      return "unhandled";
    case DeadLetterReason::kAskTimedOut:
      return "ask timed out";
    case DeadLetterReason::kUnreachable:
      return "unreachable";
  }
  return "unknown";
}

}  // namespace akt
