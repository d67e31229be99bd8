// The cluster directory of top-level actor names: rendezvous-hash owners,
// claims arbitrated by the owner, records rebuilt from the holders after
// every view change, lookups cached per node.
#include "directory.h"

#include <algorithm>

#include "actor_cell.h"
#include "akt/cluster/directory.pb.h"
#include "akt/system.h"
#include "connection.h"
#include "internal/access.h"
#include "membership.h"
#include "names.h"
#include "remoting_impl.h"
#include "reply_slot.h"
#include "system_impl.h"

namespace akt {

namespace pb = akt::cluster;

uint64_t Mix64(uint64_t h) {  // splitmix64's finaliser
  h ^= h >> 30;
  h *= 0xbf58476d1ce4e5b9ull;
  h ^= h >> 27;
  h *= 0x94d049bb133111ebull;
  return h ^ (h >> 31);
}

namespace {

uint64_t Fnv(std::string_view s) {
  uint64_t h = 1469598103934665603ull;
  for (char c : s) h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ull;
  return h;
}

std::string Address(const NodeId& holder, std::string_view name) {
  return "akt://" + holder.system + "@" + holder.endpoint + "/" + std::string(name);
}

}  // namespace

const Member* Directory::OwnerLocked(std::string_view name) const {
  if (!member_) return nullptr;
  uint64_t hn = Fnv(name);
  const Member* best = nullptr;
  uint64_t best_score = 0;
  for (std::size_t i = 0; i < view_.members.size(); ++i) {
    uint64_t score = Mix64(hn ^ member_hash_[i]);
    if (best == nullptr || score > best_score) {
      best = &view_.members[i];
      best_score = score;
    }
  }
  return best;
}

bool Directory::SyncedLocked() const {
  for (const Member& m : view_.members) {
    if (synced_from_.count(MemberKey(m.node)) == 0) return false;
  }
  return true;
}

void Directory::ApplyRecordsLocked(const NodeId& from, const Early& records) {
  const NodeId& me = c_->self().node;
  for (const std::string& name : records.names) {
    const Member* owner = OwnerLocked(name);
    if (owner == nullptr || owner->node != me) continue;
    auto [it, fresh] = owned_.try_emplace(name);
    // Claims are arbitrated, so two live holders cannot both have been
    // granted a name; a record of a departed holder gives way.
    if (fresh || view_.Find(it->second.holder) == nullptr) it->second.holder = from;
  }
  for (const auto& [key, epoch] : records.grains) {  // the same argument for grants
    const Member* owner = OwnerLocked(key);
    if (owner == nullptr || owner->node != me) continue;
    auto [it, fresh] = owned_.try_emplace(key);
    if (fresh || view_.Find(it->second.holder) == nullptr) {
      it->second.holder = from;
      it->second.epoch = epoch;
    }
  }
}

void Directory::AddHeldLocked(const NodeId& to, pb::NameRecords* records) const {
  for (const std::string& name : held_) {
    const Member* owner = OwnerLocked(name);
    if (owner != nullptr && owner->node == to) records->add_names(name);
  }
  for (const auto& [key, epoch] : grants_) {
    const Member* owner = OwnerLocked(key);
    if (owner == nullptr || owner->node != to) continue;
    pb::GrainRecord* g = records->add_grains();
    g->set_key(key);
    g->set_epoch(epoch);
  }
}

void Directory::OnView(const View& view, MemberState state) {
  const NodeId& me = c_->self().node;
  std::vector<std::pair<std::string, pb::NameRecords>> sends;
  {
    std::lock_guard<std::mutex> lock(mu_);
    view_ = view;
    member_hash_.clear();
    for (const Member& m : view_.members) member_hash_.push_back(NodeHash(m.node));
    member_ = state == MemberState::kUp || state == MemberState::kLeaving;
    cache_.clear();  // any member may have gone; the next lookup asks again
    if (!member_) {
      owned_.clear();
      synced_from_.clear();
      return;
    }
    for (auto it = owned_.begin(); it != owned_.end();) {
      const Member* owner = OwnerLocked(it->first);
      bool keep = owner != nullptr && owner->node == me && view_.Find(it->second.holder) != nullptr;
      it = keep ? std::next(it) : owned_.erase(it);
    }
    for (auto it = load_.begin(); it != load_.end();) {
      it = view_.FindEndpoint(it->first) != nullptr ? std::next(it) : load_.erase(it);
    }
    synced_from_.clear();
    synced_from_.insert(MemberKey(me));
    std::pair<uint64_t, uint64_t> now{view_.term, view_.version};
    for (auto it = early_.begin(); it != early_.end();) {
      if (it->first == now) {
        for (auto& [key, records] : it->second) {
          // key is "endpoint#incarnation"; the holder is found in the view.
          for (const Member& m : view_.members) {
            if (MemberKey(m.node) == key) {
              ApplyRecordsLocked(m.node, records);
              synced_from_.insert(key);
            }
          }
        }
      }
      it = it->first <= now ? early_.erase(it) : std::next(it);
    }
    // What this node holds and owns itself is recorded at once; the rest
    // goes to its owners (an empty list too: "nothing of yours here").
    for (const std::string& name : held_) {
      const Member* owner = OwnerLocked(name);
      if (owner != nullptr && owner->node == me) owned_[name].holder = me;
    }
    for (const auto& [key, epoch] : grants_) {
      const Member* owner = OwnerLocked(key);
      if (owner == nullptr || owner->node != me) continue;
      Record& r = owned_[key];
      r.holder = me;
      r.epoch = epoch;
    }
    for (const Member& m : view_.members) {
      if (m.node == me) continue;
      pb::NameRecords r;
      ToProto(me, r.mutable_from());
      r.set_view_version(view_.version);
      r.set_view_term(view_.term);
      AddHeldLocked(m.node, &r);
      sends.emplace_back(m.node.endpoint, std::move(r));
    }
  }
  for (auto& [endpoint, records] : sends) c_->remoting()->TellControl(endpoint, records);
}

void Directory::Pause(Duration d) {
  internal::SystemImpl& sys = internal::ImplOf(c_->system());
  // Nobody answers: the call waits `d` (a deterministic system runs meanwhile).
  (void)sys.BlockingCall("a pause", "", "", d, Duration::zero(),
                         [](internal::ReplySlot* slot) { slot->Release(); });
}

Status Directory::Claim(const std::string& name) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (reserved_.erase(name) != 0) {  // SpawnOn claimed it for this node
      held_.insert(name);
      return Status();
    }
  }
  if (remote::IoLoop::OnLoopThread()) {
    return UnavailableError("a cluster name cannot be claimed on a remoting I/O thread: spawn " +
                            internal::Quoted(name) + " on another node with Cluster::SpawnOn");
  }
  return ClaimFor(name, c_->self().node, c_->options().directory_timeout);
}

void Directory::Reserve(const std::string& name) {
  std::lock_guard<std::mutex> lock(mu_);
  reserved_.insert(name);
}

void Directory::Unreserve(const std::string& name) {
  std::lock_guard<std::mutex> lock(mu_);
  reserved_.erase(name);
}

Status Directory::ClaimFor(const std::string& name, const NodeId& holder, Duration timeout) {
  if (internal::InActorTurn()) {
    return FailedPreconditionError("claiming the cluster name " + internal::Quoted(name) +
                                   " blocks: spawn it from outside an actor turn");
  }
  internal::SystemImpl& sys = internal::ImplOf(c_->system());
  TimePoint deadline = sys.Now() + timeout;
  Duration backoff = std::chrono::milliseconds(2);
  pb::NameClaim req;
  req.set_name(name);
  ToProto(holder, req.mutable_holder());
  std::string why = "no member of the cluster answered";
  for (;;) {
    std::string owner_endpoint;
    bool here = false;
    uint64_t version = 0;
    {
      std::lock_guard<std::mutex> lock(mu_);
      const Member* owner = OwnerLocked(name);
      if (owner != nullptr) {
        owner_endpoint = owner->node.endpoint;
        here = owner->node == c_->self().node;
        version = view_.version;
      } else {
        why = "this node is not a cluster member";
      }
    }
    if (!owner_endpoint.empty()) {
      pb::NameClaimReply reply;
      bool answered = true;
      if (here) {
        ServeClaim(req, &reply);
      } else {
        Duration left = deadline - sys.Now();
        Result<Message> r = c_->remoting()->ControlCall(
            owner_endpoint, req, std::max<Duration>(std::min<Duration>(left, std::chrono::seconds(1)),
                                                    std::chrono::milliseconds(1)));
        const auto* rep = r.ok() ? r->As<pb::NameClaimReply>() : nullptr;
        if (rep != nullptr) {
          reply = *rep;
        } else {
          answered = false;
          why = r.ok() ? "an unexpected answer" : r.status().message();
        }
      }
      if (answered && reply.status() == pb::NameClaimReply::GRANTED) {
        std::lock_guard<std::mutex> lock(mu_);
        if (holder == c_->self().node) held_.insert(name);
        if (view_.version == version) return Status();
        // The view moved while asking: the record must be at the new owner.
        why = "the view changed";
        continue;
      }
      if (answered && reply.status() == pb::NameClaimReply::TAKEN) {
        return AlreadyExistsError("an actor named " + internal::Quoted(name) +
                                  " exists in the cluster, on " + reply.holder().endpoint());
      }
      if (answered) why = reply.why();
    }
    if (sys.Now() >= deadline) {
      return UnavailableError("the cluster could not record the name " + internal::Quoted(name) +
                              ": " + why);
    }
    Pause(backoff);
    backoff = std::min<Duration>(backoff * 2, std::chrono::milliseconds(100));
  }
}

void Directory::Release(const std::string& name) {
  std::string owner_endpoint;
  bool here = false;
  pb::NameRelease req;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (held_.erase(name) == 0) return;  // not a cluster name of ours
    const Member* owner = OwnerLocked(name);
    if (owner == nullptr) return;
    owner_endpoint = owner->node.endpoint;
    here = owner->node == c_->self().node;
  }
  req.set_name(name);
  ToProto(c_->self().node, req.mutable_holder());
  if (here) {
    ServeRelease(req);
  } else {
    c_->remoting()->TellControl(owner_endpoint, req);
  }
}

Result<PID> Directory::Resolve(std::string_view name, Duration timeout) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = cache_.find(std::string(name));
    if (it != cache_.end()) return it->second.first;
  }
  internal::SystemImpl& sys = internal::ImplOf(c_->system());
  TimePoint deadline = sys.Now() + timeout;
  Duration backoff = std::chrono::milliseconds(2);
  pb::NameLookup req;
  req.set_name(std::string(name));
  std::string why = "this node is not a cluster member";
  const NodeId& me = c_->self().node;
  for (;;) {
    std::string owner_endpoint;
    bool here = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (const Member* owner = OwnerLocked(name)) {
        owner_endpoint = owner->node.endpoint;
        here = owner->node == me;
      }
    }
    if (!owner_endpoint.empty()) {
      pb::NameLookupReply reply;
      bool answered = true;
      if (here) {
        ServeLookup(req, me.endpoint, &reply);
      } else if (internal::InActorTurn()) {
        return FailedPreconditionError(
            "looking up " + internal::Quoted(name) +
            " in the cluster blocks: from inside an actor only a cached name resolves");
      } else {
        Duration left = deadline - sys.Now();
        Result<Message> r = c_->remoting()->ControlCall(
            owner_endpoint, req, std::max<Duration>(std::min<Duration>(left, std::chrono::seconds(1)),
                                                    std::chrono::milliseconds(1)));
        const auto* rep = r.ok() ? r->As<pb::NameLookupReply>() : nullptr;
        if (rep != nullptr) {
          reply = *rep;
        } else {
          answered = false;
          why = r.ok() ? "an unexpected answer" : r.status().message();
        }
      }
      if (answered && reply.status() == pb::NameLookupReply::FOUND) {
        NodeId holder = FromProto(reply.holder());
        if (holder == me) return sys.Lookup(name);  // gone since: not found
        // Bound to the holder's start: a PID of it never reaches a later one.
        Result<PID> pid = c_->remoting()->ActorOfFrom(Address(holder, name), &holder);
        if (!pid.ok()) return pid;
        std::lock_guard<std::mutex> lock(mu_);
        if (member_ && view_.Find(holder) != nullptr) cache_[std::string(name)] = {*pid, holder};
        return pid;
      }
      if (answered && reply.status() == pb::NameLookupReply::NOT_FOUND) {
        return NotFoundError("no actor named " + std::string(name) + " in the cluster");
      }
      if (answered) why = "the directory is being rebuilt after a membership change";
    }
    if (sys.Now() >= deadline || internal::InActorTurn()) {
      return UnavailableError("could not look up " + internal::Quoted(name) +
                              " in the cluster: " + why);
    }
    Pause(backoff);
    backoff = std::min<Duration>(backoff * 2, std::chrono::milliseconds(100));
  }
}

void Directory::ServeClaim(const pb::NameClaim& req, pb::NameClaimReply* out) {
  std::lock_guard<std::mutex> lock(mu_);
  const NodeId& me = c_->self().node;
  const Member* owner = OwnerLocked(req.name());
  if (owner == nullptr || owner->node != me) {
    out->set_status(pb::NameClaimReply::RETRY);
    out->set_why("not the owner of the name in view " + std::to_string(view_.version));
    return;
  }
  NodeId holder = FromProto(req.holder());
  if (view_.Find(holder) == nullptr) {
    out->set_status(pb::NameClaimReply::RETRY);
    out->set_why("the holder is not a member in view " + std::to_string(view_.version));
    return;
  }
  if (!SyncedLocked()) {
    out->set_status(pb::NameClaimReply::RETRY);
    out->set_why("the directory is being rebuilt after a membership change");
    return;
  }
  auto [it, fresh] = owned_.try_emplace(req.name());
  if (!fresh && it->second.holder != holder && view_.Find(it->second.holder) != nullptr) {
    out->set_status(pb::NameClaimReply::TAKEN);
    ToProto(it->second.holder, out->mutable_holder());
    return;
  }
  it->second.holder = holder;
  out->set_status(pb::NameClaimReply::GRANTED);
  ToProto(holder, out->mutable_holder());
}

void Directory::ServeLookup(const pb::NameLookup& req, const std::string& from_endpoint,
                            pb::NameLookupReply* out) {
  std::lock_guard<std::mutex> lock(mu_);
  const Member* owner = OwnerLocked(req.name());
  if (owner == nullptr || owner->node != c_->self().node) {
    out->set_status(pb::NameLookupReply::RETRY);
    return;
  }
  auto it = owned_.find(req.name());
  if (it != owned_.end() && view_.Find(it->second.holder) != nullptr) {
    out->set_status(pb::NameLookupReply::FOUND);
    ToProto(it->second.holder, out->mutable_holder());
    if (from_endpoint != it->second.holder.endpoint) it->second.lookers.insert(from_endpoint);
    return;
  }
  out->set_status(SyncedLocked() ? pb::NameLookupReply::NOT_FOUND : pb::NameLookupReply::RETRY);
}

void Directory::ServeRelease(const pb::NameRelease& req) {
  std::vector<std::string> tell;
  pb::NameGone gone;
  {
    std::lock_guard<std::mutex> lock(mu_);
    NodeId holder = FromProto(req.holder());
    if (holder == c_->self().node) reserved_.erase(req.name());
    // Records of a view this node has not reached may name it too (the
    // holder sent them, then released): they must not bring it back.
    std::string key = MemberKey(holder);
    for (auto& [view, from] : early_) {
      auto f = from.find(key);
      if (f == from.end()) continue;
      std::vector<std::string>& names = f->second.names;
      names.erase(std::remove(names.begin(), names.end(), req.name()), names.end());
      auto& grains = f->second.grains;
      grains.erase(std::remove(grains.begin(), grains.end(), std::pair{req.name(), req.epoch()}),
                   grains.end());
    }
    auto it = owned_.find(req.name());
    if (it == owned_.end() || it->second.holder != holder) return;
    if (req.epoch() != 0 && it->second.epoch != req.epoch()) return;  // a later grant stays
    tell.assign(it->second.lookers.begin(), it->second.lookers.end());
    owned_.erase(it);
  }
  gone.set_name(req.name());
  *gone.mutable_holder() = req.holder();
  const std::string& me = c_->self().node.endpoint;
  for (const std::string& endpoint : tell) {
    if (endpoint == me) {
      ServeGone(gone);
    } else {
      c_->remoting()->TellControl(endpoint, gone);
    }
  }
}

void Directory::ServeRecords(const pb::NameRecords& req) {
  NodeId from = FromProto(req.from());
  Early records;
  records.names.assign(req.names().begin(), req.names().end());
  for (const pb::GrainRecord& g : req.grains()) records.grains.emplace_back(g.key(), g.epoch());
  std::lock_guard<std::mutex> lock(mu_);
  std::pair<uint64_t, uint64_t> theirs{req.view_term(), req.view_version()};
  std::pair<uint64_t, uint64_t> mine{view_.term, view_.version};
  if (member_ && theirs == mine) {
    if (view_.Find(from) == nullptr) return;
    ApplyRecordsLocked(from, records);
    synced_from_.insert(MemberKey(from));
  } else if (theirs > mine && early_.size() < 16) {
    early_[theirs][MemberKey(from)] = std::move(records);
  }
}

void Directory::ServeGone(const pb::NameGone& req) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = cache_.find(req.name());
  if (it != cache_.end() && it->second.second == FromProto(req.holder())) cache_.erase(it);
}

void Directory::ServeRecordsRequest(const pb::NameRecordsRequest& req) {
  NodeId to = FromProto(req.from());
  pb::NameRecords r;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!member_ || req.view_version() != view_.version || req.view_term() != view_.term) return;
    const NodeId& me = c_->self().node;
    ToProto(me, r.mutable_from());
    r.set_view_version(view_.version);
    r.set_view_term(view_.term);
    AddHeldLocked(to, &r);
  }
  c_->remoting()->TellControl(to.endpoint, r);
}

void Directory::Repair() {
  std::vector<std::string> ask;
  pb::NameRecordsRequest req;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!member_) return;
    for (const Member& m : view_.members) {
      if (synced_from_.count(MemberKey(m.node)) == 0) ask.push_back(m.node.endpoint);
    }
    ToProto(c_->self().node, req.mutable_from());
    req.set_view_version(view_.version);
    req.set_view_term(view_.term);
  }
  for (const std::string& endpoint : ask) c_->remoting()->TellControl(endpoint, req);
}

std::size_t Directory::held() const {
  std::lock_guard<std::mutex> lock(mu_);
  return held_.size();
}

}  // namespace akt
