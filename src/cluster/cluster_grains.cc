// Grains across the cluster: the GrainDirectory the cluster installs, and
// the directory's grain records (docs/design.md, "Grains across the
// cluster").
//
// A grain's key ("grain:<kind>/<name>") has an owner in the view, like a
// name. The owner alone decides where the grain is activated: a message that
// finds no activation on its node goes to the owner, which either knows the
// host (a record {holder, epoch}) and forwards it there, or picks a host by
// the kind's activation strategy and role, records it, and sends that member
// a GrainGrant followed by the message on the same connection. A member
// activates a grain only under a grant (the owner's own grants included),
// and an owner replaces a record only when its holder has left the view or
// released that very epoch. So one identity has at most one activation in
// the cluster; after a view change the new owners rebuild the records from
// the holders (NameRecords carry the grants), and grains stay where they are.
#include "cluster_grains.h"

#include "akt/cluster/directory.pb.h"
#include "directory.h"
#include "grain_registry.h"
#include "internal/access.h"
#include "membership.h"
#include "names.h"
#include "remoting_impl.h"
#include "system_impl.h"

namespace akt {

namespace pb = akt::cluster;
using internal::GrainPlacement;

std::string GrainKey(const GrainIdentity& id) { return "grain:" + id.String(); }

// ---------------------------------------------------------------------------
// The directory's grain records.

Result<NodeId> Directory::GrainTarget(const std::string& key, PID* cached, bool* here) const {
  std::lock_guard<std::mutex> lock(mu_);
  if (auto it = cache_.find(key); it != cache_.end()) {
    *cached = it->second.first;
    return it->second.second;
  }
  const Member* owner = OwnerLocked(key);
  if (owner == nullptr) {
    return UnavailableError("this node is not a cluster member: no grain can be placed");
  }
  *here = owner->node == c_->self().node;
  return owner->node;
}

uint64_t Directory::NewEpochLocked() { return Mix64(++next_epoch_ ^ NodeHash(c_->self().node)) | 1; }

const Member* Directory::PlaceLocked(const GrainChoice& choice, std::string_view from) {
  bool any = choice.role == nullptr || choice.role->empty();
  std::vector<const Member*> candidates;
  for (const Member& m : view_.members) {
    if (any || m.HasRole(*choice.role)) candidates.push_back(&m);
  }
  if (candidates.empty()) return nullptr;
  std::string_view origin = from.empty() ? std::string_view(c_->self().node.endpoint) : from;
  switch (choice.strategy) {
    case ActivationStrategy::kLocal:
      for (const Member* m : candidates) {
        if (m->node.endpoint == origin) return m;
      }
      break;  // the sender may not host it: in turn among those that may
    case ActivationStrategy::kRandom:
      return candidates[Mix64(++random_ ^ NodeHash(c_->self().node)) % candidates.size()];
    case ActivationStrategy::kLeastLoad: {
      const Member* best = nullptr;
      uint64_t best_load = 0;
      for (const Member* m : candidates) {
        uint64_t load = 0;  // a member not probed yet counts as idle
        if (m->node == c_->self().node) {
          load = c_->system().ActorCount();
        } else if (auto it = load_.find(m->node.endpoint); it != load_.end()) {
          load = it->second;
        }
        if (best == nullptr || load < best_load) {
          best = m;
          best_load = load;
        }
      }
      return best;
    }
    case ActivationStrategy::kRoundRobin:
      break;
  }
  return candidates[round_robin_++ % candidates.size()];
}

Status Directory::RouteGrain(const std::string& key, std::string_view from,
                             const GrainChoice& choice, GrainRoute* out) {
  std::lock_guard<std::mutex> lock(mu_);
  const NodeId& me = c_->self().node;
  if (auto g = grants_.find(key); g != grants_.end()) {
    out->here = true;
    out->grant = g->second;
    return Status();
  }
  const Member* owner = OwnerLocked(key);
  if (owner == nullptr) {
    return UnavailableError("this node is not a cluster member: no grain can be placed");
  }
  if (owner->node != me) {  // the owner decides
    out->host = owner->node;
    return Status();
  }
  auto rec = owned_.find(key);
  if (rec != owned_.end() && view_.Find(rec->second.holder) != nullptr) {
    const NodeId& holder = rec->second.holder;
    if (holder == me || holder.endpoint == from) {
      // The holder itself has no activation (its grant never came, or a
      // message overtook its release): it is granted again, never another
      // member, so a late grant cannot make a second activation.
      rec->second.epoch = NewEpochLocked();
      if (holder == me) {
        grants_[key] = rec->second.epoch;
        out->here = true;
      } else {
        out->host = holder;
      }
      out->grant = rec->second.epoch;
      return Status();
    }
    out->host = holder;
    if (!from.empty() && from != me.endpoint) {
      out->hint_to = std::string(from);
      rec->second.lookers.insert(out->hint_to);
    }
    return Status();
  }
  if (!SyncedLocked()) {
    return UnavailableError(key + ": the directory is being rebuilt after a membership change");
  }
  int barrier = c_->options().grain_activation_min_members;
  if (static_cast<int>(view_.members.size()) < barrier) {
    return UnavailableError(key + ": no grain is activated until the cluster has " +
                            std::to_string(barrier) + " members (it has " +
                            std::to_string(view_.members.size()) + ")");
  }
  const Member* host = PlaceLocked(choice, from);
  if (host == nullptr) {
    return NotFoundError("no live member has the role " + internal::Quoted(*choice.role) +
                         " to activate " + key.substr(6));
  }
  Record& r = owned_[key];
  r.holder = host->node;
  r.epoch = NewEpochLocked();
  r.lookers.clear();
  out->grant = r.epoch;
  if (host->node == me) {
    grants_[key] = r.epoch;
    out->here = true;
    return Status();
  }
  out->host = host->node;
  ++load_[host->node.endpoint];  // until its next probe says better
  if (!from.empty() && from != host->node.endpoint && from != me.endpoint) {
    out->hint_to = std::string(from);
    r.lookers.insert(out->hint_to);
  }
  return Status();
}

void Directory::AcceptGrant(const std::string& key, uint64_t epoch) {
  std::lock_guard<std::mutex> lock(mu_);
  // The owner's newest grant counts (its record names it); an activation
  // still running under an older one keeps running and does not release
  // the new one when it ends.
  grants_[key] = epoch;
}

void Directory::ReleaseGrain(const std::string& key, uint64_t epoch) {
  std::string owner_endpoint;
  bool here = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto g = grants_.find(key);
    if (g == grants_.end() || g->second != epoch) return;
    grants_.erase(g);
    const Member* owner = OwnerLocked(key);
    if (owner == nullptr) return;
    owner_endpoint = owner->node.endpoint;
    here = owner->node == c_->self().node;
  }
  pb::NameRelease req;
  req.set_name(key);
  req.set_epoch(epoch);
  ToProto(c_->self().node, req.mutable_holder());
  if (here) {
    ServeRelease(req);
  } else {
    c_->remoting()->TellControl(owner_endpoint, req);
  }
}

void Directory::CacheGrain(const std::string& key, PID pid, const NodeId& holder) {
  std::lock_guard<std::mutex> lock(mu_);
  if (member_ && view_.Find(holder) != nullptr) cache_[key] = {std::move(pid), holder};
}

void Directory::Uncache(const std::string& key, const PID& pid) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = cache_.find(key);
  if (it != cache_.end() && it->second.first == pid) cache_.erase(it);
}

void Directory::NoteLoad(const std::string& endpoint, uint64_t load) {
  std::lock_guard<std::mutex> lock(mu_);
  if (member_ && view_.FindEndpoint(endpoint) != nullptr) load_[endpoint] = load;
}

std::size_t Directory::grants() const {
  std::lock_guard<std::mutex> lock(mu_);
  return grants_.size();
}

// ---------------------------------------------------------------------------
// The GrainDirectory seam.

Result<GrainPlacement> ClusterGrainDirectory::Resolve(const GrainIdentity& id) {
  // Active here: it takes the message here (until it ends; its drain hook
  // hands the rest on). The grain shard's lock, not the directory's, which
  // every thread shares: no global lock per message to a local grain.
  if (internal::GrainRegistry::Of(&internal::ImplOf(c_->system()))->ActivePid(id)) {
    return GrainPlacement{};
  }
  GrainPlacement p;
  PID cached;
  bool here = false;
  Result<NodeId> owner = c_->directory().GrainTarget(GrainKey(id), &cached, &here);
  if (!owner.ok()) return owner.status();
  if (cached) {
    p.where = GrainPlacement::Where::kRemote;
    p.target = std::move(cached);
    return p;
  }
  if (here) return p;  // this node decides (Claim): in-process, never a socket
  Result<PID> far = c_->remoting()->LazyGrainPid(owner->endpoint, id);
  if (!far.ok()) return far.status();
  p.where = GrainPlacement::Where::kRemote;
  p.target = *far;
  return p;
}

Result<uint64_t> ClusterGrainDirectory::Claim(const GrainIdentity& id, const GrainOptions& options,
                                              std::string_view from, GrainPlacement* owner) {
  std::string key = GrainKey(id);
  Directory::GrainChoice choice{options.activation_strategy, &options.activation_role};
  Directory::GrainRoute route;
  Status s = c_->directory().RouteGrain(key, from, choice, &route);
  if (!s.ok()) return s;
  if (route.here) return route.grant;
  if (route.grant != 0) {
    pb::GrainGrant grant;
    grant.set_key(key);
    grant.set_epoch(route.grant);
    c_->remoting()->TellControl(route.host.endpoint, grant);
  }
  if (!route.hint_to.empty()) {
    pb::GrainPlaced placed;
    placed.set_key(key);
    ToProto(route.host, placed.mutable_holder());
    c_->remoting()->TellControl(route.hint_to, placed);
  }
  Result<PID> far = c_->remoting()->LazyGrainPid(route.host.endpoint, id);
  if (!far.ok()) return far.status();
  if (owner != nullptr) {
    owner->where = GrainPlacement::Where::kRemote;
    owner->target = *far;
  }
  return AlreadyExistsError(id.String() + " is served by " + route.host.endpoint);
}

void ClusterGrainDirectory::Release(const GrainIdentity& id, uint64_t epoch) {
  c_->directory().ReleaseGrain(GrainKey(id), epoch);
}

void ClusterGrainDirectory::Invalidate(const GrainIdentity& id, const GrainPlacement& stale) {
  // A host that could not take the message is asked about again; a node
  // that is gone leaves the view, and its records with it.
  c_->directory().Uncache(GrainKey(id), stale.target);
}

void ClusterGrainDirectory::Placed(const pb::GrainPlaced& placed) {
  Result<GrainIdentity> id = GrainIdentity::Parse(std::string_view(placed.key()).substr(6));
  if (!id.ok() || placed.key().rfind("grain:", 0) != 0) return;
  NodeId holder = FromProto(placed.holder());
  Result<PID> far = c_->remoting()->LazyGrainPid(holder.endpoint, *id);
  if (far.ok()) c_->directory().CacheGrain(placed.key(), *far, holder);
}

}  // namespace akt
