// Clusters of akt-node processes on 127.0.0.x with the static provider:
// forming, a graceful leave, and the faults (kill -9, SIGSTOP, a restart at
// the same endpoint) with every survivor's own record of what it saw.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <google/protobuf/wrappers.pb.h>

#include "akt/cluster.h"
#include "akt/grain.h"
#include "akt/remote.h"
#include "akt/system.h"
#include "event_file.h"
#include "port_child.h"

namespace akt::test {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// One akt-node process, its events in a file of its own.
class NodeProc {
 public:
  NodeProc(const std::string& host, uint16_t port, const std::vector<std::string>& seeds,
           int min_members, const std::string& events, std::vector<std::string> extra = {})
      : endpoint_(host + ":" + std::to_string(port)), events_(events) {
    std::string list;
    for (const std::string& s : seeds) list += (list.empty() ? "" : ",") + s;
    std::vector<std::string> args{"--host", host, "--port", std::to_string(port), "--seeds", list,
                                  "--min-members", std::to_string(min_members), "--events", events};
    args.insert(args.end(), extra.begin(), extra.end());
    child_ = std::make_unique<support::PortChild>(AKT_NODE, args);
  }
  bool started() const { return child_->port() != 0; }
  const std::string& endpoint() const { return endpoint_; }
  support::PortChild& child() { return *child_; }

  std::vector<std::string> Lines() const { return EventLines(events_); }
  // "endpoint#incarnation" of this start (the first line it writes).
  std::string Self() const { return EventSelf(events_); }
  // Lines starting with `prefix`.
  int Count(const std::string& prefix) const { return EventCount(events_, prefix); }

 private:
  std::string endpoint_;
  std::string events_;
  std::unique_ptr<support::PortChild> child_;
};

// Polls `done` (every few ms: the processes write files) until `deadline`.
bool WaitFor(const std::function<bool()>& done, std::chrono::milliseconds deadline) {
  auto until = Clock::now() + deadline;
  while (Clock::now() < until) {
    if (done()) return true;
    std::this_thread::sleep_for(5ms);  // polls the files
  }
  return done();
}

class ClusterProcesses : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/akt-cluster-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    // One port for every node of this test, on addresses of their own.
    port_ = static_cast<uint16_t>(21000 + (::getpid() % 20000));
  }
  void TearDown() override {
    nodes_.clear();  // closes their stdin: each leaves and exits (or is killed)
    std::string cmd = "rm -rf " + dir_;
    (void)!std::system(cmd.c_str());
  }

  std::string Host(int i) const { return "127.0.0." + std::to_string(20 + i); }
  std::vector<std::string> Seeds(int n) const {
    std::vector<std::string> out;
    for (int i = 0; i < n; ++i) out.push_back(Host(i) + ":" + std::to_string(port_));
    return out;
  }
  NodeProc& Start(int i, int n, int min_members, std::vector<std::string> extra = {}) {
    std::string events = dir_ + "/n" + std::to_string(i) + "-" + std::to_string(starts_++) + ".events";
    nodes_[i] = std::make_unique<NodeProc>(Host(i), port_, Seeds(n), min_members, events,
                                           std::move(extra));
    return *nodes_[i];
  }
  // Every live node in `which` has `line` in its events.
  bool AllSaw(const std::vector<int>& which, const std::string& line) {
    for (int i : which) {
      bool saw = false;
      for (const std::string& l : nodes_[i]->Lines()) saw |= l.rfind(line, 0) == 0;
      if (!saw) return false;
    }
    return true;
  }
  void FormCluster(int n, const std::vector<std::string>& extra = {}) {
    for (int i = 0; i < n; ++i) ASSERT_TRUE(Start(i, n, n, extra).started()) << "node " << i;
    std::vector<int> all;
    for (int i = 0; i < n; ++i) all.push_back(i);
    for (int i = 0; i < n; ++i) {
      ASSERT_TRUE(WaitFor([&] { return AllSaw(all, "joined " + nodes_[i]->Self()); }, 10s))
          << "not every node saw " << nodes_[i]->endpoint() << " join";
    }
  }

  std::string dir_;
  uint16_t port_ = 0;
  int starts_ = 0;
  std::map<int, std::unique_ptr<NodeProc>> nodes_;
};

TEST_F(ClusterProcesses, NodesFormOneClusterAndAGracefulLeaveIsNodeLeftEverywhere) {
  FormCluster(3);
  // The same join sequence on every node (after its own admission).
  for (int i = 0; i < 3; ++i) EXPECT_EQ(nodes_[i]->Count("joined "), 3) << i;
  std::string leaving = nodes_[2]->Self();
  EXPECT_EQ(nodes_[2]->child().Finish(), 0);  // stdin closed: the system stops, leaving first
  EXPECT_TRUE(WaitFor([&] { return AllSaw({0, 1}, "left " + leaving); }, 5s));
  EXPECT_EQ(nodes_[0]->Count("down "), 0);
  EXPECT_EQ(nodes_[1]->Count("down "), 0);
}

TEST_F(ClusterProcesses, AKilledProcessIsDeclaredDownByEverySurvivor) {
  FormCluster(4);
  for (int victim : {3, 0}) {  // a member, then the leader
    std::string gone = nodes_[victim]->Self();
    std::vector<int> rest;
    for (auto& [i, n] : nodes_) {
      if (i != victim && n->child().pid() > 0) rest.push_back(i);
    }
    auto t0 = Clock::now();
    nodes_[victim]->child().Kill();
    ASSERT_TRUE(WaitFor([&] { return AllSaw(rest, "down " + gone); }, 5s))
        << "not every survivor declared the killed node down";
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count();
    std::printf("kill -9 of %s: down on every survivor after %lld ms\n",
                nodes_[victim]->endpoint().c_str(), static_cast<long long>(ms));
    for (int i : rest) EXPECT_EQ(nodes_[i]->Count("down " + gone), 1) << i;
    nodes_.erase(victim);
  }
}

TEST_F(ClusterProcesses, AFrozenProcessIsDownAndLearnsItWasRemovedWhenThawed) {
  FormCluster(3);
  std::string gone = nodes_[1]->Self();
  auto t0 = Clock::now();
  ASSERT_TRUE(nodes_[1]->child().Freeze());
  ASSERT_TRUE(WaitFor([&] { return AllSaw({0, 2}, "down " + gone); }, 6s))
      << "the frozen node was not declared down";
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count();
  std::printf("SIGSTOP: down on every survivor after %lld ms\n", static_cast<long long>(ms));
  nodes_[1]->child().Signal(SIGCONT);
  EXPECT_TRUE(WaitFor([&] { return nodes_[1]->Count("state removed") == 1; }, 5s))
      << "the thawed node did not learn it was removed";
}

TEST_F(ClusterProcesses, AProcessRestartedAtItsAddressJoinsAsANewStart) {
  FormCluster(3);
  std::string old = nodes_[2]->Self();
  nodes_[2]->child().Kill();
  NodeProc& again = Start(2, 3, 1);
  ASSERT_TRUE(again.started());
  std::string fresh = again.Self();
  ASSERT_NE(fresh, old);
  EXPECT_TRUE(WaitFor([&] { return AllSaw({0, 1}, "joined " + fresh); }, 10s));
  EXPECT_TRUE(AllSaw({0, 1}, "down " + old)) << "the old start is still a member";
}

TEST_F(ClusterProcesses, AStartAloneRestartedAfterItsDownJoinsTheClusterInsteadOfFormingOne) {
  // Frozen long enough to be declared down (the survivors' dials to it
  // fail and back off meanwhile), then killed and started again with
  // min_members 1: it may form a cluster alone, but must find this one.
  FormCluster(3);
  std::string old = nodes_[2]->Self();
  ASSERT_TRUE(nodes_[2]->child().Freeze());
  ASSERT_TRUE(WaitFor([&] { return AllSaw({0, 1}, "down " + old); }, 6s));
  nodes_[2]->child().Kill();
  NodeProc& again = Start(2, 3, 1);
  ASSERT_TRUE(again.started());
  std::string fresh = again.Self();
  EXPECT_TRUE(WaitFor([&] { return AllSaw({0, 1}, "joined " + fresh); }, 10s))
      << "the new start was not admitted";
  EXPECT_TRUE(WaitFor([&] { return AllSaw({2}, "joined " + nodes_[0]->Self()); }, 5s))
      << "the new start does not see the cluster";
  EXPECT_EQ(again.Count("leader " + fresh), 0) << "the new start formed a cluster of its own";
}

TEST_F(ClusterProcesses, ANameSpawnedByEveryProcessAtOnceExistsOnceInTheCluster) {
  // Each node spawns "race-<k>" as soon as it is a member: they race.
  std::vector<std::string> extra;
  for (int k = 0; k < 5; ++k) {
    extra.push_back("--spawn");
    extra.push_back("race-" + std::to_string(k));
  }
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(Start(i, 3, 3, extra).started());
  for (int k = 0; k < 5; ++k) {
    std::string name = "spawn race-" + std::to_string(k) + " ";
    ASSERT_TRUE(WaitFor([&] { return AllSaw({0, 1, 2}, name); }, 15s)) << name;
    int ok = 0, taken = 0;
    for (int i = 0; i < 3; ++i) {
      ok += nodes_[i]->Count(name + "ok");
      taken += nodes_[i]->Count(name + "ALREADY_EXISTS");
    }
    EXPECT_EQ(ok, 1) << name << "succeeded on " << ok << " nodes";
    EXPECT_EQ(taken, 2) << name;
  }
}

// akt-node's "counter" grain, for this process's own node.
class CounterGrain : public Grain {
 public:
  void OnReceive(GrainContext& ctx) override {
    ctx.Match([&](const google::protobuf::Int64Value& add) {
      total_ += add.value();
      google::protobuf::Int64Value out;
      out.set_value(total_);
      ctx.Reply(std::move(out)).IgnoreError();
    });
  }

 private:
  int64_t total_ = 0;
};

int64_t AddOne(ActorSystem& system, const GrainIdentity& id) {
  google::protobuf::Int64Value one;
  one.set_value(1);
  for (int attempt = 0; attempt < 50; ++attempt) {  // kUnavailable while a grain moves
    Result<Message> r = system.AskGrain(id, one, 2s);
    if (r.ok()) {
      const auto* v = r->As<google::protobuf::Int64Value>();
      return v != nullptr ? v->value() : -1;
    }
    if (r.status().code() != StatusCode::kUnavailable) return -2;
    std::this_thread::sleep_for(20ms);  // a retry, bounded: 50 x (20 ms + the ask)
  }
  return -3;
}

TEST_F(ClusterProcesses, AGrainLivesOnceAcrossProcessesAndComesBackAfterItsNodeIsKilled) {
  // Round robin: the grains this process sends to are spread over all four
  // members (the default, local, would keep them all here).
  FormCluster(3, {"--grain-strategy", "round-robin"});
  // This process is the fourth member.
  SystemOptions so;
  so.name = "tester";
  ActorSystem system(so);
  ASSERT_TRUE(system.Start().ok());
  RemoteOptions ro;
  ro.host = Host(3);
  ro.port = port_;
  ASSERT_TRUE(Remoting::Enable(system, ro).ok());
  ASSERT_TRUE(system
                  .RegisterGrainKind("counter", MakeGrainFactory<CounterGrain>(),
                                     GrainOptions().WithActivationStrategy(
                                         ActivationStrategy::kRoundRobin))
                  .ok());
  ClusterOptions co;
  co.provider = StaticProvider(Seeds(3));
  Result<Cluster*> cluster = Cluster::Join(system, co);
  ASSERT_TRUE(cluster.ok()) << cluster.status().ToString();
  ASSERT_TRUE((*cluster)->WaitUp(10s).ok());
  ASSERT_TRUE(WaitFor([&] { return (*cluster)->Members().size() == 4; }, 10s));
  std::vector<GrainIdentity> ids;
  for (int k = 0; k < 30; ++k) ids.push_back(*GrainIdentity::Make("counter", "g-" + std::to_string(k)));
  for (int rep = 1; rep <= 3; ++rep) {
    for (const GrainIdentity& id : ids) ASSERT_EQ(AddOne(system, id), rep) << id.String();
  }
  std::size_t here = system.ActiveGrains().size();
  EXPECT_GT(here, 0u) << "round robin placed none of 30 grains on this member";
  EXPECT_LT(here, ids.size()) << "round robin placed every grain on this member";
  nodes_[1]->child().Kill();
  ASSERT_TRUE(WaitFor([&] { return (*cluster)->Members().size() == 3; }, 5s));
  int fresh = 0;
  for (const GrainIdentity& id : ids) {
    int64_t total = AddOne(system, id);
    // 4: it was not on the killed node; 1: it was, and starts afresh on a
    // survivor. Anything else: a lost update or a second activation.
    EXPECT_TRUE(total == 4 || total == 1) << id.String() << " total " << total;
    fresh += total == 1;
  }
  std::printf("%d of %zu grains were on the killed node\n", fresh, ids.size());
  EXPECT_GT(fresh, 0) << "no grain was on the killed node: the crash path went untested";
  EXPECT_TRUE(system.Stop().ok());
}

}  // namespace
}  // namespace akt::test
