#include "akt/testing/deterministic.h"
#include "internal/access.h"
#include "system_impl.h"

namespace akt::testing {

SystemOptions DeterministicSystem::DefaultOptions() {
  SystemOptions o;
  o.name = "test";
  o.throughput = 1;
  o.logger = MakeNullLogger();
  return o;
}

namespace {
SystemOptions Force(SystemOptions o) {
  o.deterministic = true;
  return o;
}
}  // namespace

DeterministicSystem::DeterministicSystem(SystemOptions options)
    : system_(Force(std::move(options))) {
  system_.Start().IgnoreError();
}

DeterministicSystem::~DeterministicSystem() { system_.Stop().IgnoreError(); }

bool DeterministicSystem::Step() { return internal::ImplOf(system_).dispatcher().RunOne(); }

std::size_t DeterministicSystem::RunUntilIdle(std::size_t max_steps) {
  std::size_t n = 0;
  while (n < max_steps && Step()) ++n;
  return n;
}

void DeterministicSystem::Advance(Duration d) {
  internal::ImplOf(system_).timers().Advance(d);
  RunUntilIdle();
}

TimePoint DeterministicSystem::Now() const { return internal::ImplOf(system_).Now(); }

}  // namespace akt::testing
