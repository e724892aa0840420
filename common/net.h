// IP addresses, CIDR blocks and host:port text, without touching the network.
// Used by certificate source-address checks, policy `from` and permit_open
// rules, and config `listen` entries. Pure value types; thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.h"

namespace hopgate {

struct IpAddress {
  bool v6 = false;
  std::array<uint8_t, 16> bytes{};  // v4 uses the first 4 bytes

  // Accepts dotted IPv4 and RFC 4291 IPv6 text (no brackets, no zone).
  static std::optional<IpAddress> Parse(std::string_view text);
  std::string ToString() const;
  // An IPv4-mapped IPv6 address (::ffff:a.b.c.d) as plain IPv4, else itself.
  IpAddress Unmapped() const;
  bool IsLoopback() const;
  bool operator==(const IpAddress&) const = default;
  // Fills `*out` (a struct sockaddr_storage) with this address and `port`;
  // returns the length to pass to bind(2) or connect(2).
  unsigned FillSockaddr(uint16_t port, void* out) const;
};

struct Cidr {
  IpAddress base;
  int prefix = 0;

  // "10.0.0.0/8", "2001:db8::/32", or a bare address (a /32 or /128).
  // Host bits below the prefix must be zero, as OpenSSH's addr_match_cidr_list
  // demands.
  static Result<Cidr> Parse(std::string_view text);
  bool Contains(const IpAddress& addr) const;
  std::string ToString() const;
};

struct HostPort {
  std::string host;  // a name, IPv4 text, or IPv6 text without brackets
  uint16_t port = 0;

  // "host:port", "1.2.3.4:22", "[::1]:22".
  // `allow_zero_port`: port 0 ("any free port"), for addresses to listen on.
  static Result<HostPort> Parse(std::string_view text, bool allow_zero_port = false);
  // Brackets IPv6 addresses: "[::1]:22".
  std::string ToString() const;
};

// Formats host and port as HostPort::ToString does.
std::string JoinHostPort(std::string_view host, uint16_t port);
// Parses a decimal port 1..65535 (0 allowed when `allow_zero`).
std::optional<uint16_t> ParsePort(std::string_view text, bool allow_zero = false);

}  // namespace hopgate
