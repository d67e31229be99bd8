// tcp_bench: the raw-TCP floor for akt's remote benchmark workloads (see
// BENCHMARKS.md, "Also report a raw-TCP floor"). Two processes on loopback, a
// plain blocking socket between them, no framework: the physical limit the
// remote figures of akt and the peers are held against. Prints one line per
// figure:
//
//   RESULT tcp <workload> <metric> <value> <unit>
//
// Usage:
//
//   tcp_bench <workload>        (or the environment variable WORKLOAD)
//
// Workloads and their size variables (defaults from BENCHMARKS.md):
//
//   remote_pingpong  RPP_N=100000   roundtrips_per_sec, p50_rt_us, p99_rt_us
//   remote_oneway    RTP_N=1000000  msgs_per_sec
//
// Exit status: 0 done, 1 failure (a socket error, a short read, the time
// limit), 2 bad command line, 3 unknown workload (scripts/bench reads 3 as
// "not implemented here": an empty cell).
//
// How it runs: the parent listens on 127.0.0.1 port 0 (the kernel picks a free
// port), forks, and the child (the server side) accepts one connection. Both
// sockets are blocking with TCP_NODELAY. A message is a 64-byte frame on the
// wire: a 4-byte little-endian length prefix (60) and 60 bytes of payload,
// like a frame of a real transport. Each side reads as much as the socket has
// (up to a 64 KiB buffer) and parses whole frames out of it, so a read that
// returns part of a frame is handled as a transport would.
//
// What is timed:
// - remote_pingpong: the client writes one frame (one send), the server reads
//   it and writes it back, the client reads it back: one round trip, one
//   message in flight, RPP_N times. Every round trip is timed on its own
//   (steady_clock) for p50/p99; roundtrips_per_sec = RPP_N / total time.
// - remote_oneway: the client writes RTP_N frames in batches of 64 frames per
//   send (4 KiB writes); the server reads and counts them and, when it has
//   all, writes an 8-byte acknowledgement back. The time runs from the first
//   write until the client has that acknowledgement.
//
// Nothing is left behind: the child dies with the parent (PR_SET_PDEATHSIG),
// both sockets have a receive/send timeout, the parent has an alarm()
// deadline (REMOTE_TIMEOUT_S, default 240 s) that kills the child and exits,
// and the parent reaps the child before it exits.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

constexpr size_t kFrame = 64;              // bytes on the wire per message
constexpr uint32_t kPayload = kFrame - 4;  // length prefix + payload = 64
constexpr size_t kBatch = 64;              // frames per send in remote_oneway
constexpr size_t kReadBuf = 64 * 1024;

pid_t g_child = -1;

int64_t EnvSize(const char* name, int64_t fallback) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return fallback;
  char* end = nullptr;
  long long n = std::strtoll(v, &end, 10);
  if (end == v || *end != '\0' || n <= 0) {
    std::fprintf(stderr, "tcp_bench: ignoring bad %s=%s\n", name, v);
    return fallback;
  }
  return n;
}

void Report(const char* workload, const char* metric, double value, const char* unit) {
  std::printf("RESULT tcp %s %s %.6g %s\n", workload, metric, value, unit);
  std::fflush(stdout);
}

[[noreturn]] void Die(const char* what) {
  std::fprintf(stderr, "tcp_bench: %s: %s\n", what, std::strerror(errno));
  if (g_child > 0) kill(g_child, SIGKILL);
  _exit(1);
}

void OnAlarm(int) {
  static const char msg[] = "tcp_bench: time limit reached, killing the server side\n";
  ssize_t ignored = write(2, msg, sizeof msg - 1);
  (void)ignored;
  if (g_child > 0) kill(g_child, SIGKILL);
  _exit(1);
}

void SetSocketOptions(int fd) {
  int one = 1;
  if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0) Die("TCP_NODELAY");
  timeval tv{};
  tv.tv_sec = 60;  // no single read or write waits longer than this
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

void WriteAll(int fd, const char* p, size_t n) {
  while (n > 0) {
    ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EINTR) continue;
      Die("send");
    }
    p += w;
    n -= static_cast<size_t>(w);
  }
}

// Reads whole frames: buffers what the socket returns and hands out one frame
// at a time. Next() returns false at end of stream.
class FrameReader {
 public:
  explicit FrameReader(int fd) : fd_(fd), buf_(kReadBuf) {}

  // Makes at least one whole frame available; returns the number of whole
  // frames buffered (0 at a clean end of stream).
  size_t Fill() {
    while (end_ - begin_ < kFrame) {
      if (begin_ > 0) {
        std::memmove(buf_.data(), buf_.data() + begin_, end_ - begin_);
        end_ -= begin_;
        begin_ = 0;
      }
      ssize_t r = recv(fd_, buf_.data() + end_, buf_.size() - end_, 0);
      if (r < 0) {
        if (errno == EINTR) continue;
        Die("recv");
      }
      if (r == 0) return 0;
      end_ += static_cast<size_t>(r);
    }
    return (end_ - begin_) / kFrame;
  }

  // The next frame (Fill() must have said there is one).
  const char* Take() {
    const char* f = buf_.data() + begin_;
    uint32_t len;
    std::memcpy(&len, f, 4);
    if (len != kPayload) {
      std::fprintf(stderr, "tcp_bench: bad frame length %u\n", len);
      if (g_child > 0) kill(g_child, SIGKILL);
      _exit(1);
    }
    begin_ += kFrame;
    return f;
  }

 private:
  int fd_;
  std::vector<char> buf_;
  size_t begin_ = 0;
  size_t end_ = 0;
};

void MakeFrame(char* f, uint64_t seq) {
  std::memset(f, 0, kFrame);
  uint32_t len = kPayload;
  std::memcpy(f, &len, 4);
  std::memcpy(f + 4, &seq, 8);
}

// -- server side (the child) -------------------------------------------------

void ServePingpong(int fd) {
  FrameReader in(fd);
  while (in.Fill() > 0) {
    const char* f = in.Take();
    WriteAll(fd, f, kFrame);  // echo the frame back
  }
}

void ServeOneway(int fd, int64_t n) {
  FrameReader in(fd);
  int64_t count = 0;
  while (count < n) {
    size_t k = in.Fill();
    if (k == 0) {
      std::fprintf(stderr, "tcp_bench: server: stream ended after %lld of %lld frames\n",
                   static_cast<long long>(count), static_cast<long long>(n));
      _exit(1);
    }
    for (size_t i = 0; i < k; ++i) in.Take();
    count += static_cast<int64_t>(k);
  }
  uint64_t ack = static_cast<uint64_t>(count);
  WriteAll(fd, reinterpret_cast<const char*>(&ack), sizeof ack);
  char c;
  while (recv(fd, &c, 1, 0) > 0) {
  }  // until the client closes
}

[[noreturn]] void RunServer(int listen_fd, const std::string& workload, int64_t n) {
  int fd = accept(listen_fd, nullptr, nullptr);
  if (fd < 0) Die("accept");
  close(listen_fd);
  SetSocketOptions(fd);
  if (workload == "remote_pingpong") {
    ServePingpong(fd);
  } else {
    ServeOneway(fd, n);
  }
  close(fd);
  _exit(0);
}

// -- client side (the parent) ------------------------------------------------

double Percentile(std::vector<int64_t>& ns, double q) {
  if (ns.empty()) return 0;
  size_t k = static_cast<size_t>(q * double(ns.size() - 1) + 0.5);
  std::nth_element(ns.begin(), ns.begin() + static_cast<std::ptrdiff_t>(k), ns.end());
  return double(ns[k]);
}

void ClientPingpong(int fd, int64_t n) {
  FrameReader in(fd);
  char frame[kFrame];
  std::vector<int64_t> rt_ns(static_cast<size_t>(n));
  auto t0 = Clock::now();
  auto prev = t0;
  for (int64_t i = 0; i < n; ++i) {
    MakeFrame(frame, static_cast<uint64_t>(i));
    WriteAll(fd, frame, kFrame);
    if (in.Fill() == 0) {
      errno = ECONNRESET;
      Die("server closed the connection");
    }
    const char* back = in.Take();
    uint64_t seq;
    std::memcpy(&seq, back + 4, 8);
    if (seq != static_cast<uint64_t>(i)) {
      std::fprintf(stderr, "tcp_bench: echo out of order\n");
      kill(g_child, SIGKILL);
      _exit(1);
    }
    auto now = Clock::now();
    rt_ns[static_cast<size_t>(i)] =
        std::chrono::duration_cast<std::chrono::nanoseconds>(now - prev).count();
    prev = now;
  }
  double s = std::chrono::duration<double>(prev - t0).count();
  Report("remote_pingpong", "roundtrips_per_sec", double(n) / s, "rt/s");
  Report("remote_pingpong", "p50_rt_us", Percentile(rt_ns, 0.50) / 1e3, "us");
  Report("remote_pingpong", "p99_rt_us", Percentile(rt_ns, 0.99) / 1e3, "us");
}

void ClientOneway(int fd, int64_t n) {
  std::vector<char> batch(kBatch * kFrame);
  auto t0 = Clock::now();
  int64_t sent = 0;
  while (sent < n) {
    size_t k = static_cast<size_t>(std::min<int64_t>(kBatch, n - sent));
    for (size_t i = 0; i < k; ++i) {
      MakeFrame(batch.data() + i * kFrame, static_cast<uint64_t>(sent) + i);
    }
    WriteAll(fd, batch.data(), k * kFrame);
    sent += static_cast<int64_t>(k);
  }
  uint64_t ack = 0;
  size_t got = 0;
  while (got < sizeof ack) {
    ssize_t r = recv(fd, reinterpret_cast<char*>(&ack) + got, sizeof ack - got, 0);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) Die("recv acknowledgement");
    got += static_cast<size_t>(r);
  }
  auto t1 = Clock::now();
  if (ack != static_cast<uint64_t>(n)) {
    std::fprintf(stderr, "tcp_bench: server acknowledged %llu of %lld\n",
                 static_cast<unsigned long long>(ack), static_cast<long long>(n));
    kill(g_child, SIGKILL);
    _exit(1);
  }
  Report("remote_oneway", "msgs_per_sec",
         double(n) / std::chrono::duration<double>(t1 - t0).count(), "msg/s");
}

}  // namespace

int main(int argc, char** argv) {
  std::string workload;
  if (argc > 2) {
    std::fprintf(stderr, "usage: tcp_bench <workload>\n");
    return 2;
  }
  if (argc == 2) {
    workload = argv[1];
  } else if (const char* w = std::getenv("WORKLOAD")) {
    workload = w;
  }
  int64_t n = 0;
  if (workload == "remote_pingpong") {
    n = EnvSize("RPP_N", 100000);
  } else if (workload == "remote_oneway") {
    n = EnvSize("RTP_N", 1000000);
  } else {
    std::fprintf(stderr,
                 "tcp_bench: unknown workload '%s'; one of: remote_pingpong remote_oneway\n",
                 workload.c_str());
    return 3;  // scripts/bench: "workload not implemented here"
  }

  int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (lfd < 0) Die("socket");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;  // the kernel picks a free port
  if (bind(lfd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) Die("bind 127.0.0.1:0");
  if (listen(lfd, 1) != 0) Die("listen");
  socklen_t alen = sizeof addr;
  if (getsockname(lfd, reinterpret_cast<sockaddr*>(&addr), &alen) != 0) Die("getsockname");

  const pid_t parent = getpid();
  pid_t child = fork();
  if (child < 0) Die("fork");
  if (child == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(1);  // the parent is already gone
    alarm(static_cast<unsigned>(EnvSize("REMOTE_TIMEOUT_S", 240)) + 10);
    RunServer(lfd, workload, n);
  }
  g_child = child;
  signal(SIGALRM, OnAlarm);
  alarm(static_cast<unsigned>(EnvSize("REMOTE_TIMEOUT_S", 240)));
  close(lfd);

  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) Die("socket");
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) Die("connect");
  SetSocketOptions(fd);
  std::fprintf(stderr, "tcp_bench: %s over 127.0.0.1:%u, %lld messages of %zu bytes\n",
               workload.c_str(), unsigned(ntohs(addr.sin_port)), static_cast<long long>(n), kFrame);

  if (workload == "remote_pingpong") {
    ClientPingpong(fd, n);
  } else {
    ClientOneway(fd, n);
  }
  close(fd);  // the server sees the end of the stream and exits

  int status = 0;
  if (waitpid(child, &status, 0) != child) Die("waitpid");
  alarm(0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::fprintf(stderr, "tcp_bench: the server side failed (status %d)\n", status);
    return 1;
  }
  return 0;
}
