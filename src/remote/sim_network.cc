// The simulated network (akt/testing/sim.h): nodes in one process, links
// that carry bytes with seeded latency, faults, and one virtual clock.
//
// Every node is a deterministic ActorSystem; its remoting runs on this
// transport. A write on a link is delivered by a timer on the receiving
// node's (manual) timer service at now + latency, never before an earlier
// write of the same direction, so a link keeps TCP's order. The driver
// moves every node's clock together: it runs actor turns (the seed picks the
// node) until none is runnable, then advances all clocks to the earliest
// timer of any node, which fires deliveries, sweeps and request deadlines in
// time order.
#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <set>

#include "akt/testing/deterministic.h"
#include "akt/testing/sim.h"
#include "connection.h"
#include "internal/access.h"
#include "remoting_impl.h"
#include "remoting_internal.h"
#include "system_impl.h"
#include "transport.h"
#include "names.h"

namespace akt::testing {

using remote::Connection;

namespace {

struct SimNode {
  std::string endpoint;
  std::size_t index = 0;
  std::unique_ptr<ActorSystem> system;
  RemotingImpl* remoting = nullptr;  // while it listens
  bool frozen = false;
  bool alive() const { return system != nullptr; }
};

// A connection: side 0 dialled, side 1 accepted.
struct Link {
  SimNode* node[2] = {nullptr, nullptr};
  Connection* conn[2] = {nullptr, nullptr};
  std::string in[2];               // arrived at side i, not read yet
  bool eof[2] = {false, false};    // side i reads the end once `in` is empty
  bool reset[2] = {false, false};  // side i reads ECONNRESET
  bool shut[2] = {false, false};   // side i sent its end (no more writes)
  bool gone[2] = {false, false};   // side i's stream is destroyed
  bool broken = false;             // reset: nothing more moves either way
  int64_t last_due[2] = {0, 0};    // latest delivery toward side i (keeps order)
  // Writes toward side i held by a partition (a FIN is an empty string).
  std::vector<std::string> held[2];
};

uint64_t Mix(uint64_t h, uint64_t v) {
  h ^= v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
  return h * 0x100000001b3ULL;
}

int64_t NsOf(TimePoint t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

}  // namespace

struct SimNetwork::Impl final : remote::Transport {
  explicit Impl(SimOptions o) : options(o), rng(o.seed * 0x9e3779b97f4a7c15ULL + 1) {
    if (options.min_latency < std::chrono::microseconds(1)) {
      options.min_latency = std::chrono::microseconds(1);
    }
    if (options.max_latency < options.min_latency) options.max_latency = options.min_latency;
    verbose = std::getenv("AKT_SIM_TRACE") != nullptr;
  }
  bool verbose = false;  // AKT_SIM_TRACE set: every write and delivery on stderr
  void Say(const char* what, const Link& l, int to, std::size_t bytes) const {
    if (!verbose) return;
    std::fprintf(stderr, "sim %+.6f s %s %s -> %s %zu bytes\n",
                 std::chrono::duration<double>(now - TimePoint(std::chrono::hours(1))).count(),
                 what, l.node[1 - to]->endpoint.c_str(), l.node[to]->endpoint.c_str(), bytes);
  }

  SimOptions options;
  uint64_t rng;
  TimePoint now = TimePoint(std::chrono::hours(1));    // the manual clocks' start
  std::vector<std::unique_ptr<SimNode>> nodes;         // every node ever added
  std::set<std::pair<std::size_t, std::size_t>> cuts;  // partitioned pairs (low, high)
  std::vector<std::shared_ptr<Link>> links;
  uint64_t trace = 0xcbf29ce484222325ULL;
  uint64_t steps = 0;
  uint64_t deliveries = 0;

  uint64_t Next() {  // splitmix64: the same sequence on every build
    uint64_t z = (rng += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  double Unit() { return static_cast<double>(Next() >> 11) / 9007199254740992.0; }
  int64_t Latency() {
    int64_t lo = internal::ToNs(options.min_latency);
    int64_t hi = internal::ToNs(options.max_latency);
    return lo + static_cast<int64_t>(Next() % static_cast<uint64_t>(hi - lo + 1));
  }

  SimNode* Find(const std::string& endpoint) const {
    for (const auto& n : nodes) {
      if (n->alive() && n->endpoint == endpoint) return n.get();
    }
    return nullptr;
  }
  bool Cut(const SimNode* a, const SimNode* b) const {
    auto key = std::minmax(a->index, b->index);
    return cuts.count({key.first, key.second}) != 0;
  }

  // ---- Transport ----
  Status Listen(RemotingImpl* node, const std::string& endpoint) override {
    SimNode* n = nullptr;
    for (const auto& x : nodes) {
      if (x->endpoint == endpoint && x->remoting == nullptr && !x->alive()) n = x.get();
    }
    if (n == nullptr) {
      return FailedPreconditionError("endpoint " + endpoint +
                                     " was not added to this simulated network (AddNode)");
    }
    n->remoting = node;
    return Status();
  }
  void Unlisten(RemotingImpl* node) override {
    for (const auto& n : nodes) {
      if (n->remoting == node) n->remoting = nullptr;
    }
  }
  Result<std::unique_ptr<remote::Stream>> Dial(RemotingImpl* from,
                                               const std::string& endpoint) override;
  uint64_t NewIncarnation() override {
    uint64_t v = 0;
    while (v == 0) v = Next();
    return v;
  }

  // ---- Links ----
  void Send(const std::shared_ptr<Link>& l, int from, std::string bytes);
  void Schedule(const std::shared_ptr<Link>& l, int to, std::string bytes, int64_t due);
  void Deliver(Link& l, int to, const std::string& bytes);
  void Break(const std::shared_ptr<Link>& l);
  // Side `to` reads ECONNRESET from `due` on.
  static void ScheduleReset(const std::shared_ptr<Link>& l, int to, int64_t due) {
    std::weak_ptr<Link> weak = l;
    internal::ImplOf(*l->node[to]->system)
        .timers()
        .Schedule(TimePoint(std::chrono::nanoseconds(due)), [weak, to] {
          std::shared_ptr<Link> link = weak.lock();
          if (!link || link->gone[to]) return;
          link->reset[to] = true;
          Wake(*link, to);
        });
  }
  // Tells side `to` that something changed (its connection reads).
  static void Wake(Link& l, int to) {
    if (l.conn[to] != nullptr) l.conn[to]->OnReadable();
  }
  // The dialler's handshake: the listener's side runs now, in no time.
  void Handshake(Link& l) {
    for (int round = 0; round < 8 && l.in[0].empty() && !l.eof[0] && !l.reset[0]; ++round) {
      if (l.conn[1] == nullptr) return;
      l.conn[1]->OnReadable();
      if (l.conn[1] != nullptr) l.conn[1]->Flush();
    }
  }
  bool InHandshake(const Link& l) const {
    return l.conn[0] != nullptr && !l.conn[0]->node_known() && !l.broken;
  }

  // ---- Driving ----
  bool Step() {
    std::vector<SimNode*> live;
    for (const auto& n : nodes) {
      if (n->alive() && !n->frozen) live.push_back(n.get());
    }
    if (live.empty()) return false;
    std::size_t start = static_cast<std::size_t>(Next() % live.size());
    for (std::size_t i = 0; i < live.size(); ++i) {
      SimNode* n = live[(start + i) % live.size()];
      if (internal::ImplOf(*n->system).dispatcher().RunOne()) {
        ++steps;
        trace = Mix(Mix(trace, 1), n->index);
        return true;
      }
    }
    return false;
  }
  TimePoint NextDeadline() const {
    TimePoint next = TimePoint::max();
    for (const auto& n : nodes) {
      if (n->alive() && !n->frozen)
        next = std::min(next, internal::ImplOf(*n->system).timers().NextDeadline());
    }
    return next;
  }
  void AdvanceTo(TimePoint t) {
    if (t > now) {
      now = t;
      trace = Mix(Mix(trace, 2), static_cast<uint64_t>(NsOf(t)));
    }
    for (std::size_t i = 0; i < nodes.size(); ++i) {
      SimNode* n = nodes[i].get();
      if (!n->alive() || n->frozen) continue;
      internal::TimerService& timers = internal::ImplOf(*n->system).timers();
      if (timers.Now() < now) timers.Advance(now - timers.Now());
    }
  }
  // One thing, or time moved to the next thing before `deadline`; false
  // when nothing can happen before it (time stops at the deadline).
  bool Pump(TimePoint deadline) {
    if (Step()) return true;
    TimePoint next = NextDeadline();
    if (next != TimePoint::max() && next <= deadline) {
      AdvanceTo(std::max(next, now));
      return true;
    }
    if (deadline > now && deadline != TimePoint::max()) AdvanceTo(deadline);
    return false;
  }
  void InstallPump(SimNode* n) {
    internal::ImplOf(*n->system).SetPump([this](TimePoint deadline) { return Pump(deadline); });
  }
  void Destroy(SimNode* n) {
    internal::ImplOf(*n->system).SetPump(nullptr);
    // Stops it, alone (nothing else runs meanwhile). From here on the node
    // is not alive: what it writes while it stops is dropped.
    std::unique_ptr<ActorSystem> sys = std::move(n->system);
    sys.reset();
    n->remoting = nullptr;
    n->frozen = false;
  }
};

namespace {

class SimStream final : public remote::Stream {
 public:
  SimStream(SimNetwork::Impl* net, std::shared_ptr<Link> link, int side)
      : net_(net), link_(std::move(link)), side_(side) {}
  ~SimStream() override {
    Link& l = *link_;
    l.conn[side_] = nullptr;
    l.gone[side_] = true;
    if (!l.shut[side_]) {  // close(2) sends the FIN
      l.shut[side_] = true;
      net_->Send(link_, side_, std::string());
    }
  }
  long Read(uint8_t* p, std::size_t n) override {
    Link& l = *link_;
    if (!l.in[side_].empty()) {
      std::size_t k = std::min(n, l.in[side_].size());
      std::memcpy(p, l.in[side_].data(), k);
      l.in[side_].erase(0, k);
      return static_cast<long>(k);
    }
    if (l.reset[side_]) {
      errno = ECONNRESET;
      return -1;
    }
    if (l.eof[side_]) return 0;
    errno = EAGAIN;
    return -1;
  }
  long Write(const uint8_t* p, std::size_t n) override {
    Link& l = *link_;
    if (l.shut[side_] || l.broken || l.reset[side_]) {
      errno = EPIPE;
      return -1;
    }
    net_->Send(link_, side_, std::string(reinterpret_cast<const char*>(p), n));
    return static_cast<long>(n);
  }
  void Shutdown(bool write_only) override {
    Link& l = *link_;
    if (!write_only) l.in[side_].clear();
    if (l.shut[side_]) return;
    l.shut[side_] = true;
    net_->Send(link_, side_, std::string());  // the FIN, after what was written
  }
  bool Wait(short events, int64_t) override {
    if ((events & POLLOUT) != 0) return true;
    Link& l = *link_;
    if (side_ == 0) net_->Handshake(l);
    return !l.in[side_].empty() || l.eof[side_] || l.reset[side_];
  }
  void Attach(Connection* c) override { link_->conn[side_] = c; }

 private:
  SimNetwork::Impl* net_;
  std::shared_ptr<Link> link_;
  int side_;
};

}  // namespace

Result<std::unique_ptr<remote::Stream>> SimNetwork::Impl::Dial(RemotingImpl* from,
                                                               const std::string& endpoint) {
  SimNode* src = nullptr;
  for (const auto& n : nodes) {
    if (n->remoting == from) src = n.get();
  }
  SimNode* dst = Find(endpoint);
  if (src == nullptr) return UnavailableError("the dialling node is not on the network");
  if (dst == nullptr || dst->remoting == nullptr) {
    return UnavailableError("connect to " + endpoint + " failed: Connection refused (simulated)");
  }
  if (Cut(src, dst) || dst->frozen) {
    // A real dial waits out connect_timeout; here it fails in no time.
    return UnavailableError("connect to " + endpoint + " failed: timed out (simulated " +
                            (dst->frozen ? "frozen node)" : "partition)"));
  }
  auto link = std::make_shared<Link>();
  link->node[0] = src;
  link->node[1] = dst;
  links.push_back(link);
  trace = Mix(Mix(trace, 3), (src->index << 16) | dst->index);
  Status s = dst->remoting->AcceptStream(std::make_unique<SimStream>(this, link, 1), src->endpoint);
  if (!s.ok()) return s;
  return std::unique_ptr<remote::Stream>(std::make_unique<SimStream>(this, link, 0));
}

void SimNetwork::Impl::Send(const std::shared_ptr<Link>& l, int from, std::string bytes) {
  int to = 1 - from;
  SimNode* src = l->node[from];
  SimNode* dst = l->node[to];
  Say(InHandshake(*l) ? "handshake" : "write", *l, to, bytes.size());
  if (!src->alive() || l->broken) return;  // a crashed node sends nothing
  if (InHandshake(*l)) {
    // No virtual time passes in a handshake (see sim.h).
    if (bytes.empty()) {
      l->eof[to] = true;
    } else {
      l->in[to] += bytes;
    }
    return;
  }
  if (!dst->alive()) return;
  if (Cut(src, dst)) {
    l->held[to].push_back(std::move(bytes));  // TCP retransmits after the heal
    return;
  }
  if (!bytes.empty() && options.reset_probability > 0 && Unit() < options.reset_probability) {
    Break(l);
    return;
  }
  int64_t due = std::max(NsOf(now) + Latency(), l->last_due[to]);
  Schedule(l, to, std::move(bytes), due);
}

void SimNetwork::Impl::Schedule(const std::shared_ptr<Link>& l, int to, std::string bytes,
                                int64_t due) {
  l->last_due[to] = due;
  SimNode* dst = l->node[to];
  std::weak_ptr<Link> weak = l;
  internal::ImplOf(*dst->system)
      .timers()
      .Schedule(TimePoint(std::chrono::nanoseconds(due)),
                [this, weak, to, bytes = std::move(bytes)] {
                  if (std::shared_ptr<Link> link = weak.lock()) Deliver(*link, to, bytes);
                });
}

void SimNetwork::Impl::Deliver(Link& l, int to, const std::string& bytes) {
  if (l.broken || l.gone[to]) return;
  ++deliveries;
  Say("deliver", l, to, bytes.size());
  trace = Mix(Mix(Mix(trace, 4), l.node[to]->index), bytes.size());
  if (bytes.empty()) {
    l.eof[to] = true;
  } else {
    l.in[to] += bytes;
  }
  Wake(l, to);
}

void SimNetwork::Impl::Break(const std::shared_ptr<Link>& l) {
  if (l->broken) return;
  l->broken = true;
  trace = Mix(trace, 5);
  for (int side = 0; side < 2; ++side) {
    l->in[side].clear();
    l->held[side].clear();
    SimNode* n = l->node[side];
    if (!n->alive() || l->gone[side]) continue;
    ScheduleReset(l, side, NsOf(now) + Latency());
  }
}

// ---------------------------------------------------------------------------
// The public face.

SimNetwork::SimNetwork(SimOptions options) : impl_(std::make_shared<Impl>(options)) {}

SimNetwork::~SimNetwork() {
  for (const auto& n : impl_->nodes) {
    if (n->alive()) internal::ImplOf(*n->system).SetPump(nullptr);
  }
  for (auto it = impl_->nodes.rbegin(); it != impl_->nodes.rend(); ++it) {
    if ((*it)->alive()) impl_->Destroy(it->get());
  }
  impl_->links.clear();
}

SystemOptions SimNetwork::DefaultSystemOptions() {
  SystemOptions o = DeterministicSystem::DefaultOptions();
  o.name = "sim";
  return o;
}

RemoteOptions SimNetwork::DefaultRemoteOptions() {
  RemoteOptions o;
  o.heartbeat_interval = std::chrono::milliseconds(100);
  o.heartbeat_timeout = std::chrono::milliseconds(500);
  o.node_lost_after = std::chrono::seconds(1);
  return o;
}

Result<ActorSystem*> SimNetwork::AddNode(const std::string& endpoint, SystemOptions system,
                                         RemoteOptions remote) {
  std::string host;
  uint16_t port = 0;
  if (!SplitHostPort(endpoint, &host, &port) || port == 0) {
    return InvalidArgumentError(internal::Quoted(endpoint) + " is not a host:port endpoint");
  }
  if (impl_->Find(endpoint) != nullptr) {
    return AlreadyExistsError("a node is already up at " + endpoint);
  }
  auto node = std::make_unique<SimNode>();
  node->endpoint = endpoint;
  node->index = impl_->nodes.size();
  system.deterministic = true;
  auto sys = std::make_unique<ActorSystem>(std::move(system));
  // Its clock joins the network's.
  internal::TimerService& timers = internal::ImplOf(*sys).timers();
  if (timers.Now() < impl_->now) timers.Advance(impl_->now - timers.Now());
  Status s = sys->Start();
  if (!s.ok()) return s;
  remote.host = host;
  remote.port = port;
  remote.transport = impl_;
  SimNode* n = node.get();
  impl_->nodes.push_back(std::move(node));
  Result<Remoting*> r = Remoting::Enable(*sys, std::move(remote));
  if (!r.ok()) {
    sys->Stop().IgnoreError();
    impl_->nodes.pop_back();
    return r.status();
  }
  n->system = std::move(sys);
  impl_->InstallPump(n);
  impl_->trace = Mix(Mix(impl_->trace, 6), n->index);
  return n->system.get();
}

ActorSystem* SimNetwork::Node(const std::string& endpoint) const {
  SimNode* n = impl_->Find(endpoint);
  return n != nullptr ? n->system.get() : nullptr;
}

Remoting* SimNetwork::RemotingOf(const std::string& endpoint) const {
  SimNode* n = impl_->Find(endpoint);
  return n != nullptr ? Remoting::Of(*n->system) : nullptr;
}

std::vector<std::string> SimNetwork::Endpoints() const {
  std::vector<std::string> out;
  for (const auto& n : impl_->nodes) {
    if (n->alive()) out.push_back(n->endpoint);
  }
  return out;
}

bool SimNetwork::Step() { return impl_->Step(); }

std::size_t SimNetwork::RunUntilIdle(std::size_t max_steps) {
  std::size_t n = 0;
  while (n < max_steps && impl_->Step()) ++n;
  return n;
}

void SimNetwork::Advance(Duration d) {
  TimePoint target = impl_->now + d;
  for (;;) {
    RunUntilIdle();
    TimePoint next = impl_->NextDeadline();
    if (next == TimePoint::max() || next > target) break;
    impl_->AdvanceTo(std::max(next, impl_->now));
  }
  impl_->AdvanceTo(target);
  RunUntilIdle();
}

bool SimNetwork::RunUntil(const std::function<bool()>& done, Duration timeout) {
  TimePoint deadline = impl_->now + timeout;
  while (!done()) {
    if (!impl_->Pump(deadline)) return done();
  }
  return true;
}

TimePoint SimNetwork::Now() const { return impl_->now; }

void SimNetwork::Partition(const std::string& a, const std::string& b) {
  SimNode* x = impl_->Find(a);
  SimNode* y = impl_->Find(b);
  if (x == nullptr || y == nullptr || x == y) return;
  auto key = std::minmax(x->index, y->index);
  impl_->cuts.insert({key.first, key.second});
}

void SimNetwork::Heal(const std::string& a, const std::string& b) {
  SimNode* x = impl_->Find(a);
  SimNode* y = impl_->Find(b);
  if (x == nullptr || y == nullptr) return;
  auto key = std::minmax(x->index, y->index);
  impl_->cuts.erase({key.first, key.second});
  // What TCP held back goes now, in order, after the latency.
  for (const auto& l : impl_->links) {
    if (l->broken || impl_->Cut(l->node[0], l->node[1])) continue;
    for (int to = 0; to < 2; ++to) {
      std::vector<std::string> held;
      held.swap(l->held[to]);
      for (std::string& bytes : held) {
        if (!l->node[to]->alive()) break;
        int64_t due = std::max(NsOf(impl_->now) + impl_->Latency(), l->last_due[to]);
        impl_->Schedule(l, to, std::move(bytes), due);
      }
    }
  }
}

void SimNetwork::Isolate(const std::string& endpoint) {
  for (const std::string& other : Endpoints()) Partition(endpoint, other);
}

void SimNetwork::HealAll() {
  std::vector<std::pair<std::string, std::string>> pairs;
  for (const auto& [a, b] : impl_->cuts) {
    pairs.emplace_back(impl_->nodes[a]->endpoint, impl_->nodes[b]->endpoint);
  }
  for (const auto& [a, b] : pairs) Heal(a, b);
  impl_->cuts.clear();
}

void SimNetwork::Freeze(const std::string& endpoint) {
  if (SimNode* n = impl_->Find(endpoint)) n->frozen = true;
}

void SimNetwork::Thaw(const std::string& endpoint) {
  SimNode* n = impl_->Find(endpoint);
  if (n == nullptr || !n->frozen) return;
  n->frozen = false;
  impl_->AdvanceTo(impl_->now);  // its clock jumps to the network's
}

void SimNetwork::Crash(const std::string& endpoint) {
  SimNode* n = impl_->Find(endpoint);
  if (n == nullptr) return;
  impl_->trace = Mix(Mix(impl_->trace, 7), n->index);
  // Its kernel resets every connection: the peers read ECONNRESET after
  // what was already on the wire.
  for (const auto& l : impl_->links) {
    for (int side = 0; side < 2; ++side) {
      if (l->node[side] != n || l->broken) continue;
      int to = 1 - side;
      SimNode* peer = l->node[to];
      if (!peer->alive() || l->gone[to]) continue;
      int64_t due = std::max(NsOf(impl_->now) + impl_->Latency(), l->last_due[to]);
      l->last_due[to] = due;
      Impl::ScheduleReset(l, to, due);
    }
  }
  // Then it is gone; nothing it does while it stops leaves it (Send drops
  // the writes of a node that is not alive).
  impl_->Destroy(n);
}

Status SimNetwork::Stop(const std::string& endpoint) {
  SimNode* n = impl_->Find(endpoint);
  if (n == nullptr) return NotFoundError("no live node at " + endpoint);
  Status s = n->system->Stop();  // the others keep running while it drains
  impl_->Destroy(n);
  return s;
}

uint64_t SimNetwork::seed() const { return impl_->options.seed; }
uint64_t SimNetwork::trace_hash() const { return impl_->trace; }
uint64_t SimNetwork::steps() const { return impl_->steps; }
uint64_t SimNetwork::deliveries() const { return impl_->deliveries; }

}  // namespace akt::testing
