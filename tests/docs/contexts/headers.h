// What the examples in the comments of include/akt/*.h assume: a started
// `system`, a `ctx` inside an actor, and the message types and actors an
// example names. Declared, never defined: the examples are compiled, not run.
// A header block without an annotation uses this context (wrap=status: the
// block is the body of a function returning akt::Status); see
// tests/docs/doc_examples.py.
#pragma once

#include <akt/akt.h>
#include <akt/cluster.h>
#include <akt/cluster_etcd.h>
#include <akt/cluster_nats.h>
#include <akt/remote.h>
#include <akt/testing/deterministic.h>
#include <akt/testing/sim.h>
#include <akt/testkit.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <iostream>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>

#include "shop.pb.h"

namespace doc {
using namespace std::chrono_literals;

extern akt::ActorSystem system;
extern akt::ReceiveContext& ctx;
extern akt::PID pid;
extern akt::ActorFactory factory;
extern akt::Remoting* remoting;

// actor.h, deterministic.h
struct Add { int64_t n; };
struct Get {};
// pid.h, remote.h, deterministic.h
class Counter : public akt::Actor {
 public:
  void Receive(akt::ReceiveContext& ctx) override;
};
struct Increment { int64_t by; };
struct GetTotal {};
// context.h
struct Charge { int64_t cents; };
struct Authorize { int64_t cents; };
// circuit_breaker.h, pipe_to.h
struct GetQuote { std::string symbol; };
struct Quote { std::string symbol; int64_t cents; };
akt::Result<Quote> LoadQuote(const std::string& symbol);
bool CallTheService();
extern std::shared_ptr<akt::CircuitBreaker> breaker;
// grain.h, message.h
struct Deposit { int64_t cents; };
struct GetBalance {};
akt::Status LoadState(akt::GrainActivation& a);
akt::Status SaveState(akt::GrainActivation& a);
// extension.h
class Db : public akt::Extension {
 public:
  explicit Db(std::string url);
  std::string_view ID() const override;
};
class Clock : public akt::Dependency {
 public:
  explicit Clock(std::string zone);
  std::string_view ID() const override;
  std::string_view TypeName() const override;
  akt::Result<std::string> Serialize() const override;
};
// mailbox.h
int Prio(const akt::Message& m);
// pubsub.h
struct Price { std::string symbol; int64_t cents; };
extern akt::PID topics_pid;
// router.h
struct ResizeImage { std::string file; };
struct Done {};
struct ReloadConfig {};
class Resizer : public akt::Actor {
 public:
  explicit Resizer(int max_px);
  void Receive(akt::ReceiveContext& ctx) override;
};
// scheduler.h
struct Expire {};
struct Tick {};
struct Compact {};
struct Flush {};
extern akt::PID session, monitor, reports;
// spawn_options.h, supervisor.h
class Worker : public akt::Actor {
 public:
  void Receive(akt::ReceiveContext& ctx) override;
};
// status.h
struct Ping {};
struct Pong {};
void Use(const Pong& p);
// system.h
struct PlaceOrder { std::string item; int64_t cents; };
class OrderBook : public akt::Actor {
 public:
  void Receive(akt::ReceiveContext& ctx) override;
};
// sim.h
extern uint64_t seed;
extern bool saw_node_lost;
// testkit.h
struct Greet { std::string name; };
struct Greeting { std::string text; };
class Greeter : public akt::Actor {
 public:
  explicit Greeter(akt::PID reply_to);
  void Receive(akt::ReceiveContext& ctx) override;
};

// wrap=class: the examples that are member functions of an actor.
class DocActor : public akt::Actor {
 public:
  void Receive(akt::ReceiveContext&) override {}

 protected:
  akt::PID payments_;
  std::shared_ptr<akt::CircuitBreaker> breaker_;
  akt::ScheduleRef flush_;
};

}  // namespace doc
