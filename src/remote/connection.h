// One TCP connection between two akt nodes, and the I/O loops that serve
// connections. Internal to the remoting layer.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "akt/pid.h"
#include "akt/remote.h"
#include "codec.h"
#include "envelope.h"
#include "frame_pool.h"
#include "transport.h"
#include "wire.h"

typedef struct ssl_st SSL;

namespace google::protobuf {
class Message;
}

namespace akt {
class RemotingImpl;
}

namespace akt::remote {

class IoLoop;

// Hashes std::string keys and looks them up by std::string_view, so a lookup
// by a name on the wire allocates nothing.
struct StringViewHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>()(s); }
};

// A connection's cache from a name on the wire (target, sender address,
// type name) to what it resolves to. A stream of one kind of message to one
// actor resolves with one string compare (the last hit); other names with a
// map lookup that allocates nothing. Bounded: past 4096 names it starts over.
template <typename V>
class NameCache {
 public:
  // The cached value for `name` if `fresh` accepts it, else null (a stale
  // entry is dropped).
  template <typename Fresh>
  V* Find(std::string_view name, Fresh fresh) {
    if (last_ != nullptr && name == last_->first) {
      if (fresh(last_->second)) return &last_->second;
    } else {
      auto it = map_.find(name);
      if (it == map_.end()) return nullptr;
      last_ = &*it;
      if (fresh(it->second)) return &it->second;
    }
    map_.erase(map_.find(std::string_view(last_->first)));
    last_ = nullptr;
    return nullptr;
  }
  V& Put(std::string_view name, V value) {
    if (map_.size() >= 4096) map_.clear();
    auto [it, inserted] = map_.insert_or_assign(std::string(name), std::move(value));
    last_ = &*it;
    return it->second;
  }

 private:
  std::unordered_map<std::string, V, StringViewHash, std::equal_to<>> map_;
  std::pair<const std::string, V>* last_ = nullptr;  // a node of map_
};

// Who waits for the answer to a request sent on a connection.
struct Pending {
  enum class Kind : uint8_t { kSlot, kRequest, kRoute };
  Kind kind = Kind::kSlot;
  internal::ReplySlot* slot = nullptr;       // kSlot: one reference
  internal::ActorCell* requester = nullptr;  // kRequest: one reference
  internal::ReplyRoute* route = nullptr;     // kRoute: one reference
  uint64_t id = 0;                           // request id / correlation
  int64_t deadline_ns = 0;                   // dropped after this (0: never)
  internal::ActorCell* replier = nullptr;    // the proxy the reply comes from (ref)
};

class Connection final : public internal::ReplyRoute {
 public:
  enum class State : uint8_t { kHandshake, kTlsHandshake, kOpen, kClosed };

  Connection(RemotingImpl* owner, std::unique_ptr<Stream> stream, bool inbound, std::string peer);
  ~Connection();

  void AddRef() override { refs_.fetch_add(1, std::memory_order_relaxed); }
  void Release() override {
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
  }
  // ReplyRoute: answers to a request that arrived on this connection and
  // was handed to an actor (counted by OpenInbound).
  void Reply(uint64_t correlation, Message&& reply) override;
  void Fail(uint64_t correlation, const Status& error) override;
  // An error answer given by remoting itself, not through a route.
  void Refuse(uint64_t correlation, const Status& error);
  // An inbound ask is handed to an actor; its answer comes through the route.
  void OpenInbound() { inbound_open_.fetch_add(1, std::memory_order_relaxed); }

  bool open() const { return state_.load(std::memory_order_acquire) == State::kOpen; }
  bool closed() const { return state_.load(std::memory_order_acquire) == State::kClosed; }
  bool inbound() const { return inbound_; }
  int fd() const { return fd_; }  // -1 on a simulated stream
  const std::string& peer() const { return peer_; }
  // The actor-system name the server gave in its hello (outbound only).
  const std::string& peer_system() const { return peer_system_; }
  // The protocol version the hello negotiated (0 before).
  uint8_t version() const { return version_; }
  // The node at the other end, once known: from its NODE frame (protocol
  // version 2), or for an outbound version-1 connection from the hello
  // (incarnation 0: unknown). An inbound version-1 peer stays unknown.
  bool node_known() const { return node_known_.load(std::memory_order_acquire); }
  const NodeId& peer_node() const { return peer_node_; }
  const RemoteOptions& owner_options() const;
  uint64_t NextCorrelation() { return next_corr_.fetch_add(1, std::memory_order_relaxed) + 1; }

  // ---- sending (any thread) ----
  // Appends one frame; `proto` (may be null) is serialised as the payload,
  // else `raw_payload`. Fails when the connection is closed or its output
  // backlog is over the limit. Does not write: see Flush / ScheduleFlush.
  // `last`: the final ERROR of a failing connection; nothing is queued
  // after it, and the connection closes once it is written.
  Status Enqueue(const wire::Frame& f, const google::protobuf::Message* proto,
                 std::string_view raw_payload, bool last = false);
  // Counts against the node's inbound connection limit until it closes.
  void CountAsInbound() { counted_.store(true, std::memory_order_relaxed); }
  // No more input is wanted (the peer shut its side while this one fails).
  bool input_done() const { return input_done_.load(std::memory_order_relaxed); }
  // Writes what is queued now (or leaves it to the writer already at work).
  void Flush();
  // Flush now, or at the end of the current actor turn / batch scope.
  // `one_way`: a plain thread's Tell is left to the connection's I/O thread,
  // which writes everything queued meanwhile in one go.
  void FlushSoon(bool one_way = false);
  void AddPending(uint64_t correlation, Pending p);
  bool TakePending(uint64_t correlation, Pending* out);
  // Fails pending requests whose deadline passed (their callers gave up).
  void ExpirePending(int64_t now_ns);
  std::size_t pending_count();

  // Closes the connection (any thread): pending requests fail with `why`.
  // `graceful`: only the sending side is shut, after what was queued.
  void Close(const Status& why, bool graceful = false);

  // ---- protocol errors ----
  // A malformed frame or corrupt compressed bytes (loop thread): reading
  // stops; once every request that came before has been answered (or after
  // error_linger) one ERROR with correlation 0 goes out, then the close.
  void BeginFailing(std::string why);
  bool failing() const { return failing_.load(std::memory_order_acquire); }
  // A failing connection whose ERROR could not be written by then (the
  // peer does not read) is closed abruptly.
  int64_t fail_hard_deadline_ns() const { return fail_hard_deadline_ns_; }
  // Sends that ERROR and closes once it is written (any thread; once).
  void FinishFailing();
  int64_t fail_deadline_ns() const { return fail_deadline_ns_; }

  // ---- I/O loop thread ----
  void OnReadable();
  void OnWritable();
  int64_t last_activity_ns() const { return last_activity_ns_.load(std::memory_order_relaxed); }
  // When bytes last came in (heartbeats; reads only, unlike last_activity).
  int64_t last_read_ns() const { return last_read_ns_.load(std::memory_order_relaxed); }
  // Heartbeat (loop thread): a PING when nothing was read for the interval.
  int64_t last_ping_ns = 0;
  void SendPing();
  int64_t created_ns() const { return created_ns_; }
  // The kernel held this connection before accept (TCP_DEFER_ACCEPT): the
  // handshake clock started that much earlier.
  void StartedEarlier(int64_t ns) { created_ns_ -= ns; }
  // When the bytes being handled now were read (loop thread).
  int64_t read_ns() const { return read_ns_; }
  void set_loop(IoLoop* loop) { loop_ = loop; }
  IoLoop* loop() const { return loop_; }

  // ---- client side: blocking handshake before the loop takes over ----
  Status ClientHandshake(const RemoteOptions& options, const std::string& system_name,
                         int64_t deadline_ns);
  // TLS (both sides); null ssl_ when TLS is off.
  void set_ssl(SSL* ssl) { ssl_ = ssl; }
  SSL* ssl() const { return ssl_; }
  void set_state(State s) { state_.store(s, std::memory_order_release); }

 private:
  friend class akt::RemotingImpl;
  // Socket or TLS I/O; returns bytes, 0 on orderly close, -1 with errno
  // EAGAIN when it would block, -1 with another errno on error.
  long RawRead(uint8_t* p, std::size_t n);
  long RawWrite(const uint8_t* p, std::size_t n);
  bool ServerHandshakeStep();  // false: connection closed
  bool TlsAcceptStep();        // false: connection closed
  bool ParseFrames();          // false: connection closed
  // The first frame of a version-2 connection (false: protocol error begun).
  bool TakeNodeFrame(const wire::Frame& f);
  // Queues this node's NODE frame (version 2, before any other frame).
  void SendNodeFrame();
  bool Ingest(const uint8_t* p, std::size_t n);  // wire bytes -> plain frames
  // Writer loop; called with out_mu_ held and writing_ set.
  void WriteLoop(std::unique_lock<std::mutex>& lock);
  void FailAllPending(const Status& why);
  void SendReply(uint64_t correlation, Message&& reply);
  void InboundAnswered();
  // Reads and drops what is there: 1 drained, 0 the peer shut its side, -1 error.
  int DiscardInput();
  void Uncount();

  RemotingImpl* owner_;
  IoLoop* loop_ = nullptr;
  std::unique_ptr<Stream> stream_;
  int fd_;  // stream_->fd()
  bool inbound_;
  std::string peer_;
  std::string peer_system_;
  uint8_t version_ = 0;
  NodeId peer_node_;  // written once, before node_known_
  std::atomic<bool> node_known_{false};
  bool node_reported_ = false;  // NodeUp was called (NodeDown is owed)
  SSL* ssl_ = nullptr;
  std::mutex ssl_mu_;  // OpenSSL objects take one call at a time
  std::atomic<uint32_t> refs_{1};
  std::atomic<State> state_{State::kHandshake};
  std::atomic<uint64_t> next_corr_{0};
  int64_t created_ns_;
  int64_t read_ns_ = 0;
  std::atomic<int64_t> last_activity_ns_;
  std::atomic<int64_t> last_read_ns_;
  std::atomic<int64_t> inbound_open_{0};
  std::atomic<bool> failing_{false};
  std::atomic<bool> fail_sent_{false};
  std::string fail_reason_;       // set before failing_
  int64_t fail_deadline_ns_ = 0;  // set before failing_
  int64_t fail_hard_deadline_ns_ = 0;
  std::atomic<bool> counted_{false};
  std::atomic<bool> input_done_{false};

  // Codec wrappers, set by the handshake.
  std::unique_ptr<Encoder> enc_;
  std::unique_ptr<Decoder> dec_;

  // Read side (loop thread only).
  Buffer in_;            // plain frame bytes not parsed yet
  Buffer hs_;            // handshake bytes (server side)
  std::string scratch_;  // decompressed bytes

 public:
  // Per-connection caches (loop thread only).
  NameCache<PID> targets_;
  NameCache<PID> senders_;
  NameCache<const google::protobuf::Message*> types_;  // null: unknown type

 private:
  // Write side.
  std::mutex out_mu_;
  Buffer out_;        // plain frames queued (out_mu_)
  Buffer batch_;      // the frames being written (writer only)
  std::string wire_;  // encoded bytes being written (writer only)
  std::size_t wire_off_ = 0;
  bool writing_ = false;            // a writer owns batch_/wire_ (out_mu_)
  bool want_out_ = false;           // waiting for EPOLLOUT (out_mu_)
  bool close_after_flush_ = false;  // out_mu_: FinishFailing's close
  bool error_queued_ = false;       // out_mu_: the final ERROR is queued; nothing follows it

  std::mutex pend_mu_;
  std::unordered_map<uint64_t, Pending> pending_;

 public:
  std::atomic<bool> flush_requested_{false};  // queued on the loop's flush list
};

// The timekeeping of one connection at `now_ns` (the I/O loop's sweep, or
// the simulated network's): pending requests past their deadline, handshake
// and idle timeouts, heartbeats, a failing connection's linger. True when
// the connection is closed and can be let go; `*next` is lowered to when it
// next needs a look.
bool SweepConnection(Connection* c, int64_t now_ns, int64_t* next);

// A thread with an epoll set: reads every connection it owns, writes what
// could not be written at once, sweeps idle connections and stale requests.
class IoLoop {
 public:
  IoLoop(RemotingImpl* owner, int index);
  ~IoLoop();
  void Start();
  void Stop();
  // Takes one reference on `c`; the loop owns the connection from now on.
  void Add(Connection* c);
  void WantWrite(Connection* c, bool on);
  // Asks the loop to flush `c` (takes one reference).
  void RequestFlush(Connection* c);
  std::size_t connection_count() const { return count_.load(std::memory_order_relaxed); }
  // True on any remoting I/O loop thread.
  static bool OnLoopThread();
  // Called by the remoting watchdog every inline_turn_limit: when the thread
  // driving this loop is still in the inline actor turn it was in at the
  // previous check, another thread takes the loop over. True if it did.
  bool HandOffIfStuck();

 private:
  // A thread of this loop: drives it whenever a driver is wanted.
  void ThreadMain();
  // Serves the connections until the loop stops (true) or another thread
  // took over while this one was in a slow actor turn (false).
  bool Drive();
  void Sweep(int64_t now_ns);
  void Reap(Connection* c);
  void CloseAll();

  RemotingImpl* owner_;
  int index_;
  int epfd_ = -1;
  int evfd_ = -1;
  std::atomic<bool> stop_{false};
  // Threads that may drive the loop; one does at a time.
  std::mutex drive_mu_;
  std::condition_variable drive_cv_;
  std::vector<std::thread> threads_;  // drive_mu_
  int drivers_wanted_ = 0;            // drive_mu_
  int idle_threads_ = 0;              // drive_mu_
  // While the driver runs an inline actor turn: an even number naming that
  // turn; kStolen once the watchdog took the loop away; 0 otherwise.
  static constexpr uint64_t kStolen = 1;
  std::atomic<uint64_t> turn_{0};
  uint64_t turn_seq_ = 0;        // driver only
  uint64_t last_seen_turn_ = 0;  // watchdog only
  int64_t next_sweep_ns_ = 0;    // driver only
  std::mutex add_mu_;
  std::vector<Connection*> adds_;
  std::unordered_set<Connection*> conns_;  // loop thread only
  std::mutex flush_mu_;
  std::vector<Connection*> flushes_;
  std::atomic<bool> sleeping_{false};
  std::atomic<std::size_t> count_{0};
};

}  // namespace akt::remote
