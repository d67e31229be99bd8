// What every akt_bench workload file needs: sizes from the environment, the
// RESULT line of the output contract (BENCHMARKS.md), peak RSS, elapsed time.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <string_view>

namespace akt_bench {

inline int64_t EnvInt(const char* name, int64_t fallback) {
  const char* v = std::getenv(name);
  return v != nullptr ? std::atoll(v) : fallback;
}

// RESULT akt <workload> <metric> <value> <unit>
inline void Report(std::string_view workload, const char* metric, double value, const char* unit) {
  std::printf("RESULT akt %.*s %s %.6g %s\n", static_cast<int>(workload.size()), workload.data(),
              metric, value, unit);
  std::fflush(stdout);
}

// VmHWM of this process, in MB.
inline double PeakRssMb() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::atof(line.c_str() + 6) / 1024.0;
  }
  return 0;
}

inline double SecondsSince(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace akt_bench
