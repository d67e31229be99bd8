// Pool routers: the six strategies, the routee failure policies, the control
// messages (GetRoutees, AdjustPoolSize, Broadcast) and an empty pool. Orders
// and timings run on the deterministic fixture; concurrency on real threads.
#include <akt/router.h>
#include <akt/testing/deterministic.h>

#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "envelope.h"
#include "test_util.h"

namespace akt {
namespace {

using namespace std::chrono_literals;
using akt::testing::DeterministicSystem;

struct Work {
  int n = 0;
};
struct Keyed {
  std::string key;
};
struct Boom {};
struct Count {};
struct Unique {
  std::unique_ptr<int> p;
};

// Who received what, across all routees; safe from any thread.
struct Log {
  std::mutex mu;
  std::vector<std::pair<std::string, int>> entries;  // (routee name, Work::n)

  void Add(std::string_view who, int n) {
    std::lock_guard<std::mutex> lock(mu);
    entries.emplace_back(std::string(who), n);
  }
  std::size_t size() {
    std::lock_guard<std::mutex> lock(mu);
    return entries.size();
  }
  std::map<std::string, int> PerRoutee() {
    std::lock_guard<std::mutex> lock(mu);
    std::map<std::string, int> out;
    for (const auto& e : entries) out[e.first]++;
    return out;
  }
  std::vector<std::pair<std::string, int>> Snapshot() {
    std::lock_guard<std::mutex> lock(mu);
    return entries;
  }
};

// How the routee with a given index (the number at the end of its name)
// answers Work: reply with its name, swallow it (never answer), or throw.
enum class Mode { kAnswer, kSilent, kFail };

class Worker : public Actor {
 public:
  Worker(std::shared_ptr<Log> log, std::vector<Mode> modes)
      : log_(std::move(log)), modes_(std::move(modes)) {}

  void Receive(ReceiveContext& ctx) override {
    std::string me(ctx.self().Name());
    ctx.Match(
        [&](const Work& w) {
          log_->Add(me, w.n);
          ++count_;
          switch (ModeOf(me)) {
            case Mode::kAnswer:
              ctx.Reply(me).IgnoreError();
              break;
            case Mode::kSilent:
              break;
            case Mode::kFail:
              throw std::runtime_error("work failed");
          }
        },
        [&](const Keyed&) { ctx.Reply(me).IgnoreError(); },
        [&](const Boom&) { throw std::runtime_error("boom"); },
        [&](const Count&) { ctx.Reply(count_).IgnoreError(); },
        [&](const Unique&) { ctx.Reply(me).IgnoreError(); });
  }

 private:
  Mode ModeOf(const std::string& name) const {
    std::size_t dash = name.rfind('-');
    std::size_t index = dash == std::string::npos ? 0 : std::stoul(name.substr(dash + 1));
    return index < modes_.size() ? modes_[index] : Mode::kAnswer;
  }
  std::shared_ptr<Log> log_;
  std::vector<Mode> modes_;
  int count_ = 0;
};

Result<PID> Spawn(ActorSystem& system, const std::string& name, RouterOptions options,
                  std::shared_ptr<Log> log, std::vector<Mode> modes = {}) {
  return SpawnRouter<Worker>(system, name, std::move(options), std::move(log), std::move(modes));
}

std::vector<PID> RouteesOf(const PID& router) {
  Result<Routees> r = router.Ask<Routees>(GetRoutees{}, 5s);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? r->pids : std::vector<PID>{};
}

// ---------------------------------------------------------------------------
// Round robin and random.

TEST(Router, RoundRobinSendsEachMessageToTheNextRouteeInTurn) {
  DeterministicSystem d;
  auto log = std::make_shared<Log>();
  auto router = Spawn(d.system(), "rr", RouterOptions().WithPoolSize(3), log);
  ASSERT_TRUE(router.ok()) << router.status().ToString();
  for (int i = 0; i < 7; ++i) ASSERT_TRUE(router->Tell(Work{i}).ok());
  d.RunUntilIdle();
  std::vector<std::pair<std::string, int>> expected = {
      {"rr.routee-0", 0}, {"rr.routee-1", 1}, {"rr.routee-2", 2}, {"rr.routee-0", 3},
      {"rr.routee-1", 4}, {"rr.routee-2", 5}, {"rr.routee-0", 6}};
  EXPECT_EQ(log->Snapshot(), expected);
}

TEST(Router, AskIsAnsweredByTheRouteeWithoutPassingBackThroughTheRouter) {
  DeterministicSystem d;
  auto log = std::make_shared<Log>();
  auto router = Spawn(d.system(), "direct", RouterOptions().WithPoolSize(2), log);
  ASSERT_TRUE(router.ok());
  EXPECT_EQ(router->Ask<std::string>(Work{1}, 1s).value_or(""), "direct.routee-0");
  EXPECT_EQ(router->Ask<std::string>(Work{2}, 1s).value_or(""), "direct.routee-1");
  d.RunUntilIdle();
  // The router handled the two asks and nothing else: the replies went from
  // the routees straight to the asker.
  EXPECT_EQ(router->ProcessedCount(), 2u);
}

TEST(Router, RandomReachesEveryRouteeRoughlyEvenly) {
  DeterministicSystem d;
  auto log = std::make_shared<Log>();
  auto router = Spawn(
      d.system(), "rnd",
      RouterOptions().WithPoolSize(4).WithStrategy(RoutingStrategy::kRandom).WithRandomSeed(42),
      log);
  ASSERT_TRUE(router.ok());
  for (int i = 0; i < 4000; ++i) ASSERT_TRUE(router->Tell(Work{i}).ok());
  d.RunUntilIdle();
  std::map<std::string, int> per = log->PerRoutee();
  ASSERT_EQ(per.size(), 4u);
  for (const auto& [name, n] : per) {
    EXPECT_GT(n, 850) << name;
    EXPECT_LT(n, 1150) << name;
  }
}

TEST(Router, RoundRobinForwardingAllocatesNoEnvelopesInSteadyState) {
  DeterministicSystem d;
  class Sink : public Actor {
   public:
    void Receive(ReceiveContext&) override {}
  };
  auto router = SpawnRouter<Sink>(d.system(), "hot", RouterOptions().WithPoolSize(8));
  ASSERT_TRUE(router.ok());
  for (int i = 0; i < 2000; ++i) ASSERT_TRUE(router->Tell(Work{i}).ok());
  d.RunUntilIdle();
  uint64_t before = internal::GetEnvelopePoolStats().allocated;
  for (int round = 0; round < 100; ++round) {
    for (int i = 0; i < 1000; ++i) ASSERT_TRUE(router->Tell(Work{i}).ok());
    d.RunUntilIdle();
  }
  EXPECT_EQ(internal::GetEnvelopePoolStats().allocated, before);
}

// ---------------------------------------------------------------------------
// Fan-out and Broadcast.

TEST(Router, FanOutDeliversACopyToEveryRoutee) {
  DeterministicSystem d;
  auto log = std::make_shared<Log>();
  auto router = Spawn(d.system(), "fan",
                      RouterOptions().WithPoolSize(3).WithStrategy(RoutingStrategy::kFanOut), log);
  ASSERT_TRUE(router.ok());
  ASSERT_TRUE(router->Tell(Work{5}).ok());
  d.RunUntilIdle();
  std::map<std::string, int> per = log->PerRoutee();
  EXPECT_EQ(per, (std::map<std::string, int>{
                     {"fan.routee-0", 1}, {"fan.routee-1", 1}, {"fan.routee-2", 1}}));
  // An asker gets exactly one answer, from the first routee.
  EXPECT_EQ(router->Ask<std::string>(Work{6}, 1s).value_or(""), "fan.routee-0");
}

TEST(Router, FanOutOfAMessageThatCannotBeCopiedIsRefused) {
  DeterministicSystem d;
  auto log = std::make_shared<Log>();
  auto router = Spawn(d.system(), "fan",
                      RouterOptions().WithPoolSize(2).WithStrategy(RoutingStrategy::kFanOut), log);
  ASSERT_TRUE(router.ok());
  uint64_t dead = d.system().DeadLetterCount();
  Result<Message> r = router->Ask(Unique{std::make_unique<int>(1)}, 1s);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << r.status().ToString();
  EXPECT_EQ(d.system().DeadLetterCount(), dead + 1);
}

TEST(Router, BroadcastReachesEveryRouteeWhateverTheStrategy) {
  DeterministicSystem d;
  auto log = std::make_shared<Log>();
  auto router = Spawn(d.system(), "bc", RouterOptions().WithPoolSize(3), log);
  ASSERT_TRUE(router.ok());
  ASSERT_TRUE(router->Tell(Broadcast{Work{9}}).ok());
  d.RunUntilIdle();
  EXPECT_EQ(log->size(), 3u);
  for (const auto& [name, n] : log->Snapshot()) EXPECT_EQ(n, 9) << name;
  // Round robin carries on where it was: a broadcast does not move it.
  EXPECT_EQ(router->Ask<std::string>(Work{1}, 1s).value_or(""), "bc.routee-0");
}

// ---------------------------------------------------------------------------
// Scatter-gather-first and tail-chopping.

TEST(Router, ScatterGatherFirstAnswersWithTheFirstReply) {
  DeterministicSystem d;
  auto log = std::make_shared<Log>();
  auto router = Spawn(d.system(), "sg", RouterOptions().WithPoolSize(3).WithScatterGatherFirst(1s),
                      log, {Mode::kSilent, Mode::kAnswer, Mode::kAnswer});
  ASSERT_TRUE(router.ok());
  TimePoint t0 = d.Now();
  Result<std::string> r = router->Ask<std::string>(Work{1}, 10s);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(*r, "sg.routee-1");  // routee-0 never answers; routee-1 answers first
  EXPECT_EQ(d.Now(), t0);        // no waiting for the silent one
  d.RunUntilIdle();
  EXPECT_EQ(log->size(), 3u);  // every routee got the message
}

TEST(Router, ScatterGatherFirstTimesOutWhenNoRouteeAnswersWithinTheDeadline) {
  DeterministicSystem d;
  auto log = std::make_shared<Log>();
  auto router =
      Spawn(d.system(), "sg", RouterOptions().WithPoolSize(2).WithScatterGatherFirst(200ms), log,
            {Mode::kSilent, Mode::kSilent});
  ASSERT_TRUE(router.ok());
  TimePoint t0 = d.Now();
  Result<Message> r = router->Ask(Work{1}, 10s);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kTimeout) << r.status().ToString();
  EXPECT_EQ(d.Now() - t0, 200ms);  // at the router's deadline, not the asker's
}

TEST(Router, ScatterGatherFirstReportsTheFailureWhenEveryRouteeFails) {
  DeterministicSystem d;
  auto log = std::make_shared<Log>();
  auto router = Spawn(d.system(), "sg",
                      RouterOptions().WithPoolSize(2).WithScatterGatherFirst(5s).OnRouteeFailure(
                          RouteeFailure::kResume),
                      log, {Mode::kFail, Mode::kFail});
  ASSERT_TRUE(router.ok());
  TimePoint t0 = d.Now();
  Result<Message> r = router->Ask(Work{1}, 10s);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kActorFailed) << r.status().ToString();
  EXPECT_EQ(d.Now(), t0);  // at once, not at the deadline
}

TEST(Router, TailChoppingTriesTheNextRouteeAfterTheInterval) {
  DeterministicSystem d;
  auto log = std::make_shared<Log>();
  auto router = Spawn(d.system(), "tc", RouterOptions().WithPoolSize(3).WithTailChopping(1s, 100ms),
                      log, {Mode::kSilent, Mode::kAnswer, Mode::kAnswer});
  ASSERT_TRUE(router.ok());
  TimePoint t0 = d.Now();
  Result<std::string> r = router->Ask<std::string>(Work{1}, 10s);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(*r, "tc.routee-1");
  EXPECT_EQ(d.Now() - t0, 100ms);
  // Answered: routee-2 is never tried, however long we wait.
  d.Advance(5s);
  std::map<std::string, int> per = log->PerRoutee();
  EXPECT_EQ(per, (std::map<std::string, int>{{"tc.routee-0", 1}, {"tc.routee-1", 1}}));
}

TEST(Router, TailChoppingMovesOnAtOnceWhenARouteeFails) {
  DeterministicSystem d;
  auto log = std::make_shared<Log>();
  auto router = Spawn(d.system(), "tc",
                      RouterOptions().WithPoolSize(3).WithTailChopping(1s, 100ms).OnRouteeFailure(
                          RouteeFailure::kResume),
                      log, {Mode::kFail, Mode::kAnswer, Mode::kAnswer});
  ASSERT_TRUE(router.ok());
  TimePoint t0 = d.Now();
  EXPECT_EQ(router->Ask<std::string>(Work{1}, 10s).value_or(""), "tc.routee-1");
  EXPECT_EQ(d.Now(), t0);
}

TEST(Router, TailChoppingTimesOutAtWithinWhenNobodyAnswers) {
  DeterministicSystem d;
  auto log = std::make_shared<Log>();
  auto router =
      Spawn(d.system(), "tc", RouterOptions().WithPoolSize(3).WithTailChopping(250ms, 100ms), log,
            {Mode::kSilent, Mode::kSilent, Mode::kSilent});
  ASSERT_TRUE(router.ok());
  TimePoint t0 = d.Now();
  Result<Message> r = router->Ask(Work{1}, 10s);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kTimeout) << r.status().ToString();
  EXPECT_EQ(d.Now() - t0, 250ms);
  EXPECT_EQ(log->size(), 3u);  // tried at 0, 100 and 200 ms
}

TEST(Router, TailChoppingStartsSuccessiveMessagesAtSuccessiveRoutees) {
  DeterministicSystem d;
  auto log = std::make_shared<Log>();
  auto router =
      Spawn(d.system(), "tc", RouterOptions().WithPoolSize(3).WithTailChopping(1s, 100ms), log);
  ASSERT_TRUE(router.ok());
  EXPECT_EQ(router->Ask<std::string>(Work{1}, 10s).value_or(""), "tc.routee-0");
  EXPECT_EQ(router->Ask<std::string>(Work{2}, 10s).value_or(""), "tc.routee-1");
  EXPECT_EQ(router->Ask<std::string>(Work{3}, 10s).value_or(""), "tc.routee-2");
  EXPECT_EQ(router->Ask<std::string>(Work{4}, 10s).value_or(""), "tc.routee-0");
}

// ---------------------------------------------------------------------------
// Consistent hashing.

RouterOptions Hashing(int pool) {
  return RouterOptions().WithPoolSize(pool).WithConsistentHashing(
      [](const Message& m) -> std::string {
        if (const Keyed* k = m.As<Keyed>()) return k->key;
        throw std::invalid_argument("no key in " + std::string(m.TypeName()));
      });
}

std::map<std::string, std::string> MapKeys(const PID& router, int keys) {
  std::map<std::string, std::string> out;
  for (int i = 0; i < keys; ++i) {
    std::string key = "key-" + std::to_string(i);
    Result<std::string> r = router.Ask<std::string>(Keyed{key}, 1s);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    out[key] = r.value_or("");
  }
  return out;
}

TEST(Router, ConsistentHashingSendsTheSameKeyToTheSameRouteeAndSpreadsKeys) {
  DeterministicSystem d;
  auto router = Spawn(d.system(), "ch", Hashing(4), std::make_shared<Log>());
  ASSERT_TRUE(router.ok()) << router.status().ToString();
  auto first = MapKeys(*router, 1000);
  EXPECT_EQ(MapKeys(*router, 1000), first);
  std::map<std::string, int> per;
  for (const auto& [key, routee] : first) per[routee]++;
  ASSERT_EQ(per.size(), 4u);
  for (const auto& [routee, n] : per) EXPECT_GT(n, 150) << routee;  // 250 expected each
}

TEST(Router, ConsistentHashingMovesOnlyTheKeysOfRouteesAddedOrRemoved) {
  DeterministicSystem d;
  auto router = Spawn(d.system(), "ch", Hashing(4), std::make_shared<Log>());
  ASSERT_TRUE(router.ok());
  auto before = MapKeys(*router, 1000);

  ASSERT_TRUE(router->Tell(AdjustPoolSize{+1}).ok());
  auto grown = MapKeys(*router, 1000);
  int moved = 0;
  for (const auto& [key, routee] : grown) {
    if (routee != before[key]) {
      ++moved;
      EXPECT_EQ(routee, "ch.routee-4") << key << " moved between old routees";
    }
  }
  EXPECT_GT(moved, 100);  // about 1000 / 5
  EXPECT_LT(moved, 320);

  // Shrinking removes the newest routee: its keys go back where they were.
  ASSERT_TRUE(router->Tell(AdjustPoolSize{-1}).ok());
  EXPECT_EQ(MapKeys(*router, 1000), before);

  // A routee that stops takes only its own keys away.
  std::vector<PID> routees = RouteesOf(*router);
  ASSERT_EQ(routees.size(), 4u);
  routees[1].Stop();
  d.RunUntilIdle();
  auto after = MapKeys(*router, 1000);
  for (const auto& [key, routee] : after) {
    if (before[key] != "ch.routee-1") EXPECT_EQ(routee, before[key]) << key;
    EXPECT_NE(routee, "ch.routee-1");
  }
}

TEST(Router, AKeyFunctionThatThrowsFailsThatMessageOnly) {
  DeterministicSystem d;
  auto router = Spawn(d.system(), "ch", Hashing(2), std::make_shared<Log>());
  ASSERT_TRUE(router.ok());
  Result<Message> r = router->Ask(Work{1}, 1s);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << r.status().ToString();
  EXPECT_TRUE(router->Ask<std::string>(Keyed{"k"}, 1s).ok());
  EXPECT_EQ(router->RestartCount(), 0u);
}

// ---------------------------------------------------------------------------
// Failing routees.

TEST(Router, ResumePolicyKeepsTheRouteeAndItsState) {
  DeterministicSystem d;
  auto router = Spawn(d.system(), "res",
                      RouterOptions().WithPoolSize(1).OnRouteeFailure(RouteeFailure::kResume),
                      std::make_shared<Log>());
  ASSERT_TRUE(router.ok());
  PID routee = RouteesOf(*router).at(0);
  ASSERT_TRUE(router->Tell(Work{1}).ok());
  ASSERT_TRUE(router->Tell(Boom{}).ok());
  ASSERT_TRUE(router->Tell(Work{2}).ok());
  EXPECT_EQ(router->Ask<int>(Count{}, 1s).value_or(-1), 2);
  EXPECT_EQ(routee.RestartCount(), 0u);
}

TEST(Router, RestartPolicyRestartsTheRouteeInPlace) {
  DeterministicSystem d;
  auto router = Spawn(d.system(), "rst",
                      RouterOptions().WithPoolSize(1).OnRouteeFailure(RouteeFailure::kRestart),
                      std::make_shared<Log>());
  ASSERT_TRUE(router.ok());
  PID routee = RouteesOf(*router).at(0);
  ASSERT_TRUE(router->Tell(Work{1}).ok());
  ASSERT_TRUE(router->Tell(Boom{}).ok());
  EXPECT_EQ(router->Ask<int>(Count{}, 1s).value_or(-1), 0);  // a fresh instance
  EXPECT_EQ(routee.RestartCount(), 1u);
  EXPECT_EQ(RouteesOf(*router), std::vector<PID>{routee});
}

TEST(Router, ARouteeThatExhaustsItsRestartsLeavesThePool) {
  DeterministicSystem d;
  auto router =
      Spawn(d.system(), "lim",
            RouterOptions().WithPoolSize(2).OnRouteeFailure(RouteeFailure::kRestart, 2, 1min),
            std::make_shared<Log>());
  ASSERT_TRUE(router.ok());
  std::vector<PID> routees = RouteesOf(*router);
  ASSERT_EQ(routees.size(), 2u);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(routees[0].Tell(Boom{}).ok());
  EXPECT_TRUE(routees[0].AwaitTermination(1s));
  d.RunUntilIdle();
  EXPECT_EQ(RouteesOf(*router), std::vector<PID>{routees[1]});
}

TEST(Router, StopPolicyRemovesTheFailedRouteeFromThePool) {
  DeterministicSystem d;
  auto log = std::make_shared<Log>();
  auto router = Spawn(d.system(), "stp",
                      RouterOptions().WithPoolSize(3).OnRouteeFailure(RouteeFailure::kStop), log);
  ASSERT_TRUE(router.ok());
  std::vector<PID> routees = RouteesOf(*router);
  ASSERT_TRUE(router->Tell(Boom{}).ok());  // round robin: routee-0
  d.RunUntilIdle();
  EXPECT_FALSE(routees[0].IsRunning());
  EXPECT_EQ(RouteesOf(*router), (std::vector<PID>{routees[1], routees[2]}));
  // Routing goes on over the remaining routees.
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(router->Tell(Work{i}).ok());
  d.RunUntilIdle();
  EXPECT_EQ(log->PerRoutee(),
            (std::map<std::string, int>{{"stp.routee-1", 2}, {"stp.routee-2", 2}}));
}

TEST(Router, ARouterWithoutRouteesDeadLettersMessagesAndFailsAsks) {
  DeterministicSystem d;
  auto router = Spawn(d.system(), "empty",
                      RouterOptions().WithPoolSize(1).OnRouteeFailure(RouteeFailure::kStop),
                      std::make_shared<Log>());
  ASSERT_TRUE(router.ok());
  ASSERT_TRUE(router->Tell(Boom{}).ok());
  d.RunUntilIdle();
  EXPECT_TRUE(RouteesOf(*router).empty());

  uint64_t dead = d.system().DeadLetterCount(DeadLetterReason::kUnhandled);
  ASSERT_TRUE(router->Tell(Work{1}).ok());
  d.RunUntilIdle();
  EXPECT_EQ(d.system().DeadLetterCount(DeadLetterReason::kUnhandled), dead + 1);

  Result<Message> r = router->Ask(Work{2}, 1s);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kStopped);
  EXPECT_NE(r.status().message().find("no routees"), std::string::npos) << r.status().ToString();

  // Growing the pool again brings it back.
  ASSERT_TRUE(router->Tell(AdjustPoolSize{+1}).ok());
  EXPECT_EQ(router->Ask<std::string>(Work{3}, 1s).value_or(""), "empty.routee-1");
}

// ---------------------------------------------------------------------------
// The pool.

TEST(Router, RouteesAreNamedChildrenOfTheRouter) {
  DeterministicSystem d;
  auto router = Spawn(d.system(), "pool", RouterOptions().WithPoolSize(3), std::make_shared<Log>());
  ASSERT_TRUE(router.ok());
  std::vector<PID> routees = RouteesOf(*router);
  ASSERT_EQ(routees.size(), 3u);
  for (std::size_t i = 0; i < routees.size(); ++i) {
    EXPECT_EQ(routees[i].Name(), "pool.routee-" + std::to_string(i));
    EXPECT_EQ(routees[i].Parent(), *router);
  }
  router->Stop();
  for (const PID& r : routees) EXPECT_TRUE(r.AwaitTermination(1s));
}

TEST(Router, AdjustPoolSizeGrowsAndShrinksThePool) {
  DeterministicSystem d;
  auto log = std::make_shared<Log>();
  auto router = Spawn(d.system(), "adj", RouterOptions().WithPoolSize(2), log);
  ASSERT_TRUE(router.ok());
  ASSERT_TRUE(router->Tell(AdjustPoolSize{+3}).ok());
  std::vector<PID> grown = RouteesOf(*router);
  ASSERT_EQ(grown.size(), 5u);
  EXPECT_EQ(grown[4].Name(), "adj.routee-4");

  // Ten messages are queued at the routees before the shrink; the removed
  // routees still process theirs before they stop.
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(router->Tell(Work{i}).ok());
  ASSERT_TRUE(router->Tell(AdjustPoolSize{-4}).ok());
  d.RunUntilIdle();
  EXPECT_EQ(log->size(), 10u);
  EXPECT_EQ(d.system().DeadLetterCount(), 0u);
  EXPECT_EQ(RouteesOf(*router), std::vector<PID>{grown[0]});
  for (std::size_t i = 1; i < grown.size(); ++i) EXPECT_FALSE(grown[i].IsRunning());

  // Shrinking below zero empties the pool; it does not fail.
  ASSERT_TRUE(router->Tell(AdjustPoolSize{-5}).ok());
  EXPECT_TRUE(RouteesOf(*router).empty());
}

TEST(Router, ARouterCanBeTheChildOfAnActor) {
  DeterministicSystem d;
  auto log = std::make_shared<Log>();
  class Owner : public Actor {
   public:
    explicit Owner(std::shared_ptr<Log> log) : log_(std::move(log)) {}
    Status PreStart(Context& ctx) override {
      return SpawnRouter<Worker>(ctx, "owned", RouterOptions().WithPoolSize(2), log_,
                                 std::vector<Mode>{})
          .status();
    }
    void Receive(ReceiveContext& ctx) override { ctx.Unhandled(); }

   private:
    std::shared_ptr<Log> log_;
  };
  // PreStart returns the Result's status: ok only if the router spawned.
  auto owner = d.system().Spawn<Owner>("owner", log);
  ASSERT_TRUE(owner.ok()) << owner.status().ToString();
  auto router = d.system().ActorOf("owned");
  ASSERT_TRUE(router.ok());
  EXPECT_EQ(router->Parent(), *owner);
  EXPECT_EQ(router->Ask<std::string>(Work{1}, 1s).value_or(""), "owned.routee-0");
}

TEST(Router, BadOptionsAreRefusedAtSpawn) {
  DeterministicSystem d;
  auto log = std::make_shared<Log>();
  auto code = [&](RouterOptions o) {
    return Spawn(d.system(), "", std::move(o), log).status().code();
  };
  EXPECT_EQ(code(RouterOptions().WithPoolSize(0)), StatusCode::kInvalidArgument);
  EXPECT_EQ(code(RouterOptions().WithScatterGatherFirst(Duration::zero())),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(code(RouterOptions().WithTailChopping(1s, Duration::zero())),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(code(RouterOptions().WithConsistentHashing(nullptr)), StatusCode::kInvalidArgument);
  EXPECT_EQ(SpawnRouter(d.system(), "r", ActorFactory(), RouterOptions()).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(d.system().ActorCount(), 0u);
}

TEST(Router, ARouteeThatFailsToStartFailsTheRouterSpawn) {
  DeterministicSystem d;
  class Broken : public Actor {
   public:
    Status PreStart(Context&) override { return InvalidArgumentError("no config"); }
    void Receive(ReceiveContext&) override {}
  };
  auto router = SpawnRouter<Broken>(d.system(), "broken", RouterOptions().WithPoolSize(2));
  ASSERT_FALSE(router.ok());
  EXPECT_EQ(router.status().code(), StatusCode::kActorFailed);
  EXPECT_NE(router.status().message().find("no config"), std::string::npos);
  d.RunUntilIdle();
  EXPECT_EQ(d.system().ActorCount(), 0u);
}

// ---------------------------------------------------------------------------
// Real threads.

TEST(Router, ConcurrentAskersAreEachAnsweredAndTheLoadIsEven) {
  ActorSystem system(test::QuietOptions());
  ASSERT_TRUE(system.Start().ok());
  auto log = std::make_shared<Log>();
  auto router = Spawn(system, "mt", RouterOptions().WithPoolSize(8), log);
  ASSERT_TRUE(router.ok());
  constexpr int kThreads = 4;
  constexpr int kAsksPerThread = 500;
  std::atomic<int> answered{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kAsksPerThread; ++i) {
        Result<std::string> r = router->Ask<std::string>(Work{t * kAsksPerThread + i}, 5s);
        if (r.ok() && r->rfind("mt.routee-", 0) == 0) answered.fetch_add(1);
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(answered.load(), kThreads * kAsksPerThread);
  // The router hands out strictly in turn, whoever asks.
  for (const auto& [name, n] : log->PerRoutee())
    EXPECT_EQ(n, kThreads * kAsksPerThread / 8) << name;
}

TEST(Router, TellsFromManyThreadsAllArriveAndSpreadEvenly) {
  ActorSystem system(test::QuietOptions());
  ASSERT_TRUE(system.Start().ok());
  auto log = std::make_shared<Log>();
  auto router = Spawn(system, "mt", RouterOptions().WithPoolSize(8), log);
  ASSERT_TRUE(router.ok());
  constexpr int kThreads = 2;
  constexpr int kPerThread = 20000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kPerThread; ++i) router->Tell(Work{i}).IgnoreError();
    });
  }
  for (auto& th : threads) th.join();
  ASSERT_TRUE(test::WaitFor([&] { return log->size() == kThreads * kPerThread; }, 10000ms));
  for (const auto& [name, n] : log->PerRoutee()) EXPECT_EQ(n, kThreads * kPerThread / 8) << name;
}

TEST(Router, ScatterGatherUnderRealTimeAnswersFromAnyRoutee) {
  ActorSystem system(test::QuietOptions());
  ASSERT_TRUE(system.Start().ok());
  auto log = std::make_shared<Log>();
  auto router = Spawn(system, "sgmt", RouterOptions().WithPoolSize(4).WithScatterGatherFirst(2s),
                      log, {Mode::kSilent, Mode::kAnswer, Mode::kSilent, Mode::kAnswer});
  ASSERT_TRUE(router.ok());
  for (int i = 0; i < 50; ++i) {
    Result<std::string> r = router->Ask<std::string>(Work{i}, 5s);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_TRUE(*r == "sgmt.routee-1" || *r == "sgmt.routee-3") << *r;
  }
}

}  // namespace
}  // namespace akt
