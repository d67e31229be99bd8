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
#include "internal/access.h"
#include "remoting_impl.h"
#include "remoting_internal.h"
#include "reply_slot.h"
#include "tls.h"
#include "turn_hooks.h"

namespace akt {

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

}  // namespace

namespace remote_detail {
thread_local LastConnection t_last;
}  // namespace remote_detail

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
  const internal::EnvelopeMeta* m = internal::t_current_meta;
  if (m == nullptr || m->deadline_ns == 0) return std::nullopt;
  // In the clock of the system whose actor handles the message (virtual
  // time in a deterministic system).
  internal::ActorCell* cell = internal::CurrentCell();
  if (cell != nullptr) {
    internal::SystemImpl* sys = cell->system();
    return sys->Now() + std::chrono::nanoseconds(m->deadline_ns - sys->NowNs());
  }
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
  internal::ImplOf(system).set_remote_ask_spin(impl->options().ask_spin);
  s = internal::ImplOf(system).SetRemoteHooks(hooks);
  if (!s.ok()) {
    impl->Shutdown();
    return s;
  }
  return impl->facade();
}

Remoting* Remoting::Of(ActorSystem& system) {
  auto* impl = dynamic_cast<RemotingImpl*>(internal::ImplOf(system).remote_hooks());
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
PidCall Remoting::RequestLookup(ReceiveContext& ctx, std::string_view endpoint,
                                std::string_view name, Duration timeout) {
  return impl_->RequestLookup(ctx, endpoint, name, timeout);
}
PidCall Remoting::RequestSpawn(ReceiveContext& ctx, std::string_view endpoint,
                               std::string_view name, std::string_view kind,
                               const RemoteSpawnOptions& options, Duration timeout) {
  return impl_->RequestSpawn(ctx, endpoint, name, kind, options, timeout);
}
AckCall Remoting::RequestStop(ReceiveContext& ctx, const PID& pid, Duration timeout) {
  return impl_->RequestLifecycle(ctx, pid, remote::LifecycleRequest::STOP, timeout);
}
AckCall Remoting::RequestRestart(ReceiveContext& ctx, const PID& pid, Duration timeout) {
  return impl_->RequestLifecycle(ctx, pid, remote::LifecycleRequest::RESTART, timeout);
}

void PidCall::Then(PidCallback callback) && {
  if (!to_) {
    callback(*ctx_, std::move(now_));
    return;
  }
  RemotingImpl* impl = impl_;
  ctx_->Request(to_, std::move(msg_), timeout_)
      .Then([impl, callback = std::move(callback)](ReceiveContext& ctx, Result<Message> r) {
        callback(ctx, impl->PidFromAnswer(r));
      });
}

void AckCall::Then(AckCallback callback) && {
  if (!to_) {
    callback(*ctx_, std::move(now_));
    return;
  }
  ctx_->Request(to_, std::move(msg_), timeout_)
      .Then([callback = std::move(callback)](ReceiveContext& ctx, Result<Message> r) {
        callback(ctx, r.ok() ? Status() : r.status());
      });
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
std::vector<std::string> Remoting::RelocatableActors() const { return impl_->RelocatableActors(); }
bool Remoting::IsRemote(const PID& pid) {
  return internal::CellOf(pid) != nullptr && internal::CellOf(pid)->is_remote();
}
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
      sys_(&internal::ImplOf(system)),
      options_(std::move(options)),
      system_name_(system.name()),
      facade_(this),
      transport_(options_.transport) {
  // No reference on the system: it owns this object (a reference would be a
  // cycle). After Shutdown nothing here touches the system any more.
  propagator_ = options_.propagator ? options_.propagator : DefaultPropagator();
  RegisterBuiltinControls();
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
  if (transport_ != nullptr) {
    StartOnTransport();
    prefix_ = "akt://" + system_name_ + "@" + endpoint_ + "/";
    self_ = NodeId{system_name_, endpoint_, transport_->NewIncarnation()};
    Status s = transport_->Listen(this, endpoint_);
    if (!s.ok()) return s;
    SweepOnTransport();  // and on the system's timers from now on
    return StartWatchRelay();
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
  if (transport_ != nullptr) {
    transport_->Unlisten(this);
    std::lock_guard<std::mutex> lock(sim_mu_);
    if (sweep_timer_ != 0) sys_->timers().Cancel(sweep_timer_);
    sweep_timer_ = 0;
  }
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
  std::vector<Connection*> sim_conns;
  {
    std::lock_guard<std::mutex> lock(sim_mu_);
    sim_conns.swap(sim_conns_);
  }
  for (Connection* c : sim_conns) {
    c->Close(SystemStoppedError("remoting is shutting down"));
    c->Release();
  }
  watch_relay_ = PID();  // no loop reads it any more; its cell holds the system
  // Proxies: retire them so nothing keeps the system alive.
  std::unordered_map<std::string, PID> proxies;
  {
    std::lock_guard<std::mutex> lock(proxies_mu_);
    proxies.swap(proxies_);
  }
  for (auto& [addr, pid] : proxies) internal::CellOf(pid)->RetireProxy();
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
  auto* c = new Connection(this, remote::MakeSocketStream(fd), /*inbound=*/true, peer);
  c->CountAsInbound();
  if (held) c->StartedEarlier(hold_ns);
  if (server_tls_ != nullptr) {
    c->set_ssl(remote::NewTlsSession(server_tls_, fd, /*server=*/true, ""));
    c->set_state(Connection::State::kTlsHandshake);
  }
  Adopt(c);
}

Status RemotingImpl::AcceptStream(std::unique_ptr<remote::Stream> stream, const std::string& peer) {
  if (shut_.load(std::memory_order_acquire)) {
    return UnavailableError("connect to " + endpoint_ + " refused: remoting is shut down");
  }
  if (inbound_open_.load(std::memory_order_relaxed) >= options_.max_connections) {
    stats_.connections_refused.fetch_add(1, std::memory_order_relaxed);
    return UnavailableError("connect to " + endpoint_ + " refused: too many connections");
  }
  stats_.connections_accepted.fetch_add(1, std::memory_order_relaxed);
  Ref();
  inbound_open_.fetch_add(1, std::memory_order_relaxed);
  auto* c = new Connection(this, std::move(stream), /*inbound=*/true, peer);
  c->CountAsInbound();
  Adopt(c);
  return Status();
}

void RemotingImpl::StartOnTransport() {
  if (options_.port == 0) options_.port = 1;  // nothing is bound: any number names it
  port_ = options_.port;
  endpoint_ = options_.host + ":" + std::to_string(port_);
  options_.run_actors_on_io_threads = false;  // turns run where the driver runs them
}

void RemotingImpl::SweepOnTransport() {
  if (shut_.load(std::memory_order_acquire)) return;
  int64_t now = NowNs();
  int64_t next = now + 100000000;
  std::vector<Connection*> dead;
  {
    std::vector<Connection*> conns;
    {
      std::lock_guard<std::mutex> lock(sim_mu_);
      conns = sim_conns_;
    }
    for (Connection* c : conns) {
      if (remote::SweepConnection(c, now, &next)) dead.push_back(c);
    }
  }
  for (Connection* c : dead) {
    {
      std::lock_guard<std::mutex> lock(sim_mu_);
      auto it = std::find(sim_conns_.begin(), sim_conns_.end(), c);
      if (it == sim_conns_.end()) continue;
      sim_conns_.erase(it);
    }
    c->Release();
  }
  NodesCheck(now);
  if (shut_.load(std::memory_order_acquire)) return;
  // The node keeper looks at least every `period` (as its thread would).
  next = std::min(next, now + ToNs(NodesPeriod()));
  next = std::max(next, now + 1000000);  // at most every millisecond
  std::lock_guard<std::mutex> lock(sim_mu_);
  sweep_timer_ = sys_->timers().Schedule(TimePoint(std::chrono::nanoseconds(next)),
                                         [this] { SweepOnTransport(); });
}

}  // namespace akt
