// Intrusive multi-producer single-consumer queue (Vyukov). Push is one atomic
// exchange and never blocks; Pop is consumer-only. Pop may return null while a
// producer is between its exchange and its link ("mid-push"): callers track
// emptiness with counters and simply retry on their next turn.
#pragma once

#include <atomic>

namespace akt::internal {

struct QueueNode {
  std::atomic<QueueNode*> next{nullptr};
};

// The two ends of a queue, kept apart so that a cell can put the producer end
// and the consumer end on different cache lines.
struct MpscTail {
  std::atomic<QueueNode*> tail{nullptr};
};
struct MpscHead {
  QueueNode* head = nullptr;
  QueueNode stub;
};

inline void MpscInit(MpscTail& t, MpscHead& h) {
  h.head = &h.stub;
  t.tail.store(&h.stub, std::memory_order_relaxed);
}

inline void MpscPush(MpscTail& t, QueueNode* n) {
  n->next.store(nullptr, std::memory_order_relaxed);
  QueueNode* prev = t.tail.exchange(n, std::memory_order_acq_rel);
  prev->next.store(n, std::memory_order_release);
}

// Consumer only.
inline QueueNode* MpscPop(MpscHead& h, MpscTail& t) {
  QueueNode* head = h.head;
  QueueNode* next = head->next.load(std::memory_order_acquire);
  if (head == &h.stub) {
    if (next == nullptr) return nullptr;
    h.head = next;
    head = next;
    next = next->next.load(std::memory_order_acquire);
  }
  if (next != nullptr) {
    h.head = next;
    // The next node was written by another core: start fetching it now so
    // the next Pop does not stall on it.
    __builtin_prefetch(next);
    return head;
  }
  if (t.tail.load(std::memory_order_acquire) != head) return nullptr;  // mid-push
  MpscPush(t, &h.stub);
  next = head->next.load(std::memory_order_acquire);
  if (next != nullptr) {
    h.head = next;
    return head;
  }
  return nullptr;  // mid-push
}

class MpscQueue {
 public:
  MpscQueue() { MpscInit(tail_, head_); }
  MpscQueue(const MpscQueue&) = delete;
  MpscQueue& operator=(const MpscQueue&) = delete;

  void Push(QueueNode* n) { MpscPush(tail_, n); }
  // Consumer only.
  QueueNode* Pop() { return MpscPop(head_, tail_); }
  // Consumer only: true when a Pop would certainly find nothing.
  bool Empty() const {
    return head_.head == &head_.stub && tail_.tail.load(std::memory_order_acquire) == &head_.stub;
  }

 private:
  MpscTail tail_;
  MpscHead head_;
};

}  // namespace akt::internal
