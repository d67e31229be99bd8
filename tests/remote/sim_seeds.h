// Runs a simulated-network scenario over many seeds (akt/testing/sim.h):
// AKT_SIM_SEEDS=<n> sets how many, AKT_SIM_SEED=<n> replays one alone, and
// AKT_SIM_LOG prints each seed as it starts.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>

namespace akt::test {

// Runs `scenario` for each seed; a failed expectation in it stops the loop
// and names the seed.
inline void ForEachSeed(uint64_t default_count, const std::function<void(uint64_t)>& scenario) {
  uint64_t first = 1;
  uint64_t count = default_count;
  if (const char* one = std::getenv("AKT_SIM_SEED")) {
    first = std::strtoull(one, nullptr, 10);
    count = 1;
  } else if (const char* n = std::getenv("AKT_SIM_SEEDS")) {
    count = std::strtoull(n, nullptr, 10);
  }
  for (uint64_t seed = first; seed < first + count; ++seed) {
    if (std::getenv("AKT_SIM_LOG") != nullptr) {
      std::fprintf(stderr, "seed %llu\n", static_cast<unsigned long long>(seed));
    }
    scenario(seed);
    if (::testing::Test::HasFailure()) {
      ADD_FAILURE() << "failing seed " << seed << " (replay: AKT_SIM_SEED=" << seed << ")";
      return;
    }
  }
}

}  // namespace akt::test
