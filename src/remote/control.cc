// Control requests ($remote), both sides: serving spawn, lookup, grain
// and lifecycle requests, and the facade calls that send them.
#include <arpa/inet.h>
#include <fcntl.h>
#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <typeinfo>

#include "actor_cell.h"
#include "akt/remote/control.pb.h"
#include "cycle_clock.h"
#include "grain_registry.h"
#include "internal/access.h"
#include "remoting_impl.h"
#include "remoting_internal.h"
#include "reply_slot.h"
#include "tls.h"
#include "turn_hooks.h"
#include "names.h"

namespace akt {

// ---------------------------------------------------------------------------
// Control requests.

namespace {
Status SpawnOptionsFrom(const remote::SpawnRequest& req, internal::SystemImpl* sys,
                        SpawnOptions* opts) {
  if (req.passivate_after_ms() != 0) {
    opts->passivation =
        PassivationStrategy::TimeBased(std::chrono::milliseconds(req.passivate_after_ms()));
  }
  opts->stash_capacity = req.stash_capacity();
  const std::string& d = req.supervisor_directive();
  if (!d.empty()) {
    Directive dir;
    if (d == "stop") {
      dir = Directive::kStop;
    } else if (d == "resume") {
      dir = Directive::kResume;
    } else if (d == "restart") {
      dir = Directive::kRestart;
    } else if (d == "escalate") {
      dir = Directive::kEscalate;
    } else {
      return InvalidArgumentError("unknown supervisor directive '" + d + "'");
    }
    Supervisor sup;
    sup.ClearRules().WithAnyErrorDirective(dir);
    if (req.supervisor_max_retries() > 0) {
      sup.WithRetry(req.supervisor_max_retries(), std::chrono::seconds(60));
    }
    opts->WithSupervisor(std::move(sup));
  }
  for (const remote::Dependency& dep : req.dependencies()) {
    Result<std::shared_ptr<Dependency>> r = sys->RestoreDependency(dep.type(), dep.data());
    if (!r.ok()) return r.status();
    opts->dependencies.push_back(*r);
  }
  return Status();
}
}  // namespace

ActorFactory RemotingImpl::FindKind(const std::string& kind) {
  std::lock_guard<std::mutex> lock(kinds_mu_);
  auto it = kinds_.find(kind);
  return it != kinds_.end() ? it->second : ActorFactory();
}

Status RemotingImpl::RegisterControl(std::string type, ControlHandler handler) {
  std::lock_guard<std::mutex> lock(control_mu_);
  if (!control_.emplace(std::move(type), std::move(handler)).second) {
    return AlreadyExistsError("a control handler for this type is already registered");
  }
  return Status();
}

void RemotingImpl::RegisterBuiltinControls() {
  auto add = [this](const google::protobuf::Descriptor* d,
                    ControlAnswer (RemotingImpl::*fn)(Connection*, const Message&)) {
    RegisterControl(d->full_name(), [this, fn](Connection* c, const Message& m) {
      return (this->*fn)(c, m);
    }).IgnoreError();
  };
  add(remote::SpawnRequest::descriptor(), &RemotingImpl::ServeSpawn);
  add(remote::GrainRequest::descriptor(), &RemotingImpl::ServeGrain);
  add(remote::LookupRequest::descriptor(), &RemotingImpl::ServeLookup);
  add(remote::LifecycleRequest::descriptor(), &RemotingImpl::ServeLifecycle);
  add(remote::WatchRequest::descriptor(), &RemotingImpl::ServeWatch);
  add(remote::UnwatchRequest::descriptor(), &RemotingImpl::ServeWatch);
  add(remote::TerminatedNotice::descriptor(), &RemotingImpl::ServeTerminatedNotice);
}

void RemotingImpl::HandleControl(Connection* c, const wire::Frame& f) {
  const ControlHandler* handler = nullptr;
  {
    std::lock_guard<std::mutex> lock(control_mu_);
    auto it = control_.find(f.type);
    if (it != control_.end()) handler = &it->second;  // never erased: stays valid
  }
  if (handler == nullptr) {
    c->Refuse(f.correlation,
              InvalidArgumentError(internal::Quoted(f.type) + " is not a control request"));
    return;
  }
  Message m;
  if (!ParseOrRefuse(c, f, &m)) return;
  ControlAnswer answer = (*handler)(c, m);
  if (!answer.ok()) {
    c->Refuse(f.correlation, answer.status());
    return;
  }
  // A TELL to $remote is carried out like an ASK; only a failure is answered.
  if (f.kind != wire::Kind::kAsk) return;
  const google::protobuf::Message& r = **answer;
  wire::Frame out;
  out.kind = wire::Kind::kReply;
  out.correlation = f.correlation;
  out.type = r.GetDescriptor()->full_name();
  if (c->Enqueue(out, &r, {}).ok()) c->FlushSoon();
}

namespace {
ControlAnswer Answer(std::unique_ptr<google::protobuf::Message> m) {
  return ControlAnswer(std::move(m));
}
ControlAnswer Ack() { return Answer(std::make_unique<remote::Ack>()); }
ControlAnswer Address(const std::string& address) {
  auto out = std::make_unique<remote::LookupReply>();
  out->set_address(address);
  return Answer(std::move(out));
}
}  // namespace

ControlAnswer RemotingImpl::ServeSpawn(Connection*, const Message& m) {
  const auto& req = *m.As<remote::SpawnRequest>();
  ActorFactory factory = FindKind(req.kind());
  if (!factory) {
    return NotFoundError("no actor kind '" + req.kind() + "' is registered on " + endpoint_);
  }
  SpawnOptions opts;
  Status s = SpawnOptionsFrom(req, sys_, &opts);
  if (!s.ok()) return s;
  Result<PID> r = system_.Spawn(req.name(), factory, opts);
  if (!r.ok()) return r.status();
  {
    std::lock_guard<std::mutex> lock(kinds_mu_);
    spawn_records_[req.name()] = req.SerializeAsString();
  }
  auto out = std::make_unique<remote::SpawnReply>();
  out->set_address(prefix_ + req.name());
  return Answer(std::move(out));
}

ControlAnswer RemotingImpl::ServeGrain(Connection*, const Message& m) {
  const auto& req = *m.As<remote::GrainRequest>();
  Result<PID> r = internal::ActivateGrainByIdentity(sys_, req.kind(), req.name());
  if (!r.ok()) return r.status();
  return Address(prefix_ + internal::GrainActorName(req.kind(), req.name()));
}

ControlAnswer RemotingImpl::ServeLookup(Connection*, const Message& m) {
  const auto& req = *m.As<remote::LookupRequest>();
  if (!sys_->Lookup(req.name()).ok()) {
    return NotFoundError("no actor named '" + req.name() + "' on " + endpoint_);
  }
  return Address(prefix_ + req.name());
}

ControlAnswer RemotingImpl::ServeLifecycle(Connection*, const Message& m) {
  const auto& req = *m.As<remote::LifecycleRequest>();
  Result<PID> r = sys_->Lookup(req.name());
  if (!r.ok() && req.op() == remote::LifecycleRequest::RESTART) {
    // Re-spawn: the actor is gone, but it was spawned here by kind.
    std::string record;
    {
      std::lock_guard<std::mutex> lock(kinds_mu_);
      auto it = spawn_records_.find(req.name());
      if (it != spawn_records_.end()) record = it->second;
    }
    remote::SpawnRequest sr;
    if (!record.empty() && sr.ParseFromString(record)) {
      ActorFactory factory = FindKind(sr.kind());
      SpawnOptions opts;
      if (factory && SpawnOptionsFrom(sr, sys_, &opts).ok()) {
        r = system_.Spawn(sr.name(), factory, opts);
      }
    }
    if (!r.ok()) {
      return NotFoundError("no actor named '" + req.name() + "' on " + endpoint_ +
                           " and no record to re-spawn it from");
    }
    return Ack();
  }
  if (!r.ok()) return NotFoundError("no actor named '" + req.name() + "' on " + endpoint_);
  switch (req.op()) {
    case remote::LifecycleRequest::STOP: {
      std::lock_guard<std::mutex> lock(kinds_mu_);
      spawn_records_.erase(req.name());
      r->Stop();
      break;
    }
    case remote::LifecycleRequest::RESTART:
      r->Restart();
      break;
    case remote::LifecycleRequest::REINSTATE:
      r->Reinstate();
      break;
    case remote::LifecycleRequest::KILL:
      r->Kill();
      break;
    default:
      return InvalidArgumentError("unknown lifecycle operation");
  }
  return Ack();
}

Result<Message> RemotingImpl::ControlCall(const std::string& endpoint,
                                          const google::protobuf::Message& req, Duration timeout,
                                          NodeId* answered_by) {
  return sys_->BlockingCall(
      "call to ", endpoint, "Remoting::RequestLookup / RequestSpawn / RequestStop", timeout,
      std::max(options_.ask_spin, sys_->options().idle_spin), [&](internal::ReplySlot* slot) {
        Result<Connection*> rc = Connect(endpoint);
        if (!rc.ok()) {
          slot->Fail(rc.status());
          slot->Release();  // the answerer's reference: there is none
          return;
        }
        Connection* c = *rc;
        if (answered_by != nullptr) *answered_by = c->peer_node();
        wire::Frame f;
        f.kind = wire::Kind::kAsk;
        f.correlation = c->NextCorrelation();
        f.type = req.GetDescriptor()->full_name();
        f.target = wire::kControlTarget;
        f.deadline_us = static_cast<uint32_t>(std::min<int64_t>(ToNs(timeout) / 1000, UINT32_MAX));
        Pending p;
        p.kind = Pending::Kind::kSlot;
        p.slot = slot;
        p.deadline_ns = NowNs() + ToNs(timeout) + ToNs(std::chrono::seconds(1));
        c->AddPending(f.correlation, p);
        Status s = c->Enqueue(f, &req, {});
        if (!s.ok()) {
          Pending back;
          if (c->TakePending(f.correlation, &back)) Deliver(back, s);
        } else {
          c->Flush();
        }
        c->Release();
      });
}

// ---------------------------------------------------------------------------
// Facade operations.

Status RemotingImpl::RegisterKind(std::string kind, ActorFactory factory) {
  if (kind.empty() || kind.size() > 255)
    return InvalidArgumentError("a kind needs 1..255 characters");
  if (!factory) return InvalidArgumentError("kind " + kind + " has no factory");
  std::lock_guard<std::mutex> lock(kinds_mu_);
  if (!kinds_.emplace(kind, std::move(factory)).second) {
    return AlreadyExistsError("kind " + kind + " is already registered");
  }
  return Status();
}

PID RemotingImpl::ProxyFor(const std::string& endpoint, std::string_view name, std::string address,
                           uint64_t incarnation) {
  PID replaced;  // retired after the lock
  std::lock_guard<std::mutex> lock(proxies_mu_);
  auto it = proxies_.find(address);
  if (it != proxies_.end()) {
    auto* ref = static_cast<ProxyData*>(internal::CellOf(it->second)->remote_data().get());
    uint64_t bound = ref->incarnation.load(std::memory_order_acquire);
    if (!ref->lost.load(std::memory_order_acquire) &&
        (incarnation == 0 || bound == incarnation ||
         (bound == 0 && ref->incarnation.compare_exchange_strong(bound, incarnation)))) {
      return it->second;
    }
    // A PID of another start of that node: this one gets its own, and the
    // old one leaves the map (refused from now on: its binding differs).
    replaced = it->second;
  }
  // A grain is found by identity, not by process: its PID follows the grain
  // to whichever start of the node hosts it now (so does the control target).
  bool grain = internal::IsGrainActorName(name);
  bool binds = !grain && name != wire::kControlTarget;  // the control target is not a process
  auto data = std::make_shared<ProxyData>(endpoint, std::string(name), binds ? incarnation : 0);
  data->binds = binds;
  ActorCell* cell =
      ActorCell::NewProxy(sys_, sys_->NextActorId(), std::string(name), address, std::move(data));
  PID pid = cell->self();
  proxies_.insert_or_assign(std::move(address), pid);
  if (replaced) internal::CellOf(replaced)->RetireProxy();
  return pid;
}

Result<PID> RemotingImpl::ActorOf(std::string_view address) {
  return ActorOfFrom(address, nullptr);
}

Result<PID> RemotingImpl::ActorOfFrom(std::string_view address, const NodeId* from) {
  constexpr std::string_view kScheme = "akt://";
  if (address.substr(0, kScheme.size()) != kScheme) {
    return InvalidArgumentError(internal::Quoted(address) + " is not an akt:// address");
  }
  std::string_view rest = address.substr(kScheme.size());
  std::size_t slash = rest.find('/');
  if (slash == std::string_view::npos || slash + 1 >= rest.size()) {
    return InvalidArgumentError(internal::Quoted(address) + " names no actor");
  }
  std::string_view authority = rest.substr(0, slash);
  std::string_view name = rest.substr(slash + 1);
  std::size_t at = authority.find('@');
  if (at == std::string_view::npos) {
    if (authority != system_name_) {
      return InvalidArgumentError(internal::Quoted(address) + " has no host:port");
    }
    return sys_->Lookup(name);
  }
  std::string endpoint(authority.substr(at + 1));
  std::string host;
  uint16_t port = 0;
  if (!SplitHostPort(endpoint, &host, &port)) {
    return InvalidArgumentError(internal::Quoted(address) + " has a malformed host:port");
  }
  if (endpoint == endpoint_) return sys_->Lookup(name);  // ourselves: no network
  if (shut_.load()) return SystemStoppedError("remoting is shut down");
  uint64_t incarnation = from != nullptr && from->endpoint == endpoint ? from->incarnation : 0;
  return ProxyFor(endpoint, name, std::string(address), incarnation);
}

Result<PID> RemotingImpl::Lookup(std::string_view endpoint, std::string_view name,
                                 Duration timeout) {
  if (endpoint == endpoint_) return sys_->Lookup(name);
  remote::LookupRequest req;
  req.set_name(std::string(name));
  NodeId node;
  Result<Message> r = ControlCall(std::string(endpoint), req, timeout, &node);
  if (!r.ok()) return r.status();
  const auto* rep = r->As<remote::LookupReply>();
  if (rep == nullptr) return Status(StatusCode::kProtocolError, "unexpected answer to a lookup");
  return ActorOfFrom(rep->address(), &node);
}

Result<remote::SpawnRequest> RemotingImpl::MakeSpawnRequest(std::string_view name,
                                                            std::string_view kind,
                                                            const RemoteSpawnOptions& options) {
  remote::SpawnRequest req;
  req.set_name(std::string(name));
  req.set_kind(std::string(kind));
  req.set_disable_relocation(options.disable_relocation);
  req.set_passivate_after_ms(static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(options.passivate_after).count()));
  req.set_stash_capacity(options.stash_capacity);
  req.set_supervisor_directive(options.supervisor_directive);
  req.set_supervisor_max_retries(options.supervisor_max_retries);
  for (const auto& dep : options.dependencies) {
    if (!dep) return InvalidArgumentError("a null dependency");
    Result<std::string> bytes = dep->Serialize();
    if (!bytes.ok()) return bytes.status();
    remote::Dependency* d = req.add_dependencies();
    d->set_id(std::string(dep->ID()));
    d->set_type(std::string(dep->TypeName()));
    d->set_data(*bytes);
  }
  return req;
}

Result<PID> RemotingImpl::SpawnRemote(std::string_view endpoint, std::string_view name,
                                      std::string_view kind, const RemoteSpawnOptions& options,
                                      Duration timeout) {
  Result<remote::SpawnRequest> req = MakeSpawnRequest(name, kind, options);
  if (!req.ok()) return req.status();
  NodeId node;
  Result<Message> r = ControlCall(std::string(endpoint), *req, timeout, &node);
  if (!r.ok()) return r.status();
  const auto* rep = r->As<remote::SpawnReply>();
  if (rep == nullptr) return Status(StatusCode::kProtocolError, "unexpected answer to a spawn");
  return ActorOfFrom(rep->address(), &node);
}

// ---------------------------------------------------------------------------
// The non-blocking forms: a request to the other node's control target
// through a proxy, answered like any request (RequestBuilder::Then).

PID RemotingImpl::ControlPid(const std::string& endpoint) {
  return ProxyFor(endpoint, wire::kControlTarget,
                  "akt://*@" + endpoint + "/" + std::string(wire::kControlTarget));
}

Result<PID> RemotingImpl::PidFromAnswer(const Result<Message>& r) {
  if (!r.ok()) return r.status();
  if (const auto* rep = r->As<remote::LookupReply>()) return ActorOf(rep->address());
  if (const auto* rep = r->As<remote::SpawnReply>()) return ActorOf(rep->address());
  return Status(StatusCode::kProtocolError, "unexpected answer to a remote call");
}

PidCall RemotingImpl::RequestLookup(ReceiveContext& ctx, std::string_view endpoint,
                                    std::string_view name, Duration timeout) {
  if (endpoint == endpoint_)
    return PidCall(&ctx, this, PID(), Message(), timeout, sys_->Lookup(name));
  remote::LookupRequest req;
  req.set_name(std::string(name));
  return PidCall(&ctx, this, ControlPid(std::string(endpoint)), Message(std::move(req)), timeout,
                 Status());
}

PidCall RemotingImpl::RequestSpawn(ReceiveContext& ctx, std::string_view endpoint,
                                   std::string_view name, std::string_view kind,
                                   const RemoteSpawnOptions& options, Duration timeout) {
  Result<remote::SpawnRequest> req = MakeSpawnRequest(name, kind, options);
  if (!req.ok()) return PidCall(&ctx, this, PID(), Message(), timeout, req.status());
  return PidCall(&ctx, this, ControlPid(std::string(endpoint)), Message(std::move(*req)), timeout,
                 Status());
}

AckCall RemotingImpl::RequestLifecycle(ReceiveContext& ctx, const PID& pid, int op,
                                       Duration timeout) {
  if (!pid) return AckCall(&ctx, PID(), Message(), timeout, NotFoundError("an empty PID"));
  if (!internal::CellOf(pid)->is_remote()) {
    op == remote::LifecycleRequest::STOP ? pid.Stop() : pid.Restart();
    return AckCall(&ctx, PID(), Message(), timeout, Status());
  }
  auto* ref = static_cast<ProxyData*>(internal::CellOf(pid)->remote_data().get());
  remote::LifecycleRequest req;
  req.set_name(ref->name);
  req.set_op(static_cast<remote::LifecycleRequest::Op>(op));
  return AckCall(&ctx, ControlPid(ref->endpoint), Message(std::move(req)), timeout, Status());
}

Status RemotingImpl::Lifecycle(const PID& pid, int op, Duration timeout) {
  if (!pid) return NotFoundError("an empty PID");
  if (!internal::CellOf(pid)->is_remote()) {
    switch (op) {
      case remote::LifecycleRequest::STOP:
        pid.Stop();
        break;
      case remote::LifecycleRequest::RESTART:
        pid.Restart();
        break;
      default:
        pid.Reinstate();
        break;
    }
    return Status();
  }
  auto* ref = static_cast<ProxyData*>(internal::CellOf(pid)->remote_data().get());
  remote::LifecycleRequest req;
  req.set_name(ref->name);
  req.set_op(static_cast<remote::LifecycleRequest::Op>(op));
  Result<Message> r = ControlCall(ref->endpoint, req, timeout);
  return r.ok() ? Status() : r.status();
}

Result<PID> RemotingImpl::GrainOf(std::string_view endpoint, const GrainIdentity& id,
                                  Duration timeout) {
  if (endpoint == endpoint_) return system_.GrainOf(id);  // local: no network
  std::string key = std::string(endpoint) + "|" + id.String();
  {
    std::lock_guard<std::mutex> lock(proxies_mu_);
    auto it = grain_proxies_.find(key);
    if (it != grain_proxies_.end()) return it->second;
  }
  remote::GrainRequest req;
  req.set_kind(std::string(id.kind()));
  req.set_name(std::string(id.name()));
  Result<Message> r = ControlCall(std::string(endpoint), req, timeout);
  if (!r.ok()) return r.status();
  const auto* rep = r->As<remote::LookupReply>();
  if (rep == nullptr)
    return Status(StatusCode::kProtocolError, "unexpected answer to a grain request");
  Result<PID> pid = ActorOf(rep->address());
  if (pid.ok()) {
    std::lock_guard<std::mutex> lock(proxies_mu_);
    grain_proxies_.emplace(key, *pid);
  }
  return pid;
}

Result<PID> RemotingImpl::LazyGrainPid(std::string_view endpoint, const GrainIdentity& id) {
  std::string key = std::string(endpoint) + "|" + id.String();
  {
    std::lock_guard<std::mutex> lock(proxies_mu_);
    auto it = grain_proxies_.find(key);
    if (it != grain_proxies_.end()) return it->second;
  }
  Result<Connection*> c = ConnectCached(std::string(endpoint));
  if (!c.ok()) return c.status();
  std::string address = "akt://" + (*c)->peer_system() + "@" + std::string(endpoint) + "/" +
                        internal::GrainActorName(id);
  (*c)->Release();
  Result<PID> pid = ActorOf(address);
  if (pid.ok()) {
    std::lock_guard<std::mutex> lock(proxies_mu_);
    grain_proxies_.emplace(key, *pid);
  }
  return pid;
}

std::vector<std::string> RemotingImpl::RelocatableActors() {
  std::vector<std::pair<std::string, std::string>> records;
  {
    std::lock_guard<std::mutex> lock(kinds_mu_);
    records.assign(spawn_records_.begin(), spawn_records_.end());
  }
  std::vector<std::string> out;
  for (const auto& [name, bytes] : records) {
    remote::SpawnRequest req;
    if (!req.ParseFromString(bytes) || req.disable_relocation()) continue;
    Result<PID> pid = sys_->Lookup(name);
    if (pid.ok() && pid->IsRunning()) out.push_back(name);
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string RemotingImpl::AddressOf(const PID& pid) const {
  if (!pid) return std::string();
  if (internal::CellOf(pid)->is_remote()) return internal::CellOf(pid)->address();
  return prefix_ + internal::CellOf(pid)->name();
}

RemotingStats RemotingImpl::Stats() const {
  RemotingStats s;
  s.frames_sent = stats_.frames_sent.load();
  s.frames_received = stats_.frames_received.load();
  s.bytes_sent = stats_.bytes_sent.load();
  s.bytes_received = stats_.bytes_received.load();
  s.write_calls = stats_.write_calls.load();
  s.connections_accepted = stats_.connections_accepted.load();
  s.connections_refused = stats_.connections_refused.load();
  s.connections_open = stats_.connections_open.load();
  s.protocol_errors = stats_.protocol_errors.load();
  s.error_replies = stats_.error_replies.load();
  s.io_handoffs = stats_.io_handoffs.load();
  return s;
}

}  // namespace akt
