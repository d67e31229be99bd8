#include "timer_service.h"

#include <algorithm>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

namespace akt::internal {
namespace {

// A binary min-heap of timers in one vector (no allocation per timer once
// warm) plus a slot table for O(1) cancellation: an id names a slot and its
// generation, so a stale id (fired or cancelled long ago) cancels nothing.
// A cancelled timer stays in the heap until its time and is then skipped.
class TimerQueue {
 public:
  uint64_t Add(TimePoint when, std::function<void()> fn) {
    uint32_t idx;
    if (!free_.empty()) {
      idx = free_.back();
      free_.pop_back();
    } else {
      idx = static_cast<uint32_t>(slots_.size());
      slots_.push_back({});
    }
    Slot& slot = slots_[idx];
    slot.live = true;
    slot.fn = std::move(fn);
    heap_.push_back({when, ++seq_, idx});
    std::push_heap(heap_.begin(), heap_.end(), Later{});
    return (static_cast<uint64_t>(slot.gen) << 32) | idx;
  }
  bool Cancel(uint64_t id) {
    auto idx = static_cast<uint32_t>(id & 0xffffffffu);
    auto gen = static_cast<uint32_t>(id >> 32);
    if (idx < slots_.size() && slots_[idx].gen == gen && slots_[idx].live &&
        !slots_[idx].cancelled) {
      slots_[idx].fn = nullptr;  // what the callback holds is released now
      slots_[idx].cancelled = true;
      DropCancelledTop();
      return true;
    }
    return false;
  }
  TimePoint Next() const { return heap_.empty() ? TimePoint::max() : heap_.front().when; }
  // Removes and returns the first live timer due at `now`, or an empty function.
  std::function<void()> PopDue(TimePoint now) {
    while (!heap_.empty() && heap_.front().when <= now) {
      std::function<void()> fn = PopTop();
      DropCancelledTop();
      if (fn) return fn;
    }
    return {};
  }
  void Clear() {
    heap_.clear();
    for (Slot& s : slots_) {
      if (s.live) {
        s.live = false;
        s.fn = nullptr;
        if (++s.gen == 0) s.gen = 1;
      }
    }
    free_.clear();
    for (uint32_t i = 0; i < slots_.size(); ++i) free_.push_back(i);
  }

 private:
  // Removes the top timer; its callback, or empty if it was cancelled.
  std::function<void()> PopTop() {
    std::pop_heap(heap_.begin(), heap_.end(), Later{});
    uint32_t idx = heap_.back().slot;
    heap_.pop_back();
    Slot& slot = slots_[idx];
    std::function<void()> fn = slot.cancelled ? nullptr : std::move(slot.fn);
    slot.fn = nullptr;
    slot.live = false;
    slot.cancelled = false;
    if (++slot.gen == 0) slot.gen = 1;
    free_.push_back(idx);
    return fn;
  }
  // Keeps Next() exact: a cancelled timer never stays on top.
  void DropCancelledTop() {
    while (!heap_.empty() && slots_[heap_.front().slot].cancelled) PopTop();
  }
  struct Item {
    TimePoint when;
    uint64_t seq;  // equal deadlines fire in the order they were added
    uint32_t slot;
  };
  struct Later {
    bool operator()(const Item& a, const Item& b) const {
      return a.when != b.when ? a.when > b.when : a.seq > b.seq;
    }
  };
  struct Slot {
    std::function<void()> fn;
    uint32_t gen = 1;  // ids are never 0, so callers may use 0 as "none"
    bool live = false;
    bool cancelled = false;
  };
  std::vector<Item> heap_;
  std::vector<Slot> slots_;
  std::vector<uint32_t> free_;
  uint64_t seq_ = 0;
};

class ThreadTimerService final : public TimerService {
 public:
  ThreadTimerService() : thread_([this] { Loop(); }) {}
  ~ThreadTimerService() override { Stop(); }

  TimePoint Now() const override { return Clock::now(); }

  uint64_t Schedule(TimePoint when, std::function<void()> fn) override {
    std::lock_guard<std::mutex> lock(mu_);
    bool earliest = when < queue_.Next();
    uint64_t id = queue_.Add(when, std::move(fn));
    if (earliest) cv_.notify_one();
    return id;
  }
  bool Cancel(uint64_t id) override {
    std::lock_guard<std::mutex> lock(mu_);
    return queue_.Cancel(id);
  }
  void Stop() override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopping_) return;
      stopping_ = true;
      cv_.notify_one();
    }
    thread_.join();
    std::lock_guard<std::mutex> lock(mu_);
    queue_.Clear();
  }

 private:
  void Loop() {
    std::unique_lock<std::mutex> lock(mu_);
    while (!stopping_) {
      if (auto fn = queue_.PopDue(Clock::now())) {
        lock.unlock();
        fn();
        lock.lock();
        continue;
      }
      TimePoint next = queue_.Next();
      if (next == TimePoint::max()) {
        cv_.wait(lock);
      } else {
        cv_.wait_until(lock, next);
      }
    }
  }

  std::mutex mu_;
  std::condition_variable cv_;
  TimerQueue queue_;
  bool stopping_ = false;
  std::thread thread_;
};

class ManualTimerService final : public TimerService {
 public:
  TimePoint Now() const override {
    std::lock_guard<std::mutex> lock(mu_);
    return now_;
  }
  uint64_t Schedule(TimePoint when, std::function<void()> fn) override {
    std::lock_guard<std::mutex> lock(mu_);
    return queue_.Add(when, std::move(fn));
  }
  bool Cancel(uint64_t id) override {
    std::lock_guard<std::mutex> lock(mu_);
    return queue_.Cancel(id);
  }
  void Stop() override {
    std::lock_guard<std::mutex> lock(mu_);
    queue_.Clear();
  }
  void Advance(Duration d) override {
    TimePoint target;
    {
      std::lock_guard<std::mutex> lock(mu_);
      target = now_ + d;
    }
    while (true) {
      std::function<void()> fn;
      {
        std::lock_guard<std::mutex> lock(mu_);
        TimePoint next = queue_.Next();
        if (next > target) {
          now_ = target;
          return;
        }
        if (next > now_) now_ = next;
        fn = queue_.PopDue(now_);
      }
      if (fn) fn();
    }
  }
  TimePoint NextDeadline() const override {
    std::lock_guard<std::mutex> lock(mu_);
    return queue_.Next();
  }

 private:
  mutable std::mutex mu_;
  // Manual time starts at an arbitrary fixed point so tests are repeatable.
  TimePoint now_ = TimePoint(std::chrono::hours(1));
  TimerQueue queue_;
};

}  // namespace

std::unique_ptr<TimerService> MakeThreadTimerService() {
  return std::make_unique<ThreadTimerService>();
}
std::unique_ptr<TimerService> MakeManualTimerService() {
  return std::make_unique<ManualTimerService>();
}

}  // namespace akt::internal
