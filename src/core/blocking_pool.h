// The system's pool for blocking work (PipeTo tasks), so a task that waits on
// I/O never holds a dispatcher worker. Threads start one by one as work
// arrives, up to a bound, and live until Stop; until the first task the pool
// costs nothing but this object.
#pragma once

#include <memory>
#include <thread>
#include <vector>

#include "akt/fwd.h"
#include "akt/pipe_to.h"
#include "akt/status.h"

namespace akt::internal {

class BlockingJob {
 public:
  virtual ~BlockingJob() = default;
  // Runs on a pool thread; must not throw.
  virtual void Run() = 0;
};

class BlockingPool {
 public:
  BlockingPool();
  ~BlockingPool();  // Stop(0)
  BlockingPool(const BlockingPool&) = delete;
  BlockingPool& operator=(const BlockingPool&) = delete;

  // kFailedPrecondition once a thread has started; kInvalidArgument for
  // max_threads < 1.
  Status Configure(const BlockingPoolOptions& options);
  // Queues `job` (moved from on success). kResourceExhausted when the queue is
  // full, kSystemStopped after Stop; `job` is then left with the caller.
  Status Submit(std::unique_ptr<BlockingJob>& job);
  // Refuses new jobs, destroys the queued ones without running them, and
  // waits up to `grace` for the running ones. Threads still running then are
  // detached (they keep the pool's shared state alive); returns false in that
  // case. Callable from a pool thread (it does not wait for itself).
  bool Stop(Duration grace);

  int threads() const;
  std::size_t queued() const;
  bool stopping() const;

 private:
  struct Shared;
  static void Loop(std::shared_ptr<Shared> shared);

  std::shared_ptr<Shared> shared_;
  std::vector<std::thread> threads_;  // guarded by shared_->mu
};

}  // namespace akt::internal
