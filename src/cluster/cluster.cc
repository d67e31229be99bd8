// The cluster service: Cluster::Join, the facade, the control handlers
// remoting calls on its I/O threads (the ping is answered there, never
// behind an actor turn), and the static and in-process providers.
#include <algorithm>
#include <chrono>
#include <random>
#include <cinttypes>
#include <cstdio>
#include <set>

#include "akt/cluster/directory.pb.h"
#include "akt/remote/control.pb.h"
#include "actor_cell.h"
#include "akt/system.h"
#include "cluster_impl.h"
#include "cluster_grains.h"
#include "cycle_clock.h"
#include "directory.h"
#include "grain_registry.h"
#include "internal/access.h"
#include "membership.h"
#include "names.h"
#include "remoting_impl.h"
#include "system_impl.h"

namespace akt {

namespace pb = akt::cluster;
using internal::ServiceSlot;
using internal::ToNs;

std::string MemberKey(const NodeId& n) {
  char inc[24];
  std::snprintf(inc, sizeof inc, "#%016" PRIx64, n.incarnation);
  return n.endpoint + inc;
}

uint64_t NodeHash(const NodeId& node) {
  uint64_t h = 1469598103934665603ull;  // FNV-1a
  for (char c : MemberKey(node)) h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ull;
  return h == 0 ? 1 : h;  // 0 means "no cluster" on the wire
}

bool Member::HasRole(const std::string& role) const {
  return std::find(roles.begin(), roles.end(), role) != roles.end();
}

std::string_view MemberStateName(MemberState s) {
  switch (s) {
    case MemberState::kJoining:
      return "joining";
    case MemberState::kUp:
      return "up";
    case MemberState::kLeaving:
      return "leaving";
    case MemberState::kLeft:
      return "left";
    case MemberState::kDown:
      return "down";
  }
  return "unknown";
}

const Member* View::Find(const NodeId& node) const {
  for (const Member& m : members) {
    if (m.node.endpoint == node.endpoint && m.node.incarnation == node.incarnation) return &m;
  }
  return nullptr;
}

const Member* View::FindEndpoint(const std::string& endpoint) const {
  for (const Member& m : members) {
    if (m.node.endpoint == endpoint) return &m;
  }
  return nullptr;
}

// ---- providers ----

namespace {

class StaticList final : public MembershipProvider {
 public:
  explicit StaticList(std::vector<std::string> seeds) : seeds_(std::move(seeds)) {}
  Status Register(const Member&) override { return Status(); }
  Status Deregister(const Member&) override { return Status(); }
  Result<std::vector<std::string>> Peers() override { return seeds_; }

 private:
  const std::vector<std::string> seeds_;
};

}  // namespace

class InProcessRegistry {
 public:
  std::mutex mu;
  std::set<std::string> endpoints;
};

namespace {

class InProcess final : public MembershipProvider {
 public:
  explicit InProcess(std::shared_ptr<InProcessRegistry> r) : r_(std::move(r)) {}
  Status Register(const Member& self) override {
    std::lock_guard<std::mutex> lock(r_->mu);
    r_->endpoints.insert(self.node.endpoint);
    return Status();
  }
  Status Deregister(const Member& self) override {
    std::lock_guard<std::mutex> lock(r_->mu);
    r_->endpoints.erase(self.node.endpoint);
    return Status();
  }
  Result<std::vector<std::string>> Peers() override {
    std::lock_guard<std::mutex> lock(r_->mu);
    return std::vector<std::string>(r_->endpoints.begin(), r_->endpoints.end());
  }

 private:
  std::shared_ptr<InProcessRegistry> r_;
};

}  // namespace

std::shared_ptr<MembershipProvider> StaticProvider(std::vector<std::string> seeds) {
  return std::make_shared<StaticList>(std::move(seeds));
}
std::shared_ptr<InProcessRegistry> NewInProcessRegistry() {
  return std::make_shared<InProcessRegistry>();
}
std::shared_ptr<MembershipProvider> InProcessProvider(std::shared_ptr<InProcessRegistry> registry) {
  return std::make_shared<InProcess>(std::move(registry));
}

// ---- the service ----

ClusterImpl::ClusterImpl(ActorSystem& system, RemotingImpl* remoting, ClusterOptions options)
    : system_(system), remoting_(remoting), options_(std::move(options)), facade_(this),
      directory_(std::make_unique<Directory>(this)) {
  self_.node = remoting->self_node();
  self_.roles = options_.roles;
}

ClusterImpl::~ClusterImpl() = default;

Status ClusterImpl::Start() {
  internal::SystemImpl& sys = internal::ImplOf(system_);
  // Grains are placed by the owners of their keys from now on.
  auto grains = std::make_shared<ClusterGrainDirectory>(this);
  Status placed = internal::GrainRegistry::Of(&sys)->SetDirectory(grains);
  if (!placed.ok()) return placed;
  // The handlers first: the actor's first join request may be answered
  // before it has run another turn.
  Status s = remoting_->RegisterControl(
      pb::Ping::descriptor()->full_name(), [this](remote::Connection*, const Message& m) {
        auto pong = std::make_unique<pb::Pong>();
        AnswerPing(*m.As<pb::Ping>(), pong.get());
        return ControlAnswer(std::move(pong));
      });
  if (!s.ok()) return s;
  // The rest is the membership actor's work: handed to it as it came.
  for (const google::protobuf::Descriptor* d :
       {pb::JoinRequest::descriptor(), pb::ViewDelta::descriptor(), pb::SyncRequest::descriptor(),
        pb::IndirectProbe::descriptor(), pb::IndirectResult::descriptor(),
        pb::DownProposal::descriptor(), pb::LeaveRequest::descriptor()}) {
    s = remoting_->RegisterControl(d->full_name(), [this](remote::Connection*, const Message& m) {
      PID to;
      {
        std::lock_guard<std::mutex> lock(mu_);
        to = actor_;
      }
      if (!to) return ControlAnswer(UnavailableError("the cluster service has stopped"));
      to.Tell(m.Clone()).IgnoreError();  // a stopping node drops it, as a lost packet
      return ControlAnswer(std::make_unique<remote::Ack>());
    });
    if (!s.ok()) return s;
  }
  // The directory's requests are answered on the I/O thread that reads them.
  auto serve = [this](const google::protobuf::Descriptor* d, auto fn) {
    return remoting_->RegisterControl(d->full_name(), [this, fn](remote::Connection* conn,
                                                                 const Message& m) {
      return fn(this, conn, m);
    });
  };
  auto ack = [] { return ControlAnswer(std::make_unique<remote::Ack>()); };
  s = serve(pb::NameClaim::descriptor(), [](ClusterImpl* c, remote::Connection*, const Message& m) {
    auto out = std::make_unique<pb::NameClaimReply>();
    c->directory_->ServeClaim(*m.As<pb::NameClaim>(), out.get());
    return ControlAnswer(std::move(out));
  });
  if (!s.ok()) return s;
  s = serve(pb::NameLookup::descriptor(), [](ClusterImpl* c, remote::Connection* conn,
                                             const Message& m) {
    auto out = std::make_unique<pb::NameLookupReply>();
    c->directory_->ServeLookup(*m.As<pb::NameLookup>(), conn->peer_node().endpoint, out.get());
    return ControlAnswer(std::move(out));
  });
  if (!s.ok()) return s;
  s = serve(pb::NameRelease::descriptor(), [ack](ClusterImpl* c, remote::Connection*, const Message& m) {
    c->directory_->ServeRelease(*m.As<pb::NameRelease>());
    return ack();
  });
  if (!s.ok()) return s;
  s = serve(pb::NameRecords::descriptor(), [ack](ClusterImpl* c, remote::Connection*, const Message& m) {
    c->directory_->ServeRecords(*m.As<pb::NameRecords>());
    return ack();
  });
  if (!s.ok()) return s;
  s = serve(pb::NameGone::descriptor(), [ack](ClusterImpl* c, remote::Connection*, const Message& m) {
    c->directory_->ServeGone(*m.As<pb::NameGone>());
    return ack();
  });
  if (!s.ok()) return s;
  s = serve(pb::NameReserve::descriptor(), [ack](ClusterImpl* c, remote::Connection*, const Message& m) {
    c->directory_->Reserve(m.As<pb::NameReserve>()->name());
    return ack();
  });
  if (!s.ok()) return s;
  s = serve(pb::GrainGrant::descriptor(), [ack](ClusterImpl* c, remote::Connection*, const Message& m) {
    const auto* g = m.As<pb::GrainGrant>();
    c->directory_->AcceptGrant(g->key(), g->epoch());
    return ack();
  });
  if (!s.ok()) return s;
  s = serve(pb::GrainPlaced::descriptor(),
            [ack, grains](ClusterImpl*, remote::Connection*, const Message& m) {
              grains->Placed(*m.As<pb::GrainPlaced>());
              return ack();
            });
  if (!s.ok()) return s;
  s = serve(pb::LoadQuery::descriptor(), [](ClusterImpl* c, remote::Connection*, const Message&) {
    auto out = std::make_unique<pb::LoadReply>();
    out->set_actors(c->system_.ActorCount());
    out->set_grains(c->system_.ActiveGrains().size());
    return ControlAnswer(std::move(out));
  });
  if (!s.ok()) return s;
  s = serve(pb::NameRecordsRequest::descriptor(),
            [ack](ClusterImpl* c, remote::Connection*, const Message& m) {
              c->directory_->ServeRecordsRequest(*m.As<pb::NameRecordsRequest>());
              return ack();
            });
  if (!s.ok()) return s;
  Result<PID> actor = sys.Spawn(nullptr, "$cluster", MembershipActorFactory(this), SpawnOptions(),
                                /*validate_name=*/false);
  if (!actor.ok()) return actor.status();
  {
    std::lock_guard<std::mutex> lock(mu_);
    actor_ = *actor;
  }
  // Stopping the system is a graceful leave first.
  ClusterImpl* self = this;
  return system_.AddShutdownHook(
      "akt.cluster.leave",
      [self]() -> Status {
        Duration wait = std::max<Duration>(std::chrono::seconds(1), self->options_.probe_interval * 4);
        Status left = self->facade_.Leave(wait);
        if (left.code() == StatusCode::kFailedPrecondition) self->StartLeave();
        return Status();
      },
      ShutdownHookOptions{HookRecovery::kSkip, 0, {}});
}

void ClusterImpl::OnActorsStopped() {
  std::lock_guard<std::mutex> lock(mu_);
  actor_ = PID();
}

void ClusterImpl::Publish(MemberState state, const View& view) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    state_ = state;
    view_ = view;
  }
  directory_->OnView(view, state);
  cv_.notify_all();
}

Status ClusterImpl::ClaimName(const std::string& name) { return directory_->Claim(name); }
void ClusterImpl::ReleaseName(const std::string& name) { directory_->Release(name); }
Result<PID> ClusterImpl::ResolveName(std::string_view name) {
  return directory_->Resolve(name, options_.directory_timeout);
}

Result<PID> ClusterImpl::SpawnOn(std::string_view kind, std::string_view name,
                                 const SpawnOnOptions& o) {
  if (internal::InActorTurn()) {
    return FailedPreconditionError("Cluster::SpawnOn blocks: call it from outside an actor turn");
  }
  if (Status valid = internal::ValidateActorName(name); !valid.ok()) return valid;
  View v = view();
  std::vector<const Member*> candidates;
  for (const Member& m : v.members) {
    if (o.role.empty() || m.HasRole(o.role)) candidates.push_back(&m);
  }
  if (state() != MemberState::kUp) {
    return UnavailableError("Cluster::SpawnOn: this node is not a cluster member (" +
                            std::string(MemberStateName(state())) + ")");
  }
  if (candidates.empty()) {
    return NotFoundError("Cluster::SpawnOn: no live member has the role " + internal::Quoted(o.role));
  }
  const Member* target = nullptr;
  switch (o.placement) {
    case Placement::kLocal:
      for (const Member* m : candidates) {
        if (m->node == self_.node) target = m;
      }
      if (target == nullptr) {
        return NotFoundError("Cluster::SpawnOn: placement Local, but this node lacks the role " +
                             internal::Quoted(o.role));
      }
      break;
    case Placement::kRandom: {
      thread_local std::mt19937_64 rng(std::random_device{}());
      target = candidates[std::uniform_int_distribution<std::size_t>(0, candidates.size() - 1)(rng)];
      break;
    }
    case Placement::kLeastLoad: {
      uint64_t best = UINT64_MAX;
      for (const Member* m : candidates) {
        uint64_t load = UINT64_MAX;
        if (m->node == self_.node) {
          load = system_.ActorCount() + system_.ActiveGrains().size();
        } else {
          Result<Message> r = remoting_->ControlCall(m->node.endpoint, pb::LoadQuery(), o.timeout);
          if (const auto* rep = r.ok() ? r->As<pb::LoadReply>() : nullptr) {
            load = rep->actors() + rep->grains();
          }
        }
        if (target == nullptr || load < best) {
          target = m;
          best = load;
        }
      }
      break;
    }
    case Placement::kRoundRobin:
      target = candidates[round_robin_.fetch_add(1, std::memory_order_relaxed) % candidates.size()];
      break;
  }
  NodeId where = target->node;
  std::string n(name);
  Status claimed = directory_->ClaimFor(n, where, o.timeout);
  if (!claimed.ok()) return claimed;
  pb::NameReserve reserve;
  reserve.set_name(n);
  if (where == self_.node) {
    directory_->Reserve(n);
  } else {
    remoting_->TellControl(where.endpoint, reserve);  // before the spawn, on the same connection
  }
  Result<PID> pid = remoting_->SpawnRemote(where.endpoint, name, kind, o.spawn, o.timeout);
  if (!pid.ok()) {
    // Undo the claim (and the reservation, if it is still there).
    pb::NameRelease undo;
    undo.set_name(n);
    ToProto(where, undo.mutable_holder());
    View now = view();
    directory_->Unreserve(n);
    for (const Member& m : now.members) {
      if (m.node != self_.node) remoting_->TellControl(m.node.endpoint, undo);
    }
    directory_->ServeRelease(undo);
  }
  return pid;
}

MemberState ClusterImpl::state() const {
  std::lock_guard<std::mutex> lock(mu_);
  return state_;
}

View ClusterImpl::view() const {
  std::lock_guard<std::mutex> lock(mu_);
  return view_;
}

bool ClusterImpl::PromiseLocked(uint64_t term, const std::string& who) {
  int64_t now = remoting_->NowNs();
  bool lapsed = now >= promise_until_ns_;
  if (term > view_.term && (term > promised_term_ || lapsed || (term == promised_term_ && who == promised_to_))) {
    promised_term_ = term;
    promised_to_ = who;
    promise_until_ns_ = now + ToNs(options_.probe_timeout) * 6;
    return true;
  }
  return false;
}

bool ClusterImpl::Promise(uint64_t term, const std::string& who) {
  std::lock_guard<std::mutex> lock(mu_);
  return PromiseLocked(term, who);
}

uint64_t ClusterImpl::promised_term() const {
  std::lock_guard<std::mutex> lock(mu_);
  return remoting_->NowNs() < promise_until_ns_ ? promised_term_ : 0;
}

void ClusterImpl::AnswerPing(const pb::Ping& ping, pb::Pong* pong) {
  std::lock_guard<std::mutex> lock(mu_);
  pong->set_view_version(view_.version);
  pong->set_view_term(view_.term);
  pong->set_founder(view_.founder);
  NodeId from = FromProto(ping.from());
  if (ping.cluster() != options_.name) {
    pong->set_status(pb::Pong::OTHER_CLUSTER);
  } else if (ping.target_incarnation() != 0 && ping.target_incarnation() != self_.node.incarnation) {
    pong->set_status(pb::Pong::WRONG_INCARNATION);
  } else if (state_ == MemberState::kLeft || state_ == MemberState::kDown) {
    pong->set_status(pb::Pong::GONE);
  } else if (state_ != MemberState::kJoining && ping.founder() != view_.founder) {
    pong->set_status(pb::Pong::OTHER_CLUSTER);
  } else if (state_ != MemberState::kJoining && view_.Find(from) == nullptr &&
             (ping.view_term() < view_.term ||
              (ping.view_term() == view_.term && ping.view_version() < view_.version))) {
    pong->set_status(pb::Pong::NOT_A_MEMBER);  // removed in a view it has not seen
  } else {
    pong->set_status(pb::Pong::OK);
    pong->set_load(system_.ActorCount());
    if (ping.claim_term() != 0) pong->set_granted(PromiseLocked(ping.claim_term(), MemberKey(from)));
  }
}

Status ClusterImpl::WaitState(bool (*done)(MemberState), Duration timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  if (done(state_)) return Status();
  if (internal::ImplOf(system_).options().deterministic) {
    return FailedPreconditionError(
        "a deterministic system cannot wait: drive it (SimNetwork::RunUntil) and read state()");
  }
  if (!cv_.wait_for(lock, timeout, [&] { return done(state_); })) {
    return TimeoutError(std::string("cluster state is still ") +
                        std::string(MemberStateName(state_)));
  }
  return Status();
}

void ClusterImpl::StartLeave() {
  PID to;
  {
    std::lock_guard<std::mutex> lock(mu_);
    to = actor_;
  }
  if (to) to.Tell(LeaveMessage()).IgnoreError();
}

// ---- the facade ----

Result<Cluster*> Cluster::Join(ActorSystem& system, ClusterOptions options) {
  if (!options.provider) return InvalidArgumentError("ClusterOptions::provider is required");
  if (!internal::ValidSystemName(options.name)) {
    return InvalidArgumentError("ClusterOptions::name " + internal::Quoted(options.name) +
                                " must be 1..255 of [A-Za-z0-9_-]");
  }
  if (options.min_members < 1) return InvalidArgumentError("ClusterOptions::min_members must be >= 1");
  if (options.grain_activation_min_members < 1) {
    return InvalidArgumentError("ClusterOptions::grain_activation_min_members must be >= 1");
  }
  if (options.probe_interval <= Duration::zero() || options.probe_timeout <= Duration::zero() ||
      options.gossip_interval <= Duration::zero() || options.join_retry <= Duration::zero() ||
      options.max_join_retry < options.join_retry) {
    return InvalidArgumentError(
        "ClusterOptions: probe_interval, probe_timeout, gossip_interval and join_retry must be "
        "positive, max_join_retry >= join_retry");
  }
  if (options.indirect_probes < 0) return InvalidArgumentError("ClusterOptions::indirect_probes must be >= 0");
  internal::SystemImpl& sys = internal::ImplOf(system);
  auto* remoting = sys.services().Get<RemotingImpl>(ServiceSlot::kRemote);
  if (remoting == nullptr || Remoting::Of(system) == nullptr) {
    return FailedPreconditionError("Cluster::Join needs remoting: call Remoting::Enable first");
  }
  if (sys.state() != internal::SystemImpl::State::kRunning) {
    return FailedPreconditionError("Cluster::Join needs a started actor system");
  }
  auto impl = std::make_shared<ClusterImpl>(system, remoting, std::move(options));
  Status s = sys.services().Install(ServiceSlot::kCluster, impl);
  if (!s.ok()) return AlreadyExistsError("this actor system has already joined a cluster");
  s = impl->Start();
  if (!s.ok()) return s;
  return impl->facade();
}

Cluster* Cluster::Of(ActorSystem& system) {
  auto* impl = internal::ImplOf(system).services().Get<ClusterImpl>(ServiceSlot::kCluster);
  return impl != nullptr ? impl->facade() : nullptr;
}

Cluster::~Cluster() = default;

Status Cluster::WaitUp(Duration timeout) {
  return impl_->WaitState([](MemberState s) { return s == MemberState::kUp; }, timeout);
}

MemberState Cluster::state() const { return impl_->state(); }

Member Cluster::self() const {
  View v = impl_->view();
  if (const Member* m = v.Find(impl_->self().node)) return *m;
  return impl_->self();
}

std::vector<Member> Cluster::Members() const {
  MemberState s = impl_->state();
  if (s != MemberState::kUp && s != MemberState::kLeaving) return {};
  return impl_->view().members;
}

std::optional<Member> Cluster::Leader() const {
  std::vector<Member> m = Members();
  if (m.empty()) return std::nullopt;
  return m.front();
}

uint64_t Cluster::version() const { return impl_->view().version; }

Status Cluster::Leave(Duration timeout) {
  if (internal::InActorTurn()) {
    return FailedPreconditionError("blocking Cluster::Leave from inside an actor: use StartLeave");
  }
  impl_->StartLeave();
  return impl_->WaitState(
      [](MemberState s) { return s == MemberState::kLeft || s == MemberState::kDown; }, timeout);
}

void Cluster::StartLeave() { impl_->StartLeave(); }

Result<PID> Cluster::SpawnOn(std::string_view kind, std::string_view name,
                             const SpawnOnOptions& options) {
  return impl_->SpawnOn(kind, name, options);
}

}  // namespace akt
