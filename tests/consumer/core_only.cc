// Built against the installed package, linked with akt::core alone (no
// grains, no remoting, no protobuf): spawns, tells and asks. Exits 0 only if
// the round trip works.
#include <akt/actor.h>
#include <akt/system.h>

#include <chrono>
#include <cstdio>

namespace {

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

}  // namespace

int main() {
  akt::ActorSystem system;
  if (!system.Start().ok()) return 1;
  auto pid = system.Spawn<Counter>("counter");
  if (!pid.ok()) return 2;
  for (int i = 1; i <= 10; ++i) {
    if (!pid->Tell(Add{i}).ok()) return 3;
  }
  auto total = pid->Ask<int>(Get{}, std::chrono::seconds(5));
  if (!total.ok() || *total != 55) {
    std::fprintf(stderr, "core only: %s\n",
                 total.ok() ? "wrong total" : total.status().ToString().c_str());
    return 4;
  }
  if (!system.Stop().ok()) return 5;
  std::printf("core only: total=%d\n", *total);
  return 0;
}
