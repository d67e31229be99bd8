// Real threads, real contention: nothing lost, nothing processed twice,
// nothing left hanging.
#include <atomic>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "test_util.h"

namespace akt {
namespace {

using namespace std::chrono_literals;

struct Item {
  int sender;
  int seq;
};
struct Check {};

// Verifies per-sender FIFO and counts what it got.
class OrderChecker : public Actor {
 public:
  explicit OrderChecker(int senders) : next_(senders, 0) {}
  void Receive(ReceiveContext& ctx) override {
    ctx.Match(
        [&](const Item& it) {
          if (it.seq != next_[it.sender]) violations_++;
          next_[it.sender] = it.seq + 1;
          total_++;
        },
        [&](const Check&) { ctx.Reply(std::pair<int, int>(total_, violations_)).IgnoreError(); });
  }

 private:
  std::vector<int> next_;
  int total_ = 0;
  int violations_ = 0;
};

TEST(Concurrency, ManyThreadsTellingOneActorLoseNothingAndKeepPerSenderOrder) {
  ActorSystem system(test::QuietOptions());
  ASSERT_TRUE(system.Start().ok());
  constexpr int kThreads = 4;
  constexpr int kPerThread = 50000;
  auto checker = system.Spawn<OrderChecker>("checker", kThreads);
  ASSERT_TRUE(checker.ok());
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) ASSERT_TRUE(checker->Tell(Item{t, i}).ok());
    });
  }
  for (auto& th : threads) th.join();
  std::pair<int, int> result{0, 0};
  ASSERT_TRUE(test::WaitFor(
      [&] {
        auto r = checker->Ask<std::pair<int, int>>(Check{}, 5s);
        if (r.ok()) result = *r;
        return result.first == kThreads * kPerThread;
      },
      30000ms));
  EXPECT_EQ(result.second, 0) << "per-sender order violated";
}

// Actors passing tokens around a ring while other threads spawn and stop
// actors: every token arrives, and the actor count returns to its start.
TEST(Concurrency, SpawnAndStopChurnDoesNotDisturbTraffic) {
  ActorSystem system(test::QuietOptions());
  ASSERT_TRUE(system.Start().ok());
  struct Token {
    int hops;
  };
  std::atomic<int> arrived{0};
  class Ring : public Actor {
   public:
    explicit Ring(std::atomic<int>* arrived) : arrived_(arrived) {}
    void Receive(ReceiveContext& ctx) override {
      ctx.Match([&](const PID& next) { next_ = next; },
                [&](const Token& t) {
                  if (t.hops == 0) {
                    arrived_->fetch_add(1);
                  } else {
                    ctx.Tell(next_, Token{t.hops - 1}).IgnoreError();
                  }
                });
    }
    std::atomic<int>* arrived_;
    PID next_;
  };
  std::vector<PID> ring;
  for (int i = 0; i < 8; ++i)
    ring.push_back(*system.Spawn<Ring>("ring-" + std::to_string(i), &arrived));
  for (int i = 0; i < 8; ++i) ASSERT_TRUE(ring[i].Tell(ring[(i + 1) % 8]).ok());
  std::size_t base = system.ActorCount();
  std::atomic<bool> churn{true};
  std::thread churner([&] {
    class Idle : public Actor {
     public:
      void Receive(ReceiveContext&) override {}
    };
    int i = 0;
    while (churn.load()) {
      auto p = system.Spawn<Idle>("churn-" + std::to_string(i++ % 50));
      if (p.ok()) {
        p->Stop();
        p->AwaitTermination(5s);
      }
    }
  });
  for (int t = 0; t < 200; ++t) ASSERT_TRUE(ring[t % 8].Tell(Token{1000}).ok());
  EXPECT_TRUE(test::WaitFor([&] { return arrived.load() == 200; }, 60000ms));
  churn = false;
  churner.join();
  EXPECT_TRUE(test::WaitFor([&] { return system.ActorCount() == base; }));
}

TEST(Concurrency, StopWhileTrafficFlowsCompletesEveryAsk) {
  auto system = std::make_unique<ActorSystem>(test::QuietOptions());
  ASSERT_TRUE(system->Start().ok());
  auto echo = system->Spawn<test::Echo>("echo");
  ASSERT_TRUE(echo.ok());
  PID target = *echo;
  std::atomic<int> answered{0};
  std::atomic<int> failed_cleanly{0};
  std::atomic<int> other{0};
  std::vector<std::thread> askers;
  for (int t = 0; t < 3; ++t) {
    askers.emplace_back([&] {
      for (int i = 0; i < 3000; ++i) {
        auto r = target.Ask<test::Pong>(test::Ping{i}, 30s);
        if (r.ok()) {
          answered++;
        } else if (r.status().code() == StatusCode::kStopped ||
                   r.status().code() == StatusCode::kSystemStopped) {
          failed_cleanly++;
        } else {
          other++;
        }
      }
    });
  }
  ASSERT_TRUE(test::WaitFor([&] { return answered.load() > 100; }));
  ASSERT_TRUE(system->Stop().ok());
  for (auto& a : askers) a.join();  // would hang (30 s asks) if asks were left pending
  EXPECT_EQ(answered + failed_cleanly, 9000);
  EXPECT_EQ(other.load(), 0);
  system.reset();
  // PIDs outlive their system safely.
  EXPECT_EQ(target.Tell(test::Ping{}).code(), StatusCode::kStopped);
}

}  // namespace
}  // namespace akt
