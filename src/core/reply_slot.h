// Where a thread blocked in Ask waits for its answer.
//
// A slot is completed exactly once: by the reply, by an error (stopped,
// failed, unhandled, system stopping) or by the asker giving up at its
// deadline — one compare-and-swap decides which, so a call can never finish
// on both its reply and its error path. A slot is reference counted (the
// asker and the envelope that carries the request each hold one) and goes
// back to its bounded pool only when both let go: a late reply can therefore
// never land in a slot that a newer request is using.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <vector>

#include "akt/fwd.h"
#include "akt/message.h"
#include "akt/status.h"

namespace akt::internal {

class SlotPool;

class ReplySlot {
 public:
  // Completes with a reply or an error. False if the slot was already
  // completed or abandoned (then `value` is left untouched).
  bool Complete(Message&& value);
  bool Fail(Status error);

  // Waits until completed or `deadline`; on deadline tries to abandon. The
  // result is the reply, the error, or kTimeout. `spin` bounds the busy-wait
  // before sleeping on a futex. `pump`, when set, is called instead of
  // sleeping (deterministic tests); it returns false when nothing more can
  // happen before the deadline.
  Result<Message> Wait(TimePoint deadline, Duration spin, bool (*pump)(void*) = nullptr,
                       void* pump_arg = nullptr);
  bool done() const;
  // A waiter is asleep on the futex (tests: the wake-up path is taken).
  bool sleeping() const { return state_.load(std::memory_order_acquire) == kSleeping; }

  void AddRef() { refs_.fetch_add(1, std::memory_order_relaxed); }
  void Release();

  uint64_t generation() const { return generation_; }

 private:
  friend class SlotPool;
  enum State : uint32_t { kWaiting = 0, kSleeping = 1, kCompleting = 2, kDone = 3, kAbandoned = 4 };
  bool Claim();
  void Publish();

  std::atomic<uint32_t> state_{kWaiting};
  std::atomic<uint32_t> refs_{0};
  bool is_error_ = false;
  Message value_;
  Status error_;
  bool claimed_sleeper_ = false;
  uint64_t generation_ = 0;  // bumped at every reuse; for tests and debugging
  SlotPool* pool_ = nullptr;

  // Intrusive links in the pool's in-use list (for failing asks at Stop).
  ReplySlot* prev_ = nullptr;
  ReplySlot* next_ = nullptr;
};

// Bounded pool: at most `capacity` free slots are kept; more are deleted.
// Also tracks every slot in use so a stopping system can fail them.
class SlotPool {
 public:
  explicit SlotPool(std::size_t capacity) : capacity_(capacity) {}
  ~SlotPool();
  // A slot with two references (asker + envelope).
  ReplySlot* Acquire();
  void Recycle(ReplySlot* s);
  // Fails every slot in use with `error`.
  void FailAll(const Status& error);

  std::size_t free_count();
  std::size_t in_use_count();
  uint64_t created() const { return created_.load(); }

 private:
  std::mutex mu_;
  std::size_t capacity_;
  std::vector<ReplySlot*> free_;
  ReplySlot* in_use_ = nullptr;
  std::size_t in_use_count_ = 0;
  std::atomic<uint64_t> created_{0};
};

}  // namespace akt::internal
