// Grains across the cluster on the simulated network (labels cluster, sim):
// one activation per identity cluster-wide whichever nodes send to it (also
// all at once), a grain hosted on this node reached without a socket,
// re-activation on a survivor after its node crashed, grains that stay where
// they are when a node joins, the activation strategies and roles, and the
// activation barrier.
#include <gtest/gtest.h>

#include <map>

#include "akt_test.pb.h"
#include "remote_actors.h"
#include "sim_cluster.h"
#include "sim_seeds.h"

namespace akt::test {
namespace {

using namespace std::chrono_literals;

GrainIdentity Id(int k) { return *GrainIdentity::Make("pcounter", "g-" + std::to_string(k)); }

// Nodes (of `eps`) where `id` is active now.
int Activations(SimCluster& sc, const std::vector<std::string>& eps, const GrainIdentity& id,
                std::string* where = nullptr) {
  int n = 0;
  for (const std::string& ep : eps) {
    ActorSystem* sys = sc.net.Node(ep);
    if (sys == nullptr) continue;
    for (const GrainInfo& g : sys->ActiveGrains()) {
      if (g.id == id) {
        ++n;
        if (where != nullptr) *where = ep;
      }
    }
  }
  return n;
}

// Asks until answered (kUnavailable is retryable while a grain moves),
// at most `tries` times.
Result<Message> AskRetrying(SimCluster& sc, const std::string& from, const GrainIdentity& id,
                            Message msg, int tries = 20) {
  Result<Message> r = Status();
  for (int i = 0; i < tries; ++i) {
    r = sc.net.Node(from)->AskGrain(id, msg.Clone(), 2s);
    if (r.ok() || r.status().code() != StatusCode::kUnavailable) return r;
    sc.net.Advance(50ms);
  }
  return r;
}

Message AddOne() {
  akt::test::Add a;
  a.set_amount(1);
  return Message(std::move(a));
}

int64_t TotalOf(const Result<Message>& r) {
  const auto* t = r.ok() ? r->As<akt::test::Total>() : nullptr;
  return t != nullptr ? t->value() : -1;
}

// Starts `ep` with the counter grain kind "pcounter" registered.
void AddNode(SimCluster& sc, const std::string& ep, const GrainOptions& options = {},
             std::vector<std::string> roles = {}) {
  ASSERT_NE(sc.Add(ep, std::move(roles)), nullptr);
  ASSERT_TRUE(sc.net.Node(ep)
                  ->RegisterGrainKind("pcounter", MakeGrainFactory<ProtoCounterGrain>(), options)
                  .ok());
}

void Form(SimCluster& sc, const std::vector<std::string>& eps, const GrainOptions& options = {},
          std::vector<std::vector<std::string>> roles = {}) {
  for (std::size_t i = 0; i < eps.size(); ++i) {
    AddNode(sc, eps[i], options, i < roles.size() ? roles[i] : std::vector<std::string>{});
  }
  ASSERT_TRUE(sc.net.RunUntil([&] { return sc.Agree(eps); }, 10s));
}

// Registers `kind` (a counter) with `options` on every node of `eps`.
void RegisterEverywhere(SimCluster& sc, const std::vector<std::string>& eps, const char* kind,
                        const GrainOptions& options) {
  for (const std::string& ep : eps) {
    ASSERT_TRUE(sc.net.Node(ep)
                    ->RegisterGrainKind(kind, MakeGrainFactory<ProtoCounterGrain>(), options)
                    .ok());
  }
}

// Where each of `n` new identities (from `first` on) is activated when
// asked once from `from`.
std::map<std::string, int> PlaceEach(SimCluster& sc, const std::vector<std::string>& eps,
                                     const std::string& from, int first, int n) {
  std::map<std::string, int> per_node;
  for (int k = first; k < first + n; ++k) {
    Result<Message> r = AskRetrying(sc, from, Id(k), AddOne());
    EXPECT_TRUE(r.ok()) << Id(k).String() << ": " << r.status().ToString();
    std::string where;
    EXPECT_EQ(Activations(sc, eps, Id(k), &where), 1) << Id(k).String();
    ++per_node[where];
  }
  return per_node;
}

TEST(SimGrains, OneActivationPerIdentityFromEveryNodeAndNoSocketForALocalOne) {
  ForEachSeed(25, [](uint64_t seed) {
    SimCluster sc(Seeded(seed), MinMembers(3));
    std::vector<std::string> eps = Endpoints(3);
    Form(sc, eps);
    for (int k = 0; k < 12; ++k) {
      for (const std::string& ep : eps) {
        Result<Message> r = AskRetrying(sc, ep, Id(k), AddOne());
        ASSERT_TRUE(r.ok()) << Id(k).String() << " from " << ep << ": " << r.status().ToString();
      }
      EXPECT_EQ(TotalOf(AskRetrying(sc, eps[k % 3], Id(k), Message(akt::test::GetTotal()))), 3)
          << "the three adds did not reach one activation";
      std::string where;
      EXPECT_EQ(Activations(sc, eps, Id(k), &where), 1) << Id(k).String();
      // Asked from the node that hosts it, cut off from every other node:
      // answered all the same (in-process, never through a socket).
      sc.net.Isolate(where);
      EXPECT_EQ(TotalOf(sc.net.Node(where)->AskGrain(Id(k), akt::test::GetTotal(), 100ms)), 3)
          << "a grain on this node was not reached in-process";
      sc.net.HealAll();
    }
  });
}

TEST(SimGrains, AfterACrashTheGrainsOfTheDeadNodeComeBackOnceOnASurvivor) {
  ForEachSeed(25, [](uint64_t seed) {
    SimCluster sc(Seeded(seed), MinMembers(3));
    std::vector<std::string> eps = Endpoints(3);
    Form(sc, eps);
    std::map<int, std::string> host;
    for (int k = 0; k < 12; ++k) {  // the default strategy: where the first message came from
      ASSERT_TRUE(AskRetrying(sc, eps[k % 3], Id(k), AddOne()).ok());
      Activations(sc, eps, Id(k), &host[k]);
      ASSERT_EQ(host[k], eps[k % 3]) << Id(k).String() << " was not activated where it was asked";
    }
    std::string victim = eps[1 + seed % 2];
    sc.Crash(victim);
    std::vector<std::string> rest;
    for (const std::string& ep : eps) {
      if (ep != victim) rest.push_back(ep);
    }
    ASSERT_TRUE(sc.net.RunUntil([&] { return sc.Agree(rest); }, 3s));
    for (int k = 0; k < 12; ++k) {
      Result<Message> r = AskRetrying(sc, rest[k % 2], Id(k), Message(akt::test::GetTotal()));
      ASSERT_TRUE(r.ok()) << Id(k).String() << ": " << r.status().ToString();
      // A grain of the dead node starts afresh; the others kept their state.
      EXPECT_EQ(TotalOf(r), host[k] == victim ? 0 : 1) << Id(k).String();
      EXPECT_EQ(Activations(sc, rest, Id(k)), 1) << Id(k).String();
    }
  });
}

TEST(SimGrains, ANodeThatJoinsLeavesTheGrainsWhereTheyAreAndHostsNewOnes) {
  ForEachSeed(25, [](uint64_t seed) {
    SimCluster sc(Seeded(seed), MinMembers(2));
    std::vector<std::string> eps = Endpoints(3);
    Form(sc, {eps[0], eps[1]});
    for (int k = 0; k < 40; ++k) ASSERT_TRUE(AskRetrying(sc, eps[k % 2], Id(k), AddOne()).ok());
    AddNode(sc, eps[2]);
    // While it joins and the owners of a third of the keys change: never two
    // activations, and nothing deactivates.
    bool joined = false;
    for (int step = 0; step < 200 && !joined; ++step) {
      sc.net.Advance(5ms);
      for (int k = 0; k < 40; ++k) ASSERT_LE(Activations(sc, eps, Id(k)), 1) << Id(k).String();
      joined = sc.Agree(eps);
    }
    ASSERT_TRUE(joined);
    for (int k = 0; k < 40; ++k) {
      Result<Message> r = AskRetrying(sc, eps[k % 3], Id(k), Message(akt::test::GetTotal()));
      ASSERT_TRUE(r.ok()) << Id(k).String() << ": " << r.status().ToString();
      std::string where;
      EXPECT_EQ(Activations(sc, eps, Id(k), &where), 1) << Id(k).String();
      EXPECT_EQ(where, eps[k % 2]) << Id(k).String() << " moved";
      EXPECT_EQ(TotalOf(r), 1) << Id(k).String() << " lost its state";
    }
    // New identities first asked from the new node live there.
    std::map<std::string, int> placed = PlaceEach(sc, eps, eps[2], 100, 6);
    EXPECT_EQ(placed[eps[2]], 6) << "a new grain was not activated where it was first asked";
  });
}

TEST(SimGrains, FirstMessagesFromEveryNodeAtOnceMakeOneActivation) {
  ForEachSeed(25, [](uint64_t seed) {
    SimCluster sc(Seeded(seed), MinMembers(3));
    std::vector<std::string> eps = Endpoints(3);
    Form(sc, eps);
    // Once every owner has its records (one round after the view), the
    // first messages of 12 new identities leave all three nodes at once.
    for (const std::string& ep : eps) ASSERT_TRUE(AskRetrying(sc, ep, Id(99), AddOne()).ok());
    for (int k = 0; k < 12; ++k) {
      for (const std::string& ep : eps) ASSERT_TRUE(sc.net.Node(ep)->TellGrain(Id(k), AddOne()).ok());
    }
    for (int k = 0; k < 12; ++k) {
      // The three travel different paths (two through the owner): asked
      // until all came, within a bounded virtual time.
      int64_t total = -1;
      for (int i = 0; i < 40 && total != 3; ++i) {
        total = TotalOf(AskRetrying(sc, eps[(k + seed) % 3], Id(k), Message(akt::test::GetTotal())));
        if (total != 3) sc.net.Advance(25ms);
      }
      EXPECT_EQ(total, 3) << Id(k).String() << ": the three first messages did not meet";
      EXPECT_EQ(Activations(sc, eps, Id(k)), 1) << Id(k).String();
    }
  });
}

TEST(SimGrains, RoundRobinAndRandomSpreadActivationsOverTheMembers) {
  for (ActivationStrategy strategy : {ActivationStrategy::kRoundRobin, ActivationStrategy::kRandom}) {
    ForEachSeed(10, [strategy](uint64_t seed) {
      SimCluster sc(Seeded(seed), MinMembers(3));
      std::vector<std::string> eps = Endpoints(3);
      Form(sc, eps, GrainOptions().WithActivationStrategy(strategy));
      // 60 identities, a third expected on each (Random: 20 ± 3.7; at
      // least 5 is 4 standard deviations below).
      std::map<std::string, int> placed = PlaceEach(sc, eps, eps[0], 0, 60);
      for (const std::string& ep : eps) {
        EXPECT_GE(placed[ep], 5) << ep << " hosts " << placed[ep] << " of 60 (strategy "
                                 << static_cast<int>(strategy) << ")";
      }
    });
  }
}

TEST(SimGrains, LeastLoadPicksTheMemberWithTheFewestActors) {
  ForEachSeed(10, [](uint64_t seed) {
    SimCluster sc(Seeded(seed), MinMembers(3));
    std::vector<std::string> eps = Endpoints(3);
    Form(sc, eps, GrainOptions().WithActivationStrategy(ActivationStrategy::kLeastLoad));
    for (int i = 0; i < 100; ++i) {
      ASSERT_TRUE(sc.net.Node(eps[0])->Spawn<Idle>("").ok());
      ASSERT_TRUE(sc.net.Node(eps[1])->Spawn<Idle>("").ok());
    }
    sc.net.Advance(3s);  // every member probed every other, with its load
    std::map<std::string, int> placed = PlaceEach(sc, eps, eps[0], 0, 20);
    EXPECT_EQ(placed[eps[2]], 20) << "the least loaded member did not get the new grains";
  });
}

TEST(SimGrains, ARoleLimitsTheHostsAndNoMemberWithItIsAClearError) {
  ForEachSeed(10, [](uint64_t seed) {
    SimCluster sc(Seeded(seed), MinMembers(3));
    std::vector<std::string> eps = Endpoints(3);
    Form(sc, eps,
         GrainOptions().WithActivationRole("worker").WithActivationStrategy(
             ActivationStrategy::kRoundRobin),
         {{}, {"worker"}, {"worker", "api"}});
    std::map<std::string, int> placed = PlaceEach(sc, eps, eps[0], 0, 20);
    EXPECT_EQ(placed[eps[0]], 0) << "a member without the role hosts a grain";
    EXPECT_GT(placed[eps[1]], 0);
    EXPECT_GT(placed[eps[2]], 0);
    // Local, asked from a node without the role: placed on one that has it.
    RegisterEverywhere(sc, eps, "local", GrainOptions().WithActivationRole("worker"));
    for (int k = 0; k < 6; ++k) {
      GrainIdentity id = *GrainIdentity::Make("local", "l-" + std::to_string(k));
      ASSERT_TRUE(AskRetrying(sc, eps[0], id, AddOne()).ok()) << id.String();
      std::string where;
      EXPECT_EQ(Activations(sc, eps, id, &where), 1) << id.String();
      EXPECT_NE(where, eps[0]) << id.String() << " is on a member without the role";
    }
    // No member with the role: a clear error, naming it.
    RegisterEverywhere(sc, eps, "nobody", GrainOptions().WithActivationRole("gpu"));
    Result<Message> r =
        AskRetrying(sc, eps[1], *GrainIdentity::Make("nobody", "x"), Message(akt::test::GetTotal()));
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), StatusCode::kNotFound) << r.status().ToString();
    EXPECT_NE(r.status().message().find("gpu"), std::string::npos) << r.status().ToString();
  });
}

TEST(SimGrains, NoActivationBeforeTheBarrierThenTheyStart) {
  ForEachSeed(10, [](uint64_t seed) {
    ClusterOptions co = MinMembers(2);
    co.grain_activation_min_members = 3;
    SimCluster sc(Seeded(seed), co);
    std::vector<std::string> eps = Endpoints(3);
    Form(sc, {eps[0], eps[1]});
    // Retried past the directory's rebuild after the view: the barrier stays.
    Result<Message> early = AskRetrying(sc, eps[0], Id(1), AddOne());
    ASSERT_FALSE(early.ok());
    EXPECT_EQ(early.status().code(), StatusCode::kUnavailable) << early.status().ToString();
    EXPECT_NE(early.status().message().find("3 members"), std::string::npos)
        << early.status().ToString();
    EXPECT_EQ(Activations(sc, eps, Id(1)), 0);
    AddNode(sc, eps[2]);
    ASSERT_TRUE(sc.net.RunUntil([&] { return sc.Agree(eps); }, 10s));
    Result<Message> r = AskRetrying(sc, eps[0], Id(1), AddOne());
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(Activations(sc, eps, Id(1)), 1);
  });
}

}  // namespace
}  // namespace akt::test
