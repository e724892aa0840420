// Reading a file someone else wrote line by line, from a byte offset, with
// a cap on the length of a line (a longer one is reported and skipped, so a
// file without newlines cannot exhaust memory). Used by the session index
// for audit log files and recordings. Files only; thread-compatible.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "common/result.h"

namespace hopgate::audit {

struct LineInfo {
  uint64_t offset = 0;    // of the line's first byte in the file
  uint64_t end = 0;       // just past its newline
  bool too_long = false;  // over the cap: `text` is empty
};

struct ReadResult {
  uint64_t end = 0;          // just past the last complete line read
  uint64_t partial = 0;      // bytes after it (a line still being written)
};

// Calls `line` for every complete line from `from_offset` (which must start
// a line) to the end of the file as it is now, without the newline. Stops
// early with the callback's error.
Result<ReadResult> ReadLines(const std::string& path, uint64_t from_offset, size_t max_line,
                             const std::function<Status(std::string_view, const LineInfo&)>& line);

// The first line of `path` (up to `max_line` bytes); NotFound when the file
// has no complete line yet.
Result<std::string> FirstLine(const std::string& path, size_t max_line);

}  // namespace hopgate::audit
