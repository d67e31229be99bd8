// Discovery on a real nats-server -js started by the test: the provider's
// contract (register, peers, deregister, a crashed node's key expiring with
// the bucket's TTL), the layout read back with cnats, and a cluster of
// akt-node processes that find each other through NATS.
#include <gtest/gtest.h>
#include <nats/nats.h>

#include <algorithm>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "akt/cluster.h"
#include "akt/cluster_nats.h"
#include "engines.h"
#include "event_file.h"
#include "port_child.h"
#include "remote_fixture.h"

namespace akt::test {
namespace {

using namespace std::chrono_literals;

Member NatsMember(const std::string& endpoint, uint64_t incarnation) {
  return TestMember(endpoint, incarnation, {"api"});
}

// The value of `key` in `bucket`, read with cnats ("" when absent).
std::string KvGet(const std::string& url, const std::string& bucket, const std::string& key) {
  natsConnection* nc = nullptr;
  jsCtx* js = nullptr;
  kvStore* kv = nullptr;
  kvEntry* e = nullptr;
  std::string out;
  if (natsConnection_ConnectTo(&nc, url.c_str()) == NATS_OK &&
      natsConnection_JetStream(&js, nc, nullptr) == NATS_OK &&
      js_KeyValue(&kv, js, bucket.c_str()) == NATS_OK && kvStore_Get(&e, kv, key.c_str()) == NATS_OK) {
    out = kvEntry_ValueString(e);
  }
  if (e != nullptr) kvEntry_Destroy(e);
  if (kv != nullptr) kvStore_Destroy(kv);
  if (js != nullptr) jsCtx_Destroy(js);
  if (nc != nullptr) natsConnection_Destroy(nc);
  return out;
}

class NatsMembership : public ::testing::Test {
 protected:
  std::shared_ptr<MembershipProvider> Provider(Duration ttl = 10s) {
    NatsOptions o;
    o.url = nats_.url();
    o.cluster = "t1";
    o.ttl = ttl;
    Result<std::shared_ptr<MembershipProvider>> p = NatsProvider(o);
    EXPECT_TRUE(p.ok()) << p.status().ToString();
    return p.ok() ? *p : nullptr;
  }
  NatsServer nats_;
};

TEST(NatsOptionsTest, BadOptionsAreRefusedAndNoServerIsAClearError) {
  NatsOptions o;
  o.ttl = 100ms;
  EXPECT_NE(NatsProvider(o).status().message().find("ttl"), std::string::npos);
  o.ttl = 5s;
  o.cluster = "a.b";
  EXPECT_NE(NatsProvider(o).status().message().find("cluster"), std::string::npos);
  o.cluster = "ok";
  o.bucket_prefix = "members.";
  EXPECT_NE(NatsProvider(o).status().message().find("bucket_prefix"), std::string::npos);
  o.bucket_prefix = "akt_members_";
  o.url = "nats://127.0.0.1:" + std::to_string(FreePort());
  o.timeout = 300ms;
  Result<std::shared_ptr<MembershipProvider>> p = NatsProvider(o);
  ASSERT_TRUE(p.ok());
  Status s = (*p)->Register(NatsMember("127.0.0.1:1000", 1));
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("NATS"), std::string::npos) << s.ToString();
}

TEST_F(NatsMembership, RegisteredNodesSeeEachOtherAndTheBucketHoldsTheirValues) {
  ASSERT_TRUE(nats_.up());
  auto a = Provider();
  auto b = Provider();
  Status reg = a->Register(NatsMember("127.0.0.1:1001", 11));
  ASSERT_TRUE(reg.ok()) << reg.ToString();
  ASSERT_TRUE(b->Register(NatsMember("127.0.0.1:1002", 12)).ok());
  EXPECT_TRUE(WaitUntil([&] { return Lists(*a, "127.0.0.1:1002") && Lists(*b, "127.0.0.1:1001"); }));
  std::string v = KvGet(nats_.url(), "akt_members_t1", "127.0.0.1_1002");
  EXPECT_NE(v.find("\"endpoint\":\"127.0.0.1:1002\""), std::string::npos) << v;
  EXPECT_NE(v.find("\"incarnation\":\"12\""), std::string::npos) << v;
}

TEST_F(NatsMembership, ADeregisteredNodeLeavesAndACrashedOnesKeyExpires) {
  ASSERT_TRUE(nats_.up());
  auto watcher = Provider(1s);
  Member left = NatsMember("127.0.0.1:1003", 13);
  ASSERT_TRUE(watcher->Register(NatsMember("127.0.0.1:1005", 15)).ok());
  auto leaving = Provider(1s);
  ASSERT_TRUE(leaving->Register(left).ok());
  {
    auto crashed = Provider(1s);
    ASSERT_TRUE(crashed->Register(NatsMember("127.0.0.1:1006", 16)).ok());
    ASSERT_TRUE(WaitUntil([&] { return Lists(*watcher, "127.0.0.1:1006"); }));
  }  // gone without deregistering: nothing puts its key any more
  ASSERT_TRUE(WaitUntil([&] { return Lists(*watcher, "127.0.0.1:1003"); }));
  ASSERT_TRUE(leaving->Deregister(left).ok());
  EXPECT_TRUE(WaitUntil([&] { return !Lists(*watcher, "127.0.0.1:1003"); }));
  EXPECT_TRUE(WaitUntil([&] { return !Lists(*watcher, "127.0.0.1:1006"); }, 10000ms))
      << "the key outlived the bucket's TTL";
  EXPECT_TRUE(Lists(*watcher, "127.0.0.1:1005")) << "a key that is put every ttl/3 expired";
}

TEST_F(NatsMembership, AnOutageKeepsTheLastMembersAndTheWatchResumesAfterIt) {
  ASSERT_TRUE(nats_.up());
  auto a = Provider(2s);
  ASSERT_TRUE(a->Register(NatsMember("127.0.0.1:1007", 17)).ok());
  nats_.Kill();
  EXPECT_TRUE(Lists(*a, "127.0.0.1:1007")) << "an outage emptied the cache";
  nats_.Start();  // same port and store: the bucket is still there
  ASSERT_TRUE(nats_.up());
  auto b = Provider(2s);
  Status reg = b->Register(NatsMember("127.0.0.1:1008", 18));
  ASSERT_TRUE(reg.ok()) << reg.ToString();
  EXPECT_TRUE(WaitUntil([&] { return Lists(*a, "127.0.0.1:1008"); }, 10000ms))
      << "the watch did not resume";
  EXPECT_TRUE(WaitUntil([&] { return Lists(*b, "127.0.0.1:1007"); }, 10000ms))
      << "the first node's key was not put again after the outage";
}

TEST_F(NatsMembership, NodesFoundThroughNatsFormOneClusterAndAKilledOneIsDown) {
  ASSERT_TRUE(nats_.up());
  char tmpl[] = "/tmp/akt-nats-cluster-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  std::string dir = tmpl;
  uint16_t port = static_cast<uint16_t>(23000 + (::getpid() % 20000));
  auto events = [&](int i) { return dir + "/n" + std::to_string(i); };
  auto self = [&](int i) { return EventSelf(events(i)); };
  auto saw = [&](int i, const std::string& prefix) { return EventCount(events(i), prefix) > 0; };
  std::vector<std::unique_ptr<support::PortChild>> nodes;
  for (int i = 0; i < 3; ++i) {
    nodes.push_back(std::make_unique<support::PortChild>(
        AKT_NODE, std::vector<std::string>{"--host", "127.0.0." + std::to_string(27 + i), "--port",
                                           std::to_string(port), "--cluster", "t3", "--provider",
                                           "nats", "--nats", nats_.url(), "--ttl-s", "2",
                                           "--min-members", "3", "--events", events(i)}));
    ASSERT_NE(nodes.back()->port(), 0) << "node " << i;
  }
  for (int i = 0; i < 3; ++i) {
    for (int j = 0; j < 3; ++j) {
      ASSERT_TRUE(WaitUntil([&] { return !self(j).empty() && saw(i, "joined " + self(j)); }, 15000ms))
          << "node " << i << " did not see " << j << " join";
    }
  }
  std::string gone = self(2);
  nodes[2]->Kill();
  EXPECT_TRUE(WaitUntil([&] { return saw(0, "down " + gone) && saw(1, "down " + gone); }, 5000ms));
  nodes.clear();
  std::string cmd = "rm -rf " + dir;
  (void)!std::system(cmd.c_str());
}

}  // namespace
}  // namespace akt::test
