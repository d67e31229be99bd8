// caf_bench: the CAF 0.17 peer for akt's local benchmark workloads
// (see BENCHMARKS.md). It does what `akt_bench <workload>` does, with CAF's
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
#include <vector>

#include "caf/all.hpp"

namespace {

using namespace caf;

using start_atom = atom_constant<atom("start")>;
using ping_atom = atom_constant<atom("ping")>;
using pong_atom = atom_constant<atom("pong")>;
using go_atom = atom_constant<atom("go")>;
using done_atom = atom_constant<atom("done")>;
using ask_atom = atom_constant<atom("ask")>;

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

const std::map<std::string, std::function<void(actor_system&)>>& Workloads() {
  static const std::map<std::string, std::function<void(actor_system&)>> w{
      {"pingpong", RunPingpong},        {"fanin", RunFanin}, {"ask_async", RunAskAsync},
      {"ask_blocking", RunAskBlocking}, {"spawn", RunSpawn},
  };
  return w;
}

}  // namespace

int main(int argc, char** argv) {
  caf::actor_system_config cfg;
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
  if (!cfg.remainder.empty()) {
    workload = cfg.remainder.front();
  } else if (const char* w = std::getenv("WORKLOAD")) {
    workload = w;
  }
  auto it = Workloads().find(workload);
  if (it == Workloads().end()) {
    std::cerr << "caf_bench: unknown workload '" << workload << "'; one of:";
    for (auto& [name, fn] : Workloads()) std::cerr << " " << name;
    std::cerr << "\n";
    return 3;  // scripts/bench: "workload not implemented here"
  }
  caf::actor_system sys{cfg};
  std::cerr << "caf_bench: " << workload << " on " << sys.scheduler().num_workers()
            << " scheduler threads\n";
  it->second(sys);
  return 0;
}
