// Helpers shared by the core tests: waiting on conditions with deadlines
// (never fixed sleeps) and a few message types.
#pragma once

#include <akt/akt.h>
#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <thread>

namespace akt::test {

using namespace std::chrono_literals;

// Polls `cond` until it holds or `timeout` passes; true if it held.
inline bool WaitFor(const std::function<bool()>& cond,
                    std::chrono::milliseconds timeout = std::chrono::milliseconds(5000)) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!cond()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::yield();
  }
  return true;
}

// A started multi-threaded system with quiet logs.
inline SystemOptions QuietOptions(int workers = 2) {
  SystemOptions o;
  o.name = "test";
  o.workers = workers;
  o.logger = MakeNullLogger();
  return o;
}

struct Ping {
  int n = 0;
};
struct Pong {
  int n = 0;
};

// Replies Pong{n} to Ping{n}; leaves everything else unhandled.
class Echo : public Actor {
 public:
  void Receive(ReceiveContext& ctx) override {
    ctx.Match([&](const Ping& p) { ctx.Reply(Pong{p.n}).IgnoreError(); });
  }
};

}  // namespace akt::test
