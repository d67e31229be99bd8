#include "akt/pipe_to.h"

#include <atomic>
#include <optional>

#include "akt/supervisor.h"
#include "akt/system.h"
#include "blocking_pool.h"
#include "envelope.h"
#include "internal/access.h"
#include "system_impl.h"

namespace akt {
namespace internal {
namespace {

std::string DurationText(Duration d) {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
  if (ms > 0) return std::to_string(ms) + "ms";
  return std::to_string(d.count()) + "ns";
}

Message Failure(PipeFailure::Cause cause, Status status, std::exception_ptr ex = nullptr) {
  PipeFailure f;
  f.cause = cause;
  f.status = std::move(status);
  f.exception = std::move(ex);
  return Message(std::move(f));
}

// One PipeTo: the task's completion and its timeout race for `done`; the
// winner delivers and reports to the breaker, the loser's message is a dead
// letter (a late value) or nothing (a late timeout).
class PipeCall {
 public:
  PipeCall(SystemImpl* system, PID target, PID sender, std::shared_ptr<CircuitBreaker> breaker)
      : system_(system),
        target_(std::move(target)),
        sender_(std::move(sender)),
        breaker_(std::move(breaker)) {}
  ~PipeCall() {
    // Dropped without an outcome (the system stopped before it ran): give
    // the breaker its trial back.
    if (ticket_ && breaker_) breaker_->Release(*ticket_);
  }

  void set_ticket(CircuitBreaker::Ticket t) { ticket_ = t; }
  // Written before the task is submitted, read by the completing thread.
  void set_timer(uint64_t id) { timer_id_ = id; }

  // The task finished (on a pool thread) or could not be started.
  void Complete(Message out, bool success, bool ran) {
    if (done_.exchange(true, std::memory_order_acq_rel)) {
      // The timeout was delivered first: this one is late.
      Envelope* e = NewEnvelope();
      e->msg = std::move(out);
      if (sender_) {
        internal::CellOf(sender_)->AddRef();
        e->sender = internal::CellOf(sender_);
      }
      system_->DeadLetter(e, DeadLetterReason::kAskTimedOut, internal::CellOf(target_),
                          target_.Name());
      return;
    }
    if (timer_id_ != 0) system_->timers().Cancel(timer_id_);
    if (ticket_ && breaker_) {
      if (!ran) {
        breaker_->Release(*ticket_);
      } else if (success) {
        breaker_->RecordSuccess(*ticket_);
      } else {
        breaker_->RecordFailure(*ticket_, system_->Now());
      }
      ticket_.reset();
    }
    target_.Forward(std::move(out), sender_).IgnoreError();
  }

  // The deadline passed (on the timer thread).
  void TimeOut(Duration timeout) {
    if (done_.exchange(true, std::memory_order_acq_rel)) return;
    if (ticket_ && breaker_) {
      breaker_->RecordFailure(*ticket_, system_->Now());
      ticket_.reset();
    }
    target_
        .Forward(Failure(PipeFailure::Cause::kTimedOut,
                         TimeoutError("piped task did not finish within " + DurationText(timeout))),
                 sender_)
        .IgnoreError();
  }

 private:
  SystemImpl* system_;  // kept alive by target_
  PID target_;
  PID sender_;
  std::shared_ptr<CircuitBreaker> breaker_;
  std::optional<CircuitBreaker::Ticket> ticket_;  // touched only by the winner of done_
  uint64_t timer_id_ = 0;
  std::atomic<bool> done_{false};
};

class PipeJob final : public BlockingJob {
 public:
  PipeJob(std::shared_ptr<PipeCall> call, std::unique_ptr<PipeTask> task)
      : call_(std::move(call)), task_(std::move(task)) {}

  void Run() override {
    Result<Message> r = Status(StatusCode::kInternal, "unset");
    std::exception_ptr ex;
    try {
      r = task_->Run();
    } catch (...) {
      ex = std::current_exception();
    }
    task_.reset();  // the task's captures go before the result is delivered
    if (ex) {
      call_->Complete(
          Failure(PipeFailure::Cause::kTaskFailed,
                  Status(StatusCode::kActorFailed, "piped task threw: " + DescribeError(ex)), ex),
          false, true);
    } else if (!r.ok()) {
      call_->Complete(Failure(PipeFailure::Cause::kTaskFailed, r.status()), false, true);
    } else if (r->empty()) {
      call_->Complete(Failure(PipeFailure::Cause::kTaskFailed,
                              InvalidArgumentError("piped task returned an empty message")),
                      false, true);
    } else {
      call_->Complete(std::move(r).value(), true, true);
    }
  }

 private:
  std::shared_ptr<PipeCall> call_;
  std::unique_ptr<PipeTask> task_;
};

}  // namespace

Status StartPipe(ActorSystem& system, const PID& to, std::unique_ptr<PipeTask> task,
                 PipeOptions options) {
  SystemImpl& sys = internal::ImplOf(system);
  if (!to) return NotFoundError("PipeTo an empty PID");
  if (internal::CellOf(to)->system() != &sys) {
    return InvalidArgumentError("PipeTo target " + to.Address() +
                                " belongs to another actor system");
  }
  if (options.timeout < Duration::zero()) {
    return InvalidArgumentError("PipeTo timeout must be >= 0 (0: none)");
  }
  if (sys.state() == SystemImpl::State::kNew) {
    return FailedPreconditionError("actor system " + sys.options().name + " is not started");
  }
  if (sys.state() != SystemImpl::State::kRunning) {
    return SystemStoppedError("actor system " + sys.options().name + " is stopping");
  }
  auto call =
      std::make_shared<PipeCall>(&sys, to, std::move(options.sender), options.circuit_breaker);
  if (options.circuit_breaker) {
    std::optional<CircuitBreaker::Ticket> ticket = options.circuit_breaker->TryAcquire(sys.Now());
    if (!ticket) {
      call->Complete(Failure(PipeFailure::Cause::kCircuitOpen,
                             Status(StatusCode::kResourceExhausted,
                                    "circuit breaker is open; the task did not run")),
                     false, false);
      return Status();
    }
    call->set_ticket(*ticket);
  }
  if (options.timeout > Duration::zero()) {
    Duration timeout = options.timeout;
    call->set_timer(
        sys.timers().Schedule(sys.Now() + timeout, [call, timeout] { call->TimeOut(timeout); }));
  }
  std::unique_ptr<BlockingJob> job = std::make_unique<PipeJob>(call, std::move(task));
  if (Status s = sys.blocking_pool().Submit(job); !s.ok()) {
    job.reset();
    call->Complete(Failure(PipeFailure::Cause::kRejected, std::move(s)), false, false);
  }
  return Status();
}

}  // namespace internal

Status ConfigureBlockingPool(ActorSystem& system, BlockingPoolOptions options) {
  return internal::ImplOf(system).blocking_pool().Configure(options);
}

}  // namespace akt
