// Time and duration text formats used in config, policy, audit and certs.
// Pure: callers pass the time in. Thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/result.h"

namespace hopgate {

// "2026-11-20T10:00:00Z" for a Unix time in seconds.
std::string FormatRfc3339(int64_t unix_seconds);
// "2026-11-20T10:00:00.123Z" for a Unix time in milliseconds.
std::string FormatRfc3339Millis(int64_t unix_millis);
// Durations as written in config and policy: "30s", "15m", "8h", "2d", or a
// sum such as "1h30m". A bare number is refused (the unit must be explicit).
Result<int64_t> ParseDurationSeconds(std::string_view text);
// "65536", "64KiB", "100MiB", "1GiB", "10MB", "512kB": bytes. Binary units
// (KiB, MiB, GiB, TiB) are powers of 1024, decimal ones (kB, MB, GB, TB) of
// 1000; B or no unit is bytes. At most 2^50.
Result<int64_t> ParseByteSize(std::string_view text);
// The inverse, in the largest exact unit: 90 -> "90s", 900 -> "15m".
std::string FormatDuration(int64_t seconds);

}  // namespace hopgate
