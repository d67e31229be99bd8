// Pub/sub topics: acknowledged (un)subscription, delivery to every
// subscriber, death watch of subscribers, and at-most-once delivery per
// publication id with a bounded memory of ids.
#include <akt/pubsub.h>
#include <akt/testing/deterministic.h>
#include <akt/testkit.h>

#include <atomic>
#include <deque>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "test_util.h"

namespace akt {
namespace {

using namespace std::chrono_literals;
using akt::testing::DeterministicSystem;
using akt::testkit::TestProbe;

struct News {
  std::string text;
  friend bool operator==(const News&, const News&) = default;
};
struct Unique {
  std::unique_ptr<int> p;
};

// Counts what it receives; subscribes itself when told JoinTopic{topics, topic}.
struct JoinTopic {
  PID topics;
  std::string topic;
};
class Counter : public Actor {
 public:
  explicit Counter(std::shared_ptr<std::atomic<int>> count) : count_(std::move(count)) {}
  void Receive(ReceiveContext& ctx) override {
    ctx.Match([&](const JoinTopic& j) { ctx.Tell(j.topics, Subscribe{j.topic}).IgnoreError(); },
              [&](const SubscribeAck&) { acked_ = true; },
              [&](const News&) { count_->fetch_add(1, std::memory_order_relaxed); },
              [&](const test::Ping&) { ctx.Reply(acked_).IgnoreError(); });
  }

 private:
  std::shared_ptr<std::atomic<int>> count_;
  bool acked_ = false;
};

std::vector<PID> SubscribersOf(const PID& topics, const std::string& topic) {
  Result<TopicSubscribers> r = topics.Ask<TopicSubscribers>(GetSubscribers{topic}, 5s);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? r->subscribers : std::vector<PID>{};
}

// Subscribes `probe` (as the sender) and takes the ack.
void Join(TestProbe& probe, const PID& topics, const std::string& topic) {
  ASSERT_TRUE(probe.Send(topics, Subscribe{topic}).ok());
  Result<SubscribeAck> ack = probe.ExpectMessage<SubscribeAck>(1s);
  ASSERT_TRUE(ack.ok()) << ack.status().ToString();
  EXPECT_EQ(ack->topic, topic);
  EXPECT_EQ(ack->subscriber, probe.pid());
}

TEST(PubSub, ASubscriberSendingSubscribeGetsTheAck) {
  DeterministicSystem d;
  auto topics = SpawnTopicActor(d.system(), "topics");
  ASSERT_TRUE(topics.ok()) << topics.status().ToString();
  TestProbe probe(d.system());
  Join(probe, *topics, "news");
  EXPECT_EQ(SubscribersOf(*topics, "news"), std::vector<PID>{probe.pid()});
}

TEST(PubSub, SubscribeNamingTheSubscriberAcksTheSubscriberOrTheAsker) {
  DeterministicSystem d;
  auto topics = SpawnTopicActor(d.system(), "topics");
  ASSERT_TRUE(topics.ok());
  TestProbe probe(d.system());
  // No sender, no asker: the ack goes to the subscriber.
  ASSERT_TRUE(topics->Tell(Subscribe{"a", probe.pid()}).ok());
  Result<SubscribeAck> ack = probe.ExpectMessage<SubscribeAck>(1s);
  ASSERT_TRUE(ack.ok()) << ack.status().ToString();
  EXPECT_EQ(ack->topic, "a");
  // An ask is answered to the asker.
  Result<SubscribeAck> asked = topics->Ask<SubscribeAck>(Subscribe{"b", probe.pid()}, 1s);
  ASSERT_TRUE(asked.ok()) << asked.status().ToString();
  EXPECT_EQ(asked->subscriber, probe.pid());
  Status none = probe.ExpectNoMessage(100ms);
  EXPECT_TRUE(none.ok()) << none.ToString();
  EXPECT_EQ(SubscribersOf(*topics, "b"), std::vector<PID>{probe.pid()});
}

TEST(PubSub, SubscribeWithoutASubscriberIsRefused) {
  DeterministicSystem d;
  auto topics = SpawnTopicActor(d.system(), "topics");
  ASSERT_TRUE(topics.ok());
  Result<Message> r = topics->Ask(Subscribe{"news"}, 1s);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << r.status().ToString();
}

TEST(PubSub, PublishDeliversACopyToEverySubscriberOfThatTopicOnly) {
  DeterministicSystem d;
  auto topics = SpawnTopicActor(d.system(), "topics");
  ASSERT_TRUE(topics.ok());
  TestProbe a(d.system()), b(d.system()), other(d.system());
  Join(a, *topics, "news");
  Join(b, *topics, "news");
  Join(other, *topics, "sport");
  ASSERT_TRUE(topics->Tell(Publish{"news", News{"rain"}}).ok());
  EXPECT_TRUE(a.ExpectMessage(News{"rain"}, 1s).ok());
  EXPECT_TRUE(b.ExpectMessage(News{"rain"}, 1s).ok());
  EXPECT_TRUE(other.ExpectNoMessage(1s).ok());
}

TEST(PubSub, SubscribersSeeThePublisherAsTheSender) {
  DeterministicSystem d;
  auto topics = SpawnTopicActor(d.system(), "topics");
  ASSERT_TRUE(topics.ok());
  TestProbe subscriber(d.system()), publisher(d.system());
  Join(subscriber, *topics, "news");
  ASSERT_TRUE(publisher.Send(*topics, Publish{"news", News{"sun"}}).ok());
  ASSERT_TRUE(subscriber.ExpectMessage<News>(1s).ok());
  EXPECT_EQ(subscriber.LastSender(), publisher.pid());
  // So a subscriber can answer the publisher directly.
  ASSERT_TRUE(subscriber.Reply(std::string("thanks")).ok());
  EXPECT_TRUE(publisher.ExpectMessage(std::string("thanks"), 1s).ok());
}

TEST(PubSub, SubscribingTwiceDeliversOnce) {
  DeterministicSystem d;
  auto topics = SpawnTopicActor(d.system(), "topics");
  ASSERT_TRUE(topics.ok());
  TestProbe probe(d.system());
  Join(probe, *topics, "news");
  Join(probe, *topics, "news");  // acked again
  ASSERT_TRUE(topics->Tell(Publish{"news", News{"once"}}).ok());
  EXPECT_TRUE(probe.ExpectMessage<News>(1s).ok());
  EXPECT_TRUE(probe.ExpectNoMessage(1s).ok());
}

TEST(PubSub, UnsubscribeIsAcknowledgedAndStopsDelivery) {
  DeterministicSystem d;
  auto topics = SpawnTopicActor(d.system(), "topics");
  ASSERT_TRUE(topics.ok());
  TestProbe probe(d.system());
  Join(probe, *topics, "news");
  Join(probe, *topics, "sport");
  ASSERT_TRUE(probe.Send(*topics, Unsubscribe{"news"}).ok());
  Result<UnsubscribeAck> ack = probe.ExpectMessage<UnsubscribeAck>(1s);
  ASSERT_TRUE(ack.ok()) << ack.status().ToString();
  EXPECT_EQ(ack->topic, "news");
  ASSERT_TRUE(topics->Tell(Publish{"news", News{"gone"}}).ok());
  ASSERT_TRUE(topics->Tell(Publish{"sport", News{"goal"}}).ok());
  EXPECT_TRUE(probe.ExpectMessage(News{"goal"}, 1s).ok());
  EXPECT_TRUE(probe.ExpectNoMessage(1s).ok());
  // Unsubscribing from a topic one is not subscribed to is acknowledged too.
  ASSERT_TRUE(probe.Send(*topics, Unsubscribe{"weather"}).ok());
  EXPECT_TRUE(probe.ExpectMessage<UnsubscribeAck>(1s).ok());
}

TEST(PubSub, SubscribersThatStopAreRemovedFromEveryTopic) {
  DeterministicSystem d;
  auto topics = SpawnTopicActor(d.system(), "topics");
  ASSERT_TRUE(topics.ok());
  auto count = std::make_shared<std::atomic<int>>(0);
  auto sub = d.system().Spawn<Counter>("sub", count);
  ASSERT_TRUE(sub.ok());
  ASSERT_TRUE(sub->Tell(JoinTopic{*topics, "news"}).ok());
  ASSERT_TRUE(sub->Tell(JoinTopic{*topics, "sport"}).ok());
  d.RunUntilIdle();
  EXPECT_TRUE(sub->Ask<bool>(test::Ping{}, 1s).value_or(false));  // the acks arrived
  EXPECT_EQ(SubscribersOf(*topics, "sport"), std::vector<PID>{*sub});

  sub->Stop();
  ASSERT_TRUE(sub->AwaitTermination(1s));
  d.RunUntilIdle();
  EXPECT_TRUE(SubscribersOf(*topics, "news").empty());
  EXPECT_TRUE(SubscribersOf(*topics, "sport").empty());
  uint64_t dead = d.system().DeadLetterCount();
  ASSERT_TRUE(topics->Tell(Publish{"news", News{"anyone?"}}).ok());
  d.RunUntilIdle();
  EXPECT_EQ(d.system().DeadLetterCount(), dead);  // nobody left to send it to
}

TEST(PubSub, APublicationIdIsDeliveredAtMostOnce) {
  DeterministicSystem d;
  auto topics = SpawnTopicActor(d.system(), "topics");
  ASSERT_TRUE(topics.ok());
  TestProbe probe(d.system());
  Join(probe, *topics, "news");
  PublishId id{7, 1};
  ASSERT_TRUE(topics->Tell(Publish{"news", News{"first"}, id}).ok());
  ASSERT_TRUE(topics->Tell(Publish{"news", News{"relayed again"}, id}).ok());
  ASSERT_TRUE(topics->Tell(Publish{"news", News{"next"}, PublishId{7, 2}}).ok());
  EXPECT_TRUE(probe.ExpectMessage(News{"first"}, 1s).ok());
  EXPECT_TRUE(probe.ExpectMessage(News{"next"}, 1s).ok());
  EXPECT_TRUE(probe.ExpectNoMessage(1s).ok());
}

TEST(PubSub, PublicationsWithoutAnIdGetDistinctIds) {
  DeterministicSystem d;
  auto topics = SpawnTopicActor(d.system(), "topics");
  ASSERT_TRUE(topics.ok());
  TestProbe probe(d.system());
  Join(probe, *topics, "news");
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(topics->Tell(Publish{"news", News{"same"}}).ok());
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(probe.ExpectMessage(News{"same"}, 1s).ok()) << i;
}

// Publishes `id` and reports whether the subscriber counted it.
class DedupHarness {
 public:
  DedupHarness(DeterministicSystem& d, std::size_t window) : d_(d) {
    topics_ = SpawnTopicActor(d.system(), "", TopicOptions().WithDedupWindow(window)).value();
    sub_ = d.system().Spawn<Counter>("", count_).value();
    sub_.Tell(JoinTopic{topics_, "t"}).IgnoreError();
    d.RunUntilIdle();
  }
  bool Delivered(uint64_t origin, uint64_t seq) {
    int before = count_->load();
    topics_.Tell(Publish{"t", News{"x"}, PublishId{origin, seq}}).IgnoreError();
    d_.RunUntilIdle();
    return count_->load() == before + 1;
  }

 private:
  DeterministicSystem& d_;
  std::shared_ptr<std::atomic<int>> count_ = std::make_shared<std::atomic<int>>(0);
  PID topics_;
  PID sub_;
};

TEST(PubSub, TheMemoryOfIdsIsBoundedAndForgetsTheOldestFirst) {
  DeterministicSystem d;
  DedupHarness h(d, 64);
  for (uint64_t s = 1; s <= 5000; ++s) ASSERT_TRUE(h.Delivered(1, s)) << s;
  for (uint64_t s = 4937; s <= 5000; ++s) EXPECT_FALSE(h.Delivered(1, s)) << s;  // the last 64
  EXPECT_TRUE(h.Delivered(1, 4936));  // forgotten; remembered again now
  EXPECT_FALSE(h.Delivered(1, 4936));
}

TEST(PubSub, DeduplicationMatchesAReferenceModelUnderRandomIds) {
  DeterministicSystem d;
  constexpr std::size_t kWindow = 100;
  DedupHarness h(d, kWindow);
  std::deque<std::pair<uint64_t, uint64_t>> order;  // the model: FIFO of remembered ids
  std::set<std::pair<uint64_t, uint64_t>> remembered;
  std::mt19937_64 rng(7);
  for (int i = 0; i < 20000; ++i) {
    std::pair<uint64_t, uint64_t> id{1 + rng() % 3, 1 + rng() % 150};
    bool expected = remembered.count(id) == 0;
    if (expected) {
      if (order.size() == kWindow) {
        remembered.erase(order.front());
        order.pop_front();
      }
      order.push_back(id);
      remembered.insert(id);
    }
    ASSERT_EQ(h.Delivered(id.first, id.second), expected) << "step " << i;
  }
}

TEST(PubSub, AMessageThatCannotBeCopiedReachesOneSubscriberButNotMany) {
  DeterministicSystem d;
  auto topics = SpawnTopicActor(d.system(), "topics");
  ASSERT_TRUE(topics.ok());
  TestProbe a(d.system()), b(d.system());
  Join(a, *topics, "solo");
  ASSERT_TRUE(topics->Tell(Publish{"solo", Unique{std::make_unique<int>(1)}}).ok());
  EXPECT_TRUE(a.ExpectMessage<Unique>(1s).ok());

  Join(b, *topics, "solo");
  uint64_t dead = d.system().DeadLetterCount();
  Result<Message> r = topics->Ask(Publish{"solo", Unique{std::make_unique<int>(2)}}, 1s);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << r.status().ToString();
  EXPECT_EQ(d.system().DeadLetterCount(), dead + 1);
  EXPECT_TRUE(a.ExpectNoMessage(100ms).ok());
}

TEST(PubSub, AZeroDedupWindowIsRefused) {
  DeterministicSystem d;
  EXPECT_EQ(SpawnTopicActor(d.system(), "t", TopicOptions().WithDedupWindow(0)).status().code(),
            StatusCode::kInvalidArgument);
}

TEST(PubSub, ConcurrentPublishersReachEverySubscriber) {
  ActorSystem system(test::QuietOptions());
  ASSERT_TRUE(system.Start().ok());
  auto topics = SpawnTopicActor(system, "topics");
  ASSERT_TRUE(topics.ok());
  constexpr int kSubscribers = 4;
  std::vector<std::shared_ptr<std::atomic<int>>> counts;
  for (int i = 0; i < kSubscribers; ++i) {
    counts.push_back(std::make_shared<std::atomic<int>>(0));
    auto sub = system.Spawn<Counter>("", counts.back());
    ASSERT_TRUE(sub.ok());
    ASSERT_TRUE(topics->Ask<SubscribeAck>(Subscribe{"news", *sub}, 5s).ok());
  }
  constexpr int kPublishers = 3;
  constexpr int kEach = 2000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kPublishers; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kEach; ++i) topics->Tell(Publish{"news", News{"n"}}).IgnoreError();
    });
  }
  for (auto& th : threads) th.join();
  for (const auto& c : counts) {
    EXPECT_TRUE(test::WaitFor([&] { return c->load() == kPublishers * kEach; }, 10000ms))
        << c->load();
  }
}

}  // namespace
}  // namespace akt
