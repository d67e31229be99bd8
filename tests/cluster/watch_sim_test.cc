// Death watch across the cluster on the simulated network (labels cluster,
// sim): a watcher of an actor on another node gets Terminated when the actor
// stops, when its node leaves (kNodeLeft) and when the failure detector
// declares its node down (kNodeDown) — on every node, long before remoting
// alone would give up on the node (node_lost_after is 60 s here).
#include <gtest/gtest.h>

#include "akt/actor.h"
#include "akt/messages.h"
#include "node_events.h"
#include "sim_cluster.h"
#include "sim_seeds.h"

namespace akt::test {
namespace {

using namespace std::chrono_literals;

TEST(SimClusterWatch, WatchersAreToldWhenTheNodeIsDownOrLeftOrTheActorStops) {
  ForEachSeed(30, [](uint64_t seed) {
    SimCluster sc(Seeded(seed), MinMembers(4));
    sc.remote_options.node_lost_after = 60s;
    std::vector<std::string> eps = Endpoints(4);
    for (const std::string& ep : eps) ASSERT_NE(sc.Add(ep), nullptr);
    ASSERT_TRUE(sc.net.RunUntil([&] { return sc.Agree(eps); }, 10s));
    // One actor on each of nodes 2, 3, 4; node 1 watches all three by name.
    for (int i = 1; i < 4; ++i) {
      ASSERT_TRUE(sc.net.Node(eps[i])->Spawn<Idle>("target-" + std::to_string(i)).ok());
    }
    auto seen = std::make_shared<Watcher::Seen>();
    Result<PID> watcher = sc.net.Node(eps[0])->Spawn<Watcher>("watcher", seen);
    ASSERT_TRUE(watcher.ok());
    std::vector<PID> targets;
    for (int i = 1; i < 4; ++i) {
      Result<PID> t = sc.net.Node(eps[0])->ActorOf("target-" + std::to_string(i));
      ASSERT_TRUE(t.ok()) << t.status().ToString();
      targets.push_back(*t);
      ASSERT_TRUE(watcher->Tell(*t).ok());
    }
    sc.net.RunUntilIdle();
    auto reason_of = [&](const PID& p) -> std::optional<TerminationReason> {
      for (std::size_t i = 0; i < seen->size(); ++i) {
        Terminated t = seen->at(i);
        if (t.actor == p) return t.reason;
      }
      return std::nullopt;
    };
    // The actor on node 2 stops.
    targets[0].Stop();
    ASSERT_TRUE(sc.net.RunUntil([&] { return reason_of(targets[0]).has_value(); }, 2s));
    EXPECT_EQ(*reason_of(targets[0]), TerminationReason::kStopped);
    // Node 3 leaves.
    sc.Of(eps[2])->StartLeave();
    ASSERT_TRUE(sc.net.RunUntil([&] { return reason_of(targets[1]).has_value(); }, 3s))
        << "no Terminated after the node left";
    EXPECT_EQ(*reason_of(targets[1]), TerminationReason::kNodeLeft);
    // Node 4 is killed.
    sc.Crash(eps[3]);
    ASSERT_TRUE(sc.net.RunUntil([&] { return reason_of(targets[2]).has_value(); }, 3s))
        << "no Terminated after the node was declared down";
    EXPECT_EQ(*reason_of(targets[2]), TerminationReason::kNodeDown);
    EXPECT_EQ(seen->size(), 3u) << "a watcher was told twice";
  });
}

}  // namespace
}  // namespace akt::test
