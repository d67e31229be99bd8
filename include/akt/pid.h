// akt/pid.h — the address of an actor.
//
// A PID is a counted reference to an actor's control block: cheap to copy (one
// atomic increment), safe to hold and use after the actor stopped (messages
// then go to dead letters and calls return `kStopped`). An empty PID names no
// actor.
//
//   akt::Result<akt::PID> counter = system.Spawn<Counter>("counter");
//   akt::Status sent = counter->Tell(Increment{5});  // kStopped, kMailboxFull, ...
//   akt::Result<int64_t> total = counter->Ask<int64_t>(GetTotal{}, 100ms);
//
// From inside an actor prefer `ReceiveContext::Tell` / `Request`: they carry
// the sender, and `Request` never blocks a worker. `Ask` on a PID blocks the
// calling thread until the reply or the deadline; never call it from an actor.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "akt/fwd.h"
#include "akt/message.h"
#include "akt/metrics.h"
#include "akt/status.h"

namespace akt {

class PID {
 public:
  PID() = default;
  PID(const PID& other);
  PID(PID&& other) noexcept : cell_(std::exchange(other.cell_, nullptr)) {}
  PID& operator=(const PID& other);
  PID& operator=(PID&& other) noexcept;
  ~PID();

  // True when this PID names an actor (alive or not).
  explicit operator bool() const { return cell_ != nullptr; }
  bool empty() const { return cell_ == nullptr; }

  // The actor's name: the one given at spawn, or a generated "$<id>" for
  // anonymous actors. Empty for an empty PID.
  std::string_view Name() const;
  // "akt://<system>/<name>"; built once and cached.
  const std::string& Address() const;
  // Unique per system for the life of the process; never reused.
  uint64_t Id() const;

  // One-way send without a sender. Returns kStopped or kMailboxFull when the
  // message was not enqueued (it then went to dead letters), kNotFound for an
  // empty PID. Never blocks.
  Status Tell(Message msg) const;
  // One-way send that carries `sender` so the receiver can reply to it.
  Status Forward(Message msg, const PID& sender) const;
  // Enqueues every message in order; a refused one goes to dead letters and
  // the rest are still offered. Returns the first failure.
  Status BatchTell(std::vector<Message> msgs) const;

  // Sends `msg` and blocks the calling thread until the reply or `timeout`.
  // Errors: kTimeout, kStopped, kMailboxFull, kActorFailed (the receiver
  // threw; its ctx.Err(status) gives that status), kUnhandled,
  // kSystemStopped. Must not be called from an actor.
  Result<Message> Ask(Message msg, Duration timeout) const;
  // As Ask, and unwraps the reply as R (kTypeMismatch when it is not an R).
  template <typename R>
  Result<R> Ask(Message msg, Duration timeout) const;
  // Sends all requests at once and waits for all replies (shared deadline).
  // Result i answers message i.
  std::vector<Result<Message>> BatchAsk(std::vector<Message> msgs, Duration timeout) const;

  // Lifecycle requests; all asynchronous (they jump the mailbox queue).
  // Stop: finish the current message, stop children, PostStop; messages still
  //   queued go to dead letters and their asks fail with kStopped.
  void Stop() const;
  // Restart: PostStop on the old instance, a new instance, PreStart; the
  //   mailbox is kept; children are stopped (PreStart re-creates them).
  void Restart() const;
  // Kill: the actor fails with `ActorKilledError`; its supervisor decides
  //   (the default supervisor stops it).
  void Kill() const;
  // Reinstate: resume an actor that a supervisor suspended.
  void Reinstate() const;
  // Blocks until the actor has terminated or `timeout` passed. True if it has.
  bool AwaitTermination(Duration timeout) const;

  // Introspection; all cheap reads, safe from any thread.
  // Alive: started and not stopping or stopped (a suspended or restarting
  // actor is still running in this sense).
  bool IsRunning() const;
  bool IsSuspended() const;  // suspended by its supervisor
  uint64_t ProcessedCount() const;
  // Mean time Receive took per message in the actor's latest turn.
  Duration LatestProcessingDuration() const;
  uint32_t RestartCount() const;
  Duration Uptime() const;  // zero once stopped
  std::size_t MailboxSize() const;
  ActorMetrics Metrics() const;
  // The parent, or an empty PID for a top-level actor.
  PID Parent() const;
  ActorSystem* system() const;
  [[deprecated("use system()")]] ActorSystem* System() const { return system(); }

  friend bool operator==(const PID& a, const PID& b) { return a.cell_ == b.cell_; }
  friend bool operator!=(const PID& a, const PID& b) { return a.cell_ != b.cell_; }
  friend bool operator<(const PID& a, const PID& b) { return a.cell_ < b.cell_; }

  friend struct PIDHash;

 private:
  friend struct internal::Access;  // the layers' way in (not installed)
  internal::ActorCell* cell_ = nullptr;
};

template <typename R>
Result<R> PID::Ask(Message msg, Duration timeout) const {
  Result<Message> r = Ask(std::move(msg), timeout);
  if (!r.ok()) return r.status();
  if (R* v = r->template As<R>()) return std::move(*v);
  return Status(StatusCode::kTypeMismatch,
                "reply is " + std::string(r->TypeName()) + ", not the type asked for");
}

struct PIDHash {
  std::size_t operator()(const PID& p) const {
    return std::hash<const void*>()(static_cast<const void*>(p.cell_));
  }
};

}  // namespace akt
