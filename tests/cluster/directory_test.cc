// The cluster directory over real TCP between actor systems of this process
// (real threads: the races are real): one name spawned from two nodes at
// the same moment gives exactly one actor, found from the third node; and
// SpawnOn with each placement and a role.
#include <gtest/gtest.h>
#include <google/protobuf/wrappers.pb.h>

#include <atomic>
#include <memory>
#include <set>
#include <thread>
#include <vector>

#include "akt/actor.h"
#include "akt/cluster.h"
#include "akt/context.h"
#include "akt/remote.h"
#include "akt/system.h"

namespace akt::test {
namespace {

using namespace std::chrono_literals;

class Idle : public Actor {
 public:
  void Receive(ReceiveContext&) override {}
};

// Replies with what it was sent.
class Echo : public Actor {
 public:
  void Receive(ReceiveContext& ctx) override { ctx.Reply(ctx.message().Clone()).IgnoreError(); }
};

struct TcpNode {
  std::unique_ptr<ActorSystem> system;
  Remoting* remoting = nullptr;
  Cluster* cluster = nullptr;
};

// `n` nodes on 127.0.0.1 (kernel-chosen ports), one cluster; node i has
// the roles roles[i].
std::vector<TcpNode> StartCluster(int n, const std::vector<std::vector<std::string>>& roles = {}) {
  std::vector<TcpNode> nodes(n);
  std::vector<std::string> seeds;
  for (int i = 0; i < n; ++i) {
    SystemOptions so;
    so.name = "n" + std::to_string(i);
    so.workers = 2;
    nodes[i].system = std::make_unique<ActorSystem>(so);
    EXPECT_TRUE(nodes[i].system->Start().ok());
    RemoteOptions ro;
    ro.host = "127.0.0.1";
    Result<Remoting*> r = Remoting::Enable(*nodes[i].system, ro);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    nodes[i].remoting = *r;
    EXPECT_TRUE(nodes[i].remoting->RegisterKind("echo", Context::MakeFactory<Echo>()).ok());
    seeds.push_back(nodes[i].remoting->endpoint());
  }
  for (int i = 0; i < n; ++i) {
    ClusterOptions co;
    co.provider = StaticProvider(seeds);
    co.min_members = n;
    if (i < static_cast<int>(roles.size())) co.roles = roles[i];
    Result<Cluster*> c = Cluster::Join(*nodes[i].system, co);
    EXPECT_TRUE(c.ok()) << c.status().ToString();
    nodes[i].cluster = *c;
  }
  for (int i = 0; i < n; ++i) {
    EXPECT_TRUE(nodes[i].cluster->WaitUp(10s).ok()) << "node " << i << " did not join";
  }
  // Every node sees all n (the last admission reaches everyone).
  for (int i = 0; i < n; ++i) {
    for (int t = 0; t < 1000 && nodes[i].cluster->Members().size() != static_cast<std::size_t>(n); ++t) {
      std::this_thread::sleep_for(5ms);  // polls the view, bounded
    }
    EXPECT_EQ(nodes[i].cluster->Members().size(), static_cast<std::size_t>(n));
  }
  return nodes;
}

TEST(ClusterDirectory, ANameSpawnedFromTwoNodesAtOnceGivesExactlyOneActor) {
  std::vector<TcpNode> nodes = StartCluster(3);
  for (int round = 0; round < 30; ++round) {
    std::string name = "race-" + std::to_string(round);
    std::atomic<int> ready{0};
    Result<PID> got[2] = {Status(), Status()};
    std::thread racers[2];
    for (int i = 0; i < 2; ++i) {
      racers[i] = std::thread([&, i] {
        ready.fetch_add(1);
        while (ready.load() < 2) {
        }
        got[i] = nodes[i].system->Spawn<Idle>(name);
      });
    }
    for (std::thread& t : racers) t.join();
    int ok = got[0].ok() + got[1].ok();
    ASSERT_EQ(ok, 1) << name << ": " << got[0].status().ToString() << " / "
                     << got[1].status().ToString();
    const Result<PID>& loser = got[0].ok() ? got[1] : got[0];
    EXPECT_EQ(loser.status().code(), StatusCode::kAlreadyExists) << loser.status().ToString();
    int winner = got[0].ok() ? 0 : 1;
    Result<PID> seen = nodes[2].system->ActorOf(name);
    ASSERT_TRUE(seen.ok()) << seen.status().ToString();
    EXPECT_NE(seen->Address().find(nodes[winner].remoting->endpoint()), std::string::npos)
        << seen->Address();
  }
}

TEST(ClusterDirectory, SendAsyncAndSendSyncByNameReachAnActorOnAnotherNode) {
  std::vector<TcpNode> nodes = StartCluster(3);
  ASSERT_TRUE(nodes[1].system->Spawn<Echo>("echo-1").ok());
  google::protobuf::StringValue hello;
  hello.set_value("hello");
  Result<Message> back = nodes[0].system->SendSync("echo-1", hello, 5s);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  ASSERT_NE(back->As<google::protobuf::StringValue>(), nullptr);
  EXPECT_EQ(back->As<google::protobuf::StringValue>()->value(), "hello");
  EXPECT_TRUE(nodes[2].system->SendAsync("echo-1", hello).ok());
  EXPECT_EQ(nodes[2].system->SendAsync("nobody", hello).code(), StatusCode::kNotFound);
}

TEST(ClusterDirectory, SpawnOnHonoursEveryPlacementAndTheRole) {
  std::vector<TcpNode> nodes = StartCluster(3, {{"api"}, {"worker"}, {"worker"}});
  auto where = [&](const PID& pid) {
    for (int i = 0; i < 3; ++i) {
      if (pid.Address().find(nodes[i].remoting->endpoint()) != std::string::npos) return i;
    }
    return 0;  // a local PID: the caller's node
  };
  SpawnOnOptions o;
  o.role = "worker";
  std::set<int> used;
  for (int k = 0; k < 4; ++k) {
    Result<PID> p = nodes[0].cluster->SpawnOn("echo", "rr-" + std::to_string(k), o);
    ASSERT_TRUE(p.ok()) << p.status().ToString();
    used.insert(where(*p));
  }
  EXPECT_EQ(used, (std::set<int>{1, 2})) << "round robin over the workers only";
  o.placement = Placement::kLocal;
  EXPECT_EQ(nodes[0].cluster->SpawnOn("echo", "local-0", o).status().code(), StatusCode::kNotFound)
      << "this node lacks the role";
  o.role.clear();
  Result<PID> local = nodes[0].cluster->SpawnOn("echo", "local-0", o);
  ASSERT_TRUE(local.ok()) << local.status().ToString();
  EXPECT_EQ(where(*local), 0);
  o.placement = Placement::kLeastLoad;
  o.role = "api";
  Result<PID> least = nodes[2].cluster->SpawnOn("echo", "least-0", o);
  ASSERT_TRUE(least.ok()) << least.status().ToString();
  EXPECT_EQ(where(*least), 0);
  o.placement = Placement::kRandom;
  o.role = "nobody-has-it";
  EXPECT_EQ(nodes[0].cluster->SpawnOn("echo", "x", o).status().code(), StatusCode::kNotFound);
  o.role.clear();
  EXPECT_EQ(nodes[1].cluster->SpawnOn("echo", "rr-0", o).status().code(),
            StatusCode::kAlreadyExists);
  EXPECT_EQ(nodes[1].cluster->SpawnOn("no-such-kind", "y", o).status().code(),
            StatusCode::kNotFound);
  // The failed spawn released its claim: the name can be used.
  EXPECT_TRUE(nodes[1].system->Spawn<Idle>("y").ok());
  // Found, and it answers, from a node that did not spawn it.
  google::protobuf::StringValue v;
  v.set_value("x");
  EXPECT_TRUE(nodes[2].system->SendSync("rr-1", v, 5s).ok());
}

}  // namespace
}  // namespace akt::test
