// What a connection runs on (internal to the remoting layer): a byte stream,
// and where streams come from. A TCP socket is one kind of stream
// (SocketStream); akt::testing::SimNetwork's links are the other. Everything
// above the stream — handshake, frames, codecs, requests, heartbeats — is
// the same code for both (docs/design.md, "The simulated network").
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "akt/status.h"

namespace akt {
class RemotingImpl;
}

namespace akt::remote {

class Connection;

// One byte stream between two nodes, used like a non-blocking socket.
class Stream {
 public:
  virtual ~Stream() = default;
  // Like recv(2): bytes read, 0 at the end of the stream, -1 with errno set
  // (EAGAIN: nothing there now).
  virtual long Read(uint8_t* p, std::size_t n) = 0;
  // Like send(2): bytes written, or -1 with errno (EAGAIN: full).
  virtual long Write(const uint8_t* p, std::size_t n) = 0;
  // Like shutdown(2): `write_only` ends the sending side after what was
  // written; otherwise both.
  virtual void Shutdown(bool write_only) = 0;
  // Blocks for the dialling side's handshake until `events` (POLLIN /
  // POLLOUT) or `deadline_ns` (the remoting clock); false on the deadline.
  virtual bool Wait(short events, int64_t deadline_ns) = 0;
  // The socket, or -1 (a simulated stream: no epoll, no TLS).
  virtual int fd() const { return -1; }
  // The connection this stream carries: told when bytes arrive (simulated
  // streams; a socket is watched by an I/O loop instead). Null to detach.
  virtual void Attach(Connection* c) { (void)c; }
};

// A TCP socket (non-blocking). Closes it on destruction.
std::unique_ptr<Stream> MakeSocketStream(int fd);

// Where streams come from when not from TCP: the simulated network. A
// remoting with a transport opens no socket and starts no thread; its
// sweeps run on the system's (virtual) timers.
class Transport {
 public:
  virtual ~Transport() = default;
  // `node` accepts streams at `endpoint` from now on (AcceptStream).
  virtual Status Listen(RemotingImpl* node, const std::string& endpoint) = 0;
  virtual void Unlisten(RemotingImpl* node) = 0;
  // A stream from `from` to whoever listens at `endpoint`; the listener
  // has accepted its end when this returns.
  virtual Result<std::unique_ptr<Stream>> Dial(RemotingImpl* from, const std::string& endpoint) = 0;
  // The incarnation of a node that starts now (repeatable in simulation).
  virtual uint64_t NewIncarnation() = 0;
};

}  // namespace akt::remote
