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

class MpscQueue {
 public:
  MpscQueue() : tail_(&stub_), head_(&stub_) {}
  MpscQueue(const MpscQueue&) = delete;
  MpscQueue& operator=(const MpscQueue&) = delete;

  void Push(QueueNode* n) {
    n->next.store(nullptr, std::memory_order_relaxed);
    QueueNode* prev = tail_.exchange(n, std::memory_order_acq_rel);
    prev->next.store(n, std::memory_order_release);
  }

  // Consumer only.
  QueueNode* Pop() {
    QueueNode* head = head_;
    QueueNode* next = head->next.load(std::memory_order_acquire);
    if (head == &stub_) {
      if (next == nullptr) return nullptr;
      head_ = next;
      head = next;
      next = next->next.load(std::memory_order_acquire);
    }
    if (next != nullptr) {
      head_ = next;
      return head;
    }
    if (tail_.load(std::memory_order_acquire) != head) return nullptr;  // mid-push
    Push(&stub_);
    next = head->next.load(std::memory_order_acquire);
    if (next != nullptr) {
      head_ = next;
      return head;
    }
    return nullptr;  // mid-push
  }

  // Consumer only: true when a Pop would certainly find nothing.
  bool Empty() const {
    return head_ == &stub_ && tail_.load(std::memory_order_acquire) == &stub_;
  }

 private:
  std::atomic<QueueNode*> tail_;
  QueueNode* head_;
  QueueNode stub_;
};

}  // namespace akt::internal
