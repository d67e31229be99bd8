// The cluster workloads (BENCHMARKS.md; issue "Cluster", Speed): this
// program joins a cluster of akt-node processes on 127.0.0.x as one more
// member and measures from there.
//   failure_detection  ms from kill -9 / SIGSTOP of one node to NodeDown on
//                      every survivor (median of FD_ROUNDS)
//   cluster_spawn      unique named spawns/s spread over the nodes by
//                      SpawnOn, each in the directory when it returns
//   cluster_lookup     ActorOf of a name on another node: cold (first
//                      lookup of a name), cached, and a local ActorOf
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "akt/actor.h"
#include "akt/cluster.h"
#include "akt/context.h"
#include "akt/remote.h"
#include "akt/system.h"
#include "bench_util.h"
#include "port_child.h"

namespace {

using Clock = std::chrono::steady_clock;
using akt_bench::EnvInt;
using akt_bench::Report;

class Idle : public akt::Actor {
 public:
  void Receive(akt::ReceiveContext&) override {}
};

// akt-node's "echo" kind, for this program's own node.
class Echo : public akt::Actor {
 public:
  void Receive(akt::ReceiveContext& ctx) override { ctx.Reply(ctx.message().Clone()).IgnoreError(); }
};

std::string Key(const akt::NodeId& n) {
  char inc[24];
  std::snprintf(inc, sizeof inc, "#%016llx", static_cast<unsigned long long>(n.incarnation));
  return n.endpoint + inc;
}

struct Proc {
  std::string endpoint;
  std::string events;
  std::unique_ptr<akt::support::PortChild> child;
  bool Saw(const std::string& prefix) const {
    std::ifstream in(events);
    for (std::string l; std::getline(in, l);) {
      if (l.rfind(prefix, 0) == 0) return true;
    }
    return false;
  }
  std::string Self() const {
    std::ifstream in(events);
    for (std::string l; std::getline(in, l);) {
      if (l.rfind("self ", 0) == 0) return l.substr(5);
    }
    return "";
  }
};

// A cluster of `n` akt-node processes and this program (the last member).
class Bench {
 public:
  explicit Bench(int n) : n_(n) {
    char tmpl[] = "/tmp/akt-cluster-bench-XXXXXX";
    dir_ = ::mkdtemp(tmpl) != nullptr ? tmpl : "/tmp";
    port_ = static_cast<uint16_t>(23000 + ::getpid() % 20000);
    for (int i = 0; i < n_; ++i) seeds_.push_back(Host(i) + ":" + std::to_string(port_));
    seeds_.push_back(Host(n_) + ":" + std::to_string(port_));
  }
  ~Bench() {
    procs_.clear();
    if (system_) system_->Stop().IgnoreError();
    std::string cmd = "rm -rf " + dir_;
    (void)!std::system(cmd.c_str());
  }
  std::string Host(int i) const { return "127.0.0." + std::to_string(40 + i); }

  void StartProc(int i) {
    std::string list;
    for (const std::string& s : seeds_) list += (list.empty() ? "" : ",") + s;
    auto p = std::make_unique<Proc>();
    p->endpoint = seeds_[i];
    p->events = dir_ + "/n" + std::to_string(i) + "-" + std::to_string(starts_++);
    p->child = std::make_unique<akt::support::PortChild>(
        AKT_NODE, std::vector<std::string>{"--host", Host(i), "--port", std::to_string(port_),
                                           "--seeds", list, "--min-members", "1", "--events",
                                           p->events});
    if (static_cast<int>(procs_.size()) <= i) procs_.resize(i + 1);
    procs_[i] = std::move(p);
  }

  bool Start() {
    akt::SystemOptions so;
    so.name = "bench";
    system_ = std::make_unique<akt::ActorSystem>(so);
    if (!system_->Start().ok()) return false;
    akt::RemoteOptions ro;
    ro.host = Host(n_);
    ro.port = port_;
    akt::Result<akt::Remoting*> r = akt::Remoting::Enable(*system_, ro);
    if (!r.ok()) return false;
    remoting_ = *r;
    // This node is a member too: SpawnOn may choose it.
    if (!remoting_->RegisterKind("echo", akt::Context::MakeFactory<Echo>()).ok()) return false;
    sub_ = system_->events().Subscribe([this](const akt::Message& m) {
      if (const auto* d = m.As<akt::NodeDown>()) {
        std::lock_guard<std::mutex> lock(mu_);
        downs_.push_back(Key(d->member.node));
      }
    });
    for (int i = 0; i < n_; ++i) StartProc(i);
    akt::ClusterOptions co;
    co.provider = akt::StaticProvider(seeds_);
    akt::Result<akt::Cluster*> c = akt::Cluster::Join(*system_, co);
    if (!c.ok()) return false;
    cluster_ = *c;
    return WaitMembers(n_ + 1, std::chrono::seconds(20));
  }
  bool WaitMembers(std::size_t n, Clock::duration d) {
    auto until = Clock::now() + d;
    while (Clock::now() < until) {
      if (cluster_->state() == akt::MemberState::kUp && cluster_->Members().size() == n) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(2));  // polls the view, bounded
    }
    return false;
  }
  bool SawDown(const std::string& key) {
    std::lock_guard<std::mutex> lock(mu_);
    return std::find(downs_.begin(), downs_.end(), key) != downs_.end();
  }

  int n_;
  std::string dir_;
  uint16_t port_ = 0;
  int starts_ = 0;
  std::vector<std::string> seeds_;
  std::vector<std::unique_ptr<Proc>> procs_;
  std::unique_ptr<akt::ActorSystem> system_;
  akt::Remoting* remoting_ = nullptr;
  akt::Cluster* cluster_ = nullptr;
  akt::Subscription sub_;
  std::mutex mu_;
  std::vector<std::string> downs_;
};

double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

int FailureDetection() {
  Bench b(3);
  if (!b.Start()) {
    std::fprintf(stderr, "failure_detection: the cluster did not form\n");
    return 1;
  }
  int rounds = static_cast<int>(EnvInt("FD_ROUNDS", 5));
  for (int stop = 0; stop < 2; ++stop) {
    std::vector<double> ms;
    for (int r = 0; r < rounds; ++r) {
      int victim = 1 + r % 2;
      std::string gone = b.procs_[victim]->Self();
      auto t0 = Clock::now();
      if (stop == 0) {
        b.procs_[victim]->child->Kill();
      } else {
        b.procs_[victim]->child->Freeze();
      }
      auto until = t0 + std::chrono::seconds(15);
      bool all = false;
      while (!all && Clock::now() < until) {
        all = b.SawDown(gone);
        for (int i = 0; i < b.n_ && all; ++i) {
          if (i != victim) all = b.procs_[i]->Saw("down " + gone);
        }
        if (!all) std::this_thread::sleep_for(std::chrono::microseconds(200));  // polls, bounded
      }
      if (!all) {
        std::fprintf(stderr, "failure_detection: no NodeDown for %s within 15 s (here: %d)\n",
                     gone.c_str(), b.SawDown(gone) ? 1 : 0);
        for (int i = 0; i < b.n_; ++i) {
          std::fprintf(stderr, "  node %d saw it: %d\n", i, b.procs_[i]->Saw("down " + gone) ? 1 : 0);
          std::ifstream in(b.procs_[i]->events);
          for (std::string l; std::getline(in, l);) std::fprintf(stderr, "    %s\n", l.c_str());
        }
        return 1;
      }
      ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
      if (stop == 1) b.procs_[victim]->child->Kill();
      b.StartProc(victim);  // a new start at the same address
      if (!b.WaitMembers(b.n_ + 1, std::chrono::seconds(20))) {
        std::fprintf(stderr, "failure_detection: the restarted node did not rejoin\n");
        return 1;
      }
    }
    Report("failure_detection", stop == 0 ? "kill9_ms" : "sigstop_ms", Median(ms), "ms");
  }
  return 0;
}

int ClusterSpawn() {
  Bench b(2);
  if (!b.Start()) return 1;
  int n = static_cast<int>(EnvInt("CLUSTER_SPAWN_N", 3000));
  akt::SpawnOnOptions o;  // round robin over the three members
  auto t0 = Clock::now();
  for (int i = 0; i < n; ++i) {
    akt::Result<akt::PID> p = b.cluster_->SpawnOn("echo", "s-" + std::to_string(i), o);
    if (!p.ok()) {
      std::fprintf(stderr, "cluster_spawn: %s\n", p.status().ToString().c_str());
      return 1;
    }
  }
  Report("cluster_spawn", "spawns_per_sec", n / akt_bench::SecondsSince(t0), "spawns/s");
  return 0;
}

int ClusterLookup() {
  Bench b(2);
  if (!b.Start()) return 1;
  int n = static_cast<int>(EnvInt("CLUSTER_LOOKUP_N", 2000));
  akt::SpawnOnOptions o;
  o.placement = akt::Placement::kRoundRobin;
  std::vector<std::string> remote_names;
  for (int i = 0; remote_names.size() < static_cast<std::size_t>(n); ++i) {
    std::string name = "l-" + std::to_string(i);
    akt::Result<akt::PID> p = b.cluster_->SpawnOn("echo", name, o);
    if (!p.ok()) return 1;
    if (akt::Remoting::IsRemote(*p)) remote_names.push_back(name);
  }
  // Cold: the first lookup of each name from this node.
  auto t0 = Clock::now();
  for (const std::string& name : remote_names) {
    if (!b.system_->ActorOf(name).ok()) return 1;
  }
  double cold = akt_bench::SecondsSince(t0) * 1e6 / remote_names.size();
  int m = static_cast<int>(EnvInt("CLUSTER_LOOKUP_CACHED_N", 200000));
  t0 = Clock::now();
  for (int i = 0; i < m; ++i) {
    if (!b.system_->ActorOf(remote_names[i % remote_names.size()]).ok()) return 1;
  }
  double cached = akt_bench::SecondsSince(t0) * 1e6 / m;
  if (!b.system_->Spawn<Idle>("local-one").ok()) return 1;
  t0 = Clock::now();
  for (int i = 0; i < m; ++i) {
    if (!b.system_->ActorOf("local-one").ok()) return 1;
  }
  double local = akt_bench::SecondsSince(t0) * 1e6 / m;
  Report("cluster_lookup", "cold_us", cold, "us");
  Report("cluster_lookup", "cached_us", cached, "us");
  Report("cluster_lookup", "local_us", local, "us");
  return 0;
}

}  // namespace

// -1: not a cluster workload.
int RunClusterWorkload(int /*argc*/, char** argv) {
  std::string w = argv[1];
  if (w == "failure_detection") return FailureDetection();
  if (w == "cluster_spawn") return ClusterSpawn();
  if (w == "cluster_lookup") return ClusterLookup();
  return -1;
}
