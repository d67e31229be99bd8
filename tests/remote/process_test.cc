// Remoting between separate processes: the test talks to akt_remote_node,
// a real second process, over loopback TCP.
#include <algorithm>
#include <csignal>

#include "node_events.h"
#include "port_child.h"
#include "remote_fixture.h"

namespace akt::test {
namespace {

// akt_remote_node in a process of its own.
class NodeProcess : public support::PortChild {
 public:
  explicit NodeProcess(const std::vector<std::string>& args = {})
      : PortChild(AKT_REMOTE_NODE, args) {}
};

TEST(RemoteProcess, TellAskAndSpawnAcrossProcesses) {
  NodeProcess node;
  ASSERT_NE(node.port(), 0) << "the node process did not start";
  Node me = Node::Start("client");
  Result<PID> echo = me.remoting->Lookup(node.endpoint(), "echo");
  ASSERT_TRUE(echo.ok()) << echo.status().ToString();
  EXPECT_EQ(echo->Address(), "akt://node@" + node.endpoint() + "/echo");
  Result<akt::test::Pong> pong = echo->Ask<akt::test::Pong>(MakePing(11, "x"), 5s);
  ASSERT_TRUE(pong.ok()) << pong.status().ToString();
  EXPECT_EQ(pong->n(), 11);

  Result<PID> acc = me.remoting->SpawnRemote(node.endpoint(), "account-1", "echo");
  ASSERT_TRUE(acc.ok()) << acc.status().ToString();
  for (int i = 0; i < 10000; ++i) {
    akt::test::Add add;
    add.set_amount(1);
    ASSERT_TRUE(acc->Tell(std::move(add)).ok());
  }
  Result<akt::test::Total> t = acc->Ask<akt::test::Total>(akt::test::GetTotal(), 10s);
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_EQ(t->value(), 10000);

  // A grain in the other process, activated there by its first message.
  GrainIdentity gid = *GrainIdentity::Make("pcounter", "device-9");
  for (int i = 0; i < 10; ++i) {
    akt::test::Add add;
    add.set_amount(3);
    ASSERT_TRUE(me.remoting->TellGrain(node.endpoint(), gid, add).ok());
  }
  Result<Message> g = me.remoting->AskGrain(node.endpoint(), gid, akt::test::GetTotal(), 5s);
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  EXPECT_EQ(g->As<akt::test::Total>()->value(), 30);
  me.Stop();
  EXPECT_EQ(node.Finish(), 0);
}

TEST(RemoteProcess, AsksInFlightFailWhenTheProcessDies) {
  NodeProcess node;
  ASSERT_NE(node.port(), 0);
  Node me = Node::Start("client2");
  Result<PID> silent = me.remoting->SpawnRemote(node.endpoint(), "quiet", "silent");
  ASSERT_TRUE(silent.ok()) << silent.status().ToString();
  uint64_t sent_before = me.remoting->Stats().frames_sent;
  std::vector<std::thread> askers;
  std::atomic<int> failed{0};
  for (int i = 0; i < 4; ++i) {
    askers.emplace_back([&] {
      Result<Message> r = silent->Ask(MakePing(1), 60s);
      if (r.status().code() == StatusCode::kUnavailable) failed++;
    });
  }
  EXPECT_TRUE(WaitUntil([&] { return me.remoting->Stats().frames_sent >= sent_before + 4; }));
  auto t0 = std::chrono::steady_clock::now();
  node.Kill();
  for (auto& a : askers) a.join();
  EXPECT_EQ(failed.load(), 4);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 10s);
  me.Stop();
}

// A PID belongs to one start (incarnation) of its node: once the process at
// that endpoint is a new one, the old PID is refused (kUnavailable, a dead
// letter kUnreachable), never delivered to the newcomer; an address resolved
// again reaches the new process.
TEST(RemoteProcess, APidOfAKilledNodeNeverReachesTheProcessThatReplacesIt) {
  uint16_t port;
  Node me = Node::Start("client3");
  NodeEvents events(*me.system);
  Result<PID> old = Status(StatusCode::kInternal, "not looked up");
  {
    NodeProcess node;
    ASSERT_NE(node.port(), 0);
    port = node.port();
    old = me.remoting->Lookup(node.endpoint(), "echo");
    ASSERT_TRUE(old.ok());
    ASSERT_TRUE(old->Ask<akt::test::Pong>(MakePing(0), 2s).ok());
    node.Kill();
  }
  std::string address = "akt://node@127.0.0.1:" + std::to_string(port) + "/echo";
  EXPECT_EQ(old->Ask(MakePing(1), 2s).status().code(), StatusCode::kUnavailable);
  NodeProcess again({"--port", std::to_string(port)});
  ASSERT_EQ(again.port(), port);
  // Remoting dials the node again, meets the new incarnation and lets the
  // old one go; an address resolved from then on reaches the new process.
  EXPECT_TRUE(WaitUntil(
      [&] {
        Result<PID> fresh = me.remoting->ActorOf(address);
        return fresh.ok() && fresh->Ask<akt::test::Pong>(MakePing(2), 2s).ok();
      },
      10000ms));
  // Per endpoint the events read as one story: the old start is lost before
  // the new one is connected (both connected lines name the same endpoint).
  std::vector<std::string> log = events.log();
  ASSERT_FALSE(log.empty());
  const std::string first = log[0];
  ASSERT_EQ(first.rfind("connected ", 0), 0u) << first;
  const std::string old_id = first.substr(std::string("connected ").size());
  auto lost_at = std::find(log.begin(), log.end(), "lost " + old_id);
  auto new_at = std::find_if(log.begin() + 1, log.end(), [&](const std::string& l) {
    return l.rfind("connected ", 0) == 0 && l != first;
  });
  ASSERT_NE(new_at, log.end());
  EXPECT_LT(lost_at - log.begin(), new_at - log.begin()) << ::testing::PrintToString(log);
  Result<Message> refused = old->Ask(MakePing(3), 2s);
  EXPECT_EQ(refused.status().code(), StatusCode::kUnavailable) << refused.status().ToString();
  EXPECT_FALSE(old->IsRunning());
  me.Stop();
}

TEST(RemoteProcess, CompressedNodeProcessesTalk) {
  NodeProcess node({"--compression", "zstd"});
  ASSERT_NE(node.port(), 0);
  RemoteOptions ro;
  ro.compression = Compression::kGzip;
  Node me = Node::Start("client4", ro);
  Result<PID> echo = me.remoting->Lookup(node.endpoint(), "echo");
  ASSERT_TRUE(echo.ok()) << echo.status().ToString();
  std::vector<Message> pings;
  for (int i = 0; i < 100; ++i) pings.emplace_back(MakePing(i, std::string(1000, 'z')));
  auto replies = echo->BatchAsk(std::move(pings), 10s);
  for (int i = 0; i < 100; ++i) {
    ASSERT_TRUE(replies[i].ok()) << replies[i].status().ToString();
    EXPECT_EQ(replies[i]->As<akt::test::Pong>()->n(), i);
  }
  me.Stop();
}


// ---- faults with a real process: kill -9 and SIGSTOP ----

RemoteOptions FaultOptions() {
  RemoteOptions ro;
  ro.heartbeat_interval = 100ms;
  ro.heartbeat_timeout = 500ms;
  ro.node_lost_after = 800ms;
  ro.connect_timeout = 300ms;
  ro.reconnect_backoff = 20ms;
  ro.max_reconnect_backoff = 100ms;
  return ro;
}

TEST(RemoteProcessFault, KillNineEndsTheWatchWithNodeLostAndEveryCallByItsDeadline) {
  NodeProcess node;
  ASSERT_NE(node.port(), 0);
  Node me = Node::Start("watcher-node", FaultOptions());
  NodeEvents events(*me.system);
  auto seen = std::make_shared<Watcher::Seen>();
  Result<PID> watcher = me.system->Spawn<Watcher>("watcher", seen);
  ASSERT_TRUE(watcher.ok());
  Result<PID> echo = me.remoting->Lookup(node.endpoint(), "echo");
  ASSERT_TRUE(echo.ok()) << echo.status().ToString();
  ASSERT_TRUE(watcher->Tell(*echo).ok());
  ASSERT_TRUE(echo->Ask<akt::test::Pong>(MakePing(1), 2s).ok());
  std::vector<NodeId> peers = me.remoting->ConnectedNodes();
  ASSERT_EQ(peers.size(), 1u);
  NodeId peer = peers[0];

  node.Kill();

  // An ask right after the kill ends by its deadline, with an error.
  auto t0 = std::chrono::steady_clock::now();
  Result<Message> r = echo->Ask(MakePing(2), 1s);
  EXPECT_FALSE(r.ok());
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 1500ms);
  EXPECT_TRUE(WaitUntil([&] { return seen->size() == 1; }, 5000ms));
  ASSERT_EQ(seen->size(), 1u);
  EXPECT_EQ(seen->at(0).reason, TerminationReason::kNodeLost);
  // NodeLost is published right after the watchers are told: wait for it.
  EXPECT_TRUE(WaitUntil([&] { return events.Saw("lost " + peer.ToString()); }, 5000ms));
  std::vector<std::string> log = events.log();
  ASSERT_GE(log.size(), 3u);
  EXPECT_EQ(log[0], "connected " + peer.ToString());
  EXPECT_EQ(log[1], "disconnected " + peer.ToString());
  EXPECT_EQ(log.back(), "lost " + peer.ToString());
  me.Stop();
}

TEST(RemoteProcessFault, AFrozenNodeIsNoticedByTheHeartbeatAndLost) {
  NodeProcess node;
  ASSERT_NE(node.port(), 0);
  Node me = Node::Start("heartbeat-node", FaultOptions());
  NodeEvents events(*me.system);
  Result<PID> echo = me.remoting->Lookup(node.endpoint(), "echo");
  ASSERT_TRUE(echo.ok()) << echo.status().ToString();
  ASSERT_TRUE(echo->Ask<akt::test::Pong>(MakePing(1), 2s).ok());
  NodeId peer = me.remoting->ConnectedNodes().at(0);

  ASSERT_TRUE(node.Freeze());  // the process lives, its sockets stay open, it answers nothing

  auto t0 = std::chrono::steady_clock::now();
  Result<Message> r = echo->Ask(MakePing(2), 1s);
  EXPECT_FALSE(r.ok());
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 1500ms);  // ended by its deadline
  EXPECT_TRUE(WaitUntil([&] { return events.Saw("disconnected " + peer.ToString()); }, 5000ms));
  EXPECT_TRUE(WaitUntil([&] { return events.Saw("lost " + peer.ToString()); }, 5000ms));
  node.Signal(SIGCONT);
  node.Kill();
  me.Stop();
}

}  // namespace
}  // namespace akt::test
