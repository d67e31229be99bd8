// Actors shared by the remoting tests and the test node process.
#pragma once

#include <akt/akt.h>
#include <akt/remote.h>

#include <stdexcept>
#include <string>
#include <vector>

#include "akt_test.pb.h"

namespace akt::test {

// Echo: Ping{n} -> Pong{n}; Add accumulates; GetTotal -> Total; Fail throws;
// Inspect -> Seen (headers, deadline, dependency of the message it handles).
class RemoteEcho : public Actor {
 public:
  void Receive(ReceiveContext& ctx) override {
    ctx.Match(
        [&](const akt::test::Ping& p) {
          akt::test::Pong out;
          out.set_n(p.n());
          out.set_text(p.text());
          ctx.Reply(std::move(out)).IgnoreError();
        },
        [&](const akt::test::Add& a) { total_ += a.amount(); },
        [&](const akt::test::GetTotal&) {
          akt::test::Total t;
          t.set_value(total_);
          ctx.Reply(std::move(t)).IgnoreError();
        },
        [&](const akt::test::Fail& f) { throw std::runtime_error(f.why()); },
        [&](const akt::test::Inspect&) {
          akt::test::Seen s;
          for (const auto& [k, v] : akt::CurrentHeaders()) s.add_headers(k + "=" + v);
          auto d = akt::CurrentDeadline();
          s.set_deadline_left_ms(
              d ? std::chrono::duration_cast<std::chrono::milliseconds>(*d - Clock::now()).count()
                : -1);
          if (auto dep = ctx.GetDependency("config")) {
            s.set_dependency(std::string(dep->TypeName()) + ":" + *dep->Serialize());
          }
          ctx.Reply(std::move(s)).IgnoreError();
        });
  }

 private:
  int64_t total_ = 0;
};

// Keeps every request unanswered (tests of asks in flight).
class SilentActor : public Actor {
 public:
  void Receive(ReceiveContext& ctx) override { held_.push_back(ctx.TakeReply()); }

 private:
  std::vector<PendingReply> held_;
};

// A dependency that travels with a remote spawn.
class ConfigDep : public Dependency {
 public:
  explicit ConfigDep(std::string value) : value_(std::move(value)) {}
  std::string_view ID() const override { return "config"; }
  std::string_view TypeName() const override { return "test.config"; }
  Result<std::string> Serialize() const override { return value_; }

 private:
  std::string value_;
};

// A grain counting Adds; answers GetTotal and Ping; NoErr on Add.
class ProtoCounterGrain : public Grain {
 public:
  void OnReceive(GrainContext& ctx) override {
    ctx.Match(
        [&](const akt::test::Add& a) {
          total_ += a.amount();
          ctx.NoErr();
        },
        [&](const akt::test::GetTotal&) {
          akt::test::Total t;
          t.set_value(total_);
          ctx.Reply(std::move(t)).IgnoreError();
        },
        [&](const akt::test::Ping& p) {
          akt::test::Pong out;
          out.set_n(p.n());
          out.set_text(std::string(ctx.self().String()));
          ctx.Reply(std::move(out)).IgnoreError();
        });
  }

 private:
  int64_t total_ = 0;
};

inline void RegisterTestKinds(ActorSystem& system, Remoting& remoting) {
  system.RegisterGrainKind("pcounter", MakeGrainFactory<ProtoCounterGrain>()).IgnoreError();
  GrainOptions brief;
  brief.WithDeactivateAfter(std::chrono::milliseconds(50));
  system.RegisterGrainKind("pbrief", MakeGrainFactory<ProtoCounterGrain>(), brief).IgnoreError();
  remoting.RegisterKind("echo", Context::MakeFactory<RemoteEcho>()).IgnoreError();
  remoting.RegisterKind("silent", Context::MakeFactory<SilentActor>()).IgnoreError();
  system
      .RegisterDependencyType("test.config",
                              [](std::string_view bytes) -> Result<std::shared_ptr<Dependency>> {
                                return std::shared_ptr<Dependency>(
                                    std::make_shared<ConfigDep>(std::string(bytes)));
                              })
      .IgnoreError();
}

}  // namespace akt::test
