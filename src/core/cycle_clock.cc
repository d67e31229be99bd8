#include "cycle_clock.h"

#include <atomic>
#include <thread>

namespace akt::internal {
namespace {

struct Origin {
  uint64_t cycles;
  int64_t ns;
};

const Origin& GetOrigin() {
  static const Origin origin{CycleNow(), SteadyNowNs()};
  return origin;
}

// Taken at load time so that the first reading already has a long baseline.
[[maybe_unused]] const Origin& kLoadTimeOrigin = GetOrigin();

}  // namespace

double NanosPerCycle() {
#if defined(__x86_64__) || defined(__i386__)
  const Origin& o = GetOrigin();
  uint64_t c = CycleNow();
  int64_t ns = SteadyNowNs();
  if (c - o.cycles < 1000000) {
    // Too short a baseline: measure over ~1 ms once.
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
    c = CycleNow();
    ns = SteadyNowNs();
  }
  return static_cast<double>(ns - o.ns) / static_cast<double>(c - o.cycles);
#else
  return 1.0;
#endif
}

}  // namespace akt::internal
