// Envelopes are pooled: steady-state messaging does not allocate.
#include <akt/testing/deterministic.h>

#include <atomic>
#include <thread>

#include "envelope.h"
#include "test_util.h"

namespace akt {
namespace {

using namespace std::chrono_literals;

struct Ball {
  int left;
};

class Bouncer : public Actor {
 public:
  explicit Bouncer(std::atomic<int>* finished) : finished_(finished) {}
  void Receive(ReceiveContext& ctx) override {
    ctx.Match([&](const Ball& b) {
      if (b.left == 0) {
        finished_->fetch_add(1);
      } else {
        ctx.Reply(Ball{b.left - 1}).IgnoreError();
      }
    });
  }
  std::atomic<int>* finished_;
};

TEST(EnvelopePool, SteadyStatePingPongAllocatesNothing) {
  testing::DeterministicSystem d;
  std::atomic<int> finished{0};
  auto a = d.system().Spawn<Bouncer>("a", &finished);
  auto b = d.system().Spawn<Bouncer>("b", &finished);
  ASSERT_TRUE(a.ok() && b.ok());
  auto serve = [&](int n) {
    // a serves b a ball of n bounces (b is the sender, so replies alternate).
    ASSERT_TRUE(a->Forward(Ball{n}, *b).ok());
    d.RunUntilIdle();
  };
  serve(1000);  // warm-up fills the thread's cache
  uint64_t before = internal::GetEnvelopePoolStats().allocated;
  serve(100000);
  uint64_t after = internal::GetEnvelopePoolStats().allocated;
  EXPECT_EQ(after, before) << "envelopes were allocated in steady state";
  EXPECT_EQ(finished.load(), 2);
}

TEST(EnvelopePool, FanInAcrossThreadsRecyclesThroughTheBoundedGlobalPool) {
  ActorSystem system(test::QuietOptions());
  ASSERT_TRUE(system.Start().ok());
  std::atomic<int> count{0};
  class Sink : public Actor {
   public:
    explicit Sink(std::atomic<int>* c) : c_(c) {}
    void Receive(ReceiveContext&) override { c_->fetch_add(1, std::memory_order_relaxed); }
    std::atomic<int>* c_;
  };
  auto sink = system.Spawn<Sink>("sink", &count);
  ASSERT_TRUE(sink.ok());
  constexpr int kPerThread = 200000;
  auto run = [&] {
    std::vector<std::thread> senders;
    for (int t = 0; t < 2; ++t) {
      senders.emplace_back([&] {
        for (int i = 0; i < kPerThread; ++i) {
          (void)sink->Tell(i);
          // Let the sink keep up so the test measures recycling, not backlog.
          if ((i & 1023) == 0) {
            while (sink->MailboxSize() > 20000) std::this_thread::yield();
          }
        }
      });
    }
    for (auto& s : senders) s.join();
  };
  run();
  ASSERT_TRUE(test::WaitFor([&] { return count.load() == 2 * kPerThread; }, 30000ms));
  uint64_t before = internal::GetEnvelopePoolStats().allocated;
  run();
  ASSERT_TRUE(test::WaitFor([&] { return count.load() == 4 * kPerThread; }, 30000ms));
  uint64_t grown = internal::GetEnvelopePoolStats().allocated - before;
  // Without recycling this would be 400k; the backlog bound allows ~40k.
  EXPECT_LT(grown, 100000u);
}

}  // namespace
}  // namespace akt
