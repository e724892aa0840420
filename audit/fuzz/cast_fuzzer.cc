// Fuzz target: the asciicast reader (a recording being replayed is hostile
// input). The first byte sets how the rest is fed (pieces of 1..256 bytes,
// as a file still being written arrives). Checks the reader's contract:
// never a crash, memory bounded by the line limit, event times never
// decrease, line numbers only grow, an error is final and has a line and
// a column.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "audit/cast_reader.h"

namespace {

void Check(bool ok) {
  if (!ok) abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  size_t piece = static_cast<size_t>(data[0]) + 1;
  std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  hopgate::audit::CastLimits limits;
  limits.max_line_bytes = 4096;
  hopgate::audit::CastParser parser(limits);
  double last_time = 0;
  uint64_t last_line = 0;
  std::string error;
  while (!in.empty()) {
    std::string_view p = in.substr(0, piece);
    in.remove_prefix(p.size());
    hopgate::Status fed = parser.Feed(p);
    if (!error.empty()) Check(!fed.ok());
    if (!fed.ok()) error = fed.message();
    if (fed.ok()) Check(parser.pending_bytes() <= limits.max_line_bytes + piece);
    while (true) {
      hopgate::audit::CastEvent ev;
      auto r = parser.Next(&ev);
      if (!r) {
        if (!error.empty()) Check(r.message() == error);
        error = r.message();
        Check(r.error().line > 0 && parser.error_column() >= 1);
        break;
      }
      Check(error.empty());
      if (!*r) break;
      Check(parser.header() != nullptr);
      Check(ev.time >= last_time && ev.line > last_line && !ev.code.empty());
      if (ev.code == "r") Check(ev.width >= 1 && ev.height >= 1);
      last_time = ev.time;
      last_line = ev.line;
    }
  }
  return 0;
}
