// What a terminal showed, as searchable lines: the text of asciicast output
// (or input) events with ANSI escape sequences (CSI, OSC, DCS and the other
// string controls, two-byte escapes, their C1 forms) stripped, split into
// lines at CR and LF, each with the time its first character appeared.
// Backspace removes the character before it; other control characters are
// dropped. State carries across events, so a sequence split between two
// events is still removed. Not thread-safe: one per recording stream.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace hopgate::audit {

struct TextLine {
  double time = 0;   // seconds since the recording started
  std::string text;  // valid UTF-8 if the input was; no control characters
};

class TerminalText {
 public:
  // Lines longer than `max_line` bytes are split (at a character boundary).
  explicit TerminalText(size_t max_line = 4096) : max_line_(max_line) {}

  // Appends complete, non-blank lines to *out (trailing blanks trimmed).
  void Feed(double time, std::string_view data, std::vector<TextLine>* out);
  // Ends the line in progress (the end of the recording, or of this pass).
  void Finish(std::vector<TextLine>* out);

 private:
  enum class State { kText, kEsc, kEscIntermediate, kCsi, kString, kStringEsc };

  void Text(double time, unsigned char c, std::vector<TextLine>* out);
  void Control(unsigned char c, std::vector<TextLine>* out);
  void C1(unsigned char c);
  void EndLine(std::vector<TextLine>* out);
  void Backspace();

  size_t max_line_;
  State state_ = State::kText;
  size_t seq_len_ = 0;       // bytes in the escape sequence so far
  bool pending_c2_ = false;  // 0xC2 seen: maybe a C1 control next
  std::string line_;
  double line_time_ = 0;
};

}  // namespace hopgate::audit
