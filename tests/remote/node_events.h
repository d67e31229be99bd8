// Test helpers for node identity: a recorder of node events and an actor
// that records the Terminated messages of what it is told to watch.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "akt/actor.h"
#include "akt/messages.h"
#include "akt/remote.h"
#include "akt/system.h"

namespace akt::test {

// Every node event a system publishes, in order, as "connected <node>",
// "disconnected <node>", "lost <node>".
class NodeEvents {
 public:
  explicit NodeEvents(ActorSystem& system)
      : sub_(system.events().Subscribe([this](const Message& m) {
          std::lock_guard<std::mutex> lock(mu_);
          if (const auto* c = m.As<NodeConnected>()) log_.push_back("connected " + c->node.ToString());
          if (const auto* d = m.As<NodeDisconnected>()) {
            log_.push_back("disconnected " + d->node.ToString());
          }
          if (const auto* l = m.As<NodeLost>()) log_.push_back("lost " + l->node.ToString());
        })) {}
  std::vector<std::string> log() {
    std::lock_guard<std::mutex> lock(mu_);
    return log_;
  }
  bool Saw(const std::string& line) {
    for (const std::string& l : log()) {
      if (l == line) return true;
    }
    return false;
  }

 private:
  std::mutex mu_;
  std::vector<std::string> log_;
  Subscription sub_;
};

// Watches every PID it is sent; records the Terminated messages it gets.
class Watcher : public Actor {
 public:
  struct Seen {
    std::mutex mu;
    std::vector<Terminated> got;
    std::size_t size() {
      std::lock_guard<std::mutex> lock(mu);
      return got.size();
    }
    Terminated at(std::size_t i) {
      std::lock_guard<std::mutex> lock(mu);
      return got.at(i);
    }
  };
  explicit Watcher(std::shared_ptr<Seen> seen) : seen_(std::move(seen)) {}
  void Receive(ReceiveContext& ctx) override {
    ctx.Match([&](const PID& target) { ctx.Watch(target); },
              [&](const Terminated& t) {
                std::lock_guard<std::mutex> lock(seen_->mu);
                seen_->got.push_back(t);
              });
  }

 private:
  std::shared_ptr<Seen> seen_;
};

}  // namespace akt::test
