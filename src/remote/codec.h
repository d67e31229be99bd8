// Compression as a connection wrapper: each direction of a connection has one
// streaming encoder or decoder; every write batch is flushed whole, so the
// reader can decode each frame as soon as its bytes arrive.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "akt/remote.h"
#include "akt/status.h"

namespace akt::remote {

class Encoder {
 public:
  virtual ~Encoder() = default;
  // Compresses `n` bytes and appends the flushed output to `out`.
  virtual Status Encode(const uint8_t* in, std::size_t n, std::string& out) = 0;
};

class Decoder {
 public:
  virtual ~Decoder() = default;
  // Decompresses `n` bytes, appending the output to `out`. Fails when the
  // input is corrupt or the output would grow past `max_out` bytes in total.
  virtual Status Decode(const uint8_t* in, std::size_t n, std::string& out,
                        std::size_t max_out) = 0;
};

// Null for kNone (bytes pass through).
std::unique_ptr<Encoder> MakeEncoder(Compression c);
std::unique_ptr<Decoder> MakeDecoder(Compression c);
bool ValidCodec(uint8_t id);

}  // namespace akt::remote
