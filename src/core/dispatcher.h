// Runs actor turns. An actor is submitted when its mailbox goes from idle to
// non-empty (exactly once, guarded by the cell's scheduled flag) and runs one
// turn on one thread at a time.
#pragma once

#include <cstddef>
#include <memory>

#include "akt/fwd.h"

namespace akt::internal {

class ActorCell;

class Dispatcher {
 public:
  virtual ~Dispatcher() = default;
  virtual void Start() = 0;
  // Stops accepting turns and joins the workers.
  virtual void Stop() = 0;
  // Makes `cell` runnable. The dispatcher owns one reference on it until the
  // turn ends (the cell's RunTurn releases it).
  virtual void Submit(ActorCell* cell) = 0;
  // As Submit, but never into the calling worker's next slot: for work that
  // should run in parallel with the caller (e.g. senders released from
  // backpressure), not right after it.
  virtual void SubmitSpread(ActorCell* cell) { Submit(cell); }
  // Deterministic dispatchers only: runs one turn; false if nothing was runnable.
  virtual bool RunOne() { return false; }
  virtual bool deterministic() const { return false; }
};

struct DispatcherOptions {
  int workers = 0;
  Duration idle_spin{};
};

std::unique_ptr<Dispatcher> MakeWorkStealingDispatcher(const DispatcherOptions& options);
std::unique_ptr<Dispatcher> MakeManualDispatcher();

// True on a worker thread of any work-stealing dispatcher.
bool OnWorkerThread();

}  // namespace akt::internal
