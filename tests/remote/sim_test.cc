// The simulated network (akt/testing/sim.h): remoting between nodes in one
// process, in virtual time, over many seeds. Each test runs its scenario
// for AKT_SIM_SEEDS seeds (default below) and stops at the first seed that
// fails, printing it; AKT_SIM_SEED=<n> replays that one seed alone.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>

#include "akt/messages.h"
#include "akt/testing/sim.h"
#include "akt/testkit.h"
#include "node_events.h"
#include "sim_seeds.h"
#include "remote_caller.h"
#include "remote_actors.h"
#include "remote_fixture.h"

namespace akt::test {
namespace {

using namespace std::chrono_literals;
using testing::SimNetwork;
using testing::SimOptions;

const std::string kA = "127.0.0.1:7001";
const std::string kB = "127.0.0.1:7002";
const std::string kC = "127.0.0.1:7003";

// Records the Ping numbers told to it, per sender text, and every gap or
// step back (a connection must keep the order of what one sender tells).
class OrderCheck : public Actor {
 public:
  struct Log {
    std::map<std::string, int64_t> last;
    int64_t received = 0;
    int64_t out_of_order = 0;
  };
  explicit OrderCheck(std::shared_ptr<Log> log) : log_(std::move(log)) {}
  void Receive(ReceiveContext& ctx) override {
    ctx.Match([&](const akt::test::Ping& p) {
      auto [it, fresh] = log_->last.emplace(p.text(), 0);
      if (p.n() != it->second + 1) ++log_->out_of_order;
      it->second = p.n();
      ++log_->received;
    });
  }

 private:
  std::shared_ptr<Log> log_;
};

struct Net {
  explicit Net(SimOptions o, std::vector<std::string> endpoints = {kA, kB, kC}) : net(o) {
    for (const std::string& ep : endpoints) {
      SystemOptions so = SimNetwork::DefaultSystemOptions();
      so.name = "n" + ep.substr(ep.size() - 1);
      if (std::getenv("AKT_SIM_LOG") != nullptr) so.logger = MakeStderrLogger(LogLevel::kDebug);
      Result<ActorSystem*> sys = net.AddNode(ep, so);
      EXPECT_TRUE(sys.ok()) << sys.status().ToString();
      if (sys.ok()) EXPECT_TRUE((*sys)->Spawn<RemoteEcho>("echo").ok());
    }
  }
  ActorSystem& sys(const std::string& ep) { return *net.Node(ep); }
  Remoting& rem(const std::string& ep) { return *net.RemotingOf(ep); }
  SimNetwork net;
};

SimOptions Seeded(uint64_t seed) {
  SimOptions o;
  o.seed = seed;
  return o;
}

TEST(Sim, AsksAndTellsBetweenThreeNodesOverManySeeds) {
  ForEachSeed(500, [](uint64_t seed) {
    Net n(Seeded(seed));
    auto log = std::make_shared<OrderCheck::Log>();
    ASSERT_TRUE(n.sys(kC).Spawn<OrderCheck>("order", log).ok());
    for (const std::string& from : {kA, kB}) {
      for (const std::string& to : {kA, kB, kC}) {
        if (from == to) continue;
        Result<PID> echo = n.rem(from).Lookup(to, "echo", 2s);
        ASSERT_TRUE(echo.ok()) << from << " -> " << to << ": " << echo.status().ToString();
        for (int i = 1; i <= 3; ++i) {
          Result<akt::test::Pong> r = echo->Ask<akt::test::Pong>(MakePing(i, from), 2s);
          ASSERT_TRUE(r.ok()) << r.status().ToString();
          EXPECT_EQ(r->n(), i);
          EXPECT_EQ(r->text(), from);
        }
      }
    }
    // Two senders tell 40 each, interleaved by the seed; each one's order holds.
    Result<PID> order_a = n.rem(kA).Lookup(kC, "order", 2s);
    Result<PID> order_b = n.rem(kB).Lookup(kC, "order", 2s);
    ASSERT_TRUE(order_a.ok() && order_b.ok());
    for (int i = 1; i <= 40; ++i) {
      ASSERT_TRUE(order_a->Tell(MakePing(i, "a")).ok());
      ASSERT_TRUE(order_b->Tell(MakePing(i, "b")).ok());
    }
    EXPECT_TRUE(n.net.RunUntil([&] { return log->received == 80; }, 5s)) << log->received;
    EXPECT_EQ(log->out_of_order, 0);
    EXPECT_GT(n.net.deliveries(), 0u);
  });
}

// The whole scenario's trace, for the replay checks.
uint64_t Scenario(uint64_t seed) {
  Net n(Seeded(seed));
  for (const std::string& to : {kB, kC}) {
    Result<PID> echo = n.rem(kA).Lookup(to, "echo", 2s);
    if (!echo.ok()) return 0;
    for (int i = 0; i < 5; ++i) echo->Tell(MakePing(i)).IgnoreError();
    if (!echo->Ask<akt::test::Pong>(MakePing(99), 2s).ok()) return 0;
  }
  n.net.Advance(300ms);
  return n.net.trace_hash();
}

TEST(Sim, OneSeedReplaysTheSameRunAndSeedsDiffer) {
  std::set<uint64_t> distinct;
  for (uint64_t seed = 1; seed <= 8; ++seed) {
    uint64_t first = Scenario(seed);
    ASSERT_NE(first, 0u) << "seed " << seed;
    EXPECT_EQ(Scenario(seed), first) << "seed " << seed << " ran differently the second time";
    distinct.insert(first);
  }
  EXPECT_GE(distinct.size(), 6u) << "the seed hardly changes the run";
}

TEST(Sim, ACrashedNodeIsLostByItsPeersAndItsWatchersAreTold) {
  ForEachSeed(300, [](uint64_t seed) {
    Net n(Seeded(seed), {kA, kB});
    NodeEvents events(n.sys(kA));
    auto seen = std::make_shared<Watcher::Seen>();
    Result<PID> watcher = n.sys(kA).Spawn<Watcher>("watcher", seen);
    ASSERT_TRUE(watcher.ok());
    Result<PID> echo = n.rem(kA).Lookup(kB, "echo", 2s);
    ASSERT_TRUE(echo.ok()) << echo.status().ToString();
    NodeId b = n.rem(kB).self();
    ASSERT_TRUE(watcher->Tell(*echo).ok());
    n.net.Advance(50ms);  // the watch is registered on b
    TimePoint crash = n.net.Now();
    n.net.Crash(kB);
    EXPECT_EQ(n.net.Node(kB), nullptr);
    // An ask in flight ends by its deadline, with an error.
    Result<akt::test::Pong> r = echo->Ask<akt::test::Pong>(MakePing(1), 300ms);
    EXPECT_FALSE(r.ok());
    EXPECT_LE(n.net.Now() - crash, 300ms + 1ms);
    ASSERT_TRUE(n.net.RunUntil([&] { return seen->size() == 1; }, 5s))
        << "no Terminated after the crash";
    EXPECT_EQ(seen->at(0).reason, TerminationReason::kNodeLost);
    // Lost after node_lost_after (1 s) of being unreachable, not much later.
    EXPECT_LE(n.net.Now() - crash, 1300ms);
    EXPECT_GE(n.net.Now() - crash, 1000ms);
    EXPECT_TRUE(events.Saw("lost " + b.ToString()));
  });
}

// Two nodes; a looked up b's echo (so they are connected) and records its
// node events.
struct AKnowsB {
  explicit AKnowsB(uint64_t seed) : n(Seeded(seed), {kA, kB}), events(n.sys(kA)) {
    Result<PID> r = n.rem(kA).Lookup(kB, "echo", 2s);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    if (r.ok()) echo = *r;
    b = n.rem(kB).self();
  }
  Net n;
  NodeEvents events;
  PID echo;
  NodeId b;
};

TEST(Sim, APartitionIsNoticedByHeartbeatAndAHealInTimeReconnects) {
  ForEachSeed(300, [](uint64_t seed) {
    AKnowsB w(seed);
    ASSERT_TRUE(w.echo);
    auto& [n, events, echo, b] = w;
    n.net.Advance(10ms);
    ASSERT_TRUE(events.Saw("connected " + b.ToString()));
    TimePoint cut = n.net.Now();
    n.net.Partition(kA, kB);
    ASSERT_TRUE(
        n.net.RunUntil([&] { return events.Saw("disconnected " + b.ToString()); }, 2s));
    // 500 ms (heartbeat_timeout) after the last read, which came at most a
    // heartbeat interval (100 ms) plus a latency before the cut; the sweep
    // looks at least every 100 ms.
    EXPECT_GE(n.net.Now() - cut, 500ms - 100ms - 2ms);
    EXPECT_LE(n.net.Now() - cut, 700ms);
    n.net.Heal(kA, kB);
    ASSERT_TRUE(n.net.RunUntil([&] { return events.log().size() == 3; }, 2s));
    EXPECT_EQ(events.log().back(), "connected " + b.ToString());
    Result<akt::test::Pong> r = echo.Ask<akt::test::Pong>(MakePing(7), 2s);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->n(), 7);
    n.net.Advance(2s);
    EXPECT_FALSE(events.Saw("lost " + b.ToString()));
  });
}

TEST(Sim, AFrozenNodeIsDisconnectedAndComesBackWhenThawed) {
  ForEachSeed(300, [](uint64_t seed) {
    AKnowsB w(seed);
    ASSERT_TRUE(w.echo);
    auto& [n, events, echo, b] = w;
    n.net.Freeze(kB);
    ASSERT_TRUE(
        n.net.RunUntil([&] { return events.Saw("disconnected " + b.ToString()); }, 2s));
    n.net.Thaw(kB);
    ASSERT_TRUE(n.net.RunUntil([&] { return events.log().size() >= 3; }, 2s))
        << ::testing::PrintToString(events.log());
    EXPECT_EQ(events.log()[2], "connected " + b.ToString());
    // a's own dials failed while b was frozen: until its backoff (at most
    // max_reconnect_backoff) has passed, calls fail fast and retryably.
    TimePoint thawed = n.net.Now();
    bool answered = false;
    while (!answered && n.net.Now() - thawed < 3s) {
      Result<akt::test::Pong> r = echo.Ask<akt::test::Pong>(MakePing(3), 1s);
      if (r.ok()) {
        answered = true;
      } else {
        EXPECT_EQ(r.status().code(), StatusCode::kUnavailable) << r.status().ToString();
        n.net.Advance(20ms);
      }
    }
    EXPECT_TRUE(answered) << "no answer within 3 s of the thaw";
  });
}

TEST(Sim, ResetConnectionsNeverLeaveACallPastItsDeadline) {
  int64_t failed_in_all = 0;  // the resets must bite somewhere, or nothing was tested
  ForEachSeed(300, [&](uint64_t seed) {
    SimOptions o = Seeded(seed);
    o.reset_probability = 0.05;
    Net n(o, {kA, kB});
    int ok = 0;
    int failed = 0;
    for (int i = 0; i < 60; ++i) {
      TimePoint start = n.net.Now();
      Result<PID> echo = n.rem(kA).Lookup(kB, "echo", 200ms);
      if (echo.ok()) {
        Result<akt::test::Pong> r = echo->Ask<akt::test::Pong>(MakePing(i), 200ms);
        if (r.ok()) {
          EXPECT_EQ(r->n(), i);
          ++ok;
        } else {
          ++failed;
        }
      } else {
        ++failed;
      }
      EXPECT_LE(n.net.Now() - start, 400ms + 1ms) << "call " << i;
      n.net.Advance(60ms);  // past the reconnect backoff
    }
    EXPECT_GT(ok, 0);
    failed_in_all += failed;
  });
  EXPECT_GT(failed_in_all, 0) << "no call failed: the simulated resets did nothing";
}

TEST(Sim, APidOfACrashedIncarnationNeverReachesItsSuccessor) {
  ForEachSeed(300, [](uint64_t seed) {
    Net n(Seeded(seed), {kA, kB});
    Result<PID> old_echo = n.rem(kA).Lookup(kB, "echo", 2s);
    ASSERT_TRUE(old_echo.ok());
    uint64_t old_inc = n.rem(kB).self().incarnation;
    n.net.Crash(kB);
    n.net.Advance(20ms);  // a restart takes a moment: a sees the reset first
    SystemOptions so = SimNetwork::DefaultSystemOptions();
    so.name = "n2";
    Result<ActorSystem*> again = n.net.AddNode(kB, so);
    ASSERT_TRUE(again.ok()) << again.status().ToString();
    ASSERT_TRUE((*again)->Spawn<RemoteEcho>("echo").ok());
    EXPECT_NE(n.rem(kB).self().incarnation, old_inc);
    Result<PID> fresh = n.rem(kA).Lookup(kB, "echo", 2s);
    ASSERT_TRUE(fresh.ok()) << fresh.status().ToString();
    ASSERT_TRUE(fresh->Ask<akt::test::Pong>(MakePing(1), 2s).ok());
    Result<akt::test::Pong> stale = old_echo->Ask<akt::test::Pong>(MakePing(2), 500ms);
    EXPECT_FALSE(stale.ok()) << "an old incarnation's PID reached the new process";
  });
}

TEST(Sim, GrainsOnAnotherNodeActivateDeactivateAndComeBackInVirtualTime) {
  ForEachSeed(200, [](uint64_t seed) {
    Net n(Seeded(seed), {kA, kB});
    RegisterTestKinds(n.sys(kB), n.rem(kB));
    GrainIdentity counter = *GrainIdentity::Make("pcounter", "acc-1");
    for (int i = 1; i <= 5; ++i) {
      akt::test::Add add;
      add.set_amount(i);
      ASSERT_TRUE(n.rem(kA).TellGrain(kB, counter, add).ok());
    }
    Result<Message> total = n.rem(kA).AskGrain(kB, counter, akt::test::GetTotal(), 2s);
    ASSERT_TRUE(total.ok()) << total.status().ToString();
    ASSERT_NE(total->As<akt::test::Total>(), nullptr);
    EXPECT_EQ(total->As<akt::test::Total>()->value(), 15);  // one connection: all five first
    // "pbrief" deactivates after 50 ms idle: in virtual time, exactly so.
    GrainIdentity brief = *GrainIdentity::Make("pbrief", "dev-7");
    Result<Message> first = n.rem(kA).AskGrain(kB, brief, MakePing(1), 2s);
    ASSERT_TRUE(first.ok()) << first.status().ToString();
    EXPECT_EQ(n.sys(kB).ActiveGrains().size(), 2u);
    TimePoint answered = n.net.Now();
    ASSERT_TRUE(n.net.RunUntil([&] { return n.sys(kB).ActiveGrains().size() == 1; }, 2s));
    // Idle since it answered, which was one latency (<= 2 ms) before a had it.
    EXPECT_GE(n.net.Now() - answered, 50ms - 2ms);
    EXPECT_LE(n.net.Now() - answered, 250ms);
    Result<Message> again = n.rem(kA).AskGrain(kB, brief, MakePing(2), 2s);
    ASSERT_TRUE(again.ok()) << again.status().ToString();
    EXPECT_EQ(again->As<akt::test::Pong>()->n(), 2);
  });
}

TEST(Sim, AProbesWaitMovesTheWholeNetwork) {
  ForEachSeed(100, [](uint64_t seed) {
    Net n(Seeded(seed), {kA, kB});
    Result<PID> echo = n.rem(kA).Lookup(kB, "echo", 1s);
    ASSERT_TRUE(echo.ok()) << echo.status().ToString();
    akt::testkit::TestProbe probe(n.sys(kA));
    ASSERT_TRUE(probe.Watch(*echo).ok());
    TimePoint crash = n.net.Now();
    n.net.Crash(kB);
    Result<Terminated> t = probe.ExpectMessage<Terminated>(5s);
    ASSERT_TRUE(t.ok()) << t.status().ToString();
    EXPECT_EQ(t->reason, TerminationReason::kNodeLost);
    EXPECT_LE(n.net.Now() - crash, 1300ms);
  });
}

TEST(Sim, AnActorLooksUpSpawnsAndStopsOnAnotherNodeWithoutBlocking) {
  ForEachSeed(200, [](uint64_t seed) {
    Net n(Seeded(seed), {kA, kB});
    RegisterTestKinds(n.sys(kB), n.rem(kB));
    auto log = std::make_shared<RemoteCaller::Log>();
    Result<PID> caller = n.sys(kA).Spawn<RemoteCaller>("caller", &n.rem(kA), kB, log);
    ASSERT_TRUE(caller.ok());
    for (const char* cmd : {"lookup", "missing", "spawn"}) {
      ASSERT_TRUE(caller->Tell(std::string(cmd)).ok());
    }
    ASSERT_TRUE(n.net.RunUntil([&] { return log->Get().size() == 6; }, 5s))
        << ::testing::PrintToString(log->Get());
    // The three calls run at once; each one's own steps stay in order.
    std::vector<std::string> got = log->Get();
    auto pos = [&](const std::string& line) {
      return std::find(got.begin(), got.end(), line) - got.begin();
    };
    for (const char* line : {"lookup ok", "pong 5", "lookup NOT_FOUND", "spawn ok", "pong 6", "stopped"}) {
      EXPECT_LT(pos(line), 6) << line << " missing from " << ::testing::PrintToString(got);
    }
    EXPECT_LT(pos("lookup ok"), pos("pong 5"));
    EXPECT_LT(pos("spawn ok"), pos("pong 6"));
    EXPECT_LT(pos("pong 6"), pos("stopped"));
    EXPECT_TRUE(n.net.RunUntil([&] { return !n.sys(kB).ActorOf("spawned").ok(); }, 1s));
  });
}

TEST(Sim, BadEndpointsAndDuplicatesAreRefused) {
  SimNetwork net;
  EXPECT_EQ(net.AddNode("nonsense").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(net.AddNode("127.0.0.1:0").status().code(), StatusCode::kInvalidArgument);
  ASSERT_TRUE(net.AddNode(kA).ok());
  EXPECT_EQ(net.AddNode(kA).status().code(), StatusCode::kAlreadyExists);
  // Nobody at kB: refused at once, no time passes.
  TimePoint t = net.Now();
  Result<PID> none = net.RemotingOf(kA)->Lookup(kB, "echo", 1s);
  EXPECT_EQ(none.status().code(), StatusCode::kUnavailable) << none.status().ToString();
  EXPECT_EQ(net.Now(), t);
  EXPECT_EQ(net.Stop(kB).code(), StatusCode::kNotFound);
  EXPECT_TRUE(net.Stop(kA).ok());
  EXPECT_TRUE(net.Endpoints().empty());
}

}  // namespace
}  // namespace akt::test
