// Fuzz target: reading recordings back. Each input line goes through
// ParseCastEvent (or ParseCastHeader for the first), and every event's data
// through TerminalText. Checks: no crash, and every line of text it yields
// is free of control characters and escape sequences and no longer than
// the cap plus one character.
// libFuzzer: clang++-14 -std=c++20 -O1 -g -fsanitize=fuzzer,address,undefined -I.
//   audit/fuzz/cast_text_fuzzer.cc audit/cast_event.cc audit/terminal_text.cc
//   audit/json_line.cc audit/asciicast.cc -lcrypto -o cast_text_fuzzer
#include <cstdint>
#include <cstdlib>
#include <string_view>
#include <vector>

#include "audit/cast_event.h"
#include "audit/terminal_text.h"

using namespace hopgate::audit;

namespace {

void Check(bool ok) {
  if (!ok) abort();
}

void CheckLines(const std::vector<TextLine>& lines, size_t max_line) {
  for (const auto& l : lines) {
    Check(!l.text.empty() && l.text.size() <= max_line + 4);
    for (unsigned char c : l.text) Check(c >= 0x20 && c != 0x7F);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  constexpr size_t kMax = 64;
  TerminalText output(kMax);
  std::vector<TextLine> lines;
  bool first = true;
  while (!in.empty()) {
    size_t nl = in.find('\n');
    std::string_view line = in.substr(0, nl);
    in = nl == std::string_view::npos ? std::string_view() : in.substr(nl + 1);
    if (first) {
      first = false;
      (void)ParseCastHeader(line);
      continue;
    }
    auto e = ParseCastEvent(line);
    if (!e) continue;
    Check(e->time >= 0);
    output.Feed(e->time, e->data, &lines);
    // The raw line as terminal bytes too: escape sequences of any shape.
    output.Feed(0, line, &lines);
  }
  output.Finish(&lines);
  CheckLines(lines, kMax);
  return 0;
}
