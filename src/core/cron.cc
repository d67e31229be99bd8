#include "akt/cron.h"
#include "names.h"

#include <array>
#include <bit>
#include <charconv>
#include <vector>

namespace akt {
namespace {

using std::chrono::days;
using std::chrono::floor;
using std::chrono::hours;
using std::chrono::minutes;
using std::chrono::seconds;
using std::chrono::sys_days;
using std::chrono::sys_seconds;

constexpr std::array<std::string_view, 12> kMonthNames = {"JAN", "FEB", "MAR", "APR", "MAY", "JUN",
                                                          "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"};
constexpr std::array<std::string_view, 7> kWeekdayNames = {"SUN", "MON", "TUE", "WED",
                                                           "THU", "FRI", "SAT"};
// Longest possible month, per month: a day-of-month that fits none of the
// chosen months never fires.
constexpr std::array<int, 12> kMaxDays = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

struct Field {
  const char* name;
  int min;
  int max;
  bool is_day;     // accepts `?`
  int names_base;  // value of the first name
  const std::string_view* names;
  std::size_t name_count;
};

constexpr Field kFields[6] = {
    {"second", 0, 59, false, 0, nullptr, 0},
    {"minute", 0, 59, false, 0, nullptr, 0},
    {"hour", 0, 23, false, 0, nullptr, 0},
    {"day-of-month", 1, 31, true, 0, nullptr, 0},
    {"month", 1, 12, false, 1, kMonthNames.data(), kMonthNames.size()},
    {"day-of-week", 0, 7, true, 0, kWeekdayNames.data(), kWeekdayNames.size()},
};

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char c = a[i];
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
    if (c != b[i]) return false;
  }
  return true;
}

// Parses a number or (where the field has them) a name; false if it is neither.
bool ParseValue(std::string_view s, const Field& f, int* out) {
  if (s.empty()) return false;
  if (s[0] >= '0' && s[0] <= '9') {
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
    return ec == std::errc() && end == s.data() + s.size();
  }
  for (std::size_t i = 0; i < f.name_count; ++i) {
    if (EqualsIgnoreCase(s, f.names[i])) {
      *out = f.names_base + static_cast<int>(i);
      return true;
    }
  }
  return false;
}

// Parses one field into a bit set; on error, *error says what is wrong.
bool ParseField(std::string_view text, const Field& f, uint64_t* bits, bool* any,
                std::string* error) {
  *bits = 0;
  *any = text == "*" || (f.is_day && text == "?");
  std::size_t start = 0;
  while (true) {
    std::size_t comma = text.find(',', start);
    std::string_view item = text.substr(
        start, comma == std::string_view::npos ? std::string_view::npos : comma - start);
    if (item.empty()) {
      *error = "empty list item";
      return false;
    }
    std::string_view base = item;
    int step = 1;
    bool stepped = false;
    if (std::size_t slash = item.find('/'); slash != std::string_view::npos) {
      base = item.substr(0, slash);
      std::string_view step_text = item.substr(slash + 1);
      auto [end, ec] = std::from_chars(step_text.data(), step_text.data() + step_text.size(), step);
      if (step_text.empty() || ec != std::errc() || end != step_text.data() + step_text.size()) {
        *error =
            "step '" + std::string(step_text) + "' in '" + std::string(item) + "' is not a number";
        return false;
      }
      int span = f.max - f.min + 1;
      if (step < 1 || step > span) {
        *error = "step " + std::to_string(step) + " in '" + std::string(item) + "' must be 1.." +
                 std::to_string(span);
        return false;
      }
      stepped = true;
    }
    int lo;
    int hi;
    if (base == "*" || (f.is_day && base == "?" && !stepped)) {
      lo = f.min;
      hi = f.max;
    } else if (std::size_t dash = base.find('-'); dash != std::string_view::npos) {
      std::string_view a = base.substr(0, dash);
      std::string_view b = base.substr(dash + 1);
      if (!ParseValue(a, f, &lo) || !ParseValue(b, f, &hi)) {
        *error = internal::Quoted(item) + " is not a value, a range or a step";
        return false;
      }
      if (f.max == 7 && hi == 0 && lo > 0) hi = 7;  // `SAT-SUN`: Sunday ends a week
      if (lo > hi) {
        *error = "range '" + std::string(base) + "' runs backwards";
        return false;
      }
    } else {
      if (!ParseValue(base, f, &lo)) {
        *error = internal::Quoted(item) + " is not a value, a range or a step";
        return false;
      }
      hi = stepped ? f.max : lo;  // `5/20`: from 5 to the maximum
    }
    for (int v : {lo, hi}) {
      if (v < f.min || v > f.max) {
        *error = "value " + std::to_string(v) + " is out of range " + std::to_string(f.min) + "-" +
                 std::to_string(f.max);
        return false;
      }
    }
    for (int v = lo; v <= hi; v += step) *bits |= uint64_t{1} << v;
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return true;
}

std::vector<std::string_view> SplitBlanks(std::string_view s) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
    std::size_t j = i;
    while (j < s.size() && s[j] != ' ' && s[j] != '\t') ++j;
    if (j > i) out.push_back(s.substr(i, j - i));
    i = j;
  }
  return out;
}

// The lowest set bit of `mask` at or above `from`, or -1.
int NextBit(uint64_t mask, int from) {
  if (from >= 64) return -1;
  uint64_t m = mask >> from;
  return m == 0 ? -1 : from + std::countr_zero(m);
}

}  // namespace

Result<CronExpression> CronExpression::Parse(std::string_view expression) {
  auto fail = [&](const std::string& why) -> Status {
    return InvalidArgumentError("cron expression '" + std::string(expression) + "': " + why);
  };
  std::vector<std::string_view> parts = SplitBlanks(expression);
  if (parts.size() != 6) {
    std::string why = "has " + std::to_string(parts.size()) +
                      " fields; expected 6: second minute hour day-of-month month day-of-week";
    if (parts.size() == 5) why += " (akt cron expressions start with a seconds field)";
    return fail(why);
  }
  CronExpression c;
  c.text_ = std::string(expression);
  uint64_t bits[6];
  bool any[6];
  for (int i = 0; i < 6; ++i) {
    std::string error;
    if (!ParseField(parts[i], kFields[i], &bits[i], &any[i], &error)) {
      return fail(std::string(kFields[i].name) + " field '" + std::string(parts[i]) +
                  "': " + error);
    }
  }
  c.seconds_ = bits[0];
  c.minutes_ = bits[1];
  c.hours_ = static_cast<uint32_t>(bits[2]);
  c.days_ = static_cast<uint32_t>(bits[3]);
  c.months_ = static_cast<uint16_t>(bits[4]);
  uint64_t weekdays = bits[5];
  if (weekdays & (uint64_t{1} << 7)) weekdays = (weekdays | 1) & 0x7f;  // 7 is Sunday too
  c.weekdays_ = static_cast<uint8_t>(weekdays);
  c.any_day_of_month_ = any[3];
  c.any_day_of_week_ = any[5];
  if (c.any_day_of_week_ && !c.any_day_of_month_) {
    // Only the day of the month counts: it must exist in one of the months.
    int first_day = std::countr_zero(c.days_);
    bool possible = false;
    for (int m = 1; m <= 12; ++m) {
      if ((c.months_ >> m & 1) && first_day <= kMaxDays[m - 1]) possible = true;
    }
    if (!possible) return fail("never fires: no chosen month has the chosen day of the month");
  }
  return c;
}

bool CronExpression::DayMatches(sys_days day) const {
  std::chrono::year_month_day ymd{day};
  bool dom = days_ >> static_cast<unsigned>(ymd.day()) & 1;
  bool dow = weekdays_ >> std::chrono::weekday{day}.c_encoding() & 1;
  if (any_day_of_month_) return dow;  // all-ones when the weekday is `*` too
  if (any_day_of_week_) return dom;
  return dom || dow;
}

bool CronExpression::Matches(std::chrono::system_clock::time_point t) const {
  sys_seconds s = floor<seconds>(t);
  sys_days day = floor<days>(s);
  seconds tod = s - day;
  int h = static_cast<int>(tod / hours(1));
  int m = static_cast<int>(tod % hours(1) / minutes(1));
  int sec = static_cast<int>((tod % minutes(1)).count());
  unsigned month = static_cast<unsigned>(std::chrono::year_month_day{day}.month());
  return (months_ >> month & 1) && DayMatches(day) && (hours_ >> h & 1) && (minutes_ >> m & 1) &&
         (seconds_ >> sec & 1);
}

sys_seconds CronExpression::Next(std::chrono::system_clock::time_point after) const {
  sys_seconds t = floor<seconds>(after) + seconds(1);
  // Parse rejected expressions that never fire; the longest real gap is
  // eight years, so this bound is only a guard against a broken invariant.
  const sys_days limit = floor<days>(t) + days(366 * 9);
  while (true) {
    sys_days day = floor<days>(t);
    if (day > limit) return sys_seconds::max();
    std::chrono::year_month_day ymd{day};
    if (!(months_ >> static_cast<unsigned>(ymd.month()) & 1)) {
      std::chrono::year_month next = ymd.year() / ymd.month() + std::chrono::months(1);
      t = sys_days(next / 1);
      continue;
    }
    if (!DayMatches(day)) {
      t = day + days(1);
      continue;
    }
    seconds tod = t - day;
    int h = static_cast<int>(tod / hours(1));
    int m = static_cast<int>(tod % hours(1) / minutes(1));
    int s = static_cast<int>((tod % minutes(1)).count());
    int nh = NextBit(hours_, h);
    if (nh < 0) {
      t = day + days(1);
      continue;
    }
    if (nh > h) {
      t = day + hours(nh);
      continue;
    }
    int nm = NextBit(minutes_, m);
    if (nm < 0) {
      t = day + hours(h + 1);
      continue;
    }
    if (nm > m) {
      t = day + hours(h) + minutes(nm);
      continue;
    }
    int ns = NextBit(seconds_, s);
    if (ns < 0) {
      t = day + hours(h) + minutes(m + 1);
      continue;
    }
    return day + hours(h) + minutes(m) + seconds(ns);
  }
}

}  // namespace akt
