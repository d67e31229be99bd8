// What a client written from docs/wire-protocol.md alone must see: the bytes
// a foreign client sends (a raw socket, not the akt client) and the node's
// documented reaction to each.
#include <sys/socket.h>

#include <thread>

#include "akt/remote/control.pb.h"
#include "codec.h"
#include "raw_client.h"
#include "remote_fixture.h"

namespace akt::test {
namespace {

namespace wire = remote::wire;
using Steady = std::chrono::steady_clock;

wire::Frame MakeFrame(wire::Kind kind, uint64_t corr, std::string_view type,
                      std::string_view target) {
  wire::Frame f;
  f.kind = kind;
  f.correlation = corr;
  f.type = type;
  f.target = target;
  return f;
}

std::string PingBytes(int n) { return MakePing(n).SerializeAsString(); }

// Ping{n}: sleeps n ms, then answers Pong{n}. Ping{-1}: ctx.Err(kInvalidArgument).
class Sleepy : public Actor {
 public:
  static inline std::atomic<int> sleeping{0};
  void Receive(ReceiveContext& ctx) override {
    ctx.Match([&](const akt::test::Ping& p) {
      if (p.n() < 0) {
        ctx.Err(InvalidArgumentError("a negative ping"));
        return;
      }
      sleeping.fetch_add(1);
      std::this_thread::sleep_for(std::chrono::milliseconds(p.n()));
      sleeping.fetch_sub(1);
      akt::test::Pong out;
      out.set_n(p.n());
      ctx.Reply(std::move(out)).IgnoreError();
    });
  }
};

// The grain twin of Sleepy's error: Ping{-1} -> ctx.Err(kInvalidArgument).
class ErrGrain : public Grain {
 public:
  void OnReceive(GrainContext& ctx) override {
    ctx.Match([&](const akt::test::Ping&) { ctx.Err(InvalidArgumentError("a negative ping")); });
  }
};

// A raw client speaking a negotiated codec in both directions.
class CodecClient {
 public:
  CodecClient(uint16_t port, Compression codec)
      : raw_(port), enc_(remote::MakeEncoder(codec)), dec_(remote::MakeDecoder(codec)) {}
  wire::HelloStatus Hello(Compression codec) {
    return raw_.Hello({static_cast<uint8_t>(codec)}).status;
  }
  void SendFrames(const std::string& plain, const std::string& raw_tail = "") {
    std::string out;
    if (enc_) {
      ASSERT_TRUE(
          enc_->Encode(reinterpret_cast<const uint8_t*>(plain.data()), plain.size(), out).ok());
    } else {
      out = plain;
    }
    ASSERT_TRUE(raw_.Send(out + raw_tail));
  }
  // Frames received until the connection ends or `timeout` passes.
  std::vector<wire::Frame> ReadUntilEof(std::chrono::milliseconds timeout, bool* eof,
                                        std::vector<std::string>* payloads) {
    std::string got = raw_.Read(timeout, eof);
    if (enc_) {
      std::string plain;
      EXPECT_TRUE(
          dec_->Decode(reinterpret_cast<const uint8_t*>(got.data()), got.size(), plain, 1u << 24)
              .ok());
      got = plain;
    }
    return DecodeAll(got, payloads);
  }
  RawClient& raw() { return raw_; }

 private:
  RawClient raw_;
  std::unique_ptr<remote::Encoder> enc_;
  std::unique_ptr<remote::Decoder> dec_;
};

uint32_t ErrorCode(const std::string& payload, std::string* text = nullptr) {
  uint32_t code = 0;
  std::string t;
  EXPECT_TRUE(wire::DecodeError(payload, &code, &t));
  if (text) *text = t;
  return code;
}

class Conformance : public ::testing::Test {
 protected:
  virtual RemoteOptions Options() {
    RemoteOptions o;
    o.error_linger = 300ms;
    return o;
  }
  void SetUp() override {
    n_ = Node::Start("conf", Options());
    ASSERT_NE(n_.remoting, nullptr);
    ASSERT_TRUE(n_.system->Spawn<RemoteEcho>("echo").ok());
    ASSERT_TRUE(n_.system->Spawn<Sleepy>("sleepy").ok());
    ASSERT_TRUE(n_.system->Spawn<SilentActor>("silent").ok());
    ASSERT_TRUE(n_.system->RegisterGrainKind("errgrain", MakeGrainFactory<ErrGrain>()).ok());
  }
  void TearDown() override { n_.Stop(); }
  uint16_t port() { return n_.remoting->port(); }
  Node n_;
};

// ---- 1. corrupt compressed bytes: an ERROR, compressed as negotiated, then the close ----

class CorruptStream : public Conformance, public ::testing::WithParamInterface<Compression> {};

TEST_P(CorruptStream, RightAfterTheHelloGetsAnErrorFrameThenTheClose) {
  CodecClient c(port(), GetParam());
  ASSERT_EQ(c.Hello(GetParam()), wire::HelloStatus::kAccepted);
  ASSERT_TRUE(c.raw().Send(std::string(64, '\x5a') + std::string(64, '\xff')));
  bool eof = false;
  std::vector<std::string> payloads;
  auto frames = c.ReadUntilEof(5000ms, &eof, &payloads);
  EXPECT_TRUE(eof);
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(frames[0].kind, wire::Kind::kError);
  EXPECT_EQ(frames[0].correlation, 0u);
  EXPECT_EQ(ErrorCode(payloads[0]), static_cast<uint32_t>(StatusCode::kProtocolError));
}

TEST_P(CorruptStream, AfterAGoodAskTheReplyComesFirstThenTheErrorThenTheClose) {
  CodecClient c(port(), GetParam());
  ASSERT_EQ(c.Hello(GetParam()), wire::HelloStatus::kAccepted);
  std::string garbage = std::string(64, '\x5a') + std::string(64, '\xff');
  std::string ask =
      EncodeFrame(MakeFrame(wire::Kind::kAsk, 7, "akt.test.Ping", "sleepy"), PingBytes(20));
  if (GetParam() == Compression::kBrotli) {
    // brotli reports none of the output of a call that fails, so the ASK
    // must come in a read of its own (documented): wait until it is handled.
    c.SendFrames(ask);
    ASSERT_TRUE(WaitUntil([] { return Sleepy::sleeping.load() == 1; }));
    ASSERT_TRUE(c.raw().Send(garbage));
  } else {
    c.SendFrames(ask, garbage);  // one segment: the ASK and the corrupt bytes together
  }
  bool eof = false;
  std::vector<std::string> payloads;
  auto frames = c.ReadUntilEof(5000ms, &eof, &payloads);
  EXPECT_TRUE(eof);
  ASSERT_EQ(frames.size(), 2u);
  EXPECT_EQ(frames[0].kind, wire::Kind::kReply);
  EXPECT_EQ(frames[0].correlation, 7u);
  EXPECT_EQ(frames[1].kind, wire::Kind::kError);
  EXPECT_EQ(frames[1].correlation, 0u);
  EXPECT_EQ(ErrorCode(payloads[1]), static_cast<uint32_t>(StatusCode::kProtocolError));
}

INSTANTIATE_TEST_SUITE_P(Codecs, CorruptStream,
                         ::testing::Values(Compression::kNone, Compression::kZstd,
                                           Compression::kBrotli, Compression::kGzip),
                         [](const auto& info) { return std::string(CompressionName(info.param)); });

// ---- 7. frames before a bad one are answered first ----

TEST_F(Conformance, AGoodAskAndAMalformedFrameInOneReadGetTheReplyThenTheError) {
  RawClient c(port());
  ASSERT_EQ(c.Hello().status, wire::HelloStatus::kAccepted);
  std::string bad("\x05\x00\x00\x00garbage", 11);  // a length below the 28-byte minimum
  // The reply takes 50 ms: the bad frame is long parsed by then.
  ASSERT_TRUE(c.Send(
      EncodeFrame(MakeFrame(wire::Kind::kAsk, 3, "akt.test.Ping", "sleepy"), PingBytes(50)) + bad));
  bool eof = false;
  std::vector<std::string> payloads;
  auto frames = DecodeAll(c.Read(5000ms, &eof), &payloads);
  EXPECT_TRUE(eof);
  ASSERT_EQ(frames.size(), 2u);
  EXPECT_EQ(frames[0].kind, wire::Kind::kReply);
  EXPECT_EQ(frames[0].correlation, 3u);
  EXPECT_EQ(frames[1].kind, wire::Kind::kError);
  EXPECT_EQ(frames[1].correlation, 0u);
  EXPECT_EQ(ErrorCode(payloads[1]), static_cast<uint32_t>(StatusCode::kProtocolError));
}

TEST_F(Conformance, AnUnansweredAskBeforeABadFrameHoldsTheCloseOnlyForTheLinger) {
  RawClient c(port());
  ASSERT_EQ(c.Hello().status, wire::HelloStatus::kAccepted);
  auto start = Steady::now();
  ASSERT_TRUE(
      c.Send(EncodeFrame(MakeFrame(wire::Kind::kAsk, 4, "akt.test.Ping", "silent"), PingBytes(1)) +
             std::string("\x05\x00\x00\x00xxxxxxxx", 12)));
  bool eof = false;
  std::vector<std::string> payloads;
  auto frames = DecodeAll(c.Read(5000ms, &eof), &payloads);
  auto took = Steady::now() - start;
  EXPECT_TRUE(eof);
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(frames[0].kind, wire::Kind::kError);
  EXPECT_EQ(ErrorCode(payloads[0]), static_cast<uint32_t>(StatusCode::kProtocolError));
  EXPECT_GE(took, 250ms);  // error_linger is 300 ms
}

// ---- 3. a TELL to $remote is a control request too ----

TEST_F(Conformance, AControlRequestSentAsATellIsCarriedOut) {
  RawClient c(port());
  ASSERT_EQ(c.Hello().status, wire::HelloStatus::kAccepted);
  remote::SpawnRequest spawn;
  spawn.set_name("told");
  spawn.set_kind("echo");
  ASSERT_TRUE(c.Send(
      EncodeFrame(MakeFrame(wire::Kind::kTell, 0, "akt.remote.SpawnRequest", wire::kControlTarget),
                  spawn.SerializeAsString())));
  ASSERT_TRUE(WaitUntil([&] { return n_.system->ActorOf("told").ok(); }));
  remote::LifecycleRequest stop;
  stop.set_name("told");
  stop.set_op(remote::LifecycleRequest::STOP);
  ASSERT_TRUE(c.Send(EncodeFrame(
      MakeFrame(wire::Kind::kTell, 0, "akt.remote.LifecycleRequest", wire::kControlTarget),
      stop.SerializeAsString())));
  ASSERT_TRUE(WaitUntil([&] { return !n_.system->ActorOf("told").ok(); }));
  // A failing control TELL is answered with an ERROR carrying its correlation.
  spawn.set_name("told2");
  spawn.set_kind("no-such-kind");
  ASSERT_TRUE(c.Send(
      EncodeFrame(MakeFrame(wire::Kind::kTell, 41, "akt.remote.SpawnRequest", wire::kControlTarget),
                  spawn.SerializeAsString())));
  std::vector<std::string> payloads;
  auto frames = DecodeAll(c.Read(3000ms, nullptr, 20), &payloads);
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(frames[0].kind, wire::Kind::kError);
  EXPECT_EQ(frames[0].correlation, 41u);
  EXPECT_EQ(ErrorCode(payloads[0]), static_cast<uint32_t>(StatusCode::kNotFound));
}

// ---- 2. a name this node does not know: NOT_FOUND, whatever it names ----

TEST_F(Conformance, UnknownNamesAreNotFoundWhateverTheyName) {
  RawClient c(port());
  ASSERT_EQ(c.Hello().status, wire::HelloStatus::kAccepted);
  remote::SpawnRequest unknown_dep;
  unknown_dep.set_name("d1");
  unknown_dep.set_kind("echo");
  remote::Dependency* d = unknown_dep.add_dependencies();
  d->set_id("x");
  d->set_type("no.such.dependency");
  remote::SpawnRequest unknown_kind;
  unknown_kind.set_name("d2");
  unknown_kind.set_kind("no-such-kind");
  remote::GrainRequest unknown_grain;
  unknown_grain.set_kind("nosuchgrain");
  unknown_grain.set_name("g");
  std::string bytes =
      EncodeFrame(MakeFrame(wire::Kind::kAsk, 1, "akt.remote.SpawnRequest", wire::kControlTarget),
                  unknown_dep.SerializeAsString()) +
      EncodeFrame(MakeFrame(wire::Kind::kAsk, 2, "akt.remote.SpawnRequest", wire::kControlTarget),
                  unknown_kind.SerializeAsString()) +
      EncodeFrame(MakeFrame(wire::Kind::kAsk, 3, "akt.remote.GrainRequest", wire::kControlTarget),
                  unknown_grain.SerializeAsString()) +
      EncodeFrame(MakeFrame(wire::Kind::kAsk, 4, "no.such.Type", "echo"), "x") +
      EncodeFrame(MakeFrame(wire::Kind::kAsk, 5, "akt.test.Ping", "nobody"), PingBytes(1)) +
      EncodeFrame(MakeFrame(wire::Kind::kAsk, 6, "akt.test.Ping", "grain:nosuchgrain/g"),
                  PingBytes(1));
  ASSERT_TRUE(c.Send(bytes));
  std::vector<std::string> payloads;
  std::string got;
  std::vector<wire::Frame> frames;
  auto deadline = Steady::now() + 5s;
  while (frames.size() < 6 && Steady::now() < deadline) {
    got += c.Read(200ms);
    payloads.clear();
    frames = DecodeAll(got, &payloads);
  }
  ASSERT_EQ(frames.size(), 6u);
  for (std::size_t i = 0; i < frames.size(); ++i) {
    std::string text;
    EXPECT_EQ(frames[i].kind, wire::Kind::kError);
    EXPECT_EQ(ErrorCode(payloads[i], &text), static_cast<uint32_t>(StatusCode::kNotFound))
        << "correlation " << frames[i].correlation << ": " << text;
  }
  EXPECT_FALSE(n_.system->ActorOf("d1").ok());
}

// ---- 6. one mapping from StatusCode to wire code, for actors and grains ----

TEST_F(Conformance, AnActorsErrAndAGrainsErrReachTheClientWithTheSameCode) {
  RawClient c(port());
  ASSERT_EQ(c.Hello().status, wire::HelloStatus::kAccepted);
  ASSERT_TRUE(
      c.Send(EncodeFrame(MakeFrame(wire::Kind::kAsk, 1, "akt.test.Ping", "sleepy"), PingBytes(-1)) +
             EncodeFrame(MakeFrame(wire::Kind::kAsk, 2, "akt.test.Ping", "grain:errgrain/a"),
                         PingBytes(-1))));
  std::vector<std::string> payloads;
  std::string got;
  std::vector<wire::Frame> frames;
  auto deadline = Steady::now() + 5s;
  while (frames.size() < 2 && Steady::now() < deadline) {
    got += c.Read(200ms);
    payloads.clear();
    frames = DecodeAll(got, &payloads);
  }
  ASSERT_EQ(frames.size(), 2u);
  for (std::size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(frames[i].kind, wire::Kind::kError);
    EXPECT_EQ(ErrorCode(payloads[i]), static_cast<uint32_t>(StatusCode::kInvalidArgument))
        << "correlation " << frames[i].correlation;
  }
}

// ---- 8. what a node does with frames nobody asked for ----

TEST_F(Conformance, UnsolicitedRepliesErrorsAndPongsAreIgnored) {
  RawClient c(port());
  ASSERT_EQ(c.Hello().status, wire::HelloStatus::kAccepted);
  wire::Frame reply = MakeFrame(wire::Kind::kReply, 77, "akt.test.Pong", "");
  wire::Frame error = MakeFrame(wire::Kind::kError, 78, "", "");
  wire::Frame pong = MakeFrame(wire::Kind::kPong, 79, "", "");
  wire::Frame ping = MakeFrame(wire::Kind::kPing, 80, "", "");
  ASSERT_TRUE(c.Send(EncodeFrame(reply, "") + EncodeFrame(error, wire::EncodeError(2, "x")) +
                     EncodeFrame(pong, "") + EncodeFrame(ping, "")));
  std::vector<std::string> payloads;
  auto frames = DecodeAll(c.Read(3000ms, nullptr, 32), &payloads);
  ASSERT_EQ(frames.size(), 1u);  // only the PING is answered
  EXPECT_EQ(frames[0].kind, wire::Kind::kPong);
  EXPECT_EQ(frames[0].correlation, 80u);
}

TEST_F(Conformance, CorrelationIdsAreEchoedAsGivenInAnyOrder) {
  RawClient c(port());
  ASSERT_EQ(c.Hello().status, wire::HelloStatus::kAccepted);
  ASSERT_TRUE(
      c.Send(EncodeFrame(MakeFrame(wire::Kind::kAsk, 9, "akt.test.Ping", "echo"), PingBytes(1)) +
             EncodeFrame(MakeFrame(wire::Kind::kAsk, 2, "akt.test.Ping", "echo"), PingBytes(2)) +
             EncodeFrame(MakeFrame(wire::Kind::kAsk, 2, "akt.test.Ping", "echo"), PingBytes(3))));
  std::vector<std::string> payloads;
  std::string got;
  std::vector<wire::Frame> frames;
  auto deadline = Steady::now() + 5s;
  while (frames.size() < 3 && Steady::now() < deadline) {
    got += c.Read(200ms);
    payloads.clear();
    frames = DecodeAll(got, &payloads);
  }
  ASSERT_EQ(frames.size(), 3u);
  EXPECT_EQ(frames[0].correlation, 9u);
  EXPECT_EQ(frames[1].correlation, 2u);
  EXPECT_EQ(frames[2].correlation, 2u);
}

// ---- 5. a slow actor turn does not hold up the other connections ----

class SlowTurn : public Conformance {
 protected:
  RemoteOptions Options() override {
    RemoteOptions o = Conformance::Options();
    o.io_threads = 1;  // every connection on the same I/O thread
    return o;
  }
};

TEST_F(SlowTurn, PingsOnOtherConnectionsAreAnsweredDuringA400msTurn) {
  RawClient slow(port());
  RawClient other(port());
  ASSERT_EQ(slow.Hello().status, wire::HelloStatus::kAccepted);
  ASSERT_EQ(other.Hello().status, wire::HelloStatus::kAccepted);
  ASSERT_TRUE(slow.Send(
      EncodeFrame(MakeFrame(wire::Kind::kAsk, 1, "akt.test.Ping", "sleepy"), PingBytes(400))));
  ASSERT_TRUE(WaitUntil([] { return Sleepy::sleeping.load() == 1; }));  // the 400 ms turn runs
  auto start = Steady::now();
  // A PING, and an ASK whose 200 ms budget must count from when its bytes came.
  wire::Frame ask = MakeFrame(wire::Kind::kAsk, 5, "akt.test.Ping", "echo");
  ask.deadline_us = 200000;
  ASSERT_TRUE(other.Send(EncodeFrame(MakeFrame(wire::Kind::kPing, 2, "", ""), "") +
                         EncodeFrame(ask, PingBytes(6))));
  std::vector<std::string> payloads;
  std::string got;
  std::vector<wire::Frame> frames;
  while (frames.size() < 2 && Steady::now() - start < 3s) {
    got += other.Read(50ms);
    payloads.clear();
    frames = DecodeAll(got, &payloads);
  }
  auto took = Steady::now() - start;
  ASSERT_EQ(frames.size(), 2u);
  EXPECT_EQ(frames[0].kind, wire::Kind::kPong);
  EXPECT_EQ(frames[1].kind, wire::Kind::kReply) << "the budget started late";
  // Far below the 380 ms the turn still had to run (the hand-off takes one
  // or two 5 ms watchdog periods).
  EXPECT_LT(took, 200ms);
  EXPECT_EQ(n_.remoting->Stats().io_handoffs, 1u);
  // The slow actor's own answer still arrives.
  frames = DecodeAll(slow.Read(3000ms, nullptr, 20), &payloads);
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(frames[0].kind, wire::Kind::kReply);
  // From now on it runs on the workers: another slow turn hands nothing off.
  ASSERT_TRUE(slow.Send(
      EncodeFrame(MakeFrame(wire::Kind::kAsk, 3, "akt.test.Ping", "sleepy"), PingBytes(60))));
  frames = DecodeAll(slow.Read(3000ms, nullptr, 20), &payloads);
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(n_.remoting->Stats().io_handoffs, 1u);
}

// ---- 4. timeouts as documented, TCP_DEFER_ACCEPT included ----

TEST(ConformanceTimeouts, ASilentClientIsClosedAtTheHandshakeTimeoutCountingTheKernelsHold) {
  RemoteOptions o;
  o.handshake_timeout = 1500ms;  // >= 1 s: the listener defers accept by 1 s
  Node n = Node::Start("hs", o);
  auto start = Steady::now();
  RawClient c(n.remoting->port());
  ASSERT_TRUE(c.connected());
  bool eof = false;
  c.Read(6000ms, &eof);
  auto took = Steady::now() - start;
  EXPECT_TRUE(eof);
  EXPECT_GE(took, 1400ms);
  EXPECT_LT(took, 2300ms) << "the kernel's hold was not counted";
  n.Stop();
}

TEST(ConformanceTimeouts, AConnectionOverTheLimitHearsRefusedRightAfterConnecting) {
  RemoteOptions o;
  o.max_connections = 2;
  Node n = Node::Start("lim", o);
  RawClient c1(n.remoting->port());
  RawClient c2(n.remoting->port());
  ASSERT_EQ(c1.Hello().status, wire::HelloStatus::kAccepted);
  ASSERT_EQ(c2.Hello().status, wire::HelloStatus::kAccepted);
  auto start = Steady::now();
  RawClient c3(n.remoting->port());  // says nothing: the server speaks first
  bool eof = false;
  std::string got = c3.Read(3000ms, &eof);
  auto took = Steady::now() - start;
  std::optional<wire::ServerHello> h = ParseServerHello(got);
  ASSERT_TRUE(h.has_value());
  EXPECT_EQ(h->status, wire::HelloStatus::kRefused);
  EXPECT_LT(took, 500ms) << "held by TCP_DEFER_ACCEPT";
  // Once a connection is gone, a new one is served again.
  c1.Close();
  ASSERT_TRUE(WaitUntil([&] {
    RawClient c4(n.remoting->port());
    return c4.Hello().status == wire::HelloStatus::kAccepted;
  }));
  n.Stop();
}

}  // namespace
}  // namespace akt::test

namespace akt::test {
namespace {

TEST(ConformanceDeadlines, AnAskWhoseBudgetIsSpentFailsLocallyAndSendsNothing) {
  Node a = Node::Start("spent-a");
  Node b = Node::Start("spent-b");
  ASSERT_TRUE(b.system->Spawn<RemoteEcho>("echo").ok());
  Result<PID> echo = a.remoting->Lookup(b.remoting->endpoint(), "echo", 5s);
  ASSERT_TRUE(echo.ok()) << echo.status().ToString();
  uint64_t sent = a.remoting->Stats().frames_sent;
  Result<Message> r = echo->Ask(MakePing(1), std::chrono::nanoseconds(1));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kTimeout) << r.status().ToString();
  EXPECT_EQ(a.remoting->Stats().frames_sent, sent);
  a.Stop();
  b.Stop();
}

}  // namespace
}  // namespace akt::test

namespace akt::test {
namespace {

TEST(ConformanceUnreachable, ATellToANodeThatCannotBeReachedIsAnUnreachableDeadLetter) {
  Node a = Node::Start("unreach");
  // A port nothing listens on: take one, then close its listener.
  uint16_t dead_port;
  {
    Node gone = Node::Start("gone");
    dead_port = gone.remoting->port();
    gone.Stop();
  }
  Result<PID> ghost =
      a.remoting->ActorOf("akt://gone@127.0.0.1:" + std::to_string(dead_port) + "/x");
  ASSERT_TRUE(ghost.ok()) << ghost.status().ToString();
  Status s = ghost->Tell(MakePing(1));
  EXPECT_TRUE(IsUnavailable(s)) << s.ToString();
  EXPECT_EQ(a.system->DeadLetterCount(DeadLetterReason::kUnreachable), 1u);
  EXPECT_EQ(a.system->DeadLetterCount(DeadLetterReason::kNoSuchActor), 0u);
  a.Stop();
}

}  // namespace
}  // namespace akt::test
