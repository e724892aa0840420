#include "audit/terminal_text.h"

namespace hopgate::audit {
namespace {

constexpr unsigned char kEsc = 0x1B;
constexpr size_t kMaxCsi = 64;         // longer: not a real sequence, give up on it
constexpr size_t kMaxString = 4096;    // OSC/DCS payloads (titles, clipboard)

bool IsBlank(const std::string& s) {
  return s.find_first_not_of(" \t") == std::string::npos;
}

}  // namespace

void TerminalText::Feed(double time, std::string_view data, std::vector<TextLine>* out) {
  for (char ch : data) {
    unsigned char c = static_cast<unsigned char>(ch);
    if (pending_c2_) {
      pending_c2_ = false;
      if (c >= 0x80 && c <= 0x9F) {  // U+0080..U+009F: a C1 control
        C1(c);
        continue;
      }
      if (state_ == State::kText) Text(time, 0xC2, out);
    }
    if (c == 0xC2) {
      pending_c2_ = true;
      continue;
    }
    switch (state_) {
      case State::kText:
        Text(time, c, out);
        break;
      case State::kEsc:
        seq_len_ = 1;
        if (c == '[') {
          state_ = State::kCsi;
        } else if (c == ']' || c == 'P' || c == 'X' || c == '^' || c == '_') {
          state_ = State::kString;
        } else if (c >= 0x20 && c <= 0x2F) {
          state_ = State::kEscIntermediate;
        } else if (c == kEsc) {
          state_ = State::kEsc;
        } else if (c < 0x20) {
          state_ = State::kText;
          Control(c, out);
        } else {
          state_ = State::kText;  // a two-byte escape: ESC 7, ESC M, ESC =
        }
        break;
      case State::kEscIntermediate:
        if (c < 0x20 || c > 0x2F) state_ = c == kEsc ? State::kEsc : State::kText;
        break;
      case State::kCsi:
        if (c >= 0x40 && c <= 0x7E) {
          state_ = State::kText;
          // Cursor moves that start another place on the screen end the
          // line; a move right stands for blanks.
          if (c == 'H' || c == 'f' || c == 'd' || c == 'J') EndLine(out);
          if (c == 'C' && !line_.empty()) line_.push_back(' ');
        } else if (c == kEsc) {
          state_ = State::kEsc;
        } else if (c == 0x18 || c == 0x1A || ++seq_len_ > kMaxCsi) {
          state_ = State::kText;
        }
        break;
      case State::kString:
        if (c == 0x07 || c == 0x18 || c == 0x1A || ++seq_len_ > kMaxString) {
          state_ = State::kText;
        } else if (c == kEsc) {
          state_ = State::kStringEsc;
        }
        break;
      case State::kStringEsc:
        // ESC \ ends the string; ESC and anything else starts a new escape
        // (as xterm does), which this byte continues.
        state_ = State::kEsc;
        if (c == '\\') {
          state_ = State::kText;
        } else {
          Feed(time, std::string_view(&ch, 1), out);
        }
        break;
    }
  }
}

void TerminalText::C1(unsigned char c) {
  seq_len_ = 0;
  if (c == 0x9B) {
    state_ = State::kCsi;
  } else if (c == 0x9D || c == 0x90 || c == 0x98 || c == 0x9E || c == 0x9F) {
    state_ = State::kString;
  } else if (c == 0x9C) {
    state_ = State::kText;  // ST
  }
  // Other C1 controls (and C1 inside sequences) are dropped.
}

void TerminalText::Text(double time, unsigned char c, std::vector<TextLine>* out) {
  if (c == '\t') {  // a space inside a line (not leading), subject to the cap like any
    if (line_.empty()) return;
    c = ' ';
  }
  if (c < 0x20 || c == 0x7F) {
    Control(c, out);
    return;
  }
  if (line_.empty()) line_time_ = time;
  line_.push_back(static_cast<char>(c));
  // Split an over-long line, but never inside a UTF-8 character.
  if (line_.size() >= max_line_ + 4) {  // not UTF-8 after all: split anyway
    EndLine(out);
  } else if (line_.size() >= max_line_ && (c < 0x80 || c >= 0xC0)) {
    std::string last;
    if (c >= 0xC0) {
      last = line_.substr(line_.size() - 1);
      line_.pop_back();
    }
    EndLine(out);
    if (!last.empty()) {
      line_ = last;
      line_time_ = time;
    }
  }
}

void TerminalText::Control(unsigned char c, std::vector<TextLine>* out) {
  switch (c) {
    case '\n':
    case '\r':
    case '\f':
    case '\v':
      EndLine(out);
      break;
    case '\b':
      Backspace();
      break;
    case kEsc:
      state_ = State::kEsc;
      seq_len_ = 0;
      break;
    default:
      break;  // BEL, NUL, shifts, DEL: nothing shown
  }
}

void TerminalText::Backspace() {
  while (!line_.empty() && (static_cast<unsigned char>(line_.back()) & 0xC0) == 0x80) {
    line_.pop_back();
  }
  if (!line_.empty()) line_.pop_back();
}

void TerminalText::EndLine(std::vector<TextLine>* out) {
  if (!IsBlank(line_)) {
    size_t end = line_.find_last_not_of(" \t");
    line_.resize(end + 1);
    out->push_back({line_time_, std::move(line_)});
  }
  line_.clear();
}

void TerminalText::Finish(std::vector<TextLine>* out) {
  if (pending_c2_ && state_ == State::kText) line_.push_back(static_cast<char>(0xC2));
  pending_c2_ = false;
  EndLine(out);
  state_ = State::kText;
}

}  // namespace hopgate::audit
