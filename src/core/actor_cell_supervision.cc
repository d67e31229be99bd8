// ActorCell: what happens when a turn throws: the supervisor's directive
// (resume, restart with backoff, stop, escalate), suspension and reinstatement.
#include <algorithm>

#include "actor_cell.h"
#include "akt/messages.h"
#include "cycle_clock.h"
#include "internal/access.h"
#include "system_impl.h"
#include "turn_hooks.h"

namespace akt::internal {

void ActorCell::HandleFailure(std::exception_ptr error, Envelope* request,
                              ActorCell* escalating_child) {
  failures_.fetch_add(1, std::memory_order_relaxed);
  system_->OnFailure();
  std::string what = DescribeError(error);
  if (request != nullptr && request->expects_reply()) {
    // ctx.Err(s) answers with s itself (as a grain's does); an exception
    // that is not an ActorError is kActorFailed.
    Status answer(StatusCode::kActorFailed, "actor " + name_ + " failed: " + what);
    try {
      std::rethrow_exception(error);
    } catch (const ActorError& e) {
      if (!e.status().ok()) answer = e.status();
    } catch (...) {
    }
    FailReply(request, answer);
  }
  if (system_->logger().Enabled(LogLevel::kWarn)) {
    system_->logger().Log(LogLevel::kWarn, "actor " + name_ + " failed: " + what);
  }
  std::optional<Directive> d = supervisor().Decide(error);
  if (!d) {
    Suspend("no supervisor rule for: " + what);
    return;
  }
  ApplyDirective(*d, error, escalating_child);
}

void ActorCell::ApplyDirective(Directive d, const std::exception_ptr& error,
                               ActorCell* escalating_child) {
  const Supervisor& sup = supervisor();
  switch (d) {
    case Directive::kResume:
      if (escalating_child != nullptr) escalating_child->PostSystem(SysKind::kReinstate);
      return;
    case Directive::kStop:
      if (ApplyToSiblings(sup, Directive::kStop)) return;
      BeginStop();
      return;
    case Directive::kRestart: {
      Extra& x = extra();
      TimePoint now = system_->Now();
      if (sup.max_retries() >= 0) {
        if (x.failures_in_window == 0 || now - x.window_start > sup.window()) {
          x.window_start = now;
          x.failures_in_window = 0;
          x.consecutive_restarts = 0;  // a quiet window resets the backoff
        }
        if (++x.failures_in_window > sup.max_retries()) {
          system_->logger().Log(LogLevel::kWarn,
                                "actor " + name_ + " exceeded its restart limit; stopping");
          BeginStop();
          return;
        }
      }
      if (ApplyToSiblings(sup, Directive::kRestart)) return;
      Duration delay{0};
      if (sup.backoff_initial().count() > 0) {
        delay = sup.backoff_initial();
        for (int i = 0; i < x.consecutive_restarts && delay < sup.backoff_max(); ++i) delay *= 2;
        delay = std::min(delay, std::max(sup.backoff_max(), sup.backoff_initial()));
      }
      x.consecutive_restarts++;
      if (delay.count() > 0) {
        life_.store(Life::kRestarting, std::memory_order_release);
        PID self = self_;
        uint64_t epoch = ++x.restart_epoch;
        system_->timers().Schedule(system_->Now() + delay, [self, epoch] {
          if (ActorCell* c = internal::CellOf(self)) {
            Envelope* e = NewEnvelope();
            e->sys = SysKind::kRestart;
            e->request_id = epoch;
            c->PostSystem(e);
          }
        });
        return;
      }
      BeginRestart();
      return;
    }
    case Directive::kEscalate:
      life_.store(Life::kSuspended, std::memory_order_release);
      if (parent_ != nullptr) {
        Envelope* e = NewEnvelope();
        e->sys = SysKind::kFailure;
        e->msg = error;
        AddRef();
        e->sender = this;
        parent_->PostSystem(e);
      } else {
        BeginStop();
      }
      return;
  }
}

bool ActorCell::ApplyToSiblings(const Supervisor& sup, Directive d) {
  if (sup.strategy() != Strategy::kOneForAll || parent_ == nullptr) return false;
  Envelope* e = NewEnvelope();
  e->sys = SysKind::kApplyToChildren;
  e->msg = d;
  parent_->PostSystem(e);
  life_.store(Life::kSuspended, std::memory_order_release);
  return true;
}

void ActorCell::Suspend(const std::string& reason) {
  life_.store(Life::kSuspended, std::memory_order_release);
  UnparkWaiters();
  system_->events().Publish(ActorSuspended{self_, reason});
}

void ActorCell::Reinstate() {
  life_.store(Life::kRunning, std::memory_order_release);
  system_->events().Publish(ActorReinstated{self_});
  Extra* x = extra_.load(std::memory_order_acquire);
  if (x != nullptr && !x->deferred.empty()) {
    std::vector<Envelope*> deferred;
    deferred.swap(x->deferred);
    for (Envelope* e : deferred) HandleSystem(e);
  }
}

}  // namespace akt::internal
