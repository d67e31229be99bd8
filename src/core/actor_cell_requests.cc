// ActorCell: answers (Reply, FailReply) and non-blocking requests
// (Request ... Then): the pending table, its one armed timer, the replies
// that come back as system messages.
#include <algorithm>

#include "actor_cell.h"
#include "akt/messages.h"
#include "cycle_clock.h"
#include "internal/access.h"
#include "system_impl.h"
#include "turn_hooks.h"

namespace akt::internal {

Status ActorCell::ReplyTo(Envelope* request, Message&& reply, ActorCell* replier) {
  switch (request->reply_kind) {
    case ReplyKind::kSlot: {
      ReplySlot* slot = request->slot;
      request->reply_kind = ReplyKind::kAnswered;
      if (!slot->Complete(std::move(reply))) {
        // The asker gave up (timeout) or was failed: a late reply.
        Envelope* late = NewEnvelope();
        late->msg = std::move(reply);
        if (replier != nullptr) {
          replier->AddRef();
          late->sender = replier;
        }
        SystemImpl* sys = replier != nullptr ? replier->system_ : nullptr;
        if (sys != nullptr) {
          sys->DeadLetter(late, DeadLetterReason::kAskTimedOut, nullptr, "<asker>");
        } else {
          FreeEnvelope(late);
        }
      }
      slot->Release();
      return Status();
    }
    case ReplyKind::kRequest: {
      ActorCell* requester = request->requester;
      request->reply_kind = ReplyKind::kAnswered;
      Envelope* r = NewEnvelope();
      r->sys = SysKind::kRequestReply;
      r->request_id = request->request_id;
      r->msg = std::move(reply);
      if (replier != nullptr) {
        replier->AddRef();
        r->sender = replier;
      }
      requester->PostSystem(r);
      requester->Release();
      return Status();
    }
    case ReplyKind::kRoute: {
      ReplyRoute* route = request->route;
      request->reply_kind = ReplyKind::kAnswered;
      route->Reply(request->request_id, std::move(reply));
      route->Release();
      return Status();
    }
    case ReplyKind::kNone:
    case ReplyKind::kAnswered:
      break;
  }
  return FailedPreconditionError("nobody is waiting for a reply to this message");
}

void ActorCell::FailReply(Envelope* request, Status error) {
  switch (request->reply_kind) {
    case ReplyKind::kSlot:
      request->slot->Fail(std::move(error));
      request->slot->Release();
      break;
    case ReplyKind::kRequest: {
      Envelope* r = NewEnvelope();
      r->sys = SysKind::kRequestReply;
      r->request_id = request->request_id;
      r->is_error = true;
      r->msg = std::move(error);
      request->requester->PostSystem(r);
      request->requester->Release();
      break;
    }
    case ReplyKind::kRoute:
      request->route->Fail(request->request_id, error);
      request->route->Release();
      break;
    case ReplyKind::kNone:
    case ReplyKind::kAnswered:
      return;
  }
  request->reply_kind = ReplyKind::kAnswered;
}

Status ActorCell::Reply(Envelope* request, Message&& reply) {
  if (request->expects_reply()) return ReplyTo(request, std::move(reply), this);
  if (request->reply_kind == ReplyKind::kAnswered) {
    return FailedPreconditionError("this request was already answered");
  }
  if (request->sender != nullptr) {
    Envelope* out = NewEnvelope();
    out->msg = std::move(reply);
    AddRef();
    out->sender = this;
    return request->sender->PostUser(out);
  }
  return FailedPreconditionError("nobody to reply to: the message has no sender and no asker");
}

void ActorCell::StartRequest(PID to, Message msg, Duration timeout, RequestCallback callback,
                             const ReentrancyMode* mode_override) {
  Extra& x = extra();
  ReentrancyMode mode = mode_override != nullptr ? *mode_override : tuning().reentrancy.mode;
  uint64_t id = ++x.next_request_id;
  TimePoint deadline = system_->Now() + timeout;
  Status refused;
  if (timeout <= Duration::zero()) {
    refused = InvalidArgumentError("request needs a positive timeout");  // as Ask
  } else if (mode == ReentrancyMode::kOff) {
    refused = FailedPreconditionError("reentrancy is off for actor " + name_ +
                                      ": Request is not allowed");
  } else if (tuning().reentrancy.max_in_flight > 0 &&
             x.requests_in_flight >= tuning().reentrancy.max_in_flight) {
    refused = Status(StatusCode::kResourceExhausted, "actor " + name_ + " already has " +
                                                         std::to_string(x.requests_in_flight) +
                                                         " requests in flight (the maximum)");
  }
  bool blocking = mode == ReentrancyMode::kStashNonReentrant && refused.ok();
  x.requests.push_back({id, deadline, std::move(callback), blocking});
  x.requests_in_flight++;
  if (blocking) x.blocking_requests++;
  if (!refused.ok()) {
    // The continuation learns it on a later turn, like any other reply.
    Envelope* r = NewEnvelope();
    r->sys = SysKind::kRequestReply;
    r->request_id = id;
    r->is_error = true;
    r->msg = std::move(refused);
    PostSystem(r);
    return;
  }
  Envelope* e = NewEnvelope();
  e->msg = std::move(msg);
  AddRef();
  e->sender = this;
  AddRef();
  e->requester = this;
  e->reply_kind = ReplyKind::kRequest;
  e->request_id = id;
  if (internal::CellOf(to) == nullptr) {
    system_->DeadLetter(e, DeadLetterReason::kNoSuchActor, nullptr, "<empty PID>");
  } else {
    SendDeadline d(internal::CellOf(to)->is_remote() ? system_->NowNs() + ToNs(timeout) : 0);
    internal::CellOf(to)->PostUser(e).IgnoreError();  // a failure comes back as an error reply
  }
  if (deadline < x.armed_deadline) ArmRequestTimer(deadline);
}

void ActorCell::CompleteRequest(PendingRequest& r) {
  Extra& x = extra();
  r.callback = nullptr;
  x.requests_in_flight--;
  if (r.blocking) {
    r.blocking = false;
    if (--x.blocking_requests == 0) ReleaseReentrancyStash();
  }
}

void ActorCell::ReleaseReentrancyStash() {
  Extra& x = extra();
  // Held messages go first, in arrival order, ahead of anything unstashed.
  while (!x.reentrancy_stash.empty()) {
    x.front.push_front(x.reentrancy_stash.back());
    x.reentrancy_stash.pop_back();
  }
}

void ActorCell::ArmRequestTimer(TimePoint deadline) {
  Extra& x = extra();
  x.armed_deadline = deadline;
  PID self = self_;
  system_->timers().Schedule(deadline, [self] {
    if (ActorCell* c = internal::CellOf(self)) c->PostSystem(SysKind::kRequestCheck);
  });
}

void ActorCell::RunRequestReply(Envelope* e) {
  Extra& x = extra();
  auto it = std::lower_bound(x.requests.begin(), x.requests.end(), e->request_id,
                             [](const PendingRequest& r, uint64_t id) { return r.id < id; });
  if (it == x.requests.end() || it->id != e->request_id || !it->callback) {
    // Its deadline passed already: the reply is late.
    if (e->is_error) {
      FreeEnvelope(e);
    } else {
      system_->DeadLetter(e, DeadLetterReason::kAskTimedOut, this, name_);
    }
    return;
  }
  RequestCallback cb = std::move(it->callback);
  CompleteRequest(*it);
  while (!x.requests.empty() && !x.requests.front().callback) x.requests.pop_front();
  ReceiveContext ctx(this, e);
  try {
    if (e->is_error) {
      Status s = std::move(*e->msg.As<Status>());
      cb(ctx, Result<Message>(std::move(s)));
    } else {
      cb(ctx, Result<Message>(std::move(e->msg)));
    }
  } catch (...) {
    pending_error_ = std::current_exception();
  }
  if (pending_error_) {
    std::exception_ptr error = std::move(pending_error_);
    pending_error_ = nullptr;
    HandleFailure(std::move(error), nullptr, nullptr);
  }
  FreeEnvelope(e);
}

void ActorCell::CheckRequestDeadlines() {
  Extra& x = extra();
  x.armed_deadline = TimePoint::max();
  TimePoint now = system_->Now();
  TimePoint earliest = TimePoint::max();
  // Collect first: a callback may start new requests (which appends).
  std::vector<std::pair<RequestCallback, bool>> expired;
  for (PendingRequest& r : x.requests) {
    if (!r.callback) continue;
    if (r.deadline <= now) {
      expired.emplace_back(std::move(r.callback), r.blocking);
      CompleteRequest(r);
    } else {
      earliest = std::min(earliest, r.deadline);
    }
  }
  while (!x.requests.empty() && !x.requests.front().callback) x.requests.pop_front();
  if (earliest != TimePoint::max()) ArmRequestTimer(earliest);
  for (auto& [cb, blocking] : expired) {
    if (life() != Life::kRunning) return;
    Envelope* e = NewEnvelope();
    ReceiveContext ctx(this, e);
    try {
      cb(ctx, Result<Message>(TimeoutError(
                  blocking ? "request timed out (reentrancy kStashNonReentrant: other messages, "
                             "including calls back to this actor, waited for the reply)"
                           : "request timed out")));
    } catch (...) {
      pending_error_ = std::current_exception();
    }
    FreeEnvelope(e);
    if (pending_error_) {
      std::exception_ptr error = std::move(pending_error_);
      pending_error_ = nullptr;
      HandleFailure(std::move(error), nullptr, nullptr);
    }
  }
}

}  // namespace akt::internal
