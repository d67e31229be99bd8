// Byte buffers for frames and socket reads, from power-of-two buckets
// (256 B .. 4 MiB); a larger buffer is allocated and freed directly.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <utility>

namespace akt::remote {

struct FramePoolStats {
  uint64_t hits = 0;       // served from a bucket's free list
  uint64_t misses = 0;     // allocated fresh (bucket empty)
  uint64_t oversized = 0;  // larger than the biggest bucket
  uint64_t cached_bytes = 0;
};

class FramePool {
 public:
  static constexpr std::size_t kMinSize = 256;
  static constexpr std::size_t kMaxSize = 4u << 20;
  // At least `n` bytes; `*cap` is the real size.
  static uint8_t* Acquire(std::size_t n, std::size_t* cap);
  static void Release(uint8_t* p, std::size_t cap);
  static FramePoolStats Stats();
  static std::size_t BucketSize(std::size_t n);  // the capacity Acquire(n) gives
};

// A growable byte buffer whose storage comes from the FramePool.
class Buffer {
 public:
  Buffer() = default;
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  Buffer(Buffer&& o) noexcept
      : data_(std::exchange(o.data_, nullptr)),
        cap_(std::exchange(o.cap_, 0)),
        size_(std::exchange(o.size_, 0)) {}
  Buffer& operator=(Buffer&& o) noexcept {
    if (this != &o) {
      Free();
      data_ = std::exchange(o.data_, nullptr);
      cap_ = std::exchange(o.cap_, 0);
      size_ = std::exchange(o.size_, 0);
    }
    return *this;
  }
  ~Buffer() { Free(); }

  uint8_t* data() { return data_; }
  const uint8_t* data() const { return data_; }
  std::size_t size() const { return size_; }
  std::size_t capacity() const { return cap_; }
  bool empty() const { return size_ == 0; }
  // Room for `n` more bytes; returns where they go (commit with Grow).
  uint8_t* Reserve(std::size_t n);
  void Grow(std::size_t n) { size_ += n; }
  void Append(const void* p, std::size_t n) {
    if (n == 0) return;  // Reserve(0) may give null, which memcpy must not get
    std::memcpy(Reserve(n), p, n);
    size_ += n;
  }
  // Drops the first `n` bytes.
  void Consume(std::size_t n);
  void Clear() { size_ = 0; }
  // Clears and gives big storage back to the pool.
  void Shrink();
  void Free();
  void Swap(Buffer& o) {
    std::swap(data_, o.data_);
    std::swap(cap_, o.cap_);
    std::swap(size_, o.size_);
  }

 private:
  uint8_t* data_ = nullptr;
  std::size_t cap_ = 0;
  std::size_t size_ = 0;
};

}  // namespace akt::remote
