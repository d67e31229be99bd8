#include "mpsc_queue.h"

#include <gtest/gtest.h>

#include <memory>
#include <thread>
#include <vector>

namespace akt::internal {
namespace {

struct Item : QueueNode {
  int producer = 0;
  int seq = 0;
};

TEST(MpscQueue, IsFifoForOneProducer) {
  MpscQueue q;
  std::vector<Item> items(100);  // sized once: nodes never move
  for (int i = 0; i < 100; ++i) {
    items[i].seq = i;
    q.Push(&items[i]);
  }
  for (int i = 0; i < 100; ++i) {
    auto* it = static_cast<Item*>(q.Pop());
    ASSERT_NE(it, nullptr);
    EXPECT_EQ(it->seq, i);
  }
  EXPECT_EQ(q.Pop(), nullptr);
  EXPECT_TRUE(q.Empty());
}

TEST(MpscQueue, KeepsPerProducerOrderUnderContention) {
  constexpr int kProducers = 4;
  constexpr int kPerProducer = 50000;
  MpscQueue q;
  std::vector<std::unique_ptr<Item[]>> items;
  for (int p = 0; p < kProducers; ++p) items.push_back(std::make_unique<Item[]>(kPerProducer));
  std::vector<std::thread> producers;
  for (int p = 0; p < kProducers; ++p) {
    producers.emplace_back([&, p] {
      for (int i = 0; i < kPerProducer; ++i) {
        items[p][i].producer = p;
        items[p][i].seq = i;
        q.Push(&items[p][i]);
      }
    });
  }
  std::vector<int> next(kProducers, 0);
  int received = 0;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (received < kProducers * kPerProducer && std::chrono::steady_clock::now() < deadline) {
    auto* it = static_cast<Item*>(q.Pop());
    if (it == nullptr) continue;
    ASSERT_EQ(it->seq, next[it->producer]) << "producer " << it->producer;
    next[it->producer]++;
    received++;
  }
  for (auto& t : producers) t.join();
  EXPECT_EQ(received, kProducers * kPerProducer);
  EXPECT_EQ(q.Pop(), nullptr);
}

}  // namespace
}  // namespace akt::internal
