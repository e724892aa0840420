// One line of an asciicast v2 recording read back: the header object or an
// event `[time, "code", "data"]`. Recordings are treated as hostile input:
// lengths and nesting are bounded, anything but the exact shape is an error
// with a short reason, and text comes back as valid UTF-8. Pure; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/result.h"

namespace hopgate::audit {

struct CastEvent {
  double time = 0;   // seconds since the recording started
  std::string code;  // "o", "i", "r", "m", ...
  std::string data;  // decoded, valid UTF-8
};

// Longest line read back (an event line the writer makes is at most a few
// hundred KiB); longer lines are skipped as malformed.
inline constexpr size_t kMaxCastLine = 16 << 20;

// `[time, "code", "data"]`, JSON whitespace allowed between the parts.
Result<CastEvent> ParseCastEvent(std::string_view line);

struct CastHeaderInfo {
  int64_t timestamp = 0;  // Unix seconds; 0 when absent
  std::string command;    // the exec command, when the header names one
};

// The header line: a JSON object with "version": 2.
Result<CastHeaderInfo> ParseCastHeader(std::string_view line);

}  // namespace hopgate::audit
