// akt/cron.h — cron expressions with a seconds field, evaluated in UTC.
//
// A CronExpression answers one question: when is the next matching second
// after a given instant? `Scheduler::ScheduleCron` uses it to send a message
// on a calendar schedule; it is usable on its own too.
//
//   akt::Result<akt::CronExpression> weekdays = akt::CronExpression::Parse("0 30 8 * * MON-FRI");
//   if (!weekdays.ok()) return weekdays.status();  // kInvalidArgument, says which field is wrong
//   std::chrono::sys_seconds next = weekdays->Next(std::chrono::system_clock::now());
//
// Six fields, separated by blanks:
//
// doc-test: skip reason="the fields of an expression, a table"
//   second  minute  hour  day-of-month  month        day-of-week
//   0-59    0-59    0-23  1-31          1-12|JAN-DEC 0-7|SUN-SAT (0 and 7 are Sunday)
//
// Each field is a comma-separated list of items; an item is `*` (every
// value), a value `5`, a range `1-5`, or either followed by a step: `*/15`
// (every 15th value from the minimum), `10-40/10`, `5/20` (from 5 to the
// maximum). Names are case-insensitive. The two day fields also accept `?`,
// meaning `*`.
//
// Days follow Vixie cron: when both day fields are restricted (neither is
// exactly `*` or `?`), a day matches if EITHER matches — `0 0 0 13 * FRI`
// fires on every 13th and on every Friday. When one is `*`, only the other
// counts. Times are UTC; there are no time zones and so no daylight saving
// gaps.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "akt/status.h"

namespace akt {

class CronExpression {
 public:
  // Parses `expression`. kInvalidArgument, naming the field and the bad item,
  // when it is malformed, out of range, or can never fire (`0 0 0 30 2 *`).
  static Result<CronExpression> Parse(std::string_view expression);

  // The first matching second strictly after `after` (sub-second parts of
  // `after` count as after that second). A parsed expression always has one;
  // the longest gap is eight years (`0 0 0 29 2 *` across 2100).
  std::chrono::sys_seconds Next(std::chrono::system_clock::time_point after) const;
  // Whether the second containing `t` matches.
  bool Matches(std::chrono::system_clock::time_point t) const;

  // The text it was parsed from.
  const std::string& expression() const { return text_; }

 private:
  CronExpression() = default;
  bool DayMatches(std::chrono::sys_days day) const;

  std::string text_;
  uint64_t seconds_ = 0;           // bit i: second i
  uint64_t minutes_ = 0;           // bit i: minute i
  uint32_t hours_ = 0;             // bit i: hour i
  uint32_t days_ = 0;              // bit i: day-of-month i (1..31)
  uint16_t months_ = 0;            // bit i: month i (1..12)
  uint8_t weekdays_ = 0;           // bit i: weekday i (0 = Sunday)
  bool any_day_of_month_ = false;  // the field was `*` or `?`
  bool any_day_of_week_ = false;
};

}  // namespace akt
