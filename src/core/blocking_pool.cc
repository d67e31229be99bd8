#include "blocking_pool.h"

#include <condition_variable>
#include <deque>
#include <mutex>
#include <system_error>

namespace akt::internal {

struct BlockingPool::Shared {
  mutable std::mutex mu;
  std::condition_variable work_cv;
  std::condition_variable exit_cv;
  std::deque<std::unique_ptr<BlockingJob>> queue;
  BlockingPoolOptions options;
  int threads = 0;  // started
  int live = 0;     // started and not yet out of Loop
  int waiting = 0;  // blocked in work_cv
  bool stopping = false;
};

namespace {
thread_local const void* t_pool = nullptr;  // the pool whose thread this is
}  // namespace

BlockingPool::BlockingPool() : shared_(std::make_shared<Shared>()) {}

BlockingPool::~BlockingPool() { Stop(Duration::zero()); }

Status BlockingPool::Configure(const BlockingPoolOptions& options) {
  if (options.max_threads < 1) {
    return InvalidArgumentError("blocking pool max_threads must be >= 1");
  }
  std::lock_guard<std::mutex> lock(shared_->mu);
  if (shared_->stopping) return FailedPreconditionError("the blocking pool has stopped");
  if (shared_->threads > 0) {
    return FailedPreconditionError(
        "the blocking pool is already in use; configure it before the first PipeTo");
  }
  shared_->options = options;
  return Status();
}

Status BlockingPool::Submit(std::unique_ptr<BlockingJob>& job) {
  std::lock_guard<std::mutex> lock(shared_->mu);
  Shared& s = *shared_;
  if (s.stopping) return SystemStoppedError("the blocking pool has stopped");
  // Jobs the idle and not yet started threads will take at once, plus the
  // configured queue.
  std::size_t takers = static_cast<std::size_t>(s.waiting) +
                       static_cast<std::size_t>(s.options.max_threads - s.threads);
  if (s.options.max_queued > 0 && s.queue.size() >= takers + s.options.max_queued) {
    return Status(StatusCode::kResourceExhausted,
                  "the blocking pool's queue is full (" + std::to_string(s.options.max_queued) +
                      " tasks wait for " + std::to_string(s.options.max_threads) + " threads)");
  }
  s.queue.push_back(std::move(job));
  if (static_cast<std::size_t>(s.waiting) >= s.queue.size() || s.threads >= s.options.max_threads) {
    s.work_cv.notify_one();
    return Status();
  }
  try {
    threads_.emplace_back(&BlockingPool::Loop, shared_);
  } catch (const std::system_error&) {
    if (s.threads == 0) {
      job = std::move(s.queue.back());
      s.queue.pop_back();
      return Status(StatusCode::kResourceExhausted, "cannot start a blocking pool thread");
    }
    return Status();  // a running thread will take it
  }
  ++s.threads;
  ++s.live;
  return Status();
}

void BlockingPool::Loop(std::shared_ptr<Shared> shared) {
  t_pool = shared.get();
  Shared& s = *shared;
  std::unique_lock<std::mutex> lock(s.mu);
  while (true) {
    if (!s.queue.empty()) {
      std::unique_ptr<BlockingJob> job = std::move(s.queue.front());
      s.queue.pop_front();
      lock.unlock();
      job->Run();
      job.reset();  // outside the lock: it may release actors
      lock.lock();
      continue;
    }
    if (s.stopping) break;
    ++s.waiting;
    s.work_cv.wait(lock);
    --s.waiting;
  }
  --s.live;
  s.exit_cv.notify_all();
}

bool BlockingPool::Stop(Duration grace) {
  Shared& s = *shared_;
  std::deque<std::unique_ptr<BlockingJob>> dropped;
  {
    std::lock_guard<std::mutex> lock(s.mu);
    s.stopping = true;
    dropped.swap(s.queue);
    s.work_cv.notify_all();
  }
  dropped.clear();  // outside the lock: destroying a job may release actors
  bool on_pool_thread = t_pool == shared_.get();
  std::vector<std::thread> threads;
  bool all_exited;
  {
    std::unique_lock<std::mutex> lock(s.mu);
    int self = on_pool_thread ? 1 : 0;
    all_exited = s.exit_cv.wait_for(lock, grace, [&] { return s.live <= self; });
    threads.swap(threads_);
  }
  for (std::thread& t : threads) {
    if (all_exited && t.get_id() != std::this_thread::get_id()) {
      t.join();
    } else {
      t.detach();
    }
  }
  return all_exited;
}

int BlockingPool::threads() const {
  std::lock_guard<std::mutex> lock(shared_->mu);
  return shared_->threads;
}

std::size_t BlockingPool::queued() const {
  std::lock_guard<std::mutex> lock(shared_->mu);
  return shared_->queue.size();
}

bool BlockingPool::stopping() const {
  std::lock_guard<std::mutex> lock(shared_->mu);
  return shared_->stopping;
}

}  // namespace akt::internal
