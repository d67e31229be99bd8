#include "wire.h"

#include <cstring>

namespace akt::remote::wire {
namespace {

uint16_t Get16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }
uint32_t Get32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) | (static_cast<uint32_t>(p[1]) << 8) |
         (static_cast<uint32_t>(p[2]) << 16) | (static_cast<uint32_t>(p[3]) << 24);
}
uint64_t Get64(const uint8_t* p) {
  return static_cast<uint64_t>(Get32(p)) | (static_cast<uint64_t>(Get32(p + 4)) << 32);
}
void Put16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v);
  p[1] = static_cast<uint8_t>(v >> 8);
}
void Put32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
void Put64(uint8_t* p, uint64_t v) {
  Put32(p, static_cast<uint32_t>(v));
  Put32(p + 4, static_cast<uint32_t>(v >> 32));
}
void Append16(std::string& s, uint16_t v) {
  s.push_back(static_cast<char>(v & 0xff));
  s.push_back(static_cast<char>(v >> 8));
}
void Append32(std::string& s, uint32_t v) {
  for (int i = 0; i < 4; ++i) s.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
std::string_view View(const uint8_t* p, std::size_t n) {
  return std::string_view(reinterpret_cast<const char*>(p), n);
}

}  // namespace

bool ValidKind(uint8_t k) { return k >= 1 && k <= 7; }

std::string EncodeNodeBody(const NodeBody& b) {
  std::string out(10 + b.endpoint.size(), '\0');
  auto* p = reinterpret_cast<uint8_t*>(out.data());
  Put64(p, b.incarnation);
  Put16(p + 8, static_cast<uint16_t>(b.endpoint.size()));
  if (!b.endpoint.empty()) std::memcpy(p + 10, b.endpoint.data(), b.endpoint.size());
  return out;
}

bool DecodeNodeBody(std::string_view payload, NodeBody* out) {
  if (payload.size() < 10) return false;
  auto* p = reinterpret_cast<const uint8_t*>(payload.data());
  uint16_t n = Get16(p + 8);
  if (payload.size() != 10u + n || n == 0 || out == nullptr) return false;
  out->incarnation = Get64(p);
  out->endpoint.assign(payload.data() + 10, n);
  return out->incarnation != 0;
}

DecodeStatus DecodeFrame(const uint8_t* data, std::size_t size, std::size_t max_frame, Frame* out,
                         std::size_t* consumed, std::string* error) {
  if (size < kLengthSize) return DecodeStatus::kNeedMore;
  uint32_t len = Get32(data);
  if (len < kFixedAfterLength) {
    *error = "frame length " + std::to_string(len) + " is shorter than the 28-byte header";
    return DecodeStatus::kError;
  }
  if (len > max_frame) {
    *error = "frame length " + std::to_string(len) + " exceeds the maximum of " +
             std::to_string(max_frame) + " bytes";
    return DecodeStatus::kError;
  }
  if (size < kHeaderSize) return DecodeStatus::kNeedMore;
  const uint8_t* h = data + kLengthSize;
  if (h[0] != kVersion) {
    *error = "frame version " + std::to_string(h[0]) + " is not the negotiated version " +
             std::to_string(kVersion);
    return DecodeStatus::kError;
  }
  if (!ValidKind(h[1])) {
    *error = "unknown frame kind " + std::to_string(h[1]);
    return DecodeStatus::kError;
  }
  uint16_t flags = Get16(h + 2);
  if ((flags & ~kKnownFlags) != 0) {
    *error = "unknown frame flags " + std::to_string(flags);
    return DecodeStatus::kError;
  }
  uint16_t type_len = Get16(h + 16);
  uint16_t target_len = Get16(h + 18);
  uint16_t sender_len = Get16(h + 20);
  uint16_t meta_len = Get16(h + 22);
  uint32_t payload_len = Get32(h + 24);
  uint64_t total = uint64_t{kFixedAfterLength} + type_len + target_len + sender_len + meta_len +
                   payload_len;
  if (total != len) {
    *error = "frame length " + std::to_string(len) + " does not match its fields (" +
             std::to_string(total) + ")";
    return DecodeStatus::kError;
  }
  if (size < kLengthSize + len) return DecodeStatus::kNeedMore;
  out->version = h[0];
  out->kind = static_cast<Kind>(h[1]);
  out->flags = flags;
  out->correlation = Get64(h + 4);
  out->deadline_us = Get32(h + 12);
  const uint8_t* p = data + kHeaderSize;
  out->type = View(p, type_len);
  p += type_len;
  out->target = View(p, target_len);
  p += target_len;
  out->sender = View(p, sender_len);
  p += sender_len;
  out->metadata = View(p, meta_len);
  p += meta_len;
  out->payload = View(p, payload_len);
  *consumed = kLengthSize + len;
  return DecodeStatus::kOk;
}

std::size_t EncodedSize(const Frame& f, std::size_t payload_size) {
  return kHeaderSize + f.type.size() + f.target.size() + f.sender.size() + f.metadata.size() +
         payload_size;
}

void EncodeHead(const Frame& f, std::size_t payload_size, uint8_t* out) {
  std::size_t len = EncodedSize(f, payload_size) - kLengthSize;
  Put32(out, static_cast<uint32_t>(len));
  uint8_t* h = out + kLengthSize;
  h[0] = f.version;
  h[1] = static_cast<uint8_t>(f.kind);
  Put16(h + 2, f.flags);
  Put64(h + 4, f.correlation);
  Put32(h + 12, f.deadline_us);
  Put16(h + 16, static_cast<uint16_t>(f.type.size()));
  Put16(h + 18, static_cast<uint16_t>(f.target.size()));
  Put16(h + 20, static_cast<uint16_t>(f.sender.size()));
  Put16(h + 22, static_cast<uint16_t>(f.metadata.size()));
  Put32(h + 24, static_cast<uint32_t>(payload_size));
  uint8_t* p = out + kHeaderSize;
  for (std::string_view s : {f.type, f.target, f.sender, f.metadata}) {
    if (!s.empty()) std::memcpy(p, s.data(), s.size());
    p += s.size();
  }
}

std::string EncodeHeaders(const std::vector<std::pair<std::string, std::string>>& headers) {
  std::string out;
  for (const auto& [k, v] : headers) {
    if (k.size() > 0xffff || v.size() > 0xffff) continue;
    Append16(out, static_cast<uint16_t>(k.size()));
    out += k;
    Append16(out, static_cast<uint16_t>(v.size()));
    out += v;
  }
  return out;
}

bool DecodeHeaders(std::string_view bytes, std::vector<std::pair<std::string, std::string>>* out) {
  const auto* p = reinterpret_cast<const uint8_t*>(bytes.data());
  std::size_t n = bytes.size();
  std::size_t i = 0;
  while (i < n) {
    if (n - i < 2) return false;
    uint16_t kl = Get16(p + i);
    i += 2;
    if (n - i < kl) return false;
    std::string k(reinterpret_cast<const char*>(p + i), kl);
    i += kl;
    if (n - i < 2) return false;
    uint16_t vl = Get16(p + i);
    i += 2;
    if (n - i < vl) return false;
    out->emplace_back(std::move(k), std::string(reinterpret_cast<const char*>(p + i), vl));
    i += vl;
  }
  return true;
}

std::string EncodeError(uint32_t code, std::string_view message) {
  std::string out;
  Append32(out, code);
  out.append(message);
  return out;
}

bool DecodeError(std::string_view payload, uint32_t* code, std::string* message) {
  if (payload.size() < 4) return false;
  *code = Get32(reinterpret_cast<const uint8_t*>(payload.data()));
  message->assign(payload.substr(4));
  return true;
}

std::string EncodeClientHello(const ClientHello& h) {
  std::string out(kMagic, 4);
  out.push_back(static_cast<char>(h.min_version));
  out.push_back(static_cast<char>(h.max_version));
  out.push_back(static_cast<char>(h.codecs.size()));
  for (uint8_t c : h.codecs) out.push_back(static_cast<char>(c));
  std::string_view name = std::string_view(h.system).substr(0, 255);
  Append16(out, static_cast<uint16_t>(name.size()));
  out.append(name);
  return out;
}

DecodeStatus DecodeClientHello(const uint8_t* data, std::size_t size, ClientHello* out,
                               std::size_t* consumed, std::string* error) {
  if (size == 0) return DecodeStatus::kNeedMore;
  std::size_t have = size < 4 ? size : 4;
  if (std::memcmp(data, kMagic, have) != 0) {
    *error = "not an akt remoting connection (bad magic)";
    return DecodeStatus::kError;
  }
  if (size < 7) return DecodeStatus::kNeedMore;
  uint8_t n = data[6];
  if (n == 0 || n > 8) {
    *error = "client hello offers " + std::to_string(n) + " codecs (1..8 allowed)";
    return DecodeStatus::kError;
  }
  if (size < 7u + n + 2u) return DecodeStatus::kNeedMore;
  uint16_t name_len = Get16(data + 7 + n);
  if (name_len > 255) {
    *error = "client hello system name is longer than 255 bytes";
    return DecodeStatus::kError;
  }
  std::size_t total = 7u + n + 2u + name_len;
  if (size < total) return DecodeStatus::kNeedMore;
  out->min_version = data[4];
  out->max_version = data[5];
  if (out->min_version > out->max_version) {
    *error = "client hello version range is empty";
    return DecodeStatus::kError;
  }
  out->codecs.assign(data + 7, data + 7 + n);
  out->system.assign(reinterpret_cast<const char*>(data + 9 + n), name_len);
  *consumed = total;
  return DecodeStatus::kOk;
}

std::string EncodeServerHello(const ServerHello& h) {
  std::string out(kMagic, 4);
  out.push_back(static_cast<char>(h.status));
  out.push_back(static_cast<char>(h.version));
  out.push_back(static_cast<char>(h.codec));
  std::string_view text = std::string_view(h.text).substr(0, 255);
  Append16(out, static_cast<uint16_t>(text.size()));
  out.append(text);
  return out;
}

DecodeStatus DecodeServerHello(const uint8_t* data, std::size_t size, ServerHello* out,
                               std::size_t* consumed, std::string* error) {
  if (size == 0) return DecodeStatus::kNeedMore;
  std::size_t have = size < 4 ? size : 4;
  if (std::memcmp(data, kMagic, have) != 0) {
    *error = "the server did not answer with an akt hello (bad magic)";
    return DecodeStatus::kError;
  }
  if (size < 9) return DecodeStatus::kNeedMore;
  if (data[4] > 4) {
    *error = "server hello has unknown status " + std::to_string(data[4]);
    return DecodeStatus::kError;
  }
  uint16_t text_len = Get16(data + 7);
  if (text_len > 255) {
    *error = "server hello text is longer than 255 bytes";
    return DecodeStatus::kError;
  }
  if (size < 9u + text_len) return DecodeStatus::kNeedMore;
  out->status = static_cast<HelloStatus>(data[4]);
  out->version = data[5];
  out->codec = data[6];
  out->text.assign(reinterpret_cast<const char*>(data + 9), text_len);
  *consumed = 9u + text_len;
  return DecodeStatus::kOk;
}

}  // namespace akt::remote::wire
