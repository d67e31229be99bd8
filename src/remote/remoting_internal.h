// What the remoting layer's files share (internal): wrapping parsed
// protobuf messages, endpoint parsing, socket options, the per-thread last
// connection. remoting.cc: start, accept, shutdown, the public bits;
// outbound.cc: dial, pool, send; inbound.cc: frame -> target -> delivery;
// control.cc: control requests, both sides; nodes.cc, watch.cc.
#pragma once

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cstring>
#include <string>
#include <string_view>
#include <typeinfo>

#include <google/protobuf/message.h>

#include "akt/message.h"
#include "akt/status.h"
#include "connection.h"
#include "cycle_clock.h"
#include "envelope.h"

namespace akt {

class RemotingImpl;

namespace internal {
// Wraps a protobuf message parsed from the wire into a Message that As<T>()
// recognises as the generated class T.
struct MessageAccess {
  static const google::protobuf::Message* Ptr(const void* s) {
    const google::protobuf::Message* m;
    std::memcpy(&m, s, sizeof m);
    return m;
  }
  static void Destroy(void* s) { delete Ptr(s); }
  static void Relocate(void* dst, void* src) { std::memcpy(dst, src, sizeof(void*)); }
  static void Copy(void* dst, const void* src) {
    const google::protobuf::Message* m = Ptr(src);
    google::protobuf::Message* c = m->New();
    c->CopyFrom(*m);
    std::memcpy(dst, &c, sizeof c);
  }
  static void* Get(void* s) {
    return dynamic_cast<void*>(const_cast<google::protobuf::Message*>(Ptr(s)));
  }
  static std::string_view Name() { return "<protobuf>"; }
  static const google::protobuf::Message* Proto(const void* s) { return Ptr(s); }
  static const std::type_info* DynamicType(const void* s) { return &typeid(*Ptr(s)); }
  static constexpr TypeOps kOps{&Destroy, &Relocate, &Copy, &Get, &Name, &Proto, &DynamicType};

  static Message Wrap(google::protobuf::Message* m) {
    Message out;
    std::memcpy(out.storage_, &m, sizeof m);
    out.ops_ = &kOps;
    return out;
  }
};
}  // namespace internal

namespace remote_detail {

inline bool SplitHostPort(std::string_view ep, std::string* host, uint16_t* port) {
  std::size_t colon = ep.rfind(':');
  if (colon == std::string_view::npos || colon == 0) return false;
  std::string_view p = ep.substr(colon + 1);
  if (p.empty() || p.size() > 5) return false;
  unsigned v = 0;
  for (char ch : p) {
    if (ch < '0' || ch > '9') return false;
    v = v * 10 + static_cast<unsigned>(ch - '0');
  }
  if (v == 0 || v > 65535) return false;
  *host = std::string(ep.substr(0, colon));
  if (host->size() > 2 && host->front() == '[' && host->back() == ']') {
    *host = host->substr(1, host->size() - 2);
  }
  *port = static_cast<uint16_t>(v);
  return true;
}

inline bool ResolveAddr(const std::string& host, uint16_t port, sockaddr_storage* out, socklen_t* len) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* res = nullptr;
  std::string ps = std::to_string(port);
  if (::getaddrinfo(host.c_str(), ps.c_str(), &hints, &res) != 0 || res == nullptr) return false;
  std::memcpy(out, res->ai_addr, res->ai_addrlen);
  *len = res->ai_addrlen;
  ::freeaddrinfo(res);
  return true;
}

inline void SetNoDelay(int fd) {
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

inline StatusCode CodeFromWire(uint32_t c) {
  if (c == 0 || c > static_cast<uint32_t>(StatusCode::kActivationFailed))
    return StatusCode::kInternal;
  return static_cast<StatusCode>(c);
}


// The connection this thread used last (one reference held): a stream of
// messages to one endpoint skips the pool and its locks.
struct LastConnection {
  const RemotingImpl* owner = nullptr;
  std::string endpoint;
  remote::Connection* conn = nullptr;
  ~LastConnection() { Reset(); }
  void Reset() {
    if (conn != nullptr) conn->Release();
    conn = nullptr;
    owner = nullptr;
  }
};
extern thread_local LastConnection t_last;

}  // namespace remote_detail

// The names the remoting files use unqualified (this header is included by
// them only).
using internal::ActorCell;
using internal::Envelope;
using internal::ReplyKind;
using internal::SteadyNowNs;
using internal::ToNs;
using remote::Connection;
using remote::Pending;
namespace wire = remote::wire;
using namespace remote_detail;

}  // namespace akt
