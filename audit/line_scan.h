// One pass over an audit line that checks it is a JSON object and finds a
// few top-level members (seq, prev, type, connection, session, channel)
// without building a document: what lets `hopctl audit verify` stream a log
// at disk speed and parse fully only the lines whose type needs it. Pure,
// allocation-free; the views point into the line.
#pragma once

#include <cstdint>
#include <string_view>

namespace hopgate::audit {

struct LineFields {
  bool has_seq = false;
  uint64_t seq = 0;
  // Raw contents of string members, between the quotes (escapes not
  // decoded; `escaped` says whether there were any). Empty views when absent.
  std::string_view prev, type, connection, session;
  bool has_prev = false, has_type = false, has_connection = false, has_session = false;
  bool escaped = false;  // one of the strings above contains a backslash escape
  bool has_channel = false;
  uint64_t channel = 0;
};

// Checks `line` against the JSON grammar (RFC 8259: one object, nothing
// after it; strings' UTF-8 is not checked, nesting is capped at 64) and
// fills `out`. Returns nullptr if it is valid, else why not: "not valid
// JSON", "not a JSON object", or a duplicate or mistyped member of interest
// ("\"seq\" is not a non-negative integer", "duplicate \"seq\"").
const char* ScanLine(std::string_view line, LineFields* out);

}  // namespace hopgate::audit
