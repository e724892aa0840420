// Small string helpers shared by the parsers. Pure; thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace hopgate {

// Shell-style glob as OpenSSH's match_pattern: '*' any run, '?' one char.
bool GlobMatch(std::string_view pattern, std::string_view text);
// Case-insensitive variant (host names).
bool GlobMatchNoCase(std::string_view pattern, std::string_view text);
std::vector<std::string> Split(std::string_view text, char sep);
std::string_view Trim(std::string_view text);
std::string ToLower(std::string_view text);
// Quotes and escapes a string for messages: "a\"b".
std::string Quote(std::string_view text);
// Escapes what could forge or garble a log line: control characters (C0,
// DEL and the C1 range) and bytes that are not valid UTF-8, each as \xNN.
// Everything else, including valid UTF-8, is kept.
std::string EscapeControl(std::string_view text);
// A byte count for people: "999 B", "18.7 kB", "16.8 MB" (powers of 1000).
std::string HumanBytes(double bytes);

}  // namespace hopgate
