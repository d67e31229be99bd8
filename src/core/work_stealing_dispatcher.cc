// Fixed worker pool: per-worker run queues, a "next" slot for locality, work
// stealing, brief spinning before parking, and precise wake-ups (a parked
// worker is woken only when no worker is already spinning).
#include <algorithm>
#include <atomic>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

#include "actor_cell.h"
#include "cycle_clock.h"
#include "dispatcher.h"
#include "turn_hooks.h"
#include "futex.h"

namespace akt::internal {
namespace {

class WorkStealingDispatcher;

// Guards a worker's queue: held for a deque push or pop only, so a thief
// and the owner spin instead of sleeping in the kernel (with a mutex, a
// contended push parked the sender on a futex: 10 % of grain_tell's time).
class QueueLock {
 public:
  void lock() {
    for (int spins = 0; locked_.exchange(true, std::memory_order_acquire); ++spins) {
      while (locked_.load(std::memory_order_relaxed)) {
        if (++spins > 64) {
          std::this_thread::yield();
          spins = 0;
        } else {
          CpuRelax();
        }
      }
    }
  }
  void unlock() { locked_.store(false, std::memory_order_release); }

 private:
  std::atomic<bool> locked_{false};
};

struct Worker {
  int index = 0;
  QueueLock mu;
  std::deque<ActorCell*> queue;  // guarded by mu
  std::atomic<int> queue_size{0};
  // Runnable cell made ready by this worker's current turn; run next, on this
  // warm core. Others take it only when this worker is stuck in a long turn.
  std::atomic<ActorCell*> next{nullptr};
  // Odd while a turn runs; thieves see it unchanged when a turn is long.
  std::atomic<uint64_t> turn_seq{0};
  // Thief-side memory of when it first saw this worker's current turn.
  std::atomic<uint64_t> seen_seq{0};
  std::atomic<int64_t> seen_at_ns{0};
  std::atomic<uint32_t> parked{0};  // futex word: 1 while parked
  std::thread thread;
};

thread_local Worker* t_worker = nullptr;
thread_local WorkStealingDispatcher* t_dispatcher = nullptr;

class WorkStealingDispatcher final : public Dispatcher {
 public:
  explicit WorkStealingDispatcher(const DispatcherOptions& o) : options_(o) {
    int n = o.workers > 0 ? o.workers : static_cast<int>(std::thread::hardware_concurrency());
    if (n <= 0) n = 2;
    for (int i = 0; i < n; ++i) {
      workers_.push_back(std::make_unique<Worker>());
      workers_.back()->index = i;
    }
    max_spinning_ = std::max(1, n / 2);
    steal_after_ns_ = std::max<int64_t>(
        20000, std::chrono::duration_cast<std::chrono::nanoseconds>(o.idle_spin).count() / 2);
  }
  ~WorkStealingDispatcher() override { Stop(); }

  void Start() override {
    for (auto& w : workers_) {
      Worker* wp = w.get();
      w->thread = std::thread([this, wp] { Loop(wp); });
    }
  }

  void Stop() override {
    if (stopped_.exchange(true)) return;
    stopping_.store(true, std::memory_order_seq_cst);
    for (auto& w : workers_) {
      w->parked.store(0, std::memory_order_seq_cst);
      FutexWake(&w->parked, 1);
    }
    for (auto& w : workers_) {
      if (w->thread.joinable()) w->thread.join();
    }
    // Drop what is still queued (the system stopped every actor before this).
    for (auto& w : workers_) {
      if (ActorCell* c = w->next.exchange(nullptr)) c->AbandonTurn();
      for (ActorCell* c : w->queue) c->AbandonTurn();
      w->queue.clear();
    }
    for (ActorCell* c : global_) c->AbandonTurn();
    global_.clear();
  }

  void Submit(ActorCell* cell) override {
    Worker* w = t_worker;
    if (w != nullptr && t_dispatcher == this) {
      ActorCell* prev = w->next.exchange(cell, std::memory_order_acq_rel);
      if (prev == nullptr) return;  // this worker runs it right after its turn
      PushLocal(w, prev);
    } else if (t_inline_runs != nullptr && !cell->workers_only()) {
      t_inline_runs->push_back(cell);  // a remoting I/O thread runs it itself
      return;
    } else {
      {
        std::lock_guard<std::mutex> lock(global_mu_);
        global_.push_back(cell);
        global_size_.fetch_add(1, std::memory_order_relaxed);
      }
    }
    std::atomic_thread_fence(std::memory_order_seq_cst);
    WakeIfNeeded();
  }

  void SubmitSpread(ActorCell* cell) override {
    Worker* w = t_worker;
    if (w != nullptr && t_dispatcher == this) {
      PushLocal(w, cell);
    } else {
      std::lock_guard<std::mutex> lock(global_mu_);
      global_.push_back(cell);
      global_size_.fetch_add(1, std::memory_order_relaxed);
    }
    std::atomic_thread_fence(std::memory_order_seq_cst);
    WakeIfNeeded();
  }

 private:
  void PushLocal(Worker* w, ActorCell* c) {
    std::lock_guard<QueueLock> lock(w->mu);
    w->queue.push_back(c);
    w->queue_size.fetch_add(1, std::memory_order_relaxed);
  }

  ActorCell* PopLocal(Worker* w) {
    if (w->queue_size.load(std::memory_order_relaxed) == 0) return nullptr;
    std::lock_guard<QueueLock> lock(w->mu);
    if (w->queue.empty()) return nullptr;
    ActorCell* c = w->queue.front();
    w->queue.pop_front();
    w->queue_size.fetch_sub(1, std::memory_order_relaxed);
    return c;
  }

  ActorCell* PopGlobal() {
    if (global_size_.load(std::memory_order_relaxed) == 0) return nullptr;
    std::lock_guard<std::mutex> lock(global_mu_);
    if (global_.empty()) return nullptr;
    ActorCell* c = global_.front();
    global_.pop_front();
    global_size_.fetch_sub(1, std::memory_order_relaxed);
    return c;
  }

  // Takes half of another worker's queue (at least one), or its next slot if
  // that worker has been stuck in one turn for a while.
  ActorCell* Steal(Worker* self) {
    std::size_t n = workers_.size();
    std::size_t start = static_cast<std::size_t>(self->index) + 1;
    for (std::size_t i = 0; i < n; ++i) {
      Worker* v = workers_[(start + i) % n].get();
      if (v == self) continue;
      if (v->queue_size.load(std::memory_order_relaxed) > 0) {
        std::vector<ActorCell*> taken;
        {
          std::lock_guard<QueueLock> lock(v->mu);
          std::size_t k = (v->queue.size() + 1) / 2;
          for (std::size_t j = 0; j < k; ++j) {
            taken.push_back(v->queue.front());
            v->queue.pop_front();
          }
          v->queue_size.fetch_sub(static_cast<int>(k), std::memory_order_relaxed);
        }
        if (!taken.empty()) {
          for (std::size_t j = 1; j < taken.size(); ++j) PushLocal(self, taken[j]);
          return taken[0];
        }
      }
      if (v->next.load(std::memory_order_relaxed) != nullptr) {
        // Take the next slot only from a worker stuck in one long turn.
        uint64_t seq = v->turn_seq.load(std::memory_order_relaxed);
        if (seq & 1) {
          int64_t now = SteadyNowNs();
          if (v->seen_seq.load(std::memory_order_relaxed) != seq) {
            v->seen_seq.store(seq, std::memory_order_relaxed);
            v->seen_at_ns.store(now, std::memory_order_relaxed);
          } else if (now - v->seen_at_ns.load(std::memory_order_relaxed) > steal_after_ns_) {
            if (ActorCell* c = v->next.exchange(nullptr, std::memory_order_acq_rel)) return c;
          }
        }
      }
    }
    return nullptr;
  }

  ActorCell* FindWork(Worker* w, uint32_t tick) {
    // Every 61st look, the global queue first so external work never starves.
    if (tick % 61 == 0) {
      if (ActorCell* c = PopGlobal()) return c;
    }
    if (w->next.load(std::memory_order_relaxed) != nullptr) {
      // Bound how long a chain of next-slot hand-offs may starve the queue.
      if (next_streak_ < 128 || w->queue_size.load(std::memory_order_relaxed) == 0) {
        if (ActorCell* c = w->next.exchange(nullptr, std::memory_order_acq_rel)) {
          next_streak_++;
          return c;
        }
      } else if (ActorCell* c = w->next.exchange(nullptr, std::memory_order_acq_rel)) {
        PushLocal(w, c);
      }
    }
    next_streak_ = 0;
    if (ActorCell* c = PopLocal(w)) return c;
    if (ActorCell* c = PopGlobal()) return c;
    return Steal(w);
  }

  bool HasWork() const {
    if (global_size_.load(std::memory_order_seq_cst) > 0) return true;
    for (auto& w : workers_) {
      if (w->queue_size.load(std::memory_order_seq_cst) > 0) return true;
    }
    return false;
  }

  void WakeIfNeeded() {
    if (spinning_.load(std::memory_order_seq_cst) > 0) return;
    if (idle_count_.load(std::memory_order_seq_cst) == 0) return;
    Worker* w = nullptr;
    {
      std::lock_guard<std::mutex> lock(idle_mu_);
      if (idle_.empty()) return;
      w = idle_.back();
      idle_.pop_back();
      idle_count_.fetch_sub(1, std::memory_order_seq_cst);
    }
    w->parked.store(0, std::memory_order_seq_cst);
    FutexWake(&w->parked, 1);
  }

  void Loop(Worker* w) {
    t_worker = w;
    t_dispatcher = this;
    uint32_t tick = 0;
    bool spinning = false;
    TimePoint spin_until{};
    const Duration spin = options_.idle_spin;
    while (!stopping_.load(std::memory_order_acquire)) {
      ActorCell* c = FindWork(w, ++tick);
      if (c != nullptr) {
        if (spinning) {
          spinning = false;
          // The last spinner found work: let another worker look for more.
          if (spinning_.fetch_sub(1, std::memory_order_seq_cst) == 1) WakeIfNeeded();
        }
        w->turn_seq.store(w->turn_seq.load(std::memory_order_relaxed) + 1,
                          std::memory_order_relaxed);
        bool again = c->RunTurn();
        w->turn_seq.store(w->turn_seq.load(std::memory_order_relaxed) + 1,
                          std::memory_order_relaxed);
        if (again) {
          PushLocal(w, c);
          std::atomic_thread_fence(std::memory_order_seq_cst);
          if (w->next.load(std::memory_order_relaxed) == nullptr) continue;
          WakeIfNeeded();
        } else {
          c->Release();
        }
        continue;
      }
      if (!spinning) {
        if (spinning_.load(std::memory_order_relaxed) < max_spinning_ && spin.count() > 0) {
          spinning_.fetch_add(1, std::memory_order_seq_cst);
          spinning = true;
          spin_until = Clock::now() + spin;
          continue;
        }
      } else {
        for (int i = 0; i < 32; ++i) CpuRelax();
        if (Clock::now() < spin_until) continue;
        spinning = false;
        spinning_.fetch_sub(1, std::memory_order_seq_cst);
      }
      Park(w);
    }
    if (spinning) spinning_.fetch_sub(1);
    t_worker = nullptr;
    t_dispatcher = nullptr;
  }

  void Park(Worker* w) {
    {
      std::lock_guard<std::mutex> lock(idle_mu_);
      w->parked.store(1, std::memory_order_seq_cst);
      idle_.push_back(w);
      idle_count_.fetch_add(1, std::memory_order_seq_cst);
    }
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if (HasWork() || stopping_.load(std::memory_order_seq_cst)) {
      std::lock_guard<std::mutex> lock(idle_mu_);
      auto it = std::find(idle_.begin(), idle_.end(), w);
      if (it != idle_.end()) {
        idle_.erase(it);
        idle_count_.fetch_sub(1, std::memory_order_seq_cst);
      }
      w->parked.store(0, std::memory_order_seq_cst);
      return;
    }
    while (w->parked.load(std::memory_order_seq_cst) == 1 &&
           !stopping_.load(std::memory_order_seq_cst)) {
      FutexWait(&w->parked, 1);
    }
  }

  DispatcherOptions options_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::mutex global_mu_;
  std::deque<ActorCell*> global_;
  std::atomic<int> global_size_{0};
  std::atomic<int> spinning_{0};
  int max_spinning_ = 1;
  int64_t steal_after_ns_ = 20000;
  std::mutex idle_mu_;
  std::vector<Worker*> idle_;
  std::atomic<int> idle_count_{0};
  std::atomic<bool> stopping_{false};
  std::atomic<bool> stopped_{false};
  static thread_local uint32_t next_streak_;
};

thread_local uint32_t WorkStealingDispatcher::next_streak_ = 0;

class ManualDispatcher final : public Dispatcher {
 public:
  void Start() override {}
  void Stop() override {
    std::deque<ActorCell*> left;
    {
      std::lock_guard<std::mutex> lock(mu_);
      left.swap(queue_);
    }
    for (ActorCell* c : left) c->AbandonTurn();
  }
  void Submit(ActorCell* cell) override {
    std::lock_guard<std::mutex> lock(mu_);
    queue_.push_back(cell);
  }
  bool RunOne() override {
    ActorCell* c;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (queue_.empty()) return false;
      c = queue_.front();
      queue_.pop_front();
    }
    if (c->RunTurn()) {
      std::lock_guard<std::mutex> lock(mu_);
      queue_.push_back(c);
    } else {
      c->Release();
    }
    return true;
  }
  bool deterministic() const override { return true; }

 private:
  std::mutex mu_;
  std::deque<ActorCell*> queue_;
};

}  // namespace

std::unique_ptr<Dispatcher> MakeWorkStealingDispatcher(const DispatcherOptions& options) {
  return std::make_unique<WorkStealingDispatcher>(options);
}
std::unique_ptr<Dispatcher> MakeManualDispatcher() { return std::make_unique<ManualDispatcher>(); }

bool OnWorkerThread() { return t_worker != nullptr; }

}  // namespace akt::internal
