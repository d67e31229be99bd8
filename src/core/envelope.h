// The mailbox node: one message plus who sent it and who waits for an answer.
// Envelopes come from a per-thread cache backed by a bounded global pool, so
// steady-state messaging does not allocate.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "akt/message.h"
#include "akt/status.h"
#include "mpsc_queue.h"

namespace akt::internal {

class ActorCell;
class ReplySlot;

// Where the answer to a request goes when a layer above core delivered it
// (remoting's is a reply frame on the request's connection).
class ReplyRoute {
 public:
  virtual void AddRef() = 0;
  virtual void Release() = 0;
  virtual void Reply(uint64_t correlation, Message&& reply) = 0;
  virtual void Fail(uint64_t correlation, const Status& error) = 0;

 protected:
  ~ReplyRoute() = default;
};

// What a message carried besides its payload when a layer delivered it (the
// remote sender's deadline and headers).
struct EnvelopeMeta {
  int64_t deadline_ns = 0;  // SteadyNowNs() clock; 0: none
  std::vector<std::pair<std::string, std::string>> headers;
};

// System message kinds; kUser marks an ordinary message.
enum class SysKind : uint8_t {
  kUser = 0,
  kStop,             // begin stopping
  kRestart,          // restart now (user request or supervisor after backoff)
  kKill,             // fail with ActorKilledError
  kReinstate,        // resume after suspension
  kChildTerminated,  // a child finished stopping (sent only while stopping)
  kFailure,          // a child escalated (sender = the child), or our own PreStart
                     // failed in a restart (no sender); msg holds std::exception_ptr
  kRequestReply,     // a reply for one of our Requests; msg = reply or Status
  kRequestCheck,     // a request deadline may have passed
  kApplyToChildren,  // OneForAll: msg holds the directive for all children
  kPassivate,        // the passivation manager asks; is_error marks eviction
};

// Who is waiting for an answer to this message.
enum class ReplyKind : uint8_t {
  kNone = 0,
  kSlot,      // a thread blocked in Ask: `slot` (one reference held)
  kRequest,   // an actor's Request: `requester` (one reference held) + request_id
  kAnswered,  // it had a requester and was answered (or the duty was taken)
  kRoute,     // answered through a layer's route (a request from another process):
              // `route` (one reference) + request_id
};

struct Envelope : QueueNode {
  ActorCell* sender = nullptr;  // one reference held, or null
  union {
    ReplySlot* slot;
    ActorCell* requester;
    ReplyRoute* route;
  };
  uint64_t request_id = 0;
  ReplyKind reply_kind = ReplyKind::kNone;
  SysKind sys = SysKind::kUser;
  bool is_error = false;  // kRequestReply: msg holds a Status
  // A Terminated sent by the watch machinery: dropped on arrival when the
  // watcher has unwatched the dead actor since (Unwatch cancels it).
  bool watch_notice = false;
  EnvelopeMeta* meta = nullptr;  // owned; set only for messages from another process
  Message msg;

  bool expects_reply() const {
    return reply_kind == ReplyKind::kSlot || reply_kind == ReplyKind::kRequest ||
           reply_kind == ReplyKind::kRoute;
  }
};

// A fresh envelope; free it with FreeEnvelope (releases sender and reply refs).
Envelope* NewEnvelope();
void FreeEnvelope(Envelope* e);

// While one lives on a thread, FreeEnvelope coalesces the sender references it
// drops (runs of messages from one sender cost one atomic, not one each).
// Turns open one; the references are dropped when it closes.
class ReleaseBatch {
 public:
  ReleaseBatch();
  ~ReleaseBatch();
  ReleaseBatch(const ReleaseBatch&) = delete;
  ReleaseBatch& operator=(const ReleaseBatch&) = delete;

 private:
  bool outer_;
};

// Frees the envelopes the global pool holds (after a burst, e.g. a mass
// passivation); per-thread caches are small and stay.
void TrimEnvelopePool();

// Pool figures, for tests and benchmarks.
struct EnvelopePoolStats {
  uint64_t allocated;  // envelopes obtained from operator new so far
  uint64_t freed;      // envelopes returned to operator delete so far
};
EnvelopePoolStats GetEnvelopePoolStats();

}  // namespace akt::internal
