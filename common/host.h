// The canonical form of a host a client asks for (direct-tcpip destination,
// hosts: addresses): an IP address or a DNS name, parsed once so that every
// spelling that reaches the same place is decided as that place. Numeric
// IPv4 forms are read as inet_aton(3) and getaddrinfo(3) read them (short
// forms, octal, hex: "127.1", "0x7f.0.0.1", "2130706433"), IPv4-mapped IPv6
// becomes plain IPv4, names are lower-cased with one trailing dot removed.
// Anything else is malformed. Pure value type; thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "common/net.h"
#include "common/result.h"

namespace hopgate {

struct CanonicalHost {
  enum class Kind { kAddress, kName };
  Kind kind = Kind::kName;
  IpAddress address;  // kAddress: normalised (IPv4-mapped IPv6 as IPv4)
  std::string name;   // kName: lower case, no trailing dot, valid label syntax

  // Errors say why the text is not a host ("invalid character '\n'", "the
  // unspecified address is not a destination", ...). Brackets around an IPv6
  // address are accepted; zone ids ("%eth0") are not.
  static Result<CanonicalHost> Parse(std::string_view text);

  bool is_address() const { return kind == Kind::kAddress; }
  bool is_name() const { return kind == Kind::kName; }
  // The address as text ("127.0.0.1", "2001:db8::1") or the name.
  std::string ToString() const;
  bool operator==(const CanonicalHost&) const = default;
};

// inet_aton(3)'s numeric IPv4 forms: one to four parts, each decimal, octal
// (leading 0) or hex (0x). nullopt when `text` is not such a number.
std::optional<IpAddress> ParseNumericIpv4(std::string_view text);

// True when every dot-separated label of `text` is a number in one of the
// forms inet_aton reads (so it is an address attempt, never a name).
bool LooksNumeric(std::string_view text);

}  // namespace hopgate
