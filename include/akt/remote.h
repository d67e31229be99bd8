// akt/remote.h — actor systems in different processes talking over TCP.
//
// Enable remoting on a running system, then use remote PIDs exactly like local
// ones: Tell, Ask, BatchTell, BatchAsk, Forward, Stop, Restart, Reinstate.
// Messages that cross a process must be protobuf messages (any generated
// class); they are dispatched on the far side by their full type name.
//
//   akt::RemoteOptions ro;
//   ro.host = "127.0.0.1";
//   ro.port = 9000;
//   akt::Result<akt::Remoting*> remoting = akt::Remoting::Enable(system, ro);
//   akt::Status kind =
//       (*remoting)->RegisterKind("counter", akt::Context::MakeFactory<Counter>());
//
//   // another process:
//   akt::Result<akt::PID> counter =
//       (*remoting)->SpawnRemote("127.0.0.1:9000", "counter-1", "counter");
//   akt::Status sent = counter->Tell(shop::Increment{});     // one-way, batched
//   auto total = counter->Ask<shop::Total>(shop::Get{}, 1s); // request/reply
//
// A remote PID's address is "akt://<system>@<host>:<port>/<name>". A remote
// receiver sees the sender (ctx.sender()) as a remote PID and can reply or
// tell it back. The wire format is specified in docs/wire-protocol.md.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "akt/fwd.h"
#include "akt/grain.h"
#include "akt/pid.h"
#include "akt/spawn_options.h"
#include "akt/status.h"

namespace akt {

namespace remote {
class Transport;  // internal: what connections run on (see RemoteOptions::transport)
}  // namespace remote

class ActorSystem;

// Compression codecs a connection may use (negotiated at connect).
enum class Compression : uint8_t { kNone = 0, kZstd = 1, kBrotli = 2, kGzip = 3 };
std::string_view CompressionName(Compression c);

// String headers that travel with a remote message (tracing ids, tenant, ...).
using Headers = std::vector<std::pair<std::string, std::string>>;

// Decides which headers go out with every remote message and sees the ones
// that come in. Inject runs on the sending thread; Extract runs on the
// receiving actor's thread just before it handles the message.
class ContextPropagator {
 public:
  virtual ~ContextPropagator() = default;
  virtual void Inject(Headers& out) = 0;
  virtual void Extract(const Headers& in) = 0;
};

// The default propagator: forwards the headers of the message being handled
// on this thread (so a chain of remote calls keeps its tracing id) plus the
// headers of any HeaderScope open on this thread.
std::shared_ptr<ContextPropagator> DefaultPropagator();

// Adds headers to every remote message this thread sends while it lives:
//   akt::HeaderScope scope({{"trace-id", "4bf92f35"}});
class HeaderScope {
 public:
  explicit HeaderScope(Headers headers);
  // The braced form above (with Headers alone, it would be ambiguous).
  explicit HeaderScope(std::initializer_list<std::pair<std::string, std::string>> headers);
  ~HeaderScope();
  HeaderScope(const HeaderScope&) = delete;
  HeaderScope& operator=(const HeaderScope&) = delete;

 private:
  std::size_t added_;
};

// The headers of the remote message being handled on this thread (empty when
// it came from this process).
const Headers& CurrentHeaders();
// The caller's deadline for the remote request being handled on this thread.
std::optional<TimePoint> CurrentDeadline();

// One start of one actor system at one endpoint: a node. A process restarted
// at the same endpoint is another node (a new incarnation); a PID of the old
// one never reaches the new one.
struct NodeId {
  std::string system;        // actor-system name
  std::string endpoint;      // "host:port" the node serves on
  uint64_t incarnation = 0;  // random and non-zero per Remoting::Enable; 0: unknown
                             // (a peer that speaks only wire version 1)
  bool operator==(const NodeId&) const = default;
  // "system@host:port#<incarnation, 16 hex digits>"
  std::string ToString() const;
};

// On the system's event stream (system.events().Subscribe(...)).
// Per node, in this order: NodeConnected when the first connection to it
// (either way) is open; NodeDisconnected when the last one closed; then
// either NodeConnected again (it came back within node_lost_after) or
// NodeLost. A new incarnation at a node's endpoint makes the old one lost at
// once (the old one's NodeLost comes before the new one's NodeConnected).
// NodeLost also ends every watch of an actor on that node: watchers get
// Terminated with reason kNodeLost.
struct NodeConnected {
  NodeId node;
};
struct NodeDisconnected {
  NodeId node;
  Status reason;  // why the last connection closed
};
struct NodeLost {
  NodeId node;
  Status reason;
};

struct TlsOptions {
  bool enabled = false;
  std::string cert_file;  // PEM; this node's certificate chain
  std::string key_file;   // PEM; its private key
  std::string ca_file;    // PEM; the CAs that sign peers' certificates
  // Mutual TLS: the server demands a client certificate signed by `ca_file`.
  // Clients always verify the server's certificate against `ca_file`.
  bool require_client_cert = false;
};

struct RemoteOptions {
  std::string host = "127.0.0.1";  // address the server binds and advertises
  uint16_t port = 0;               // 0: the kernel picks (see Remoting::port())
  int accept_loops = 2;            // SO_REUSEPORT sockets, one thread each
  int io_threads = 2;              // sharded I/O threads for connections
  std::size_t max_frame_bytes = 16u << 20;  // larger frames are refused
  int max_connections = 10000;              // inbound; more are refused
  Duration idle_timeout = std::chrono::seconds(60);  // inbound, no traffic
  // An inbound connection whose hello is not complete this long after the
  // client connected is closed. At 1 s or more the listener also uses
  // TCP_DEFER_ACCEPT (1 s), and the time the kernel held a silent
  // connection counts against this timeout.
  Duration handshake_timeout = std::chrono::seconds(5);
  Duration connect_timeout = std::chrono::seconds(3);
  // The codec this node prefers, and the ones it accepts from peers. A client
  // offers its preference first; the server takes the first offered codec it
  // accepts. No common codec: the connection fails naming both lists.
  Compression compression = Compression::kNone;
  std::vector<Compression> accept_compression = {Compression::kNone, Compression::kZstd,
                                                 Compression::kBrotli, Compression::kGzip};
  TlsOptions tls;
  // Idle outbound connections kept per endpoint.
  int max_idle_per_endpoint = 4;
  // Outbound connections open per endpoint (requests are spread over them).
  int connections_per_endpoint = 1;
  // After a failed connect, wait this long (doubling up to max) before the
  // next attempt; calls in between fail fast with kUnavailable.
  Duration reconnect_backoff = std::chrono::milliseconds(50);
  Duration max_reconnect_backoff = std::chrono::seconds(2);
  // Run actors made runnable by a remote message on the I/O thread that read
  // it (saves a thread wake-up per message; turns stay bounded by throughput).
  bool run_actors_on_io_threads = true;
  // After traffic, an I/O thread polls without sleeping this long before it
  // blocks (a sleeping thread takes tens of microseconds to wake). Costs CPU
  // only while messages flow; zero disables it.
  Duration io_spin = std::chrono::microseconds(50);
  // An actor turn run on an I/O thread that outlasts this (checked every
  // `inline_turn_limit`, so noticed within two periods) hands that thread's
  // connections to another thread, and the actor runs on the workers from
  // then on: one slow actor never holds up the PINGs, replies and deadlines
  // of the other connections. Zero: never hand off.
  Duration inline_turn_limit = std::chrono::milliseconds(5);
  // After a protocol error, how long a connection waits for the answers to
  // the requests that came before the bad frame; then the ERROR, then the
  // close (see the wire document, section 5).
  Duration error_linger = std::chrono::seconds(1);
  // Liveness of node-to-node connections (wire version 2): a side that has
  // read nothing for heartbeat_interval sends a PING; a connection that has
  // read nothing for heartbeat_timeout is closed (kUnavailable), which is
  // how a dead, frozen or cut-off peer is noticed. Zero interval: no PINGs.
  Duration heartbeat_interval = std::chrono::seconds(1);
  Duration heartbeat_timeout = std::chrono::seconds(5);
  // A node whose last connection closed is dialed again until it answers or
  // this long has passed; then it is lost (NodeLost, Terminated kNodeLost to
  // the watchers of its actors, its PIDs refuse messages from then on).
  Duration node_lost_after = std::chrono::seconds(5);
  // A thread blocked in Ask on a remote PID busy-waits this long for the
  // answer before it sleeps (a remote round trip takes tens of microseconds;
  // waking a sleeping thread costs about as much again).
  Duration ask_spin = std::chrono::microseconds(200);
  std::shared_ptr<ContextPropagator> propagator;  // null: DefaultPropagator()
  // What connections run on: null is TCP. akt::testing::SimNetwork sets its
  // simulated network here (akt/testing/sim.h); nothing else needs it.
  std::shared_ptr<remote::Transport> transport;
};

// Options of a remote spawn; they travel to the other node.
struct RemoteSpawnOptions {
  // Keep the actor on the node it is spawned on: no relocation moves it
  // (the same notion, and polarity, as GrainOptions::disable_relocation).
  // Recorded with the actor there; see Remoting::RelocatableActors.
  bool disable_relocation = false;
  // Passivate after this much idle time; zero: long-lived.
  Duration passivate_after = Duration::zero();
  std::size_t stash_capacity = 0;
  // Supervisor directive for any failure: "stop", "resume", "restart" or
  // "escalate"; empty: the system default.
  std::string supervisor_directive;
  int supervisor_max_retries = 0;
  // Serialised with Dependency::Serialize; the far side restores them with
  // its RegisterDependencyType factories.
  std::vector<std::shared_ptr<Dependency>> dependencies;
};

struct RemotingStats {
  uint64_t frames_sent = 0;
  uint64_t frames_received = 0;
  uint64_t bytes_sent = 0;      // on the wire (after compression)
  uint64_t bytes_received = 0;  // on the wire
  uint64_t write_calls = 0;     // send syscalls (frames_sent / write_calls = batching)
  uint64_t connections_accepted = 0;
  uint64_t connections_refused = 0;
  uint64_t connections_open = 0;  // inbound + outbound now
  uint64_t protocol_errors = 0;   // connections closed for bad input
  uint64_t error_replies = 0;     // error frames sent
  // Times a slow actor turn made an I/O thread hand its connections over.
  uint64_t io_handoffs = 0;
};

class RemotingImpl;

// Continues a non-blocking remote call on the actor that made it (see
// Remoting::RequestLookup): runs exactly once on that actor, with the result
// or kTimeout / kUnavailable / kNotFound / ..., like RequestBuilder::Then.
// It does not run if the actor stops first.
using PidCallback = std::function<void(ReceiveContext& ctx, Result<PID> pid)>;
using AckCallback = std::function<void(ReceiveContext& ctx, Status status)>;

// A remote lookup or spawn not sent yet: Then(...) sends it.
class [[nodiscard]] PidCall {
 public:
  void Then(PidCallback callback) &&;

 private:
  friend class RemotingImpl;
  PidCall(ReceiveContext* ctx, RemotingImpl* impl, PID to, Message msg, Duration timeout,
          Result<PID> now)
      : ctx_(ctx), impl_(impl), to_(std::move(to)), msg_(std::move(msg)), timeout_(timeout),
        now_(std::move(now)) {}
  ReceiveContext* ctx_;
  RemotingImpl* impl_;
  PID to_;  // the other node's control target; empty: `now_` is the answer
  Message msg_;
  Duration timeout_;
  Result<PID> now_;
};

// A remote stop / restart / reinstate not sent yet: Then(...) sends it.
class [[nodiscard]] AckCall {
 public:
  void Then(AckCallback callback) &&;

 private:
  friend class RemotingImpl;
  AckCall(ReceiveContext* ctx, PID to, Message msg, Duration timeout, Status now)
      : ctx_(ctx), to_(std::move(to)), msg_(std::move(msg)), timeout_(timeout),
        now_(std::move(now)) {}
  ReceiveContext* ctx_;
  PID to_;  // empty: `now_` is the answer
  Message msg_;
  Duration timeout_;
  Status now_;
};

class Remoting {
 public:
  // Starts the server and attaches remoting to `system` (which owns it and
  // shuts it down when it stops). One per system.
  static Result<Remoting*> Enable(ActorSystem& system, RemoteOptions options);
  // The remoting attached to `system`, or null.
  static Remoting* Of(ActorSystem& system);

  // "host:port" this node serves on (the real port when 0 was asked for).
  const std::string& endpoint() const;
  uint16_t port() const;
  // This node: system name, endpoint and this start's incarnation.
  const NodeId& self() const;
  [[deprecated("use self()")]] const NodeId& Self() const { return self(); }
  // The nodes with at least one open connection now.
  std::vector<NodeId> ConnectedNodes() const;

  // Kinds that peers may spawn here by name.
  Status RegisterKind(std::string kind, ActorFactory factory);

  // A PID for the actor at `address` ("akt://sys@host:port/name"), without
  // asking the other node whether it exists (messages to a missing actor
  // come back as error frames / dead letters there). An address of this
  // node gives the local PID.
  Result<PID> ActorOf(std::string_view address);
  // Asks the node at `endpoint` ("host:port") for the actor `name`.
  Result<PID> Lookup(std::string_view endpoint, std::string_view name,
                     Duration timeout = std::chrono::seconds(5));
  // Spawns an actor of a registered `kind` on the node at `endpoint`.
  Result<PID> SpawnRemote(std::string_view endpoint, std::string_view name, std::string_view kind,
                          const RemoteSpawnOptions& options = {},
                          Duration timeout = std::chrono::seconds(5));
  // Stops / restarts (re-spawns in place) / reinstates a remote actor and
  // waits for the other node to confirm.
  Status StopRemote(const PID& pid, Duration timeout = std::chrono::seconds(5));
  Status RestartRemote(const PID& pid, Duration timeout = std::chrono::seconds(5));
  Status ReinstateRemote(const PID& pid, Duration timeout = std::chrono::seconds(5));

  // The same calls without blocking, for use inside an actor turn (the
  // blocking ones refuse to run there): the answer continues in Then(...)
  // on the calling actor, which goes on with other messages meanwhile.
  //
  //   remoting->RequestLookup(ctx, "10.0.0.7:7000", "orders", 1s)
  //       .Then([](akt::ReceiveContext& ctx, akt::Result<akt::PID> orders) {
  //         if (orders.ok()) ctx.Tell(*orders, shop::Get{}).IgnoreError();
  //       });
  //
  // A PID from RequestLookup / RequestSpawn binds to the node's start
  // (incarnation) at its first send, like one from ActorOf; the blocking
  // forms bind it to the node that answered. For this node's own endpoint
  // the answer is known at once: Then runs the callback before it returns.
  PidCall RequestLookup(ReceiveContext& ctx, std::string_view endpoint, std::string_view name,
                        Duration timeout = std::chrono::seconds(5));
  PidCall RequestSpawn(ReceiveContext& ctx, std::string_view endpoint, std::string_view name,
                       std::string_view kind, const RemoteSpawnOptions& options = {},
                       Duration timeout = std::chrono::seconds(5));
  AckCall RequestStop(ReceiveContext& ctx, const PID& pid,
                      Duration timeout = std::chrono::seconds(5));
  AckCall RequestRestart(ReceiveContext& ctx, const PID& pid,
                         Duration timeout = std::chrono::seconds(5));

  // Actors spawned here by kind (SpawnRemote from any node) that are alive
  // and may be relocated (no disable_relocation): what the cluster layer
  // re-creates elsewhere from their spawn records. Sorted by name.
  std::vector<std::string> RelocatableActors() const;

  // The address other nodes use for a local actor of this system.
  std::string AddressOf(const PID& pid) const;
  // True when `pid` names an actor in another process.
  static bool IsRemote(const PID& pid);

  RemotingStats Stats() const;

  // Grains hosted by another node. A grain of this node (endpoint() ==
  // `endpoint`) is reached locally, never over the network. A remote grain
  // PID stays valid across the grain's deactivations: the node activates it
  // again on the next message.
  // GrainOf activates the grain there now (one round trip) and reports an
  // unknown kind at once; TellGrain/AskGrain need no round trip of their own:
  // the first message activates the grain (an unknown kind then fails that
  // ask with kNotFound; a tell's failure comes back as an error frame).
  Result<PID> GrainOf(std::string_view endpoint, const GrainIdentity& id,
                      Duration timeout = std::chrono::seconds(5));
  Status TellGrain(std::string_view endpoint, const GrainIdentity& id, Message msg);
  Result<Message> AskGrain(std::string_view endpoint, const GrainIdentity& id, Message msg,
                           Duration timeout);

  ~Remoting();
  Remoting(const Remoting&) = delete;
  Remoting& operator=(const Remoting&) = delete;

 private:
  friend class RemotingImpl;
  explicit Remoting(RemotingImpl* impl) : impl_(impl) {}
  RemotingImpl* impl_;  // owned by the system's remote hooks
};

}  // namespace akt
