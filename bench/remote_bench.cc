// akt_bench's remote workloads: two processes on loopback TCP.
//   remote_pingpong  RPP_N=100000   roundtrips_per_sec, p50_rt_us, p99_rt_us
//   remote_oneway    RTP_N=1000000  msgs_per_sec, peak_rss_mb_client, peak_rss_mb_server
//   remote_ask       RASK_N=200000 (64 in flight)  asks_per_sec, p99_us
// A suffix picks the transport: _zstd (zstd compression), _tls (TLS with a
// throw-away certificate), e.g. remote_pingpong_tls. The server side is this
// program again ("remote_server <mode>"), started with posix_spawn.
#include <akt/akt.h>
#include <akt/remote.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <latch>
#include <string>
#include <thread>
#include <vector>

#include "bench.pb.h"
#include "bench_util.h"
#include "port_child.h"


void SetUpGrainHost(akt::ActorSystem& system);  // grain_bench.cc
int RunGrainRemoteClient(const std::string& w, akt::Remoting& remoting, const std::string& ep);

namespace {

using BClock = std::chrono::steady_clock;
using namespace std::chrono_literals;

using akt_bench::EnvInt;
using akt_bench::PeakRssMb;
using akt_bench::Report;

std::string CertDir() { return "/tmp/akt-bench-tls-" + std::to_string(::getuid()); }

bool MakeCerts() {
  std::string d = CertDir();
  std::string cmd = "mkdir -p " + d + " && cd " + d +
                    " && [ -f node.pem ] || (openssl req -x509 -newkey rsa:2048 -nodes -keyout "
                    "node.key -out node.pem -days 2 -subj /CN=bench -addext "
                    "subjectAltName=IP:127.0.0.1 >/dev/null 2>&1)";
  return std::system(cmd.c_str()) == 0;
}

akt::RemoteOptions Transport(const std::string& mode) {
  akt::RemoteOptions ro;
  ro.host = "127.0.0.1";
  ro.accept_loops = 1;
  ro.io_threads = 1;
  if (mode == "zstd") ro.compression = akt::Compression::kZstd;
  if (mode == "tls") {
    ro.tls.enabled = true;
    ro.tls.cert_file = CertDir() + "/node.pem";
    ro.tls.key_file = CertDir() + "/node.key";
    ro.tls.ca_file = CertDir() + "/node.pem";  // self-signed: its own CA
  }
  return ro;
}

akt::SystemOptions SysOptions(const char* name) {
  akt::SystemOptions o;
  o.name = name;
  o.logger = akt::MakeStderrLogger(akt::LogLevel::kWarn);
  return o;
}

// ---- server process ----

// Answers every Ping with the same Ping (to the sender, or to the asker).
class Pong : public akt::Actor {
 public:
  void Receive(akt::ReceiveContext& ctx) override {
    if (const auto* p = ctx.message().As<akt::bench::Ping>()) ctx.Reply(*p).IgnoreError();
  }
};

// Counts Pings; answers a Drain once that many were processed.
class Sink : public akt::Actor {
 public:
  void Receive(akt::ReceiveContext& ctx) override {
    if (ctx.message().Is<akt::bench::Ping>()) {
      ++count_;
      if (waiting_.valid() && count_ >= want_) Answer();
      return;
    }
    if (const auto* d = ctx.message().As<akt::bench::Drain>()) {
      want_ = d->count();
      waiting_ = ctx.TakeReply();
      if (count_ >= want_) Answer();
    }
  }

 private:
  void Answer() {
    akt::bench::Drained out;
    out.set_processed(count_);
    out.set_peak_rss_mb(PeakRssMb());
    waiting_.Reply(std::move(out)).IgnoreError();
  }
  int64_t count_ = 0;
  int64_t want_ = 0;
  akt::PendingReply waiting_;
};

int Server(const std::string& mode) {
  akt::ActorSystem system(SysOptions("srv"));
  if (!system.Start().ok()) return 1;
  auto r = akt::Remoting::Enable(system, Transport(mode));
  if (!r.ok()) {
    std::fprintf(stderr, "server: %s\n", r.status().ToString().c_str());
    return 1;
  }
  (void)system.Spawn<Pong>("pong");
  (void)system.Spawn<Sink>("sink");
  SetUpGrainHost(system);
  akt::support::ServeUntilStdinCloses((*r)->port());
  system.Stop().IgnoreError();
  return 0;
}

// ---- client side ----

double Percentile(std::vector<int64_t>& v, double q) {
  if (v.empty()) return 0;
  std::size_t k = static_cast<std::size_t>(q * static_cast<double>(v.size() - 1));
  std::nth_element(v.begin(), v.begin() + static_cast<long>(k), v.end());
  return static_cast<double>(v[k]);
}

// One ping in flight: sends, waits for the pong (a Tell back), sends the next.
class Pinger : public akt::Actor {
 public:
  Pinger(akt::PID to, int64_t n, std::vector<int64_t>* rt, std::latch* done)
      : to_(std::move(to)), n_(n), rt_(rt), done_(done) {}
  void Receive(akt::ReceiveContext& ctx) override {
    if (ctx.message().Is<std::string>()) {  // start
      Send(ctx);
      return;
    }
    if (ctx.message().Is<akt::bench::Ping>()) {
      rt_->push_back(std::chrono::duration_cast<std::chrono::nanoseconds>(BClock::now() - t0_).count());
      if (++seq_ == n_) {
        done_->count_down();
        return;
      }
      Send(ctx);
    }
  }

 private:
  void Send(akt::ReceiveContext& ctx) {
    akt::bench::Ping p;
    p.set_seq(seq_);
    t0_ = BClock::now();
    ctx.Tell(to_, std::move(p)).IgnoreError();
  }
  akt::PID to_;
  int64_t n_;
  int64_t seq_ = 0;
  BClock::time_point t0_;
  std::vector<int64_t>* rt_;
  std::latch* done_;
};

// Streams n Pings in chunks; keeps at most `window` unconfirmed (a Drain
// every `window` pings is the flow control), then drains.
class Streamer : public akt::Actor {
 public:
  Streamer(akt::PID to, int64_t n, std::atomic<double>* server_rss, std::latch* done)
      : to_(std::move(to)), n_(n), server_rss_(server_rss), done_(done) {}
  void Receive(akt::ReceiveContext& ctx) override {
    if (!ctx.message().Is<std::string>()) return;
    if (blocked_) return;
    int64_t chunk = std::min<int64_t>(1024, n_ - sent_);
    for (int64_t i = 0; i < chunk; ++i) {
      akt::bench::Ping p;
      p.set_seq(sent_++);
      ctx.Tell(to_, std::move(p)).IgnoreError();
    }
    if (sent_ == n_) {
      Drain(ctx, n_, true);
      return;
    }
    if (sent_ - confirmed_ >= kWindow && !blocked_) {
      blocked_ = true;
      Drain(ctx, sent_ - kWindow / 2, false);
      return;
    }
    ctx.self().Tell(std::string("more")).IgnoreError();
  }

 private:
  static constexpr int64_t kWindow = 200000;
  void Drain(akt::ReceiveContext& ctx, int64_t upto, bool last) {
    akt::bench::Drain d;
    d.set_count(upto);
    ctx.Request(to_, std::move(d), 60s).Then([this, upto, last](akt::ReceiveContext& c, akt::Result<akt::Message> r) {
      if (!r.ok()) {
        std::fprintf(stderr, "drain failed: %s\n", r.status().ToString().c_str());
        std::exit(1);
      }
      confirmed_ = upto;
      if (last) {
        server_rss_->store(r->As<akt::bench::Drained>()->peak_rss_mb());
        done_->count_down();
        return;
      }
      blocked_ = false;
      c.self().Tell(std::string("more")).IgnoreError();
    });
  }
  akt::PID to_;
  int64_t n_;
  int64_t sent_ = 0;
  int64_t confirmed_ = 0;
  bool blocked_ = false;
  std::atomic<double>* server_rss_;
  std::latch* done_;
};

// Keeps `depth` asks in flight until n were answered.
class Asker : public akt::Actor {
 public:
  Asker(akt::PID to, int64_t n, int depth, std::vector<int64_t>* lat, std::latch* done)
      : to_(std::move(to)), n_(n), depth_(depth), lat_(lat), done_(done) {}
  void Receive(akt::ReceiveContext& ctx) override {
    if (!ctx.message().Is<std::string>()) return;
    for (int i = 0; i < depth_ && issued_ < n_; ++i) Issue(ctx);
  }

 private:
  void Issue(akt::ReceiveContext& ctx) {
    akt::bench::Ping p;
    p.set_seq(issued_++);
    auto t0 = BClock::now();
    ctx.Request(to_, std::move(p), 30s).Then([this, t0](akt::ReceiveContext& c, akt::Result<akt::Message> r) {
      if (!r.ok()) {
        std::fprintf(stderr, "ask failed: %s\n", r.status().ToString().c_str());
        std::exit(1);
      }
      lat_->push_back(std::chrono::duration_cast<std::chrono::nanoseconds>(BClock::now() - t0).count());
      if (++answered_ == n_) {
        done_->count_down();
        return;
      }
      if (issued_ < n_) Issue(c);
    });
  }
  akt::PID to_;
  int64_t n_;
  int depth_;
  int64_t issued_ = 0;
  int64_t answered_ = 0;
  std::vector<int64_t>* lat_;
  std::latch* done_;
};

int Client(const std::string& workload, const std::string& base, const std::string& mode) {
  if (mode == "tls" && !MakeCerts()) {
    std::fprintf(stderr, "akt_bench: openssl could not make a certificate\n");
    return 1;
  }
  akt::support::PortChild child("/proc/self/exe", {"remote_server", mode});
  if (child.port() == 0) {
    std::fprintf(stderr, "akt_bench: the server process did not start\n");
    return 1;
  }
  akt::ActorSystem system(SysOptions("cli"));
  if (!system.Start().ok()) return 1;
  auto r = akt::Remoting::Enable(system, Transport(mode));
  if (!r.ok()) {
    std::fprintf(stderr, "client: %s\n", r.status().ToString().c_str());
    return 1;
  }
  akt::Remoting* remoting = *r;
  std::string ep = child.endpoint();
  if (base.rfind("grain_", 0) == 0) {
    int rc = RunGrainRemoteClient(workload, *remoting, ep);
    system.Stop().IgnoreError();
    return rc;
  }
  std::string target = base == "remote_oneway" ? "sink" : "pong";
  auto pid = remoting->Lookup(ep, target, 10s);
  if (!pid.ok()) {
    std::fprintf(stderr, "lookup: %s\n", pid.status().ToString().c_str());
    return 1;
  }
  std::latch done(1);
  if (base == "remote_pingpong") {
    int64_t n = EnvInt("RPP_N", 100000);
    std::vector<int64_t> rt;
    rt.reserve(static_cast<std::size_t>(n));
    auto p = system.Spawn<Pinger>("pinger", *pid, n, &rt, &done);
    auto t0 = BClock::now();
    p->Tell(std::string("go")).IgnoreError();
    done.wait();
    double secs = akt_bench::SecondsSince(t0);
    Report(workload, "roundtrips_per_sec", static_cast<double>(n) / secs, "rt/s");
    Report(workload, "p50_rt_us", Percentile(rt, 0.50) / 1000.0, "us");
    Report(workload, "p99_rt_us", Percentile(rt, 0.99) / 1000.0, "us");
  } else if (base == "remote_oneway") {
    int64_t n = EnvInt("RTP_N", 1000000);
    std::atomic<double> server_rss{0};
    auto s = system.Spawn<Streamer>("streamer", *pid, n, &server_rss, &done);
    auto t0 = BClock::now();
    s->Tell(std::string("go")).IgnoreError();
    done.wait();
    double secs = akt_bench::SecondsSince(t0);
    auto st = remoting->Stats();
    Report(workload, "msgs_per_sec", static_cast<double>(n) / secs, "msg/s");
    Report(workload, "peak_rss_mb_client", PeakRssMb(), "MB");
    Report(workload, "peak_rss_mb_server", server_rss.load(), "MB");
    Report(workload, "frames_per_write", static_cast<double>(st.frames_sent) /
                                          static_cast<double>(std::max<uint64_t>(1, st.write_calls)),
        "x");
  } else {
    int64_t n = EnvInt("RASK_N", 200000);
    std::vector<int64_t> lat;
    lat.reserve(static_cast<std::size_t>(n));
    auto a = system.Spawn<Asker>("asker", *pid, n, 64, &lat, &done);
    auto t0 = BClock::now();
    a->Tell(std::string("go")).IgnoreError();
    done.wait();
    double secs = akt_bench::SecondsSince(t0);
    Report(workload, "asks_per_sec", static_cast<double>(n) / secs, "asks/s");
    Report(workload, "p99_us", Percentile(lat, 0.99) / 1000.0, "us");
  }
  system.Stop().IgnoreError();
  return 0;
}

}  // namespace

// -1: not a remote workload.
int RunRemoteWorkload(int argc, char** argv) {
  std::string w = argv[1];
  if (w == "remote_server") return Server(argc > 2 ? argv[2] : "plain");
  if (w == "grain_tell_remote" || w == "grain_ask_remote") return Client(w, w, "plain");
  for (const char* base : {"remote_pingpong", "remote_oneway", "remote_ask"}) {
    std::string b = base;
    if (w == b) return Client(w, b, "plain");
    if (w == b + "_zstd") return Client(w, b, "zstd");
    if (w == b + "_tls") return Client(w, b, "tls");
  }
  return -1;
}
