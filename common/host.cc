#include "common/host.h"

#include <cstdint>

#include "common/strings.h"

namespace hopgate {
namespace {

constexpr size_t kMaxName = 253;
constexpr size_t kMaxLabel = 63;

bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsHex(char c) {
  return IsDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

// One inet_aton part: "0x1f" (hex), "017" (octal), "17" (decimal). Values
// above 32 bits are rejected, as inet_aton rejects them.
std::optional<uint64_t> ParsePart(std::string_view p) {
  if (p.empty()) return std::nullopt;
  int base = 10;
  if (p.size() >= 2 && p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
    base = 16;
    p.remove_prefix(2);
    if (p.empty()) return std::nullopt;  // "0x" alone: glibc reads 0; refuse the oddity
  } else if (p.size() >= 2 && p[0] == '0') {
    base = 8;
    p.remove_prefix(1);
  }
  uint64_t v = 0;
  for (char c : p) {
    int d;
    if (IsDigit(c)) {
      d = c - '0';
    } else if (base == 16 && IsHex(c)) {
      d = (c | 0x20) - 'a' + 10;
    } else {
      return std::nullopt;
    }
    if (d >= base) return std::nullopt;
    v = v * static_cast<uint64_t>(base) + static_cast<uint64_t>(d);
    if (v > 0xffffffffULL) return std::nullopt;
  }
  return v;
}

bool LabelLooksNumeric(std::string_view l) {
  if (l.empty()) return false;
  if (l.size() >= 2 && l[0] == '0' && (l[1] == 'x' || l[1] == 'X')) {
    for (char c : l.substr(2)) {
      if (!IsHex(c)) return false;
    }
    return true;
  }
  for (char c : l) {
    if (!IsDigit(c)) return false;
  }
  return true;
}

std::string CharText(unsigned char c) {
  if (c >= 0x21 && c < 0x7f) return std::string("'") + static_cast<char>(c) + "'";
  static constexpr char kHex[] = "0123456789abcdef";
  return std::string("\\x") + kHex[c >> 4] + kHex[c & 15];
}

Result<CanonicalHost> ParseName(std::string_view text) {
  std::string name = ToLower(text);
  if (!name.empty() && name.back() == '.') name.pop_back();
  if (name.empty()) return Error{"empty host name"};
  if (name.size() > kMaxName) {
    return Error{"host name longer than " + std::to_string(kMaxName) + " characters"};
  }
  size_t start = 0;
  while (true) {
    size_t dot = name.find('.', start);
    std::string_view label =
        std::string_view(name).substr(start, dot == std::string::npos ? std::string::npos
                                                                      : dot - start);
    if (label.empty()) return Error{"empty label in host name"};
    if (label.size() > kMaxLabel) {
      return Error{"label longer than " + std::to_string(kMaxLabel) + " characters"};
    }
    for (char c : label) {
      bool ok = (c >= 'a' && c <= 'z') || IsDigit(c) || c == '-' || c == '_';
      if (!ok) return Error{"invalid character " + CharText(static_cast<unsigned char>(c))};
    }
    if (label.front() == '-' || label.back() == '-') {
      return Error{"a label may not begin or end with '-'"};
    }
    if (dot == std::string::npos) {
      // A numeric last label makes the text an address attempt, never a
      // name (no top-level domain is numeric): "10.0.3.9.1" is refused.
      if (LabelLooksNumeric(label)) return Error{"neither an IPv4 address nor a host name"};
      break;
    }
    start = dot + 1;
  }
  CanonicalHost h;
  h.kind = CanonicalHost::Kind::kName;
  h.name = std::move(name);
  return h;
}

Result<CanonicalHost> FromAddress(const IpAddress& a) {
  IpAddress u = a.Unmapped();
  bool unspecified = true;
  if (!u.v6) {
    unspecified = u.bytes[0] == 0;  // 0.0.0.0/8: "this network", dials the local host
  } else {
    for (int i = 0; i < 16; ++i) unspecified &= u.bytes[i] == 0;
  }
  if (unspecified) return Error{"the unspecified address " + u.ToString() + " is not a destination"};
  CanonicalHost h;
  h.kind = CanonicalHost::Kind::kAddress;
  h.address = u;
  return h;
}

}  // namespace

std::optional<IpAddress> ParseNumericIpv4(std::string_view text) {
  if (text.empty() || text.size() > 64) return std::nullopt;
  uint64_t parts[4];
  size_t n = 0, start = 0;
  while (true) {
    size_t dot = text.find('.', start);
    std::string_view p = text.substr(start, dot == std::string_view::npos ? std::string_view::npos
                                                                          : dot - start);
    if (n == 4) return std::nullopt;
    auto v = ParsePart(p);
    if (!v) return std::nullopt;
    parts[n++] = *v;
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  // The last part fills the bytes the earlier ones leave.
  uint32_t value = 0;
  for (size_t i = 0; i + 1 < n; ++i) {
    if (parts[i] > 0xff) return std::nullopt;
    value |= static_cast<uint32_t>(parts[i]) << (24 - 8 * i);
  }
  uint64_t last_max = 0xffffffffULL >> (8 * (n - 1));
  if (parts[n - 1] > last_max) return std::nullopt;
  value |= static_cast<uint32_t>(parts[n - 1]);
  IpAddress a;
  a.v6 = false;
  a.bytes[0] = static_cast<uint8_t>(value >> 24);
  a.bytes[1] = static_cast<uint8_t>(value >> 16);
  a.bytes[2] = static_cast<uint8_t>(value >> 8);
  a.bytes[3] = static_cast<uint8_t>(value);
  return a;
}

bool LooksNumeric(std::string_view text) {
  if (text.empty()) return false;
  size_t start = 0;
  while (true) {
    size_t dot = text.find('.', start);
    std::string_view l = text.substr(start, dot == std::string_view::npos ? std::string_view::npos
                                                                          : dot - start);
    if (!LabelLooksNumeric(l)) return false;
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}

Result<CanonicalHost> CanonicalHost::Parse(std::string_view text) {
  for (char c : text) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x21 || u >= 0x7f) return Error{"invalid character " + CharText(u)};
  }
  if (text.empty()) return Error{"empty host"};
  if (text.size() > 2 * kMaxName) return Error{"host longer than " + std::to_string(kMaxName) + " characters"};
  std::string_view t = text;
  bool bracketed = t.front() == '[';
  if (bracketed) {
    if (t.size() < 3 || t.back() != ']') return Error{"unbalanced '[' in host"};
    t = t.substr(1, t.size() - 2);
  }
  if (t.find('%') != std::string_view::npos) return Error{"IPv6 zone ids are not accepted"};
  if (t.find(':') != std::string_view::npos) {
    auto a = IpAddress::Parse(t);
    if (!a || !a->v6) return Error{"invalid IPv6 address"};
    return FromAddress(*a);
  }
  if (bracketed) return Error{"brackets are only for IPv6 addresses"};
  if (LooksNumeric(t)) {
    auto a = ParseNumericIpv4(t);
    if (!a) return Error{"invalid IPv4 address"};
    return FromAddress(*a);
  }
  return ParseName(t);
}

std::string CanonicalHost::ToString() const {
  return kind == Kind::kAddress ? address.ToString() : name;
}

}  // namespace hopgate
