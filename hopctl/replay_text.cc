#include "hopctl/replay_text.h"

#include <cstdio>

#include "common/strings.h"
#include "common/time_util.h"

namespace hopgate::hopctl {
namespace {

// The code point of the UTF-8 sequence at text[i] when it is one of the
// invisible formatting characters ForTerminal shows as \u{XXXX}; 0 if not.
// `text` is already EscapeControl's output: valid UTF-8.
char32_t InvisibleAt(std::string_view text, size_t i, size_t* length) {
  auto b = [&](size_t k) { return static_cast<unsigned char>(text[i + k]); };
  if (b(0) == 0xd8 && i + 1 < text.size() && b(1) == 0x9c) {
    *length = 2;
    return 0x061c;  // Arabic letter mark
  }
  if (i + 2 >= text.size()) return 0;
  *length = 3;
  char32_t cp = ((b(0) & 0x0fu) << 12) | ((b(1) & 0x3fu) << 6) | (b(2) & 0x3fu);
  if (b(0) != 0xe2 && b(0) != 0xef) return 0;
  if ((cp >= 0x200b && cp <= 0x200f) ||  // zero-width space ... right-to-left mark
      (cp >= 0x2028 && cp <= 0x202e) ||  // separators, bidi embeddings and overrides
      (cp >= 0x2060 && cp <= 0x2069) ||  // word joiner ... bidi isolates
      cp == 0xfeff) {                    // byte-order mark / zero-width no-break space
    return cp;
  }
  return 0;
}

}  // namespace

std::string ForTerminal(std::string_view text) {
  std::string escaped = EscapeControl(text), out;
  out.reserve(escaped.size());
  for (size_t i = 0; i < escaped.size();) {
    size_t length = 0;
    if (static_cast<unsigned char>(escaped[i]) >= 0x80) {
      if (char32_t cp = InvisibleAt(escaped, i, &length)) {
        char buf[16];
        snprintf(buf, sizeof buf, "\\u{%04X}", static_cast<unsigned>(cp));
        out += buf;
        i += length;
        continue;
      }
    }
    out.push_back(escaped[i++]);
  }
  return out;
}

std::string Fit(const std::string& s, size_t cols) {
  size_t chars = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    if ((static_cast<unsigned char>(s[i]) & 0xC0) == 0x80) continue;
    if (++chars > cols) return s.substr(0, i >= 3 ? i - 3 : 0) + "...";
  }
  return s;
}

std::string Describe(const ReplayChannel& c) {
  std::string what;
  if (!c.forced_command.empty()) {
    what = "exec (forced): " + c.forced_command + " (asked: " +
           (c.request == "shell" ? std::string("a shell") : c.command) + ")";
  } else if (c.IsSftp()) {
    what = "sftp: " + std::to_string(c.sftp_ops.size()) + " file operation" +
           (c.sftp_ops.size() == 1 ? "" : "s");
  } else if (c.request == "exec") {
    what = "exec: " + c.command;
  } else if (c.request == "subsystem") {
    what = "subsystem: " + c.command;
  } else {
    what = c.request.empty() ? std::string("channel") : c.request;
  }
  std::string s = c.Id() + ": " + what;
  if (!c.user.empty()) s += " | " + c.user + " as " + c.login + " on " + c.target;
  s += " | " + (c.start_ms > 0 ? FormatRfc3339(c.start_ms / 1000) : std::string("?"));
  if (c.exit_status) s += " | exit " + std::to_string(*c.exit_status);
  return ForTerminal(s);
}

std::string DescribeFile(const std::string& path, const audit::CastInfo& h) {
  auto get = [&](const char* k) {
    auto it = h.hopgate.find(k);
    return it == h.hopgate.end() ? std::string() : it->second;
  };
  std::string s = path + ": ";
  if (get("request") == "exec" || !h.command.empty()) {
    s += "exec: " + h.command;
  } else if (!get("request").empty()) {
    s += get("request");
  } else {
    s += h.title.empty() ? std::string("recording") : h.title;
  }
  if (!get("user").empty()) s += " | " + get("user") + " as " + get("login") + " on " + get("target");
  if (h.timestamp > 0) s += " | " + FormatRfc3339(h.timestamp);
  return ForTerminal(s);
}

}  // namespace hopgate::hopctl
