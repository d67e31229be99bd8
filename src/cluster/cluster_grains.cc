// Grains across the cluster: the GrainDirectory the cluster installs. A
// grain identity lives on its owner in the current view (the directory's
// rendezvous hash of "grain:<kind>/<name>"), so finding it needs no round
// trip and activating it no remote claim: the owner is the only node that
// activates it, under the directory's lock. After a view change the node
// that hosted it and no longer owns it deactivates it (kHandingOff) and
// releases it; the new owner, which learns of it from that node's records,
// activates it only after the release — meanwhile a message to it is
// answered kUnavailable (retryable), never delivered to two activations.
#include "cluster_grains.h"

#include "akt/cluster/directory.pb.h"
#include "directory.h"
#include "grain_registry.h"
#include "internal/access.h"
#include "remoting_impl.h"
#include "system_impl.h"

namespace akt {

using internal::GrainPlacement;

std::string GrainKey(const GrainIdentity& id) { return "grain:" + id.String(); }

Result<GrainPlacement> ClusterGrainDirectory::Resolve(const GrainIdentity& id) {
  // Active here: it takes the message here (until it ends; its drain hook
  // hands the rest on). The grain shard's lock, not the directory's, which
  // every thread shares: no global lock per message to a local grain.
  if (internal::GrainRegistry::Of(&internal::ImplOf(c_->system()))->ActivePid(id)) {
    return GrainPlacement{};
  }
  Result<Directory::Owner> owner = c_->directory().OwnerOf(GrainKey(id));
  if (!owner.ok()) return owner.status();
  GrainPlacement p;
  p.epoch = owner->version;
  if (owner->here) return p;  // this node hosts it: in-process, never a socket
  Result<PID> far = c_->remoting()->LazyGrainPid(owner->node.endpoint, id);
  if (!far.ok()) return far.status();
  p.where = GrainPlacement::Where::kRemote;
  p.target = *far;
  return p;
}

Result<uint64_t> ClusterGrainDirectory::Claim(const GrainIdentity& id, GrainPlacement* owner) {
  Directory::Owner where;
  Status s = c_->directory().ClaimOwned(GrainKey(id), &where);
  if (s.ok()) return where.version;
  if (s.code() == StatusCode::kAlreadyExists && owner != nullptr) {
    // Not ours in this view: the owner's PID takes the message.
    Result<PID> far = c_->remoting()->LazyGrainPid(where.node.endpoint, id);
    if (far.ok()) {
      owner->where = GrainPlacement::Where::kRemote;
      owner->target = *far;
      owner->epoch = where.version;
    }
  }
  return s;
}

void ClusterGrainDirectory::Release(const GrainIdentity& id, uint64_t) {
  c_->directory().Release(GrainKey(id));
}

void ClusterGrainDirectory::Invalidate(const GrainIdentity&, const GrainPlacement&) {
  // Placements follow the view: a node that is gone leaves it, and the next
  // Resolve names the new owner.
}

void ClusterGrainDirectory::HandOff(const std::vector<std::string>& keys) {
  internal::GrainRegistry* grains = internal::GrainRegistry::Of(&internal::ImplOf(c_->system()));
  for (const std::string& key : keys) {
    Result<GrainIdentity> id = GrainIdentity::Parse(std::string_view(key).substr(6));
    if (id.ok()) grains->StartDeactivate(*id, DeactivationReason::kHandingOff);
  }
}

}  // namespace akt
