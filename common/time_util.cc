#include "common/time_util.h"

#include <cstdio>
#include <ctime>
#include <limits>

namespace hopgate {

std::string FormatRfc3339(int64_t unix_seconds) {
  time_t t = static_cast<time_t>(unix_seconds);
  struct tm tm;
  if (gmtime_r(&t, &tm) == nullptr) return "invalid-time";
  char buf[64];
  snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900,
           tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
  return buf;
}

std::string FormatRfc3339Millis(int64_t unix_millis) {
  int64_t secs = unix_millis / 1000;
  int64_t ms = unix_millis % 1000;
  if (ms < 0) {
    ms += 1000;
    secs -= 1;
  }
  time_t t = static_cast<time_t>(secs);
  struct tm tm;
  if (gmtime_r(&t, &tm) == nullptr) return "invalid-time";
  char buf[64];
  snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
           tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
           tm.tm_sec, static_cast<int>(ms));
  return buf;
}

Result<int64_t> ParseDurationSeconds(std::string_view text) {
  if (text.empty()) return Error{"empty duration"};
  int64_t total = 0;
  size_t i = 0;
  while (i < text.size()) {
    if (text[i] < '0' || text[i] > '9') {
      return Error{"invalid duration \"" + std::string(text) +
                   "\": expected a number followed by s, m, h or d"};
    }
    int64_t n = 0;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
      n = n * 10 + (text[i] - '0');
      if (n > 1'000'000'000) {
        return Error{"duration \"" + std::string(text) + "\" is too large"};
      }
      ++i;
    }
    if (i == text.size()) {
      return Error{"invalid duration \"" + std::string(text) +
                   "\": missing unit (s, m, h or d)"};
    }
    int64_t mult;
    switch (text[i]) {
      case 's': mult = 1; break;
      case 'm': mult = 60; break;
      case 'h': mult = 3600; break;
      case 'd': mult = 86400; break;
      default:
        return Error{"invalid duration \"" + std::string(text) +
                     "\": unknown unit '" + std::string(1, text[i]) +
                     "' (use s, m, h or d)"};
    }
    ++i;
    total += n * mult;
    if (total > 100LL * 365 * 86400) {
      return Error{"duration \"" + std::string(text) + "\" is too large"};
    }
  }
  return total;
}

std::string FormatDuration(int64_t seconds) {
  if (seconds != 0 && seconds % 86400 == 0) return std::to_string(seconds / 86400) + "d";
  if (seconds != 0 && seconds % 3600 == 0) return std::to_string(seconds / 3600) + "h";
  if (seconds != 0 && seconds % 60 == 0) return std::to_string(seconds / 60) + "m";
  return std::to_string(seconds) + "s";
}

Result<int64_t> ParseByteSize(std::string_view text) {
  auto bad = [&] {
    return Error{"invalid size \"" + std::string(text) +
                 "\": expected a number with an optional unit (B, KiB, MiB, GiB, kB, MB, GB)"};
  };
  size_t i = 0;
  int64_t n = 0;
  while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
    n = n * 10 + (text[i] - '0');
    if (n > (int64_t{1} << 50)) return Error{"size \"" + std::string(text) + "\" is too large"};
    ++i;
  }
  if (i == 0) return bad();
  std::string_view unit = text.substr(i);
  struct Unit {
    std::string_view name;
    int64_t mult;
  };
  static constexpr Unit kUnits[] = {{"", 1},          {"B", 1},
                                    {"KiB", 1 << 10}, {"MiB", 1 << 20},
                                    {"GiB", 1 << 30}, {"TiB", int64_t{1} << 40},
                                    {"kB", 1000},     {"MB", 1000 * 1000},
                                    {"GB", 1000 * 1000 * 1000}, {"TB", int64_t{1000} * 1000 * 1000 * 1000}};
  for (const auto& u : kUnits) {
    if (unit == u.name) {
      if (n > (int64_t{1} << 50) / u.mult) {
        return Error{"size \"" + std::string(text) + "\" is too large"};
      }
      return n * u.mult;
    }
  }
  return bad();
}

}  // namespace hopgate
