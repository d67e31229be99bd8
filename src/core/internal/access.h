// The layers' way to what is behind the public handles: a PID's cell, a
// system's implementation, the envelope of the message a turn handles. Not
// installed and not on a user's include path: the public headers only name
// `internal::Access` as a friend.
#pragma once

#include <akt/context.h>
#include <akt/pid.h>
#include <akt/system.h>

namespace akt::internal {

class ActorCell;
class SystemImpl;
struct Envelope;

struct Access {
  static PID Adopt(ActorCell* cell) {
    PID p;
    p.cell_ = cell;
    return p;
  }
  static ActorCell* Cell(const PID& pid) { return pid.cell_; }
  static SystemImpl& Impl(const ActorSystem& system) { return *system.impl_; }
  static Envelope* EnvelopeOf(const ReceiveContext& ctx) { return ctx.env_; }
  static bool Unhandled(const ReceiveContext& ctx) { return ctx.unhandled_; }
  static bool Stashed(const ReceiveContext& ctx) { return ctx.stashed_; }
};

// A PID that adopts one reference to `cell` (the caller's).
inline PID AdoptCell(ActorCell* cell) { return Access::Adopt(cell); }
// The cell a PID refers to (null for an empty PID). Borrowed: no reference.
inline ActorCell* CellOf(const PID& pid) { return Access::Cell(pid); }
inline SystemImpl& ImplOf(const ActorSystem& system) { return Access::Impl(system); }
// The envelope of the message `ctx`'s turn handles (null outside a message).
inline Envelope* EnvelopeOf(const ReceiveContext& ctx) { return Access::EnvelopeOf(ctx); }

}  // namespace akt::internal
