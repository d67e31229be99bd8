// akt/context.h — what an actor can do while it runs.
//
// `Context` is handed to PreStart and PostStop; `ReceiveContext` to Receive and
// adds the current message, its sender and the ways to answer it. Both are
// valid only during the call they are passed to; do not keep them.
//
// doc-test: context=headers wrap=class
//   void Receive(akt::ReceiveContext& ctx) override {
//     ctx.Match(
//         [&](const Charge& c) {
//           ctx.Request(payments_, Authorize{c.cents}, 500ms)
//               .Then([](akt::ReceiveContext& ctx, akt::Result<akt::Message> r) {
//                 // runs later, on this actor, without blocking a worker
//                 if (!r.ok()) ctx.logger().Log(akt::LogLevel::kWarn, r.status().ToString());
//               });
//         },
//         [&](const akt::Terminated& t) { ctx.Unwatch(t.actor); });
//   }
#pragma once

#include <exception>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "akt/extension.h"
#include "akt/fwd.h"
#include "akt/message.h"
#include "akt/pid.h"
#include "akt/spawn_options.h"
#include "akt/status.h"

namespace akt {

namespace internal {
struct Envelope;

template <typename F>
struct CallableArg : CallableArg<decltype(&F::operator())> {};
template <typename C, typename R, typename A>
struct CallableArg<R (C::*)(A) const> {
  using type = std::decay_t<A>;
};
template <typename C, typename R, typename A>
struct CallableArg<R (C::*)(A)> {
  using type = std::decay_t<A>;
};
template <typename R, typename A>
struct CallableArg<R (*)(A)> {
  using type = std::decay_t<A>;
};
}  // namespace internal

class Context {
 public:
  Context(internal::ActorCell* cell) : cell_(cell) {}  // NOLINT
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;

  const PID& self() const;
  ActorSystem& system() const;
  Logger& logger() const;

  // Spawns a child: it stops before this actor does. Names are unique in the
  // whole system; an empty name spawns an anonymous child.
  Result<PID> Spawn(std::string name, ActorFactory factory, SpawnOptions options = {});
  template <typename A, typename... Args>
  Result<PID> Spawn(std::string name, Args&&... args) {
    return Spawn(std::move(name), MakeFactory<A>(std::forward<Args>(args)...));
  }
  template <typename A, typename... Args>
  Result<PID> SpawnWith(std::string name, SpawnOptions options, Args&&... args) {
    return Spawn(std::move(name), MakeFactory<A>(std::forward<Args>(args)...), std::move(options));
  }
  std::vector<PID> Children() const;

  // The dependency with this id given at spawn, or null.
  std::shared_ptr<Dependency> GetDependency(std::string_view id) const;
  template <typename T>
  std::shared_ptr<T> GetDependency(std::string_view id) const {
    return std::dynamic_pointer_cast<T>(GetDependency(id));
  }
  // A system extension by id, or null.
  std::shared_ptr<Extension> GetExtension(std::string_view id) const;
  template <typename T>
  std::shared_ptr<T> GetExtension(std::string_view id) const {
    return std::dynamic_pointer_cast<T>(GetExtension(id));
  }

  // Sends with this actor as the sender.
  Status Tell(const PID& to, Message msg);
  // Watch: deliver `Terminated{to}` to this actor exactly once when `to`
  // terminates (at once if it already has). Unwatch cancels it.
  void Watch(const PID& to);
  void Unwatch(const PID& to);
  // Asynchronously stops `pid` (a child, or any actor).
  void Stop(const PID& pid);

  template <typename A, typename... Args>
  static ActorFactory MakeFactory(Args&&... args) {
    return [... captured = std::forward<Args>(args)]() -> std::unique_ptr<Actor> {
      return std::make_unique<A>(captured...);
    };
  }

 protected:
  internal::ActorCell* cell_;
};

// A message handler that replaces Receive while it is the current behavior.
using Behavior = std::function<void(ReceiveContext& ctx)>;

// Continues with the reply of a non-blocking request; see ReceiveContext::Request.
using RequestCallback = std::function<void(ReceiveContext& ctx, Result<Message> reply)>;

class [[nodiscard]] RequestBuilder {
 public:
  // Sends the request. `callback` runs exactly once on this actor: with the
  // reply, or with kTimeout / kStopped / kActorFailed / ... . It does not run
  // if this actor stops first. Other messages are processed meanwhile.
  void Then(RequestCallback callback) &&;
  // Overrides the actor's reentrancy mode (SpawnOptions::WithReentrancy)
  // for this request.
  RequestBuilder&& WithMode(ReentrancyMode mode) && {
    mode_ = mode;
    has_mode_ = true;
    return std::move(*this);
  }

 private:
  friend class ReceiveContext;
  friend class GrainContext;
  // A null cell: a request from a context that is no longer valid; Then()
  // drops it (nothing is sent, nothing runs).
  RequestBuilder(internal::ActorCell* cell, PID to, Message msg, Duration timeout)
      : cell_(cell), to_(std::move(to)), msg_(std::move(msg)), timeout_(timeout) {}
  internal::ActorCell* cell_;
  PID to_;
  Message msg_;
  Duration timeout_;
  ReentrancyMode mode_ = ReentrancyMode::kAllowAll;
  bool has_mode_ = false;
};

// The right to answer one request later, taken out of the current message
// with ReceiveContext::TakeReply. Move-only; answering twice is refused.
// Dropped unanswered, the requester simply times out.
class PendingReply {
 public:
  PendingReply() = default;
  PendingReply(PendingReply&& o) noexcept;
  PendingReply& operator=(PendingReply&& o) noexcept;
  PendingReply(const PendingReply&) = delete;
  PendingReply& operator=(const PendingReply&) = delete;
  ~PendingReply();

  // True while there is a requester to answer.
  bool valid() const;
  // kFailedPrecondition when already answered or there was nobody to answer.
  Status Reply(Message reply);
  Status Fail(Status error);

 private:
  friend class ReceiveContext;
  void Reset();
  internal::Envelope* env_ = nullptr;       // holds the reply route and sender
  internal::ActorCell* replier_ = nullptr;  // one reference
};

class ReceiveContext : public Context {
 public:
  ReceiveContext(internal::ActorCell* cell, internal::Envelope* env) : Context(cell), env_(env) {}

  // The message being processed; Receive may move out of it.
  Message& message();
  template <typename T>
  bool Is() {
    return message().Is<T>();
  }
  template <typename T>
  T* As() {
    return message().As<T>();
  }

  // Calls the first handler whose parameter type is the message's type; a
  // handler taking `akt::Message&` matches anything (put it last). When none
  // matches, the message is marked unhandled (see Unhandled).
  // Returns whether a handler ran.
  template <typename... F>
  bool Match(F&&... handlers) {
    bool matched = (TryHandler(handlers) || ...);
    if (!matched) Unhandled();
    return matched;
  }

  // Who sent the message: empty when sent with PID::Tell or from outside.
  const PID& sender() const;

  // Answers the message: completes the caller's Ask/Request, or, for a plain
  // Tell with a sender, tells the sender. kFailedPrecondition when there is
  // nobody to answer or an answer was already given (each request is
  // answered at most once).
  Status Reply(Message reply);
  // Reports a failure: the message's requester gets `error` itself (its code
  // and message, as from a grain's Err) and the supervisor decides what
  // happens to this actor (as if Receive threw). An exception thrown by
  // Receive gives the requester kActorFailed.
  void Err(Status error);
  void Err(std::exception_ptr error);
  // The message is not for this actor: it goes to dead letters (reason
  // kUnhandled) and a requester gets kUnhandled.
  void Unhandled();
  // Behaviors: the current behavior handles messages instead of Receive.
  // Become replaces the current behavior (the top of the stack, or Receive);
  // BecomeStacked pushes one; UnBecomeStacked pops one; UnBecome goes back
  // to Receive. A restart starts again from Receive.
  void Become(Behavior behavior);
  void BecomeStacked(Behavior behavior);
  void UnBecomeStacked();
  void UnBecome();

  // Stash (enabled with SpawnOptions::WithStash): set the current message
  // aside, with its sender and pending reply, to process it later.
  // kFailedPrecondition when the stash is not enabled; kResourceExhausted
  // when it is full — the message is then not stashed and Receive goes on
  // with it (handle it, or leave it unhandled to dead-letter it).
  Status Stash();
  // Puts the oldest stashed message back in front of the mailbox.
  // kFailedPrecondition when the stash is empty.
  Status Unstash();
  // Puts every stashed message back in front of the mailbox, in order.
  void UnstashAll();
  std::size_t StashSize() const;

  // Takes the duty to answer the current message out of this call, so the
  // answer can be given later (e.g. from a request's continuation).
  PendingReply TakeReply();
  // Passes the current message on to `to`, keeping the original sender and
  // the pending reply, so `to` answers the original requester.
  Status Forward(const PID& to);
  // Sends `msg` to `to` and continues with `.Then(callback)` when the reply
  // arrives or `timeout` passes, without blocking the worker. A timeout <= 0
  // sends nothing: the callback gets kInvalidArgument on a later turn.
  RequestBuilder Request(const PID& to, Message msg, Duration timeout) {
    return RequestBuilder(cell_, to, std::move(msg), timeout);
  }

 private:
  friend struct internal::Access;  // the layers' way in (not installed)
  template <typename F>
  bool TryHandler(F& f) {
    using A = typename internal::CallableArg<std::decay_t<F>>::type;
    if constexpr (std::is_same_v<A, Message>) {
      f(message());  // a handler taking akt::Message catches everything
      return true;
    } else {
      if (A* p = message().template As<A>()) {
        f(*p);
        return true;
      }
      return false;
    }
  }
  internal::Envelope* env_;
  mutable PID sender_cache_;
  bool unhandled_ = false;
  bool stashed_ = false;
};

}  // namespace akt
