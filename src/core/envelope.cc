#include "envelope.h"

#include <atomic>
#include <mutex>
#include <vector>

#include "actor_cell.h"
#include "reply_slot.h"

namespace akt::internal {
namespace {

// Per-thread cache in front of a bounded global pool of batches. A consumer
// that frees more than it allocates (fan-in) hands whole batches to the
// global pool, where producers pick them up: one lock per kBatch messages.
constexpr std::size_t kBatch = 256;
constexpr std::size_t kLocalMax = 2 * kBatch;
constexpr std::size_t kGlobalMaxBatches = 1024;

std::atomic<uint64_t> g_allocated{0};
std::atomic<uint64_t> g_freed{0};

struct Batch {
  Envelope* head;
  std::size_t count;
};

struct GlobalPool {
  std::mutex mu;
  std::vector<Batch> batches;
};

GlobalPool& Global() {
  static GlobalPool* pool = new GlobalPool();  // never destroyed: threads may outlive statics
  return *pool;
}

Envelope* NextOf(Envelope* e) {
  return static_cast<Envelope*>(e->next.load(std::memory_order_relaxed));
}

void DeleteChain(Envelope* head) {
  while (head != nullptr) {
    Envelope* next = NextOf(head);
    delete head;
    g_freed.fetch_add(1, std::memory_order_relaxed);
    head = next;
  }
}

struct LocalCache {
  Envelope* head = nullptr;
  std::size_t count = 0;
  ~LocalCache() {
    // Hand the cache to the global pool so another thread can use it.
    if (count == 0) return;
    GlobalPool& g = Global();
    std::lock_guard<std::mutex> lock(g.mu);
    if (g.batches.size() < kGlobalMaxBatches) {
      g.batches.push_back({head, count});
    } else {
      DeleteChain(head);
    }
  }
};

thread_local LocalCache t_cache;

// Coalesced sender releases (see ReleaseBatch).
thread_local bool t_batching = false;
thread_local ActorCell* t_release_cell = nullptr;
thread_local uint32_t t_release_count = 0;

void FlushReleases() {
  if (t_release_cell != nullptr) {
    ActorCell* c = t_release_cell;
    uint32_t n = t_release_count;
    t_release_cell = nullptr;
    t_release_count = 0;
    c->ReleaseN(n);
  }
}

void ReleaseSender(ActorCell* sender) {
  if (!t_batching) {
    sender->Release();
    return;
  }
  if (t_release_cell == sender && t_release_count < (1u << 30)) {
    ++t_release_count;
    return;
  }
  FlushReleases();
  t_release_cell = sender;
  t_release_count = 1;
}

}  // namespace

ReleaseBatch::ReleaseBatch() : outer_(!t_batching) { t_batching = true; }

ReleaseBatch::~ReleaseBatch() {
  if (!outer_) return;
  FlushReleases();
  t_batching = false;
}

Envelope* NewEnvelope() {
  LocalCache& c = t_cache;
  if (c.head == nullptr) {
    GlobalPool& g = Global();
    std::lock_guard<std::mutex> lock(g.mu);
    if (!g.batches.empty()) {
      Batch b = g.batches.back();
      g.batches.pop_back();
      c.head = b.head;
      c.count = b.count;
    }
  }
  if (c.head != nullptr) {
    Envelope* e = c.head;
    c.head = NextOf(e);
    c.count--;
    // Recycled envelopes usually come from the consumer's core: start taking
    // the next one's line for writing now, so the next send does not stall.
    if (c.head != nullptr) __builtin_prefetch(c.head, 1);
    e->next.store(nullptr, std::memory_order_relaxed);
    return e;
  }
  g_allocated.fetch_add(1, std::memory_order_relaxed);
  return new Envelope();
}

void FreeEnvelope(Envelope* e) {
  if (e->sender != nullptr) {
    ReleaseSender(e->sender);
    e->sender = nullptr;
  }
  switch (e->reply_kind) {
    case ReplyKind::kSlot:
      e->slot->Release();
      break;
    case ReplyKind::kRequest:
      e->requester->Release();
      break;
    case ReplyKind::kRoute:
      e->route->Release();
      break;
    case ReplyKind::kNone:
    case ReplyKind::kAnswered:
      break;
  }
  if (e->meta != nullptr) {
    delete e->meta;
    e->meta = nullptr;
  }
  e->reply_kind = ReplyKind::kNone;
  e->request_id = 0;
  e->sys = SysKind::kUser;
  e->is_error = false;
  e->watch_notice = false;
  e->msg.Reset();

  LocalCache& c = t_cache;
  e->next.store(c.head, std::memory_order_relaxed);
  c.head = e;
  c.count++;
  if (c.count >= kLocalMax) {
    // Split off one batch for the global pool.
    Envelope* batch_head = c.head;
    Envelope* cut = batch_head;
    for (std::size_t i = 1; i < kBatch; ++i) cut = NextOf(cut);
    c.head = NextOf(cut);
    c.count -= kBatch;
    cut->next.store(nullptr, std::memory_order_relaxed);
    GlobalPool& g = Global();
    std::unique_lock<std::mutex> lock(g.mu);
    if (g.batches.size() < kGlobalMaxBatches) {
      g.batches.push_back({batch_head, kBatch});
    } else {
      lock.unlock();
      DeleteChain(batch_head);
    }
  }
}

void TrimEnvelopePool() {
  std::vector<Batch> batches;
  {
    GlobalPool& g = Global();
    std::lock_guard<std::mutex> lock(g.mu);
    batches.swap(g.batches);
  }
  for (const Batch& b : batches) DeleteChain(b.head);
}

EnvelopePoolStats GetEnvelopePoolStats() {
  return {g_allocated.load(std::memory_order_relaxed), g_freed.load(std::memory_order_relaxed)};
}

}  // namespace akt::internal
