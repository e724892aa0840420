// Reading times: the audit log's RFC 3339 timestamps, and the TIME arguments
// auditors type (`--since 2h`, `--until 2026-11-29`). Pure: the current time
// is passed in. Thread-safe.
#pragma once

#include <cstdint>
#include <string_view>

#include "common/result.h"

namespace hopgate::audit {

// "2026-11-29T06:03:09.439Z", "2026-11-29T07:03:09+01:00", with or without
// a fraction (up to nanoseconds, truncated to ms): Unix milliseconds.
Result<int64_t> ParseRfc3339Ms(std::string_view text);

// A TIME argument: RFC 3339 (as above), a date `2026-11-29` (midnight UTC),
// `2026-11-29T10:00` or `2026-11-29 10:00[:SS]` (UTC), a duration ago
// (`90s`, `30m`, `2h`, `3d`, `1h30m`), or `now`.
Result<int64_t> ParseTimeArg(std::string_view text, int64_t now_ms);

}  // namespace hopgate::audit
