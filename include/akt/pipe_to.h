// akt/pipe_to.h — run blocking work off the workers and deliver its outcome
// to an actor as a message.
//
// A Receive must never block: it holds a worker thread that other actors
// need. Work that blocks — a database query, a file read, a synchronous
// client — goes to PipeTo, which runs it on the system's pool for blocking
// work and tells its outcome to an actor:
//
// doc-test: context=headers wrap=class
//   void Receive(akt::ReceiveContext& ctx) override {
//     ctx.Match(
//         [&](const GetQuote& q) {
//           akt::PipeTo(ctx, ctx.self(),
//                       [symbol = q.symbol]() -> akt::Result<Quote> { return LoadQuote(symbol); },
//                       akt::PipeOptions().WithTimeout(2s).WithCircuitBreaker(breaker_))
//               .IgnoreError();
//         },
//         [&](const Quote&) { /* the result, on this actor's turn, sender = self */ },
//         [&](const akt::PipeFailure&) { /* failed, timed out, breaker open, ... */ });
//   }
//
// What arrives:
//  - The task's value, as the message itself. A task returns a
//    `Result<Message>`, a `Result<T>` or a plain `T` (any movable type).
//  - `akt::PipeFailure` otherwise, once per PipeTo; its `cause` says why
//    (see below). With a timeout, exactly one of the two arrives: the value if
//    the task finished in time, else a kTimedOut failure — and the value the
//    task returns later goes to dead letters (reason kAskTimedOut), never to
//    the actor.
//
// The pool is created per system, and its threads only when work arrives, up
// to BlockingPoolOptions::max_threads (default 16); they live until the system
// stops. A task is never interrupted: after a timeout it runs on to its end.
// At Stop, tasks not yet started are dropped (nothing is delivered for them)
// and running ones are waited for up to SystemOptions::shutdown_timeout.
#pragma once

#include <cstddef>
#include <exception>
#include <memory>
#include <type_traits>
#include <utility>

#include "akt/circuit_breaker.h"
#include "akt/context.h"
#include "akt/fwd.h"
#include "akt/message.h"
#include "akt/pid.h"
#include "akt/status.h"

namespace akt {

// The failure of a piped task, delivered instead of its value.
struct PipeFailure {
  enum class Cause {
    // The task returned an error (`status` is that error, as returned) or
    // threw (`status` is kActorFailed with the description, `exception` the
    // exception), or returned an empty message (kInvalidArgument).
    kTaskFailed,
    // The task did not finish within PipeOptions::timeout (kTimeout). It may
    // still finish; its value then goes to dead letters.
    kTimedOut,
    // The circuit breaker was open (kResourceExhausted): the task did not run.
    kCircuitOpen,
    // The blocking pool's queue was full (kResourceExhausted), or the system
    // was stopping (kSystemStopped): the task did not run.
    kRejected,
  };
  Cause cause = Cause::kTaskFailed;
  Status status;
  std::exception_ptr exception;  // set when the task threw
};

struct PipeOptions {
  // The task's deadline, counted from the PipeTo call; zero (the default)
  // for none. A timeout counts as a failure for the circuit breaker.
  Duration timeout{0};
  // Optional. When it refuses a ticket, the task does not run and a
  // kCircuitOpen failure is delivered at once. The task's error, exception or
  // timeout counts as a failure, its value as a success.
  std::shared_ptr<CircuitBreaker> circuit_breaker;
  // The delivered message's ctx.sender(). PipeTo(ctx, ...) defaults it to
  // the calling actor; PipeTo(system, ...) to none.
  PID sender;

  PipeOptions& WithTimeout(Duration d) {
    timeout = d;
    return *this;
  }
  PipeOptions& WithCircuitBreaker(std::shared_ptr<CircuitBreaker> breaker) {
    circuit_breaker = std::move(breaker);
    return *this;
  }
  PipeOptions& WithSender(PID s) {
    sender = std::move(s);
    return *this;
  }
};

struct BlockingPoolOptions {
  // Threads at most; they start one by one as work arrives (>= 1).
  int max_threads = 16;
  // How many tasks may wait while every thread is busy; more are rejected
  // with a kRejected failure. 0: unbounded.
  std::size_t max_queued = 0;
};

// Sets the options of `system`'s blocking pool. kFailedPrecondition once the
// pool has started a thread (call it before the first PipeTo);
// kInvalidArgument for max_threads < 1.
Status ConfigureBlockingPool(ActorSystem& system, BlockingPoolOptions options);

namespace internal {

class PipeTask {
 public:
  virtual ~PipeTask() = default;
  virtual Result<Message> Run() = 0;
};

template <typename R>
struct IsResult : std::false_type {};
template <typename T>
struct IsResult<Result<T>> : std::true_type {};
template <typename>
inline constexpr bool kDependentFalse = false;

template <typename F>
class PipeTaskFor final : public PipeTask {
 public:
  explicit PipeTaskFor(F f) : f_(std::move(f)) {}
  Result<Message> Run() override {
    using R = std::invoke_result_t<F&>;
    if constexpr (std::is_void_v<R> || std::is_same_v<R, Status>) {
      static_assert(kDependentFalse<R>,
                    "a piped task returns its result: Result<Message>, Result<T> or T");
    } else if constexpr (std::is_same_v<R, Result<Message>>) {
      return f_();
    } else if constexpr (std::is_same_v<R, Message>) {
      return Result<Message>(f_());
    } else if constexpr (IsResult<R>::value) {
      R r = f_();
      if (!r.ok()) return r.status();
      return Message(std::move(r).value());
    } else {
      return Message(f_());
    }
  }

 private:
  F f_;
};

Status StartPipe(ActorSystem& system, const PID& to, std::unique_ptr<PipeTask> task,
                 PipeOptions options);

}  // namespace internal

// Runs `task` on `system`'s blocking pool and tells its outcome to `to`.
// Returns an error only when nothing was started and nothing will arrive:
// kNotFound for an empty `to`, kInvalidArgument for a negative timeout or a
// `to` of another system, kFailedPrecondition before Start, kSystemStopped
// once stopping. Every other outcome arrives at `to` as a message. Cost: one
// allocation for the task, one for its bookkeeping, a timer if timed.
template <typename F>
Status PipeTo(ActorSystem& system, const PID& to, F&& task, PipeOptions options = {}) {
  return internal::StartPipe(
      system, to, std::make_unique<internal::PipeTaskFor<std::decay_t<F>>>(std::forward<F>(task)),
      std::move(options));
}

// From inside an actor: as above, with the calling actor as the sender
// unless options.sender is set. Never blocks.
template <typename F>
Status PipeTo(Context& ctx, const PID& to, F&& task, PipeOptions options = {}) {
  if (options.sender.empty()) options.sender = ctx.self();
  return PipeTo(ctx.system(), to, std::forward<F>(task), std::move(options));
}

}  // namespace akt
