// Cron expressions: parsing, validation, and next-fire computation, checked
// against fixed calendars and against a second-by-second scan that uses libc's
// gmtime_r as an independent calendar.
#include <akt/cron.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <ctime>
#include <functional>
#include <string>
#include <vector>

namespace akt {
namespace {

using std::chrono::seconds;
using std::chrono::sys_seconds;

sys_seconds At(const std::string& text) {  // "2024-03-08 09:00:00", UTC
  int y, mo, d, h, mi, s;
  EXPECT_EQ(std::sscanf(text.c_str(), "%d-%d-%d %d:%d:%d", &y, &mo, &d, &h, &mi, &s), 6) << text;
  std::tm tm{};
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = s;
  return sys_seconds(seconds(timegm(&tm)));
}

std::string Format(sys_seconds t) {
  std::time_t tt = static_cast<std::time_t>(t.time_since_epoch().count());
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02d %02d:%02d:%02d", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
  return buf;
}

CronExpression MustParse(const std::string& expr) {
  Result<CronExpression> c = CronExpression::Parse(expr);
  EXPECT_TRUE(c.ok()) << expr << ": " << c.status().ToString();
  return c.ok() ? *c : *CronExpression::Parse("* * * * * *");
}

// The next `n` fires strictly after `after`.
std::vector<std::string> Fires(const std::string& expr, const std::string& after, int n) {
  CronExpression c = MustParse(expr);
  std::vector<std::string> out;
  sys_seconds t = At(after);
  for (int i = 0; i < n; ++i) {
    t = c.Next(t);
    out.push_back(Format(t));
  }
  return out;
}

std::string NextAfter(const std::string& expr, const std::string& after) {
  return Fires(expr, after, 1)[0];
}

TEST(CronTest, EverySecondFiresOnTheNextWholeSecond) {
  EXPECT_EQ(NextAfter("* * * * * *", "2024-01-01 10:00:00"), "2024-01-01 10:00:01");
  CronExpression c = MustParse("* * * * * *");
  // A time inside a second counts as that second: the next one is still +1 s.
  auto mid = std::chrono::system_clock::time_point(At("2024-01-01 10:00:00")) +
             std::chrono::milliseconds(500);
  EXPECT_EQ(Format(c.Next(mid)), "2024-01-01 10:00:01");
}

TEST(CronTest, NextIsStrictlyAfterAMatchingInstant) {
  EXPECT_EQ(NextAfter("0 * * * * *", "2024-01-01 10:00:00"), "2024-01-01 10:01:00");
  EXPECT_EQ(NextAfter("0 * * * * *", "2024-01-01 09:59:59"), "2024-01-01 10:00:00");
}

TEST(CronTest, StepsRangesAndLists) {
  EXPECT_EQ(Fires("*/15 * * * * *", "2024-01-01 10:00:07", 4),
            (std::vector<std::string>{"2024-01-01 10:00:15", "2024-01-01 10:00:30",
                                      "2024-01-01 10:00:45", "2024-01-01 10:01:00"}));
  EXPECT_EQ(Fires("0 10-30/10 * * * *", "2024-01-01 10:00:00", 4),
            (std::vector<std::string>{"2024-01-01 10:10:00", "2024-01-01 10:20:00",
                                      "2024-01-01 10:30:00", "2024-01-01 11:10:00"}));
  EXPECT_EQ(Fires("5/20 * * * * *", "2024-01-01 10:00:00", 4),
            (std::vector<std::string>{"2024-01-01 10:00:05", "2024-01-01 10:00:25",
                                      "2024-01-01 10:00:45", "2024-01-01 10:01:05"}));
  EXPECT_EQ(Fires("0 0 9,17 * * *", "2024-01-01 12:00:00", 3),
            (std::vector<std::string>{"2024-01-01 17:00:00", "2024-01-02 09:00:00",
                                      "2024-01-02 17:00:00"}));
  EXPECT_EQ(
      Fires("0 0,30 8-9,20 * * *", "2024-01-01 08:15:00", 5),
      (std::vector<std::string>{"2024-01-01 08:30:00", "2024-01-01 09:00:00", "2024-01-01 09:30:00",
                                "2024-01-01 20:00:00", "2024-01-01 20:30:00"}));
}

TEST(CronTest, DailyAtMidnightRollsOverDaysMonthsAndYears) {
  EXPECT_EQ(NextAfter("0 0 0 * * *", "2024-03-10 23:59:59"), "2024-03-11 00:00:00");
  EXPECT_EQ(NextAfter("0 0 0 * * *", "2024-02-28 12:00:00"), "2024-02-29 00:00:00");
  EXPECT_EQ(NextAfter("0 0 0 * * *", "2023-02-28 12:00:00"), "2023-03-01 00:00:00");
  EXPECT_EQ(NextAfter("0 0 0 1 1 *", "2024-12-31 23:59:59"), "2025-01-01 00:00:00");
  EXPECT_EQ(NextAfter("0 0 0 1 1 *", "2024-06-01 00:00:00"), "2025-01-01 00:00:00");
  EXPECT_EQ(NextAfter("59 59 23 31 12 *", "2024-06-01 00:00:00"), "2024-12-31 23:59:59");
}

TEST(CronTest, The31stSkipsMonthsThatAreShorter) {
  EXPECT_EQ(Fires("0 0 0 31 * *", "2024-01-31 00:00:00", 4),
            (std::vector<std::string>{"2024-03-31 00:00:00", "2024-05-31 00:00:00",
                                      "2024-07-31 00:00:00", "2024-08-31 00:00:00"}));
  EXPECT_EQ(NextAfter("0 0 0 30 * *", "2024-01-30 00:00:00"), "2024-03-30 00:00:00");
}

TEST(CronTest, LastDaysOfTheMonthRange) {
  EXPECT_EQ(Fires("0 0 0 28-31 * *", "2023-02-27 00:00:00", 3),
            (std::vector<std::string>{"2023-02-28 00:00:00", "2023-03-28 00:00:00",
                                      "2023-03-29 00:00:00"}));
  EXPECT_EQ(Fires("0 0 0 28-31 2 *", "2024-02-27 00:00:00", 3),
            (std::vector<std::string>{"2024-02-28 00:00:00", "2024-02-29 00:00:00",
                                      "2025-02-28 00:00:00"}));
}

TEST(CronTest, LeapDayFiresOnlyInLeapYears) {
  EXPECT_EQ(NextAfter("0 0 12 29 2 *", "2024-02-29 11:59:59"), "2024-02-29 12:00:00");
  EXPECT_EQ(NextAfter("0 0 12 29 2 *", "2024-03-01 00:00:00"), "2028-02-29 12:00:00");
  // 2100 is not a leap year: eight years between two leap days.
  EXPECT_EQ(NextAfter("0 0 12 29 2 *", "2096-03-01 00:00:00"), "2104-02-29 12:00:00");
  // 2000 is one.
  EXPECT_EQ(NextAfter("0 0 12 29 2 *", "1997-01-01 00:00:00"), "2000-02-29 12:00:00");
}

TEST(CronTest, WeekdaysSkipTheWeekend) {
  // 2024-03-08 is a Friday.
  EXPECT_EQ(Fires("0 30 8 * * MON-FRI", "2024-03-08 09:00:00", 2),
            (std::vector<std::string>{"2024-03-11 08:30:00", "2024-03-12 08:30:00"}));
  EXPECT_EQ(NextAfter("0 30 8 * * 1-5", "2024-03-08 08:00:00"), "2024-03-08 08:30:00");
}

TEST(CronTest, SundayIsZeroSevenAndSun) {
  // 2024-03-06 is a Wednesday; the next Sunday is the 10th.
  for (const char* e : {"0 0 0 * * 0", "0 0 0 * * 7", "0 0 0 * * SUN", "0 0 0 * * sun"}) {
    EXPECT_EQ(NextAfter(e, "2024-03-06 00:00:00"), "2024-03-10 00:00:00") << e;
  }
  EXPECT_EQ(Fires("0 0 0 * * SAT-SUN", "2024-03-06 00:00:00", 3),
            (std::vector<std::string>{"2024-03-09 00:00:00", "2024-03-10 00:00:00",
                                      "2024-03-16 00:00:00"}));
  EXPECT_EQ(Fires("0 0 0 * * 5-7", "2024-03-06 00:00:00", 4),
            (std::vector<std::string>{"2024-03-08 00:00:00", "2024-03-09 00:00:00",
                                      "2024-03-10 00:00:00", "2024-03-15 00:00:00"}));
}

TEST(CronTest, BothDayFieldsRestrictedMatchEitherOne) {
  // Every Friday and every 13th. 2024-01-01 is a Monday; 2024-01-13 a Saturday.
  EXPECT_EQ(Fires("0 0 0 13 * FRI", "2024-01-01 00:00:00", 4),
            (std::vector<std::string>{"2024-01-05 00:00:00", "2024-01-12 00:00:00",
                                      "2024-01-13 00:00:00", "2024-01-19 00:00:00"}));
  // A step is a restriction too: days 1, 11, 21, 31 and every Monday.
  EXPECT_EQ(Fires("0 0 0 */10 * MON", "2024-01-01 00:00:00", 4),
            (std::vector<std::string>{"2024-01-08 00:00:00", "2024-01-11 00:00:00",
                                      "2024-01-15 00:00:00", "2024-01-21 00:00:00"}));
}

TEST(CronTest, OneDayFieldStarredLeavesOnlyTheOther) {
  EXPECT_EQ(NextAfter("0 0 0 15 * *", "2024-01-01 00:00:00"), "2024-01-15 00:00:00");
  EXPECT_EQ(NextAfter("0 0 0 15 * ?", "2024-01-01 00:00:00"), "2024-01-15 00:00:00");
  EXPECT_EQ(NextAfter("0 0 0 ? * WED", "2024-01-01 00:00:00"), "2024-01-03 00:00:00");
}

TEST(CronTest, MonthNamesAreCaseInsensitive) {
  EXPECT_EQ(Fires("0 0 0 1 jan,Jul *", "2024-02-01 00:00:00", 2),
            (std::vector<std::string>{"2024-07-01 00:00:00", "2025-01-01 00:00:00"}));
  EXPECT_EQ(NextAfter("0 0 0 1 MAR-may *", "2024-06-01 00:00:00"), "2025-03-01 00:00:00");
}

TEST(CronTest, MatchesTellsWhetherASecondMatches) {
  CronExpression c = MustParse("30 15 10 * * MON-FRI");
  EXPECT_TRUE(c.Matches(At("2024-03-08 10:15:30")));   // a Friday
  EXPECT_FALSE(c.Matches(At("2024-03-09 10:15:30")));  // a Saturday
  EXPECT_FALSE(c.Matches(At("2024-03-08 10:15:31")));
  EXPECT_EQ(c.expression(), "30 15 10 * * MON-FRI");
}

// An independent model of each expression (libc's calendar) against which
// Next and Matches are compared for every second of four days around the
// 2024 leap day.
TEST(CronTest, NextAgreesWithASecondBySecondScan) {
  struct Case {
    const char* expr;
    std::function<bool(const std::tm&)> matches;
  };
  const std::vector<Case> cases = {
      {"*/7 * * * * *", [](const std::tm& t) { return t.tm_sec % 7 == 0; }},
      {"0 */5 9-17 * * MON-FRI",
       [](const std::tm& t) {
         return t.tm_sec == 0 && t.tm_min % 5 == 0 && t.tm_hour >= 9 && t.tm_hour <= 17 &&
                t.tm_wday >= 1 && t.tm_wday <= 5;
       }},
      {"30 15 0,12 * * *",
       [](const std::tm& t) {
         return t.tm_sec == 30 && t.tm_min == 15 && (t.tm_hour == 0 || t.tm_hour == 12);
       }},
      {"0 0 * 29 2 *",
       [](const std::tm& t) {
         return t.tm_sec == 0 && t.tm_min == 0 && t.tm_mday == 29 && t.tm_mon == 1;
       }},
      {"0 0 6 1 * *",
       [](const std::tm& t) {
         return t.tm_sec == 0 && t.tm_min == 0 && t.tm_hour == 6 && t.tm_mday == 1;
       }},
      {"15,45 10-20/5 */6 * * SUN,WED",
       [](const std::tm& t) {
         return (t.tm_sec == 15 || t.tm_sec == 45) && t.tm_min >= 10 && t.tm_min <= 20 &&
                t.tm_min % 5 == 0 && t.tm_hour % 6 == 0 && (t.tm_wday == 0 || t.tm_wday == 3);
       }},
      {"0 0 0 28-31 * *",
       [](const std::tm& t) {
         return t.tm_sec == 0 && t.tm_min == 0 && t.tm_hour == 0 && t.tm_mday >= 28;
       }},
      {"0 59 23 * * ?",
       [](const std::tm& t) { return t.tm_sec == 0 && t.tm_min == 59 && t.tm_hour == 23; }},
      {"0 0 12 1 * TUE",
       [](const std::tm& t) {
         return t.tm_sec == 0 && t.tm_min == 0 && t.tm_hour == 12 &&
                (t.tm_mday == 1 || t.tm_wday == 2);
       }},
      {"5/20 0 0 * FEB,MAR *",
       [](const std::tm& t) {
         return t.tm_sec % 20 == 5 && t.tm_min == 0 && t.tm_hour == 0 &&
                (t.tm_mon == 1 || t.tm_mon == 2);
       }},
  };
  const sys_seconds start = At("2024-02-27 00:00:00");
  const sys_seconds end = At("2024-03-02 00:00:00");
  for (const Case& k : cases) {
    CronExpression c = MustParse(k.expr);
    std::vector<sys_seconds> expected;
    for (sys_seconds t = start; t < end; t += seconds(1)) {
      std::time_t tt = static_cast<std::time_t>(t.time_since_epoch().count());
      std::tm tm{};
      gmtime_r(&tt, &tm);
      bool m = k.matches(tm);
      if (m) expected.push_back(t);
      ASSERT_EQ(c.Matches(t), m) << k.expr << " at " << Format(t);
    }
    std::vector<sys_seconds> got;
    for (sys_seconds t = c.Next(start - seconds(1)); t < end; t = c.Next(t)) got.push_back(t);
    ASSERT_EQ(got.size(), expected.size()) << k.expr;
    for (std::size_t i = 0; i < got.size(); ++i) {
      EXPECT_EQ(Format(got[i]), Format(expected[i])) << k.expr;
    }
  }
}

TEST(CronTest, MalformedExpressionsAreInvalidArgumentsThatSayWhatIsWrong) {
  struct Bad {
    const char* expr;
    const char* says;
  };
  const std::vector<Bad> bad = {
      {"", "has 0 fields"},
      {"* * * * *", "start with a seconds field"},
      {"* * * * * * *", "has 7 fields"},
      {"60 * * * * *", "second field '60': value 60 is out of range 0-59"},
      {"* 60 * * * *", "minute field"},
      {"* * 24 * * *", "hour field"},
      {"* * * 0 * *", "day-of-month field '0'"},
      {"* * * 32 * *", "day-of-month field"},
      {"* * * * 13 *", "month field"},
      {"* * * * 0 *", "month field"},
      {"* * * * * 8", "day-of-week field"},
      {"*/0 * * * * *", "step 0"},
      {"*/61 * * * * *", "step 61"},
      {"*/x * * * * *", "is not a number"},
      {"30-10 * * * * *", "runs backwards"},
      {"a * * * * *", "'a' is not a value"},
      {"1-2-3 * * * * *", "is not a value"},
      {"1,,2 * * * * *", "empty list item"},
      {"1, * * * * *", "empty list item"},
      {"? * * * * *", "second field"},
      {"JAN * * * * *", "second field"},
      {"* * * * FOO *", "month field"},
      {"0 0 0 30 2 *", "never fires"},
      {"0 0 0 31 4,6,9,11 *", "never fires"},
  };
  for (const Bad& b : bad) {
    Result<CronExpression> c = CronExpression::Parse(b.expr);
    ASSERT_FALSE(c.ok()) << b.expr;
    EXPECT_EQ(c.status().code(), StatusCode::kInvalidArgument) << b.expr;
    EXPECT_NE(c.status().message().find(b.says), std::string::npos)
        << b.expr << " -> " << c.status().message();
  }
}

TEST(CronTest, UnusualButValidExpressionsParse) {
  for (const char* e : {"0 0 0 29 2 *", "0 0 0 31 * *", "0 0 0 30 2 MON", "*/60 * * * * *",
                        "0 0 0 ? * ?", "  0\t0  0 * * *  ", "0-59/59 0 0 * * *"}) {
    EXPECT_TRUE(CronExpression::Parse(e).ok()) << e;
  }
  // Both day fields restricted: Mondays in February count even though there
  // is no 30 February.
  EXPECT_EQ(NextAfter("0 0 0 30 2 MON", "2024-01-01 00:00:00"), "2024-02-05 00:00:00");
}

}  // namespace
}  // namespace akt
