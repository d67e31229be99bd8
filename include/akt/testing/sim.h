// akt/testing/sim.h — several nodes in one process on a simulated network.
//
// Each node is a deterministic actor system (akt/testing/deterministic.h)
// with remoting enabled on a simulated transport instead of TCP: no socket,
// no thread. The remoting code above the byte stream is the real one —
// handshake, NODE frames, codecs, requests, heartbeats, node loss — so a
// protocol built on remoting runs here exactly as between processes, but in
// virtual time and in an order decided by one seed:
//
//   akt::testing::SimOptions o;
//   o.seed = seed;                      // print it when a check fails
//   akt::testing::SimNetwork net(o);
//   akt::ActorSystem* a = net.AddNode("127.0.0.1:7001").value();
//   akt::ActorSystem* b = net.AddNode("127.0.0.1:7002").value();
//   // ... spawn on b, ActorOf / Lookup from a, Tell and Ask as usual;
//   // a blocking Ask moves the whole network (every node, virtual time)
//   // until the answer or the deadline.
//   net.Partition("127.0.0.1:7001", "127.0.0.1:7002");
//   bool lost = net.RunUntil([&] { return saw_node_lost; }, 10s);
//
// What the seed decides: which node runs the next actor turn, the latency of
// every write (uniform in [min_latency, max_latency]), and which writes reset
// their connection (reset_probability). What it cannot change: a connection
// is a TCP stream, so its bytes arrive in order, once, or not at all (a
// reset loses what was in flight); messages on different connections
// overtake each other freely. Duplicates arise the way they do in
// production: a caller that retries after a reset.
//
// Faults: Partition / Heal (bytes across a partition are held, as TCP
// retransmits them, until healed; connections close by heartbeat timeout
// meanwhile), Freeze / Thaw (SIGSTOP: the node runs nothing, its clock stops
// and jumps on thaw), Crash (kill -9: peers see their connections reset, the
// node's actors are gone, nothing more leaves it), Stop (a graceful leave).
// Restart a crashed node with AddNode on the same endpoint: a new incarnation.
//
// Simplifications (docs/design.md, "The simulated network"): the handshake of
// a new connection takes no virtual time; a dial to a partitioned or frozen
// node fails at once (a real one waits out connect_timeout); there is no TLS.
//
// Endpoints are host:port text that only names a node: nothing is bound,
// nothing is sent anywhere. One thread drives a SimNetwork.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "akt/remote.h"
#include "akt/system.h"

namespace akt::testing {

struct SimOptions {
  uint64_t seed = 1;
  // One-way latency of a write, drawn per write; at least 1 microsecond.
  Duration min_latency = std::chrono::microseconds(100);
  Duration max_latency = std::chrono::milliseconds(2);
  // Chance that a write resets its connection instead (0 .. 1).
  double reset_probability = 0.0;
};

class SimNetwork {
 public:
  explicit SimNetwork(SimOptions options = {});
  // Stops every node that is still up.
  ~SimNetwork();
  SimNetwork(const SimNetwork&) = delete;
  SimNetwork& operator=(const SimNetwork&) = delete;

  // Starts a node at `endpoint` ("host:port"; unique among the live nodes):
  // an actor system (`system.deterministic` forced on) with remoting
  // enabled (`remote.host` / `remote.port` / `remote.transport` are set from
  // the endpoint and the network). kAlreadyExists for a live endpoint,
  // kInvalidArgument for a bad one, or what Start / Enable said.
  Result<ActorSystem*> AddNode(const std::string& endpoint,
                               SystemOptions system = DefaultSystemOptions(),
                               RemoteOptions remote = DefaultRemoteOptions());
  // The live node at `endpoint`, or null (never added, crashed, stopped).
  ActorSystem* Node(const std::string& endpoint) const;
  Remoting* RemotingOf(const std::string& endpoint) const;
  // Live nodes, in the order they were added.
  std::vector<std::string> Endpoints() const;

  // ---- Driving ----
  // Runs one actor turn on one node (chosen by the seed among the nodes
  // with runnable actors). False when no node has one; time does not move.
  bool Step();
  // Steps until no node has a runnable actor; returns the steps run.
  std::size_t RunUntilIdle(std::size_t max_steps = 10'000'000);
  // Moves virtual time forward by `d`, running everything that happens on
  // the way (turns, deliveries, timers, heartbeats) in time order.
  void Advance(Duration d);
  // Runs (and moves time) until `done()` is true or `timeout` of virtual
  // time has passed; returns done().
  bool RunUntil(const std::function<bool()>& done, Duration timeout);
  TimePoint Now() const;

  // ---- Faults ----
  void Partition(const std::string& a, const std::string& b);
  void Heal(const std::string& a, const std::string& b);
  // Cuts `endpoint` off from every other node / heals every partition.
  void Isolate(const std::string& endpoint);
  void HealAll();
  void Freeze(const std::string& endpoint);
  void Thaw(const std::string& endpoint);
  void Crash(const std::string& endpoint);
  // A graceful stop (ActorSystem::Stop while the others keep running).
  Status Stop(const std::string& endpoint);

  // ---- Replay ----
  uint64_t seed() const;
  // A hash of everything that happened so far (which node ran, every
  // delivery and its time): equal for two runs of one seed and scenario.
  uint64_t trace_hash() const;
  uint64_t steps() const;
  uint64_t deliveries() const;

  // Deterministic-system defaults (throughput 1, no log output).
  static SystemOptions DefaultSystemOptions();
  // Remoting defaults with short liveness timings for tests: heartbeat every
  // 100 ms, closed after 500 ms of silence, lost after 1 s.
  static RemoteOptions DefaultRemoteOptions();

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace akt::testing
