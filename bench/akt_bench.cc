// akt_bench: akt's local benchmark workloads (see BENCHMARKS.md).
//
//   akt_bench <workload>        prints  RESULT akt <workload> <metric> <value> <unit>
//
// Workloads and sizes (environment variables, defaults from BENCHMARKS.md):
//   pingpong      PP_N=1000000                 roundtrips_per_sec, mean_roundtrip_ns
//   fanin         FANIN_SENDERS=4 FANIN_PER_SENDER=2500000   msgs_per_sec, peak_rss_mb
//   ask_async     ASK_N=200000                 asks_per_sec
//   ask_blocking  ASK_N=200000                 asks_per_sec, mean_latency_ns
//   spawn         SPAWN_N=1000000              spawns_per_sec, stops_per_sec, bytes_per_actor
// Exit status: 0 done, 2 bad usage, 3 unknown workload.
//
// What is timed matches the CAF and Erlang peers in bench/peers/.
#include <akt/akt.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "envelope.h"

namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

int64_t EnvInt(const char* name, int64_t fallback) {
  const char* v = std::getenv(name);
  return v != nullptr ? std::atoll(v) : fallback;
}

void Result(const char* workload, const char* metric, double value, const char* unit) {
  std::printf("RESULT akt %s %s %.6g %s\n", workload, metric, value, unit);
  std::fflush(stdout);
}

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

long ResidentBytes() {
  std::ifstream f("/proc/self/statm");
  long size = 0, resident = 0;
  f >> size >> resident;
  return resident * sysconf(_SC_PAGESIZE);
}

double PeakRssMb() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::atof(line.c_str() + 6) / 1024.0;
  }
  return 0;
}

akt::SystemOptions Options() {
  akt::SystemOptions o;
  o.name = "bench";
  o.logger = akt::MakeStderrLogger(akt::LogLevel::kWarn);
  return o;
}

// Signals the main thread once, without a sleep loop.
struct Done {
  std::atomic<int> flag{0};
  void Set() {
    flag.store(1, std::memory_order_release);
    flag.notify_all();
  }
  void Wait() { flag.wait(0, std::memory_order_acquire); }
};

// ---------------------------------------------------------------- pingpong
struct Ball {
  int64_t left;
};

class Pinger : public akt::Actor {
 public:
  explicit Pinger(Done* done) : done_(done) {}
  void Receive(akt::ReceiveContext& ctx) override {
    if (auto* b = ctx.As<Ball>()) {
      if (b->left == 0) {
        done_->Set();
      } else {
        ctx.Reply(Ball{b->left - 1}).IgnoreError();
      }
    }
  }
  Done* done_;
};

class Ponger : public akt::Actor {
 public:
  void Receive(akt::ReceiveContext& ctx) override {
    if (auto* b = ctx.As<Ball>()) ctx.Reply(Ball{b->left}).IgnoreError();
  }
};

void PingPong() {
  int64_t n = EnvInt("PP_N", 1000000);
  akt::ActorSystem system(Options());
  system.Start().IgnoreError();
  Done done;
  auto ping = system.Spawn<Pinger>("ping", &done).value();
  auto pong = system.Spawn<Ponger>("pong").value();
  auto t0 = Clock::now();
  // pong is the sender, so ping's replies go to pong and back.
  ping.Forward(Ball{n}, pong).IgnoreError();
  done.Wait();
  double s = Seconds(Clock::now() - t0);
  Result("pingpong", "roundtrips_per_sec", n / s, "rt/s");
  Result("pingpong", "mean_roundtrip_ns", s * 1e9 / n, "ns");
  system.Stop().IgnoreError();
}

// ---------------------------------------------------------------- fanin
struct Go {};
struct Small {
  int64_t v;
};

class FanReceiver : public akt::Actor {
 public:
  FanReceiver(int64_t expected, Done* done) : expected_(expected), done_(done) {}
  void Receive(akt::ReceiveContext&) override {
    if (++count_ == expected_) done_->Set();
  }
  int64_t expected_;
  int64_t count_ = 0;
  Done* done_;
};

class FanSender : public akt::Actor {
 public:
  FanSender(akt::PID target, int64_t total) : target_(std::move(target)), left_(total) {}
  void Receive(akt::ReceiveContext& ctx) override {
    if (!ctx.Is<Go>()) return;
    // Chunks of 1000, then continue through our own mailbox, so a sender
    // never monopolises a worker.
    int64_t chunk = left_ < 1000 ? left_ : 1000;
    for (int64_t i = 0; i < chunk; ++i) ctx.Tell(target_, Small{i}).IgnoreError();
    left_ -= chunk;
    if (left_ > 0) ctx.Tell(ctx.self(), Go{}).IgnoreError();
  }
  akt::PID target_;
  int64_t left_;
};

void FanIn() {
  int64_t senders = EnvInt("FANIN_SENDERS", 4);
  int64_t per = EnvInt("FANIN_PER_SENDER", 2500000);
  akt::ActorSystem system(Options());
  system.Start().IgnoreError();
  Done done;
  auto rx = system.Spawn<FanReceiver>("rx", senders * per, &done).value();
  std::vector<akt::PID> tx;
  for (int64_t i = 0; i < senders; ++i) {
    tx.push_back(system.Spawn<FanSender>("tx-" + std::to_string(i), rx, per).value());
  }
  auto t0 = Clock::now();
  for (auto& s : tx) s.Tell(Go{}).IgnoreError();
  done.Wait();
  double s = Seconds(Clock::now() - t0);
  Result("fanin", "msgs_per_sec", senders * per / s, "msg/s");
  Result("fanin", "peak_rss_mb", PeakRssMb(), "MB");
  if (std::getenv("AKT_BENCH_DEBUG") != nullptr) {
    auto st = akt::internal::GetEnvelopePoolStats();
    std::fprintf(stderr, "envelopes allocated %llu freed %llu\n",
                 static_cast<unsigned long long>(st.allocated),
                 static_cast<unsigned long long>(st.freed));
  }
  system.Stop().IgnoreError();
}

// ---------------------------------------------------------------- asks
struct Req {
  int64_t i;
};

class Server : public akt::Actor {
 public:
  void Receive(akt::ReceiveContext& ctx) override {
    if (auto* r = ctx.As<Req>()) ctx.Reply(r->i).IgnoreError();
  }
};

class AsyncAsker : public akt::Actor {
 public:
  AsyncAsker(akt::PID server, int64_t n, Done* done)
      : server_(std::move(server)), n_(n), done_(done) {}
  void Receive(akt::ReceiveContext& ctx) override {
    if (ctx.Is<Go>()) Next(ctx);
  }
  void Next(akt::ReceiveContext& ctx) {
    ctx.Request(server_, Req{i_}, 10s)
        .Then([this](akt::ReceiveContext& ctx, akt::Result<akt::Message> r) {
          if (!r.ok()) {
            std::fprintf(stderr, "ask failed: %s\n", r.status().ToString().c_str());
            std::exit(1);
          }
          if (++i_ == n_) {
            done_->Set();
          } else {
            Next(ctx);
          }
        });
  }
  akt::PID server_;
  int64_t n_;
  int64_t i_ = 0;
  Done* done_;
};

void AskAsync() {
  int64_t n = EnvInt("ASK_N", 200000);
  akt::ActorSystem system(Options());
  system.Start().IgnoreError();
  Done done;
  auto server = system.Spawn<Server>("server").value();
  auto asker = system.Spawn<AsyncAsker>("asker", server, n, &done).value();
  auto t0 = Clock::now();
  asker.Tell(Go{}).IgnoreError();
  done.Wait();
  double s = Seconds(Clock::now() - t0);
  Result("ask_async", "asks_per_sec", n / s, "asks/s");
  system.Stop().IgnoreError();
}

void AskBlocking() {
  int64_t n = EnvInt("ASK_N", 200000);
  akt::ActorSystem system(Options());
  system.Start().IgnoreError();
  auto server = system.Spawn<Server>("server").value();
  auto t0 = Clock::now();
  for (int64_t i = 0; i < n; ++i) {
    auto r = server.Ask<int64_t>(Req{i}, 10s);
    if (!r.ok() || *r != i) {
      std::fprintf(stderr, "ask failed: %s\n",
                   r.ok() ? "wrong reply" : r.status().ToString().c_str());
      std::exit(1);
    }
  }
  double s = Seconds(Clock::now() - t0);
  Result("ask_blocking", "asks_per_sec", n / s, "asks/s");
  Result("ask_blocking", "mean_latency_ns", s * 1e9 / n, "ns");
  system.Stop().IgnoreError();
}

// ---------------------------------------------------------------- spawn
class Idle : public akt::Actor {
 public:
  void Receive(akt::ReceiveContext&) override {}
};

void Spawn() {
  int64_t n = EnvInt("SPAWN_N", 1000000);
  akt::ActorSystem system(Options());
  system.Start().IgnoreError();
  std::vector<akt::PID> pids;
  pids.reserve(n);
  // Touch the vector's pages so they are not counted as actor memory.
  pids.resize(n);
  pids.clear();
  akt::ActorFactory factory = [] { return std::make_unique<Idle>(); };
  long rss0 = ResidentBytes();
  auto t0 = Clock::now();
  for (int64_t i = 0; i < n; ++i) pids.push_back(system.Spawn("", factory).value());
  double spawn_s = Seconds(Clock::now() - t0);
  long rss1 = ResidentBytes();
  Result("spawn", "spawns_per_sec", n / spawn_s, "spawns/s");
  Result("spawn", "bytes_per_actor", static_cast<double>(rss1 - rss0) / n, "B");
  auto t1 = Clock::now();
  for (auto& p : pids) p.Stop();
  while (system.ActorCount() != 0) std::this_thread::yield();
  double stop_s = Seconds(Clock::now() - t1);
  Result("spawn", "stops_per_sec", n / stop_s, "stops/s");
  pids.clear();
  system.Stop().IgnoreError();
}

}  // namespace

int main(int argc, char** argv) {
  const char* w = argc > 1 ? argv[1] : std::getenv("WORKLOAD");
  if (w == nullptr) {
    std::fprintf(stderr, "usage: akt_bench <pingpong|fanin|ask_async|ask_blocking|spawn>\n");
    return 2;
  }
  std::string workload = w;
  if (workload == "pingpong") {
    PingPong();
  } else if (workload == "fanin") {
    FanIn();
  } else if (workload == "ask_async") {
    AskAsync();
  } else if (workload == "ask_blocking") {
    AskBlocking();
  } else if (workload == "spawn") {
    Spawn();
  } else {
    std::fprintf(stderr, "akt_bench: unknown workload %s\n", workload.c_str());
    return 3;
  }
  return 0;
}
