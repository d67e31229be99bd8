// The non-default mailboxes: bounded (lock-free), priority and fair-per-sender
// (both under a small mutex: they need ordering decisions a queue can't make).
#include <deque>
#include <mutex>
#include <queue>
#include <unordered_map>

#include "actor_cell.h"

namespace akt::internal {
namespace {

class BoundedMailbox final : public UserMailbox {
 public:
  BoundedMailbox(std::size_t capacity, FullPolicy policy) : capacity_(capacity), policy_(policy) {}
  ~BoundedMailbox() override = default;

  PushResult Push(Envelope* e, bool force) override {
    std::size_t n = size_.fetch_add(1, std::memory_order_acq_rel);
    if (n >= capacity_ && !force) {
      size_.fetch_sub(1, std::memory_order_acq_rel);
      return policy_ == FullPolicy::kReject ? PushResult::kFullReject : PushResult::kFullDeadLetter;
    }
    q_.Push(e);
    return PushResult::kOk;
  }
  Envelope* Pop() override {
    auto* e = static_cast<Envelope*>(q_.Pop());
    if (e != nullptr) size_.fetch_sub(1, std::memory_order_acq_rel);
    return e;
  }

 private:
  MpscQueue q_;
  std::atomic<std::size_t> size_{0};
  std::size_t capacity_;
  FullPolicy policy_;
};

class PriorityMailbox final : public UserMailbox {
 public:
  explicit PriorityMailbox(std::function<bool(const Message&, const Message&)> before)
      : heap_(Order{std::move(before)}) {}
  ~PriorityMailbox() override = default;

  PushResult Push(Envelope* e, bool) override {
    std::lock_guard<std::mutex> lock(mu_);
    heap_.push({e, seq_++});
    return PushResult::kOk;
  }
  Envelope* Pop() override {
    std::lock_guard<std::mutex> lock(mu_);
    if (heap_.empty()) return nullptr;
    Envelope* e = heap_.top().e;
    heap_.pop();
    return e;
  }

 private:
  struct Item {
    Envelope* e;
    uint64_t seq;
  };
  // std::priority_queue pops the *largest*: "a after b" means a is smaller.
  struct Order {
    std::function<bool(const Message&, const Message&)> before;
    bool operator()(const Item& a, const Item& b) const {
      if (before(a.e->msg, b.e->msg)) return false;
      if (before(b.e->msg, a.e->msg)) return true;
      return a.seq > b.seq;  // stable: earlier arrival first
    }
  };
  std::mutex mu_;
  std::priority_queue<Item, std::vector<Item>, Order> heap_;
  uint64_t seq_ = 0;
};

class FairMailbox final : public UserMailbox {
 public:
  ~FairMailbox() override = default;

  PushResult Push(Envelope* e, bool) override {
    std::lock_guard<std::mutex> lock(mu_);
    auto [it, fresh] = lanes_.try_emplace(e->sender);
    it->second.push_back(e);
    if (it->second.size() == 1) ready_.push_back(e->sender);
    return PushResult::kOk;
  }
  Envelope* Pop() override {
    std::lock_guard<std::mutex> lock(mu_);
    if (ready_.empty()) return nullptr;
    ActorCell* sender = ready_.front();
    ready_.pop_front();
    auto it = lanes_.find(sender);
    Envelope* e = it->second.front();
    it->second.pop_front();
    if (it->second.empty()) {
      lanes_.erase(it);
    } else {
      ready_.push_back(sender);  // round robin: back of the line
    }
    return e;
  }

 private:
  std::mutex mu_;
  std::unordered_map<ActorCell*, std::deque<Envelope*>> lanes_;
  std::deque<ActorCell*> ready_;
};

}  // namespace

std::unique_ptr<UserMailbox> MakeUserMailbox(const MailboxSpec& spec) {
  switch (spec.kind) {
    case MailboxKind::kUnbounded:
      return nullptr;
    case MailboxKind::kBounded:
      return std::make_unique<BoundedMailbox>(spec.capacity, spec.full_policy);
    case MailboxKind::kPriority:
      return std::make_unique<PriorityMailbox>(spec.before);
    case MailboxKind::kFairPerSender:
      return std::make_unique<FairMailbox>();
  }
  return nullptr;
}

}  // namespace akt::internal
