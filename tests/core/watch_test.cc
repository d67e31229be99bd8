// Watch: a watcher learns exactly once that a watched actor terminated, after
// everything that actor sent it; Unwatch and the watcher's own death end the
// watch.
#include <akt/testing/deterministic.h>

#include <memory>
#include <mutex>
#include <stdexcept>
#include <vector>

#include "test_util.h"

namespace akt {
namespace {

using namespace std::chrono_literals;
using akt::testing::DeterministicSystem;

struct Number {
  int n = 0;
};
struct Unwatch {};

// What a Watcher received, in order: numbers as themselves, Terminated as -1.
struct Seen {
  std::mutex mu;
  std::vector<int> items;
  std::vector<PID> terminated;

  std::vector<int> Items() {
    std::lock_guard<std::mutex> lock(mu);
    return items;
  }
  std::vector<PID> Terminated() {
    std::lock_guard<std::mutex> lock(mu);
    return terminated;
  }
};

// Watches `target` in PreStart (`times` times); Unwatch cancels it.
class Watcher : public Actor {
 public:
  Watcher(PID target, std::shared_ptr<Seen> seen, int times = 1)
      : target_(std::move(target)), seen_(std::move(seen)), times_(times) {}

  Status PreStart(Context& ctx) override {
    for (int i = 0; i < times_; ++i) ctx.Watch(target_);
    return Status();
  }
  void Receive(ReceiveContext& ctx) override {
    ctx.Match(
        [&](const Terminated& t) {
          std::lock_guard<std::mutex> lock(seen_->mu);
          seen_->items.push_back(-1);
          seen_->terminated.push_back(t.actor);
        },
        [&](const Number& n) {
          std::lock_guard<std::mutex> lock(seen_->mu);
          seen_->items.push_back(n.n);
        },
        [&](const Unwatch&) { ctx.Unwatch(target_); });
  }

 private:
  PID target_;
  std::shared_ptr<Seen> seen_;
  int times_;
};

class WatchTest : public ::testing::Test {
 protected:
  ActorSystem& system() { return d_.system(); }

  DeterministicSystem d_;
};

TEST_F(WatchTest, TerminatedIsDeliveredExactlyOnceToEachWatcher) {
  Result<PID> target = system().Spawn<test::Echo>("target");
  ASSERT_TRUE(target.ok());
  auto first = std::make_shared<Seen>();
  auto second = std::make_shared<Seen>();
  ASSERT_TRUE(system().Spawn<Watcher>("w1", *target, first).ok());
  ASSERT_TRUE(system().Spawn<Watcher>("w2", *target, second).ok());

  target->Stop();
  d_.RunUntilIdle();
  d_.Advance(1min);  // nothing more arrives later

  ASSERT_EQ(first->Terminated().size(), 1u);
  ASSERT_EQ(second->Terminated().size(), 1u);
  EXPECT_EQ(first->Terminated()[0], *target);
  EXPECT_EQ(second->Terminated()[0], *target);
}

TEST_F(WatchTest, TerminatedIsDeliveredWhenTheWatchedActorFailsAndIsStopped) {
  struct Crash {};
  class Fragile : public Actor {
   public:
    void Receive(ReceiveContext& ctx) override {
      ctx.Match([&](const Crash&) { throw std::runtime_error("crash"); });
    }
  };
  Result<PID> target = system().SpawnWith<Fragile>(
      "target",
      SpawnOptions().WithSupervisor(Supervisor().WithAnyErrorDirective(Directive::kStop)));
  ASSERT_TRUE(target.ok());
  auto seen = std::make_shared<Seen>();
  ASSERT_TRUE(system().Spawn<Watcher>("w", *target, seen).ok());

  ASSERT_TRUE(target->Tell(Crash{}).ok());
  d_.RunUntilIdle();

  ASSERT_EQ(seen->Terminated().size(), 1u);
  EXPECT_EQ(seen->Terminated()[0], *target);
}

TEST_F(WatchTest, WatchingAnAlreadyDeadActorDeliversTerminatedAtOnce) {
  Result<PID> target = system().Spawn<test::Echo>("target");
  ASSERT_TRUE(target.ok());
  target->Stop();
  ASSERT_TRUE(target->AwaitTermination(1s));
  TimePoint before = d_.Now();
  auto seen = std::make_shared<Seen>();

  ASSERT_TRUE(system().Spawn<Watcher>("w", *target, seen).ok());
  d_.RunUntilIdle();

  ASSERT_EQ(seen->Terminated().size(), 1u);
  EXPECT_EQ(seen->Terminated()[0], *target);
  EXPECT_EQ(d_.Now(), before);
}

TEST_F(WatchTest, WatchingTwiceStillDeliversOneTerminated) {
  Result<PID> target = system().Spawn<test::Echo>("target");
  ASSERT_TRUE(target.ok());
  auto seen = std::make_shared<Seen>();
  ASSERT_TRUE(system().Spawn<Watcher>("w", *target, seen, 2).ok());

  target->Stop();
  d_.RunUntilIdle();

  EXPECT_EQ(seen->Terminated().size(), 1u);
}

TEST_F(WatchTest, WatchingADeadActorTwiceStillDeliversOneTerminated) {
  Result<PID> target = system().Spawn<test::Echo>("target");
  ASSERT_TRUE(target.ok());
  target->Stop();
  ASSERT_TRUE(target->AwaitTermination(1s));
  auto seen = std::make_shared<Seen>();

  ASSERT_TRUE(system().Spawn<Watcher>("w", *target, seen, 2).ok());
  d_.RunUntilIdle();

  EXPECT_EQ(seen->Terminated().size(), 1u);
}

TEST_F(WatchTest, UnwatchCancelsTheTerminated) {
  Result<PID> target = system().Spawn<test::Echo>("target");
  ASSERT_TRUE(target.ok());
  auto seen = std::make_shared<Seen>();
  Result<PID> watcher = system().Spawn<Watcher>("w", *target, seen);
  ASSERT_TRUE(watcher.ok());
  ASSERT_TRUE(watcher->Tell(Unwatch{}).ok());
  d_.RunUntilIdle();

  target->Stop();
  d_.RunUntilIdle();

  EXPECT_TRUE(target->AwaitTermination(1s));
  EXPECT_TRUE(seen->Terminated().empty());
  EXPECT_EQ(system().DeadLetterCount(), 0u);
}

TEST_F(WatchTest, UnwatchAlsoCancelsATerminatedAlreadyInTheMailbox) {
  Result<PID> target = system().Spawn<test::Echo>("target");
  ASSERT_TRUE(target.ok());
  auto seen = std::make_shared<Seen>();
  Result<PID> watcher = system().Spawn<Watcher>("w", *target, seen);
  ASSERT_TRUE(watcher.ok());
  // The watcher has Number, Unwatch queued; the target stops right after the
  // watcher's first turn, so its Terminated lands behind the Unwatch.
  ASSERT_TRUE(watcher->Tell(Number{1}).ok());
  ASSERT_TRUE(watcher->Tell(Unwatch{}).ok());
  target->Stop();
  ASSERT_TRUE(d_.Step());  // the watcher: Number
  ASSERT_TRUE(d_.Step());  // the target: stops, Terminated queued for the watcher
  ASSERT_TRUE(target->AwaitTermination(Duration::zero()));
  ASSERT_EQ(watcher->MailboxSize(), 2u);  // Unwatch, Terminated

  d_.RunUntilIdle();

  EXPECT_EQ(seen->Items(), std::vector<int>{1});
  EXPECT_TRUE(seen->Terminated().empty());
}

TEST_F(WatchTest, ATerminatedForwardedToAnActorThatDoesNotWatchIsStillDelivered) {
  // Unwatch cancels akt's own notice only; a Terminated passed on by the
  // watcher is an ordinary message.
  class Relay : public Actor {
   public:
    Relay(PID target, PID manager) : target_(std::move(target)), manager_(std::move(manager)) {}
    Status PreStart(Context& ctx) override {
      ctx.Watch(target_);
      return Status();
    }
    void Receive(ReceiveContext& ctx) override {
      ctx.Match([&](const Terminated&) { ctx.Forward(manager_).IgnoreError(); });
    }

   private:
    PID target_;
    PID manager_;
  };
  Result<PID> target = system().Spawn<test::Echo>("target");
  ASSERT_TRUE(target.ok());
  auto seen = std::make_shared<Seen>();
  // The manager "watches" an unrelated actor, so it has a watch list.
  Result<PID> unrelated = system().Spawn<test::Echo>("unrelated");
  ASSERT_TRUE(unrelated.ok());
  Result<PID> manager = system().Spawn<Watcher>("manager", *unrelated, seen);
  ASSERT_TRUE(manager.ok());
  ASSERT_TRUE(system().Spawn<Relay>("relay", *target, *manager).ok());

  target->Stop();
  d_.RunUntilIdle();

  ASSERT_EQ(seen->Terminated().size(), 1u);
  EXPECT_EQ(seen->Terminated()[0], *target);
}

TEST_F(WatchTest, AStoppedWatcherIsForgottenAndCausesNoDeadLetters) {
  Result<PID> target = system().Spawn<test::Echo>("target");
  ASSERT_TRUE(target.ok());
  auto seen = std::make_shared<Seen>();
  Result<PID> watcher = system().Spawn<Watcher>("w", *target, seen);
  ASSERT_TRUE(watcher.ok());
  watcher->Stop();
  ASSERT_TRUE(watcher->AwaitTermination(1s));

  target->Stop();
  d_.RunUntilIdle();

  EXPECT_TRUE(target->AwaitTermination(1s));
  // Had the dead watcher still been registered, its Terminated would have
  // gone to dead letters (reason kStopped).
  EXPECT_EQ(system().DeadLetterCount(), 0u);
  EXPECT_TRUE(seen->Terminated().empty());
}

TEST_F(WatchTest, WatchingAgainAfterTerminatedStartsANewWatch) {
  // A Terminated ends the watch; a later Watch of the same (dead) actor is a
  // new one and gets its own Terminated.
  struct WatchAgain {};
  class Rewatcher : public Actor {
   public:
    Rewatcher(PID target, std::shared_ptr<Seen> seen)
        : target_(std::move(target)), seen_(std::move(seen)) {}
    Status PreStart(Context& ctx) override {
      ctx.Watch(target_);
      return Status();
    }
    void Receive(ReceiveContext& ctx) override {
      ctx.Match(
          [&](const Terminated& t) {
            std::lock_guard<std::mutex> lock(seen_->mu);
            seen_->terminated.push_back(t.actor);
          },
          [&](const WatchAgain&) { ctx.Watch(target_); });
    }

   private:
    PID target_;
    std::shared_ptr<Seen> seen_;
  };
  Result<PID> target = system().Spawn<test::Echo>("target");
  ASSERT_TRUE(target.ok());
  auto seen = std::make_shared<Seen>();
  Result<PID> watcher = system().Spawn<Rewatcher>("w", *target, seen);
  ASSERT_TRUE(watcher.ok());
  target->Stop();
  d_.RunUntilIdle();
  ASSERT_EQ(seen->Terminated().size(), 1u);

  ASSERT_TRUE(watcher->Tell(WatchAgain{}).ok());
  d_.RunUntilIdle();

  EXPECT_EQ(seen->Terminated().size(), 2u);
}

// On Go, sends `count` Numbers to `to` and stops itself in the same turn.
class Chatter : public Actor {
 public:
  Chatter(PID to, int count) : to_(std::move(to)), count_(count) {}
  void Receive(ReceiveContext& ctx) override {
    ctx.Match([&](const test::Ping&) {
      for (int i = 0; i < count_; ++i) ctx.Tell(to_, Number{i}).IgnoreError();
      ctx.Stop(ctx.self());
    });
  }

 private:
  PID to_;
  int count_;
};

// A Watcher spawned before its target exists: it watches whatever PID the
// first message names.
struct WatchThis {
  PID target;
};
class LateWatcher : public Actor {
 public:
  explicit LateWatcher(std::shared_ptr<Seen> seen) : seen_(std::move(seen)) {}
  void Receive(ReceiveContext& ctx) override {
    ctx.Match(
        [&](const WatchThis& w) {
          ctx.Watch(w.target);
          ctx.Reply(true).IgnoreError();
        },
        [&](const Terminated& t) {
          std::lock_guard<std::mutex> lock(seen_->mu);
          seen_->items.push_back(-1);
          seen_->terminated.push_back(t.actor);
        },
        [&](const Number& n) {
          std::lock_guard<std::mutex> lock(seen_->mu);
          seen_->items.push_back(n.n);
        });
  }

 private:
  std::shared_ptr<Seen> seen_;
};

TEST(WatchConcurrencyTest, TerminatedArrivesAfterEveryMessageTheDeadActorSentTheWatcher) {
  constexpr int kCount = 2000;
  ActorSystem system(test::QuietOptions());
  ASSERT_TRUE(system.Start().ok());
  auto seen = std::make_shared<Seen>();
  Result<PID> watcher = system.Spawn<LateWatcher>("watcher", seen);
  ASSERT_TRUE(watcher.ok());
  Result<PID> chatter = system.Spawn<Chatter>("chatter", *watcher, kCount);
  ASSERT_TRUE(chatter.ok());
  ASSERT_TRUE(watcher->Ask<bool>(WatchThis{*chatter}, 5s).ok());

  ASSERT_TRUE(chatter->Tell(test::Ping{}).ok());
  ASSERT_TRUE(test::WaitFor([&] { return !seen->Terminated().empty(); }));

  std::vector<int> items = seen->Items();
  ASSERT_EQ(items.size(), static_cast<std::size_t>(kCount + 1));
  for (int i = 0; i < kCount; ++i) ASSERT_EQ(items[i], i) << "at " << i;
  EXPECT_EQ(items.back(), -1);  // Terminated last
  EXPECT_EQ(seen->Terminated()[0], *chatter);
  EXPECT_EQ(system.DeadLetterCount(), 0u);
}

}  // namespace
}  // namespace akt
