#include "audit/cast_event.h"

#include <cmath>
#include <cstdlib>

#include <nlohmann/json.hpp>

#include "audit/asciicast.h"
#include "audit/json_line.h"

namespace hopgate::audit {
namespace {

class Reader {
 public:
  explicit Reader(std::string_view s) : s_(s) {}

  void SkipSpace() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\r' || s_[i_] == '\n')) {
      ++i_;
    }
  }
  bool Take(char c) {
    SkipSpace();
    if (i_ >= s_.size() || s_[i_] != c) return false;
    ++i_;
    return true;
  }
  bool AtEnd() {
    SkipSpace();
    return i_ == s_.size();
  }

  // A JSON number, as strtod reads it, after checking JSON's grammar.
  bool Number(double* out) {
    SkipSpace();
    size_t start = i_;
    if (i_ < s_.size() && s_[i_] == '-') ++i_;
    if (!DigitRun()) return false;
    if (i_ < s_.size() && s_[i_] == '.') {
      ++i_;
      if (!DigitRun()) return false;
    }
    if (i_ < s_.size() && (s_[i_] == 'e' || s_[i_] == 'E')) {
      ++i_;
      if (i_ < s_.size() && (s_[i_] == '+' || s_[i_] == '-')) ++i_;
      if (!DigitRun()) return false;
    }
    if (i_ - start > 64) return false;
    std::string text(s_.substr(start, i_ - start));
    *out = std::strtod(text.c_str(), nullptr);
    return std::isfinite(*out);
  }

  // A JSON string, decoded to UTF-8 (invalid sequences become U+FFFD).
  bool String(std::string* out) {
    if (!Take('"')) return false;
    std::string raw;
    while (i_ < s_.size()) {
      unsigned char c = static_cast<unsigned char>(s_[i_++]);
      if (c == '"') {
        AppendValidUtf8(raw, out, nullptr);
        return true;
      }
      if (c < 0x20) return false;
      if (c != '\\') {
        raw.push_back(static_cast<char>(c));
        continue;
      }
      if (i_ >= s_.size()) return false;
      char e = s_[i_++];
      switch (e) {
        case '"': raw.push_back('"'); break;
        case '\\': raw.push_back('\\'); break;
        case '/': raw.push_back('/'); break;
        case 'b': raw.push_back('\b'); break;
        case 'f': raw.push_back('\f'); break;
        case 'n': raw.push_back('\n'); break;
        case 'r': raw.push_back('\r'); break;
        case 't': raw.push_back('\t'); break;
        case 'u':
          if (!Unicode(&raw)) return false;
          break;
        default: return false;
      }
    }
    return false;
  }

 private:
  bool DigitRun() {
    size_t start = i_;
    while (i_ < s_.size() && s_[i_] >= '0' && s_[i_] <= '9') ++i_;
    return i_ > start;
  }

  bool Hex4(uint32_t* v) {
    if (i_ + 4 > s_.size()) return false;
    *v = 0;
    for (int k = 0; k < 4; ++k) {
      char c = s_[i_++];
      int d = c >= '0' && c <= '9'   ? c - '0'
              : c >= 'a' && c <= 'f' ? c - 'a' + 10
              : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                     : -1;
      if (d < 0) return false;
      *v = *v * 16 + static_cast<uint32_t>(d);
    }
    return true;
  }

  // After `\u`: one code point, a surrogate pair joined; a lone surrogate
  // becomes U+FFFD.
  bool Unicode(std::string* raw) {
    uint32_t cp;
    if (!Hex4(&cp)) return false;
    if (cp >= 0xD800 && cp <= 0xDBFF && i_ + 6 <= s_.size() && s_[i_] == '\\' && s_[i_ + 1] == 'u') {
      size_t save = i_;
      i_ += 2;
      uint32_t lo;
      if (!Hex4(&lo)) return false;
      if (lo >= 0xDC00 && lo <= 0xDFFF) {
        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
      } else {
        i_ = save;
      }
    }
    if (cp >= 0xD800 && cp <= 0xDFFF) cp = 0xFFFD;
    AppendCodePoint(cp, raw);
    return true;
  }

  static void AppendCodePoint(uint32_t cp, std::string* out) {
    if (cp < 0x80) {
      out->push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
      out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
      out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
      out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
  }

  std::string_view s_;
  size_t i_ = 0;
};

Error Bad(const std::string& why) { return MakeError(Code::kInvalidArgument, why); }

}  // namespace

Result<CastEvent> ParseCastEvent(std::string_view line) {
  if (line.size() > kMaxCastLine) return Bad("line longer than 16 MiB");
  Reader r(line);
  CastEvent e;
  if (!r.Take('[')) return Bad("not an event: expected [time, code, data]");
  if (!r.Number(&e.time)) return Bad("event time is not a number");
  if (e.time < 0 || e.time > 1e10) return Bad("event time out of range");
  if (!r.Take(',') || !r.String(&e.code)) return Bad("event code is not a string");
  if (e.code.empty() || e.code.size() > 16) return Bad("event code is empty or too long");
  if (!r.Take(',') || !r.String(&e.data)) return Bad("event data is not a string");
  if (!r.Take(']') || !r.AtEnd()) return Bad("trailing data after the event");
  return e;
}

Result<CastHeaderInfo> ParseCastHeader(std::string_view line) {
  if (line.size() > kMaxCastLine) return Bad("header longer than 16 MiB");
  auto j = ParseJsonLine(line);
  if (!j) return j.error();
  if (!j->is_object() || !j->contains("version")) return Bad("not an asciicast header");
  const auto& v = (*j)["version"];
  if (!v.is_number_integer() || v.get<int64_t>() != 2) return Bad("not asciicast version 2");
  CastHeaderInfo h;
  if (auto it = j->find("timestamp"); it != j->end() && it->is_number()) {
    double t = it->get<double>();
    if (t > 0 && t < 1e11) h.timestamp = static_cast<int64_t>(t);
  }
  if (auto it = j->find("command"); it != j->end() && it->is_string()) h.command = *it;
  return h;
}

}  // namespace hopgate::audit
