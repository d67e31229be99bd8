#include "timer_service.h"

#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>
#include <unordered_map>

namespace akt::internal {
namespace {

// Timers ordered by (deadline, id); cancel erases by id in O(log n).
class TimerQueue {
 public:
  uint64_t Add(TimePoint when, std::function<void()> fn) {
    uint64_t id = ++next_id_;
    auto it = by_time_.emplace(Key{when, id}, std::move(fn)).first;
    by_id_.emplace(id, it);
    return id;
  }
  void Cancel(uint64_t id) {
    auto it = by_id_.find(id);
    if (it == by_id_.end()) return;
    by_time_.erase(it->second);
    by_id_.erase(it);
  }
  TimePoint Next() const {
    return by_time_.empty() ? TimePoint::max() : by_time_.begin()->first.when;
  }
  // Removes and returns the first timer due at `now`, or an empty function.
  std::function<void()> PopDue(TimePoint now) {
    if (by_time_.empty() || by_time_.begin()->first.when > now) return {};
    auto it = by_time_.begin();
    std::function<void()> fn = std::move(it->second);
    by_id_.erase(it->first.id);
    by_time_.erase(it);
    return fn;
  }
  void Clear() {
    by_time_.clear();
    by_id_.clear();
  }

 private:
  struct Key {
    TimePoint when;
    uint64_t id;
    bool operator<(const Key& o) const { return when != o.when ? when < o.when : id < o.id; }
  };
  std::map<Key, std::function<void()>> by_time_;
  std::unordered_map<uint64_t, std::map<Key, std::function<void()>>::iterator> by_id_;
  uint64_t next_id_ = 0;
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
  void Cancel(uint64_t id) override {
    std::lock_guard<std::mutex> lock(mu_);
    queue_.Cancel(id);
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
  void Cancel(uint64_t id) override {
    std::lock_guard<std::mutex> lock(mu_);
    queue_.Cancel(id);
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
      fn();
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
