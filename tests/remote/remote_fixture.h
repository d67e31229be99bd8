// Two actor systems in this process, each serving remoting on loopback.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <memory>
#include <thread>

#include "remote_actors.h"

namespace akt::test {

using namespace std::chrono_literals;

inline bool WaitUntil(const std::function<bool()>& cond, std::chrono::milliseconds timeout = 5000ms) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!cond()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

struct Node {
  std::unique_ptr<ActorSystem> system;
  Remoting* remoting = nullptr;

  static Node Start(const std::string& name, RemoteOptions ro = {}) {
    Node n;
    SystemOptions so;
    so.name = name;
    so.workers = 2;
    so.logger = MakeNullLogger();
    n.system = std::make_unique<ActorSystem>(so);
    EXPECT_TRUE(n.system->Start().ok());
    Result<Remoting*> r = Remoting::Enable(*n.system, ro);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    if (r.ok()) {
      n.remoting = *r;
      RegisterTestKinds(*n.system, *n.remoting);
    }
    return n;
  }
  void Stop() {
    if (system) EXPECT_TRUE(system->Stop().ok());
  }
};

class TwoNodes : public ::testing::Test {
 protected:
  virtual RemoteOptions OptionsA() { return {}; }
  virtual RemoteOptions OptionsB() { return {}; }
  void SetUp() override {
    a_ = Node::Start("alpha", OptionsA());
    b_ = Node::Start("beta", OptionsB());
    ASSERT_NE(a_.remoting, nullptr);
    ASSERT_NE(b_.remoting, nullptr);
    auto echo = b_.system->Spawn<RemoteEcho>("echo");
    ASSERT_TRUE(echo.ok());
  }
  void TearDown() override {
    a_.Stop();
    b_.Stop();
  }
  // B's echo actor as a remote PID in A.
  PID RemoteEchoPid() {
    Result<PID> p = a_.remoting->Lookup(b_.remoting->endpoint(), "echo");
    EXPECT_TRUE(p.ok()) << p.status().ToString();
    return p.ok() ? *p : PID();
  }
  Node a_;
  Node b_;
};

inline akt::test::Ping MakePing(int64_t n, std::string text = "") {
  akt::test::Ping p;
  p.set_n(n);
  p.set_text(std::move(text));
  return p;
}

}  // namespace akt::test
