// Compression negotiation, TLS / mutual TLS, the frame pool and the wire
// codec's own rules.
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "codec.h"
#include "frame_pool.h"
#include "raw_client.h"
#include "remote_fixture.h"

namespace akt::test {
namespace {

namespace wire = remote::wire;

// ---- compression ----

class Compressed : public ::testing::TestWithParam<Compression> {};

TEST_P(Compressed, RoundTripsAndShrinksTheBytesOnTheWire) {
  RemoteOptions ro;
  ro.compression = GetParam();
  Node a = Node::Start("ca", ro);
  Node b = Node::Start("cb", ro);
  ASSERT_TRUE(b.system->Spawn<RemoteEcho>("echo").ok());
  Result<PID> echo = a.remoting->Lookup(b.remoting->endpoint(), "echo");
  ASSERT_TRUE(echo.ok()) << echo.status().ToString();
  std::string text(200 * 1024, 'a');
  for (std::size_t i = 0; i < text.size(); i += 97) text[i] = static_cast<char>('a' + i % 26);
  uint64_t before = b.remoting->Stats().bytes_received;
  for (int i = 0; i < 5; ++i) {
    Result<akt::test::Pong> r = echo->Ask<akt::test::Pong>(MakePing(i, text), 5s);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->n(), i);
    EXPECT_EQ(r->text(), text);
  }
  uint64_t on_wire = b.remoting->Stats().bytes_received - before;
  EXPECT_LT(on_wire, 5 * text.size() / 4) << "compression did not shrink the stream";
  a.Stop();
  b.Stop();
}

INSTANTIATE_TEST_SUITE_P(Codecs, Compressed,
                         ::testing::Values(Compression::kZstd, Compression::kBrotli,
                                           Compression::kGzip),
                         [](const auto& info) { return std::string(CompressionName(info.param)); });

TEST_P(Compressed, StreamDecodesWhateverWayItIsSplit) {
  auto enc = remote::MakeEncoder(GetParam());
  auto dec = remote::MakeDecoder(GetParam());
  ASSERT_TRUE(enc && dec);
  std::string plain, wire_bytes;
  for (int i = 0; i < 40; ++i) {
    std::string chunk(static_cast<std::size_t>(1 + (i * 7919) % 90000), static_cast<char>('a' + i % 26));
    for (std::size_t j = 0; j < chunk.size(); j += 13) chunk[j] = static_cast<char>(j * 31);
    plain += chunk;
    ASSERT_TRUE(enc->Encode(reinterpret_cast<const uint8_t*>(chunk.data()), chunk.size(), wire_bytes).ok());
  }
  std::string out;
  std::size_t off = 0;
  std::size_t step = 1;
  while (off < wire_bytes.size()) {
    std::size_t n = std::min(step, wire_bytes.size() - off);
    ASSERT_TRUE(dec->Decode(reinterpret_cast<const uint8_t*>(wire_bytes.data()) + off, n, out, 1u << 30).ok());
    off += n;
    step = step * 3 % 70001 + 1;
  }
  ASSERT_EQ(out.size(), plain.size());
  EXPECT_TRUE(out == plain);
}

TEST(Compression, EndsConfiguredDifferentlyStillTalk) {
  RemoteOptions ra;
  ra.compression = Compression::kBrotli;
  RemoteOptions rb;
  rb.compression = Compression::kGzip;  // prefers gzip, accepts all
  Node a = Node::Start("da", ra);
  Node b = Node::Start("db", rb);
  ASSERT_TRUE(b.system->Spawn<RemoteEcho>("echo").ok());
  Result<PID> echo = a.remoting->Lookup(b.remoting->endpoint(), "echo");
  ASSERT_TRUE(echo.ok()) << echo.status().ToString();
  EXPECT_TRUE(echo->Ask<akt::test::Pong>(MakePing(1), 5s).ok());
  a.Stop();
  b.Stop();
}

TEST(Compression, NoCommonCodecFailsNamingBothSides) {
  RemoteOptions ra;
  ra.compression = Compression::kZstd;
  ra.accept_compression = {Compression::kZstd};
  RemoteOptions rb;
  rb.accept_compression = {Compression::kGzip, Compression::kNone};
  Node a = Node::Start("ea", ra);
  Node b = Node::Start("eb", rb);
  Result<PID> echo = a.remoting->Lookup(b.remoting->endpoint(), "echo");
  ASSERT_FALSE(echo.ok());
  EXPECT_EQ(echo.status().code(), StatusCode::kProtocolError);
  EXPECT_NE(echo.status().message().find("offers [zstd]"), std::string::npos)
      << echo.status().message();
  EXPECT_NE(echo.status().message().find("accepts [gzip, none]"), std::string::npos);
  a.Stop();
  b.Stop();
}

TEST(Compression, CorruptCompressedBytesCloseTheConnection) {
  RemoteOptions rb;
  Node b = Node::Start("fb", rb);
  RawClient c(b.remoting->port());
  ASSERT_EQ(c.Hello({static_cast<uint8_t>(Compression::kZstd)}).status,
            wire::HelloStatus::kAccepted);
  c.Send(std::string(64, '\x5a'));
  bool eof = false;
  c.Read(2000ms, &eof);
  EXPECT_TRUE(eof);
  EXPECT_GE(b.remoting->Stats().protocol_errors, 1u);
  b.Stop();
}

// ---- TLS ----

class Tls : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = std::filesystem::temp_directory_path() / ("akt-tls-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
    std::string d = dir_.string();
    // A CA, a node certificate for 127.0.0.1 signed by it, and a second,
    // unrelated CA with its own certificate (the "wrong" one).
    std::string script =
        "set -e; cd " + d +
        "; openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 "
        "-subj /CN=akt-test-ca 2>/dev/null"
        "; openssl req -newkey rsa:2048 -nodes -keyout node.key -out node.csr -subj /CN=node "
        "2>/dev/null"
        "; printf 'subjectAltName=IP:127.0.0.1\\n' > ext.cnf"
        "; openssl x509 -req -in node.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out "
        "node.pem -days 2 -extfile ext.cnf 2>/dev/null"
        "; openssl req -x509 -newkey rsa:2048 -nodes -keyout evil.key -out evil.pem -days 2 "
        "-subj /CN=evil -addext subjectAltName=IP:127.0.0.1 2>/dev/null";
    ok_ = std::system(("bash -c \"" + script + "\"").c_str()) == 0;
  }
  static void TearDownTestSuite() { std::filesystem::remove_all(dir_); }
  static TlsOptions Good(bool mutual) {
    TlsOptions t;
    t.enabled = true;
    t.cert_file = (dir_ / "node.pem").string();
    t.key_file = (dir_ / "node.key").string();
    t.ca_file = (dir_ / "ca.pem").string();
    t.require_client_cert = mutual;
    return t;
  }
  static std::filesystem::path dir_;
  static bool ok_;
};
std::filesystem::path Tls::dir_;
bool Tls::ok_ = false;

TEST_F(Tls, MutualTlsCarriesRequests) {
  ASSERT_TRUE(ok_) << "openssl could not make test certificates";
  RemoteOptions ro;
  ro.tls = Good(true);
  ro.compression = Compression::kZstd;
  Node a = Node::Start("ta", ro);
  Node b = Node::Start("tb", ro);
  ASSERT_TRUE(b.system->Spawn<RemoteEcho>("echo").ok());
  Result<PID> echo = a.remoting->Lookup(b.remoting->endpoint(), "echo");
  ASSERT_TRUE(echo.ok()) << echo.status().ToString();
  for (int i = 0; i < 100; ++i) {
    akt::test::Add add;
    add.set_amount(1);
    ASSERT_TRUE(echo->Tell(add).ok());
  }
  Result<akt::test::Total> t = echo->Ask<akt::test::Total>(akt::test::GetTotal(), 5s);
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_EQ(t->value(), 100);
  // Plain TCP to a TLS server gets nowhere.
  RawClient raw(b.remoting->port());
  raw.Hello();
  bool eof = false;
  raw.Read(2000ms, &eof);
  EXPECT_TRUE(eof);
  a.Stop();
  b.Stop();
}

TEST_F(Tls, AClientWithAWrongCertificateIsRefused) {
  ASSERT_TRUE(ok_);
  RemoteOptions server;
  server.tls = Good(true);
  Node b = Node::Start("tc", server);
  ASSERT_TRUE(b.system->Spawn<RemoteEcho>("echo").ok());
  RemoteOptions evil;
  evil.tls = Good(false);
  evil.tls.cert_file = (dir_ / "evil.pem").string();
  evil.tls.key_file = (dir_ / "evil.key").string();
  Node a = Node::Start("td", evil);
  Result<PID> echo = a.remoting->Lookup(b.remoting->endpoint(), "echo", 3s);
  EXPECT_FALSE(echo.ok());
  // A server whose certificate the client's CA did not sign is refused too.
  RemoteOptions evil_server;
  evil_server.tls = Good(false);
  evil_server.tls.cert_file = (dir_ / "evil.pem").string();
  evil_server.tls.key_file = (dir_ / "evil.key").string();
  Node c = Node::Start("te", evil_server);
  RemoteOptions client;
  client.tls = Good(false);
  Node d = Node::Start("tf", client);
  Result<PID> e2 = d.remoting->Lookup(c.remoting->endpoint(), "echo", 3s);
  ASSERT_FALSE(e2.ok());
  EXPECT_EQ(e2.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(e2.status().message().find("TLS"), std::string::npos) << e2.status().message();
  a.Stop();
  b.Stop();
  c.Stop();
  d.Stop();
}

TEST_F(Tls, BadTlsConfigurationIsAClearError) {
  SystemOptions so;
  so.name = "tg";
  so.logger = MakeNullLogger();
  ActorSystem sys(so);
  ASSERT_TRUE(sys.Start().ok());
  RemoteOptions ro;
  ro.tls.enabled = true;
  ro.tls.cert_file = "/nonexistent.pem";
  ro.tls.key_file = "/nonexistent.key";
  Result<Remoting*> r = Remoting::Enable(sys, ro);
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("TLS"), std::string::npos);
  EXPECT_TRUE(sys.Stop().ok());
}

// ---- frame pool ----

TEST(FramePool, PowerOfTwoBucketsFrom256BytesTo4MiB) {
  EXPECT_EQ(remote::FramePool::BucketSize(1), 256u);
  EXPECT_EQ(remote::FramePool::BucketSize(256), 256u);
  EXPECT_EQ(remote::FramePool::BucketSize(257), 512u);
  EXPECT_EQ(remote::FramePool::BucketSize(4u << 20), 4u << 20);
  EXPECT_EQ(remote::FramePool::BucketSize((4u << 20) + 1), (4u << 20) + 1);
  std::size_t cap = 0;
  uint8_t* p = remote::FramePool::Acquire(1000, &cap);
  EXPECT_EQ(cap, 1024u);
  remote::FramePool::Release(p, cap);
  auto before = remote::FramePool::Stats();
  uint8_t* q = remote::FramePool::Acquire(700, &cap);
  EXPECT_EQ(q, p);  // reused from its bucket
  EXPECT_EQ(remote::FramePool::Stats().hits, before.hits + 1);
  remote::FramePool::Release(q, cap);
  uint8_t* big = remote::FramePool::Acquire(5u << 20, &cap);
  EXPECT_EQ(cap, 5u << 20);
  EXPECT_EQ(remote::FramePool::Stats().oversized, before.oversized + 1);
  remote::FramePool::Release(big, cap);
  remote::Buffer b;
  for (int i = 0; i < 1000; ++i) b.Append("0123456789", 10);
  EXPECT_EQ(b.size(), 10000u);
  EXPECT_EQ(b.capacity(), 16384u);
  b.Consume(9995);
  EXPECT_EQ(std::string(reinterpret_cast<char*>(b.data()), b.size()), "56789");
}

// ---- wire codec ----

TEST(Wire, FramesRoundTripAndEveryFieldIsChecked) {
  wire::Frame f;
  f.kind = wire::Kind::kAsk;
  f.correlation = 0x0102030405060708ull;
  f.deadline_us = 1500000;
  f.type = "akt.test.Ping";
  f.target = "echo";
  f.sender = "akt://a@127.0.0.1:1/x";
  std::string meta = wire::EncodeHeaders({{"k", "v"}});
  f.metadata = meta;
  std::string bytes = EncodeFrame(f, "PAYLOAD");
  ASSERT_EQ(bytes.size(), 32 + 13 + 4 + 21 + meta.size() + 7);
  wire::Frame g;
  std::size_t used = 0;
  std::string err;
  const auto* p = reinterpret_cast<const uint8_t*>(bytes.data());
  ASSERT_EQ(wire::DecodeFrame(p, bytes.size(), 1 << 20, &g, &used, &err), wire::DecodeStatus::kOk);
  EXPECT_EQ(used, bytes.size());
  EXPECT_EQ(g.correlation, f.correlation);
  EXPECT_EQ(g.deadline_us, f.deadline_us);
  EXPECT_EQ(g.type, f.type);
  EXPECT_EQ(g.target, f.target);
  EXPECT_EQ(g.sender, f.sender);
  EXPECT_EQ(g.payload, "PAYLOAD");
  std::vector<std::pair<std::string, std::string>> h;
  ASSERT_TRUE(wire::DecodeHeaders(g.metadata, &h));
  ASSERT_EQ(h.size(), 1u);
  EXPECT_EQ(h[0].second, "v");
  // Every prefix is "need more", never an error or a crash.
  for (std::size_t n = 0; n < bytes.size(); ++n) {
    EXPECT_EQ(wire::DecodeFrame(p, n, 1 << 20, &g, &used, &err), wire::DecodeStatus::kNeedMore) << n;
  }
  auto broken = [&](std::size_t at, char v) {
    std::string b = bytes;
    b[at] = v;
    return wire::DecodeFrame(reinterpret_cast<const uint8_t*>(b.data()), b.size(), 1 << 20, &g,
                             &used, &err);
  };
  EXPECT_EQ(broken(4, 2), wire::DecodeStatus::kError);   // version
  EXPECT_EQ(broken(5, 9), wire::DecodeStatus::kError);   // kind
  EXPECT_EQ(broken(6, 1), wire::DecodeStatus::kError);   // unknown flag
  EXPECT_EQ(broken(20, 99), wire::DecodeStatus::kError); // type length mismatch
  EXPECT_EQ(wire::DecodeFrame(p, bytes.size(), 40, &g, &used, &err), wire::DecodeStatus::kError);
  EXPECT_NE(err.find("exceeds the maximum"), std::string::npos);
  EXPECT_FALSE(wire::DecodeHeaders(std::string_view("\x05\x00ab", 4), &h));
}

}  // namespace
}  // namespace akt::test
