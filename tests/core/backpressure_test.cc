// Actor-to-actor backpressure: a sender to a flooded mailbox is parked until
// that mailbox drains, so memory stays bounded; parking never deadlocks and
// never delays system messages.
#include <atomic>
#include <thread>

#include "test_util.h"

namespace akt {
namespace {

// Written in loops that stand for work, so the compiler keeps them.
thread_local volatile int t_spin_sink = 0;

using namespace std::chrono_literals;

struct Go {};
struct Blob {
  int64_t v;
};

// Sends `total` messages in chunks of 1000, continuing through its own mailbox.
class Flooder : public Actor {
 public:
  Flooder(PID target, int64_t total) : target_(std::move(target)), left_(total) {}
  void Receive(ReceiveContext& ctx) override {
    ctx.Match([&](const PID& target) { target_ = target; },
              [&](const Go&) {
                for (int i = 0; i < 1000 && left_ > 0; ++i, --left_) {
                  ctx.Tell(target_, Blob{left_}).IgnoreError();
                }
                if (left_ > 0) ctx.Tell(ctx.self(), Go{}).IgnoreError();
              });
  }
  PID target_;
  int64_t left_;
};

// Slow on purpose, and records the largest backlog it ever saw.
class SlowSink : public Actor {
 public:
  SlowSink(std::atomic<int64_t>* count, std::atomic<uint64_t>* max_backlog)
      : count_(count), max_backlog_(max_backlog) {}
  void Receive(ReceiveContext& ctx) override {
    if (!ctx.Is<Blob>()) return;
    for (int i = 0; i < 200; ++i) t_spin_sink = i;  // a slow consumer
    uint64_t backlog = ctx.self().MailboxSize();
    if (backlog > max_backlog_->load()) max_backlog_->store(backlog);
    count_->fetch_add(1, std::memory_order_relaxed);
  }
  std::atomic<int64_t>* count_;
  std::atomic<uint64_t>* max_backlog_;
};

TEST(Backpressure, FloodingActorsCannotGrowAMailboxWithoutBound) {
  ActorSystem system(test::QuietOptions());
  ASSERT_TRUE(system.Start().ok());
  std::atomic<int64_t> count{0};
  std::atomic<uint64_t> max_backlog{0};
  auto sink = system.Spawn<SlowSink>("sink", &count, &max_backlog);
  ASSERT_TRUE(sink.ok());
  constexpr int kSenders = 4;
  constexpr int64_t kEach = 400000;
  std::vector<PID> senders;
  for (int i = 0; i < kSenders; ++i) {
    senders.push_back(*system.Spawn<Flooder>("flood-" + std::to_string(i), *sink, kEach));
  }
  for (auto& s : senders) ASSERT_TRUE(s.Tell(Go{}).ok());
  ASSERT_TRUE(test::WaitFor([&] { return count.load() == kSenders * kEach; }, 120000ms));
  // Without backpressure the senders (much faster than the sink) would queue
  // most of the 1.6 M messages. With it, the backlog stays near the high-water
  // mark (32 Ki) plus what the senders had in flight when they were parked.
  EXPECT_LT(max_backlog.load(), 100000u);
  EXPECT_EQ(system.DeadLetterCount(), 0u);
}

TEST(Backpressure, TwoActorsFloodingEachOtherDoNotDeadlock) {
  ActorSystem system(test::QuietOptions());
  ASSERT_TRUE(system.Start().ok());
  std::atomic<int64_t> count_a{0}, count_b{0};
  // Each side floods the other and also counts what it receives.
  class Both : public Actor {
   public:
    Both(std::atomic<int64_t>* count, int64_t total) : count_(count), left_(total) {}
    void Receive(ReceiveContext& ctx) override {
      ctx.Match([&](const PID& peer) { peer_ = peer; },
                [&](const Go&) {
                  for (int i = 0; i < 1000 && left_ > 0; ++i, --left_) {
                    ctx.Tell(peer_, Blob{left_}).IgnoreError();
                  }
                  if (left_ > 0) ctx.Tell(ctx.self(), Go{}).IgnoreError();
                },
                [&](const Blob&) {
                  for (int i = 0; i < 100; ++i) t_spin_sink = i;
                  count_->fetch_add(1, std::memory_order_relaxed);
                });
    }
    std::atomic<int64_t>* count_;
    int64_t left_;
    PID peer_;
  };
  constexpr int64_t kEach = 300000;
  auto a = system.Spawn<Both>("a", &count_a, kEach);
  auto b = system.Spawn<Both>("b", &count_b, kEach);
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_TRUE(a->Tell(*b).ok());
  ASSERT_TRUE(b->Tell(*a).ok());
  ASSERT_TRUE(a->Tell(Go{}).ok());
  ASSERT_TRUE(b->Tell(Go{}).ok());
  EXPECT_TRUE(
      test::WaitFor([&] { return count_a.load() == kEach && count_b.load() == kEach; }, 120000ms));
}

TEST(Backpressure, AParkedSenderStillStopsAtOnce) {
  ActorSystem system(test::QuietOptions());
  ASSERT_TRUE(system.Start().ok());
  std::atomic<int64_t> count{0};
  std::atomic<uint64_t> max_backlog{0};
  // The sink is suspended (no rule matches its failure), so its backlog never
  // drains and a flooder sending to it stays parked.
  class Stuck : public Actor {
   public:
    void Receive(ReceiveContext& ctx) override {
      if (ctx.Is<std::string>()) throw std::runtime_error("suspend");
    }
  };
  auto stuck =
      system.SpawnWith<Stuck>("stuck", SpawnOptions().WithSupervisor(Supervisor().ClearRules()));
  ASSERT_TRUE(stuck.ok());
  ASSERT_TRUE(stuck->Tell(std::string("x")).ok());
  ASSERT_TRUE(test::WaitFor([&] { return stuck->IsSuspended(); }));
  (void)count;
  (void)max_backlog;
  auto flooder = system.Spawn<Flooder>("flooder", *stuck, 10000000);
  ASSERT_TRUE(flooder.ok());
  ASSERT_TRUE(flooder->Tell(Go{}).ok());
  // It floods until the sink's mailbox passes the high-water mark...
  ASSERT_TRUE(test::WaitFor([&] { return stuck->MailboxSize() > 40000; }, 30000ms));
  // ...and a Stop still gets through promptly.
  flooder->Stop();
  EXPECT_TRUE(flooder->AwaitTermination(10s));
}

}  // namespace
}  // namespace akt
