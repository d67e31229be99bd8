// Built against the installed akt package; exits 0 only if a real
// round trip through an actor works.
#include <akt/akt.h>

#include <chrono>
#include <cstdio>

struct Add {
  int n;
};
struct Get {};

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
  return system.Stop().ok() ? 0 : 4;
}
