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
#include "reply_slot.h"
#include "tls.h"
#include "turn_hooks.h"

namespace akt {

namespace internal {
// Wraps a protobuf message parsed from the wire into a Message that As<T>()
// recognises as the generated class T.
struct MessageAccess {
  static const google::protobuf::Message* Ptr(const void* s) {
    const google::protobuf::Message* m;
    std::memcpy(&m, s, sizeof m);
    return m;
  }
  static void Destroy(void* s) { delete Ptr(s); }
  static void Relocate(void* dst, void* src) { std::memcpy(dst, src, sizeof(void*)); }
  static void Copy(void* dst, const void* src) {
    const google::protobuf::Message* m = Ptr(src);
    google::protobuf::Message* c = m->New();
    c->CopyFrom(*m);
    std::memcpy(dst, &c, sizeof c);
  }
  static void* Get(void* s) {
    return dynamic_cast<void*>(const_cast<google::protobuf::Message*>(Ptr(s)));
  }
  static std::string_view Name() { return "<protobuf>"; }
  static const google::protobuf::Message* Proto(const void* s) { return Ptr(s); }
  static const std::type_info* DynamicType(const void* s) { return &typeid(*Ptr(s)); }
  static constexpr TypeOps kOps{&Destroy, &Relocate, &Copy, &Get, &Name, &Proto, &DynamicType};

  static Message Wrap(google::protobuf::Message* m) {
    Message out;
    std::memcpy(out.storage_, &m, sizeof m);
    out.ops_ = &kOps;
    return out;
  }
};
}  // namespace internal

using internal::ActorCell;
using internal::Envelope;
using internal::ReplyKind;
using internal::SteadyNowNs;
using internal::ToNs;
using remote::Connection;
using remote::Pending;
namespace wire = remote::wire;

namespace {


thread_local std::vector<std::pair<std::string, std::string>> t_scope_headers;
const Headers kNoHeaders;

class DefaultPropagatorImpl final : public ContextPropagator {
 public:
  void Inject(Headers& out) override {
    if (internal::t_current_meta != nullptr) {
      for (const auto& h : internal::t_current_meta->headers) out.push_back(h);
    }
    for (const auto& h : t_scope_headers) out.push_back(h);
  }
  void Extract(const Headers&) override {}
};

bool SplitHostPort(std::string_view ep, std::string* host, uint16_t* port) {
  std::size_t colon = ep.rfind(':');
  if (colon == std::string_view::npos || colon == 0) return false;
  std::string_view p = ep.substr(colon + 1);
  if (p.empty() || p.size() > 5) return false;
  unsigned v = 0;
  for (char ch : p) {
    if (ch < '0' || ch > '9') return false;
    v = v * 10 + static_cast<unsigned>(ch - '0');
  }
  if (v == 0 || v > 65535) return false;
  *host = std::string(ep.substr(0, colon));
  if (host->size() > 2 && host->front() == '[' && host->back() == ']') {
    *host = host->substr(1, host->size() - 2);
  }
  *port = static_cast<uint16_t>(v);
  return true;
}

bool ResolveAddr(const std::string& host, uint16_t port, sockaddr_storage* out, socklen_t* len) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* res = nullptr;
  std::string ps = std::to_string(port);
  if (::getaddrinfo(host.c_str(), ps.c_str(), &hints, &res) != 0 || res == nullptr) return false;
  std::memcpy(out, res->ai_addr, res->ai_addrlen);
  *len = res->ai_addrlen;
  ::freeaddrinfo(res);
  return true;
}

void SetNoDelay(int fd) {
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

StatusCode CodeFromWire(uint32_t c) {
  if (c == 0 || c > static_cast<uint32_t>(StatusCode::kActivationFailed))
    return StatusCode::kInternal;
  return static_cast<StatusCode>(c);
}

}  // namespace

namespace {
// The connection this thread used last (one reference held): a stream of
// messages to one endpoint skips the pool and its locks.
struct LastConnection {
  const RemotingImpl* owner = nullptr;
  std::string endpoint;
  Connection* conn = nullptr;
  ~LastConnection() { Reset(); }
  void Reset() {
    if (conn != nullptr) conn->Release();
    conn = nullptr;
    owner = nullptr;
  }
};
thread_local LastConnection t_last;
}  // namespace

// ---------------------------------------------------------------------------
// Public bits.

std::string_view CompressionName(Compression c) {
  switch (c) {
    case Compression::kNone:
      return "none";
    case Compression::kZstd:
      return "zstd";
    case Compression::kBrotli:
      return "brotli";
    case Compression::kGzip:
      return "gzip";
  }
  return "unknown";
}

std::shared_ptr<ContextPropagator> DefaultPropagator() {
  static auto p = std::make_shared<DefaultPropagatorImpl>();
  return p;
}

HeaderScope::HeaderScope(Headers headers) : added_(headers.size()) {
  for (auto& h : headers) t_scope_headers.push_back(std::move(h));
}
HeaderScope::HeaderScope(std::initializer_list<std::pair<std::string, std::string>> headers)
    : HeaderScope(Headers(headers)) {}
HeaderScope::~HeaderScope() { t_scope_headers.resize(t_scope_headers.size() - added_); }

const Headers& CurrentHeaders() {
  return internal::t_current_meta != nullptr ? internal::t_current_meta->headers : kNoHeaders;
}

std::optional<TimePoint> CurrentDeadline() {
  const internal::RemoteMeta* m = internal::t_current_meta;
  if (m == nullptr || m->deadline_ns == 0) return std::nullopt;
  return Clock::now() + std::chrono::nanoseconds(m->deadline_ns - SteadyNowNs());
}

// ---------------------------------------------------------------------------
// Facade.

Result<Remoting*> Remoting::Enable(ActorSystem& system, RemoteOptions options) {
  if (options.accept_loops < 1 || options.io_threads < 1) {
    return InvalidArgumentError("accept_loops and io_threads must be at least 1");
  }
  if (options.max_frame_bytes < 1024 || options.max_frame_bytes > (1u << 30)) {
    return InvalidArgumentError("max_frame_bytes must be within 1 KiB .. 1 GiB");
  }
  if (options.accept_compression.empty()) {
    return InvalidArgumentError("accept_compression must name at least one codec");
  }
  if (options.heartbeat_interval < Duration::zero() ||
      (options.heartbeat_interval > Duration::zero() &&
       options.heartbeat_timeout <= options.heartbeat_interval)) {
    return InvalidArgumentError(
        "heartbeat_timeout must be longer than heartbeat_interval (and the interval >= 0)");
  }
  if (options.node_lost_after <= Duration::zero()) {
    return InvalidArgumentError("node_lost_after must be positive");
  }
  auto* impl = new RemotingImpl(system, std::move(options));
  std::shared_ptr<internal::RemoteHooks> hooks(
      impl, [](internal::RemoteHooks* h) { static_cast<RemotingImpl*>(h)->Unref(); });
  Status s = impl->Start();
  if (!s.ok()) {
    impl->Shutdown();
    return s;
  }
  system.impl().set_remote_ask_spin(impl->options().ask_spin);
  s = system.impl().SetRemoteHooks(hooks);
  if (!s.ok()) {
    impl->Shutdown();
    return s;
  }
  return impl->facade();
}

Remoting* Remoting::Of(ActorSystem& system) {
  auto* impl = dynamic_cast<RemotingImpl*>(system.impl().remote_hooks());
  return impl != nullptr ? impl->facade() : nullptr;
}

Remoting::~Remoting() = default;
const std::string& Remoting::endpoint() const { return impl_->endpoint(); }
uint16_t Remoting::port() const { return impl_->port(); }
Status Remoting::RegisterKind(std::string kind, ActorFactory factory) {
  return impl_->RegisterKind(std::move(kind), std::move(factory));
}
Result<PID> Remoting::ActorOf(std::string_view address) { return impl_->ActorOf(address); }
Result<PID> Remoting::Lookup(std::string_view endpoint, std::string_view name, Duration timeout) {
  return impl_->Lookup(endpoint, name, timeout);
}
Result<PID> Remoting::SpawnRemote(std::string_view endpoint, std::string_view name,
                                  std::string_view kind, const RemoteSpawnOptions& options,
                                  Duration timeout) {
  return impl_->SpawnRemote(endpoint, name, kind, options, timeout);
}
Status Remoting::StopRemote(const PID& pid, Duration timeout) {
  return impl_->Lifecycle(pid, remote::LifecycleRequest::STOP, timeout);
}
Status Remoting::RestartRemote(const PID& pid, Duration timeout) {
  return impl_->Lifecycle(pid, remote::LifecycleRequest::RESTART, timeout);
}
Status Remoting::ReinstateRemote(const PID& pid, Duration timeout) {
  return impl_->Lifecycle(pid, remote::LifecycleRequest::REINSTATE, timeout);
}
std::string Remoting::AddressOf(const PID& pid) const { return impl_->AddressOf(pid); }
bool Remoting::IsRemote(const PID& pid) { return pid.cell() != nullptr && pid.cell()->is_remote(); }
RemotingStats Remoting::Stats() const { return impl_->Stats(); }
Result<PID> Remoting::GrainOf(std::string_view endpoint, const GrainIdentity& id,
                              Duration timeout) {
  return impl_->GrainOf(endpoint, id, timeout);
}
Status Remoting::TellGrain(std::string_view endpoint, const GrainIdentity& id, Message msg) {
  if (endpoint == impl_->endpoint()) return impl_->system().TellGrain(id, std::move(msg));
  Result<PID> pid = impl_->LazyGrainPid(endpoint, id);
  if (!pid.ok()) return pid.status();
  return pid->Tell(std::move(msg));
}
Result<Message> Remoting::AskGrain(std::string_view endpoint, const GrainIdentity& id, Message msg,
                                   Duration timeout) {
  if (endpoint == impl_->endpoint()) return impl_->system().AskGrain(id, std::move(msg), timeout);
  Result<PID> pid = impl_->LazyGrainPid(endpoint, id);
  if (!pid.ok()) return pid.status();
  return pid->Ask(std::move(msg), timeout);
}

// ---------------------------------------------------------------------------
// Start and shutdown.

RemotingImpl::RemotingImpl(ActorSystem& system, RemoteOptions options)
    : system_(system),
      sys_(&system.impl()),
      options_(std::move(options)),
      system_name_(system.name()),
      facade_(this) {
  // No reference on the system: it owns this object (a reference would be a
  // cycle). After Shutdown nothing here touches the system any more.
  propagator_ = options_.propagator ? options_.propagator : DefaultPropagator();
}

RemotingImpl::~RemotingImpl() {
  remote::FreeTlsContext(server_tls_);
  remote::FreeTlsContext(client_tls_);
}

void RemotingImpl::Unref() {
  if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
}

Status RemotingImpl::Start() {
  if (options_.tls.enabled) {
    // OpenSSL writes with write(2), which raises SIGPIPE on a connection the
    // peer closed; a node must not die of it. Only the default disposition
    // is replaced (an application's own handler stays).
    struct sigaction old {};
    if (::sigaction(SIGPIPE, nullptr, &old) == 0 && old.sa_handler == SIG_DFL) {
      ::signal(SIGPIPE, SIG_IGN);
    }
    Result<SSL_CTX*> s = remote::MakeTlsContext(options_.tls, /*server=*/true);
    if (!s.ok()) return s.status();
    server_tls_ = *s;
    Result<SSL_CTX*> c = remote::MakeTlsContext(options_.tls, /*server=*/false);
    if (!c.ok()) return c.status();
    client_tls_ = *c;
  }
  sockaddr_storage addr{};
  socklen_t alen = 0;
  if (!ResolveAddr(options_.host, options_.port, &addr, &alen)) {
    return InvalidArgumentError("cannot resolve remoting host '" + options_.host + "'");
  }
  uint16_t port = options_.port;
  for (int i = 0; i < options_.accept_loops; ++i) {
    int fd = ::socket(addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return UnavailableError(std::string("socket: ") + std::strerror(errno));
    int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    int qlen = 256;
    ::setsockopt(fd, IPPROTO_TCP, TCP_FASTOPEN, &qlen, sizeof qlen);  // best effort
    // TCP_DEFER_ACCEPT: the kernel hands over a connection once its first
    // bytes are in (or after 1 s). Only with a handshake timeout of 1 s or
    // more, so the hold never outlasts it; Accepted counts the hold in.
    if (options_.handshake_timeout >= std::chrono::seconds(1)) {
      int defer_s = 1;
      if (::setsockopt(fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, &defer_s, sizeof defer_s) == 0) {
        defer_accept_s_ = defer_s;
        defer_on_.store(true);
        defer_on_since_ns_.store(SteadyNowNs());
      }
    }
    if (addr.ss_family == AF_INET) {
      reinterpret_cast<sockaddr_in*>(&addr)->sin_port = htons(port);
    } else {
      reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port = htons(port);
    }
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), alen) != 0 || ::listen(fd, 1024) != 0) {
      std::string err = std::strerror(errno);
      ::close(fd);
      return UnavailableError("cannot listen on " + options_.host + ":" + std::to_string(port) +
                              ": " + err);
    }
    if (port == 0) {
      sockaddr_storage got{};
      socklen_t gl = sizeof got;
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&got), &gl);
      port = ntohs(got.ss_family == AF_INET ? reinterpret_cast<sockaddr_in*>(&got)->sin_port
                                            : reinterpret_cast<sockaddr_in6*>(&got)->sin6_port);
    }
    listen_fds_.push_back(fd);
  }
  port_ = port;
  endpoint_ = (addr.ss_family == AF_INET6 ? "[" + options_.host + "]" : options_.host) + ":" +
              std::to_string(port_);
  prefix_ = "akt://" + system_name_ + "@" + endpoint_ + "/";
  self_ = NodeId{system_name_, endpoint_, NewIncarnation()};
  if (::pipe2(wake_pipe_, O_CLOEXEC | O_NONBLOCK) != 0) {
    return UnavailableError("pipe2 failed");
  }
  for (int i = 0; i < options_.io_threads; ++i) {
    loops_.push_back(std::make_unique<remote::IoLoop>(this, i));
    loops_.back()->Start();
  }
  for (int fd : listen_fds_) acceptors_.emplace_back([this, fd] { AcceptLoop(fd); });
  if (options_.run_actors_on_io_threads && options_.inline_turn_limit > Duration::zero()) {
    watchdog_ = std::thread([this] { WatchdogLoop(); });
  }
  nodes_thread_ = std::thread([this] { NodesLoop(); });
  return StartWatchRelay();
}

void RemotingImpl::WatchdogLoop() {
  std::unique_lock<std::mutex> lock(watchdog_mu_);
  auto next = std::chrono::steady_clock::now() + options_.inline_turn_limit;
  while (!watchdog_stop_) {
    // A spurious wake-up must not shorten a period (a steal needs the same
    // turn seen at two checks a whole period apart).
    if (watchdog_cv_.wait_until(lock, next, [this] { return watchdog_stop_; })) break;
    next += options_.inline_turn_limit;
    for (auto& l : loops_) l->HandOffIfStuck();
  }
}

void RemotingImpl::SetDeferAccept(bool on) {
  if (defer_accept_s_ == 0 || defer_on_.load() == on) return;
  std::lock_guard<std::mutex> lock(defer_mu_);
  if (defer_on_.load() == on) return;
  if (on) defer_on_since_ns_.store(SteadyNowNs());
  defer_on_.store(on);
  int v = on ? defer_accept_s_ : 0;
  for (int fd : listen_fds_) ::setsockopt(fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, &v, sizeof v);
}

void RemotingImpl::Shutdown() {
  if (shut_.exchange(true)) return;
  {
    std::lock_guard<std::mutex> lock(nodes_mu_);
    nodes_stop_ = true;
  }
  nodes_cv_.notify_all();
  if (nodes_thread_.joinable()) nodes_thread_.join();
  if (t_last.owner == this) t_last.Reset();
  if (wake_pipe_[1] >= 0) {
    char c = 1;
    [[maybe_unused]] ssize_t w = ::write(wake_pipe_[1], &c, 1);
  }
  for (auto& t : acceptors_) {
    if (t.joinable()) t.join();
  }
  {
    std::lock_guard<std::mutex> lock(watchdog_mu_);
    watchdog_stop_ = true;
  }
  watchdog_cv_.notify_all();
  if (watchdog_.joinable()) watchdog_.join();
  for (int fd : listen_fds_) ::close(fd);
  listen_fds_.clear();
  for (int& fd : wake_pipe_) {
    if (fd >= 0) ::close(fd);
    fd = -1;
  }
  // Outbound pools let go of their connections (the loops close them).
  std::unordered_map<std::string, std::unique_ptr<Endpoint>> eps;
  {
    std::lock_guard<std::mutex> lock(endpoints_mu_);
    eps.swap(endpoints_);
  }
  for (auto& [name, ep] : eps) {
    std::lock_guard<std::mutex> lock(ep->mu);
    for (Connection* c : ep->conns) {
      c->Close(SystemStoppedError("remoting is shutting down"));
      c->Release();
    }
    ep->conns.clear();
  }
  for (auto& l : loops_) l->Stop();
  watch_relay_ = PID();  // no loop reads it any more; its cell holds the system
  // Proxies: retire them so nothing keeps the system alive.
  std::unordered_map<std::string, PID> proxies;
  {
    std::lock_guard<std::mutex> lock(proxies_mu_);
    proxies.swap(proxies_);
  }
  for (auto& [addr, pid] : proxies) pid.cell()->RetireProxy();
  proxies.clear();
  std::lock_guard<std::mutex> lock(proxies_mu_);
  grain_proxies_.clear();
}

void RemotingImpl::AcceptLoop(int listen_fd) {
  pollfd fds[2] = {{listen_fd, POLLIN, 0}, {wake_pipe_[0], POLLIN, 0}};
  while (!shut_.load(std::memory_order_acquire)) {
    int r = ::poll(fds, 2, 500);
    if (r <= 0) continue;
    if (fds[1].revents != 0) break;
    for (;;) {
      sockaddr_storage peer{};
      socklen_t pl = sizeof peer;
      int fd = ::accept4(listen_fd, reinterpret_cast<sockaddr*>(&peer), &pl,
                         SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) break;
      char host[INET6_ADDRSTRLEN] = "?";
      uint16_t port = 0;
      if (peer.ss_family == AF_INET) {
        auto* a = reinterpret_cast<sockaddr_in*>(&peer);
        ::inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
        port = ntohs(a->sin_port);
      } else if (peer.ss_family == AF_INET6) {
        auto* a = reinterpret_cast<sockaddr_in6*>(&peer);
        ::inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
        port = ntohs(a->sin6_port);
      }
      Accepted(fd, std::string(host) + ":" + std::to_string(port));
    }
  }
}

void RemotingImpl::Accepted(int fd, const std::string& peer) {
  int open = inbound_open_.load(std::memory_order_relaxed);
  // Held by the kernel only if defer accept was on the whole time it could
  // have held this one (it may have been off at the limit until just now).
  int64_t hold_ns = ToNs(std::chrono::seconds(defer_accept_s_));
  bool deferred = defer_on_.load() && SteadyNowNs() - defer_on_since_ns_.load() >= hold_ns;
  if (open >= options_.max_connections) {
    stats_.connections_refused.fetch_add(1, std::memory_order_relaxed);
    if (server_tls_ == nullptr) {
      wire::ServerHello h;
      h.status = wire::HelloStatus::kRefused;
      h.text =
          "too many connections (the maximum is " + std::to_string(options_.max_connections) + ")";
      std::string bytes = wire::EncodeServerHello(h);
      [[maybe_unused]] ssize_t w = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    }
    ::close(fd);
    return;
  }
  stats_.connections_accepted.fetch_add(1, std::memory_order_relaxed);
  // At the limit, the next connection must hear REFUSED at once, not after
  // the kernel held it for the defer time.
  SetDeferAccept(open + 1 < options_.max_connections);
  // With TCP_DEFER_ACCEPT a connection comes with its first bytes, or with
  // none after the kernel held it the whole defer time: that counts against
  // the handshake timeout.
  int queued = 0;
  bool held = deferred && ::ioctl(fd, FIONREAD, &queued) == 0 && queued == 0;
  SetNoDelay(fd);
  Ref();
  inbound_open_.fetch_add(1, std::memory_order_relaxed);
  auto* c = new Connection(this, fd, /*inbound=*/true, peer);
  c->CountAsInbound();
  if (held) c->StartedEarlier(hold_ns);
  if (server_tls_ != nullptr) {
    c->set_ssl(remote::NewTlsSession(server_tls_, fd, /*server=*/true, ""));
    c->set_state(Connection::State::kTlsHandshake);
  }
  loops_[next_loop_.fetch_add(1, std::memory_order_relaxed) % loops_.size()]->Add(c);
}

// ---------------------------------------------------------------------------
// Outbound connections.

Result<Connection*> RemotingImpl::Dial(const std::string& endpoint) {
  std::string host;
  uint16_t port = 0;
  if (!SplitHostPort(endpoint, &host, &port)) {
    return InvalidArgumentError("'" + endpoint + "' is not a host:port endpoint");
  }
  sockaddr_storage addr{};
  socklen_t alen = 0;
  if (!ResolveAddr(host, port, &addr, &alen)) {
    return UnavailableError("cannot resolve '" + host + "'");
  }
  int fd = ::socket(addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return UnavailableError(std::string("socket: ") + std::strerror(errno));
  int64_t deadline = SteadyNowNs() + ToNs(options_.connect_timeout);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), alen) != 0 && errno != EINPROGRESS) {
    std::string err = std::strerror(errno);
    ::close(fd);
    return UnavailableError("connect to " + endpoint + " failed: " + err);
  }
  pollfd p{fd, POLLOUT, 0};
  int left_ms = static_cast<int>((deadline - SteadyNowNs()) / 1000000) + 1;
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
  auto* c = new Connection(this, fd, /*inbound=*/false, endpoint);
  if (client_tls_ != nullptr) c->set_ssl(remote::NewTlsSession(client_tls_, fd, false, host));
  Status s = c->ClientHandshake(options_, system_name_, deadline);
  if (!s.ok()) {
    c->Close(s);
    c->Release();
    return s;
  }
  c->AddRef();  // the loop's reference
  loops_[next_loop_.fetch_add(1, std::memory_order_relaxed) % loops_.size()]->Add(c);
  return c;
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
  int64_t now = SteadyNowNs();
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
        ep->next_attempt_ns = SteadyNowNs() + ToNs(ep->backoff);
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
  Result<Connection*> rc = ref->lost.load(std::memory_order_acquire)
                              ? Result<Connection*>(UnavailableError(
                                    "the node of " + proxy->address() + " was lost"))
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
    int64_t left_us = (deadline - SteadyNowNs()) / 1000;
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
    p.deadline_ns = (deadline != 0 ? deadline : SteadyNowNs() + ToNs(std::chrono::minutes(5))) +
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
  Result<Connection*> rc = Connect(ref->endpoint);
  if (!rc.ok()) return;
  Connection* c = *rc;
  wire::Frame f;
  f.kind = wire::Kind::kTell;  // one-way: a failure comes back as an ERROR and is logged
  f.correlation = 0;
  f.type = req.GetDescriptor()->full_name();
  f.target = wire::kControlTarget;
  if (c->Enqueue(f, &req, {}).ok()) c->FlushSoon();
  c->Release();
}

void RemotingImpl::BeforeInvoke(const internal::RemoteMeta* meta) {
  if (!meta->headers.empty()) propagator_->Extract(meta->headers);
}

// ---------------------------------------------------------------------------
// Receiving.

bool RemotingImpl::ChooseCodec(const std::vector<uint8_t>& offered, Compression* chosen,
                               std::string* why) {
  for (uint8_t id : offered) {
    if (!remote::ValidCodec(id)) continue;
    for (Compression c : options_.accept_compression) {
      if (static_cast<uint8_t>(c) == id) {
        *chosen = c;
        return true;
      }
    }
  }
  std::string o, a;
  for (uint8_t id : offered) {
    o += (o.empty() ? "" : ", ") + (remote::ValidCodec(id)
                                        ? std::string(CompressionName(static_cast<Compression>(id)))
                                        : "#" + std::to_string(id));
  }
  for (Compression c : options_.accept_compression) {
    a += (a.empty() ? "" : ", ") + std::string(CompressionName(c));
  }
  *why = "no common compression: the client offers [" + o + "], the server accepts [" + a + "]";
  return false;
}

ActorCell* RemotingImpl::ResolveTarget(Connection* c, std::string_view name) {
  auto alive = [](const PID& p) { return p.cell()->life() != ActorCell::Life::kTerminated; };
  if (PID* hit = c->targets_.Find(name, alive)) return hit->cell();
  Result<PID> r = sys_->Lookup(name);
  if (!r.ok()) return nullptr;
  return c->targets_.Put(name, *r).cell();
}

ActorCell* RemotingImpl::ResolveSender(Connection* c, std::string_view address) {
  if (PID* hit = c->senders_.Find(address, [](const PID&) { return true; })) return hit->cell();
  Result<PID> r = ActorOfFrom(address, c->node_known() ? &c->peer_node() : nullptr);
  if (!r.ok()) return nullptr;
  return c->senders_.Put(address, *r).cell();
}

Status RemotingImpl::ParsePayload(Connection* c, std::string_view type, std::string_view payload,
                                  Message* out) {
  const google::protobuf::Message* proto = nullptr;
  if (auto* hit = c->types_.Find(type, [](const auto&) { return true; })) {
    proto = *hit;
  } else {
    const google::protobuf::Descriptor* d =
        google::protobuf::DescriptorPool::generated_pool()->FindMessageTypeByName(
            std::string(type));
    if (d != nullptr)
      proto = google::protobuf::MessageFactory::generated_factory()->GetPrototype(d);
    c->types_.Put(type, proto);
  }
  if (proto == nullptr) {
    return NotFoundError("unknown message type '" + std::string(type) + "' on " + system_name_ +
                         " (its generated code is not linked in)");
  }
  google::protobuf::Message* m = proto->New();
  if (!m->ParseFromArray(payload.data(), static_cast<int>(payload.size()))) {
    delete m;
    return InvalidArgumentError("the payload does not parse as " + std::string(type));
  }
  *out = internal::MessageAccess::Wrap(m);
  return Status();
}

void RemotingImpl::HandleFrame(Connection* c, const wire::Frame& f) {
  switch (f.kind) {
    case wire::Kind::kTell:
    case wire::Kind::kAsk: {
      bool ask = f.kind == wire::Kind::kAsk;
      if (f.target == wire::kControlTarget) {
        HandleControl(c, f);  // a TELL is carried out too, answered only on failure
        return;
      }
      Message m;
      Status s = ParsePayload(c, f.type, f.payload, &m);
      if (!s.ok()) {
        c->Refuse(f.correlation, s);
        return;
      }
      Envelope* e = internal::NewEnvelope();
      e->msg = std::move(m);
      if (!f.sender.empty()) {
        if (ActorCell* sp = ResolveSender(c, f.sender)) {
          sp->AddRef();
          e->sender = sp;
        }
      }
      if (f.deadline_us != 0 || !f.metadata.empty()) {
        auto* meta = new internal::RemoteMeta();
        // The budget counts from when the frame's bytes were read.
        if (f.deadline_us != 0) meta->deadline_ns = c->read_ns() + int64_t{f.deadline_us} * 1000;
        if (!wire::DecodeHeaders(f.metadata, &meta->headers)) {
          delete meta;
          internal::FreeEnvelope(e);
          c->Refuse(f.correlation, Status(StatusCode::kProtocolError, "malformed metadata"));
          return;
        }
        e->meta = meta;
      }
      if (ask) {
        c->AddRef();
        c->OpenInbound();
        e->route = c;
        e->reply_kind = ReplyKind::kRemote;
        e->request_id = f.correlation;
      }
      if (ActorCell* target = ResolveTarget(c, f.target)) {
        Status st;
        // A refused ask is answered with an error by PostUser itself.
        if (target->TryPostUser(e, &st)) return;  // else it terminated just now
      }
      if (internal::IsGrainActorName(f.target)) {
        // A grain: activated here on demand (again, if it just deactivated).
        Status st = internal::DeliverToGrainByActorName(sys_, f.target, e);
        if (!st.ok() && !ask) c->Refuse(f.correlation, st);
        return;
      }
      Status nf = NotFoundError("no actor named '" + std::string(f.target) + "' on " + endpoint_);
      if (ask) {
        ActorCell::FailReply(e, nf);
      } else {
        c->Refuse(f.correlation, nf);
      }
      internal::FreeEnvelope(e);
      return;
    }
    case wire::Kind::kReply:
    case wire::Kind::kError: {
      Pending p;
      if (!c->TakePending(f.correlation, &p)) {
        if (f.kind == wire::Kind::kError && f.correlation == 0) {
          uint32_t code = 0;
          std::string text;
          wire::DecodeError(f.payload, &code, &text);
          sys_->logger().Log(LogLevel::kWarn, "remoting: " + c->peer() + " reports: " + text);
        }
        return;  // late answer: its caller gave up
      }
      if (f.kind == wire::Kind::kReply) {
        Message m;
        Status s = ParsePayload(c, f.type, f.payload, &m);
        if (s.ok()) {
          Deliver(p, std::move(m));
        } else {
          Deliver(p, s);
        }
      } else {
        uint32_t code = 0;
        std::string text;
        if (!wire::DecodeError(f.payload, &code, &text)) {
          Deliver(p, Status(StatusCode::kProtocolError, "malformed error reply"));
        } else {
          Deliver(p, Status(CodeFromWire(code), text));
        }
      }
      return;
    }
    case wire::Kind::kPing: {
      wire::Frame pong;
      pong.kind = wire::Kind::kPong;
      pong.correlation = f.correlation;
      if (c->Enqueue(pong, nullptr, {}).ok()) c->FlushSoon();
      return;
    }
    case wire::Kind::kPong:
    case wire::Kind::kNode:  // taken by the connection before dispatch
      return;
  }
}

void RemotingImpl::Deliver(Pending& p, Result<Message> answer) {
  switch (p.kind) {
    case Pending::Kind::kSlot:
      if (answer.ok()) {
        p.slot->Complete(std::move(*answer));
      } else {
        p.slot->Fail(answer.status());
      }
      p.slot->Release();
      break;
    case Pending::Kind::kRequest: {
      Envelope* r = internal::NewEnvelope();
      r->sys = internal::SysKind::kRequestReply;
      r->request_id = p.id;
      if (answer.ok()) {
        r->msg = std::move(*answer);
      } else {
        r->is_error = true;
        r->msg = answer.status();
      }
      if (p.replier != nullptr) {
        p.replier->AddRef();
        r->sender = p.replier;
      }
      p.requester->PostSystem(r);
      p.requester->Release();
      break;
    }
    case Pending::Kind::kRoute:
      if (answer.ok()) {
        p.route->Reply(p.id, std::move(*answer));
      } else {
        p.route->Fail(p.id, answer.status());
      }
      p.route->Release();
      break;
  }
  if (p.replier != nullptr) p.replier->Release();
  p.replier = nullptr;
}

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

void RemotingImpl::HandleControl(Connection* c, const wire::Frame& f) {
  Message m;
  Status s = ParsePayload(c, f.type, f.payload, &m);
  if (!s.ok()) {
    c->Refuse(f.correlation, s);
    return;
  }
  // A TELL to $remote is carried out like an ASK; only a failure is answered.
  auto reply = [&](const google::protobuf::Message& r) {
    if (f.kind != wire::Kind::kAsk) return;
    wire::Frame out;
    out.kind = wire::Kind::kReply;
    out.correlation = f.correlation;
    out.type = r.GetDescriptor()->full_name();
    if (c->Enqueue(out, &r, {}).ok()) c->FlushSoon();
  };
  Status refused;
  if (HandleWatchControl(c, m, &refused)) {
    if (!refused.ok()) {
      c->Refuse(f.correlation, refused);
    } else {
      reply(remote::Ack());
    }
    return;
  }
  if (const auto* req = m.As<remote::SpawnRequest>()) {
    ActorFactory factory;
    {
      std::lock_guard<std::mutex> lock(kinds_mu_);
      auto it = kinds_.find(req->kind());
      if (it != kinds_.end()) factory = it->second;
    }
    if (!factory) {
      c->Refuse(f.correlation,
                NotFoundError("no actor kind '" + req->kind() + "' is registered on " + endpoint_));
      return;
    }
    SpawnOptions opts;
    s = SpawnOptionsFrom(*req, sys_, &opts);
    if (!s.ok()) {
      c->Refuse(f.correlation, s);
      return;
    }
    Result<PID> r = system_.Spawn(req->name(), factory, opts);
    if (!r.ok()) {
      c->Refuse(f.correlation, r.status());
      return;
    }
    {
      std::lock_guard<std::mutex> lock(kinds_mu_);
      spawn_records_[req->name()] = req->SerializeAsString();
    }
    remote::SpawnReply out;
    out.set_address(prefix_ + req->name());
    reply(out);
    return;
  }
  if (const auto* req = m.As<remote::GrainRequest>()) {
    Result<PID> r = internal::ActivateGrainByIdentity(sys_, req->kind(), req->name());
    if (!r.ok()) {
      c->Refuse(f.correlation, r.status());
      return;
    }
    remote::LookupReply out;
    out.set_address(prefix_ + internal::GrainActorName(req->kind(), req->name()));
    reply(out);
    return;
  }
  if (const auto* req = m.As<remote::LookupRequest>()) {
    Result<PID> r = sys_->Lookup(req->name());
    if (!r.ok()) {
      c->Refuse(f.correlation,
                NotFoundError("no actor named '" + req->name() + "' on " + endpoint_));
      return;
    }
    remote::LookupReply out;
    out.set_address(prefix_ + req->name());
    reply(out);
    return;
  }
  if (const auto* req = m.As<remote::LifecycleRequest>()) {
    Result<PID> r = sys_->Lookup(req->name());
    if (!r.ok() && req->op() == remote::LifecycleRequest::RESTART) {
      // Re-spawn: the actor is gone, but it was spawned here by kind.
      std::string record;
      {
        std::lock_guard<std::mutex> lock(kinds_mu_);
        auto it = spawn_records_.find(req->name());
        if (it != spawn_records_.end()) record = it->second;
      }
      remote::SpawnRequest sr;
      if (!record.empty() && sr.ParseFromString(record)) {
        ActorFactory factory;
        {
          std::lock_guard<std::mutex> lock(kinds_mu_);
          auto it = kinds_.find(sr.kind());
          if (it != kinds_.end()) factory = it->second;
        }
        SpawnOptions opts;
        if (factory && SpawnOptionsFrom(sr, sys_, &opts).ok())
          r = system_.Spawn(sr.name(), factory, opts);
      }
      if (!r.ok()) {
        c->Refuse(f.correlation, NotFoundError("no actor named '" + req->name() + "' on " +
                                               endpoint_ + " and no record to re-spawn it from"));
        return;
      }
      reply(remote::Ack());
      return;
    }
    if (!r.ok()) {
      c->Refuse(f.correlation,
                NotFoundError("no actor named '" + req->name() + "' on " + endpoint_));
      return;
    }
    switch (req->op()) {
      case remote::LifecycleRequest::STOP: {
        std::lock_guard<std::mutex> lock(kinds_mu_);
        spawn_records_.erase(req->name());
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
        c->Refuse(f.correlation, InvalidArgumentError("unknown lifecycle operation"));
        return;
    }
    reply(remote::Ack());
    return;
  }
  c->Refuse(f.correlation,
            InvalidArgumentError("'" + std::string(f.type) + "' is not a control request"));
}

Result<Message> RemotingImpl::ControlCall(const std::string& endpoint,
                                          const google::protobuf::Message& req, Duration timeout,
                                          NodeId* answered_by) {
  if (internal::InActorTurn()) {
    return FailedPreconditionError("a blocking remote call from inside an actor");
  }
  if (timeout <= Duration::zero()) return InvalidArgumentError("a remote call needs a timeout");
  Result<Connection*> rc = Connect(endpoint);
  if (!rc.ok()) return rc.status();
  Connection* c = *rc;
  if (answered_by != nullptr) *answered_by = c->peer_node();
  internal::ReplySlot* slot = sys_->slots().Acquire();  // two references
  int64_t deadline = SteadyNowNs() + ToNs(timeout);
  wire::Frame f;
  f.kind = wire::Kind::kAsk;
  f.correlation = c->NextCorrelation();
  f.type = req.GetDescriptor()->full_name();
  f.target = wire::kControlTarget;
  f.deadline_us = static_cast<uint32_t>(std::min<int64_t>(ToNs(timeout) / 1000, UINT32_MAX));
  Pending p;
  p.kind = Pending::Kind::kSlot;
  p.slot = slot;
  p.deadline_ns = deadline + ToNs(std::chrono::seconds(1));
  c->AddPending(f.correlation, p);
  Status s = c->Enqueue(f, &req, {});
  if (!s.ok()) {
    Pending back;
    if (c->TakePending(f.correlation, &back)) Deliver(back, s);
  } else {
    c->Flush();
  }
  c->Release();
  Result<Message> r = sys_->AwaitReply(slot, sys_->Now() + timeout,
                                       std::max(options_.ask_spin, sys_->options().idle_spin));
  slot->Release();
  if (!r.ok() && r.status().code() == StatusCode::kTimeout) {
    return TimeoutError("no answer from " + endpoint + " within the timeout");
  }
  return r;
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

PID RemotingImpl::ProxyFor(const std::string& endpoint, std::string_view name,
                           std::string address, uint64_t incarnation) {
  PID replaced;  // retired after the lock
  std::lock_guard<std::mutex> lock(proxies_mu_);
  auto it = proxies_.find(address);
  if (it != proxies_.end()) {
    auto* ref = static_cast<ProxyData*>(it->second.cell()->remote_data().get());
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
  // to whichever start of the node hosts it now.
  bool grain = internal::IsGrainActorName(name);
  auto data = std::make_shared<ProxyData>(endpoint, std::string(name), grain ? 0 : incarnation);
  data->binds = !grain;
  ActorCell* cell =
      ActorCell::NewProxy(sys_, sys_->NextActorId(), std::string(name), address, std::move(data));
  PID pid = cell->self();
  proxies_.insert_or_assign(std::move(address), pid);
  if (replaced) replaced.cell()->RetireProxy();
  return pid;
}

Result<PID> RemotingImpl::ActorOf(std::string_view address) { return ActorOfFrom(address, nullptr); }

Result<PID> RemotingImpl::ActorOfFrom(std::string_view address, const NodeId* from) {
  constexpr std::string_view kScheme = "akt://";
  if (address.substr(0, kScheme.size()) != kScheme) {
    return InvalidArgumentError("'" + std::string(address) + "' is not an akt:// address");
  }
  std::string_view rest = address.substr(kScheme.size());
  std::size_t slash = rest.find('/');
  if (slash == std::string_view::npos || slash + 1 >= rest.size()) {
    return InvalidArgumentError("'" + std::string(address) + "' names no actor");
  }
  std::string_view authority = rest.substr(0, slash);
  std::string_view name = rest.substr(slash + 1);
  std::size_t at = authority.find('@');
  if (at == std::string_view::npos) {
    if (authority != system_name_) {
      return InvalidArgumentError("'" + std::string(address) + "' has no host:port");
    }
    return sys_->Lookup(name);
  }
  std::string endpoint(authority.substr(at + 1));
  std::string host;
  uint16_t port = 0;
  if (!SplitHostPort(endpoint, &host, &port)) {
    return InvalidArgumentError("'" + std::string(address) + "' has a malformed host:port");
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

Result<PID> RemotingImpl::SpawnRemote(std::string_view endpoint, std::string_view name,
                                      std::string_view kind, const RemoteSpawnOptions& options,
                                      Duration timeout) {
  remote::SpawnRequest req;
  req.set_name(std::string(name));
  req.set_kind(std::string(kind));
  req.set_relocatable(options.relocatable);
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
  NodeId node;
  Result<Message> r = ControlCall(std::string(endpoint), req, timeout, &node);
  if (!r.ok()) return r.status();
  const auto* rep = r->As<remote::SpawnReply>();
  if (rep == nullptr) return Status(StatusCode::kProtocolError, "unexpected answer to a spawn");
  return ActorOfFrom(rep->address(), &node);
}

Status RemotingImpl::Lifecycle(const PID& pid, int op, Duration timeout) {
  if (!pid) return NotFoundError("an empty PID");
  if (!pid.cell()->is_remote()) {
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
  auto* ref = static_cast<ProxyData*>(pid.cell()->remote_data().get());
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

std::string RemotingImpl::AddressOf(const PID& pid) const {
  if (!pid) return std::string();
  if (pid.cell()->is_remote()) return pid.cell()->address();
  return prefix_ + pid.cell()->name();
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
