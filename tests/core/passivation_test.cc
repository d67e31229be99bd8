// Passivation (time-based, message-count, long-lived, pause/resume) and
// node-wide eviction (LRU, LFU, MRU), in virtual time.
#include <akt/testing/deterministic.h>

#include <string>
#include <vector>

#include "test_util.h"

namespace akt {
namespace {

using namespace std::chrono_literals;

class Idle : public Actor {
 public:
  void Receive(ReceiveContext& ctx) override {
    if (ctx.Is<std::string>()) ctx.Reply(std::string("pong")).IgnoreError();
  }
};

SpawnOptions After(Duration idle) {
  return SpawnOptions().WithPassivation(PassivationStrategy::TimeBased(idle));
}

TEST(Passivation, AnIdleActorIsPassivatedAfterItsIdleTime) {
  testing::DeterministicSystem d;
  std::vector<std::string> reasons;
  auto sub = d.system().events().Subscribe([&](const Message& m) {
    if (auto* p = m.As<ActorPassivated>()) reasons.push_back(p->reason);
  });
  auto pid = d.system().Spawn(
      "s", [] { return std::make_unique<Idle>(); }, After(1s));
  ASSERT_TRUE(pid.ok());
  d.Advance(900ms);
  EXPECT_TRUE(pid->IsRunning());
  d.Advance(100ms);
  EXPECT_FALSE(pid->IsRunning());
  ASSERT_EQ(reasons.size(), 1u);
  EXPECT_NE(reasons[0].find("idle"), std::string::npos);
  EXPECT_EQ(pid->Tell(std::string("x")).code(), StatusCode::kStopped);
  EXPECT_EQ(d.system().Metrics().passivated, 1u);
  EXPECT_EQ(d.system().ActorCount(), 0u);
}

TEST(Passivation, ActivityPostponesIt) {
  testing::DeterministicSystem d;
  auto pid = d.system().Spawn(
      "s", [] { return std::make_unique<Idle>(); }, After(1s));
  ASSERT_TRUE(pid.ok());
  for (int i = 0; i < 5; ++i) {
    d.Advance(600ms);
    ASSERT_TRUE(pid->Tell(std::string("keep alive")).ok());
    d.RunUntilIdle();
  }
  EXPECT_TRUE(pid->IsRunning());  // 3 s old, never idle for 1 s
  d.Advance(1100ms);
  EXPECT_FALSE(pid->IsRunning());
}

TEST(Passivation, PauseAndResume) {
  testing::DeterministicSystem d;
  auto pid = d.system().Spawn(
      "s", [] { return std::make_unique<Idle>(); }, After(1s));
  ASSERT_TRUE(pid.ok());
  ASSERT_TRUE(pid->Tell(PausePassivation{}).ok());
  d.RunUntilIdle();
  d.Advance(10s);
  EXPECT_TRUE(pid->IsRunning());
  ASSERT_TRUE(pid->Tell(ResumePassivation{}).ok());
  d.RunUntilIdle();
  d.Advance(900ms);
  EXPECT_TRUE(pid->IsRunning());  // the idle time started again at resume
  d.Advance(2s);
  EXPECT_FALSE(pid->IsRunning());
}

TEST(Passivation, MessageCountStrategyStopsAfterNMessages) {
  testing::DeterministicSystem d;
  auto pid = d.system().Spawn(
      "s", [] { return std::make_unique<Idle>(); },
      SpawnOptions().WithPassivation(PassivationStrategy::MessageCount(3)));
  ASSERT_TRUE(pid.ok());
  for (int i = 0; i < 2; ++i) ASSERT_TRUE(pid->Tell(1).ok());
  d.RunUntilIdle();
  EXPECT_TRUE(pid->IsRunning());
  ASSERT_TRUE(pid->Tell(1).ok());
  d.RunUntilIdle();
  EXPECT_FALSE(pid->IsRunning());
}

TEST(Passivation, WorksOnRealThreadsAndReleasesTheActor) {
  ActorSystem system(test::QuietOptions());
  ASSERT_TRUE(system.Start().ok());
  std::vector<PID> pids;
  for (int i = 0; i < 2000; ++i) {
    pids.push_back(*system.Spawn(
        "", [] { return std::make_unique<Idle>(); }, After(50ms)));
  }
  PID busy = *system.Spawn(
      "busy", [] { return std::make_unique<Idle>(); }, After(300ms));
  // Keep one actor busy: it must outlive the idle ones.
  ASSERT_TRUE(test::WaitFor(
      [&] {
        (void)busy.Tell(std::string("ping"));
        return system.ActorCount() == 1;
      },
      10000ms));
  EXPECT_TRUE(busy.IsRunning());
  for (const PID& p : pids) EXPECT_FALSE(p.IsRunning());
  EXPECT_EQ(system.Metrics().passivated, 2000u);
}

TEST(Passivation, PlainActorsAreLongLivedByDefault) {
  testing::DeterministicSystem d;
  auto pid = d.system().Spawn<Idle>("plain");
  ASSERT_TRUE(pid.ok());
  d.Advance(24h);
  EXPECT_TRUE(pid->IsRunning());
}

// Five evictable actors (1 h idle time: only eviction can stop them) with
// distinct activity; the node keeps at most three.
std::vector<bool> EvictWith(EvictionPolicy policy) {
  SystemOptions o = testing::DeterministicSystem::DefaultOptions();
  o.eviction.max_actors = 3;
  o.eviction.policy = policy;
  o.eviction.interval = 1s;
  testing::DeterministicSystem d(o);
  std::vector<PID> pids;
  for (int i = 0; i < 5; ++i) {
    pids.push_back(*d.system().Spawn(
        "a" + std::to_string(i), [] { return std::make_unique<Idle>(); }, After(1h)));
  }
  // a0 is the busiest and the most recently active; a4 the least of both.
  for (int i = 4; i >= 0; --i) {
    d.Advance(150ms);
    for (int k = 0; k < 5 - i; ++k) (void)pids[i].Tell(1);
    d.RunUntilIdle();
  }
  d.Advance(1s);  // a sweep
  std::vector<bool> alive;
  for (const PID& p : pids) alive.push_back(p.IsRunning());
  return alive;
}

TEST(Eviction, LruPassivatesTheLeastRecentlyActive) {
  EXPECT_EQ(EvictWith(EvictionPolicy::kLRU), (std::vector<bool>{true, true, true, false, false}));
}

TEST(Eviction, MruPassivatesTheMostRecentlyActive) {
  EXPECT_EQ(EvictWith(EvictionPolicy::kMRU), (std::vector<bool>{false, false, true, true, true}));
}

TEST(Eviction, LfuPassivatesTheLeastBusy) {
  EXPECT_EQ(EvictWith(EvictionPolicy::kLFU), (std::vector<bool>{true, true, true, false, false}));
}

TEST(Eviction, LongLivedActorsAreNeverEvicted) {
  SystemOptions o = testing::DeterministicSystem::DefaultOptions();
  o.eviction.max_actors = 1;
  o.eviction.interval = 1s;
  testing::DeterministicSystem d(o);
  auto a = d.system().Spawn<Idle>("a");
  auto b = d.system().Spawn<Idle>("b");
  ASSERT_TRUE(a.ok() && b.ok());
  d.Advance(5s);
  EXPECT_TRUE(a->IsRunning());
  EXPECT_TRUE(b->IsRunning());
}

}  // namespace
}  // namespace akt
