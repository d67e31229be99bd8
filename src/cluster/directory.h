// The cluster's directory of top-level actor names (internal): the owner
// side (records of the names it owns, answered on the I/O threads), the
// holder side (the names this node's actors hold), and each node's cache of
// lookups. docs/design.md, "Cluster directory", argues its promises.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "akt/cluster.h"
#include "akt/grain.h"
#include "akt/pid.h"
#include "akt/status.h"
#include "cluster_impl.h"

namespace akt {

namespace cluster {
class NameClaim;
class NameClaimReply;
class NameLookup;
class NameLookupReply;
class NameRecords;
class NameRelease;
class NameGone;
class NameRecordsRequest;
}  // namespace cluster

// splitmix64's finaliser: rendezvous scores, grain grant epochs, Random.
uint64_t Mix64(uint64_t h);

class Directory {
 public:
  explicit Directory(ClusterImpl* cluster) : c_(cluster) {}

  // The membership actor moved to `view` (state: this node's).
  void OnView(const View& view, MemberState state);

  // Holder side (blocking with a deadline; not from an actor turn).
  Status Claim(const std::string& name);  // for this node
  Status ClaimFor(const std::string& name, const NodeId& holder, Duration timeout);
  void Reserve(const std::string& name);  // the SpawnOn caller claimed it for us
  void Unreserve(const std::string& name);
  void Release(const std::string& name);
  Result<PID> Resolve(std::string_view name, Duration timeout);

  // Owner side (I/O threads).
  void ServeClaim(const cluster::NameClaim& req, cluster::NameClaimReply* out);
  void ServeLookup(const cluster::NameLookup& req, const std::string& from_endpoint,
                   cluster::NameLookupReply* out);
  // Also drops a reservation the release names (a SpawnOn that failed).
  void ServeRelease(const cluster::NameRelease& req);
  void ServeRecords(const cluster::NameRecords& req);
  void ServeGone(const cluster::NameGone& req);
  void ServeRecordsRequest(const cluster::NameRecordsRequest& req);
  // Asks the members whose records of this view have not come for them
  // again (the membership actor calls it every gossip_interval).
  void Repair();

  // Names this node's actors hold (for the tests and Members' load).
  std::size_t held() const;

  // Grains (cluster_grains.cc). A grain's key ("grain:<kind>/<name>") has
  // an owner like a name; the owner decides, once, which member hosts it
  // (a record {holder, epoch}) and grants that member the activation.
  struct GrainChoice {
    ActivationStrategy strategy = ActivationStrategy::kLocal;
    const std::string* role = nullptr;  // empty or null: any member
  };
  struct GrainRoute {
    bool here = false;     // activate here under grant `epoch`
    NodeId host;           // otherwise: post the message to this member
    uint64_t grant = 0;    // nonzero: first send `host` a GrainGrant of this epoch
    std::string hint_to;   // nonempty: tell this endpoint where the grain is
  };
  // A message for `key` found no activation here; it came from `from`
  // (an endpoint; empty: this node). Errors: kUnavailable (not a member,
  // rebuilding, activation barrier: retryable), kNotFound (no member has the
  // role).
  Status RouteGrain(const std::string& key, std::string_view from, const GrainChoice& choice,
                    GrainRoute* out);
  void AcceptGrant(const std::string& key, uint64_t epoch);
  // The activation of grant `epoch` ended here.
  void ReleaseGrain(const std::string& key, uint64_t epoch);
  // Where to send a message for `key` found inactive here: the host this
  // node cached (`*cached` set), else the key's owner in this node's view
  // (`*here`: this node). kUnavailable: not a member. One lock.
  Result<NodeId> GrainTarget(const std::string& key, PID* cached, bool* here) const;
  // Senders' cache of grain hosts (dropped on a view change or NameGone).
  void CacheGrain(const std::string& key, PID pid, const NodeId& holder);
  void Uncache(const std::string& key, const PID& pid);
  // A member's load as last probed (kLeastLoad).
  void NoteLoad(const std::string& endpoint, uint64_t load);
  std::size_t grants() const;

 private:
  struct Early {
    std::vector<std::string> names;
    std::vector<std::pair<std::string, uint64_t>> grains;  // key, epoch
  };
  struct Record {
    NodeId holder;
    uint64_t epoch = 0;             // a grain's grant; 0 for a name
    std::set<std::string> lookers;  // endpoints that cached it
  };
  // The owner of `name` in view_ (mu_ held); null when not a member.
  const Member* OwnerLocked(std::string_view name) const;
  bool SyncedLocked() const;
  void ApplyRecordsLocked(const NodeId& from, const Early& records);
  // The names and grants this node holds that `to` owns.
  void AddHeldLocked(const NodeId& to, cluster::NameRecords* records) const;
  const Member* PlaceLocked(const GrainChoice& choice, std::string_view from);
  uint64_t NewEpochLocked();  // a grant's epoch: nonzero, unique in practice
  // Waits `d` (in a deterministic system: runs it for `d`).
  void Pause(Duration d);

  ClusterImpl* c_;
  mutable std::mutex mu_;
  View view_;
  std::vector<uint64_t> member_hash_;  // NodeHash of view_.members[i]
  bool member_ = false;
  // Owner side.
  std::unordered_map<std::string, Record> owned_;
  std::set<std::string> synced_from_;  // member keys whose records for view_ came
  // Records for a view this node has not reached: (term, version) -> from -> records.
  std::map<std::pair<uint64_t, uint64_t>, std::map<std::string, Early>> early_;
  // Holder side.
  std::set<std::string> held_;
  std::set<std::string> reserved_;
  std::unordered_map<std::string, uint64_t> grants_;  // grain key -> epoch granted to this node
  std::unordered_map<std::string, uint64_t> load_;    // endpoint -> load (probed + granted since)
  uint64_t next_epoch_ = 0;
  uint64_t round_robin_ = 0;
  uint64_t random_ = 0;
  // Cache: name (or grain key) -> PID of the actor on another node.
  std::unordered_map<std::string, std::pair<PID, NodeId>> cache_;
};

}  // namespace akt
