// Hooks between the actor runtime and the remoting layer that must cost
// nothing when remoting is not in use: one thread-local load each.
#pragma once

#include <cstdint>
#include <vector>

namespace akt::internal {

class ActorCell;
struct EnvelopeMeta;

// Work the current thread deferred to the end of the actor turn it runs
// (remote writes: every frame an actor sends in one turn goes out in one
// write). Any layer may ask for it; each function asked for runs once, in the
// order asked, when the outermost turn (or DeferWrites scope) ends.
using TurnEndFn = void (*)();
void AtTurnEnd(TurnEndFn f);
extern thread_local int t_turn_end_count;
void RunTurnEndSlow();
inline void RunTurnEnd() {
  if (t_turn_end_count != 0) RunTurnEndSlow();
}

// While set, cells made runnable from this (non-worker) thread are collected
// here instead of going to their dispatcher: a remoting I/O thread runs the
// turns itself, which saves a thread wake-up per remote message.
extern thread_local std::vector<ActorCell*>* t_inline_runs;

// The remote metadata of the message being handled on this thread, or null.
extern thread_local const EnvelopeMeta* t_current_meta;

// The deadline (SteadyNowNs clock) of the request being posted on this
// thread, 0 when none: set around PostUser by Ask, BatchAsk and Request so
// the remoting layer can send the caller's remaining time along.
extern thread_local int64_t t_send_deadline_ns;

// While > 0, remote writes from this thread wait for the end of the scope
// (BatchTell / BatchAsk send their whole batch in one write).
extern thread_local int t_defer_depth;
// Out of line (actor_cell.cc, next to t_defer_depth): GCC's UBSan reports a
// null load when a binary outside libakt inlines the access to this
// extern thread_local (the connection fuzz harness did).
struct DeferWrites {
  DeferWrites();
  ~DeferWrites();
  DeferWrites(const DeferWrites&) = delete;
  DeferWrites& operator=(const DeferWrites&) = delete;
};
struct SendDeadline {
  explicit SendDeadline(int64_t ns) : saved(t_send_deadline_ns) { t_send_deadline_ns = ns; }
  ~SendDeadline() { t_send_deadline_ns = saved; }
  int64_t saved;
};

}  // namespace akt::internal
