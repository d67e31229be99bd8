// libFuzzer target for the remoting decoders: frames, metadata, error bodies,
// both hellos and the three decompressors. The first byte picks the decoder.
//   ./scripts/fuzz [seconds]     (clang's libFuzzer, with ASan + UBSan)
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "codec.h"
#include "wire.h"

using namespace akt::remote;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  uint8_t mode = data[0] % 6;
  data++;
  size--;
  std::string error;
  switch (mode) {
    case 0: {  // a stream of frames, as a connection parses it
      std::size_t off = 0;
      while (off < size) {
        wire::Frame f;
        std::size_t used = 0;
        if (wire::DecodeFrame(data + off, size - off, 1u << 20, &f, &used, &error) !=
            wire::DecodeStatus::kOk) {
          break;
        }
        std::vector<std::pair<std::string, std::string>> headers;
        wire::DecodeHeaders(f.metadata, &headers);
        uint32_t code;
        std::string text;
        wire::DecodeError(f.payload, &code, &text);
        off += used;
      }
      break;
    }
    case 1: {
      wire::ClientHello h;
      std::size_t used = 0;
      wire::DecodeClientHello(data, size, &h, &used, &error);
      break;
    }
    case 2: {
      wire::ServerHello h;
      std::size_t used = 0;
      wire::DecodeServerHello(data, size, &h, &used, &error);
      break;
    }
    default: {  // 3..5: zstd, brotli, gzip streams
      auto dec = MakeDecoder(static_cast<akt::Compression>(mode - 2));
      std::string out;
      std::size_t half = size / 2;
      if (dec->Decode(data, half, out, 1u << 20).ok()) {
        (void)dec->Decode(data + half, size - half, out, 1u << 20);
      }
      break;
    }
  }
  return 0;
}
