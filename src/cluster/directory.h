// The cluster's directory of top-level actor names (internal): the owner
// side (records of the names it owns, answered on the I/O threads), the
// holder side (the names this node's actors hold), and each node's cache of
// lookups. docs/design.md, "Cluster directory", argues its promises.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "akt/cluster.h"
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

class Directory {
 public:
  explicit Directory(ClusterImpl* cluster) : c_(cluster) {}
  // Called with the grain keys held here that another member owns after a
  // view change (the cluster's grain directory deactivates them).
  void SetHandOff(std::function<void(std::vector<std::string>)> hand_off) {
    hand_off_ = std::move(hand_off);
  }

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

  // Grains (cluster_grains.cc): a key's owner in the current view, without
  // a round trip; kUnavailable when this node is not a member.
  struct Owner {
    NodeId node;
    bool here = false;
    uint64_t version = 0;
  };
  Result<Owner> OwnerOf(const std::string& key) const;
  // Records an activation of `key` here, which this node must own
  // (kAlreadyExists: `where` names the owner), once the directory is rebuilt
  // and no other member still hosts it (kUnavailable, retryable).
  Status ClaimOwned(const std::string& key, Owner* where);

 private:
  struct Record {
    NodeId holder;
    std::set<std::string> lookers;  // endpoints that cached it
  };
  // The owner of `name` in view_ (mu_ held); null when not a member.
  const Member* OwnerLocked(std::string_view name) const;
  bool SyncedLocked() const;
  void ApplyRecordsLocked(const NodeId& from, const std::vector<std::string>& names);
  // Waits `d` (in a deterministic system: runs it for `d`).
  void Pause(Duration d);

  ClusterImpl* c_;
  std::function<void(std::vector<std::string>)> hand_off_;  // set before the first view
  mutable std::mutex mu_;
  View view_;
  std::vector<uint64_t> member_hash_;  // NodeHash of view_.members[i]
  bool member_ = false;
  // Owner side.
  std::unordered_map<std::string, Record> owned_;
  std::set<std::string> synced_from_;  // member keys whose records for view_ came
  std::map<std::pair<uint64_t, uint64_t>, std::map<std::string, std::vector<std::string>>>
      early_;  // records for a view this node has not reached: (term, version) -> from -> names
  // Holder side.
  std::set<std::string> held_;
  std::set<std::string> reserved_;
  // Cache: name -> PID of the actor on another node.
  std::unordered_map<std::string, std::pair<PID, NodeId>> cache_;
};

}  // namespace akt
