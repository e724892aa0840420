#include "audit/timestamps.h"

#include <string>

#include "common/time_util.h"

namespace hopgate::audit {
namespace {

// Days since 1970-01-01 for a proleptic Gregorian date (Howard Hinnant's
// days_from_civil).
int64_t DaysFromCivil(int64_t y, int64_t m, int64_t d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const int64_t yoe = y - era * 400;
  const int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

bool IsLeap(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

// Reads exactly `n` digits at `*i`.
bool Digits(std::string_view s, size_t* i, int n, int64_t* out) {
  if (*i + n > s.size()) return false;
  int64_t v = 0;
  for (int k = 0; k < n; ++k) {
    char c = s[*i + k];
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  *i += n;
  *out = v;
  return true;
}

bool Expect(std::string_view s, size_t* i, char c) {
  if (*i >= s.size() || s[*i] != c) return false;
  ++*i;
  return true;
}

// YYYY-MM-DD at *i: days since the epoch.
bool ParseDate(std::string_view s, size_t* i, int64_t* days) {
  static const int kMonthDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  int64_t y, m, d;
  if (!Digits(s, i, 4, &y) || !Expect(s, i, '-') || !Digits(s, i, 2, &m) || !Expect(s, i, '-') ||
      !Digits(s, i, 2, &d)) {
    return false;
  }
  if (m < 1 || m > 12 || d < 1) return false;
  int64_t max = kMonthDays[m - 1] + (m == 2 && IsLeap(y) ? 1 : 0);
  if (d > max) return false;
  *days = DaysFromCivil(y, m, d);
  return true;
}

// HH:MM[:SS[.frac]] at *i: milliseconds into the day.
bool ParseClock(std::string_view s, size_t* i, bool seconds_required, int64_t* ms) {
  int64_t h, m, sec = 0, frac_ms = 0;
  if (!Digits(s, i, 2, &h) || !Expect(s, i, ':') || !Digits(s, i, 2, &m)) return false;
  if (*i < s.size() && s[*i] == ':') {
    ++*i;
    if (!Digits(s, i, 2, &sec)) return false;
    if (*i < s.size() && s[*i] == '.') {
      ++*i;
      size_t start = *i;
      while (*i < s.size() && s[*i] >= '0' && s[*i] <= '9' && *i - start < 9) {
        if (*i - start < 3) frac_ms = frac_ms * 10 + (s[*i] - '0');
        ++*i;
      }
      if (*i == start) return false;
      for (size_t k = *i - start; k < 3; ++k) frac_ms *= 10;
    }
  } else if (seconds_required) {
    return false;
  }
  if (h > 23 || m > 59 || sec > 60) return false;  // 60: a leap second
  *ms = ((h * 60 + m) * 60 + sec) * 1000 + frac_ms;
  return true;
}

// Z, z or ±HH:MM at *i: the offset east of UTC in ms.
bool ParseZone(std::string_view s, size_t* i, int64_t* offset_ms) {
  if (*i < s.size() && (s[*i] == 'Z' || s[*i] == 'z')) {
    ++*i;
    *offset_ms = 0;
    return true;
  }
  if (*i >= s.size() || (s[*i] != '+' && s[*i] != '-')) return false;
  int sign = s[*i] == '-' ? -1 : 1;
  ++*i;
  int64_t h, m;
  if (!Digits(s, i, 2, &h) || !Expect(s, i, ':') || !Digits(s, i, 2, &m) || h > 23 || m > 59) {
    return false;
  }
  *offset_ms = sign * (h * 60 + m) * 60'000;
  return true;
}

Error BadTime(std::string_view text) {
  return MakeError(Code::kInvalidArgument,
                   "invalid time \"" + std::string(text) +
                       "\": expected RFC 3339 (2026-11-29T10:00:00Z), a date (2026-11-29) or a "
                       "duration ago (30m, 2h, 3d)");
}

}  // namespace

Result<int64_t> ParseRfc3339Ms(std::string_view text) {
  size_t i = 0;
  int64_t days, clock, zone;
  if (!ParseDate(text, &i, &days) || i >= text.size() || (text[i] != 'T' && text[i] != 't')) {
    return BadTime(text);
  }
  ++i;
  if (!ParseClock(text, &i, true, &clock) || !ParseZone(text, &i, &zone) || i != text.size()) {
    return BadTime(text);
  }
  return days * 86'400'000 + clock - zone;
}

Result<int64_t> ParseTimeArg(std::string_view text, int64_t now_ms) {
  if (text == "now") return now_ms;
  if (!text.empty() && text.size() <= 12 && text.find('-') == std::string_view::npos) {
    auto secs = ParseDurationSeconds(text);
    if (!secs) return BadTime(text);
    return now_ms - *secs * 1000;
  }
  size_t i = 0;
  int64_t days, clock = 0, zone = 0;
  if (!ParseDate(text, &i, &days)) return BadTime(text);
  if (i < text.size()) {
    if (text[i] != 'T' && text[i] != 't' && text[i] != ' ') return BadTime(text);
    ++i;
    if (!ParseClock(text, &i, false, &clock)) return BadTime(text);
    if (i < text.size() && !ParseZone(text, &i, &zone)) return BadTime(text);
    if (i != text.size()) return BadTime(text);
  }
  return days * 86'400'000 + clock - zone;
}

}  // namespace hopgate::audit
