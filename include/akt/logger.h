// akt/logger.h — the small logging interface akt writes through.
//
// akt logs one line per event an operator would act on (an actor failed, a
// dead letter burst, a slow shutdown). Plug in your own sink by implementing
// `Logger`, or use `MakeStderrLogger` (spdlog underneath) / `MakeNullLogger`.
//
//   akt::SystemOptions opts;
//   opts.logger = akt::MakeStderrLogger(akt::LogLevel::kWarn);
#pragma once

#include <memory>
#include <string_view>

namespace akt {

enum class LogLevel { kTrace, kDebug, kInfo, kWarn, kError, kOff };

// Implementations must be thread-safe: any worker may log.
class Logger {
 public:
  virtual ~Logger() = default;
  virtual void Log(LogLevel level, std::string_view line) = 0;
  // Lines below this level are not even formatted.
  virtual LogLevel level() const = 0;
  bool Enabled(LogLevel l) const { return l >= level(); }
};

// Colourless lines on stderr with a timestamp, through spdlog.
std::shared_ptr<Logger> MakeStderrLogger(LogLevel level = LogLevel::kInfo);
// Discards everything.
std::shared_ptr<Logger> MakeNullLogger();

}  // namespace akt
