// akt/actor.h — the base class of every actor.
//
// An actor is an object whose state only its own Receive touches; akt runs
// Receive on one worker at a time, one message at a time, so the state needs
// no locks.
//
// doc-test: context=headers
//   class Counter : public akt::Actor {
//    public:
//     void Receive(akt::ReceiveContext& ctx) override {
//       ctx.Match([&](const Add& a) { total_ += a.n; },
//                 [&](const Get&) { ctx.Reply(total_).IgnoreError(); });
//     }
//    private:
//     int64_t total_ = 0;
//   };
#pragma once

#include "akt/context.h"
#include "akt/status.h"

namespace akt {

class Actor {
 public:
  virtual ~Actor() = default;

  // Runs before the first message (and after each restart, on the new
  // instance). Spawn returns kActorFailed when it fails at first start; on a
  // restart, a failure (error status or exception) goes to the supervisor.
  virtual Status PreStart(Context& ctx) {
    (void)ctx;
    return Status();
  }
  // Handles one message. An exception escaping it is caught and supervised.
  virtual void Receive(ReceiveContext& ctx) = 0;
  // Runs once when the actor stops (after its children stopped), and on the
  // old instance before a restart. An error is logged.
  virtual Status PostStop(Context& ctx) {
    (void)ctx;
    return Status();
  }
};

}  // namespace akt
