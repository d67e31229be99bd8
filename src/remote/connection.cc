#include "connection.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <google/protobuf/message.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "actor_cell.h"
#include "akt/remote/control.pb.h"
#include "cycle_clock.h"
#include "remoting_impl.h"
#include "reply_slot.h"
#include "turn_hooks.h"

namespace akt::remote {

using internal::InActorTurn;
using internal::SteadyNowNs;

namespace {

constexpr std::size_t kReadChunk = 64 * 1024;
constexpr int kReadsPerEvent = 16;
constexpr std::size_t kMaxBacklog = 64u << 20;  // queued output per connection

// Connections this thread queued frames on during the current actor turn or
// batch scope; written when it ends.
thread_local std::vector<Connection*> t_dirty;

void FlushDirty() {
  std::vector<Connection*> v;
  v.swap(t_dirty);
  for (Connection* c : v) {
    c->Flush();
    c->Release();
  }
}

}  // namespace

// ---------------------------------------------------------------------------
// A TCP socket as a stream.

namespace {

class SocketStream final : public Stream {
 public:
  explicit SocketStream(int fd) : fd_(fd) {}
  ~SocketStream() override {
    // Unread input would turn the close into a reset, which can destroy
    // what the peer has not read yet (a final ERROR frame).
    char buf[4096];
    for (int i = 0; i < 64 && ::recv(fd_, buf, sizeof buf, MSG_DONTWAIT) > 0; ++i) {
    }
    ::close(fd_);
  }
  long Read(uint8_t* p, std::size_t n) override {
    for (;;) {
      ssize_t r = ::recv(fd_, p, n, 0);
      if (r < 0 && errno == EINTR) continue;
      return static_cast<long>(r);
    }
  }
  long Write(const uint8_t* p, std::size_t n) override {
    for (;;) {
      ssize_t r = ::send(fd_, p, n, MSG_NOSIGNAL);
      if (r < 0 && errno == EINTR) continue;
      return static_cast<long>(r);
    }
  }
  void Shutdown(bool write_only) override { ::shutdown(fd_, write_only ? SHUT_WR : SHUT_RDWR); }
  bool Wait(short events, int64_t deadline_ns) override {
    for (;;) {
      int64_t left_ms = (deadline_ns - SteadyNowNs()) / 1000000;
      if (left_ms < 0) return false;
      pollfd p{fd_, events, 0};
      int r = ::poll(&p, 1, static_cast<int>(left_ms) + 1);
      if (r > 0) return true;
      if (r < 0 && errno != EINTR) return false;
    }
  }
  int fd() const override { return fd_; }

 private:
  int fd_;
};

}  // namespace

std::unique_ptr<Stream> MakeSocketStream(int fd) { return std::make_unique<SocketStream>(fd); }

const RemoteOptions& Connection::owner_options() const { return owner_->options(); }

Connection::Connection(RemotingImpl* owner, std::unique_ptr<Stream> stream, bool inbound,
                       std::string peer)
    : owner_(owner),
      stream_(std::move(stream)),
      fd_(stream_->fd()),
      inbound_(inbound),
      peer_(std::move(peer)) {
  stream_->Attach(this);
  created_ns_ = owner_->NowNs();
  last_activity_ns_.store(created_ns_, std::memory_order_relaxed);
  last_read_ns_.store(created_ns_, std::memory_order_relaxed);
  owner_->stats().connections_open.fetch_add(1, std::memory_order_relaxed);
}

Connection::~Connection() {
  if (ssl_ != nullptr) SSL_free(ssl_);
  stream_->Attach(nullptr);
  stream_.reset();  // closes the socket
  Uncount();
  owner_->stats().connections_open.fetch_sub(1, std::memory_order_relaxed);
  owner_->Unref();
}

// ---------------------------------------------------------------------------
// Raw I/O.

long Connection::RawRead(uint8_t* p, std::size_t n) {
  if (ssl_ == nullptr) return stream_->Read(p, n);
  std::lock_guard<std::mutex> lock(ssl_mu_);
  ERR_clear_error();
  int r = SSL_read(ssl_, p, static_cast<int>(n));
  if (r > 0) return r;
  int err = SSL_get_error(ssl_, r);
  if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
    errno = EAGAIN;
    return -1;
  }
  if (err == SSL_ERROR_ZERO_RETURN) return 0;
  errno = ECONNRESET;
  return -1;
}

long Connection::RawWrite(const uint8_t* p, std::size_t n) {
  if (ssl_ == nullptr) return stream_->Write(p, n);
  std::lock_guard<std::mutex> lock(ssl_mu_);
  ERR_clear_error();
  int r = SSL_write(ssl_, p, static_cast<int>(n));
  if (r > 0) return r;
  int err = SSL_get_error(ssl_, r);
  if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
    errno = EAGAIN;
    return -1;
  }
  errno = EPIPE;
  return -1;
}

// ---------------------------------------------------------------------------
// Sending.

Status Connection::Enqueue(const wire::Frame& f, const google::protobuf::Message* proto,
                           std::string_view raw_payload, bool last) {
  std::size_t payload = proto != nullptr ? proto->ByteSizeLong() : raw_payload.size();
  std::size_t total = wire::EncodedSize(f, payload);
  std::size_t max_frame = owner_->options().max_frame_bytes;
  if (total - wire::kLengthSize > max_frame || payload > UINT32_MAX) {
    return InvalidArgumentError("a message of " + std::to_string(payload) +
                                " bytes does not fit in the maximum frame of " +
                                std::to_string(max_frame) + " bytes");
  }
  if (f.type.size() > 0xffff || f.target.size() > 0xffff || f.sender.size() > 0xffff ||
      f.metadata.size() > 0xffff) {
    return InvalidArgumentError("a frame field is longer than 65535 bytes");
  }
  std::lock_guard<std::mutex> lock(out_mu_);
  if (closed() || error_queued_) return UnavailableError("connection to " + peer_ + " is closed");
  if (out_.size() > kMaxBacklog) {
    return Status(StatusCode::kResourceExhausted,
                  "more than 64 MiB queued for " + peer_ + ": the peer does not keep up");
  }
  uint8_t* p = out_.Reserve(total);
  wire::EncodeHead(f, payload, p);
  uint8_t* body = p + (total - payload);
  if (proto != nullptr) {
    proto->SerializeWithCachedSizesToArray(body);
  } else if (payload != 0) {
    std::memcpy(body, raw_payload.data(), payload);
  }
  out_.Grow(total);
  if (last) {
    error_queued_ = true;
    close_after_flush_ = true;
  }
  owner_->stats().frames_sent.fetch_add(1, std::memory_order_relaxed);
  return Status();
}

void Connection::FlushSoon(bool one_way) {
  if (one_way && loop_ != nullptr && !InActorTurn() && internal::t_defer_depth == 0 &&
      internal::t_inline_runs == nullptr && !IoLoop::OnLoopThread()) {
    if (!flush_requested_.exchange(true, std::memory_order_acq_rel)) {
      AddRef();
      loop_->RequestFlush(this);
    }
    return;
  }
  if (InActorTurn() || internal::t_defer_depth > 0 || internal::t_inline_runs != nullptr ||
      IoLoop::OnLoopThread()) {
    for (Connection* c : t_dirty) {
      if (c == this) return;
    }
    AddRef();
    t_dirty.push_back(this);
    internal::AtTurnEnd(&FlushDirty);
    return;
  }
  Flush();
}

void Connection::Flush() {
  std::unique_lock<std::mutex> lock(out_mu_);
  if (writing_ || want_out_) return;  // the writer at work takes it along
  writing_ = true;
  WriteLoop(lock);
}

void Connection::OnWritable() {
  std::unique_lock<std::mutex> lock(out_mu_);
  if (!want_out_) return;
  want_out_ = false;
  if (loop_ != nullptr) loop_->WantWrite(this, false);
  WriteLoop(lock);
}

void Connection::WriteLoop(std::unique_lock<std::mutex>& lock) {
  for (;;) {
    if (wire_off_ >= wire_.size()) {
      wire_.clear();
      wire_off_ = 0;
      if (out_.empty() || closed()) {
        writing_ = false;
        if (closed()) {
          out_.Clear();
        } else if (close_after_flush_) {
          close_after_flush_ = false;
          lock.unlock();
          Close(Status(StatusCode::kProtocolError, fail_reason_), /*graceful=*/true);
          lock.lock();
        }
        return;
      }
      batch_.Swap(out_);
      lock.unlock();
      Status s;
      if (enc_ != nullptr) {
        s = enc_->Encode(batch_.data(), batch_.size(), wire_);
      } else {
        wire_.assign(reinterpret_cast<const char*>(batch_.data()), batch_.size());
      }
      batch_.Shrink();
      if (!s.ok()) {
        Close(s);
        lock.lock();
        writing_ = false;
        return;
      }
    } else {
      lock.unlock();
    }
    while (wire_off_ < wire_.size()) {
      long n = RawWrite(reinterpret_cast<const uint8_t*>(wire_.data()) + wire_off_,
                        wire_.size() - wire_off_);
      owner_->stats().write_calls.fetch_add(1, std::memory_order_relaxed);
      if (n > 0) {
        wire_off_ += static_cast<std::size_t>(n);
        owner_->stats().bytes_sent.fetch_add(static_cast<uint64_t>(n), std::memory_order_relaxed);
        continue;
      }
      if (n < 0 && errno == EAGAIN) {
        lock.lock();
        want_out_ = true;
        if (loop_ != nullptr) loop_->WantWrite(this, true);
        return;  // writing_ stays set: OnWritable resumes
      }
      Close(UnavailableError("write to " + peer_ + " failed: " + std::strerror(errno)));
      lock.lock();
      writing_ = false;
      wire_.clear();
      wire_off_ = 0;
      return;
    }
    last_activity_ns_.store(owner_->NowNs(), std::memory_order_relaxed);
    lock.lock();
  }
}

void Connection::Reply(uint64_t correlation, Message&& reply) {
  SendReply(correlation, std::move(reply));
  InboundAnswered();
}

void Connection::Fail(uint64_t correlation, const Status& error) {
  Refuse(correlation, error);
  InboundAnswered();
}

void Connection::InboundAnswered() {
  // seq_cst pairs with BeginFailing: one of the two sees the other.
  if (inbound_open_.fetch_sub(1, std::memory_order_seq_cst) == 1 &&
      failing_.load(std::memory_order_seq_cst)) {
    FinishFailing();
  }
}

void Connection::SendReply(uint64_t correlation, Message&& reply) {
  if (reply.empty()) {
    // An acknowledgement without a value (a grain's NoErr).
    static const remote::Ack kAck;
    reply = Message(remote::Ack(kAck));
  }
  const google::protobuf::Message* pm = reply.AsProto();
  if (pm == nullptr) {
    Refuse(correlation,
           InvalidArgumentError("the reply of type " + std::string(reply.TypeName()) +
                                " is not a protobuf message and cannot cross a process"));
    return;
  }
  wire::Frame f;
  f.kind = wire::Kind::kReply;
  f.correlation = correlation;
  f.type = pm->GetDescriptor()->full_name();
  Status s = Enqueue(f, pm, {});
  if (!s.ok()) {
    if (!closed()) Refuse(correlation, s);
    return;
  }
  FlushSoon();
}

void Connection::Refuse(uint64_t correlation, const Status& error) {
  wire::Frame f;
  f.kind = wire::Kind::kError;
  f.correlation = correlation;
  std::string body = wire::EncodeError(static_cast<uint32_t>(error.code()),
                                       std::string_view(error.message()).substr(0, 4096));
  if (Enqueue(f, nullptr, body).ok()) {
    owner_->stats().error_replies.fetch_add(1, std::memory_order_relaxed);
    FlushSoon();
  }
}

// ---------------------------------------------------------------------------
// Pending requests.

void Connection::AddPending(uint64_t correlation, Pending p) {
  std::lock_guard<std::mutex> lock(pend_mu_);
  pending_.emplace(correlation, p);
}

bool Connection::TakePending(uint64_t correlation, Pending* out) {
  std::lock_guard<std::mutex> lock(pend_mu_);
  auto it = pending_.find(correlation);
  if (it == pending_.end()) return false;
  *out = it->second;
  pending_.erase(it);
  return true;
}

std::size_t Connection::pending_count() {
  std::lock_guard<std::mutex> lock(pend_mu_);
  return pending_.size();
}

void Connection::ExpirePending(int64_t now_ns) {
  std::vector<Pending> expired;
  {
    std::lock_guard<std::mutex> lock(pend_mu_);
    for (auto it = pending_.begin(); it != pending_.end();) {
      if (it->second.deadline_ns != 0 && it->second.deadline_ns < now_ns) {
        expired.push_back(it->second);
        it = pending_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (Pending& p : expired) {
    owner_->Deliver(p, TimeoutError("no answer from " + peer_ + " before the deadline"));
  }
}

void Connection::FailAllPending(const Status& why) {
  std::unordered_map<uint64_t, Pending> all;
  {
    std::lock_guard<std::mutex> lock(pend_mu_);
    all.swap(pending_);
  }
  for (auto& [id, p] : all) owner_->Deliver(p, why);
}

void Connection::Close(const Status& why, bool graceful) {
  State prev = state_.exchange(State::kClosed, std::memory_order_acq_rel);
  if (prev == State::kClosed) return;
  // Abrupt: the loop sees the hang-up and lets go of it. Graceful: what was
  // written still reaches the peer, then the FIN; the sweep lets go of it.
  stream_->Shutdown(graceful);
  Uncount();  // a closed connection no longer takes a place under max_connections
  FailAllPending(UnavailableError("connection to " + peer_ + " lost: " + why.ToString()));
  owner_->OnConnectionClosed(this, why);
  if (node_known()) owner_->NodeDown(this, why);
}

// ---------------------------------------------------------------------------
// Protocol errors.

void Connection::BeginFailing(std::string why) {
  if (failing_.load(std::memory_order_relaxed)) return;
  owner_->stats().protocol_errors.fetch_add(1, std::memory_order_relaxed);
  fail_reason_ = std::move(why);
  int64_t linger =
      internal::ToNs(owner_->options().error_linger);
  fail_deadline_ns_ = owner_->NowNs() + linger;
  fail_hard_deadline_ns_ = fail_deadline_ns_ + linger + 1000000000;
  failing_.store(true, std::memory_order_seq_cst);
  if (inbound_open_.load(std::memory_order_seq_cst) == 0) FinishFailing();
}

void Connection::FinishFailing() {
  if (fail_sent_.exchange(true, std::memory_order_acq_rel)) return;
  // Say why before hanging up, so the peer's log shows it; the frame goes
  // through the negotiated codec like every other.
  wire::Frame e;
  e.kind = wire::Kind::kError;
  std::string body = wire::EncodeError(static_cast<uint32_t>(StatusCode::kProtocolError),
                                       std::string_view(fail_reason_).substr(0, 4096));
  Status enq = Enqueue(e, nullptr, body, /*last=*/true);
  if (!enq.ok()) {
    Close(Status(StatusCode::kProtocolError, fail_reason_));
    return;
  }
  owner_->stats().error_replies.fetch_add(1, std::memory_order_relaxed);
  Flush();
}

int Connection::DiscardInput() {
  uint8_t tmp[4096];
  for (int i = 0; i < 64; ++i) {
    long n = RawRead(tmp, sizeof tmp);
    if (n == 0) return 0;
    if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK ? 1 : -1;
  }
  return 1;
}

void Connection::Uncount() {
  if (counted_.exchange(false, std::memory_order_relaxed)) owner_->InboundClosed();
}

// ---------------------------------------------------------------------------
// Receiving (loop thread).

bool Connection::Ingest(const uint8_t* p, std::size_t n) {
  if (dec_ == nullptr) {
    in_.Append(p, n);
    return true;
  }
  scratch_.clear();
  Status s = dec_->Decode(p, n, scratch_, owner_->options().max_frame_bytes + (1u << 20));
  if (!s.ok()) {
    // Frames decoded before the corrupt bytes are still handled.
    in_.Append(scratch_.data(), scratch_.size());
    ParseFrames();
    BeginFailing(s.message());
    return false;
  }
  in_.Append(scratch_.data(), scratch_.size());
  if (scratch_.capacity() > (1u << 20)) std::string().swap(scratch_);
  return true;
}

bool Connection::ParseFrames() {
  std::size_t off = 0;
  std::size_t max_frame = owner_->options().max_frame_bytes;
  bool ok = true;
  while (off < in_.size()) {
    wire::Frame f;
    std::size_t used = 0;
    std::string error;
    wire::DecodeStatus st =
        wire::DecodeFrame(in_.data() + off, in_.size() - off, max_frame, &f, &used, &error);
    if (st == wire::DecodeStatus::kNeedMore) break;
    if (st == wire::DecodeStatus::kError) {
      in_.Clear();
      off = 0;
      BeginFailing(error);
      ok = false;
      break;
    }
    owner_->stats().frames_received.fetch_add(1, std::memory_order_relaxed);
    if (f.kind == wire::Kind::kNode || (version_ >= wire::kNodeIdVersion && !node_known())) {
      if (!TakeNodeFrame(f)) {
        in_.Clear();
        off = 0;
        ok = false;
        break;
      }
    } else {
      owner_->HandleFrame(this, f);
    }
    off += used;
    if (closed() || failing()) {
      ok = false;
      break;
    }
  }
  in_.Consume(off);
  if (in_.empty()) in_.Shrink();
  return ok;
}

bool Connection::TakeNodeFrame(const wire::Frame& f) {
  std::string why;
  wire::NodeBody body;
  if (version_ < wire::kNodeIdVersion) {
    why = "unknown frame kind 7 (NODE needs protocol version 2; this connection speaks 1)";
  } else if (node_known()) {
    why = "a second NODE frame";
  } else if (f.kind != wire::Kind::kNode) {
    why = "the first frame of a version-2 connection must be NODE (kind 7)";
  } else if (!wire::DecodeNodeBody(f.payload, &body)) {
    why = "malformed NODE frame (u64 incarnation != 0, u16 n, n > 0 endpoint bytes)";
  }
  if (!why.empty()) {
    BeginFailing(why);
    return false;
  }
  peer_node_.system = peer_system_;
  peer_node_.endpoint = std::move(body.endpoint);
  peer_node_.incarnation = body.incarnation;
  node_known_.store(true, std::memory_order_release);
  owner_->NodeUp(this);
  return true;
}

void Connection::SendPing() {
  wire::Frame f;
  f.kind = wire::Kind::kPing;
  f.correlation = NextCorrelation();
  if (Enqueue(f, nullptr, {}).ok()) FlushSoon();
}

void Connection::SendNodeFrame() {
  wire::Frame f;
  f.kind = wire::Kind::kNode;
  wire::NodeBody body{owner_->self_node().incarnation, owner_->self_node().endpoint};
  Enqueue(f, nullptr, wire::EncodeNodeBody(body)).IgnoreError();  // fails only when closed
}

bool Connection::ServerHandshakeStep() {
  wire::ClientHello hello;
  std::size_t used = 0;
  std::string error;
  wire::DecodeStatus st = wire::DecodeClientHello(hs_.data(), hs_.size(), &hello, &used, &error);
  if (st == wire::DecodeStatus::kNeedMore) {
    if (hs_.size() > wire::kMaxHelloSize) {
      error = "client hello is too long";
    } else {
      return true;
    }
  }
  wire::ServerHello reply;
  if (st == wire::DecodeStatus::kOk) {
    Compression chosen;
    if (hello.max_version < wire::kMinVersion || hello.min_version > wire::kMaxVersion) {
      reply.status = wire::HelloStatus::kVersionMismatch;
      reply.text = "version mismatch: the server speaks " + std::to_string(wire::kMinVersion) +
                   ".." + std::to_string(wire::kMaxVersion) + ", the client offers " +
                   std::to_string(hello.min_version) + ".." + std::to_string(hello.max_version);
    } else if (!owner_->ChooseCodec(hello.codecs, &chosen, &reply.text)) {
      reply.status = wire::HelloStatus::kNoCommonCodec;
    } else {
      reply.version = std::min(hello.max_version, wire::kMaxVersion);
      reply.codec = static_cast<uint8_t>(chosen);
      reply.text = owner_->system_name();
      std::string bytes = wire::EncodeServerHello(reply);
      if (RawWrite(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()) !=
          static_cast<long>(bytes.size())) {
        Close(UnavailableError("could not answer the hello of " + peer_));
        return false;
      }
      enc_ = MakeEncoder(chosen);
      dec_ = MakeDecoder(chosen);
      version_ = reply.version;
      peer_system_ = hello.system;
      state_.store(State::kOpen, std::memory_order_release);
      if (version_ >= wire::kNodeIdVersion) {
        SendNodeFrame();
        FlushSoon();
      }
      std::size_t rest = hs_.size() - used;
      bool ok = true;
      if (rest != 0) ok = Ingest(hs_.data() + used, rest);
      hs_.Free();
      return ok && ParseFrames();
    }
  } else {
    reply.status = wire::HelloStatus::kMalformed;
    reply.text = error;
  }
  owner_->stats().protocol_errors.fetch_add(1, std::memory_order_relaxed);
  std::string bytes = wire::EncodeServerHello(reply);
  RawWrite(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
  Close(Status(StatusCode::kProtocolError, "handshake refused: " + reply.text));
  return false;
}

bool Connection::TlsAcceptStep() {
  int r;
  int err;
  {
    std::lock_guard<std::mutex> lock(ssl_mu_);
    ERR_clear_error();
    r = SSL_accept(ssl_);
    err = r == 1 ? SSL_ERROR_NONE : SSL_get_error(ssl_, r);
  }
  if (r == 1) {
    state_.store(State::kHandshake, std::memory_order_release);
    return true;
  }
  if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) return true;
  char buf[256] = "TLS handshake failed";
  if (unsigned long e = ERR_peek_last_error()) ERR_error_string_n(e, buf, sizeof buf);
  owner_->stats().protocol_errors.fetch_add(1, std::memory_order_relaxed);
  Close(Status(StatusCode::kProtocolError, std::string("TLS: ") + buf));
  return false;
}

void Connection::OnReadable() {
  if (closed()) return;
  if (state_.load(std::memory_order_acquire) == State::kTlsHandshake) {
    if (!TlsAcceptStep()) return;
    if (state_.load(std::memory_order_acquire) == State::kTlsHandshake) return;
  }
  if (failing()) {
    // Nothing more is handled; unread bytes would make the close a reset.
    int r = DiscardInput();
    if (r < 0) {
      Close(Status(StatusCode::kProtocolError, fail_reason_));  // the peer is gone
    } else if (r == 0 && !input_done_.exchange(true)) {
      // The peer shut its side (it may still read): stop watching input,
      // or the level-triggered loop would spin on the end of stream.
      std::lock_guard<std::mutex> lock(out_mu_);
      if (loop_ != nullptr) loop_->WantWrite(this, want_out_);
    }
    return;
  }
  uint8_t tmp[kReadChunk];
  for (int i = 0; i < kReadsPerEvent; ++i) {
    bool handshake = state_.load(std::memory_order_acquire) == State::kHandshake;
    bool direct = !handshake && dec_ == nullptr;
    uint8_t* dst = direct ? in_.Reserve(kReadChunk) : tmp;
    long n = RawRead(dst, kReadChunk);
    if (n > 0) {
      read_ns_ = owner_->NowNs();
      last_activity_ns_.store(read_ns_, std::memory_order_relaxed);
      last_read_ns_.store(read_ns_, std::memory_order_relaxed);
      owner_->stats().bytes_received.fetch_add(static_cast<uint64_t>(n), std::memory_order_relaxed);
      if (handshake) {
        hs_.Append(tmp, static_cast<std::size_t>(n));
        if (!ServerHandshakeStep()) return;
      } else {
        if (direct) {
          in_.Grow(static_cast<std::size_t>(n));
        } else if (!Ingest(tmp, static_cast<std::size_t>(n))) {
          return;
        }
        if (!ParseFrames()) return;
      }
      if (static_cast<std::size_t>(n) < kReadChunk && ssl_ == nullptr) return;  // drained
      continue;
    }
    if (n == 0) {
      Close(UnavailableError(peer_ + " closed the connection"));
      return;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK) return;
    Close(UnavailableError("read from " + peer_ + " failed: " + std::strerror(errno)));
    return;
  }
}

// ---------------------------------------------------------------------------
// Client handshake (blocking, on the dialling thread).

Status Connection::ClientHandshake(const RemoteOptions& options, const std::string& system_name,
                                   int64_t deadline_ns) {
  if (ssl_ != nullptr) {
    for (;;) {
      ERR_clear_error();
      int r = SSL_connect(ssl_);
      if (r == 1) break;
      int err = SSL_get_error(ssl_, r);
      short ev = err == SSL_ERROR_WANT_READ ? POLLIN : err == SSL_ERROR_WANT_WRITE ? POLLOUT : 0;
      if (ev == 0) {
        char buf[256] = "TLS handshake failed";
        if (unsigned long e = ERR_peek_last_error()) ERR_error_string_n(e, buf, sizeof buf);
        return UnavailableError("TLS handshake with " + peer_ + " failed: " + buf);
      }
      if (!stream_->Wait(ev, deadline_ns)) {
        return UnavailableError("TLS handshake with " + peer_ + " timed out");
      }
    }
  }
  wire::ClientHello hello;
  hello.codecs.push_back(static_cast<uint8_t>(options.compression));
  for (Compression c : options.accept_compression) {
    if (c != options.compression && hello.codecs.size() < 8) {
      hello.codecs.push_back(static_cast<uint8_t>(c));
    }
  }
  hello.system = system_name;
  std::string bytes = wire::EncodeClientHello(hello);
  std::size_t off = 0;
  while (off < bytes.size()) {
    long n = RawWrite(reinterpret_cast<const uint8_t*>(bytes.data()) + off, bytes.size() - off);
    if (n > 0) {
      off += static_cast<std::size_t>(n);
    } else if (n < 0 && errno == EAGAIN) {
      if (!stream_->Wait(POLLOUT, deadline_ns))
        return UnavailableError("hello to " + peer_ + " timed out");
    } else {
      return UnavailableError("hello to " + peer_ + " failed: " + std::strerror(errno));
    }
  }
  Buffer got;
  for (;;) {
    wire::ServerHello reply;
    std::size_t used = 0;
    std::string error;
    wire::DecodeStatus st = wire::DecodeServerHello(got.data(), got.size(), &reply, &used, &error);
    if (got.size() > 0 && st == wire::DecodeStatus::kError) {
      return Status(StatusCode::kProtocolError, peer_ + ": " + error);
    }
    if (got.size() > 0 && st == wire::DecodeStatus::kOk) {
      if (reply.status != wire::HelloStatus::kAccepted) {
        return Status(StatusCode::kProtocolError,
                      "handshake with " + peer_ + " refused: " + reply.text);
      }
      if (reply.version < std::max(hello.min_version, wire::kMinVersion) ||
          reply.version > hello.max_version || !ValidCodec(reply.codec)) {
        return Status(
            StatusCode::kProtocolError,
            "handshake with " + peer_ + ": the server chose an unsupported version or codec");
      }
      bool offered = false;
      for (uint8_t c : hello.codecs) offered |= c == reply.codec;
      if (!offered) {
        return Status(
            StatusCode::kProtocolError,
            "handshake with " + peer_ + ": the server chose a codec that was not offered");
      }
      enc_ = MakeEncoder(static_cast<Compression>(reply.codec));
      dec_ = MakeDecoder(static_cast<Compression>(reply.codec));
      peer_system_ = reply.text;
      version_ = reply.version;
      state_.store(State::kOpen, std::memory_order_release);
      if (version_ >= wire::kNodeIdVersion) {
        SendNodeFrame();  // first, before anything the caller queues
      } else {
        // A version-1 server says who it is only by name: the node is the
        // endpoint dialed, incarnation unknown.
        peer_node_ = NodeId{peer_system_, peer_, 0};
        node_known_.store(true, std::memory_order_release);
        owner_->NodeUp(this);
      }
      if (got.size() > used && !Ingest(got.data() + used, got.size() - used)) {
        return Status(StatusCode::kProtocolError, "corrupt data after the hello of " + peer_);
      }
      got.Clear();
      used = 0;
      if (version_ >= wire::kNodeIdVersion && !ParseFrames() && !node_known()) {
        return Status(StatusCode::kProtocolError, "handshake with " + peer_ + ": " + fail_reason_);
      }
      // Version 2: the server's NODE frame follows its hello; the
      // connection is not handed out before the peer is known.
      while (!node_known()) {
        if (failing() || closed()) {
          return Status(StatusCode::kProtocolError, "handshake with " + peer_ + ": " +
                                                        (fail_reason_.empty() ? "closed" : fail_reason_));
        }
        uint8_t tmp[512];
        long n = RawRead(tmp, sizeof tmp);
        if (n > 0) {
          if (!Ingest(tmp, static_cast<std::size_t>(n)) || (!ParseFrames() && !node_known())) {
            return Status(StatusCode::kProtocolError, "handshake with " + peer_ + ": " +
                                                          (fail_reason_.empty() ? "corrupt data" : fail_reason_));
          }
        } else if (n < 0 && errno == EAGAIN) {
          if (!stream_->Wait(POLLIN, deadline_ns))
            return UnavailableError("NODE frame from " + peer_ + " timed out");
        } else {
          return UnavailableError(peer_ + " closed the connection during the handshake");
        }
      }
      return Status();
    }
    uint8_t tmp[512];
    long n = RawRead(tmp, sizeof tmp);
    if (n > 0) {
      got.Append(tmp, static_cast<std::size_t>(n));
      if (got.size() > wire::kMaxHelloSize) {
        return Status(StatusCode::kProtocolError, peer_ + ": server hello too long");
      }
    } else if (n < 0 && errno == EAGAIN) {
      if (!stream_->Wait(POLLIN, deadline_ns))
        return UnavailableError("hello from " + peer_ + " timed out");
    } else {
      return UnavailableError(peer_ + " closed the connection during the handshake");
    }
  }
}

// ---------------------------------------------------------------------------
// I/O loop.
//
// One thread drives a loop at a time: it waits in epoll, reads, and runs the
// actor turns its reads made runnable. A turn that takes long would hold up
// every other connection of the loop (their PINGs, replies and deadlines), so
// the remoting watchdog checks each loop every inline_turn_limit; a driver
// still in the same turn as at the previous check loses the loop to another
// thread of it, finishes the turn, hands the rest of its batch to the workers
// and waits to be needed again. The slow actor never runs inline again.

namespace {
thread_local IoLoop* t_loop = nullptr;
constexpr int kMaxLoopThreads = 8;
}  // namespace

bool IoLoop::OnLoopThread() { return t_loop != nullptr; }

IoLoop::IoLoop(RemotingImpl* owner, int index) : owner_(owner), index_(index) {
  epfd_ = ::epoll_create1(EPOLL_CLOEXEC);
  evfd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.ptr = nullptr;
  ::epoll_ctl(epfd_, EPOLL_CTL_ADD, evfd_, &ev);
}

IoLoop::~IoLoop() {
  Stop();
  ::close(epfd_);
  ::close(evfd_);
}

void IoLoop::Start() {
  std::lock_guard<std::mutex> lock(drive_mu_);
  drivers_wanted_ = 1;
  threads_.emplace_back([this] { ThreadMain(); });
}

void IoLoop::Stop() {
  {
    std::lock_guard<std::mutex> lock(drive_mu_);
    if (stop_.exchange(true)) return;
  }
  drive_cv_.notify_all();
  uint64_t one = 1;
  [[maybe_unused]] ssize_t w = ::write(evfd_, &one, sizeof one);
  // No thread is added once stop_ is set (HandOffIfStuck checks it).
  std::vector<std::thread> threads;
  {
    std::lock_guard<std::mutex> lock(drive_mu_);
    threads.swap(threads_);
  }
  for (std::thread& t : threads) {
    if (t.joinable()) t.join();
  }
  IoLoop* saved = t_loop;
  t_loop = this;
  CloseAll();
  t_loop = saved;
}

void IoLoop::ThreadMain() {
  t_loop = this;
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(drive_mu_);
      ++idle_threads_;
      drive_cv_.wait(lock, [this] { return stop_.load() || drivers_wanted_ > 0; });
      --idle_threads_;
      if (stop_.load()) break;
      --drivers_wanted_;
    }
    if (Drive()) break;  // stopped
  }
  t_loop = nullptr;
}

bool IoLoop::HandOffIfStuck() {
  uint64_t v = turn_.load(std::memory_order_acquire);
  if (v == 0 || v == kStolen || v != last_seen_turn_) {
    last_seen_turn_ = v;
    return false;
  }
  std::lock_guard<std::mutex> lock(drive_mu_);
  if (stop_.load()) return false;
  // Still the same turn as one period ago: take the loop away from it.
  if (!turn_.compare_exchange_strong(v, kStolen, std::memory_order_acq_rel)) return false;
  last_seen_turn_ = 0;
  owner_->stats().io_handoffs.fetch_add(1, std::memory_order_relaxed);
  ++drivers_wanted_;
  if (idle_threads_ == 0 && static_cast<int>(threads_.size()) < kMaxLoopThreads) {
    try {
      threads_.emplace_back([this] { ThreadMain(); });
    } catch (const std::system_error&) {
      // No thread to be had: the stolen driver takes the loop back when its
      // turn ends (it waits for a driver to be wanted, as every spare does).
    }
  }
  drive_cv_.notify_one();
  return true;
}

void IoLoop::Add(Connection* c) {
  c->set_loop(this);
  // Registered at once (epoll_ctl is thread-safe): a writer that meets
  // EAGAIN before the loop has seen this connection can arm EPOLLOUT.
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLRDHUP;
  ev.data.ptr = c;
  ::epoll_ctl(epfd_, EPOLL_CTL_ADD, c->fd(), &ev);
  {
    std::lock_guard<std::mutex> lock(add_mu_);
    adds_.push_back(c);
  }
  uint64_t one = 1;
  [[maybe_unused]] ssize_t w = ::write(evfd_, &one, sizeof one);
}

void IoLoop::RequestFlush(Connection* c) {
  {
    std::lock_guard<std::mutex> lock(flush_mu_);
    flushes_.push_back(c);
  }
  if (sleeping_.load(std::memory_order_seq_cst)) {
    uint64_t one = 1;
    [[maybe_unused]] ssize_t w = ::write(evfd_, &one, sizeof one);
  }
}

void IoLoop::WantWrite(Connection* c, bool on) {
  epoll_event ev{};
  ev.events = (c->input_done() ? 0u : static_cast<uint32_t>(EPOLLIN | EPOLLRDHUP)) |
              (on ? static_cast<uint32_t>(EPOLLOUT) : 0u);
  ev.data.ptr = c;
  ::epoll_ctl(epfd_, EPOLL_CTL_MOD, c->fd(), &ev);
}

void IoLoop::Reap(Connection* c) {
  if (conns_.erase(c) == 0) return;
  ::epoll_ctl(epfd_, EPOLL_CTL_DEL, c->fd(), nullptr);
  count_.fetch_sub(1, std::memory_order_relaxed);
  c->Release();
}

bool SweepConnection(Connection* c, int64_t now_ns, int64_t* next) {
  const RemoteOptions& o = c->owner_options();
  int64_t idle = internal::ToNs(o.idle_timeout);
  int64_t hs = internal::ToNs(o.handshake_timeout);
  int64_t hb_interval = internal::ToNs(o.heartbeat_interval);
  int64_t hb_timeout = internal::ToNs(o.heartbeat_timeout);
  c->ExpirePending(now_ns);
  if (c->closed()) return true;
  if (c->failing()) {
    if (now_ns >= c->fail_hard_deadline_ns()) {
      // The ERROR could not be written: the peer does not read.
      c->Close(Status(StatusCode::kProtocolError, "the peer does not read its error"));
      return true;
    }
    if (now_ns >= c->fail_deadline_ns()) {
      c->FinishFailing();  // the earlier requests had their time
      *next = std::min(*next, c->fail_hard_deadline_ns());
    } else {
      *next = std::min(*next, c->fail_deadline_ns());
    }
    return false;
  }
  if (!c->open()) {
    if (now_ns - c->created_ns() >= hs) {
      c->Close(Status(StatusCode::kTimeout, "the handshake did not finish in time"));
      return true;
    }
    *next = std::min(*next, c->created_ns() + hs);
    return false;
  }
  bool heartbeats = hb_interval > 0 && c->version() >= wire::kNodeIdVersion;
  if (heartbeats && now_ns - c->last_read_ns() >= hb_timeout) {
    // A node that answers nothing, not even a PING, is dead, frozen or
    // cut off: the close tells the node layer (NodeDisconnected).
    c->Close(UnavailableError("nothing read from " + c->peer() + " for " +
                              std::to_string((now_ns - c->last_read_ns()) / 1000000) +
                              " ms (heartbeat timeout)"));
    return true;
  }
  if (now_ns - c->last_activity_ns() > idle && c->pending_count() == 0) {
    c->Close(Status(StatusCode::kTimeout, "idle for longer than the idle timeout"));
    return true;
  }
  if (heartbeats) {
    int64_t due = std::max(c->last_read_ns(), c->last_ping_ns) + hb_interval;
    if (now_ns >= due) {
      c->SendPing();
      c->last_ping_ns = now_ns;
      due = now_ns + hb_interval;
    }
    *next = std::min({*next, due, c->last_read_ns() + hb_timeout});
  } else {
    *next = std::min(*next, c->last_activity_ns() + idle + 1);
  }
  return false;
}

void IoLoop::Sweep(int64_t now_ns) {
  int64_t next = now_ns + 100000000;
  std::vector<Connection*> dead;
  for (Connection* c : conns_) {
    if (SweepConnection(c, now_ns, &next)) dead.push_back(c);
  }
  for (Connection* c : dead) Reap(c);
  next_sweep_ns_ = next;
}

bool IoLoop::Drive() {
  epoll_event evs[64];
  std::vector<internal::ActorCell*> runs;
  next_sweep_ns_ = SteadyNowNs();
  const RemoteOptions& o = owner_->options();
  const bool inline_runs = o.run_actors_on_io_threads;
  const int64_t spin_ns = internal::ToNs(o.io_spin);
  const int64_t hs_ns =
      internal::ToNs(o.handshake_timeout);
  int64_t last_event_ns = 0;
  while (!stop_.load(std::memory_order_acquire)) {
    // Right after traffic, poll without sleeping for a little while: the
    // next message of a conversation usually comes within microseconds,
    // and waking a sleeping thread costs tens of them.
    int64_t now = SteadyNowNs();
    int timeout_ms = 0;
    if (spin_ns == 0 || now - last_event_ns >= spin_ns) {
      // Sleep until the next sweep is due (handshake and linger deadlines
      // are kept to the millisecond), at most 100 ms.
      timeout_ms =
          static_cast<int>(std::clamp<int64_t>((next_sweep_ns_ - now + 999999) / 1000000, 0, 100));
    }
    if (timeout_ms != 0) {
      sleeping_.store(true, std::memory_order_seq_cst);
      std::lock_guard<std::mutex> lock(flush_mu_);
      if (!flushes_.empty()) timeout_ms = 0;
    }
    int n = ::epoll_wait(epfd_, evs, 64, timeout_ms);
    sleeping_.store(false, std::memory_order_relaxed);
    {
      std::vector<Connection*> flushes;
      {
        std::lock_guard<std::mutex> lock(flush_mu_);
        flushes.swap(flushes_);
      }
      for (Connection* c : flushes) {
        c->flush_requested_.store(false, std::memory_order_release);
        c->Flush();
        c->Release();
      }
      if (!flushes.empty()) last_event_ns = SteadyNowNs();
    }
    if (n > 0) {
      last_event_ns = SteadyNowNs();
    } else if (timeout_ms == 0) {
      // Spinning and idle: let a thread that has work (a worker, an asker
      // about to read its answer, the peer process) have this core first.
      std::this_thread::yield();
    }
    std::vector<Connection*> closed;
    if (inline_runs) internal::t_inline_runs = &runs;
    for (int i = 0; i < n; ++i) {
      auto* c = static_cast<Connection*>(evs[i].data.ptr);
      if (c == nullptr) {
        uint64_t v;
        [[maybe_unused]] ssize_t r = ::read(evfd_, &v, sizeof v);
        std::vector<Connection*> adds;
        {
          std::lock_guard<std::mutex> lock(add_mu_);
          adds.swap(adds_);
        }
        for (Connection* a : adds) {
          conns_.insert(a);
          count_.fetch_add(1, std::memory_order_relaxed);
          if (a->closed()) closed.push_back(a);  // reaped below
          if (!a->open()) next_sweep_ns_ = std::min(next_sweep_ns_, a->created_ns() + hs_ns);
        }
        continue;
      }
      if (evs[i].events & EPOLLOUT) c->OnWritable();
      if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR | EPOLLRDHUP)) c->OnReadable();
      if (c->closed()) closed.push_back(c);
    }
    internal::t_inline_runs = nullptr;
    // Actors a read made runnable run here, right away: no worker wake-up.
    // What they send goes out once, after the last of them.
    bool lost = false;
    {
      internal::DeferWrites batch;
      for (std::size_t i = 0; i < runs.size(); ++i) {
        internal::ActorCell* cell = runs[i];
        turn_seq_ += 2;
        uint64_t mine = turn_seq_;
        turn_.store(mine, std::memory_order_release);
        bool more = cell->RunTurn();
        // Fails once the watchdog took the loop: turn_ is then kStolen, or
        // already the new driver's own turn (which must not be touched).
        lost = !turn_.compare_exchange_strong(mine, 0, std::memory_order_acq_rel);
        if (lost) cell->RunOnWorkersOnly();
        if (more) {
          cell->system()->dispatcher().Submit(cell);
        } else {
          cell->Release();
        }
        if (lost) {
          // Another thread drives the loop now: the rest go to the workers.
          for (std::size_t j = i + 1; j < runs.size(); ++j) {
            runs[j]->system()->dispatcher().Submit(runs[j]);
          }
          break;
        }
      }
    }
    runs.clear();
    internal::RunTurnEnd();
    if (lost) return false;  // closed connections: the new driver's sweep reaps them
    for (Connection* c : closed) Reap(c);
    now = SteadyNowNs();
    if (now >= next_sweep_ns_) Sweep(now);
  }
  return true;
}

void IoLoop::CloseAll() {
  // Stopping (every thread of the loop has ended): close what is left.
  {
    std::lock_guard<std::mutex> lock(flush_mu_);
    for (Connection* c : flushes_) c->Release();
    flushes_.clear();
  }
  {
    std::lock_guard<std::mutex> lock(add_mu_);
    for (Connection* a : adds_) conns_.insert(a), count_.fetch_add(1);
    adds_.clear();
  }
  std::vector<Connection*> all(conns_.begin(), conns_.end());
  for (Connection* c : all) {
    c->Close(SystemStoppedError("remoting is shutting down"));
    Reap(c);
  }
  internal::RunTurnEnd();
}

}  // namespace akt::remote
