// akt-node: one akt cluster member as a process. The integration tests, the
// cluster benchmarks and the demo run clusters of it.
//
//   akt-node --host 127.0.0.11 --port 7000 --seeds 127.0.0.11:7000,127.0.0.12:7000
//            --min-members 2 --roles api,worker --events /tmp/n1.events
//   akt-node --host 127.0.0.11 --provider etcd --etcd 127.0.0.1:2379 [--ttl-s 10]
//   akt-node --host 127.0.0.11 --provider nats --nats nats://127.0.0.1:4222 [--ttl-s 10]
//
// It prints "PORT <n>" once remoting serves, then runs until its stdin
// closes or it gets SIGTERM / SIGINT: then it stops its actor system, which
// leaves the cluster gracefully first. With --events, every membership
// event is appended to that file as a line:
//   joined|left|down|leader <endpoint>#<incarnation> <version>
//   state up|left|down
// (a "leader" line with "-" when this node is no longer a member), and
//   spawn <name> ok|<error code>
// for each --spawn NAME (an "echo" actor spawned once the node is a member:
// the name is claimed cluster-wide, so of several nodes spawning one name
// exactly one gets "ok").
//
// Kinds other nodes can SpawnOn here: "echo" (replies with what it got).
// Grain kind: "counter" — a google.protobuf.Int64Value adds its value and is
// answered with the new total (an Int64Value); one activation per identity
// in the cluster, placed by --grain-strategy local|round-robin|random|
// least-load (default local) among the members with --grain-role (default
// any); --grain-min-members N: no activation before N members.
#include <google/protobuf/wrappers.pb.h>
#include <poll.h>
#include <sys/prctl.h>
#include <signal.h>
#include <unistd.h>

#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <vector>

#include "akt/actor.h"
#include "akt/cluster.h"
#include "akt/cluster_etcd.h"
#include "akt/cluster_nats.h"
#include "akt/context.h"
#include "akt/grain.h"
#include "akt/remote.h"
#include "akt/system.h"

namespace {

int g_stop_pipe[2] = {-1, -1};

class Counter : public akt::Grain {
 public:
  void OnReceive(akt::GrainContext& ctx) override {
    ctx.Match([&](const google::protobuf::Int64Value& add) {
      total_ += add.value();
      google::protobuf::Int64Value out;
      out.set_value(total_);
      ctx.Reply(std::move(out)).IgnoreError();
    });
  }

 private:
  int64_t total_ = 0;
};

// The demo kind: replies with what it was sent (any protobuf message both
// nodes know, e.g. google.protobuf.StringValue).
class Echo : public akt::Actor {
 public:
  void Receive(akt::ReceiveContext& ctx) override {
    ctx.Reply(ctx.message().Clone()).IgnoreError();  // a tell has no one to answer
  }
};

void OnSignal(int) {
  char c = 1;
  (void)!::write(g_stop_pipe[1], &c, 1);
}

std::vector<std::string> Split(const std::string& s) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= s.size()) {
    std::size_t comma = s.find(',', start);
    if (comma == std::string::npos) comma = s.size();
    if (comma > start) out.push_back(s.substr(start, comma - start));
    start = comma + 1;
  }
  return out;
}

std::string Key(const akt::NodeId& n) {
  char inc[24];
  std::snprintf(inc, sizeof inc, "#%016" PRIx64, n.incarnation);
  return n.endpoint + inc;
}

int Usage(const char* why) {
  std::fprintf(stderr,
               "akt-node: %s\n"
               "usage: akt-node [--host H] [--port P] [--system NAME] [--cluster NAME]\n"
               "                [--provider static] --seeds H:P,H:P,... [--roles R,R]\n"
               "                [--provider etcd --etcd H:P,H:P,... [--ttl-s S]]\n"
               "                [--provider nats --nats nats://H:P [--ttl-s S]]\n"
               "                [--min-members N] [--probe-interval-ms MS]\n"
               "                [--probe-timeout-ms MS] [--events FILE] [--spawn NAME]...\n"
               "                [--grain-strategy local|round-robin|random|least-load]\n"
               "                [--grain-role R] [--grain-min-members N]\n",
               why);
  return 2;
}

bool ParseInt(const char* text, long lo, long hi, long* out) {
  char* end = nullptr;
  long v = std::strtol(text, &end, 10);
  if (end == text || *end != '\0' || v < lo || v > hi) return false;
  *out = v;
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  akt::SystemOptions so;
  so.name = "node";
  akt::RemoteOptions ro;
  akt::ClusterOptions co;
  std::string provider = "static";
  std::vector<std::string> seeds;
  akt::EtcdOptions etcd;
  akt::NatsOptions nats;
  akt::Duration ttl = etcd.ttl;  // --ttl-s, for either engine
  std::string events_path;
  std::vector<std::string> spawns;
  akt::GrainOptions counter;
  for (int i = 1; i < argc; ++i) {
    std::string flag = argv[i];
    if (i + 1 >= argc) return Usage(("missing the value of " + flag).c_str());
    const char* v = argv[++i];
    long n = 0;
    if (flag == "--host") {
      ro.host = v;
    } else if (flag == "--port") {
      if (!ParseInt(v, 0, 65535, &n)) return Usage("--port must be 0..65535");
      ro.port = static_cast<uint16_t>(n);
    } else if (flag == "--system") {
      so.name = v;
    } else if (flag == "--cluster") {
      co.name = v;
    } else if (flag == "--provider") {
      provider = v;
    } else if (flag == "--seeds") {
      seeds = Split(v);
    } else if (flag == "--etcd") {
      etcd.endpoints = Split(v);
    } else if (flag == "--ttl-s") {
      if (!ParseInt(v, 1, 86400, &n)) return Usage("--ttl-s must be 1..86400");
      ttl = std::chrono::seconds(n);
    } else if (flag == "--nats") {
      nats.url = v;
    } else if (flag == "--roles") {
      co.roles = Split(v);
    } else if (flag == "--min-members") {
      if (!ParseInt(v, 1, 100000, &n)) return Usage("--min-members must be >= 1");
      co.min_members = static_cast<int>(n);
    } else if (flag == "--probe-interval-ms") {
      if (!ParseInt(v, 1, 600000, &n)) return Usage("--probe-interval-ms must be >= 1");
      co.probe_interval = std::chrono::milliseconds(n);
    } else if (flag == "--probe-timeout-ms") {
      if (!ParseInt(v, 1, 600000, &n)) return Usage("--probe-timeout-ms must be >= 1");
      co.probe_timeout = std::chrono::milliseconds(n);
    } else if (flag == "--events") {
      events_path = v;
    } else if (flag == "--spawn") {
      spawns.push_back(v);
    } else if (flag == "--grain-strategy") {
      std::string t = v;
      if (t == "local") {
        counter.activation_strategy = akt::ActivationStrategy::kLocal;
      } else if (t == "round-robin") {
        counter.activation_strategy = akt::ActivationStrategy::kRoundRobin;
      } else if (t == "random") {
        counter.activation_strategy = akt::ActivationStrategy::kRandom;
      } else if (t == "least-load") {
        counter.activation_strategy = akt::ActivationStrategy::kLeastLoad;
      } else {
        return Usage("--grain-strategy must be local, round-robin, random or least-load");
      }
    } else if (flag == "--grain-role") {
      counter.activation_role = v;
    } else if (flag == "--grain-min-members") {
      if (!ParseInt(v, 1, 100000, &n)) return Usage("--grain-min-members must be >= 1");
      co.grain_activation_min_members = static_cast<int>(n);
    } else {
      return Usage(("unknown flag " + flag).c_str());
    }
  }
  if (provider == "static") {
    if (seeds.empty()) return Usage("--seeds is required with the static provider");
    co.provider = akt::StaticProvider(seeds);
  } else if (provider == "etcd" || provider == "nats") {
    if (provider == "etcd" && etcd.endpoints.empty()) {
      return Usage("--etcd is required with the etcd provider");
    }
    etcd.cluster = nats.cluster = co.name;
    etcd.ttl = nats.ttl = ttl;
    akt::Result<std::shared_ptr<akt::MembershipProvider>> p =
        provider == "etcd" ? akt::EtcdProvider(etcd) : akt::NatsProvider(nats);
    if (!p.ok()) return Usage(p.status().ToString().c_str());
    co.provider = *p;
  } else {
    return Usage("--provider must be static, etcd or nats");
  }

  // Dies with the program that started it, also while frozen (SIGSTOP): a
  // test or benchmark killed midway leaves no node behind. A node started
  // from a shell lives on (its parent is the shell).
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::pipe(g_stop_pipe) != 0) return 1;
  struct sigaction sa {};
  sa.sa_handler = OnSignal;
  ::sigaction(SIGTERM, &sa, nullptr);
  ::sigaction(SIGINT, &sa, nullptr);

  FILE* events = nullptr;
  if (!events_path.empty()) {
    events = std::fopen(events_path.c_str(), "a");
    if (events == nullptr) {
      std::fprintf(stderr, "akt-node: cannot open %s: %s\n", events_path.c_str(), std::strerror(errno));
      return 1;
    }
  }
  std::mutex events_mu;
  auto line = [&](const std::string& text) {
    if (events == nullptr) return;
    std::lock_guard<std::mutex> lock(events_mu);
    std::fprintf(events, "%s\n", text.c_str());
    std::fflush(events);
  };

  akt::ActorSystem system(so);
  akt::Status started = system.Start();
  if (!started.ok()) {
    std::fprintf(stderr, "akt-node: %s\n", started.ToString().c_str());
    return 1;
  }
  akt::Subscription sub = system.events().Subscribe([&](const akt::Message& m) {
    if (const auto* e = m.As<akt::NodeJoined>()) {
      line("joined " + Key(e->member.node) + " " + std::to_string(e->version));
    } else if (const auto* e = m.As<akt::NodeLeft>()) {
      line("left " + Key(e->member.node) + " " + std::to_string(e->version));
    } else if (const auto* e = m.As<akt::NodeDown>()) {
      line("down " + Key(e->member.node) + " " + std::to_string(e->version));
    } else if (const auto* e = m.As<akt::LeaderChanged>()) {
      line("leader " + (e->leader ? Key(e->leader->node) : std::string("-")) + " " +
           std::to_string(e->version));
      if (!e->leader) line("state removed");
    }
  });
  akt::Result<akt::Remoting*> remoting = akt::Remoting::Enable(system, ro);
  if (!remoting.ok()) {
    std::fprintf(stderr, "akt-node: %s\n", remoting.status().ToString().c_str());
    return 1;
  }
  akt::Status kind = (*remoting)->RegisterKind("echo", akt::Context::MakeFactory<Echo>());
  if (kind.ok()) kind = system.RegisterGrainKind("counter", akt::MakeGrainFactory<Counter>(), counter);
  if (!kind.ok()) {
    std::fprintf(stderr, "akt-node: %s\n", kind.ToString().c_str());
    return 1;
  }
  akt::Result<akt::Cluster*> cluster = akt::Cluster::Join(system, co);
  if (!cluster.ok()) {
    std::fprintf(stderr, "akt-node: %s\n", cluster.status().ToString().c_str());
    return 1;
  }
  line("self " + Key((*remoting)->self()));
  std::printf("PORT %u\n", static_cast<unsigned>((*remoting)->port()));
  std::fflush(stdout);
  if (!spawns.empty()) {
    akt::Status up = (*cluster)->WaitUp(std::chrono::seconds(30));
    for (const std::string& name : spawns) {
      akt::Result<akt::PID> pid =
          up.ok() ? system.Spawn<Echo>(name) : akt::Result<akt::PID>(up);
      line("spawn " + name + " " +
           (pid.ok() ? std::string("ok") : std::string(akt::StatusCodeName(pid.status().code()))));
    }
  }

  // Until stdin closes (or reads garbage to its end) or a signal arrives.
  pollfd fds[2] = {{0, POLLIN, 0}, {g_stop_pipe[0], POLLIN, 0}};
  for (;;) {
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (fds[1].revents != 0) break;
    if (fds[0].revents != 0) {
      char buf[256];
      if (::read(0, buf, sizeof buf) <= 0) break;
    }
  }
  akt::Status stopped = system.Stop();  // leaves the cluster first
  line(std::string("state ") + std::string(akt::MemberStateName((*cluster)->state())));
  sub.Unsubscribe();
  if (events != nullptr) std::fclose(events);
  return stopped.ok() ? 0 : 1;
}
