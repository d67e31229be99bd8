// akt_bench's grain workloads (BENCHMARKS.md): N grains activated on demand.
//   grain_tell  GRAIN_N=10000 GRAIN_MSGS=1000000   activations_per_sec, msgs_per_sec
//   grain_ask   GRAIN_N=10000 GRAIN_ASK_N=200000   asks_per_sec
//   grain_tell_remote / grain_ask_remote: the grains live in a second process
//   (akt_bench remote_server), reached through akt remoting.
// Phase A sends one message to each of N new grains (each activates on it);
// each grain reports to a collector when its count reaches 1, and the phase
// ends at N reports. Phase B sends GRAIN_MSGS round-robin; each grain reports
// at 1 + GRAIN_MSGS/N. grain_ask does sequential asks round-robin. Locally
// the driver is an actor (as the Erlang peer's is a process); remotely it is
// a plain thread (TellGrain / blocking AskGrain).
#include <akt/akt.h>
#include <akt/remote.h>

#include <algorithm>
#include <atomic>
#include <latch>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "bench.pb.h"
#include "bench_util.h"

namespace {

using GClock = std::chrono::steady_clock;
using namespace std::chrono_literals;

using akt_bench::EnvInt;
using akt_bench::Report;
using akt_bench::SecondsSince;

// Local collector: the main thread sleeps on a latch per phase (it must not
// spin: two cores are all there is).
std::latch* g_phase_a = nullptr;
std::latch* g_phase_b = nullptr;
int64_t g_per_grain = 0;  // phase B messages per grain

struct Hit {};
struct Count {};

class LocalGrain : public akt::Grain {
 public:
  void OnReceive(akt::GrainContext& ctx) override {
    if (ctx.message().Is<Hit>()) {
      ++count_;
      if (count_ == 1) g_phase_a->count_down();
      if (count_ == 1 + g_per_grain) g_phase_b->count_down();
      return;
    }
    ctx.Reply(count_).IgnoreError();
  }

 private:
  int64_t count_ = 0;
};


std::vector<akt::GrainIdentity> Ids(int64_t n) {
  std::vector<akt::GrainIdentity> ids;
  ids.reserve(static_cast<std::size_t>(n));
  for (int64_t i = 0; i < n; ++i) ids.push_back(*akt::GrainIdentity::Make("bench", "g-" + std::to_string(i)));
  return ids;
}

// The driver is an actor, as Erlang's is a process: it sends in chunks of
// 1000 per turn (a self-message continues), or asks one grain at a time and
// continues on each answer without blocking a worker.
class TellDriver : public akt::Actor {
 public:
  TellDriver(const std::vector<akt::GrainIdentity>* ids, int64_t count)
      : ids_(ids), count_(count) {}
  void Receive(akt::ReceiveContext& ctx) override {
    int64_t end = std::min<int64_t>(sent_ + 1000, count_);
    int64_t n = static_cast<int64_t>(ids_->size());
    for (; sent_ < end; ++sent_) {
      ctx.system().TellGrain((*ids_)[static_cast<std::size_t>(sent_ % n)], Hit{}).IgnoreError();
    }
    if (sent_ < count_) ctx.self().Tell(0).IgnoreError();
  }

 private:
  const std::vector<akt::GrainIdentity>* ids_;
  int64_t count_;
  int64_t sent_ = 0;
};

class AskDriver : public akt::Actor {
 public:
  AskDriver(const std::vector<akt::GrainIdentity>* ids, int64_t count, std::latch* done)
      : ids_(ids), count_(count), done_(done) {}
  void Receive(akt::ReceiveContext& ctx) override { Next(ctx); }

 private:
  void Next(akt::ReceiveContext& ctx) {
    if (asked_ == count_) {
      done_->count_down();
      return;
    }
    const auto& id = (*ids_)[static_cast<std::size_t>(asked_++ % static_cast<int64_t>(ids_->size()))];
    auto pid = ctx.system().GrainOf(id);
    ctx.Request(pid.ok() ? *pid : akt::PID(), Count{}, 10s)
        .Then([this](akt::ReceiveContext& c, akt::Result<akt::Message> r) {
          if (!r.ok()) {
            std::fprintf(stderr, "ask failed: %s\n", r.status().ToString().c_str());
            std::exit(1);
          }
          Next(c);
        });
  }
  const std::vector<akt::GrainIdentity>* ids_;
  int64_t count_;
  int64_t asked_ = 0;
  std::latch* done_;
};

int Local(const std::string& w) {
  akt::SystemOptions so;
  so.name = "bench";
  so.logger = akt::MakeStderrLogger(akt::LogLevel::kWarn);
  akt::ActorSystem system(so);
  if (!system.Start().ok()) return 1;
  system.RegisterGrainKind("bench", akt::MakeGrainFactory<LocalGrain>()).IgnoreError();
  int64_t n = EnvInt("GRAIN_N", 10000);
  auto ids = Ids(n);
  if (w == "grain_tell") {
    int64_t msgs = EnvInt("GRAIN_MSGS", 1000000);
    g_per_grain = msgs / n;
    std::latch phase_a(n), phase_b(n);
    g_phase_a = &phase_a;
    g_phase_b = &phase_b;
    auto t0 = GClock::now();
    auto a = system.Spawn<TellDriver>("driver-a", &ids, n);
    a->Tell(0).IgnoreError();
    phase_a.wait();
    double ta = SecondsSince(t0);
    auto t1 = GClock::now();
    auto b = system.Spawn<TellDriver>("driver-b", &ids, msgs);
    b->Tell(0).IgnoreError();
    phase_b.wait();
    double tb = SecondsSince(t1);
    Report(w, "activations_per_sec", static_cast<double>(n) / ta, "act/s");
    Report(w, "msgs_per_sec", static_cast<double>(msgs) / tb, "msg/s");
  } else {
    int64_t asks = EnvInt("GRAIN_ASK_N", 200000);
    std::latch done(1);
    auto t0 = GClock::now();
    auto d = system.Spawn<AskDriver>("driver", &ids, asks, &done);
    d->Tell(0).IgnoreError();
    done.wait();
    Report(w, "asks_per_sec", static_cast<double>(asks) / SecondsSince(t0), "asks/s");
  }
  system.Stop().IgnoreError();
  return 0;
}

// ---- remote: the host side runs in the remote_server process ----

class HostCollector : public akt::Actor {
 public:
  void Receive(akt::ReceiveContext& ctx) override {
    if (ctx.message().Is<akt::bench::GrainHit>()) {
      ++notices_;
      Check();
      return;
    }
    if (const auto* p = ctx.message().As<akt::bench::PhaseDone>()) {
      want_ = p->notices();
      waiting_ = ctx.TakeReply();
      Check();
    }
  }

 private:
  void Check() {
    if (waiting_.valid() && notices_ >= want_) {
      akt::bench::GrainCount c;
      c.set_value(notices_);
      waiting_.Reply(std::move(c)).IgnoreError();
    }
  }
  int64_t notices_ = 0;
  int64_t want_ = 0;
  akt::PendingReply waiting_;
};

class RemoteGrain : public akt::Grain {
 public:
  RemoteGrain(akt::PID collector, int64_t per_grain)
      : collector_(std::move(collector)), per_grain_(per_grain) {}
  void OnReceive(akt::GrainContext& ctx) override {
    if (ctx.message().Is<akt::bench::GrainHit>()) {
      if (++count_ == 1 || count_ == 1 + per_grain_) {
        collector_.Tell(akt::bench::GrainHit()).IgnoreError();
      }
      return;
    }
    akt::bench::GrainCount c;
    c.set_value(count_);
    ctx.Reply(std::move(c)).IgnoreError();
  }

 private:
  akt::PID collector_;
  int64_t count_ = 0;
  int64_t per_grain_;
};

}  // namespace

// Called by the remote_server process (remote_bench.cc) to host the grains.
void SetUpGrainHost(akt::ActorSystem& system) {
  auto collector = system.Spawn<HostCollector>("grain-collector");
  if (!collector.ok()) return;
  akt::PID c = *collector;
  int64_t per_grain = EnvInt("GRAIN_MSGS", 1000000) / EnvInt("GRAIN_N", 10000);
  system.RegisterGrainKind("bench", [c, per_grain]() -> std::unique_ptr<akt::Grain> {
    return std::make_unique<RemoteGrain>(c, per_grain);
  }).IgnoreError();
}

// The client side of the remote grain workloads (remoting connected to `ep`).
int RunGrainRemoteClient(const std::string& w, akt::Remoting& remoting, const std::string& ep) {
  int64_t n = EnvInt("GRAIN_N", 10000);
  auto ids = Ids(n);
  if (w == "grain_tell_remote") {
    int64_t msgs = EnvInt("GRAIN_MSGS", 1000000);
    auto collector = remoting.Lookup(ep, "grain-collector", 10s);
    if (!collector.ok()) return 1;
    auto phase = [&](int64_t notices) {
      akt::bench::PhaseDone p;
      p.set_notices(notices);
      auto r = collector->Ask(std::move(p), 120s);
      if (!r.ok()) {
        std::fprintf(stderr, "phase failed: %s\n", r.status().ToString().c_str());
        std::exit(1);
      }
    };
    auto t0 = GClock::now();
    for (int64_t i = 0; i < n; ++i) {
      remoting.TellGrain(ep, ids[static_cast<std::size_t>(i)], akt::bench::GrainHit()).IgnoreError();
    }
    phase(n);
    double ta = SecondsSince(t0);
    auto t1 = GClock::now();
    for (int64_t i = 0; i < msgs; ++i) {
      remoting.TellGrain(ep, ids[static_cast<std::size_t>(i % n)], akt::bench::GrainHit()).IgnoreError();
    }
    phase(2 * n);
    double tb = SecondsSince(t1);
    Report(w, "activations_per_sec", static_cast<double>(n) / ta, "act/s");
    Report(w, "msgs_per_sec", static_cast<double>(msgs) / tb, "msg/s");
  } else {
    int64_t asks = EnvInt("GRAIN_ASK_N", 200000);
    if (EnvInt("GRAIN_DEBUG_PLAIN", 0)) {
      auto pong = remoting.Lookup(ep, "pong", 10s);
      auto t0 = GClock::now();
      for (int64_t i = 0; i < asks; ++i) {
        akt::bench::Ping p;
        if (!pong->Ask(std::move(p), 10s).ok()) return 1;
      }
      Report(w, "plain_asks_per_sec", static_cast<double>(asks) / SecondsSince(t0), "asks/s");
    }
    auto t0 = GClock::now();
    for (int64_t i = 0; i < asks; ++i) {
      auto r = remoting.AskGrain(ep, ids[static_cast<std::size_t>(i % n)], akt::bench::GrainCount(), 10s);
      if (!r.ok()) {
        std::fprintf(stderr, "ask failed: %s\n", r.status().ToString().c_str());
        return 1;
      }
    }
    Report(w, "asks_per_sec", static_cast<double>(asks) / SecondsSince(t0), "asks/s");
  }
  return 0;
}

// -1: not a local grain workload.
int RunGrainWorkload(int argc, char** argv) {
  std::string w = argv[1];
  if (w == "grain_tell" || w == "grain_ask") return Local(w);
  return -1;
}
