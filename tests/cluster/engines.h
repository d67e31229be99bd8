// Real coordination engines for tests: an etcd server on loopback, with a
// data directory and ports of its own, stopped (and its directory removed)
// when the object goes. The server dies with the test process too
// (PR_SET_PDEATHSIG), so a crashed test leaves nothing running.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "akt/cluster.h"

namespace akt::test {

// A member for a provider's Register, of system "sys".
inline Member TestMember(const std::string& endpoint, uint64_t incarnation,
                         std::vector<std::string> roles) {
  Member m;
  m.node = NodeId{"sys", endpoint, incarnation};
  m.roles = std::move(roles);
  return m;
}

// `p` lists `endpoint` among its peers.
inline bool Lists(MembershipProvider& p, const std::string& endpoint) {
  Result<std::vector<std::string>> peers = p.Peers();
  return peers.ok() && std::find(peers->begin(), peers->end(), endpoint) != peers->end();
}

// A loopback TCP port nothing listens on now (the kernel's choice).
inline uint16_t FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  uint16_t port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0) {
    port = ntohs(a.sin_port);
  }
  ::close(fd);
  return port;
}

inline bool Accepts(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(fd);
  return ok;
}

// A server process of the test: started with `args`, up once `port`
// accepts connections (within 10 s), killed and reaped by Kill().
class ServerProcess {
 public:
  ServerProcess() {
    char tmpl[] = "/tmp/akt-engine-XXXXXX";
    if (::mkdtemp(tmpl) != nullptr) dir_ = tmpl;
    port_ = FreePort();
  }
  virtual ~ServerProcess() {
    Kill();
    std::string cmd = "rm -rf " + dir_;
    if (!dir_.empty()) (void)!std::system(cmd.c_str());
  }
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  bool up() const { return up_; }
  uint16_t port() const { return port_; }
  void Kill() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
      pid_ = -1;
    }
    up_ = false;
  }
  // Starts it (again: same ports and data, an outage that ends).
  void Start() {
    std::vector<std::string> args = Args();
    pid_ = ::fork();
    if (pid_ == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      int null = ::open("/dev/null", O_WRONLY);
      ::dup2(null, 1);
      std::vector<char*> argv;
      for (std::string& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!up_ && std::chrono::steady_clock::now() < until) {
      up_ = Accepts(port_);
      if (!up_) std::this_thread::sleep_for(std::chrono::milliseconds(10));  // polls the port
    }
  }

 protected:
  virtual std::vector<std::string> Args() = 0;
  std::string dir_;
  uint16_t port_ = 0;

 private:
  pid_t pid_ = -1;
  bool up_ = false;
};

// etcd 3.4, one member, client URL on 127.0.0.1:port().
class EtcdServer : public ServerProcess {
 public:
  EtcdServer() : peer_(FreePort()) { Start(); }
  std::string endpoint() const { return "127.0.0.1:" + std::to_string(port_); }

  // What `etcdctl get --prefix PREFIX` prints (keys and values, one a line).
  std::string Get(const std::string& prefix) const {
    std::string cmd = "ETCDCTL_API=3 /usr/bin/etcdctl --endpoints=" + endpoint() +
                      " get --prefix '" + prefix + "' 2>&1";
    std::string out;
    if (FILE* f = ::popen(cmd.c_str(), "r")) {
      char buf[4096];
      std::size_t n;
      while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
      ::pclose(f);
    }
    return out;
  }

 protected:
  std::vector<std::string> Args() override {
    std::string c = "http://" + endpoint();
    std::string p = "http://127.0.0.1:" + std::to_string(peer_);
    return {"/usr/bin/etcd", "--name", "n1", "--data-dir", dir_ + "/data",
            "--listen-client-urls", c, "--advertise-client-urls", c,
            "--listen-peer-urls", p, "--initial-advertise-peer-urls", p,
            "--initial-cluster", "n1=" + p, "--heartbeat-interval", "10",
            "--election-timeout", "100", "--log-level", "error"};
  }

 private:
  uint16_t peer_;
};

// nats-server 2.9 with JetStream, on 127.0.0.1:port(), its store in its dir.
class NatsServer : public ServerProcess {
 public:
  NatsServer() { Start(); }
  std::string url() const { return "nats://127.0.0.1:" + std::to_string(port_); }

 protected:
  std::vector<std::string> Args() override {
    return {"/usr/sbin/nats-server", "-a", "127.0.0.1", "-p", std::to_string(port_), "-js",
            "-sd", dir_ + "/js"};
  }
};

}  // namespace akt::test
