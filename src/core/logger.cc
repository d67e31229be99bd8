#include "akt/logger.h"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

namespace akt {
namespace {

spdlog::level::level_enum ToSpd(LogLevel l) {
  switch (l) {
    case LogLevel::kTrace:
      return spdlog::level::trace;
    case LogLevel::kDebug:
      return spdlog::level::debug;
    case LogLevel::kInfo:
      return spdlog::level::info;
    case LogLevel::kWarn:
      return spdlog::level::warn;
    case LogLevel::kError:
      return spdlog::level::err;
    case LogLevel::kOff:
      return spdlog::level::off;
  }
  return spdlog::level::info;
}

class SpdLogger final : public Logger {
 public:
  explicit SpdLogger(LogLevel level)
      : level_(level),
        logger_(std::make_shared<spdlog::logger>(
            "akt", std::make_shared<spdlog::sinks::stderr_sink_mt>())) {
    logger_->set_level(ToSpd(level));
    logger_->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ akt: %v");
  }
  void Log(LogLevel level, std::string_view line) override {
    if (Enabled(level)) logger_->log(ToSpd(level), "{}", line);
  }
  LogLevel level() const override { return level_; }

 private:
  LogLevel level_;
  std::shared_ptr<spdlog::logger> logger_;
};

class NullLogger final : public Logger {
 public:
  void Log(LogLevel, std::string_view) override {}
  LogLevel level() const override { return LogLevel::kOff; }
};

}  // namespace

std::shared_ptr<Logger> MakeStderrLogger(LogLevel level) {
  return std::make_shared<SpdLogger>(level);
}
std::shared_ptr<Logger> MakeNullLogger() { return std::make_shared<NullLogger>(); }

}  // namespace akt
