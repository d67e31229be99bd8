// akt/pubsub.h — topics: publish a message once, every subscriber gets a copy.
//
// A topic actor keeps, per topic name, the actors subscribed to it. Publishing
// to a topic delivers a copy of the message to each of them, with the
// publisher as the sender. Subscribers that stop are dropped (the topic actor
// watches them). Topics need no creation: a topic exists while it has
// subscribers.
//
//   akt::Result<akt::PID> topics = akt::SpawnTopicActor(system, "topics");
//   // In an actor: subscribe itself; the ack comes back as a message.
//   ctx.Tell(topics_pid, akt::Subscribe{"prices", {}}).IgnoreError();
//   //   ... ctx.Match([&](const akt::SubscribeAck& a) { /* subscribed to a.topic */ });
//   // Anywhere: publish (the type must be copyable to reach several subscribers).
//   topics->Tell(akt::Publish{"prices", Price{"ACME", 1234}, {}}).IgnoreError();
//
// Every publication carries a `PublishId`. A topic actor delivers an id at
// most once: a publication whose id it has seen recently is dropped. The
// topic actor assigns ids to publications that come without one; a caller
// that retries a publication (or a cluster layer that relays it between
// nodes) keeps its id, so subscribers are not sent duplicates.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "akt/context.h"
#include "akt/fwd.h"
#include "akt/message.h"
#include "akt/pid.h"
#include "akt/status.h"

namespace akt {

// Identifies one publication, wherever it travels.
//
// `origin` names whoever assigned the id: a topic actor draws a random
// non-zero origin when it starts (a cluster layer will use its node's id),
// and `sequence` counts up from 1 at that origin. The pair is unique without
// coordination, so topic actors on several nodes can relay a publication to
// each other and each one delivers it to its local subscribers exactly once,
// however many paths it arrived by. Both zero means "not assigned yet".
struct PublishId {
  uint64_t origin = 0;
  uint64_t sequence = 0;

  bool empty() const { return origin == 0 && sequence == 0; }
  friend bool operator==(const PublishId& a, const PublishId& b) {
    return a.origin == b.origin && a.sequence == b.sequence;
  }
  friend bool operator!=(const PublishId& a, const PublishId& b) { return !(a == b); }
};

struct PublishIdHash {
  std::size_t operator()(const PublishId& id) const {
    uint64_t x = id.origin ^ (id.sequence * 0x9e3779b97f4a7c15ULL);
    x ^= x >> 31;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 29;
    return static_cast<std::size_t>(x);
  }
};

// ---- Messages a topic actor handles ----

// Subscribes `subscriber` (empty: the sender) to `topic`. Idempotent.
// Answered with SubscribeAck: to the asker or the sender, or, when the
// Subscribe has neither, to the subscriber. A Subscribe with no subscriber
// and no sender is refused (kInvalidArgument to an asker; a dead letter).
struct Subscribe {
  std::string topic;
  PID subscriber;
};
struct SubscribeAck {
  std::string topic;
  PID subscriber;
};
// Removes the subscription; acknowledged like Subscribe, also when there was
// no such subscription.
struct Unsubscribe {
  std::string topic;
  PID subscriber;
};
struct UnsubscribeAck {
  std::string topic;
  PID subscriber;
};

// Delivers a copy of `message` to every subscriber of `topic`, with the
// publisher as the sender. Not answered. A publication whose `id` the topic
// actor has seen among its recent ids is dropped; an empty id is assigned.
// A type that is not copyable reaches a topic with at most one subscriber
// (otherwise the publication is a dead letter); publish a
// std::shared_ptr<const T> to share a large payload instead of copying it.
struct Publish {
  std::string topic;
  Message message;
  PublishId id;
};

// Asks for the subscribers of a topic; answered with `TopicSubscribers`.
struct GetSubscribers {
  std::string topic;
};
struct TopicSubscribers {
  std::string topic;
  std::vector<PID> subscribers;  // in the order they subscribed
};

struct TopicOptions {
  // How many recent publication ids are remembered for de-duplication; the
  // oldest is forgotten first. Costs about 40 bytes per id.
  std::size_t dedup_window = 16384;
  // The origin of the ids this topic actor assigns; 0 draws a random one.
  uint64_t origin = 0;

  TopicOptions& WithDedupWindow(std::size_t ids) {
    dedup_window = ids;
    return *this;
  }
  TopicOptions& WithOrigin(uint64_t o) {
    origin = o;
    return *this;
  }
};

// Spawns a topic actor named `name`. One per system is usual; several are
// independent (each has its own topics). kInvalidArgument when
// dedup_window is 0. Its supervisor resumes it on any error, so a failure
// never loses the subscriptions.
Result<PID> SpawnTopicActor(ActorSystem& system, std::string name, TopicOptions options = {});
// The same, as a child of the calling actor.
Result<PID> SpawnTopicActor(Context& ctx, std::string name, TopicOptions options = {});

}  // namespace akt
