// An actor that makes the non-blocking remote calls (Remoting::Request*)
// from inside its turns and records how each one ended, in order.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "akt/actor.h"
#include "akt/remote.h"
#include "remote_actors.h"
#include "remote_fixture.h"

namespace akt::test {

class RemoteCaller : public Actor {
 public:
  struct Log {
    std::mutex mu;
    std::vector<std::string> lines;
    void Add(std::string line) {
      std::lock_guard<std::mutex> lock(mu);
      lines.push_back(std::move(line));
    }
    std::vector<std::string> Get() {
      std::lock_guard<std::mutex> lock(mu);
      return lines;
    }
  };
  RemoteCaller(Remoting* remoting, std::string endpoint, std::shared_ptr<Log> log)
      : remoting_(remoting), endpoint_(std::move(endpoint)), log_(std::move(log)) {}

  // "lookup": finds "echo" there and pings it; "missing": looks up a name
  // nobody has; "spawn": spawns an "echo" named "spawned", pings it, stops it.
  void Receive(ReceiveContext& ctx) override {
    ctx.Match([&](const std::string& cmd) {
      auto log = log_;
      if (cmd == "lookup" || cmd == "missing") {
        remoting_->RequestLookup(ctx, endpoint_, cmd == "lookup" ? "echo" : "nobody", 1s)
            .Then([log](ReceiveContext& ctx, Result<PID> pid) {
              if (!pid.ok()) {
                log->Add("lookup " + std::string(StatusCodeName(pid.status().code())));
                return;
              }
              log->Add("lookup ok");
              ctx.Request(*pid, MakePing(5), 1s).Then([log](ReceiveContext&, Result<Message> r) {
                const auto* pong = r.ok() ? r->As<akt::test::Pong>() : nullptr;
                log->Add(pong != nullptr ? "pong " + std::to_string(pong->n()) : "no pong");
              });
            });
      } else if (cmd == "spawn") {
        Remoting* remoting = remoting_;
        remoting_->RequestSpawn(ctx, endpoint_, "spawned", "echo", {}, 1s)
            .Then([log, remoting](ReceiveContext& ctx, Result<PID> pid) {
              if (!pid.ok()) {
                log->Add("spawn " + pid.status().ToString());
                return;
              }
              log->Add("spawn ok");
              PID spawned = *pid;
              ctx.Request(spawned, MakePing(6), 1s)
                  .Then([log, remoting, spawned](ReceiveContext& ctx, Result<Message> r) {
                    log->Add(r.ok() ? "pong 6" : "no pong");
                    remoting->RequestStop(ctx, spawned, 1s).Then([log](ReceiveContext&, Status s) {
                      log->Add(s.ok() ? "stopped" : "stop " + s.ToString());
                    });
                  });
            });
      }
    });
  }

 private:
  Remoting* remoting_;
  std::string endpoint_;
  std::shared_ptr<Log> log_;
};

}  // namespace akt::test
