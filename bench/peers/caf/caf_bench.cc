// caf_bench: the CAF 0.17 peer for akt's local and remote benchmark
// workloads (see BENCHMARKS.md). It does what `akt_bench <workload>` does, with CAF's
// idioms, and prints one line per figure:
//
//   RESULT caf <workload> <metric> <value> <unit>
//
// Usage (CAF options go before the workload, as CAF's CLI parser wants):
//
//   caf_bench [--scheduler.max-threads=N] [other CAF options] <workload>
//
// The workload is the first positional argument; if there is none, the
// environment variable WORKLOAD names it. Workloads and their size variables
// (defaults from BENCHMARKS.md):
//
//   pingpong      PP_N=1000000           roundtrips_per_sec, mean_roundtrip_ns
//   fanin         FANIN_SENDERS=4,       msgs_per_sec, peak_rss_mb
//                 FANIN_PER_SENDER=2500000
//   ask_async     ASK_N=200000           asks_per_sec
//   ask_blocking  ASK_N=200000           asks_per_sec, mean_latency_ns
//   spawn         SPAWN_N=1000000        spawns_per_sec, stops_per_sec,
//                                        bytes_per_actor
//   routing       ROUTING_N=10000000,    msgs_per_sec, peak_rss_mb
//                 ROUTEES=8
//   timers        TIMER_ACTORS=100000,   timer_fires_per_sec, fire_accuracy,
//                 TIMER_INTERVAL_MS=100, cpu_percent, peak_rss_mb
//                 TIMER_SECONDS=5
//   remote_pingpong  RPP_N=100000        roundtrips_per_sec, p50_rt_us,
//                                        p99_rt_us
//   remote_oneway    RTP_N=1000000       msgs_per_sec, peak_rss_mb_client,
//                                        peak_rss_mb_server
//   remote_ask       RASK_N=200000       asks_per_sec, p99_us
//                    (64 requests in flight)
//   grain_tell         GRAIN_N=10000,      activations_per_sec, msgs_per_sec
//                      GRAIN_MSGS=1000000
//   grain_ask          GRAIN_N,            asks_per_sec
//                      GRAIN_ASK_N=200000
//   grain_tell_remote  as grain_tell       activations_per_sec, msgs_per_sec
//   grain_ask_remote   as grain_ask        asks_per_sec
//
// The remote workloads (remote_* and grain_*_remote) need CAF's caf_io (the
// middleman); a caf_bench built without it exits with 3 for them. Each runs
// two processes on loopback: this program re-executes itself (/proc/self/exe,
// same CAF options, same environment) as `caf_bench [options] remote_server`
// (or `... grain_host` for the grain workloads), before any actor system
// exists. The server publishes one server actor (or the grain host) on
// 127.0.0.1, port 0 (the kernel picks a
// free port), and prints `PORT <n>` on its stdout, a pipe the client reads;
// the client (this process) then gets a proxy with remote_actor() and drives
// the workload. The server lives until its stdin (a pipe from the client)
// closes; it dies with the client (PR_SET_PDEATHSIG) in any case. The client
// has a deadline (REMOTE_TIMEOUT_S, default 240 s): past it, it kills the
// server and exits with 1; at the end it closes the pipe and waits for the
// server at most 10 s before killing it.
//
// We use our own main() instead of CAF_MAIN so that an unknown workload can
// fail before the actor system starts; it does what CAF_MAIN does otherwise
// (cfg.parse, then actor_system). Diagnostics go to stderr; stdout carries
// only RESULT lines. Exit status: 0 done, 2 bad command line, 3 unknown
// workload (scripts/bench reads 3 as "not implemented here": an empty cell).
//
// What is timed:
// - pingpong: from the start message to the ping actor until the main thread
//   has the "done" message after N round trips (one message in flight).
// - fanin: from the "go" messages to the senders until the receiver has
//   processed all SENDERS * PER_SENDER messages. Each sender sends chunks of
//   kFaninChunk messages and then messages itself to continue, so it does not
//   monopolise a worker. Peak RSS is VmHWM from /proc/self/status at the end.
// - ask_async: an actor issues N sequential request(...).then(...) to a server
//   actor, each next request from the previous reply's handler.
// - ask_blocking: the main thread (scoped_actor) issues N sequential blocking
//   request(...).receive(...).
// - spawn: spawns N trivial (idle, one handler) actors and keeps their handles;
//   the spawn phase ends when all N have run their initialisation (so they are
//   live and idle). bytes_per_actor = resident-set growth (/proc/self/statm)
//   from before the first spawn to the end of the spawn phase, divided by N;
//   the handle vector is allocated and touched beforehand, so it is not
//   counted. Then every actor gets an exit message (exit_reason::kill); the
//   stop phase ends when all N have run their cleanup (state destructor).
// - routing: a round-robin actor pool (caf::actor_pool::make with
//   actor_pool::round_robin()) over ROUTEES workers; a driver actor sends N
//   small messages (int64) to the pool in chunks of kFaninChunk, continuing
//   through its own mailbox as the fanin senders do, then one end marker per
//   routee (round robin gives each routee exactly one, after all its data).
//   Each routee counts what it processed and, on its marker, sends the count
//   to the main thread; the time ends when all ROUTEES counts are in (their sum
//   is checked to be N). CAF's pool is not an actor with a mailbox: it picks
//   the worker inside the sender's enqueue, so there is no router hop.
// - timers: TIMER_ACTORS actors, each with its own periodic timer at
//   TIMER_INTERVAL_MS on a fixed-rate grid: on start and on every tick the
//   actor calls scheduled_send(self, next, tick) with next = previous grid
//   point + interval (grid points already passed are skipped, as akt's
//   Scheduler does). Actor i's first tick comes interval * (1 + i / actors)
//   after its start, so the phases spread evenly over an interval. Every
//   tick processed bumps a sharded relaxed counter. Two intervals after all
//   actors have armed their first timer (so all are ticking), the window of
//   TIMER_SECONDS starts: timer_fires_per_sec = ticks processed in the window
//   / window seconds; fire_accuracy = ticks processed / (actors * window *
//   1000 / interval); cpu_percent = process CPU time (getrusage RUSAGE_SELF,
//   user + system, all threads) over the window / window wall time * 100.
// - remote_pingpong: a client actor sends (ping, i) to the remote server
//   actor, which sends (pong, i) back to the sender; the next ping goes out
//   from the pong handler (one message in flight), RPP_N round trips. Timed
//   from the start message to the client until the main thread has "done";
//   each round trip is timed on its own (steady_clock, pong to pong) for the
//   p50 and p99.
// - remote_oneway: a client actor sends RTP_N int64 messages to the remote
//   server actor in chunks of kFaninChunk, continuing through its own mailbox
//   as the fanin senders do, then one request (end); the server counts what
//   it processed and answers the end request with its count and its own peak
//   RSS (VmHWM). CAF keeps the order per sender, so the answer means all were
//   processed. Timed from the start message until the main thread has the
//   answer; the count is checked to be RTP_N. peak_rss_mb_client is this
//   process's VmHWM at the end.
// - remote_ask: a client actor keeps 64 request(server, ask, i).then(...) in
//   flight (each answer issues the next request) until RASK_N answers are in;
//   the server answers i + 1. Each ask is timed from request to its answer
//   for the p99.
// - grain_tell: "grains" are actors spawned on their first message and found
//   by name. The names "g-0" .. "g-<GRAIN_N - 1>" are built beforehand (not
//   timed); the main thread (the driver) looks every name up in its own
//   name -> actor table (std::unordered_map<std::string, actor>) for every
//   message, and a miss spawns the grain and records it (the activation).
//   Messages are one-way anon_send(grain, int64) from the main thread. Each
//   grain counts its messages and sends a notice to a collector actor when its
//   count reaches 1 and when it reaches 1 + GRAIN_MSGS / GRAIN_N; the
//   collector tells the main thread when it has GRAIN_N notices. Phase A sends
//   one message to each name (each spawns its grain) and ends when the
//   collector has GRAIN_N notices: activations_per_sec = GRAIN_N / phase A
//   seconds. Phase B sends GRAIN_MSGS messages round robin (message i to name
//   i % GRAIN_N) and ends likewise: msgs_per_sec = GRAIN_MSGS / phase B
//   seconds.
// - grain_ask: the main thread (scoped_actor) issues GRAIN_ASK_N sequential
//   blocking request(grain, ask).receive(...), round robin over the names (ask
//   i to name i % GRAIN_N, looked up in the table, spawned on a miss); the
//   grain counts the ask as a message and answers its count, which is checked
//   (ask i gets i / GRAIN_N + 1).
// - grain_tell_remote / grain_ask_remote: the grains live in the server
//   process, under a grain host actor (the published one) with its own
//   name -> actor table and the collector. The driver (main thread, a
//   scoped_actor holding the host's proxy) sends (name, int64) to the host,
//   which looks the name up, spawns on a miss and forwards the int64 to the
//   grain. After each phase's sends the driver makes one blocking
//   request(host, wait), which the host delegates to the collector, which
//   answers once it has GRAIN_N notices: the phase ends with that answer.
//   For grain_ask_remote the driver's request(host, ask, name) is delegated
//   by the host to the grain (CAF's delegate: the grain's answer goes straight
//   back to the requester in the client process). Same figures and checks as
//   the local variants.

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "caf/all.hpp"

// Whether caf_io (remoting) is there: the CMake build says so; a bare compile
// guesses from the headers.
#ifndef AKT_CAF_HAS_IO
#if __has_include("caf/io/all.hpp")
#define AKT_CAF_HAS_IO 1
#else
#define AKT_CAF_HAS_IO 0
#endif
#endif
#if AKT_CAF_HAS_IO
#include "caf/io/all.hpp"
#endif

namespace {

using namespace caf;

using start_atom = atom_constant<atom("start")>;
using ping_atom = atom_constant<atom("ping")>;
using pong_atom = atom_constant<atom("pong")>;
using go_atom = atom_constant<atom("go")>;
using done_atom = atom_constant<atom("done")>;
using ask_atom = atom_constant<atom("ask")>;
using end_atom = atom_constant<atom("end")>;
using count_atom = atom_constant<atom("count")>;
using tick_atom = atom_constant<atom("tick")>;
using notice_atom = atom_constant<atom("notice")>;
using wait_atom = atom_constant<atom("wait")>;

using Clock = std::chrono::steady_clock;

constexpr int64_t kFaninChunk = 1000;

int64_t EnvSize(const char* name, int64_t fallback) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return fallback;
  char* end = nullptr;
  long long n = std::strtoll(v, &end, 10);
  if (end == v || *end != '\0' || n <= 0) {
    std::cerr << "caf_bench: ignoring bad " << name << "=" << v << "\n";
    return fallback;
  }
  return n;
}

double Seconds(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

void Report(const char* workload, const char* metric, double value, const char* unit) {
  std::printf("RESULT caf %s %s %.6g %s\n", workload, metric, value, unit);
  std::fflush(stdout);
}

// Resident set size in bytes, from /proc/self/statm (second field, pages).
int64_t RssBytes() {
  std::ifstream in("/proc/self/statm");
  int64_t size_pages = 0, resident_pages = 0;
  in >> size_pages >> resident_pages;
  return resident_pages * static_cast<int64_t>(sysconf(_SC_PAGESIZE));
}

// Peak resident set size (VmHWM) in bytes, from /proc/self/status.
int64_t PeakRssBytes() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmHWM:", 0) == 0) {
      return std::strtoll(line.c_str() + 6, nullptr, 10) * 1024;  // kB
    }
  }
  return -1;
}

// -- pingpong ----------------------------------------------------------------

behavior PongActor(event_based_actor* self) {
  return {
      [=](ping_atom, int64_t x) {
        self->send(actor_cast<actor>(self->current_sender()), pong_atom::value, x);
      },
  };
}

behavior PingActor(event_based_actor* self, actor pong, int64_t n, actor report_to) {
  return {
      [=](start_atom) { self->send(pong, ping_atom::value, int64_t{0}); },
      [=](pong_atom, int64_t x) {
        // x round trips finished before this one; this reply completes x+1.
        if (x + 1 >= n) {
          self->send(report_to, done_atom::value);
          self->quit();
        } else {
          self->send(pong, ping_atom::value, x + 1);
        }
      },
  };
}

void RunPingpong(actor_system& sys) {
  const int64_t n = EnvSize("PP_N", 1000000);
  scoped_actor self{sys};
  auto pong = sys.spawn(PongActor);
  auto ping = sys.spawn(PingActor, pong, n, actor{self});
  auto t0 = Clock::now();
  self->send(ping, start_atom::value);
  self->receive([](done_atom) {});
  auto t1 = Clock::now();
  double s = Seconds(t0, t1);
  Report("pingpong", "roundtrips_per_sec", double(n) / s, "rt/s");
  Report("pingpong", "mean_roundtrip_ns", s * 1e9 / double(n), "ns");
  self->send_exit(pong, exit_reason::user_shutdown);
}

// -- fanin -------------------------------------------------------------------

struct ReceiverState {
  int64_t count = 0;
};

behavior ReceiverActor(stateful_actor<ReceiverState>* self, int64_t total, actor report_to) {
  return {
      [=](int64_t) {
        if (++self->state.count == total) {
          self->send(report_to, done_atom::value);
          self->quit();
        }
      },
  };
}

struct SenderState {
  int64_t left = 0;
};

behavior SenderActor(stateful_actor<SenderState>* self, actor receiver, int64_t per_sender) {
  self->state.left = per_sender;
  return {
      [=](go_atom) {
        int64_t k = std::min(kFaninChunk, self->state.left);
        for (int64_t i = 0; i < k; ++i) self->send(receiver, i);
        self->state.left -= k;
        if (self->state.left > 0) {
          self->send(self, go_atom::value);
        } else {
          self->quit();
        }
      },
  };
}

void RunFanin(actor_system& sys) {
  const int64_t senders = EnvSize("FANIN_SENDERS", 4);
  const int64_t per_sender = EnvSize("FANIN_PER_SENDER", 2500000);
  const int64_t total = senders * per_sender;
  scoped_actor self{sys};
  auto receiver = sys.spawn(ReceiverActor, total, actor{self});
  std::vector<actor> sender_actors;
  for (int64_t i = 0; i < senders; ++i) {
    sender_actors.push_back(sys.spawn(SenderActor, receiver, per_sender));
  }
  auto t0 = Clock::now();
  for (auto& s : sender_actors) self->send(s, go_atom::value);
  self->receive([](done_atom) {});
  auto t1 = Clock::now();
  Report("fanin", "msgs_per_sec", double(total) / Seconds(t0, t1), "msg/s");
  Report("fanin", "peak_rss_mb", double(PeakRssBytes()) / 1048576.0, "MB");
}

// -- ask_async / ask_blocking --------------------------------------------------

behavior AskServer(event_based_actor*) {
  return {
      [](ask_atom, int64_t x) { return x + 1; },
  };
}

struct AskerState {
  actor server;
  actor report_to;
  int64_t n = 0;
  int64_t i = 0;
};

void AskNext(stateful_actor<AskerState>* self) {
  self->request(self->state.server, infinite, ask_atom::value, self->state.i)
      .then([=](int64_t reply) {
        auto& st = self->state;
        if (reply != st.i + 1) {
          std::cerr << "caf_bench: ask_async got a wrong reply\n";
          std::abort();
        }
        if (++st.i == st.n) {
          self->send(st.report_to, done_atom::value);
          self->quit();
        } else {
          AskNext(self);
        }
      });
}

behavior AskerActor(stateful_actor<AskerState>* self, actor server, int64_t n, actor report_to) {
  self->state.server = std::move(server);
  self->state.report_to = std::move(report_to);
  self->state.n = n;
  return {
      [=](start_atom) { AskNext(self); },
  };
}

void RunAskAsync(actor_system& sys) {
  const int64_t n = EnvSize("ASK_N", 200000);
  scoped_actor self{sys};
  auto server = sys.spawn(AskServer);
  auto asker = sys.spawn(AskerActor, server, n, actor{self});
  auto t0 = Clock::now();
  self->send(asker, start_atom::value);
  self->receive([](done_atom) {});
  auto t1 = Clock::now();
  Report("ask_async", "asks_per_sec", double(n) / Seconds(t0, t1), "asks/s");
  self->send_exit(server, exit_reason::user_shutdown);
}

void RunAskBlocking(actor_system& sys) {
  const int64_t n = EnvSize("ASK_N", 200000);
  scoped_actor self{sys};
  auto server = sys.spawn(AskServer);
  bool failed = false;
  auto t0 = Clock::now();
  for (int64_t i = 0; i < n && !failed; ++i) {
    self->request(server, infinite, ask_atom::value, i)
        .receive(
            [&](int64_t reply) {
              if (reply != i + 1) failed = true;
            },
            [&](error& err) {
              std::cerr << "caf_bench: ask_blocking: " << sys.render(err) << "\n";
              failed = true;
            });
  }
  auto t1 = Clock::now();
  self->send_exit(server, exit_reason::user_shutdown);
  if (failed) {
    std::cerr << "caf_bench: ask_blocking failed\n";
    return;
  }
  double s = Seconds(t0, t1);
  Report("ask_blocking", "asks_per_sec", double(n) / s, "asks/s");
  Report("ask_blocking", "mean_latency_ns", s * 1e9 / double(n), "ns");
}

// -- spawn -------------------------------------------------------------------

std::atomic<int64_t> g_started{0};
std::atomic<int64_t> g_stopped{0};

// Empty apart from counting its destruction, which CAF runs in on_exit, i.e.
// when the actor has stopped.
struct IdleState {
  ~IdleState() { g_stopped.fetch_add(1, std::memory_order_relaxed); }
};

behavior IdleActor(stateful_actor<IdleState>*) {
  g_started.fetch_add(1, std::memory_order_relaxed);
  return {
      [](int64_t) {},
  };
}

void WaitUntil(const std::atomic<int64_t>& counter, int64_t target) {
  while (counter.load(std::memory_order_acquire) < target) {
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
}

void RunSpawn(actor_system& sys) {
  const int64_t n = EnvSize("SPAWN_N", 1000000);
  std::vector<actor> actors(static_cast<size_t>(n));  // touched: not counted
  int64_t rss0 = RssBytes();
  auto t0 = Clock::now();
  for (auto& a : actors) a = sys.spawn(IdleActor);
  WaitUntil(g_started, n);
  auto t1 = Clock::now();
  int64_t rss1 = RssBytes();
  for (auto& a : actors) anon_send_exit(a, exit_reason::kill);
  WaitUntil(g_stopped, n);
  auto t2 = Clock::now();
  actors.clear();
  Report("spawn", "spawns_per_sec", double(n) / Seconds(t0, t1), "spawns/s");
  Report("spawn", "stops_per_sec", double(n) / Seconds(t1, t2), "stops/s");
  Report("spawn", "bytes_per_actor", double(rss1 - rss0) / double(n), "B");
}

// -- routing -----------------------------------------------------------------

struct RouteeState {
  int64_t count = 0;
};

behavior RouteeActor(stateful_actor<RouteeState>* self, actor report_to) {
  return {
      [=](int64_t) { ++self->state.count; },
      [=](end_atom) { self->send(report_to, count_atom::value, self->state.count); },
  };
}

struct DriverState {
  int64_t left = 0;
};

behavior DriverActor(stateful_actor<DriverState>* self, actor pool, int64_t n, int64_t routees) {
  self->state.left = n;
  return {
      [=](go_atom) {
        int64_t k = std::min(kFaninChunk, self->state.left);
        for (int64_t i = 0; i < k; ++i) self->send(pool, i);
        self->state.left -= k;
        if (self->state.left > 0) {
          self->send(self, go_atom::value);
        } else {
          for (int64_t r = 0; r < routees; ++r) self->send(pool, end_atom::value);
          self->quit();
        }
      },
  };
}

void RunRouting(actor_system& sys) {
  const int64_t n = EnvSize("ROUTING_N", 10000000);
  const int64_t routees = EnvSize("ROUTEES", 8);
  scoped_actor self{sys};
  actor report_to{self};
  auto pool = actor_pool::make(
      sys.dummy_execution_unit(), static_cast<size_t>(routees),
      [&] { return sys.spawn(RouteeActor, report_to); }, actor_pool::round_robin());
  auto driver = sys.spawn(DriverActor, pool, n, routees);
  auto t0 = Clock::now();
  self->send(driver, go_atom::value);
  int64_t processed = 0;
  for (int64_t r = 0; r < routees; ++r) {
    self->receive([&](count_atom, int64_t c) { processed += c; });
  }
  auto t1 = Clock::now();
  self->send_exit(pool, exit_reason::user_shutdown);
  if (processed != n) {
    std::cerr << "caf_bench: routing: routees processed " << processed << " of " << n << "\n";
    return;
  }
  Report("routing", "msgs_per_sec", double(n) / Seconds(t0, t1), "msg/s");
  Report("routing", "peak_rss_mb", double(PeakRssBytes()) / 1048576.0, "MB");
}

// -- timers ------------------------------------------------------------------

// Ticks processed, sharded so that 100k actors on every worker do not all
// bump one cache line.
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
  return double(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         double(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

struct TimerState {
  actor_clock::time_point next;
};

behavior TimerActor(stateful_actor<TimerState>* self, int64_t index, int64_t n, timespan interval) {
  // The first tick comes after interval * (1 + index / n): phases spread
  // evenly over one interval, whatever the spawn speed.
  self->state.next = self->clock().now() + interval + interval * index / n;
  self->scheduled_send(self, self->state.next, tick_atom::value);
  g_timers_armed.fetch_add(1, std::memory_order_relaxed);
  FireShard* shard = &g_fires[index % kFireShards];
  return {
      [=](tick_atom) {
        shard->n.fetch_add(1, std::memory_order_relaxed);
        auto now = self->clock().now();
        auto& next = self->state.next;
        next += interval;
        while (next <= now) next += interval;  // skip grid points already missed
        self->scheduled_send(self, next, tick_atom::value);
      },
  };
}

void RunTimers(actor_system& sys) {
  const int64_t n = EnvSize("TIMER_ACTORS", 100000);
  const int64_t interval_ms = EnvSize("TIMER_INTERVAL_MS", 100);
  const int64_t seconds = EnvSize("TIMER_SECONDS", 5);
  const timespan interval = std::chrono::milliseconds(interval_ms);
  std::vector<actor> actors;
  actors.reserve(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) actors.push_back(sys.spawn(TimerActor, i, n, interval));
  WaitUntil(g_timers_armed, n);
  // Two intervals later every actor is ticking: the window starts then.
  std::this_thread::sleep_for(2 * interval);
  auto t0 = Clock::now();
  int64_t fires0 = TotalFires();
  double cpu0 = CpuSeconds();
  std::this_thread::sleep_for(std::chrono::seconds(seconds));
  auto t1 = Clock::now();
  int64_t fires1 = TotalFires();
  double cpu1 = CpuSeconds();
  double wall = Seconds(t0, t1);
  double fires = double(fires1 - fires0);
  double ideal = double(n) * wall * 1000.0 / double(interval_ms);
  Report("timers", "timer_fires_per_sec", fires / wall, "fires/s");
  Report("timers", "fire_accuracy", fires / ideal, "x");
  Report("timers", "cpu_percent", (cpu1 - cpu0) / wall * 100.0, "%");
  Report("timers", "peak_rss_mb", double(PeakRssBytes()) / 1048576.0, "MB");
  for (auto& a : actors) anon_send_exit(a, exit_reason::kill);
}

// -- grains (grain_tell, grain_ask; the actors of the remote variants too) -----

// A grain counts the messages it processed (an ask counts as one). It sends a
// notice to the collector (if any) when its count reaches 1 (phase A) and when
// it reaches `target` (phase B).
struct GrainState {
  int64_t count = 0;
};

behavior GrainActor(stateful_actor<GrainState>* self, actor collector, int64_t target) {
  return {
      [=](int64_t) {
        int64_t c = ++self->state.count;
        if ((c == 1 || c == target) && collector) self->send(collector, notice_atom::value);
      },
      [=](ask_atom) { return ++self->state.count; },
  };
}

// Counts notices; a phase is complete when it has `n`. Then it sends done to
// report_to (the local driver) or, without one, answers the pending wait
// request (the remote driver, through the grain host). Either way it starts
// counting the next phase from 0.
struct CollectorState {
  int64_t count = 0;
  bool waiting = false;
  response_promise waiter;
};

behavior CollectorActor(stateful_actor<CollectorState>* self, int64_t n, actor report_to) {
  return {
      [=](notice_atom) {
        auto& st = self->state;
        if (++st.count < n) return;
        if (report_to) {
          st.count = 0;
          self->send(report_to, done_atom::value);
        } else if (st.waiting) {
          st.count = 0;
          st.waiting = false;
          st.waiter.deliver(int64_t{n});
        }
      },
      [=](wait_atom) -> result<int64_t> {
        auto& st = self->state;
        if (st.count >= n) {
          st.count = 0;
          return int64_t{n};
        }
        st.waiter = self->make_response_promise();
        st.waiting = true;
        return st.waiter;
      },
  };
}

using GrainTable = std::unordered_map<std::string, actor>;

std::vector<std::string> GrainNames(int64_t n) {
  std::vector<std::string> names;
  names.reserve(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) names.push_back("g-" + std::to_string(i));
  return names;
}

// Phase B's notice threshold: 1 + GRAIN_MSGS / GRAIN_N (exact when GRAIN_N
// divides GRAIN_MSGS, as with the defaults).
int64_t GrainTarget(int64_t n, int64_t msgs) {
  if (msgs % n != 0) {
    std::cerr << "caf_bench: GRAIN_MSGS=" << msgs << " is not a multiple of GRAIN_N=" << n
              << ": phase B ends when every grain has 1 + " << msgs / n << " messages\n";
  }
  return 1 + msgs / n;
}

// How long a local phase may wait for the collector before it counts as failed.
constexpr auto kGrainStepTimeout = std::chrono::seconds(120);

void KillAll(const GrainTable& table) {
  for (auto& kv : table) anon_send_exit(kv.second, exit_reason::kill);
}

void RunGrainTell(actor_system& sys) {
  const int64_t n = EnvSize("GRAIN_N", 10000);
  const int64_t msgs = EnvSize("GRAIN_MSGS", 1000000);
  const int64_t target = GrainTarget(n, msgs);
  const auto names = GrainNames(n);
  scoped_actor self{sys};
  auto collector = sys.spawn(CollectorActor, n, actor{self});
  GrainTable table;
  table.reserve(static_cast<size_t>(n));
  auto lookup = [&](const std::string& name) -> const actor& {
    auto it = table.find(name);
    if (it == table.end()) it = table.emplace(name, sys.spawn(GrainActor, collector, target)).first;
    return it->second;
  };
  bool failed = false;
  auto wait_phase = [&](const char* phase) {
    self->receive([](done_atom) {},
                  after(kGrainStepTimeout) >> [&] {
                    std::cerr << "caf_bench: grain_tell: phase " << phase << " did not complete\n";
                    failed = true;
                  });
  };
  auto t0 = Clock::now();
  for (int64_t i = 0; i < n; ++i) anon_send(lookup(names[static_cast<size_t>(i)]), i);
  wait_phase("A");
  auto t1 = Clock::now();
  if (!failed) {
    size_t j = 0;
    for (int64_t i = 0; i < msgs; ++i) {
      anon_send(lookup(names[j]), i);
      if (++j == names.size()) j = 0;
    }
    wait_phase("B");
  }
  auto t2 = Clock::now();
  const auto grains = table.size();
  KillAll(table);
  anon_send_exit(collector, exit_reason::kill);
  if (failed) return;
  if (grains != static_cast<size_t>(n)) {
    std::cerr << "caf_bench: grain_tell: " << grains << " grains for " << n << " names\n";
    return;
  }
  Report("grain_tell", "activations_per_sec", double(n) / Seconds(t0, t1), "act/s");
  Report("grain_tell", "msgs_per_sec", double(msgs) / Seconds(t1, t2), "msg/s");
}

void RunGrainAsk(actor_system& sys) {
  const int64_t n = EnvSize("GRAIN_N", 10000);
  const int64_t asks = EnvSize("GRAIN_ASK_N", 200000);
  const auto names = GrainNames(n);
  scoped_actor self{sys};
  GrainTable table;
  table.reserve(static_cast<size_t>(n));
  auto lookup = [&](const std::string& name) -> const actor& {
    auto it = table.find(name);
    if (it == table.end()) it = table.emplace(name, sys.spawn(GrainActor, actor{}, int64_t{0})).first;
    return it->second;
  };
  bool failed = false;
  size_t j = 0;
  auto t0 = Clock::now();
  for (int64_t i = 0; i < asks && !failed; ++i) {
    self->request(lookup(names[j]), infinite, ask_atom::value)
        .receive(
            [&](int64_t count) {
              if (count != i / n + 1) failed = true;
            },
            [&](error& err) {
              std::cerr << "caf_bench: grain_ask: " << sys.render(err) << "\n";
              failed = true;
            });
    if (++j == names.size()) j = 0;
  }
  auto t1 = Clock::now();
  KillAll(table);
  if (failed) {
    std::cerr << "caf_bench: grain_ask failed (an error or a wrong count)\n";
    return;
  }
  Report("grain_ask", "asks_per_sec", double(asks) / Seconds(t0, t1), "asks/s");
}

// -- remote workloads ----------------------------------------------------------

bool IsRemoteWorkload(const std::string& w) {
  return w == "remote_pingpong" || w == "remote_oneway" || w == "remote_ask" ||
         w == "remote_server" || w == "grain_tell_remote" || w == "grain_ask_remote" ||
         w == "grain_host";
}

#if AKT_CAF_HAS_IO

using stop_atom = atom_constant<atom("stop")>;

constexpr int kAskInFlight = 64;

int64_t ElapsedNs(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(b - a).count();
}

// The q-quantile (nearest rank) of the samples; reorders them.
double Percentile(std::vector<int64_t>& ns, double q) {
  if (ns.empty()) return 0;
  size_t k = static_cast<size_t>(q * double(ns.size() - 1) + 0.5);
  std::nth_element(ns.begin(), ns.begin() + static_cast<std::ptrdiff_t>(k), ns.end());
  return double(ns[k]);
}

// The server side: one actor for all three workloads.
struct RemoteServerState {
  int64_t count = 0;
};

behavior RemoteServerActor(stateful_actor<RemoteServerState>* self) {
  return {
      [=](ping_atom, int64_t x) {
        self->send(actor_cast<actor>(self->current_sender()), pong_atom::value, x);
      },
      [=](int64_t) { ++self->state.count; },
      [=](end_atom) {
        int64_t n = self->state.count;
        self->state.count = 0;
        return make_message(n, PeakRssBytes() / 1024);
      },
      [=](ask_atom, int64_t x) { return x + 1; },
  };
}

// The grain host (the server side of grain_tell_remote and grain_ask_remote):
// its own name -> grain table and the collector. Sizes come from the same
// environment as the client's (the child inherits it).
struct GrainHostState {
  GrainTable grains;
  actor collector;
  int64_t target = 0;
  ~GrainHostState() {
    KillAll(grains);
    if (collector) anon_send_exit(collector, exit_reason::kill);
  }
};

const actor& HostLookup(stateful_actor<GrainHostState>* self, const std::string& name) {
  auto& st = self->state;
  auto it = st.grains.find(name);
  if (it == st.grains.end()) {
    it = st.grains.emplace(name, self->spawn(GrainActor, st.collector, st.target)).first;
  }
  return it->second;
}

behavior GrainHostActor(stateful_actor<GrainHostState>* self) {
  const int64_t n = EnvSize("GRAIN_N", 10000);
  const int64_t msgs = EnvSize("GRAIN_MSGS", 1000000);
  self->state.target = 1 + msgs / n;
  self->state.collector = self->spawn(CollectorActor, n, actor{});
  self->state.grains.reserve(static_cast<size_t>(n));
  return {
      [=](const std::string& name, int64_t x) { self->send(HostLookup(self, name), x); },
      [=](ask_atom, const std::string& name) {
        // The grain answers the driver's request itself.
        self->delegate(HostLookup(self, name), ask_atom::value);
      },
      [=](wait_atom) { self->delegate(self->state.collector, wait_atom::value); },
  };
}

// Runs in the child: publish, print the port, live until stdin closes.
// `mode` is remote_server or grain_host: which actor to publish.
int RunRemoteServer(actor_system& sys, const std::string& mode) {
  auto server = mode == "grain_host" ? sys.spawn(GrainHostActor) : sys.spawn(RemoteServerActor);
  auto port = sys.middleman().publish(server, 0, "127.0.0.1", true);
  if (!port) {
    std::cerr << "caf_bench: remote_server: publish failed: " << sys.render(port.error()) << "\n";
    anon_send_exit(server, exit_reason::user_shutdown);
    return 1;
  }
  std::printf("PORT %u\n", unsigned(*port));
  std::fflush(stdout);
  char buf[64];
  for (;;) {  // until the client closes the pipe (or dies)
    ssize_t r = read(0, buf, sizeof buf);
    if (r > 0 || (r < 0 && errno == EINTR)) continue;
    break;
  }
  anon_send_exit(server, exit_reason::user_shutdown);
  return 0;
}

// remote_pingpong client
struct RppState {
  Clock::time_point last;
};

behavior RppClient(stateful_actor<RppState>* self, actor server, int64_t n,
                   std::vector<int64_t>* rt_ns, actor report_to) {
  return {
      [=](start_atom) {
        self->state.last = Clock::now();
        self->send(server, ping_atom::value, int64_t{0});
      },
      [=](pong_atom, int64_t x) {
        auto now = Clock::now();
        rt_ns->push_back(ElapsedNs(self->state.last, now));
        self->state.last = now;
        if (x + 1 >= n) {
          self->send(report_to, done_atom::value);
          self->quit();
        } else {
          self->send(server, ping_atom::value, x + 1);
        }
      },
  };
}

// remote_oneway client
struct RtpState {
  int64_t left = 0;
};

behavior RtpClient(stateful_actor<RtpState>* self, actor server, int64_t n, actor report_to) {
  self->state.left = n;
  return {
      [=](go_atom) {
        int64_t k = std::min(kFaninChunk, self->state.left);
        for (int64_t i = 0; i < k; ++i) self->send(server, i);
        self->state.left -= k;
        if (self->state.left > 0) {
          self->send(self, go_atom::value);
          return;
        }
        self->request(server, infinite, end_atom::value).then([=](int64_t count, int64_t peak_kb) {
          self->send(report_to, done_atom::value, count, peak_kb);
          self->quit();
        });
      },
  };
}

// remote_ask client
struct RaskState {
  actor server;
  actor report_to;
  int64_t n = 0;
  int64_t sent = 0;
  int64_t answered = 0;
  std::vector<int64_t>* lat_ns = nullptr;
};

void RaskIssue(stateful_actor<RaskState>* self) {
  int64_t i = self->state.sent++;
  auto t = Clock::now();
  self->request(self->state.server, infinite, ask_atom::value, i).then([=](int64_t reply) {
    auto& st = self->state;
    if (reply != i + 1) {
      std::cerr << "caf_bench: remote_ask got a wrong reply\n";
      std::abort();
    }
    st.lat_ns->push_back(ElapsedNs(t, Clock::now()));
    if (st.sent < st.n) RaskIssue(self);
    if (++st.answered == st.n) {
      self->send(st.report_to, done_atom::value);
      self->quit();
    }
  });
}

behavior RaskClient(stateful_actor<RaskState>* self, actor server, int64_t n,
                    std::vector<int64_t>* lat_ns, actor report_to) {
  self->state.server = std::move(server);
  self->state.report_to = std::move(report_to);
  self->state.n = n;
  self->state.lat_ns = lat_ns;
  return {
      [=](start_atom) {
        for (int k = 0; k < kAskInFlight && self->state.sent < self->state.n; ++k) {
          RaskIssue(self);
        }
      },
  };
}

// Runs in the parent, against the server published at `port`.
int RunRemoteClient(actor_system& sys, const std::string& workload, uint16_t port) {
  auto remote = sys.middleman().remote_actor("127.0.0.1", port);
  if (!remote) {
    std::cerr << "caf_bench: remote_actor(127.0.0.1, " << port
              << ") failed: " << sys.render(remote.error()) << "\n";
    return 1;
  }
  actor server = *remote;
  scoped_actor self{sys};
  // The server process dying (the connection lost) ends the wait with a
  // failure instead of leaving it to the deadline.
  self->monitor(server);
  bool lost = false;
  auto on_down = [&](const down_msg& dm) {
    std::cerr << "caf_bench: " << workload << ": lost the server actor: " << sys.render(dm.reason)
              << "\n";
    lost = true;
  };
  const char* w = workload.c_str();
  if (workload == "remote_pingpong") {
    const int64_t n = EnvSize("RPP_N", 100000);
    std::vector<int64_t> rt_ns;
    rt_ns.reserve(static_cast<size_t>(n));
    auto client = sys.spawn(RppClient, server, n, &rt_ns, actor{self});
    auto t0 = Clock::now();
    self->send(client, start_atom::value);
    self->receive([](done_atom) {}, on_down);
    auto t1 = Clock::now();
    if (lost) return 1;
    Report(w, "roundtrips_per_sec", double(n) / Seconds(t0, t1), "rt/s");
    Report(w, "p50_rt_us", Percentile(rt_ns, 0.50) / 1e3, "us");
    Report(w, "p99_rt_us", Percentile(rt_ns, 0.99) / 1e3, "us");
  } else if (workload == "remote_oneway") {
    const int64_t n = EnvSize("RTP_N", 1000000);
    auto client = sys.spawn(RtpClient, server, n, actor{self});
    int64_t count = 0, server_peak_kb = 0;
    auto t0 = Clock::now();
    self->send(client, go_atom::value);
    self->receive(
        [&](done_atom, int64_t c, int64_t kb) {
          count = c;
          server_peak_kb = kb;
        },
        on_down);
    auto t1 = Clock::now();
    if (lost) return 1;
    if (count != n) {
      std::cerr << "caf_bench: remote_oneway: the server processed " << count << " of " << n
                << "\n";
      return 1;
    }
    Report(w, "msgs_per_sec", double(n) / Seconds(t0, t1), "msg/s");
    Report(w, "peak_rss_mb_client", double(PeakRssBytes()) / 1048576.0, "MB");
    Report(w, "peak_rss_mb_server", double(server_peak_kb) / 1024.0, "MB");
  } else if (workload == "grain_tell_remote") {
    const int64_t n = EnvSize("GRAIN_N", 10000);
    const int64_t msgs = EnvSize("GRAIN_MSGS", 1000000);
    GrainTarget(n, msgs);  // the warning, if any
    const auto names = GrainNames(n);
    // One blocking request: the host's collector answers when the phase is
    // complete.
    auto wait_phase = [&](const char* phase) {
      bool ok = false;
      self->request(server, infinite, wait_atom::value)
          .receive([&](int64_t k) { ok = k == n; },
                   [&](error& err) {
                     std::cerr << "caf_bench: grain_tell_remote: phase " << phase << ": "
                               << sys.render(err) << "\n";
                   });
      return ok;
    };
    auto t0 = Clock::now();
    for (int64_t i = 0; i < n; ++i) self->send(server, names[static_cast<size_t>(i)], i);
    if (!wait_phase("A")) return 1;
    auto t1 = Clock::now();
    size_t j = 0;
    for (int64_t i = 0; i < msgs; ++i) {
      self->send(server, names[j], i);
      if (++j == names.size()) j = 0;
    }
    if (!wait_phase("B")) return 1;
    auto t2 = Clock::now();
    Report(w, "activations_per_sec", double(n) / Seconds(t0, t1), "act/s");
    Report(w, "msgs_per_sec", double(msgs) / Seconds(t1, t2), "msg/s");
  } else if (workload == "grain_ask_remote") {
    const int64_t n = EnvSize("GRAIN_N", 10000);
    const int64_t asks = EnvSize("GRAIN_ASK_N", 200000);
    const auto names = GrainNames(n);
    bool failed = false;
    size_t j = 0;
    auto t0 = Clock::now();
    for (int64_t i = 0; i < asks && !failed; ++i) {
      self->request(server, infinite, ask_atom::value, names[j])
          .receive(
              [&](int64_t count) {
                if (count != i / n + 1) {
                  std::cerr << "caf_bench: grain_ask_remote: ask " << i << " got count " << count
                            << "\n";
                  failed = true;
                }
              },
              [&](error& err) {
                std::cerr << "caf_bench: grain_ask_remote: " << sys.render(err) << "\n";
                failed = true;
              });
      if (++j == names.size()) j = 0;
    }
    auto t1 = Clock::now();
    if (failed) return 1;
    Report(w, "asks_per_sec", double(asks) / Seconds(t0, t1), "asks/s");
  } else {  // remote_ask
    const int64_t n = EnvSize("RASK_N", 200000);
    std::vector<int64_t> lat_ns;
    lat_ns.reserve(static_cast<size_t>(n));
    auto client = sys.spawn(RaskClient, server, n, &lat_ns, actor{self});
    auto t0 = Clock::now();
    self->send(client, start_atom::value);
    self->receive([](done_atom) {}, on_down);
    auto t1 = Clock::now();
    if (lost) return 1;
    Report(w, "asks_per_sec", double(n) / Seconds(t0, t1), "asks/s");
    Report(w, "p99_us", Percentile(lat_ns, 0.99) / 1e3, "us");
  }
  return 0;
}

// The server process of a remote workload (see the top of the file).
struct ServerChild {
  pid_t pid = -1;
  int to_child = -1;    // the child's stdin: closing it ends the child
  int from_child = -1;  // the child's stdout: it prints PORT <n>
};

// Forks and execs `/proc/self/exe <options> <mode>` (mode: remote_server or
// grain_host). Called while this process still has one thread (no actor
// system yet).
bool StartServerChild(int argc, char** argv, bool workload_positional, const char* mode,
                      ServerChild& c) {
  int to[2], from[2];
  if (pipe2(to, O_CLOEXEC) != 0 || pipe2(from, O_CLOEXEC) != 0) {
    std::perror("caf_bench: pipe2");
    return false;
  }
  std::vector<std::string> args{argv[0]};
  for (int i = 1; i < (workload_positional ? argc - 1 : argc); ++i) args.emplace_back(argv[i]);
  args.emplace_back(mode);
  std::vector<char*> cargs;
  for (auto& a : args) cargs.push_back(a.data());
  cargs.push_back(nullptr);
  const pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) {
    std::perror("caf_bench: fork");
    return false;
  }
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(1);
    if (dup2(to[0], 0) < 0 || dup2(from[1], 1) < 0) _exit(1);
    execv("/proc/self/exe", cargs.data());
    _exit(127);
  }
  close(to[0]);
  close(from[1]);
  c.pid = pid;
  c.to_child = to[1];
  c.from_child = from[0];
  return true;
}

// Reads `PORT <n>` from the child, waiting at most 30 s. 0 on failure.
uint16_t ReadServerPort(const ServerChild& c) {
  std::string line;
  auto deadline = Clock::now() + std::chrono::seconds(30);
  while (line.find('\n') == std::string::npos) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) {
      std::cerr << "caf_bench: the server process did not report its port in 30 s\n";
      return 0;
    }
    pollfd p{c.from_child, POLLIN, 0};
    int pr = poll(&p, 1, static_cast<int>(left.count()));
    if (pr < 0 && errno == EINTR) continue;
    if (pr <= 0) continue;
    char buf[64];
    ssize_t r = read(c.from_child, buf, sizeof buf);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      std::cerr << "caf_bench: the server process exited before reporting its port\n";
      return 0;
    }
    line.append(buf, static_cast<size_t>(r));
  }
  unsigned port = 0;
  if (std::sscanf(line.c_str(), "PORT %u", &port) != 1 || port == 0 || port > 65535) {
    std::cerr << "caf_bench: unexpected output from the server process: " << line;
    return 0;
  }
  return static_cast<uint16_t>(port);
}

// Ends the child: closes its stdin, waits at most 10 s, then kills it.
// Returns whether it exited on its own with status 0.
bool StopServerChild(ServerChild& c) {
  if (c.pid <= 0) return true;
  if (c.to_child >= 0) close(c.to_child);
  c.to_child = -1;
  int status = 0;
  auto deadline = Clock::now() + std::chrono::seconds(10);
  for (;;) {
    pid_t r = waitpid(c.pid, &status, WNOHANG);
    if (r == c.pid) break;
    if (r < 0 && errno != EINTR) {
      c.pid = -1;
      return false;
    }
    if (Clock::now() > deadline) {
      std::cerr << "caf_bench: the server process did not exit in 10 s: killing it\n";
      kill(c.pid, SIGKILL);
      waitpid(c.pid, &status, 0);
      c.pid = -1;
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  c.pid = -1;
  if (c.from_child >= 0) close(c.from_child);
  c.from_child = -1;
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::cerr << "caf_bench: the server process ended with status " << status << "\n";
    return false;
  }
  return true;
}

#endif  // AKT_CAF_HAS_IO

const std::map<std::string, std::function<void(actor_system&)>>& Workloads() {
  static const std::map<std::string, std::function<void(actor_system&)>> w{
      {"pingpong", RunPingpong},  {"fanin", RunFanin},
      {"ask_async", RunAskAsync}, {"ask_blocking", RunAskBlocking},
      {"spawn", RunSpawn},        {"routing", RunRouting},
      {"timers", RunTimers},      {"grain_tell", RunGrainTell},
      {"grain_ask", RunGrainAsk},
  };
  return w;
}

}  // namespace

int main(int argc, char** argv) {
  // A remote workload needs the middleman, which must be loaded before the
  // options are parsed (it brings its own). Local workloads run without it (it
  // would add its thread), so guess the workload first: the last argument,
  // unless it is an option, else WORKLOAD.
  std::string guess;
  if (argc > 1 && argv[argc - 1][0] != '-') {
    guess = argv[argc - 1];
  } else if (const char* w = std::getenv("WORKLOAD")) {
    guess = w;
  }
  caf::actor_system_config cfg;
#if AKT_CAF_HAS_IO
  if (IsRemoteWorkload(guess)) cfg.load<caf::io::middleman>();
#endif
  if (auto err = cfg.parse(argc, argv)) {
    std::cerr << "caf_bench: bad options: " << caf::actor_system_config::render(err) << "\n";
    return 2;
  }
  if (cfg.cli_helptext_printed) return 0;
  std::string workload;
  if (cfg.remainder.size() > 1) {
    // CAF stops parsing options at the first positional argument.
    std::cerr << "caf_bench: expected one workload after the options, got";
    for (auto& arg : cfg.remainder) std::cerr << " " << arg;
    std::cerr << "\n";
    return 2;
  }
  const bool positional = !cfg.remainder.empty();
  if (positional) {
    workload = cfg.remainder.front();
  } else if (const char* w = std::getenv("WORKLOAD")) {
    workload = w;
  }
  if (IsRemoteWorkload(workload)) {
#if AKT_CAF_HAS_IO
    if (workload != guess) {
      std::cerr << "caf_bench: put the workload last, after the options\n";
      return 2;
    }
    if (workload == "remote_server" || workload == "grain_host") {
      caf::actor_system sys{cfg};
      return RunRemoteServer(sys, workload);
    }
    const char* mode = workload.rfind("grain_", 0) == 0 ? "grain_host" : "remote_server";
    ServerChild child;
    if (!StartServerChild(argc, argv, positional, mode, child)) return 1;
    // The deadline: past it, kill the server process and give up.
    const int64_t limit_s = EnvSize("REMOTE_TIMEOUT_S", 240);
    std::thread([pid = child.pid, limit_s] {
      std::this_thread::sleep_for(std::chrono::seconds(limit_s));
      std::cerr << "caf_bench: time limit of " << limit_s
                << " s reached (REMOTE_TIMEOUT_S): killing the server process\n";
      kill(pid, SIGKILL);
      _exit(1);
    }).detach();
    uint16_t port = ReadServerPort(child);
    if (port == 0) {
      kill(child.pid, SIGKILL);
      StopServerChild(child);
      return 1;
    }
    int rc = 0;
    {
      caf::actor_system sys{cfg};
      std::cerr << "caf_bench: " << workload << " on " << sys.scheduler().num_workers()
                << " scheduler threads, server process " << child.pid << " on 127.0.0.1:" << port
                << "\n";
      rc = RunRemoteClient(sys, workload, port);
      if (rc != 0) {
        // Actors may still wait for the lost server: do not wait for them in
        // the actor system's destructor.
        kill(child.pid, SIGKILL);
        StopServerChild(child);
        std::fflush(stdout);
        _exit(rc);
      }
      if (!StopServerChild(child)) rc = 1;
    }
    return rc;
#else
    std::cerr << "caf_bench: built without caf_io: no remote workloads\n";
    return 3;  // scripts/bench: "workload not implemented here"
#endif
  }
  auto it = Workloads().find(workload);
  if (it == Workloads().end()) {
    std::cerr << "caf_bench: unknown workload '" << workload << "'; one of:";
    for (auto& [name, fn] : Workloads()) std::cerr << " " << name;
    std::cerr << " remote_pingpong remote_oneway remote_ask grain_tell_remote grain_ask_remote\n";
    return 3;  // scripts/bench: "workload not implemented here"
  }
  caf::actor_system sys{cfg};
  std::cerr << "caf_bench: " << workload << " on " << sys.scheduler().num_workers()
            << " scheduler threads\n";
  it->second(sys);
  return 0;
}
