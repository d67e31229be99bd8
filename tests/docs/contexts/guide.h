// What every snippet of docs/guide.md assumes (its opening block, the
// Account actor of "Actors", a started `system`), and stand-ins for the
// names a snippet takes from an earlier one or leaves to the reader. The
// blocks are compiled, never run: the stand-ins are declared, not defined.
// Used by <!-- doc-test: context=guide --> (see tests/docs/doc_examples.py).
#pragma once

#include <akt/akt.h>

#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace doc {
using namespace std::chrono_literals;

// The guide's opening block.
struct Deposit { int64_t cents; };
struct Withdraw { int64_t cents; };
struct GetBalance {};

// "Actors" (docs/guide.md).
class Account : public akt::Actor {
 public:
  explicit Account(int64_t opening_cents) : cents_(opening_cents) {}
  void Receive(akt::ReceiveContext& ctx) override;

 private:
  int64_t cents_;
};

// "The actor system": a started system.
extern akt::ActorSystem system;
// A snippet marked "in an actor:" runs where a ReceiveContext is at hand.
extern akt::ReceiveContext& ctx;
// Some actor's PID.
extern akt::PID pid;

// "Messages".
struct Transfer { std::string to; int64_t cents; };
struct Statement { std::unique_ptr<std::vector<char>> pdf; };

// "Routers".
struct Resize { std::string file; };
struct Resized { std::string file; int max_px; };
extern akt::Result<akt::PID> resizers;

// "Scheduling messages".
struct Flush {};
class Batcher : public akt::Actor {
 public:
  void Receive(akt::ReceiveContext& ctx) override;
};

// "PipeTo and circuit breakers".
extern akt::Result<std::shared_ptr<akt::CircuitBreaker>> breaker;
bool CallTheService();

// "Behaviors", "Reentrancy", "Passivation", "Extensions and dependencies".
class Session : public akt::Actor {
 public:
  void Receive(akt::ReceiveContext& ctx) override;
};
class Checkout : public akt::Actor {
 public:
  void Receive(akt::ReceiveContext& ctx) override;
};
class Billing : public akt::Actor {
 public:
  void Receive(akt::ReceiveContext& ctx) override;
};

// "Coordinated shutdown".
struct Ledger {
  akt::Status Flush();
};
extern Ledger ledger;

// "Grains: virtual actors".
int64_t LoadFromDb(std::string_view name);  // throws on failure
akt::Status SaveToDb(std::string_view name, int64_t balance);

// "Grains across the cluster".
class Cart : public akt::Grain {
 public:
  void OnReceive(akt::GrainContext&) override {}
};

}  // namespace doc
