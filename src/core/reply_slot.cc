#include "reply_slot.h"

#include <thread>

#include "futex.h"

namespace akt::internal {

bool ReplySlot::Claim() {
  uint32_t s = state_.load(std::memory_order_acquire);
  while (s == kWaiting || s == kSleeping) {
    if (state_.compare_exchange_weak(s, kCompleting, std::memory_order_acq_rel)) {
      claimed_sleeper_ = (s == kSleeping);
      return true;
    }
  }
  return false;
}

void ReplySlot::Publish() {
  bool wake = claimed_sleeper_;
  state_.store(kDone, std::memory_order_release);
  if (wake) FutexWake(&state_, 1);
}

bool ReplySlot::Complete(Message&& value) {
  if (!Claim()) return false;
  is_error_ = false;
  value_ = std::move(value);
  Publish();
  return true;
}

bool ReplySlot::Fail(Status error) {
  if (!Claim()) return false;
  is_error_ = true;
  error_ = std::move(error);
  Publish();
  return true;
}

bool ReplySlot::done() const { return state_.load(std::memory_order_acquire) == kDone; }

Result<Message> ReplySlot::Wait(TimePoint deadline, Duration spin, bool (*pump)(void*),
                                void* pump_arg) {
  auto take = [this]() -> Result<Message> {
    if (is_error_) return error_;
    return std::move(value_);
  };
  if (pump != nullptr) {
    while (state_.load(std::memory_order_acquire) != kDone) {
      if (!pump(pump_arg)) break;
    }
  } else {
    // Spin first: a reply usually comes within microseconds, and a futex
    // sleep + wake costs tens of microseconds on a VM.
    TimePoint spin_until = Clock::now() + spin;
    // A long spin (a remote ask) yields now and then: the threads that
    // bring the answer (an I/O thread, a worker) may need this core.
    const bool yielding = spin > std::chrono::microseconds(100);
    uint32_t n = 0;
    while (state_.load(std::memory_order_acquire) != kDone) {
      CpuRelax();
      if ((++n & 63) == 0) {
        if (Clock::now() >= spin_until) break;
        if (yielding) std::this_thread::yield();
      }
    }
    while (true) {
      uint32_t s = state_.load(std::memory_order_acquire);
      if (s == kDone) break;
      if (Clock::now() >= deadline) break;
      if (s == kWaiting) {
        if (!state_.compare_exchange_strong(s, kSleeping, std::memory_order_acq_rel)) continue;
        s = kSleeping;
      }
      if (s == kSleeping) {
        FutexWaitUntil(&state_, kSleeping, deadline);
      } else {
        CpuRelax();  // kCompleting: the replier is writing; it is nearly done
      }
    }
  }
  // Deadline (or nothing left to pump): abandon unless a completion won.
  uint32_t s = state_.load(std::memory_order_acquire);
  while (s == kWaiting || s == kSleeping) {
    if (state_.compare_exchange_weak(s, kAbandoned, std::memory_order_acq_rel)) {
      return Status(StatusCode::kTimeout, "ask timed out");
    }
  }
  while (state_.load(std::memory_order_acquire) != kDone) CpuRelax();
  return take();
}

void ReplySlot::Release() {
  if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) pool_->Recycle(this);
}

SlotPool::~SlotPool() {
  for (ReplySlot* s : free_) delete s;
  // Slots still in use belong to threads that outlive the pool only through a
  // bug; leave them (deleting could crash those threads).
}

ReplySlot* SlotPool::Acquire() {
  ReplySlot* s = nullptr;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!free_.empty()) {
      s = free_.back();
      free_.pop_back();
    }
  }
  if (s == nullptr) {
    s = new ReplySlot();
    s->pool_ = this;
    created_.fetch_add(1, std::memory_order_relaxed);
  }
  s->state_.store(ReplySlot::kWaiting, std::memory_order_relaxed);
  s->refs_.store(2, std::memory_order_relaxed);
  s->is_error_ = false;
  s->generation_++;
  std::lock_guard<std::mutex> lock(mu_);
  s->prev_ = nullptr;
  s->next_ = in_use_;
  if (in_use_ != nullptr) in_use_->prev_ = s;
  in_use_ = s;
  in_use_count_++;
  return s;
}

void SlotPool::Recycle(ReplySlot* s) {
  s->value_.Reset();
  s->error_ = Status();
  std::lock_guard<std::mutex> lock(mu_);
  if (s->prev_ != nullptr) s->prev_->next_ = s->next_;
  if (s->next_ != nullptr) s->next_->prev_ = s->prev_;
  if (in_use_ == s) in_use_ = s->next_;
  in_use_count_--;
  if (free_.size() < capacity_) {
    free_.push_back(s);
  } else {
    delete s;
  }
}

void SlotPool::FailAll(const Status& error) {
  std::lock_guard<std::mutex> lock(mu_);
  for (ReplySlot* s = in_use_; s != nullptr; s = s->next_) s->Fail(error);
}

std::size_t SlotPool::free_count() {
  std::lock_guard<std::mutex> lock(mu_);
  return free_.size();
}

std::size_t SlotPool::in_use_count() {
  std::lock_guard<std::mutex> lock(mu_);
  return in_use_count_;
}

}  // namespace akt::internal
