// Discovery on a real etcd server started by the test (tests/cluster/
// engines.h): the provider's contract (register, peers, deregister, a
// crashed node's key expiring with its lease, an etcd outage), the key
// layout read back with etcdctl, and clusters of akt-node processes that
// find each other through etcd.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "akt/cluster.h"
#include "akt/cluster_etcd.h"
#include "engines.h"
#include "event_file.h"
#include "port_child.h"
#include "remote_fixture.h"

namespace akt::test {
namespace {

using namespace std::chrono_literals;

Member MakeMember(const std::string& endpoint, uint64_t incarnation) {
  return TestMember(endpoint, incarnation, {"api", "worker"});
}

class EtcdMembership : public ::testing::Test {
 protected:
  std::shared_ptr<MembershipProvider> Provider(Duration ttl = 10s) {
    EtcdOptions o;
    o.endpoints = {etcd_.endpoint()};
    o.cluster = "t1";
    o.ttl = ttl;
    Result<std::shared_ptr<MembershipProvider>> p = EtcdProvider(o);
    EXPECT_TRUE(p.ok()) << p.status().ToString();
    return p.ok() ? *p : nullptr;
  }
  EtcdServer etcd_;
};

TEST(EtcdOptionsTest, BadOptionsAreRefusedWithTheirName) {
  EtcdOptions o;
  EXPECT_EQ(EtcdProvider(o).status().code(), StatusCode::kInvalidArgument);  // no endpoint
  o.endpoints = {"http://127.0.0.1:2379"};
  Result<std::shared_ptr<MembershipProvider>> r = EtcdProvider(o);
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("host:port"), std::string::npos) << r.status().ToString();
  o.endpoints = {"127.0.0.1:2379"};
  o.ttl = 500ms;
  EXPECT_NE(EtcdProvider(o).status().message().find("ttl"), std::string::npos);
  o.ttl = 5s;
  o.cluster = "a/b";
  EXPECT_NE(EtcdProvider(o).status().message().find("cluster"), std::string::npos);
}

TEST(EtcdOptionsTest, RegisteringWithNoServerFailsWithAClearError) {
  EtcdOptions o;
  o.endpoints = {"127.0.0.1:" + std::to_string(FreePort())};
  o.timeout = 300ms;
  Result<std::shared_ptr<MembershipProvider>> p = EtcdProvider(o);
  ASSERT_TRUE(p.ok());
  Status s = (*p)->Register(MakeMember("127.0.0.1:1000", 1));
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("etcd"), std::string::npos) << s.ToString();
}

TEST_F(EtcdMembership, RegisteredNodesSeeEachOtherAndEtcdctlReadsTheirKeys) {
  ASSERT_TRUE(etcd_.up());
  auto a = Provider();
  auto b = Provider();
  ASSERT_TRUE(a->Register(MakeMember("127.0.0.1:1001", 11)).ok());
  ASSERT_TRUE(b->Register(MakeMember("127.0.0.1:1002", 12)).ok());
  EXPECT_TRUE(WaitUntil([&] { return Lists(*a, "127.0.0.1:1002") && Lists(*b, "127.0.0.1:1001"); }));
  EXPECT_TRUE(Lists(*a, "127.0.0.1:1001"));  // itself too
  std::string out = etcd_.Get("akt/t1/members/");
  EXPECT_NE(out.find("akt/t1/members/127.0.0.1:1001\n"), std::string::npos) << out;
  EXPECT_NE(out.find("\"endpoint\":\"127.0.0.1:1002\""), std::string::npos) << out;
  EXPECT_NE(out.find("\"incarnation\":\"12\""), std::string::npos) << out;
  EXPECT_NE(out.find("\"roles\":[\"api\",\"worker\"]"), std::string::npos) << out;
}

TEST_F(EtcdMembership, ADeregisteredNodeIsGoneFromEveryCacheAndFromEtcd) {
  ASSERT_TRUE(etcd_.up());
  auto a = Provider();
  auto b = Provider();
  Member ma = MakeMember("127.0.0.1:1003", 13);
  ASSERT_TRUE(a->Register(ma).ok());
  ASSERT_TRUE(b->Register(MakeMember("127.0.0.1:1004", 14)).ok());
  ASSERT_TRUE(WaitUntil([&] { return Lists(*b, "127.0.0.1:1003"); }));
  ASSERT_TRUE(a->Deregister(ma).ok());
  EXPECT_TRUE(WaitUntil([&] { return !Lists(*b, "127.0.0.1:1003"); }));
  EXPECT_EQ(etcd_.Get("akt/t1/members/127.0.0.1:1003").find("1003"), std::string::npos);
}

TEST_F(EtcdMembership, ACrashedNodesKeyGoesWithItsLease) {
  ASSERT_TRUE(etcd_.up());
  auto watcher = Provider();
  ASSERT_TRUE(watcher->Register(MakeMember("127.0.0.1:1005", 15)).ok());
  {
    auto crashed = Provider(1s);
    ASSERT_TRUE(crashed->Register(MakeMember("127.0.0.1:1006", 16)).ok());
    ASSERT_TRUE(WaitUntil([&] { return Lists(*watcher, "127.0.0.1:1006"); }));
  }  // gone without deregistering: its lease is no longer kept alive
  EXPECT_TRUE(WaitUntil([&] { return !Lists(*watcher, "127.0.0.1:1006"); }, 10000ms))
      << "the key outlived its lease";
  EXPECT_TRUE(Lists(*watcher, "127.0.0.1:1005")) << "a kept-alive key expired";
}

TEST_F(EtcdMembership, AnOutageKeepsTheLastMembersAndTheWatchResumesAfterIt) {
  ASSERT_TRUE(etcd_.up());
  auto a = Provider(2s);
  ASSERT_TRUE(a->Register(MakeMember("127.0.0.1:1007", 17)).ok());
  etcd_.Kill();
  EXPECT_TRUE(Lists(*a, "127.0.0.1:1007")) << "an outage emptied the cache";
  etcd_.Start();
  ASSERT_TRUE(etcd_.up());
  auto b = Provider();
  ASSERT_TRUE(b->Register(MakeMember("127.0.0.1:1008", 18)).ok());
  EXPECT_TRUE(WaitUntil([&] { return Lists(*a, "127.0.0.1:1008"); }, 10000ms))
      << "the watch did not resume";
  // a's lease (2 s) ran out or was kept alive through the outage; either
  // way its key is there again.
  EXPECT_TRUE(WaitUntil([&] { return Lists(*b, "127.0.0.1:1007"); }, 10000ms));
}

// akt-node processes on 127.0.0.24-26 finding each other through etcd.
class EtcdCluster : public EtcdMembership {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/akt-etcd-cluster-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    port_ = static_cast<uint16_t>(22000 + (::getpid() % 20000));
  }
  void TearDown() override {
    nodes_.clear();
    std::string cmd = "rm -rf " + dir_;
    (void)!std::system(cmd.c_str());
  }
  std::string Host(int i) const { return "127.0.0." + std::to_string(24 + i); }
  std::string Events(int i) const { return dir_ + "/n" + std::to_string(i); }
  void Start(int i, int min_members) {
    if (static_cast<int>(nodes_.size()) <= i) nodes_.resize(i + 1);
    nodes_[i] = std::make_unique<support::PortChild>(
        AKT_NODE, std::vector<std::string>{"--host", Host(i), "--port", std::to_string(port_),
                                           "--cluster", "t2", "--provider", "etcd", "--etcd",
                                           etcd_.endpoint(), "--ttl-s", "2", "--min-members",
                                           std::to_string(min_members), "--events", Events(i)});
  }
  std::string Self(int i) const { return EventSelf(Events(i)); }
  bool Saw(int i, const std::string& prefix) const { return EventCount(Events(i), prefix) > 0; }
  void Form(int n) {
    for (int i = 0; i < n; ++i) {
      Start(i, n);
      ASSERT_NE(nodes_[i]->port(), 0) << "node " << i;
    }
    for (int i = 0; i < n; ++i) {
      for (int j = 0; j < n; ++j) {
        ASSERT_TRUE(WaitUntil([&] { return !Self(j).empty() && Saw(i, "joined " + Self(j)); },
                              15000ms))
            << "node " << i << " did not see " << j << " join";
      }
    }
  }
  std::string dir_;
  uint16_t port_ = 0;
  std::vector<std::unique_ptr<support::PortChild>> nodes_;
};

TEST_F(EtcdCluster, NodesFoundThroughEtcdFormOneClusterAndAKilledOneIsDown) {
  ASSERT_TRUE(etcd_.up());
  Form(3);  // no seed list: every endpoint came from etcd
  EXPECT_NE(etcd_.Get("akt/t2/members/").find(Host(2) + ":" + std::to_string(port_)),
            std::string::npos);
  std::string gone = Self(2);
  nodes_[2]->Kill();
  EXPECT_TRUE(WaitUntil([&] { return Saw(0, "down " + gone) && Saw(1, "down " + gone); }, 5000ms));
}

TEST_F(EtcdCluster, AnEtcdOutageDoesNotStopFailureDetection) {
  ASSERT_TRUE(etcd_.up());
  Form(3);
  etcd_.Kill();
  std::string gone = Self(1);
  nodes_[1]->Kill();
  EXPECT_TRUE(WaitUntil([&] { return Saw(0, "down " + gone) && Saw(2, "down " + gone); }, 5000ms))
      << "members stopped probing each other while etcd was out";
}

}  // namespace
}  // namespace akt::test
