// Outbound: dialing, the connection pool and its backoff, sending to a
// remote PID (src/remote/remoting_internal.h lists the files).
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

#include <cerrno>
#include <cstring>
#include <typeinfo>

#include "actor_cell.h"
#include "akt/remote/control.pb.h"
#include "cycle_clock.h"
#include "grain_registry.h"
#include "remoting_impl.h"
#include "remoting_internal.h"
#include "reply_slot.h"
#include "tls.h"
#include "turn_hooks.h"
#include "names.h"

namespace akt {

// ---------------------------------------------------------------------------
// Outbound connections.

Result<Connection*> RemotingImpl::Dial(const std::string& endpoint) {
  if (transport_ != nullptr) return DialTransport(endpoint);
  std::string host;
  uint16_t port = 0;
  if (!SplitHostPort(endpoint, &host, &port)) {
    return InvalidArgumentError(internal::Quoted(endpoint) + " is not a host:port endpoint");
  }
  sockaddr_storage addr{};
  socklen_t alen = 0;
  if (!ResolveAddr(host, port, &addr, &alen)) {
    return UnavailableError("cannot resolve '" + host + "'");
  }
  int fd = ::socket(addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return UnavailableError(std::string("socket: ") + std::strerror(errno));
  int64_t deadline = NowNs() + ToNs(options_.connect_timeout);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), alen) != 0 && errno != EINPROGRESS) {
    std::string err = std::strerror(errno);
    ::close(fd);
    return UnavailableError("connect to " + endpoint + " failed: " + err);
  }
  pollfd p{fd, POLLOUT, 0};
  int left_ms = static_cast<int>((deadline - NowNs()) / 1000000) + 1;
  int pr = ::poll(&p, 1, left_ms);
  int soerr = 0;
  socklen_t sl = sizeof soerr;
  if (pr <= 0 || ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0 || soerr != 0) {
    std::string err = pr <= 0 ? "timed out" : std::strerror(soerr);
    ::close(fd);
    return UnavailableError("connect to " + endpoint + " failed: " + err);
  }
  SetNoDelay(fd);
  Ref();
  auto* c = new Connection(this, remote::MakeSocketStream(fd), /*inbound=*/false, endpoint);
  if (client_tls_ != nullptr) c->set_ssl(remote::NewTlsSession(client_tls_, fd, false, host));
  Status s = c->ClientHandshake(options_, system_name_, deadline);
  if (!s.ok()) {
    c->Close(s);
    c->Release();
    return s;
  }
  c->AddRef();  // the loop's reference
  Adopt(c);
  return c;
}

Result<Connection*> RemotingImpl::DialTransport(const std::string& endpoint) {
  Result<std::unique_ptr<remote::Stream>> st = transport_->Dial(this, endpoint);
  if (!st.ok()) return st.status();
  Ref();
  auto* c = new Connection(this, std::move(*st), /*inbound=*/false, endpoint);
  Status s = c->ClientHandshake(options_, system_name_, NowNs() + ToNs(options_.connect_timeout));
  if (!s.ok()) {
    c->Close(s);
    c->Release();
    return s;
  }
  c->Flush();   // this side's NODE frame, queued by the handshake
  c->AddRef();  // the sweep's reference
  Adopt(c);
  return c;
}

void RemotingImpl::Adopt(Connection* c) {
  if (transport_ == nullptr) {
    loops_[next_loop_.fetch_add(1, std::memory_order_relaxed) % loops_.size()]->Add(c);
    return;
  }
  std::lock_guard<std::mutex> lock(sim_mu_);
  sim_conns_.push_back(c);
}

Result<Connection*> RemotingImpl::ConnectCached(const std::string& endpoint) {
  if (t_last.owner == this && t_last.conn->open() && !t_last.conn->failing() &&
      t_last.endpoint == endpoint && !shut_.load(std::memory_order_acquire)) {
    t_last.conn->AddRef();
    return t_last.conn;
  }
  Result<Connection*> r = Connect(endpoint);
  if (r.ok() && (*r)->open() && !(*r)->failing()) {
    t_last.Reset();
    (*r)->AddRef();
    t_last.conn = *r;
    t_last.owner = this;
    t_last.endpoint = endpoint;
  }
  return r;
}

Result<Connection*> RemotingImpl::Connect(const std::string& endpoint) {
  if (shut_.load(std::memory_order_acquire)) {
    return SystemStoppedError("remoting of " + system_name_ + " is shut down");
  }
  Endpoint* ep;
  {
    std::lock_guard<std::mutex> lock(endpoints_mu_);
    auto& slot = endpoints_[endpoint];
    if (!slot) {
      slot = std::make_unique<Endpoint>();
      slot->backoff = options_.reconnect_backoff;
    }
    ep = slot.get();
  }
  std::lock_guard<std::mutex> lock(ep->mu);
  // Lazy eviction: closed connections leave the pool when someone looks.
  int64_t now = NowNs();
  for (auto it = ep->conns.begin(); it != ep->conns.end();) {
    if ((*it)->closed() || (*it)->failing()) {  // a failing one takes no new requests
      (*it)->Release();
      it = ep->conns.erase(it);
    } else {
      ++it;
    }
  }
  if (ep->conns.size() < static_cast<std::size_t>(std::max(1, options_.connections_per_endpoint))) {
    if (now < ep->next_attempt_ns && ep->conns.empty()) {
      return UnavailableError(ep->last_error.message() + " (next attempt in " +
                              std::to_string((ep->next_attempt_ns - now) / 1000000) + " ms)");
    }
    if (now >= ep->next_attempt_ns) {
      Result<Connection*> d = Dial(endpoint);
      if (!d.ok()) {
        ep->last_error = d.status();
        ep->next_attempt_ns = NowNs() + ToNs(ep->backoff);
        ep->backoff = std::min(ep->backoff * 2, options_.max_reconnect_backoff);
        if (ep->conns.empty()) return d.status();
      } else {
        ep->backoff = options_.reconnect_backoff;
        ep->next_attempt_ns = 0;
        ep->conns.push_back(*d);
      }
    }
  }
  // LIFO: the most recent connection first; several are used in turn.
  Connection* c = ep->conns.size() == 1
                      ? ep->conns.back()
                      : ep->conns[ep->conns.size() - 1 - (ep->rr++ % ep->conns.size())];
  c->AddRef();
  return c;
}

void RemotingImpl::ForgetBackoff(const std::string& endpoint) {
  Endpoint* ep;
  {
    std::lock_guard<std::mutex> lock(endpoints_mu_);
    auto it = endpoints_.find(endpoint);
    if (it == endpoints_.end()) return;
    ep = it->second.get();
  }
  std::unique_lock<std::mutex> lock(ep->mu, std::try_to_lock);
  if (!lock.owns_lock()) return;  // a dial is under way
  ep->next_attempt_ns = 0;
  ep->backoff = options_.reconnect_backoff;
}

void RemotingImpl::OnConnectionClosed(Connection* c, const Status& why) {
  if (why.code() == StatusCode::kProtocolError && !shut_.load()) {
    sys_->logger().Log(LogLevel::kWarn, "remoting " + endpoint_ + ": closed connection with " +
                                            c->peer() + ": " + why.ToString());
  }
}

// ---------------------------------------------------------------------------
// Sending.

const std::string& RemotingImpl::SenderAddress(ActorCell* cell) {
  if (cell->is_remote()) return cell->address();
  // Keyed by the cell's id (never reused in a system), not its address: a
  // new actor may live where a dead one did.
  thread_local uint64_t last_id = 0;
  thread_local std::string last_address;
  thread_local const RemotingImpl* last_owner = nullptr;
  if (cell->id() != last_id || last_owner != this) {
    last_id = cell->id();
    last_owner = this;
    last_address = prefix_ + cell->name();
  }
  return last_address;
}

Status RemotingImpl::Post(ActorCell* proxy, Envelope* e) {
  auto* ref = static_cast<ProxyData*>(proxy->remote_data().get());
  const google::protobuf::Message* pm = e->msg.AsProto();
  if (pm == nullptr) {
    Status s = InvalidArgumentError("a message of type " + std::string(e->msg.TypeName()) +
                                    " cannot be sent to the remote actor " + proxy->address() +
                                    ": only protobuf messages cross a process");
    ActorCell::FailReply(e, s);
    internal::FreeEnvelope(e);
    return s;
  }
  Result<Connection*> rc =
      ref->lost.load(std::memory_order_acquire)
          ? Result<Connection*>(UnavailableError("the node of " + proxy->address() + " was lost"))
          : ConnectCached(ref->endpoint);
  if (rc.ok()) {
    // A PID belongs to one start of its node: it never reaches another.
    uint64_t inc = (*rc)->peer_node().incarnation;
    uint64_t bound = ref->incarnation.load(std::memory_order_acquire);
    if (!ref->binds) {
      bound = 0;
    } else if (bound == 0 && inc != 0 && ref->incarnation.compare_exchange_strong(bound, inc)) {
      bound = inc;  // the first node it reaches is its node
    }
    if (bound != 0 && inc != 0 && bound != inc) {
      (*rc)->Release();
      rc = UnavailableError("the node of " + proxy->address() +
                            " restarted (a new incarnation): this PID belongs to the old one");
    }
  }
  if (!rc.ok()) {
    ActorCell::FailReply(e, rc.status());
    sys_->DeadLetter(e, DeadLetterReason::kUnreachable, proxy, ref->name);
    return rc.status();
  }
  Connection* c = *rc;
  wire::Frame f;
  f.kind = e->expects_reply() ? wire::Kind::kAsk : wire::Kind::kTell;
  // A tell needs no id: an error the peer sends back for it carries 0 and
  // is logged here.
  f.correlation = f.kind == wire::Kind::kAsk ? c->NextCorrelation() : 0;
  f.type = pm->GetDescriptor()->full_name();
  f.target = ref->name;
  if (e->sender != nullptr) f.sender = SenderAddress(e->sender);
  int64_t deadline = internal::t_send_deadline_ns;
  if (deadline != 0) {
    int64_t left_us = (deadline - NowNs()) / 1000;
    if (left_us <= 0 && f.kind == wire::Kind::kAsk) {
      // The wire cannot carry a budget that is already spent: fail here.
      Status late = TimeoutError("the deadline passed before the request to " + proxy->address() +
                                 " was sent");
      ActorCell::FailReply(e, late);
      internal::FreeEnvelope(e);
      c->Release();
      return late;
    }
    f.deadline_us = static_cast<uint32_t>(std::clamp<int64_t>(left_us, 1, UINT32_MAX));
  }
  Headers headers;
  propagator_->Inject(headers);
  std::string meta;
  if (!headers.empty()) {
    meta = wire::EncodeHeaders(headers);
    f.metadata = meta;
  }
  if (f.kind == wire::Kind::kAsk) {
    Pending p;
    p.id = e->request_id;
    // Kept until the answer, the connection's end, or well past the deadline.
    p.deadline_ns = (deadline != 0 ? deadline : NowNs() + ToNs(std::chrono::minutes(5))) +
                    ToNs(std::chrono::seconds(1));
    switch (e->reply_kind) {
      case ReplyKind::kSlot:
        p.kind = Pending::Kind::kSlot;
        p.slot = e->slot;
        break;
      case ReplyKind::kRequest:
        p.kind = Pending::Kind::kRequest;
        p.requester = e->requester;
        break;
      default:
        p.kind = Pending::Kind::kRoute;
        p.route = e->route;
        break;
    }
    proxy->AddRef();
    p.replier = proxy;
    e->reply_kind = ReplyKind::kAnswered;  // the pending entry owns the route now
    c->AddPending(f.correlation, p);
  }
  Status s = c->Enqueue(f, pm, {});
  if (!s.ok()) {
    Pending p;
    if (f.kind == wire::Kind::kAsk && c->TakePending(f.correlation, &p)) Deliver(p, s);
    internal::FreeEnvelope(e);
    c->Release();
    return s;
  }
  c->FlushSoon(/*one_way=*/f.kind == wire::Kind::kTell);
  internal::FreeEnvelope(e);
  c->Release();
  return Status();
}

void RemotingImpl::Control(ActorCell* proxy, internal::SysKind kind) {
  remote::LifecycleRequest req;
  switch (kind) {
    case internal::SysKind::kStop:
      req.set_op(remote::LifecycleRequest::STOP);
      break;
    case internal::SysKind::kRestart:
      req.set_op(remote::LifecycleRequest::RESTART);
      break;
    case internal::SysKind::kReinstate:
      req.set_op(remote::LifecycleRequest::REINSTATE);
      break;
    case internal::SysKind::kKill:
      req.set_op(remote::LifecycleRequest::KILL);
      break;
    default:
      return;
  }
  auto* ref = static_cast<ProxyData*>(proxy->remote_data().get());
  req.set_name(ref->name);
  TellControl(ref->endpoint, req);  // one-way: a failure comes back as an ERROR, logged
}

void RemotingImpl::BeforeInvoke(const internal::EnvelopeMeta* meta) {
  if (!meta->headers.empty()) propagator_->Extract(meta->headers);
}

}  // namespace akt
