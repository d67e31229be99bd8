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
//   passivation   PASSIVATION_N=1000000        rss_*_mb, heap_in_use_*_kb, passivations_per_sec
//   routing       ROUTING_N=10000000 ROUTEES=8 msgs_per_sec, peak_rss_mb
//   timers        TIMER_ACTORS=100000 TIMER_INTERVAL_MS=100 TIMER_SECONDS=5
//                 timer_fires_per_sec, fire_accuracy, cpu_percent, peak_rss_mb
//   remote_pingpong, remote_oneway, remote_ask (+ _zstd, _tls): see remote_bench.cc
//   grain_tell, grain_ask, grain_tell_remote, grain_ask_remote: see grain_bench.cc
// Exit status: 0 done, 2 bad usage, 3 unknown workload.
//
// What is timed matches the CAF and Erlang peers in bench/peers/.
#include <akt/akt.h>
#include <malloc.h>
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "bench_util.h"

namespace {

using akt_bench::EnvInt;
using akt_bench::PeakRssMb;
using akt_bench::Report;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

long ResidentBytes() {
  std::ifstream f("/proc/self/statm");
  long size = 0, resident = 0;
  f >> size >> resident;
  return resident * sysconf(_SC_PAGESIZE);
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
  Report("pingpong", "roundtrips_per_sec", n / s, "rt/s");
  Report("pingpong", "mean_roundtrip_ns", s * 1e9 / n, "ns");
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
  Report("fanin", "msgs_per_sec", senders * per / s, "msg/s");
  Report("fanin", "peak_rss_mb", PeakRssMb(), "MB");
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
  Report("ask_async", "asks_per_sec", n / s, "asks/s");
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
  Report("ask_blocking", "asks_per_sec", n / s, "asks/s");
  Report("ask_blocking", "mean_latency_ns", s * 1e9 / n, "ns");
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
  Report("spawn", "spawns_per_sec", n / spawn_s, "spawns/s");
  Report("spawn", "bytes_per_actor", static_cast<double>(rss1 - rss0) / n, "B");
  auto t1 = Clock::now();
  for (auto& p : pids) p.Stop();
  while (system.ActorCount() != 0) std::this_thread::yield();
  double stop_s = Seconds(Clock::now() - t1);
  Report("spawn", "stops_per_sec", n / stop_s, "stops/s");
  pids.clear();
  system.Stop().IgnoreError();
}

// ---------------------------------------------------------------- passivation
// Memory returns after mass passivation: RSS of the empty system, with N idle
// actors, and after all of them passivated (time-based, 200 ms idle).
void Passivation() {
  int64_t n = EnvInt("PASSIVATION_N", 1000000);
  akt::ActorSystem system(Options());
  system.Start().IgnoreError();
  akt::ActorFactory factory = [] { return std::make_unique<Idle>(); };
  auto options = akt::SpawnOptions().WithPassivation(akt::PassivationStrategy::TimeBased(200ms));
  // Warm the machinery with a small round first so the empty figure is fair.
  for (int i = 0; i < 1000; ++i) (void)system.Spawn("", factory, options);
  while (system.ActorCount() != 0) std::this_thread::sleep_for(10ms);
  std::this_thread::sleep_for(500ms);
  long empty = ResidentBytes();
  size_t used_empty = mallinfo2().uordblks;
  auto t0 = Clock::now();
  for (int64_t i = 0; i < n; ++i) (void)system.Spawn("", factory, options);
  long full = ResidentBytes();
  while (system.ActorCount() != 0 && Clock::now() - t0 < 120s) std::this_thread::sleep_for(10ms);
  double secs = Seconds(Clock::now() - t0);
  std::this_thread::sleep_for(1500ms);  // the manager trims 1 s after a mass passivation
  long after = ResidentBytes();
  size_t used_after = mallinfo2().uordblks;
  Report("passivation", "rss_empty_mb", empty / 1048576.0, "MB");
  Report("passivation", "rss_full_mb", full / 1048576.0, "MB");
  Report("passivation", "rss_after_mb", after / 1048576.0, "MB");
  Report("passivation", "rss_after_over_empty", static_cast<double>(after) / empty, "x");
  // Heap bytes in use (glibc mallinfo2): what akt still holds, without the
  // allocator's retention of freed pages that RSS also counts.
  Report("passivation", "heap_in_use_empty_kb", used_empty / 1024.0, "KB");
  Report("passivation", "heap_in_use_after_kb", used_after / 1024.0, "KB");
  Report("passivation", "passivations_per_sec", n / secs, "actors/s");
  system.Stop().IgnoreError();
}

// ---------------------------------------------------------------- routing
// A round-robin router (akt::SpawnRouter) over ROUTEES routees; a driver sends
// N Small messages to it in chunks of 1000, continuing through its own
// mailbox as the fanin senders do, then one RouteEnd per routee (round robin
// gives each routee exactly one, after all its data). Each routee counts what
// it processed and adds the count to the tally on its RouteEnd; the time ends
// when all routees have reported (the sum is checked to be N).
struct RouteEnd {};

struct RoutingTally {
  explicit RoutingTally(int64_t n) : routees(n) {}
  int64_t routees;
  std::atomic<int64_t> processed{0};
  std::atomic<int64_t> reported{0};
  Done done;
};

class Routee : public akt::Actor {
 public:
  explicit Routee(RoutingTally* tally) : tally_(tally) {}
  void Receive(akt::ReceiveContext& ctx) override {
    if (!ctx.Is<RouteEnd>()) {
      ++count_;
      return;
    }
    tally_->processed.fetch_add(count_, std::memory_order_relaxed);
    if (tally_->reported.fetch_add(1, std::memory_order_acq_rel) + 1 == tally_->routees) {
      tally_->done.Set();
    }
  }
  RoutingTally* tally_;
  int64_t count_ = 0;
};

class RouteDriver : public akt::Actor {
 public:
  RouteDriver(akt::PID router, int64_t total, int64_t routees)
      : router_(std::move(router)), left_(total), routees_(routees) {}
  void Receive(akt::ReceiveContext& ctx) override {
    if (!ctx.Is<Go>()) return;
    int64_t chunk = left_ < 1000 ? left_ : 1000;
    for (int64_t i = 0; i < chunk; ++i) ctx.Tell(router_, Small{i}).IgnoreError();
    left_ -= chunk;
    if (left_ > 0) {
      ctx.Tell(ctx.self(), Go{}).IgnoreError();
    } else {
      for (int64_t r = 0; r < routees_; ++r) ctx.Tell(router_, RouteEnd{}).IgnoreError();
    }
  }
  akt::PID router_;
  int64_t left_;
  int64_t routees_;
};

void Routing() {
  int64_t n = EnvInt("ROUTING_N", 10000000);
  int64_t routees = EnvInt("ROUTEES", 8);
  akt::ActorSystem system(Options());
  system.Start().IgnoreError();
  RoutingTally tally(routees);
  auto router = akt::SpawnRouter<Routee>(
      system, "router", akt::RouterOptions().WithPoolSize(static_cast<int>(routees)), &tally);
  if (!router.ok()) {
    std::fprintf(stderr, "routing: SpawnRouter failed: %s\n", router.status().ToString().c_str());
    std::exit(1);
  }
  auto driver = system.Spawn<RouteDriver>("driver", *router, n, routees).value();
  auto t0 = Clock::now();
  driver.Tell(Go{}).IgnoreError();
  tally.done.Wait();
  double s = Seconds(Clock::now() - t0);
  int64_t processed = tally.processed.load();
  if (processed != n) {
    std::fprintf(stderr, "routing: routees processed %lld of %lld\n",
                 static_cast<long long>(processed), static_cast<long long>(n));
    std::exit(1);
  }
  Report("routing", "msgs_per_sec", n / s, "msg/s");
  Report("routing", "peak_rss_mb", PeakRssMb(), "MB");
  system.Stop().IgnoreError();
}

// ---------------------------------------------------------------- timers
// TIMER_ACTORS actors, each with its own periodic schedule (Scheduler::Schedule,
// fixed rate on a grid) at TIMER_INTERVAL_MS, made in PreStart and cancelled in
// PostStop. Actor i's first tick comes interval * (1 + i / actors) after its
// start, so the phases spread evenly over an interval. Every tick processed
// bumps a sharded relaxed counter. Two intervals after all actors have armed
// their schedule (so all are ticking), a window of TIMER_SECONDS starts:
// timer_fires_per_sec = ticks processed in the window / window seconds;
// fire_accuracy = ticks processed / (actors * window * 1000 / interval);
// cpu_percent = process CPU time (getrusage RUSAGE_SELF, user + system, all
// threads) over the window / window wall time * 100.
struct Tick {};

struct alignas(64) FireShard {
  std::atomic<int64_t> n{0};
};
constexpr int kFireShards = 64;
FireShard g_fires[kFireShards];
std::atomic<int64_t> g_timers_armed{0};

int64_t TotalFires() {
  int64_t sum = 0;
  for (auto& s : g_fires) sum += s.n.load(std::memory_order_relaxed);
  return sum;
}

double CpuSeconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

class TimerActor : public akt::Actor {
 public:
  TimerActor(int64_t index, int64_t n, akt::Duration interval)
      : shard_(&g_fires[index % kFireShards]),
        first_(interval + interval * index / n),
        interval_(interval) {}
  akt::Status PreStart(akt::Context& ctx) override {
    auto r = ctx.system().scheduler().Schedule(ctx.self(), Tick{}, first_, interval_);
    if (!r.ok()) return r.status();
    tick_ = *r;
    g_timers_armed.fetch_add(1, std::memory_order_relaxed);
    return akt::Status();
  }
  void Receive(akt::ReceiveContext&) override { shard_->n.fetch_add(1, std::memory_order_relaxed); }
  akt::Status PostStop(akt::Context&) override {
    tick_.Cancel();
    return akt::Status();
  }
  FireShard* shard_;
  akt::Duration first_;
  akt::Duration interval_;
  akt::ScheduleRef tick_;
};

void Timers() {
  int64_t n = EnvInt("TIMER_ACTORS", 100000);
  int64_t interval_ms = EnvInt("TIMER_INTERVAL_MS", 100);
  int64_t seconds = EnvInt("TIMER_SECONDS", 5);
  akt::Duration interval = std::chrono::milliseconds(interval_ms);
  akt::ActorSystem system(Options());
  system.Start().IgnoreError();
  std::vector<akt::PID> pids;
  pids.reserve(n);
  for (int64_t i = 0; i < n; ++i) {
    auto pid = system.Spawn<TimerActor>("", i, n, interval);
    if (!pid.ok()) {
      std::fprintf(stderr, "timers: spawn failed: %s\n", pid.status().ToString().c_str());
      std::exit(1);
    }
    pids.push_back(std::move(*pid));
  }
  while (g_timers_armed.load(std::memory_order_relaxed) < n) std::this_thread::sleep_for(1ms);
  std::this_thread::sleep_for(2 * interval);
  auto t0 = Clock::now();
  int64_t fires0 = TotalFires();
  double cpu0 = CpuSeconds();
  std::this_thread::sleep_for(std::chrono::seconds(seconds));
  auto t1 = Clock::now();
  int64_t fires1 = TotalFires();
  double cpu1 = CpuSeconds();
  double wall = Seconds(t1 - t0);
  double fires = static_cast<double>(fires1 - fires0);
  double ideal = static_cast<double>(n) * wall * 1000.0 / static_cast<double>(interval_ms);
  Report("timers", "timer_fires_per_sec", fires / wall, "fires/s");
  Report("timers", "fire_accuracy", fires / ideal, "x");
  Report("timers", "cpu_percent", (cpu1 - cpu0) / wall * 100.0, "%");
  Report("timers", "peak_rss_mb", PeakRssMb(), "MB");
  pids.clear();
  system.Stop().IgnoreError();
}

}  // namespace

int RunRemoteWorkload(int argc, char** argv);  // remote_bench.cc
int RunGrainWorkload(int argc, char** argv);   // grain_bench.cc
int RunClusterWorkload(int argc, char** argv); // cluster_bench.cc

int main(int argc, char** argv) {
  if (argc > 1) {
    int rc = RunRemoteWorkload(argc, argv);
    if (rc >= 0) return rc;
    rc = RunGrainWorkload(argc, argv);
    if (rc >= 0) return rc;
    rc = RunClusterWorkload(argc, argv);
    if (rc >= 0) return rc;
  }
  const char* w = argc > 1 ? argv[1] : std::getenv("WORKLOAD");
  if (w == nullptr) {
    std::fprintf(stderr,
                 "usage: akt_bench "
                 "<pingpong|fanin|ask_async|ask_blocking|spawn|passivation|routing|timers>\n");
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
  } else if (workload == "passivation") {
    Passivation();
  } else if (workload == "routing") {
    Routing();
  } else if (workload == "timers") {
    Timers();
  } else {
    std::fprintf(stderr, "akt_bench: unknown workload %s\n", workload.c_str());
    return 3;
  }
  return 0;
}
