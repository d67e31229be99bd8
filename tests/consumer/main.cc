// Built against the installed akt package; exits 0 only if a real
// round trip through an actor works.
#include <akt/akt.h>
#include <akt/remote.h>

#include <chrono>
#include <cstdio>

struct Add {
  int n;
};
struct Get {};

class CounterGrain : public akt::Grain {
 public:
  void OnReceive(akt::GrainContext& ctx) override {
    ctx.Match([&](const Add& a) { total_ += a.n; },
              [&](const Get&) { ctx.Reply(total_).IgnoreError(); });
  }

 private:
  int total_ = 0;
};

class Counter : public akt::Actor {
 public:
  void Receive(akt::ReceiveContext& ctx) override {
    ctx.Match([&](const Add& a) { total_ += a.n; },
              [&](const Get&) { ctx.Reply(total_).IgnoreError(); });
  }

 private:
  int total_ = 0;
};

int main() {
  akt::ActorSystem system;
  if (!system.Start().ok()) return 1;
  auto pid = system.Spawn<Counter>("counter");
  if (!pid.ok()) return 2;
  for (int i = 1; i <= 10; ++i) pid->Tell(Add{i}).IgnoreError();
  auto total = pid->Ask<int>(Get{}, std::chrono::seconds(5));
  if (!total.ok() || *total != 55) {
    std::fprintf(stderr, "unexpected: %s\n",
                 total.ok() ? "wrong total" : total.status().ToString().c_str());
    return 3;
  }
  std::printf("consumer: total=%d\n", *total);

  // Grains and remoting link and work from the installed package too.
  if (!system.RegisterGrainKind("counter", akt::MakeGrainFactory<CounterGrain>()).ok()) return 5;
  auto id = akt::GrainIdentity::Make("counter", "c-1");
  if (!id.ok()) return 6;
  for (int i = 1; i <= 10; ++i) system.TellGrain(*id, Add{i}).IgnoreError();
  auto g = system.AskGrain<int>(*id, Get{}, std::chrono::seconds(5));
  if (!g.ok() || *g != 55) return 7;
  akt::RemoteOptions ro;
  ro.host = "127.0.0.1";
  auto remoting = akt::Remoting::Enable(system, ro);
  if (!remoting.ok() || (*remoting)->port() == 0) return 8;
  // An address of this node resolves locally, without the network.
  auto local = (*remoting)->ActorOf((*remoting)->AddressOf(*pid));
  if (!local.ok() || *local != *pid) return 9;
  std::printf("consumer: grain total=%d, remoting on %s\n", *g, (*remoting)->endpoint().c_str());
  return system.Stop().ok() ? 0 : 4;
}
