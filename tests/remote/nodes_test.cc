// Node identity (wire version 2): who a node is, the events that follow its
// connections, what a lost node means for its PIDs and their watchers, the
// NODE frame and the heartbeat as a foreign client sees them.
#include <mutex>
#include <thread>
#include <vector>

#include "akt/messages.h"
#include "akt/remote/control.pb.h"
#include "node_events.h"
#include "raw_client.h"
#include "remote_fixture.h"

namespace akt::test {
namespace {

namespace wire = remote::wire;
using namespace std::chrono_literals;

RemoteOptions FastLoss() {
  RemoteOptions ro;
  ro.node_lost_after = 300ms;
  ro.reconnect_backoff = 10ms;
  ro.max_reconnect_backoff = 50ms;
  return ro;
}

TEST(Nodes, EachStartOfANodeHasItsOwnIncarnation) {
  Node a = Node::Start("alpha");
  Node b = Node::Start("alpha");
  const NodeId& ia = a.remoting->self();
  EXPECT_EQ(ia.system, "alpha");
  EXPECT_EQ(ia.endpoint, a.remoting->endpoint());
  EXPECT_NE(ia.incarnation, 0u);
  EXPECT_NE(ia.incarnation, b.remoting->self().incarnation);
  EXPECT_NE(ia.ToString().find("alpha@" + a.remoting->endpoint() + "#"), std::string::npos);
  a.Stop();
  b.Stop();
}

TEST(Nodes, BothEndsPublishNodeConnectedWithThePeersIdentity) {
  Node a = Node::Start("alpha");
  Node b = Node::Start("beta");
  ASSERT_TRUE(b.system->Spawn<RemoteEcho>("echo").ok());
  NodeEvents ea(*a.system);
  NodeEvents eb(*b.system);
  Result<PID> echo = a.remoting->Lookup(b.remoting->endpoint(), "echo");
  ASSERT_TRUE(echo.ok()) << echo.status().ToString();
  ASSERT_TRUE(echo->Ask<Pong>(MakePing(1), 2s).ok());
  EXPECT_TRUE(WaitUntil([&] { return ea.Saw("connected " + b.remoting->self().ToString()); }));
  EXPECT_TRUE(WaitUntil([&] { return eb.Saw("connected " + a.remoting->self().ToString()); }));
  std::vector<NodeId> seen = a.remoting->ConnectedNodes();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0], b.remoting->self());
  // One NodeConnected per node, however many connections and messages.
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(echo->Ask<Pong>(MakePing(i), 2s).ok());
  EXPECT_EQ(ea.log().size(), 1u);
  a.Stop();
  b.Stop();
}

TEST(Nodes, ANodeThatStopsIsDisconnectedThenLostAndItsWatchersAreTold) {
  Node a = Node::Start("alpha", FastLoss());
  Node b = Node::Start("beta");
  ASSERT_TRUE(b.system->Spawn<RemoteEcho>("echo").ok());
  NodeEvents ea(*a.system);
  auto seen = std::make_shared<Watcher::Seen>();
  Result<PID> watcher = a.system->Spawn<Watcher>("watcher", seen);
  ASSERT_TRUE(watcher.ok());
  Result<PID> echo = a.remoting->Lookup(b.remoting->endpoint(), "echo");
  ASSERT_TRUE(echo.ok()) << echo.status().ToString();
  ASSERT_TRUE(watcher->Tell(*echo).ok());
  ASSERT_TRUE(echo->Ask<Pong>(MakePing(1), 2s).ok());
  NodeId lost = b.remoting->self();

  b.Stop();

  EXPECT_TRUE(WaitUntil([&] { return ea.Saw("lost " + lost.ToString()); }, 10000ms));
  std::vector<std::string> log = ea.log();
  ASSERT_EQ(log.size(), 3u);
  EXPECT_EQ(log[0], "connected " + lost.ToString());
  EXPECT_EQ(log[1], "disconnected " + lost.ToString());
  EXPECT_EQ(log[2], "lost " + lost.ToString());
  EXPECT_TRUE(WaitUntil([&] {
    std::lock_guard<std::mutex> lock(seen->mu);
    return !seen->got.empty();
  }));
  {
    std::lock_guard<std::mutex> lock(seen->mu);
    ASSERT_EQ(seen->got.size(), 1u);
    EXPECT_EQ(seen->got[0].actor, *echo);
    EXPECT_EQ(seen->got[0].reason, TerminationReason::kNodeLost);
  }
  EXPECT_FALSE(echo->IsRunning());
  EXPECT_TRUE(a.remoting->ConnectedNodes().empty());
  // The PID of the lost node refuses everything, at once, with a reason.
  uint64_t unreachable = a.system->DeadLetterCount(DeadLetterReason::kUnreachable);
  Result<Message> r = echo->Ask(MakePing(2), 2s);
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(r.status().message().find("lost"), std::string::npos) << r.status().ToString();
  EXPECT_FALSE(echo->Tell(MakePing(3)).ok());
  EXPECT_EQ(a.system->DeadLetterCount(DeadLetterReason::kUnreachable), unreachable + 2);
  // A watch started after the loss ends at once, with the same reason.
  auto late = std::make_shared<Watcher::Seen>();
  Result<PID> late_watcher = a.system->Spawn<Watcher>("late", late);
  ASSERT_TRUE(late_watcher.ok());
  ASSERT_TRUE(late_watcher->Tell(*echo).ok());
  EXPECT_TRUE(WaitUntil([&] {
    std::lock_guard<std::mutex> lock(late->mu);
    return late->got.size() == 1 && late->got[0].reason == TerminationReason::kNodeLost;
  }));
  a.Stop();
}

TEST(Nodes, ANodeWhoseConnectionClosesIsDialedAgainAndNotLost) {
  // No heartbeats, and beta closes idle inbound connections after 200 ms:
  // alpha's connection to beta closes while beta lives on.
  RemoteOptions ra = FastLoss();
  ra.heartbeat_interval = Duration::zero();
  ra.node_lost_after = 5s;
  RemoteOptions rb;
  rb.heartbeat_interval = Duration::zero();
  rb.idle_timeout = 200ms;
  Node a = Node::Start("alpha", ra);
  Node b = Node::Start("beta", rb);
  ASSERT_TRUE(b.system->Spawn<RemoteEcho>("echo").ok());
  NodeEvents ea(*a.system);
  Result<PID> echo = a.remoting->Lookup(b.remoting->endpoint(), "echo");
  ASSERT_TRUE(echo.ok());
  std::string id = b.remoting->self().ToString();
  EXPECT_TRUE(WaitUntil([&] {
    std::vector<std::string> log = ea.log();
    return log.size() >= 3;
  }, 10000ms));
  std::vector<std::string> log = ea.log();
  ASSERT_GE(log.size(), 3u);
  EXPECT_EQ(log[0], "connected " + id);
  EXPECT_EQ(log[1], "disconnected " + id);
  EXPECT_EQ(log[2], "connected " + id);  // dialed again by the node layer
  EXPECT_FALSE(ea.Saw("lost " + id));
  EXPECT_TRUE(echo->Ask<Pong>(MakePing(1), 2s).ok());  // the same PID, the same node
  a.Stop();
  b.Stop();
}

// ---- remote watch ----

TEST(RemoteWatch, AWatcherHearsWhenTheRemoteActorStops) {
  Node a = Node::Start("alpha");
  Node b = Node::Start("beta");
  Result<PID> echo_here = b.system->Spawn<RemoteEcho>("echo");
  ASSERT_TRUE(echo_here.ok());
  auto seen = std::make_shared<Watcher::Seen>();
  Result<PID> watcher = a.system->Spawn<Watcher>("watcher", seen);
  ASSERT_TRUE(watcher.ok());
  Result<PID> echo = a.remoting->Lookup(b.remoting->endpoint(), "echo");
  ASSERT_TRUE(echo.ok());
  ASSERT_TRUE(watcher->Tell(*echo).ok());
  // The watch is registered on beta once beta's relay watches echo: an ask
  // after the watch request, on the same connection, has been handled after it.
  ASSERT_TRUE(echo->Ask<Pong>(MakePing(1), 2s).ok());
  echo_here->Stop();
  EXPECT_TRUE(WaitUntil([&] {
    std::lock_guard<std::mutex> lock(seen->mu);
    return !seen->got.empty();
  }));
  {
    std::lock_guard<std::mutex> lock(seen->mu);
    ASSERT_EQ(seen->got.size(), 1u);
    EXPECT_EQ(seen->got[0].actor, *echo);
    EXPECT_EQ(seen->got[0].reason, TerminationReason::kStopped);
  }
  // The node is still there: nothing was lost.
  EXPECT_EQ(a.remoting->ConnectedNodes().size(), 1u);
  a.Stop();
  b.Stop();
}

TEST(RemoteWatch, WatchingARemoteNameNobodyHasEndsAtOnce) {
  Node a = Node::Start("alpha");
  Node b = Node::Start("beta");
  auto seen = std::make_shared<Watcher::Seen>();
  Result<PID> watcher = a.system->Spawn<Watcher>("watcher", seen);
  ASSERT_TRUE(watcher.ok());
  Result<PID> ghost = a.remoting->ActorOf("akt://beta@" + b.remoting->endpoint() + "/ghost");
  ASSERT_TRUE(ghost.ok());
  ASSERT_TRUE(watcher->Tell(*ghost).ok());
  EXPECT_TRUE(WaitUntil([&] {
    std::lock_guard<std::mutex> lock(seen->mu);
    return seen->got.size() == 1 && seen->got[0].reason == TerminationReason::kStopped;
  }));
  a.Stop();
  b.Stop();
}

TEST(RemoteWatch, AnUnwatchedRemoteActorsStopIsNotDelivered) {
  Node a = Node::Start("alpha");
  Node b = Node::Start("beta");
  Result<PID> echo_here = b.system->Spawn<RemoteEcho>("echo");
  ASSERT_TRUE(echo_here.ok());
  auto seen = std::make_shared<Watcher::Seen>();
  // Watches, then unwatches at once (in one turn), then reports.
  struct Flip {
    PID target;
  };
  class Flipper : public Actor {
   public:
    explicit Flipper(std::shared_ptr<Watcher::Seen> seen) : seen_(std::move(seen)) {}
    void Receive(ReceiveContext& ctx) override {
      ctx.Match([&](const Flip& f) {
                  ctx.Watch(f.target);
                  ctx.Unwatch(f.target);
                },
                [&](const Terminated& t) {
                  std::lock_guard<std::mutex> lock(seen_->mu);
                  seen_->got.push_back(t);
                });
    }

   private:
    std::shared_ptr<Watcher::Seen> seen_;
  };
  Result<PID> flipper = a.system->Spawn<Flipper>("flipper", seen);
  ASSERT_TRUE(flipper.ok());
  Result<PID> echo = a.remoting->Lookup(b.remoting->endpoint(), "echo");
  ASSERT_TRUE(echo.ok());
  ASSERT_TRUE(flipper->Tell(Flip{*echo}).ok());
  ASSERT_TRUE(echo->Ask<Pong>(MakePing(1), 2s).ok());
  uint64_t frames = a.remoting->Stats().frames_received;
  echo_here->Stop();
  // Whatever beta still sends (a notice for the watch that came and went)
  // has arrived once alpha received more frames after a later round trip.
  Result<PID> echo2_here = b.system->Spawn<RemoteEcho>("echo2");
  ASSERT_TRUE(echo2_here.ok());
  Result<PID> echo2 = a.remoting->Lookup(b.remoting->endpoint(), "echo2");
  ASSERT_TRUE(echo2.ok());
  ASSERT_TRUE(echo2->Ask<Pong>(MakePing(2), 2s).ok());
  EXPECT_GT(a.remoting->Stats().frames_received, frames);
  std::lock_guard<std::mutex> lock(seen->mu);
  EXPECT_TRUE(seen->got.empty());
  a.Stop();
  b.Stop();
}

// ---- the wire, as a foreign client sees it ----

std::string NodeFrame(uint64_t incarnation, const std::string& endpoint) {
  wire::Frame f;
  f.kind = wire::Kind::kNode;
  return EncodeFrame(f, wire::EncodeNodeBody({incarnation, endpoint}));
}

// Sends a hello offering versions 1..2 (no compression); returns the server
// hello and, in `*rest`, every byte that followed it within the first
// frame's worth of reading (the server's NODE frame comes right after).
wire::ServerHello HelloV2(RawClient& c, std::string* rest) {
  wire::ClientHello h;
  h.codecs = {0};
  h.min_version = 1;
  h.max_version = 2;
  h.system = "raw";
  c.Send(wire::EncodeClientHello(h));
  std::string got;
  wire::ServerHello out;
  out.status = wire::HelloStatus::kMalformed;
  for (int i = 0; i < 20; ++i) {
    got += c.Read(100ms);
    std::size_t used = 0;
    std::string err;
    if (wire::DecodeServerHello(reinterpret_cast<const uint8_t*>(got.data()), got.size(), &out,
                                &used, &err) == wire::DecodeStatus::kOk) {
      *rest = got.substr(used);
      return out;
    }
  }
  return out;
}

TEST(NodesWire, AVersion2ClientGetsTheServersNodeFrameFirst) {
  Node n = Node::Start("alpha");
  RawClient c(n.remoting->port());
  std::string got;
  wire::ServerHello h = HelloV2(c, &got);
  ASSERT_EQ(h.status, wire::HelloStatus::kAccepted);
  EXPECT_EQ(h.version, 2);
  if (got.size() < 42) got += c.Read(2000ms, nullptr, 42 - got.size());
  std::vector<std::string> payloads;
  std::vector<wire::Frame> frames = DecodeAll(got, &payloads);
  ASSERT_FALSE(frames.empty());
  EXPECT_EQ(frames[0].kind, wire::Kind::kNode);
  wire::NodeBody body;
  ASSERT_TRUE(wire::DecodeNodeBody(payloads[0], &body));
  EXPECT_EQ(body.incarnation, n.remoting->self().incarnation);
  EXPECT_EQ(body.endpoint, n.remoting->endpoint());
  n.Stop();
}

TEST(NodesWire, AVersion1ClientGetsVersion1AndNoNodeFrame) {
  Node n = Node::Start("alpha");
  RawClient c(n.remoting->port());
  wire::ServerHello h = c.Hello({0}, 1, 1);
  ASSERT_EQ(h.status, wire::HelloStatus::kAccepted);
  EXPECT_EQ(h.version, 1);
  // A PING is answered by a PONG, and it is the first frame that comes.
  wire::Frame ping;
  ping.kind = wire::Kind::kPing;
  ping.correlation = 7;
  ASSERT_TRUE(c.Send(EncodeFrame(ping, "")));
  std::vector<std::string> payloads;
  std::vector<wire::Frame> frames = DecodeAll(c.Read(2000ms, nullptr, 32), &payloads);
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(frames[0].kind, wire::Kind::kPong);
  EXPECT_EQ(frames[0].correlation, 7u);
  // NODE is not a version-1 kind: a protocol error (ERROR, then the close).
  ASSERT_TRUE(c.Send(NodeFrame(42, "127.0.0.1:1")));
  bool eof = false;
  frames = DecodeAll(c.Read(3000ms, &eof), &payloads);
  ASSERT_FALSE(frames.empty());
  EXPECT_EQ(frames.back().kind, wire::Kind::kError);
  EXPECT_TRUE(eof);
  n.Stop();
}

TEST(NodesWire, AVersion2ConnectionWhoseFirstFrameIsNotNodeIsAProtocolError) {
  Node n = Node::Start("alpha");
  RawClient c(n.remoting->port());
  std::string got;
  ASSERT_EQ(HelloV2(c, &got).version, 2);
  wire::Frame ping;
  ping.kind = wire::Kind::kPing;
  ping.correlation = 1;
  ASSERT_TRUE(c.Send(EncodeFrame(ping, "")));
  bool eof = false;
  std::vector<std::string> payloads;
  std::vector<wire::Frame> frames = DecodeAll(got + c.Read(3000ms, &eof), &payloads);
  ASSERT_GE(frames.size(), 2u);  // the server's NODE, then the ERROR
  EXPECT_EQ(frames[0].kind, wire::Kind::kNode);
  EXPECT_EQ(frames.back().kind, wire::Kind::kError);
  EXPECT_NE(payloads.back().find("first frame"), std::string::npos);
  EXPECT_TRUE(eof);
  EXPECT_TRUE(n.remoting->ConnectedNodes().empty());
  n.Stop();
}

TEST(NodesWire, AQuietVersion2PeerIsPingedThenClosedAtTheHeartbeatTimeout) {
  RemoteOptions ro;
  ro.heartbeat_interval = 100ms;
  ro.heartbeat_timeout = 600ms;
  Node n = Node::Start("alpha", ro);
  NodeEvents events(*n.system);
  RawClient c(n.remoting->port());
  std::string node_frame;
  ASSERT_EQ(HelloV2(c, &node_frame).version, 2);
  ASSERT_TRUE(c.Send(NodeFrame(0x1234, "127.0.0.1:9")));
  NodeId peer{"raw", "127.0.0.1:9", 0x1234};
  EXPECT_TRUE(WaitUntil([&] { return events.Saw("connected " + peer.ToString()); }));
  // Silent from here on: the node PINGs, then gives up.
  auto start = std::chrono::steady_clock::now();
  bool eof = false;
  std::string got = c.Read(5000ms, &eof);
  auto took = std::chrono::steady_clock::now() - start;
  std::vector<std::string> payloads;
  int pings = 0;
  for (const wire::Frame& f : DecodeAll(got, &payloads)) pings += f.kind == wire::Kind::kPing;
  EXPECT_GE(pings, 2);
  EXPECT_TRUE(eof);
  EXPECT_GE(took, 400ms);
  EXPECT_LT(took, 3000ms);
  EXPECT_TRUE(WaitUntil([&] { return events.Saw("disconnected " + peer.ToString()); }));
  n.Stop();
}

TEST(NodesWire, APeerThatAnswersPingsStaysConnected) {
  RemoteOptions ro;
  ro.heartbeat_interval = 50ms;
  ro.heartbeat_timeout = 300ms;
  Node a = Node::Start("alpha", ro);
  Node b = Node::Start("beta", ro);
  ASSERT_TRUE(b.system->Spawn<RemoteEcho>("echo").ok());
  NodeEvents ea(*a.system);
  Result<PID> echo = a.remoting->Lookup(b.remoting->endpoint(), "echo");
  ASSERT_TRUE(echo.ok());
  // Quiet for four heartbeat timeouts: both ends PING, nothing closes.
  uint64_t frames_before = b.remoting->Stats().frames_received;
  std::this_thread::sleep_for(1200ms);  // the quiet period is what is tested
  EXPECT_GT(b.remoting->Stats().frames_received, frames_before + 10);
  EXPECT_FALSE(ea.Saw("disconnected " + b.remoting->self().ToString()));
  EXPECT_TRUE(echo->Ask<Pong>(MakePing(1), 2s).ok());
  a.Stop();
  b.Stop();
}

}  // namespace
}  // namespace akt::test
