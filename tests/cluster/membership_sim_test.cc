// Cluster membership on the simulated network, many seeds per test (label
// sim): cold start, joins, crashes, freezes, partitions, graceful leaves,
// restarts and merges, with the membership promises of CLUSTER.md checked
// after each scenario. AKT_SIM_SEED=<n> replays one seed.
#include <gtest/gtest.h>

#include <set>

#include "sim_cluster.h"
#include "sim_seeds.h"

namespace akt::test {
namespace {

using namespace std::chrono_literals;

// Starts `n` nodes (min_members = n) and runs until they agree.
void FormCluster(SimCluster& sc, const std::vector<std::string>& eps) {
  for (const std::string& ep : eps) ASSERT_NE(sc.Add(ep), nullptr);
  ASSERT_TRUE(sc.net.RunUntil([&] { return sc.Agree(eps); }, 10s))
      << "the nodes did not agree on one view";
  sc.CheckInvariants("formed");
}

// Virtual time until every node of `eps` published NodeDown for `gone`.
bool AllSawDown(SimCluster& sc, const std::vector<std::string>& eps, const NodeId& gone) {
  for (const std::string& ep : eps) {
    bool saw = false;
    for (const SimEvent& e : sc.Events(ep)) saw |= e.kind == "down" && e.node == NodeKeyOf(gone);
    if (!saw) return false;
  }
  return true;
}

int CountKind(SimCluster& sc, const std::string& ep, const std::string& kind) {
  int n = 0;
  for (const SimEvent& e : sc.Events(ep)) n += e.kind == kind;
  return n;
}

TEST(SimCluster, NodesFormOneClusterWithTheOldestAsLeader) {
  ForEachSeed(40, [](uint64_t seed) {
    SimCluster sc(Seeded(seed), MinMembers(3));
    std::vector<std::string> eps = Endpoints(3);
    FormCluster(sc, eps);
    // The smallest endpoint formed it and is the oldest, hence the leader.
    std::optional<Member> leader = sc.Of(eps[1])->Leader();
    ASSERT_TRUE(leader.has_value());
    EXPECT_EQ(leader->node.endpoint, eps[0]);
    for (const std::string& ep : eps) {
      EXPECT_EQ(CountKind(sc, ep, "joined"), 3) << ep;
      EXPECT_EQ(CountKind(sc, ep, "down"), 0) << ep;
    }
  });
}

TEST(SimCluster, NoNodeFormsAClusterBelowMinMembers) {
  ForEachSeed(20, [](uint64_t seed) {
    SimCluster sc(Seeded(seed), MinMembers(3));
    std::vector<std::string> eps = Endpoints(3);
    sc.Add(eps[0]);
    sc.Add(eps[1]);
    sc.net.Advance(5s);
    EXPECT_EQ(sc.Of(eps[0])->state(), MemberState::kJoining);
    EXPECT_EQ(sc.Of(eps[1])->state(), MemberState::kJoining);
    sc.Add(eps[2]);
    EXPECT_TRUE(sc.net.RunUntil([&] { return sc.Agree(eps); }, 10s));
  });
}

TEST(SimCluster, AKilledNodeIsDeclaredDownByEverySurvivorWithinOneSecond) {
  ForEachSeed(60, [](uint64_t seed) {
    SimCluster sc(Seeded(seed), MinMembers(4));
    std::vector<std::string> eps = Endpoints(4);
    FormCluster(sc, eps);
    std::string victim = eps[seed % eps.size()];  // the leader in a quarter of the seeds
    NodeId gone = sc.IdOf(victim);
    std::vector<std::string> rest;
    for (const std::string& ep : eps) {
      if (ep != victim) rest.push_back(ep);
    }
    std::vector<Member> before = sc.Of(rest[0])->Members();
    TimePoint t0 = sc.net.Now();
    sc.Crash(victim);
    ASSERT_TRUE(sc.net.RunUntil([&] { return AllSawDown(sc, rest, gone); }, 1s))
        << "not every survivor declared " << victim << " down within 1 s";
    EXPECT_LE(sc.net.Now() - t0, 1s);
    ASSERT_TRUE(sc.net.RunUntil([&] { return sc.Agree(rest); }, 2s));
    sc.CheckInvariants("after a crash");
    for (const std::string& ep : rest) EXPECT_EQ(CountKind(sc, ep, "down"), 1) << ep;
    // The oldest survivor leads (a new leader when the leader was killed).
    const Member& oldest = before[0].node == gone ? before[1] : before[0];
    EXPECT_EQ(sc.Of(rest[0])->Leader()->node, oldest.node);
  });
}

TEST(SimCluster, AFrozenNodeIsDownWithinThreeSecondsAndNeverComesBackAsAMember) {
  ForEachSeed(40, [](uint64_t seed) {
    SimCluster sc(Seeded(seed), MinMembers(3));
    std::vector<std::string> eps = Endpoints(3);
    FormCluster(sc, eps);
    std::string victim = eps[seed % eps.size()];
    NodeId gone = sc.IdOf(victim);
    std::vector<std::string> rest;
    for (const std::string& ep : eps) {
      if (ep != victim) rest.push_back(ep);
    }
    sc.net.Freeze(victim);
    ASSERT_TRUE(sc.net.RunUntil([&] { return AllSawDown(sc, rest, gone); }, 3s))
        << victim << " frozen was not declared down within 3 s";
    sc.net.Thaw(victim);
    // It learns it was removed, and stays out.
    ASSERT_TRUE(sc.net.RunUntil(
        [&] { return sc.Of(victim)->state() == MemberState::kDown; }, 5s));
    sc.net.Advance(3s);
    EXPECT_TRUE(sc.Agree(rest));
    EXPECT_EQ(sc.Of(victim)->state(), MemberState::kDown);
    sc.CheckInvariants("after a freeze");
  });
}

TEST(SimCluster, TheMajoritySideDownsAnIsolatedNodeAndTheMinorityDownsNobody) {
  ForEachSeed(30, [](uint64_t seed) {
    SimCluster sc(Seeded(seed), MinMembers(5));
    std::vector<std::string> eps = Endpoints(5);
    FormCluster(sc, eps);
    std::string cut = eps[seed % eps.size()];
    NodeId gone = sc.IdOf(cut);
    std::vector<std::string> rest;
    for (const std::string& ep : eps) {
      if (ep != cut) rest.push_back(ep);
    }
    sc.net.Isolate(cut);
    ASSERT_TRUE(sc.net.RunUntil([&] { return AllSawDown(sc, rest, gone); }, 3s));
    sc.net.Advance(2s);
    EXPECT_EQ(CountKind(sc, cut, "down"), 0) << "the isolated node downed someone alone";
    sc.net.HealAll();
    ASSERT_TRUE(sc.net.RunUntil([&] { return sc.Of(cut)->state() == MemberState::kDown; }, 5s));
    EXPECT_TRUE(sc.Agree(rest));
    sc.CheckInvariants("after a partition");
  });
}

TEST(SimCluster, AGracefulLeaveIsNodeLeftEverywhereAlsoForTheLeader) {
  ForEachSeed(40, [](uint64_t seed) {
    SimCluster sc(Seeded(seed), MinMembers(3));
    std::vector<std::string> eps = Endpoints(3);
    FormCluster(sc, eps);
    std::string leaving = eps[seed % eps.size()];
    NodeId who = sc.IdOf(leaving);
    std::vector<std::string> rest;
    for (const std::string& ep : eps) {
      if (ep != leaving) rest.push_back(ep);
    }
    sc.Of(leaving)->StartLeave();
    ASSERT_TRUE(sc.net.RunUntil(
        [&] { return sc.Of(leaving)->state() == MemberState::kLeft && sc.Agree(rest); }, 3s));
    for (const std::string& ep : rest) {
      int left = 0;
      for (const SimEvent& e : sc.Events(ep)) left += e.kind == "left" && e.node == NodeKeyOf(who);
      EXPECT_EQ(left, 1) << ep;
      EXPECT_EQ(CountKind(sc, ep, "down"), 0) << ep;
    }
    sc.CheckInvariants("after a leave");
  });
}

TEST(SimCluster, NoNodeIsDownedOnASlowNetwork) {
  ForEachSeed(10, [](uint64_t seed) {
    testing::SimOptions o = Seeded(seed);
    o.min_latency = 1ms;
    o.max_latency = 40ms;
    SimCluster sc(o, MinMembers(4));
    std::vector<std::string> eps = Endpoints(4);
    FormCluster(sc, eps);
    sc.net.Advance(20s);
    EXPECT_TRUE(sc.Agree(eps));
    for (const std::string& ep : eps) EXPECT_EQ(CountKind(sc, ep, "down"), 0) << ep;
  });
}

TEST(SimCluster, ANodeRestartedAtItsEndpointJoinsAsANewIncarnation) {
  ForEachSeed(30, [](uint64_t seed) {
    SimCluster sc(Seeded(seed), MinMembers(3));
    std::vector<std::string> eps = Endpoints(3);
    FormCluster(sc, eps);
    std::string victim = eps[1 + seed % 2];
    NodeId old = sc.IdOf(victim);
    sc.Crash(victim);
    sc.net.Advance(std::chrono::milliseconds(seed % 400));
    ASSERT_NE(sc.Add(victim), nullptr);
    ASSERT_TRUE(sc.net.RunUntil([&] { return sc.Agree(eps); }, 5s));
    EXPECT_NE(sc.IdOf(victim).incarnation, old.incarnation);
    for (const std::string& ep : eps) {
      std::set<std::string> at_endpoint;
      for (const Member& m : sc.Of(ep)->Members()) {
        EXPECT_TRUE(at_endpoint.insert(m.node.endpoint).second) << "two starts of " << m.node.endpoint;
      }
    }
    sc.CheckInvariants("after a restart");
  });
}

TEST(SimCluster, HalvesStartedApartMergeIntoOneCluster) {
  ForEachSeed(20, [](uint64_t seed) {
    SimCluster sc(Seeded(seed));  // min_members 1: each half forms alone
    std::vector<std::string> eps = Endpoints(4);
    auto provider = StaticProvider(eps);
    for (const std::string& ep : eps) ASSERT_NE(sc.Add(ep, {}, provider), nullptr);
    for (const std::string& a : {eps[0], eps[1]}) {  // before any of them has run
      for (const std::string& b : {eps[2], eps[3]}) sc.net.Partition(a, b);
    }
    ASSERT_TRUE(sc.net.RunUntil(
        [&] { return sc.Agree({eps[0], eps[1]}) && sc.Agree({eps[2], eps[3]}); }, 10s))
        << sc.Describe();
    sc.net.HealAll();
    ASSERT_TRUE(sc.net.RunUntil([&] { return sc.Agree(eps); }, 10s))
        << "the halves did not merge:\n" << sc.Describe();
    for (const std::string& ep : eps) sc.MarkMerged(ep);
    sc.CheckInvariants("after a merge");
  });
}

}  // namespace
}  // namespace akt::test
