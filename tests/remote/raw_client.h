// A plain socket speaking (or breaking) the akt wire protocol, for tests.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "wire.h"

namespace akt::test {

class RawClient {
 public:
  explicit RawClient(uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  ~RawClient() { Close(); }
  bool connected() const { return connected_; }
  void Close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  // Closes with a reset (RST) instead of FIN.
  void Reset() {
    linger l{1, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    Close();
  }
  bool Send(const std::string& bytes) {
    return ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL) ==
           static_cast<ssize_t>(bytes.size());
  }
  // Reads what arrives within `timeout`; stops early at EOF. `*eof` tells.
  std::string Read(std::chrono::milliseconds timeout, bool* eof = nullptr,
                   std::size_t want = SIZE_MAX) {
    std::string out;
    auto deadline = std::chrono::steady_clock::now() + timeout;
    if (eof) *eof = false;
    while (out.size() < want) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                      deadline - std::chrono::steady_clock::now())
                      .count();
      if (left <= 0) break;
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left)) <= 0) break;
      char buf[4096];
      ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) {
        if (eof) *eof = true;
        break;
      }
      out.append(buf, static_cast<std::size_t>(n));
    }
    return out;
  }
  // Sends a hello offering `codecs`; returns the server's hello.
  remote::wire::ServerHello Hello(std::vector<uint8_t> codecs = {0}, uint8_t min_v = 1,
                                  uint8_t max_v = 1) {
    remote::wire::ClientHello h;
    h.codecs = std::move(codecs);
    h.min_version = min_v;
    h.max_version = max_v;
    h.system = "raw";
    Send(remote::wire::EncodeClientHello(h));
    std::string got = Read(std::chrono::milliseconds(2000), nullptr, 9);
    remote::wire::ServerHello out;
    out.status = remote::wire::HelloStatus::kMalformed;
    std::size_t used = 0;
    std::string err;
    for (int i = 0; i < 10; ++i) {
      auto st = remote::wire::DecodeServerHello(reinterpret_cast<const uint8_t*>(got.data()),
                                                got.size(), &out, &used, &err);
      if (st != remote::wire::DecodeStatus::kNeedMore) break;
      got += Read(std::chrono::milliseconds(200));
    }
    return out;
  }

 private:
  int fd_ = -1;
  bool connected_ = false;
};

// The server hello at the start of `bytes`; nullopt unless it decodes whole.
inline std::optional<remote::wire::ServerHello> ParseServerHello(const std::string& bytes) {
  remote::wire::ServerHello h;
  std::size_t used = 0;
  std::string err;
  if (remote::wire::DecodeServerHello(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(),
                                      &h, &used, &err) != remote::wire::DecodeStatus::kOk) {
    return std::nullopt;
  }
  return h;
}

// One encoded frame.
inline std::string EncodeFrame(const remote::wire::Frame& f, const std::string& payload) {
  std::string out(remote::wire::EncodedSize(f, payload.size()), '\0');
  remote::wire::EncodeHead(f, payload.size(), reinterpret_cast<uint8_t*>(out.data()));
  std::copy(payload.begin(), payload.end(), out.end() - static_cast<long>(payload.size()));
  return out;
}

// Decodes every whole frame in `bytes`.
inline std::vector<remote::wire::Frame> DecodeAll(const std::string& bytes,
                                                  std::vector<std::string>* payloads) {
  std::vector<remote::wire::Frame> out;
  std::size_t off = 0;
  for (;;) {
    remote::wire::Frame f;
    std::size_t used = 0;
    std::string err;
    auto st = remote::wire::DecodeFrame(reinterpret_cast<const uint8_t*>(bytes.data()) + off,
                                        bytes.size() - off, 1u << 24, &f, &used, &err);
    if (st != remote::wire::DecodeStatus::kOk) break;
    out.push_back(f);
    payloads->emplace_back(f.payload);
    off += used;
  }
  return out;
}

}  // namespace akt::test
