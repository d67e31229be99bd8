// The akt remoting wire format (docs/wire-protocol.md is the specification):
// pure encode/decode functions, no I/O, safe on any bytes (fuzzed).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace akt::remote::wire {

// The frame layout version, in every frame's header: 1 in protocol
// versions 1 and 2 (version 2 adds the NODE kind and nothing else).
constexpr uint8_t kVersion = 1;
// The protocol versions this node speaks (the hello negotiates one).
constexpr uint8_t kMinVersion = 1;
constexpr uint8_t kMaxVersion = 2;
constexpr uint8_t kNodeIdVersion = 2;  // the first with NODE frames
constexpr std::size_t kLengthSize = 4;
constexpr std::size_t kHeaderSize = 32;  // including the length field
constexpr std::size_t kFixedAfterLength = kHeaderSize - kLengthSize;  // 28
constexpr char kMagic[4] = {'A', 'K', 'T', 'R'};

enum class Kind : uint8_t {
  kTell = 1,   // one-way message to `target`
  kAsk = 2,    // request to `target`; answered by kReply or kError
  kReply = 3,  // answer to the kAsk with the same correlation id
  kError = 4,  // failure answer (payload: u32 code + UTF-8 text)
  kPing = 5,   // liveness probe; answered by kPong with the same id
  kPong = 6,
  kNode = 7,   // protocol version 2: the sender's node identity, first frame
};
// Valid under the highest protocol version; a connection that negotiated
// version 1 refuses kNode itself.
bool ValidKind(uint8_t k);

// The payload of a NODE frame: u64 incarnation, u16 endpoint length, the
// endpoint ("host:port" the sender serves on).
struct NodeBody {
  uint64_t incarnation = 0;
  std::string endpoint;
};
std::string EncodeNodeBody(const NodeBody& b);
bool DecodeNodeBody(std::string_view payload, NodeBody* out);

// Flags (u16). Unknown flags are an error in version 1.
constexpr uint16_t kFlagNone = 0;
constexpr uint16_t kKnownFlags = 0;

// The reserved target of control requests (spawn, lookup, stop, ...).
constexpr std::string_view kControlTarget = "$remote";

struct Frame {
  uint8_t version = kVersion;
  Kind kind = Kind::kTell;
  uint16_t flags = 0;
  uint64_t correlation = 0;
  uint32_t deadline_us = 0;  // remaining budget of the caller; 0: none
  std::string_view type;     // full protobuf type name
  std::string_view target;   // recipient actor name (kTell/kAsk)
  std::string_view sender;   // sender's address, may be empty
  std::string_view metadata; // encoded headers (EncodeHeaders)
  std::string_view payload;  // serialised protobuf message / error body
};

enum class DecodeStatus { kOk, kNeedMore, kError };

// Decodes one frame from the front of `data`. kOk: `*out` views into `data`
// and `*consumed` is its size. kNeedMore: not a whole frame yet (the
// header, if present, was already checked). kError: `*error` says why; the
// stream cannot be resynchronised.
DecodeStatus DecodeFrame(const uint8_t* data, std::size_t size, std::size_t max_frame, Frame* out,
                         std::size_t* consumed, std::string* error);

// Size of the encoded frame.
std::size_t EncodedSize(const Frame& f, std::size_t payload_size);
// Writes the header and every field except the payload to `out` (exactly
// EncodedSize - payload_size bytes); the caller appends payload_size bytes.
void EncodeHead(const Frame& f, std::size_t payload_size, uint8_t* out);

// Headers <-> metadata bytes: repeated {u16 key_len, key, u16 value_len, value}.
std::string EncodeHeaders(const std::vector<std::pair<std::string, std::string>>& headers);
bool DecodeHeaders(std::string_view bytes, std::vector<std::pair<std::string, std::string>>* out);

// Error bodies: u32 code (akt StatusCode) + UTF-8 message.
std::string EncodeError(uint32_t code, std::string_view message);
bool DecodeError(std::string_view payload, uint32_t* code, std::string* message);

// ---- handshake ----
struct ClientHello {
  uint8_t min_version = kMinVersion;
  uint8_t max_version = kMaxVersion;
  std::vector<uint8_t> codecs;  // preference order, 1..8 entries
  std::string system;           // 0..255 bytes
};
enum class HelloStatus : uint8_t {
  kAccepted = 0,
  kVersionMismatch = 1,
  kNoCommonCodec = 2,
  kRefused = 3,  // too many connections, shutting down
  kMalformed = 4,
};
struct ServerHello {
  HelloStatus status = HelloStatus::kAccepted;
  uint8_t version = kVersion;
  uint8_t codec = 0;
  std::string text;  // accepted: the server's system name; else the reason
};
constexpr std::size_t kMaxHelloSize = 4 + 3 + 8 + 2 + 255;

std::string EncodeClientHello(const ClientHello& h);
// kNeedMore until the whole hello is there; `*consumed` on kOk.
DecodeStatus DecodeClientHello(const uint8_t* data, std::size_t size, ClientHello* out,
                               std::size_t* consumed, std::string* error);
std::string EncodeServerHello(const ServerHello& h);
DecodeStatus DecodeServerHello(const uint8_t* data, std::size_t size, ServerHello* out,
                               std::size_t* consumed, std::string* error);

}  // namespace akt::remote::wire
