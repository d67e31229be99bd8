// A second process that announces "PORT <n>" on its stdout and serves until
// its stdin closes — how the remoting tests, the remote benchmarks and the
// demo run their other node. Repository-internal (not installed).
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace akt::support {

// Parent side. The child's stdin is a pipe: closing it asks the child to stop.
class PortChild {
 public:
  // Starts `path` with `args` and waits until it prints its port (port() is
  // 0 if it could not start or died first).
  PortChild(const std::string& path, const std::vector<std::string>& args) {
    // Close-on-exec: a second child must not inherit this one's pipes (the
    // dup2 onto its fds 0 and 1 clears the flag there).
    int in[2], out[2];
    if (::pipe2(in, O_CLOEXEC) != 0) return;
    if (::pipe2(out, O_CLOEXEC) != 0) {
      ::close(in[0]);
      ::close(in[1]);
      return;
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in[0], 0);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_addclose(&fa, in[1]);
    posix_spawn_file_actions_addclose(&fa, out[0]);
    std::vector<std::string> argv_s = {path};
    argv_s.insert(argv_s.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : argv_s) argv.push_back(a.data());
    argv.push_back(nullptr);
    if (posix_spawn(&pid_, path.c_str(), &fa, nullptr, argv.data(), environ) != 0) pid_ = -1;
    posix_spawn_file_actions_destroy(&fa);
    ::close(in[0]);
    ::close(out[1]);
    stdin_ = in[1];
    // A child that prints nothing within 30 s is given up (and killed).
    pollfd pf{out[0], POLLIN, 0};
    bool ready = pid_ > 0 && ::poll(&pf, 1, 30000) > 0;
    FILE* f = ::fdopen(out[0], "r");
    unsigned port = 0;
    if (ready && f != nullptr && std::fscanf(f, "PORT %u", &port) == 1) {
      port_ = static_cast<uint16_t>(port);
    }
    if (f != nullptr) {
      std::fclose(f);
    } else {
      ::close(out[0]);
    }
  }
  PortChild(const PortChild&) = delete;
  PortChild& operator=(const PortChild&) = delete;
  // Closes its stdin and waits up to 5 s for it to exit; then kills it.
  ~PortChild() {
    CloseStdin();
    if (pid_ <= 0) return;
    auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (std::chrono::steady_clock::now() < until) {
      if (::waitpid(pid_, nullptr, WNOHANG) == pid_) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));  // polls waitpid
    }
    Kill();
  }

  uint16_t port() const { return port_; }
  pid_t pid() const { return pid_; }
  std::string endpoint() const { return "127.0.0.1:" + std::to_string(port_); }

  // Closes its stdin and waits for it to exit: its exit status, -1 if it did
  // not exit normally.
  int Finish() {
    CloseStdin();
    if (pid_ <= 0) return -1;
    int st = 0;
    ::waitpid(pid_, &st, 0);
    pid_ = -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  }
  // Sends `sig` (SIGSTOP / SIGCONT: freeze and thaw it).
  void Signal(int sig) {
    if (pid_ > 0) ::kill(pid_, sig);
  }
  // Freezes it and returns once it is stopped (the signal is asynchronous).
  bool Freeze() {
    if (pid_ <= 0) return false;
    ::kill(pid_, SIGSTOP);
    int st = 0;
    return ::waitpid(pid_, &st, WUNTRACED) == pid_ && WIFSTOPPED(st);
  }
  void Kill() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

 private:
  void CloseStdin() {
    if (stdin_ >= 0) ::close(stdin_);
    stdin_ = -1;
  }
  pid_t pid_ = -1;
  int stdin_ = -1;
  uint16_t port_ = 0;
};

// Child side: announces `port`, then blocks until the parent closes stdin.
inline void ServeUntilStdinCloses(uint16_t port) {
  std::printf("PORT %u\n", static_cast<unsigned>(port));
  std::fflush(stdout);
  char buf[64];
  while (::read(0, buf, sizeof buf) > 0) {
  }
}

}  // namespace akt::support
