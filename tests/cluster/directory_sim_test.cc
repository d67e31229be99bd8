// The cluster directory of top-level names on the simulated network, many
// seeds per test (labels cluster, sim): names unique cluster-wide, found
// from every node once Spawn returned, never "not found" while alive (also
// during a membership change), nothing stale after a crash or a stop.
#include <gtest/gtest.h>

#include "akt/actor.h"
#include "sim_cluster.h"
#include "sim_seeds.h"

namespace akt::test {
namespace {

using namespace std::chrono_literals;

std::string NameOf(std::size_t node, int k) {
  return "svc-" + std::to_string(node) + "-" + std::to_string(k);
}

// The endpoint in a PID's address ("akt://sys@host:port/name"; local: "").
std::string EndpointOf(const PID& pid) {
  std::string a = pid.Address();
  std::size_t at = a.find('@');
  std::size_t slash = a.find('/', at == std::string::npos ? 0 : at);
  if (at == std::string::npos || slash == std::string::npos) return "";
  return a.substr(at + 1, slash - at - 1);
}

TEST(SimDirectory, NamesAreUniqueFoundEverywhereAndNothingStaleRemainsAfterACrash) {
  ForEachSeed(30, [](uint64_t seed) {
    SimCluster sc(Seeded(seed), MinMembers(4));
    std::vector<std::string> eps = Endpoints(4);
    for (const std::string& ep : eps) ASSERT_NE(sc.Add(ep), nullptr);
    ASSERT_TRUE(sc.net.RunUntil([&] { return sc.Agree(eps); }, 10s));

    for (std::size_t i = 0; i < eps.size(); ++i) {
      for (int k = 0; k < 3; ++k) {
        Result<PID> p = sc.net.Node(eps[i])->Spawn<Idle>(NameOf(i, k));
        ASSERT_TRUE(p.ok()) << NameOf(i, k) << ": " << p.status().ToString();
      }
    }
    // Unique: the same name from another node is refused.
    Result<PID> dup = sc.net.Node(eps[2])->Spawn<Idle>(NameOf(0, 0));
    ASSERT_FALSE(dup.ok());
    EXPECT_EQ(dup.status().code(), StatusCode::kAlreadyExists) << dup.status().ToString();
    // Found from every node, at its holder.
    for (const std::string& from : eps) {
      for (std::size_t i = 0; i < eps.size(); ++i) {
        for (int k = 0; k < 3; ++k) {
          Result<PID> r = sc.net.Node(from)->ActorOf(NameOf(i, k));
          ASSERT_TRUE(r.ok()) << NameOf(i, k) << " from " << from << ": " << r.status().ToString();
          EXPECT_EQ(EndpointOf(*r), from == eps[i] ? "" : eps[i]) << NameOf(i, k);
        }
      }
    }

    std::size_t victim = 1 + seed % 3;
    sc.Crash(eps[victim]);
    std::vector<std::string> rest;
    for (std::size_t i = 0; i < eps.size(); ++i) {
      if (i != victim) rest.push_back(eps[i]);
    }
    // During the change: a live name is found (the lookup waits out the
    // rebuild), never "not found".
    for (std::size_t i = 0; i < eps.size(); ++i) {
      if (i == victim) continue;
      Result<PID> r = sc.net.Node(rest[seed % rest.size()])->ActorOf(NameOf(i, 1));
      EXPECT_TRUE(r.ok()) << NameOf(i, 1) << " during the change: " << r.status().ToString();
    }
    ASSERT_TRUE(sc.net.RunUntil([&] { return sc.Agree(rest); }, 3s));
    for (const std::string& from : rest) {
      for (std::size_t i = 0; i < eps.size(); ++i) {
        for (int k = 0; k < 3; ++k) {
          Result<PID> r = sc.net.Node(from)->ActorOf(NameOf(i, k));
          if (i == victim) {
            EXPECT_EQ(r.status().code(), StatusCode::kNotFound)
                << NameOf(i, k) << " of the crashed node, from " << from << ": "
                << r.status().ToString();
          } else {
            EXPECT_TRUE(r.ok()) << NameOf(i, k) << " from " << from << ": " << r.status().ToString();
          }
        }
      }
    }
    // The crashed node's names are free again.
    EXPECT_TRUE(sc.net.Node(rest[0])->Spawn<Idle>(NameOf(victim, 0)).ok());
  });
}

TEST(SimDirectory, AStoppedActorIsNotFoundFromAnyNodeAndItsNameIsFree) {
  ForEachSeed(30, [](uint64_t seed) {
    SimCluster sc(Seeded(seed), MinMembers(3));
    std::vector<std::string> eps = Endpoints(3);
    for (const std::string& ep : eps) ASSERT_NE(sc.Add(ep), nullptr);
    ASSERT_TRUE(sc.net.RunUntil([&] { return sc.Agree(eps); }, 10s));
    Result<PID> p = sc.net.Node(eps[0])->Spawn<Idle>("orders");
    ASSERT_TRUE(p.ok()) << p.status().ToString();
    // Cached on the others.
    for (const std::string& ep : {eps[1], eps[2]}) ASSERT_TRUE(sc.net.Node(ep)->ActorOf("orders").ok());
    p->Stop();
    // Each lookup moves the network; at most 2 s of virtual time in all.
    bool gone = false;
    for (int i = 0; i < 40 && !gone; ++i) {
      gone = true;
      for (const std::string& ep : {eps[1], eps[2]}) gone &= !sc.net.Node(ep)->ActorOf("orders").ok();
      if (!gone) sc.net.Advance(50ms);
    }
    ASSERT_TRUE(gone) << "a stopped actor is still found through a cache";
    EXPECT_EQ(sc.net.Node(eps[2])->ActorOf("orders").status().code(), StatusCode::kNotFound);
    EXPECT_TRUE(sc.net.Node(eps[2])->Spawn<Idle>("orders").ok()) << "the name was not released";
  });
}

}  // namespace
}  // namespace akt::test
