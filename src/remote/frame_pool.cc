#include "frame_pool.h"

#include <array>
#include <atomic>
#include <mutex>
#include <vector>

namespace akt::remote {
namespace {

constexpr int kBuckets = 15;  // 256 B << 0 .. 256 B << 14 = 4 MiB
// Free buffers kept per bucket: many small ones, few big ones.
constexpr std::size_t kMaxCachedBytesPerBucket = 16u << 20;

struct Bucket {
  std::mutex mu;
  std::vector<uint8_t*> free;
};

std::array<Bucket, kBuckets>& Buckets() {
  static auto* b = new std::array<Bucket, kBuckets>();  // lives for the process
  return *b;
}
std::atomic<uint64_t> g_hits{0}, g_misses{0}, g_oversized{0}, g_cached{0};

int BucketIndex(std::size_t n) {
  std::size_t size = FramePool::kMinSize;
  int i = 0;
  while (size < n) {
    size <<= 1;
    ++i;
  }
  return i;
}

}  // namespace

std::size_t FramePool::BucketSize(std::size_t n) {
  if (n > kMaxSize) return n;
  return kMinSize << BucketIndex(n);
}

uint8_t* FramePool::Acquire(std::size_t n, std::size_t* cap) {
  if (n > kMaxSize) {
    g_oversized.fetch_add(1, std::memory_order_relaxed);
    *cap = n;
    return new uint8_t[n];
  }
  int i = BucketIndex(n);
  std::size_t size = kMinSize << i;
  *cap = size;
  Bucket& b = Buckets()[i];
  {
    std::lock_guard<std::mutex> lock(b.mu);
    if (!b.free.empty()) {
      uint8_t* p = b.free.back();
      b.free.pop_back();
      g_hits.fetch_add(1, std::memory_order_relaxed);
      g_cached.fetch_sub(size, std::memory_order_relaxed);
      return p;
    }
  }
  g_misses.fetch_add(1, std::memory_order_relaxed);
  return new uint8_t[size];
}

void FramePool::Release(uint8_t* p, std::size_t cap) {
  if (p == nullptr) return;
  if (cap > kMaxSize || BucketSize(cap) != cap) {
    delete[] p;
    return;
  }
  Bucket& b = Buckets()[BucketIndex(cap)];
  {
    std::lock_guard<std::mutex> lock(b.mu);
    if ((b.free.size() + 1) * cap <= kMaxCachedBytesPerBucket) {
      b.free.push_back(p);
      g_cached.fetch_add(cap, std::memory_order_relaxed);
      return;
    }
  }
  delete[] p;
}

FramePoolStats FramePool::Stats() {
  return {g_hits.load(), g_misses.load(), g_oversized.load(), g_cached.load()};
}

uint8_t* Buffer::Reserve(std::size_t n) {
  if (cap_ - size_ < n) {
    std::size_t want = size_ + n;
    if (want < cap_ * 2) want = cap_ * 2;
    std::size_t cap = 0;
    uint8_t* p = FramePool::Acquire(want, &cap);
    if (size_ != 0) std::memcpy(p, data_, size_);
    FramePool::Release(data_, cap_);
    data_ = p;
    cap_ = cap;
  }
  return data_ + size_;
}

void Buffer::Consume(std::size_t n) {
  if (n >= size_) {
    size_ = 0;
    return;
  }
  std::memmove(data_, data_ + n, size_ - n);
  size_ -= n;
}

void Buffer::Shrink() {
  size_ = 0;
  if (cap_ > 64 * 1024) Free();
}

void Buffer::Free() {
  FramePool::Release(data_, cap_);
  data_ = nullptr;
  cap_ = 0;
  size_ = 0;
}

}  // namespace akt::remote
