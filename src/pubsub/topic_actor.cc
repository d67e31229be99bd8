// The topic actor: subscriptions per topic, death watch on subscribers, and
// delivery of each publication id at most once (bounded memory of recent ids).
#include <algorithm>
#include <memory>
#include <random>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "akt/actor.h"
#include "akt/logger.h"
#include "akt/messages.h"
#include "akt/pubsub.h"
#include "akt/supervisor.h"
#include "akt/system.h"

namespace akt {
namespace {

// The last `capacity` publication ids, oldest forgotten first. An
// open-addressing set (linear probing, backward-shift deletion) next to a
// FIFO ring: no allocation per id once grown, memory bounded by the capacity.
class RecentIds {
 public:
  explicit RecentIds(std::size_t capacity) : capacity_(capacity) { Rehash(16); }

  // True when `id` is new; it is then remembered.
  bool Insert(const PublishId& id) {
    if (Find(id) != kNone) return false;
    if (order_.size() < capacity_) {
      if ((order_.size() + 1) * 2 > table_.size()) Rehash(table_.size() * 2);
      order_.push_back(id);
    } else {
      Erase(order_[oldest_]);
      order_[oldest_] = id;
      oldest_ = (oldest_ + 1) % capacity_;
    }
    Place(id);
    return true;
  }

 private:
  static constexpr std::size_t kNone = ~std::size_t{0};

  std::size_t Home(const PublishId& id) const { return PublishIdHash()(id) & mask_; }

  std::size_t Find(const PublishId& id) const {
    for (std::size_t i = Home(id);; i = (i + 1) & mask_) {
      if (table_[i].empty()) return kNone;
      if (table_[i] == id) return i;
    }
  }

  void Place(const PublishId& id) {
    std::size_t i = Home(id);
    while (!table_[i].empty()) i = (i + 1) & mask_;
    table_[i] = id;
  }

  // Removes `id`, shifting later entries of its probe run back so that
  // every remaining id stays reachable from its home slot.
  void Erase(const PublishId& id) {
    std::size_t hole = Find(id);
    if (hole == kNone) return;
    for (std::size_t j = (hole + 1) & mask_; !table_[j].empty(); j = (j + 1) & mask_) {
      std::size_t home = Home(table_[j]);
      // The entry at j may move into the hole unless its home lies
      // cyclically in (hole, j].
      bool stays = hole <= j ? (home > hole && home <= j) : (home > hole || home <= j);
      if (!stays) {
        table_[hole] = table_[j];
        hole = j;
      }
    }
    table_[hole] = PublishId{};
  }

  void Rehash(std::size_t size) {
    table_.assign(size, PublishId{});
    mask_ = size - 1;
    for (const PublishId& id : order_) Place(id);
  }

  std::size_t capacity_;
  std::vector<PublishId> table_;  // an empty id marks a free slot (stored ids never are)
  std::size_t mask_ = 0;
  std::vector<PublishId> order_;  // arrival order; a ring once full
  std::size_t oldest_ = 0;
};

uint64_t RandomOrigin() {
  std::random_device rd;
  uint64_t o = 0;
  while (o == 0) o = (static_cast<uint64_t>(rd()) << 32) ^ rd();
  return o;
}

void Reject(ReceiveContext& ctx, Status why) {
  ctx.TakeReply().Fail(std::move(why)).IgnoreError();
  ctx.Unhandled();
}

// Answers a (un)subscription: to its asker or sender, else to the subscriber.
template <typename Ack>
void Acknowledge(ReceiveContext& ctx, const std::string& topic, const PID& subscriber) {
  Status s = ctx.Reply(Ack{topic, subscriber});
  if (s.code() == StatusCode::kFailedPrecondition)
    ctx.Tell(subscriber, Ack{topic, subscriber}).IgnoreError();
}

class TopicActor final : public Actor {
 public:
  explicit TopicActor(TopicOptions options)
      : options_(options),
        origin_(options.origin != 0 ? options.origin : RandomOrigin()),
        recent_(options.dedup_window) {}

  void Receive(ReceiveContext& ctx) override {
    ctx.Match([&](Publish& p) { OnPublish(ctx, p); },
              [&](const Subscribe& s) { OnSubscribe(ctx, s); },
              [&](const Unsubscribe& u) { OnUnsubscribe(ctx, u); },
              [&](const Terminated& t) { Forget(t.actor); },
              [&](const GetSubscribers& g) {
                TopicSubscribers out{g.topic, {}};
                if (auto it = topics_.find(g.topic); it != topics_.end()) {
                  out.subscribers = it->second;
                }
                ctx.Reply(std::move(out)).IgnoreError();
              });
  }

 private:
  void OnPublish(ReceiveContext& ctx, Publish& p) {
    auto it = topics_.find(p.topic);
    const std::size_t n = it == topics_.end() ? 0 : it->second.size();
    if (n > 1 && !p.message.copyable()) {
      Reject(ctx, InvalidArgumentError("cannot publish " + std::string(p.message.TypeName()) +
                                       " to the " + std::to_string(n) + " subscribers of topic " +
                                       p.topic + ": the type is not copyable"));
      return;
    }
    if (p.id.empty()) p.id = PublishId{origin_, ++sequence_};
    if (!recent_.Insert(p.id)) return;  // delivered already
    if (n == 0) return;
    const PID& publisher = ctx.sender();
    const std::vector<PID>& subscribers = it->second;
    for (std::size_t i = 0; i + 1 < n; ++i) {
      Message copy;
      try {
        copy = p.message.Clone();
      } catch (...) {
        ctx.logger().Log(LogLevel::kWarn, "topic " + p.topic + ": copying " +
                                              std::string(p.message.TypeName()) + " for " +
                                              std::string(subscribers[i].Name()) +
                                              " threw: " + DescribeError(std::current_exception()));
        continue;
      }
      subscribers[i].Forward(std::move(copy), publisher).IgnoreError();
    }
    subscribers[n - 1].Forward(std::move(p.message), publisher).IgnoreError();
  }

  void OnSubscribe(ReceiveContext& ctx, const Subscribe& s) {
    PID who = s.subscriber ? s.subscriber : ctx.sender();
    if (!who) {
      Reject(ctx, InvalidArgumentError("Subscribe to topic " + s.topic +
                                       " names no subscriber: send it from an actor (ctx.Tell) or "
                                       "set Subscribe::subscriber"));
      return;
    }
    std::vector<PID>& subscribers = topics_[s.topic];
    if (std::find(subscribers.begin(), subscribers.end(), who) == subscribers.end()) {
      subscribers.push_back(who);
      std::vector<std::string>& mine = subscriptions_[who];
      if (mine.empty()) ctx.Watch(who);
      mine.push_back(s.topic);
    }
    Acknowledge<SubscribeAck>(ctx, s.topic, who);
  }

  void OnUnsubscribe(ReceiveContext& ctx, const Unsubscribe& u) {
    PID who = u.subscriber ? u.subscriber : ctx.sender();
    if (!who) {
      Reject(ctx, InvalidArgumentError("Unsubscribe from topic " + u.topic +
                                       " names no subscriber: send it from an actor (ctx.Tell) or "
                                       "set Unsubscribe::subscriber"));
      return;
    }
    RemoveFromTopic(u.topic, who);
    if (auto it = subscriptions_.find(who); it != subscriptions_.end()) {
      std::vector<std::string>& mine = it->second;
      mine.erase(std::remove(mine.begin(), mine.end(), u.topic), mine.end());
      if (mine.empty()) {
        subscriptions_.erase(it);
        ctx.Unwatch(who);
      }
    }
    Acknowledge<UnsubscribeAck>(ctx, u.topic, who);
  }

  // A subscriber terminated: it leaves every topic.
  void Forget(const PID& gone) {
    auto it = subscriptions_.find(gone);
    if (it == subscriptions_.end()) return;
    for (const std::string& topic : it->second) RemoveFromTopic(topic, gone);
    subscriptions_.erase(it);
  }

  void RemoveFromTopic(const std::string& topic, const PID& who) {
    auto it = topics_.find(topic);
    if (it == topics_.end()) return;
    std::vector<PID>& subscribers = it->second;
    subscribers.erase(std::remove(subscribers.begin(), subscribers.end(), who), subscribers.end());
    if (subscribers.empty()) topics_.erase(it);
  }

  TopicOptions options_;
  uint64_t origin_;
  uint64_t sequence_ = 0;
  RecentIds recent_;
  std::unordered_map<std::string, std::vector<PID>> topics_;
  std::unordered_map<PID, std::vector<std::string>, PIDHash> subscriptions_;
};

Status Prepare(const TopicOptions& options, ActorFactory* factory, SpawnOptions* spawn) {
  if (options.dedup_window == 0) {
    return InvalidArgumentError("a topic actor needs a de-duplication window of at least 1 id");
  }
  *factory = [options] { return std::make_unique<TopicActor>(options); };
  // Its state is the subscriptions: resume on any error, never restart.
  spawn->WithSupervisor(Supervisor()
                            .ClearRules()
                            .WithDirective<ActorKilledError>(Directive::kStop)
                            .WithAnyErrorDirective(Directive::kResume));
  return Status();
}

}  // namespace

Result<PID> SpawnTopicActor(ActorSystem& system, std::string name, TopicOptions options) {
  ActorFactory factory;
  SpawnOptions spawn;
  if (Status s = Prepare(options, &factory, &spawn); !s.ok()) return s;
  return system.Spawn(std::move(name), std::move(factory), std::move(spawn));
}

Result<PID> SpawnTopicActor(Context& ctx, std::string name, TopicOptions options) {
  ActorFactory factory;
  SpawnOptions spawn;
  if (Status s = Prepare(options, &factory, &spawn); !s.ok()) return s;
  return ctx.Spawn(std::move(name), std::move(factory), std::move(spawn));
}

}  // namespace akt
