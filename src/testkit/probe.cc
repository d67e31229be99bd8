// TestProbe: an actor that queues what it receives for a test thread that
// waits on it with deadlines.
#include <condition_variable>
#include <deque>
#include <mutex>

#include "akt/actor.h"
#include "akt/context.h"
#include "akt/messages.h"
#include "akt/system.h"
#include "akt/testkit.h"
#include "internal/access.h"
#include "system_impl.h"

namespace akt::testkit {
namespace {

// The one place the testkit reaches into the runtime. On the deterministic
// fixture nothing runs unless the waiting thread runs it, and time is
// virtual: waiting means running one actor turn at a time, or moving the
// clock to the next timer (or to the deadline), as a blocking Ask does there.
bool Deterministic(ActorSystem& system) { return system.options().deterministic; }
TimePoint Now(ActorSystem& system) {
  return Deterministic(system) ? internal::ImplOf(system).Now() : Clock::now();
}
// One step towards `deadline`; false when nothing can happen before it (the
// virtual clock then stands at the deadline).
bool PumpOnce(ActorSystem& system, TimePoint deadline) {
  return internal::ImplOf(system).PumpUntil(deadline);
}

std::string FormatDuration(Duration d) {
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(d).count();
  if (us % 1000 == 0) return std::to_string(us / 1000) + "ms";
  return std::to_string(us) + "us";
}

struct Received {
  Message msg;
  PID sender;
  PendingReply reply;
};

// Shared by the probe object (the test thread) and its actor (a worker).
struct Inbox {
  std::mutex mu;
  std::condition_variable cv;
  std::deque<Received> queue;
};

// Sent by the probe object to its own actor; answered once done.
struct WatchCommand {
  PID target;
  bool watch;
};

class ProbeActor final : public Actor {
 public:
  explicit ProbeActor(std::shared_ptr<Inbox> inbox) : inbox_(std::move(inbox)) {}

  void Receive(ReceiveContext& ctx) override {
    if (const WatchCommand* w = ctx.As<WatchCommand>()) {
      if (w->watch) {
        ctx.Watch(w->target);
      } else {
        ctx.Unwatch(w->target);
      }
      ctx.Reply(true).IgnoreError();
      return;
    }
    Received r{std::move(ctx.message()), ctx.sender(), ctx.TakeReply()};
    {
      std::lock_guard<std::mutex> lock(inbox_->mu);
      inbox_->queue.push_back(std::move(r));
    }
    inbox_->cv.notify_all();
  }

 private:
  std::shared_ptr<Inbox> inbox_;
};

}  // namespace

struct TestProbe::Impl {
  ActorSystem* system;
  std::shared_ptr<Inbox> inbox = std::make_shared<Inbox>();
  Status status;
  PID pid;
  std::string name;  // for failure messages
  PID last_sender;
  PendingReply last_reply;
};

TestProbe::TestProbe(ActorSystem& system, std::string name) : impl_(std::make_unique<Impl>()) {
  impl_->system = &system;
  std::shared_ptr<Inbox> inbox = impl_->inbox;
  Result<PID> pid =
      system.Spawn(std::move(name), [inbox] { return std::make_unique<ProbeActor>(inbox); });
  if (pid.ok()) {
    impl_->pid = std::move(*pid);
    impl_->name = std::string(impl_->pid.Name());
  } else {
    impl_->status = Status(pid.status().code(),
                           "the test probe could not be spawned: " + pid.status().ToString());
    impl_->name = "<not spawned>";
  }
}

TestProbe::~TestProbe() {
  if (impl_ == nullptr) return;
  if (impl_->pid) impl_->pid.Stop();
  std::lock_guard<std::mutex> lock(impl_->inbox->mu);
  impl_->inbox->queue.clear();
}

TestProbe::TestProbe(TestProbe&&) noexcept = default;
TestProbe& TestProbe::operator=(TestProbe&& o) noexcept {
  if (this != &o) {
    if (impl_ != nullptr && impl_->pid) impl_->pid.Stop();
    impl_ = std::move(o.impl_);
  }
  return *this;
}

const Status& TestProbe::status() const { return impl_->status; }
const PID& TestProbe::pid() const { return impl_->pid; }
const PID& TestProbe::LastSender() const { return impl_->last_sender; }

Result<Message> TestProbe::Next(Duration min, Duration max, std::string_view wanted) {
  Impl& p = *impl_;
  if (!p.status.ok()) return p.status;
  ActorSystem& system = *p.system;
  Inbox& inbox = *p.inbox;
  const TimePoint start = Now(system);
  const TimePoint deadline = start + max;
  std::unique_lock<std::mutex> lock(inbox.mu);
  if (Deterministic(system)) {
    while (inbox.queue.empty()) {
      lock.unlock();
      bool progressed = PumpOnce(system, deadline);
      lock.lock();
      if (!progressed) break;
    }
  } else {
    inbox.cv.wait_until(lock, deadline, [&] { return !inbox.queue.empty(); });
  }
  if (inbox.queue.empty()) {
    return TimeoutError("probe " + p.name + ": expected " + std::string(wanted) + " within " +
                        FormatDuration(max) + ", but no message arrived");
  }
  Received r = std::move(inbox.queue.front());
  inbox.queue.pop_front();
  lock.unlock();
  const Duration took = Now(system) - start;
  p.last_sender = std::move(r.sender);
  p.last_reply = std::move(r.reply);
  if (took < min) {
    return FailedPreconditionError("probe " + p.name + ": expected " + std::string(wanted) +
                                   " no sooner than " + FormatDuration(min) + ", but " +
                                   std::string(r.msg.TypeName()) + " arrived after " +
                                   FormatDuration(took));
  }
  return std::move(r.msg);
}

Status TestProbe::WrongType(std::string_view wanted, const Message& got) const {
  return Status(StatusCode::kTypeMismatch, "probe " + impl_->name + ": expected " +
                                               std::string(wanted) + ", got " +
                                               std::string(got.TypeName()));
}

Status TestProbe::WrongValue(const std::string& expected, const std::string& got) const {
  return FailedPreconditionError("probe " + impl_->name + ": expected " + expected + ", got " +
                                 got);
}

Result<Message> TestProbe::ExpectAnyMessage(Duration timeout) {
  return Next(Duration::zero(), timeout, "a message");
}

Result<Message> TestProbe::ExpectMessageWithin(Duration min, Duration max) {
  return Next(min, max, "a message");
}

Status TestProbe::ExpectNoMessage(Duration duration) {
  Result<Message> m = Next(Duration::zero(), duration, "no message");
  if (!m.ok()) {
    return m.status().code() == StatusCode::kTimeout ? Status() : m.status();
  }
  return FailedPreconditionError("probe " + impl_->name + ": expected no message for " +
                                 FormatDuration(duration) + ", got " + std::string(m->TypeName()));
}

Status TestProbe::ExpectTerminated(const PID& actor, Duration timeout) {
  if (Status s = Watch(actor); !s.ok()) return s;
  const std::string wanted = "Terminated of " + std::string(actor.Name());
  Result<Message> m = Next(Duration::zero(), timeout, wanted);
  if (!m.ok()) return m.status();
  const Terminated* t = m->As<Terminated>();
  if (t == nullptr) return WrongType(wanted, *m);
  if (t->actor != actor) {
    return FailedPreconditionError("probe " + impl_->name + ": expected " + wanted +
                                   ", got Terminated of " + std::string(t->actor.Name()));
  }
  return Status();
}

Status TestProbe::Send(const PID& to, Message msg) {
  if (!impl_->status.ok()) return impl_->status;
  return to.Forward(std::move(msg), impl_->pid);
}

Status TestProbe::Reply(Message reply) {
  if (!impl_->last_reply.valid()) {
    return FailedPreconditionError("probe " + impl_->name +
                                   ": the last message taken has nobody to answer");
  }
  return impl_->last_reply.Reply(std::move(reply));
}

namespace {
Status WatchCall(const PID& probe, const Status& status, const PID& actor, bool watch) {
  if (!status.ok()) return status;
  if (!actor) return NotFoundError("watch of an empty PID");
  // An Ask, so the watch is in place when this returns (on the
  // deterministic fixture the Ask runs the probe's actor itself).
  Result<Message> r = probe.Ask(WatchCommand{actor, watch}, std::chrono::seconds(10));
  return r.ok() ? Status() : r.status();
}
}  // namespace

Status TestProbe::Watch(const PID& actor) {
  return WatchCall(impl_->pid, impl_->status, actor, true);
}

Status TestProbe::Unwatch(const PID& actor) {
  return WatchCall(impl_->pid, impl_->status, actor, false);
}

}  // namespace akt::testkit
