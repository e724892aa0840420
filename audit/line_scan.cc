#include "audit/line_scan.h"

#include <array>
#include <cstring>

namespace hopgate::audit {
namespace {

constexpr int kMaxDepth = 64;

// Bytes that end the fast run inside a string: the quote, the backslash and
// the control characters JSON forbids unescaped.
constexpr std::array<bool, 256> SpecialInString() {
  std::array<bool, 256> t{};
  for (int c = 0; c < 0x20; ++c) t[c] = true;
  t['"'] = true;
  t['\\'] = true;
  return t;
}
constexpr std::array<bool, 256> kSpecial = SpecialInString();

bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsHex(char c) {
  return IsDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

// Parses a non-negative integer without sign, fraction or exponent; false
// on anything else or on overflow.
bool PlainUint(std::string_view raw, uint64_t* out) {
  if (raw.empty() || raw.size() > 20) return false;
  uint64_t v = 0;
  for (char c : raw) {
    if (!IsDigit(c)) return false;
    uint64_t d = static_cast<uint64_t>(c - '0');
    if (v > (UINT64_MAX - d) / 10) return false;
    v = v * 10 + d;
  }
  *out = v;
  return true;
}

class Scanner {
 public:
  explicit Scanner(std::string_view s) : p_(s.data()), end_(s.data() + s.size()) {}

  const char* Top(LineFields* f) {
    Ws();
    if (p_ >= end_ || *p_ != '{') return Value(0) ? "not a JSON object" : "not valid JSON";
    const char* why = Object(0, f);
    if (why) return why;
    Ws();
    return p_ == end_ ? nullptr : "not valid JSON";
  }

 private:
  void Ws() {
    while (p_ < end_ && (*p_ == ' ' || *p_ == '\t' || *p_ == '\n' || *p_ == '\r')) ++p_;
  }

  // Advances over bytes that need no attention inside a string, eight at a
  // time while none of them is a quote, a backslash or a control character.
  void SkipPlain() {
    constexpr uint64_t kOnes = 0x0101010101010101ull, kHighs = 0x8080808080808080ull;
    while (end_ - p_ >= 8) {
      uint64_t x;
      std::memcpy(&x, p_, 8);
      uint64_t quote = x ^ (kOnes * '"'), backslash = x ^ (kOnes * '\\');
      // A byte is zero (or, for `x - 0x20`, below 0x20) where the high bit
      // of (v - 0x01..) & ~v is set; bytes >= 0x80 are masked out by ~x.
      uint64_t special = ((quote - kOnes) & ~quote) | ((backslash - kOnes) & ~backslash) |
                         ((x - kOnes * 0x20) & ~x);
      if (special & kHighs) break;
      p_ += 8;
    }
    while (p_ < end_ && !kSpecial[static_cast<unsigned char>(*p_)]) ++p_;
  }

  // At a quote: the contents up to the closing quote, escapes checked.
  bool String(std::string_view* content, bool* escaped) {
    ++p_;
    const char* start = p_;
    while (true) {
      SkipPlain();
      if (p_ >= end_) return false;
      char c = *p_;
      if (c == '"') {
        *content = std::string_view(start, static_cast<size_t>(p_ - start));
        ++p_;
        return true;
      }
      if (c != '\\' || ++p_ >= end_) return false;  // a control character, or a lone backslash
      *escaped = true;
      switch (*p_) {
        case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
          ++p_;
          break;
        case 'u':
          if (end_ - p_ < 5 || !IsHex(p_[1]) || !IsHex(p_[2]) || !IsHex(p_[3]) || !IsHex(p_[4])) {
            return false;
          }
          p_ += 5;
          break;
        default:
          return false;
      }
    }
  }

  bool Number(std::string_view* raw) {
    const char* start = p_;
    if (p_ < end_ && *p_ == '-') ++p_;
    if (p_ >= end_) return false;
    if (*p_ == '0') {
      ++p_;
    } else if (IsDigit(*p_)) {
      while (p_ < end_ && IsDigit(*p_)) ++p_;
    } else {
      return false;
    }
    if (p_ < end_ && *p_ == '.') {
      ++p_;
      if (p_ >= end_ || !IsDigit(*p_)) return false;
      while (p_ < end_ && IsDigit(*p_)) ++p_;
    }
    if (p_ < end_ && (*p_ == 'e' || *p_ == 'E')) {
      ++p_;
      if (p_ < end_ && (*p_ == '+' || *p_ == '-')) ++p_;
      if (p_ >= end_ || !IsDigit(*p_)) return false;
      while (p_ < end_ && IsDigit(*p_)) ++p_;
    }
    *raw = std::string_view(start, static_cast<size_t>(p_ - start));
    return true;
  }

  bool Literal(std::string_view word) {
    if (static_cast<size_t>(end_ - p_) < word.size() ||
        std::string_view(p_, word.size()) != word) {
      return false;
    }
    p_ += word.size();
    return true;
  }

  bool Value(int depth) {
    if (depth > kMaxDepth || p_ >= end_) return false;
    std::string_view ignored;
    bool esc = false;
    switch (*p_) {
      case '{': return Object(depth, nullptr) == nullptr;
      case '[': return Array(depth);
      case '"': return String(&ignored, &esc);
      case 't': return Literal("true");
      case 'f': return Literal("false");
      case 'n': return Literal("null");
      default: return Number(&ignored);
    }
  }

  bool Array(int depth) {
    ++p_;
    Ws();
    if (p_ < end_ && *p_ == ']') {
      ++p_;
      return true;
    }
    while (true) {
      Ws();
      if (!Value(depth + 1)) return false;
      Ws();
      if (p_ >= end_) return false;
      if (*p_ == ']') {
        ++p_;
        return true;
      }
      if (*p_++ != ',') return false;
    }
  }

  // A top-level member the verifier reads; nullptr if fine. A member of the
  // wrong type is reported only if the line is valid JSON otherwise.
  const char* Capture(std::string_view key, LineFields* f) {
    auto mistyped = [&](const char* why, int depth) -> const char* {
      return Value(depth) ? why : "not valid JSON";
    };
    if (key == "seq") {
      if (f->has_seq) return "duplicate \"seq\"";
      std::string_view raw;
      if (p_ >= end_ || (!IsDigit(*p_) && *p_ != '-')) {
        return mistyped("\"seq\" is not a non-negative integer", 1);
      }
      if (!Number(&raw)) return "not valid JSON";
      if (!PlainUint(raw, &f->seq)) return "\"seq\" is not a non-negative integer";
      f->has_seq = true;
      return nullptr;
    }
    if (key == "prev" || key == "type") {
      bool prev = key == "prev";
      bool* has = prev ? &f->has_prev : &f->has_type;
      std::string_view* view = prev ? &f->prev : &f->type;
      if (*has) return prev ? "duplicate \"prev\"" : "duplicate \"type\"";
      if (p_ >= end_ || *p_ != '"') {
        return mistyped(prev ? "\"prev\" is not a string" : "\"type\" is not a string", 1);
      }
      if (!String(view, &f->escaped)) return "not valid JSON";
      *has = true;
      return nullptr;
    }
    // Mistyped or repeated: treated as absent (the verifier never relies on them).
    if (key == "connection" && p_ < end_ && *p_ == '"' && !f->has_connection) {
      if (!String(&f->connection, &f->escaped)) return "not valid JSON";
      f->has_connection = true;
    } else if (key == "session" && p_ < end_ && *p_ == '"' && !f->has_session) {
      if (!String(&f->session, &f->escaped)) return "not valid JSON";
      f->has_session = true;
    } else if (key == "channel" && p_ < end_ && IsDigit(*p_) && !f->has_channel) {
      std::string_view raw;
      if (!Number(&raw)) return "not valid JSON";
      f->has_channel = PlainUint(raw, &f->channel);
    }
    return nullptr;
  }

  // `top` is non-null for the line's own object, whose members are captured.
  const char* Object(int depth, LineFields* top) {
    ++p_;
    Ws();
    if (p_ < end_ && *p_ == '}') {
      ++p_;
      return nullptr;
    }
    while (true) {
      Ws();
      std::string_view key;
      bool esc = false;
      if (p_ >= end_ || *p_ != '"' || !String(&key, &esc)) return "not valid JSON";
      Ws();
      if (p_ >= end_ || *p_++ != ':') return "not valid JSON";
      Ws();
      const char* before = p_;
      if (top && !esc) {
        if (const char* why = Capture(key, top)) return why;
      }
      if (p_ == before && !Value(depth + 1)) return "not valid JSON";
      Ws();
      if (p_ >= end_) return "not valid JSON";
      if (*p_ == '}') {
        ++p_;
        return nullptr;
      }
      if (*p_++ != ',') return "not valid JSON";
    }
  }

  const char* p_;
  const char* end_;
};

}  // namespace

const char* ScanLine(std::string_view line, LineFields* out) {
  *out = LineFields();
  return Scanner(line).Top(out);
}

}  // namespace hopgate::audit
