// akt/cluster.h — several nodes as one cluster: membership, failure
// detection and membership events.
//
// A node joins a cluster after remoting is enabled. Discovery (which
// endpoints may hold members) comes from a membership provider; the
// members then agree on one sequence of views among themselves, and probe
// each other over remoting (SWIM-style, with indirect probes), so a crashed
// node is declared down in well under a second on a LAN, not after a
// lease runs out.
//
//   akt::ClusterOptions co;
//   co.roles = {"api"};
//   co.provider = akt::StaticProvider({"127.0.0.1:7001", "127.0.0.1:7002"});
//   co.min_members = 2;  // do not form a cluster alone
//   akt::Result<akt::Cluster*> cluster = akt::Cluster::Join(system, co);
//   auto sub = system.events().Subscribe([](const akt::Message& e) {
//     if (const auto* down = e.As<akt::NodeDown>()) {
//       std::printf("%s is down\n", down->member.node.ToString().c_str());
//     }
//   });
//   std::vector<akt::Member> members = (*cluster)->Members();
//
// Every member sees the same sequence of NodeJoined / NodeLeft / NodeDown /
// LeaderChanged events (docs/guide.md, "Cluster", says what is promised and
// when a node can see fewer). The leader is the oldest live member.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "akt/remote.h"
#include "akt/status.h"

namespace akt {

class ActorSystem;

// A member of the cluster: a node (one start of one system at one
// endpoint), its roles, and its age (the order in which it was admitted;
// lower is older).
struct Member {
  NodeId node;
  std::vector<std::string> roles;
  uint64_t age = 0;
  bool HasRole(const std::string& role) const;
};

// Membership events, on the system's event stream. `version` is the view
// that made the change (views are numbered 1, 2, ... by the leader).
struct NodeJoined {
  Member member;
  uint64_t version = 0;
};
struct NodeLeft {  // a graceful leave (Cluster::Leave, or its system stopped)
  Member member;
  uint64_t version = 0;
};
struct NodeDown {  // declared failed by the failure detector
  Member member;
  uint64_t version = 0;
  std::string reason;
};
struct LeaderChanged {
  std::optional<Member> leader;  // empty: this node is no longer a member
  uint64_t version = 0;
};

// Where a node looks for the other members. Implementations: the static
// list (StaticProvider), an in-process registry for unit tests
// (InProcessProvider); etcd (akt/cluster_etcd.h).
class MembershipProvider {
 public:
  virtual ~MembershipProvider() = default;
  // This node is starting / stopping (a real engine records it; the static
  // list does nothing). Called on the node's cluster actor: keep it short.
  virtual Status Register(const Member& self) = 0;
  virtual Status Deregister(const Member& self) = 0;
  // Endpoints ("host:port") that may hold members, this node's own included
  // or not. Called at every join attempt until the node is a member.
  virtual Result<std::vector<std::string>> Peers() = 0;
};

// A fixed list of seed endpoints; the members agree on the membership over
// remoting, so no server is needed.
std::shared_ptr<MembershipProvider> StaticProvider(std::vector<std::string> seeds);

// Nodes of this process that share `registry` find each other (for fast
// unit tests only; akt::testing::SimNetwork nodes use it too).
class InProcessRegistry;
std::shared_ptr<InProcessRegistry> NewInProcessRegistry();
std::shared_ptr<MembershipProvider> InProcessProvider(std::shared_ptr<InProcessRegistry> registry);

struct ClusterOptions {
  // Nodes of different clusters never merge; letters, digits, '-', '_'.
  std::string name = "akt";
  std::vector<std::string> roles;
  std::shared_ptr<MembershipProvider> provider;  // required
  // Cold start: a node that finds no cluster forms one only once it sees
  // this many nodes (itself included) that are not in a cluster either;
  // the one with the smallest endpoint forms it. 1: a node alone forms a
  // cluster at once. A node never forms a cluster while it knows of one.
  int min_members = 1;
  // Join attempts: the first after join_retry, doubling up to
  // max_join_retry, until the node is a member.
  Duration join_retry = std::chrono::milliseconds(100);
  Duration max_join_retry = std::chrono::seconds(2);
  // Failure detection (SWIM): every probe_interval a member pings the next
  // member of a shuffled round; no answer within probe_timeout: it asks
  // `indirect_probes` other members to ping it; none of them reached it
  // within another 2 * probe_timeout: the leader is told, checks once more
  // itself, and declares the node down if a majority of the view still
  // answers it. A closed connection to a member makes it probed at once.
  // Defaults: kill -9 is declared down in tens of milliseconds on loopback
  // (the connection resets), a frozen or cut-off node within about 1.5 s.
  Duration probe_interval = std::chrono::milliseconds(300);
  Duration probe_timeout = std::chrono::milliseconds(250);
  int indirect_probes = 3;
  // How often a member re-sends the view it holds to a random member (a
  // member that missed a step catches up), and re-announces itself to
  // discovery's endpoints outside the view (two halves started apart merge).
  Duration gossip_interval = std::chrono::seconds(1);
  // How long Spawn / SpawnOn / ActorOf / SendAsync / SendSync wait for the
  // directory (a name's owner that is being rebuilt after a membership
  // change answers "ask again"); then kUnavailable.
  Duration directory_timeout = std::chrono::seconds(5);
  // Grains: no new activation anywhere until the view has this many members
  // (a message that would activate one is answered kUnavailable, retryable,
  // meanwhile); grains already active keep serving. Where a new activation
  // goes: GrainOptions::activation_strategy / activation_role.
  int grain_activation_min_members = 1;
};

// Where Cluster::SpawnOn puts an actor, among the live members that have
// the role asked for (all members when none).
enum class Placement : uint8_t {
  kRoundRobin,  // the next member in turn (per calling node)
  kRandom,
  kLocal,      // this node
  kLeastLoad,  // the member with the fewest actors and grains (asked at the call)
};

struct SpawnOnOptions {
  Placement placement = Placement::kRoundRobin;
  std::string role;  // empty: any member
  // Travel with the spawn: supervisor, passivation, stash, dependencies,
  // the relocation flag.
  RemoteSpawnOptions spawn;
  Duration timeout = std::chrono::seconds(5);
};

enum class MemberState : uint8_t {
  kJoining,  // looking for a cluster
  kUp,       // a member
  kLeaving,  // Leave asked; waiting for the view that removes it
  kLeft,     // removed by its own leave
  kDown,     // removed as failed (it was frozen, or cut off): it never rejoins
             // as this start; restart the node (a new incarnation)
};
std::string_view MemberStateName(MemberState s);

class ClusterImpl;

class Cluster {
 public:
  // Joins (or forms, see min_members) the cluster named `options.name`.
  // Remoting must be enabled on `system`. Returns at once; the node is a
  // member when state() is kUp (WaitUp blocks until then). One per system;
  // the system leaves the cluster when it stops.
  static Result<Cluster*> Join(ActorSystem& system, ClusterOptions options);
  static Cluster* Of(ActorSystem& system);

  // kOk once a member, kTimeout after `timeout`.
  Status WaitUp(Duration timeout);
  MemberState state() const;
  // This node as a member (age 0 until admitted).
  Member self() const;
  // The live members of the current view, oldest first (this node's view;
  // empty until admitted).
  std::vector<Member> Members() const;
  std::optional<Member> Leader() const;
  uint64_t version() const;

  // Leaves gracefully: the leader removes this node (NodeLeft on every
  // member), then this node stops probing and answering as a member.
  // Blocks until removed or `timeout` (kTimeout); not from inside an actor.
  // StartLeave does not wait (state() says when it is kLeft).
  Status Leave(Duration timeout = std::chrono::seconds(5));
  void StartLeave();

  // Spawns an actor of `kind` (registered with Remoting::RegisterKind on
  // the chosen node) named `name`, unique in the cluster, on a member chosen
  // by `options.placement` among those with `options.role`. Returns once the
  // name is in the directory (found from every node) and the actor runs.
  // kAlreadyExists: the name is taken in the cluster; kNotFound: no live
  // member has the role, or the chosen one does not know the kind;
  // kUnavailable / kTimeout: the directory or the node did not answer in
  // options.timeout. Blocking; not from inside an actor.
  Result<PID> SpawnOn(std::string_view kind, std::string_view name,
                      const SpawnOnOptions& options = {});

  ~Cluster();
  Cluster(const Cluster&) = delete;
  Cluster& operator=(const Cluster&) = delete;

 private:
  friend class ClusterImpl;
  explicit Cluster(ClusterImpl* impl) : impl_(impl) {}
  ClusterImpl* impl_;  // owned by the system's cluster service
};

}  // namespace akt
