// The remoting layer of one actor system (internal).
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <variant>
#include <vector>

#include "akt/grain.h"
#include "akt/messages.h"
#include "akt/remote.h"
#include "akt/system.h"
#include "connection.h"
#include "system_impl.h"

typedef struct ssl_ctx_st SSL_CTX;

namespace akt::remote {
class SpawnRequest;  // akt/remote/control.pb.h
}  // namespace akt::remote

namespace akt {

struct RemoteStatsAtomics {
  std::atomic<uint64_t> frames_sent{0}, frames_received{0}, bytes_sent{0}, bytes_received{0},
      write_calls{0}, connections_accepted{0}, connections_refused{0}, connections_open{0},
      protocol_errors{0}, error_replies{0}, io_handoffs{0};
};

// A random, non-zero incarnation for a node that starts now.
uint64_t NewIncarnation();

// What a proxy cell stands for.
struct ProxyData {
  ProxyData(std::string e, std::string n, uint64_t inc)
      : endpoint(std::move(e)), name(std::move(n)), incarnation(inc) {}
  std::string endpoint;  // host:port
  std::string name;      // actor name on that node
  // The node incarnation it belongs to; 0 until the first connection it
  // uses (a PID made from a bare address binds to whichever it reaches).
  std::atomic<uint64_t> incarnation;
  std::atomic<bool> lost{false};  // its node was lost: refuses everything
  bool binds = true;              // false for grains (set before it is shared)
};

// A control request's answer (sent back for an ASK), or why it was refused.
using ControlAnswer = Result<std::unique_ptr<google::protobuf::Message>>;
// Serves one type of control request ($remote). Runs on the thread that read
// the frame: it must not block.
using ControlHandler = std::function<ControlAnswer(remote::Connection*, const Message&)>;

class RemotingImpl final : public internal::RemoteHooks {
 public:
  RemotingImpl(ActorSystem& system, RemoteOptions options);
  ~RemotingImpl() override;

  Status Start();
  Remoting* facade() { return &facade_; }

  // RemoteHooks.
  Status Post(internal::ActorCell* proxy, internal::Envelope* e) override;
  void Control(internal::ActorCell* proxy, internal::SysKind kind) override;
  void BeforeInvoke(const internal::EnvelopeMeta* meta) override;
  void OnActorsStopped() override { Shutdown(); }
  void Watched(internal::ActorCell* proxy) override;
  void Unwatched(internal::ActorCell* proxy) override;
  // Remote watch (src/remote/watch.cc).
  void SendTerminatedNotice(const std::string& endpoint, const std::string& name);
  void Shutdown();

  // For connections.
  const RemoteOptions& options() const { return options_; }
  const std::string& system_name() const { return system_name_; }
  RemoteStatsAtomics& stats() { return stats_; }
  bool ChooseCodec(const std::vector<uint8_t>& offered, Compression* chosen, std::string* why);
  void HandleFrame(remote::Connection* c, const remote::wire::Frame& f);
  void Deliver(remote::Pending& p, Result<Message> answer);
  void OnConnectionClosed(remote::Connection* c, const Status& why);
  // Node identity (src/remote/nodes.cc). A connection whose peer became
  // known calls NodeUp once, and NodeDown once when it closes.
  const NodeId& self_node() const { return self_; }
  // The remoting clock (ns): steady_clock, or the system's virtual time.
  int64_t NowNs() const { return sys_->NowNs(); }
  // A simulated transport hands over the listening end of a new stream.
  Status AcceptStream(std::unique_ptr<remote::Stream> stream, const std::string& peer);
  void NodeUp(remote::Connection* c);
  void NodeDown(remote::Connection* c, const Status& why);
  std::vector<NodeId> ConnectedNodes() const;
  // The node is gone for good (remoting gave up on it, or the cluster
  // declared it down or saw it leave): its PIDs refuse messages from now
  // on, the watchers of its actors get Terminated with `reason`, NodeLost
  // is published. Once per node start.
  void LoseNode(const NodeId& id, const Status& why,
                TerminationReason reason = TerminationReason::kNodeLost);
  // Connections keep the impl alive (they may outlive Shutdown briefly).
  void Ref() { refs_.fetch_add(1, std::memory_order_relaxed); }
  void Unref();
  // An inbound connection is gone (its destructor).
  void InboundClosed() { inbound_open_.fetch_sub(1, std::memory_order_relaxed); }

  // Facade operations.
  const std::string& endpoint() const { return endpoint_; }
  uint16_t port() const { return port_; }
  Status RegisterKind(std::string kind, ActorFactory factory);
  // A layer above remoting (the cluster) serves its own control requests,
  // and sends them: a one-way control request (a TELL to $remote), dropped
  // when the node cannot be reached.
  Status RegisterControl(std::string type, ControlHandler handler);
  void TellControl(const std::string& endpoint, const google::protobuf::Message& req);
  // A control request (an ASK to $remote), blocking until its answer.
  Result<Message> ControlCall(const std::string& endpoint, const google::protobuf::Message& req,
                              Duration timeout, NodeId* answered_by = nullptr);
  Result<PID> ActorOf(std::string_view address);
  // `from`: the node the address came from (a reply, a sender): a PID of
  // that node belongs to that incarnation.
  Result<PID> ActorOfFrom(std::string_view address, const NodeId* from);
  Result<PID> Lookup(std::string_view endpoint, std::string_view name, Duration timeout);
  Result<PID> SpawnRemote(std::string_view endpoint, std::string_view name, std::string_view kind,
                          const RemoteSpawnOptions& options, Duration timeout);
  Status Lifecycle(const PID& pid, int op, Duration timeout);
  // Non-blocking forms (inside a turn): requests to the control target.
  PidCall RequestLookup(ReceiveContext& ctx, std::string_view endpoint, std::string_view name,
                        Duration timeout);
  PidCall RequestSpawn(ReceiveContext& ctx, std::string_view endpoint, std::string_view name,
                       std::string_view kind, const RemoteSpawnOptions& options, Duration timeout);
  AckCall RequestLifecycle(ReceiveContext& ctx, const PID& pid, int op, Duration timeout);
  Result<PID> PidFromAnswer(const Result<Message>& r);
  Result<remote::SpawnRequest> MakeSpawnRequest(std::string_view name, std::string_view kind,
                                                const RemoteSpawnOptions& options);
  // A proxy for the control target ($remote) of `endpoint`; it binds to no
  // incarnation (whichever start of the node is there answers).
  PID ControlPid(const std::string& endpoint);
  std::string AddressOf(const PID& pid) const;
  std::vector<std::string> RelocatableActors();
  RemotingStats Stats() const;
  Result<PID> GrainOf(std::string_view endpoint, const GrainIdentity& id, Duration timeout);
  // A PID for the grain on `endpoint` without a round trip: the node
  // activates it on the first message (errors come back on the message).
  Result<PID> LazyGrainPid(std::string_view endpoint, const GrainIdentity& id);
  ActorSystem& system() { return system_; }

 private:
  struct Endpoint {
    std::mutex mu;
    std::vector<remote::Connection*> conns;  // one reference each; LIFO
    int64_t next_attempt_ns = 0;
    Duration backoff{};
    Status last_error;
    std::size_t rr = 0;
  };
  Result<remote::Connection*> Connect(const std::string& endpoint);
  // A node just dialed us from `endpoint`: a dial back is likely to work,
  // so the backoff of failed dials (while it was down) is forgotten. Never
  // waits: skipped while a dial to it is under way.
  void ForgetBackoff(const std::string& endpoint);
  Result<remote::Connection*> ConnectCached(const std::string& endpoint);
  Result<remote::Connection*> Dial(const std::string& endpoint);
  Result<remote::Connection*> DialTransport(const std::string& endpoint);
  // A connection is served from now on: by an I/O loop, or by the sweep of
  // a simulated transport (takes one reference).
  void Adopt(remote::Connection* c);
  // On a transport (RemoteOptions::transport): no socket, no thread; the
  // sweep runs on the system's timers and does the node keeper's work too.
  void StartOnTransport();
  void SweepOnTransport();
  void AcceptLoop(int listen_fd);
  void Accepted(int fd, const std::string& peer);
  // TCP_DEFER_ACCEPT on the listeners, off while the node is at its
  // connection limit (a REFUSED hello then goes out right away).
  void SetDeferAccept(bool on);
  // Hands a loop to another of its threads when an inline turn runs long.
  void WatchdogLoop();
  // `incarnation`: the node the PID came from (0: not known yet).
  PID ProxyFor(const std::string& endpoint, std::string_view name, std::string address,
               uint64_t incarnation = 0);
  // Nodes: re-dials a node whose last connection closed, declares it lost
  // after node_lost_after; LoseNode ends the watches of its actors.
  struct NodeEntry {
    NodeId id;
    int conns = 0;
    int64_t down_since_ns = 0;  // conns == 0 since then
    Status reason;
    bool lost = false;
  };
  // Node events are queued under nodes_mu_ in the order of the changes they
  // tell, and published outside it by one thread at a time, so they reach
  // the event stream in that order (per node: connected, disconnected, ...)
  // even when the changes come from different I/O threads.
  using NodeEvent = std::variant<NodeConnected, NodeDisconnected, NodeLost>;
  void QueueNodeEvent(NodeEvent e) { node_events_.push_back(std::move(e)); }  // nodes_mu_
  void PublishNodeEvents();
  void NodesLoop();
  void NodesCheck(int64_t now_ns);
  Duration NodesPeriod() const;
  internal::ActorCell* ResolveTarget(remote::Connection* c, std::string_view name);
  internal::ActorCell* ResolveSender(remote::Connection* c, std::string_view address);
  Status ParsePayload(remote::Connection* c, std::string_view type, std::string_view payload,
                      Message* out);
  // The frame's payload as a message, or false after refusing the frame.
  bool ParseOrRefuse(remote::Connection* c, const remote::wire::Frame& f, Message* out) {
    Status s = ParsePayload(c, f.type, f.payload, out);
    if (s.ok()) return true;
    c->Refuse(f.correlation, s);
    return false;
  }
  // Control requests: one handler per protobuf type (full name), looked up
  // by the frame's type; the built-in ones are registered at construction.
  void HandleControl(remote::Connection* c, const remote::wire::Frame& f);
  void RegisterBuiltinControls();
  ControlAnswer ServeSpawn(remote::Connection* c, const Message& m);
  ControlAnswer ServeGrain(remote::Connection* c, const Message& m);
  ControlAnswer ServeLookup(remote::Connection* c, const Message& m);
  ControlAnswer ServeLifecycle(remote::Connection* c, const Message& m);
  ControlAnswer ServeWatch(remote::Connection* c, const Message& m);  // and unwatch (watch.cc)
  ControlAnswer ServeTerminatedNotice(remote::Connection* c, const Message& m);
  ActorFactory FindKind(const std::string& kind);
  Status StartWatchRelay();
  const std::string& SenderAddress(internal::ActorCell* cell);

  ActorSystem& system_;
  internal::SystemImpl* sys_;
  RemoteOptions options_;
  std::string system_name_;
  std::string endpoint_;
  std::string prefix_;  // akt://system@host:port/
  uint16_t port_ = 0;
  Remoting facade_;
  std::atomic<uint32_t> refs_{1};
  std::atomic<bool> shut_{false};
  RemoteStatsAtomics stats_;
  std::shared_ptr<ContextPropagator> propagator_;

  std::vector<std::unique_ptr<remote::IoLoop>> loops_;
  std::atomic<std::size_t> next_loop_{0};
  std::vector<int> listen_fds_;
  std::vector<std::thread> acceptors_;
  std::atomic<int> inbound_open_{0};
  int defer_accept_s_ = 0;  // 0: not used
  std::mutex defer_mu_;     // SetDeferAccept (several accept loops)
  std::atomic<bool> defer_on_{false};
  std::atomic<int64_t> defer_on_since_ns_{0};  // when it was last turned on
  std::thread watchdog_;
  std::mutex watchdog_mu_;
  std::condition_variable watchdog_cv_;
  bool watchdog_stop_ = false;  // watchdog_mu_
  int wake_pipe_[2] = {-1, -1};
  SSL_CTX* server_tls_ = nullptr;
  SSL_CTX* client_tls_ = nullptr;

  std::mutex control_mu_;
  // Never erased; looked up by the frame's type without a copy.
  std::unordered_map<std::string, ControlHandler, remote::StringViewHash, std::equal_to<>> control_;

  std::mutex kinds_mu_;
  std::unordered_map<std::string, ActorFactory> kinds_;
  std::unordered_map<std::string, std::string> spawn_records_;  // name -> SpawnRequest bytes

  std::mutex proxies_mu_;
  std::unordered_map<std::string, PID> proxies_;        // by address
  std::unordered_map<std::string, PID> grain_proxies_;  // by "endpoint|kind/name"

  PID watch_relay_;  // remote watchers of this node's actors
  NodeId self_;
  mutable std::mutex nodes_mu_;
  std::unordered_map<std::string, NodeEntry> nodes_;   // by NodeKey (endpoint#incarnation)
  std::unordered_map<std::string, uint64_t> current_;  // endpoint -> newest incarnation seen
  std::thread nodes_thread_;
  std::condition_variable nodes_cv_;
  bool nodes_stop_ = false;  // nodes_mu_
  std::vector<NodeEvent> node_events_;  // nodes_mu_: not published yet
  bool node_events_publishing_ = false;  // nodes_mu_

  std::shared_ptr<remote::Transport> transport_;  // null: TCP
  std::mutex sim_mu_;
  std::vector<remote::Connection*> sim_conns_;  // on a transport; one reference each
  uint64_t sweep_timer_ = 0;                    // sim_mu_

  std::mutex endpoints_mu_;
  std::unordered_map<std::string, std::unique_ptr<Endpoint>> endpoints_;
};

}  // namespace akt
