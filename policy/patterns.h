// Destination patterns of the policy: permit_open (host:port for
// direct-tcpip) and permit_listen ([address:]port for tcpip-forward).
// Matching is pure text and CIDR arithmetic: names are never resolved, so DNS
// cannot change a decision. Value types; thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/net.h"
#include "common/result.h"

namespace hopgate::policy {

// "db1.internal:22", "10.0.3.*:22", "10.0.0.0/24:5432", "[2001:db8::/32]:22",
// "db1:*", "*:*".
struct OpenPattern {
  std::string text;               // as written, for messages
  std::string host;               // glob (lower-cased) unless `cidr` is set
  std::optional<Cidr> cidr;
  std::optional<uint16_t> port;   // nullopt = any port

  static Result<OpenPattern> Parse(std::string_view text);
  // `names` are the names the destination is known by (the requested host
  // and, for a hosts: entry, its name, aliases and address).
  bool Matches(const std::vector<std::string>& names, uint16_t port) const;
  bool IsAnyHost() const { return !cidr && host == "*"; }
  bool IsAnything() const { return IsAnyHost() && !port; }
  // True if every destination this pattern matches, `wider` matches too
  // (conservative: false when unsure).
  bool CoveredBy(const OpenPattern& wider) const;
};

// "8080" (loopback), "127.0.0.1:8080", "[::1]:8080", "0.0.0.0:8080", "*" or
// "localhost:*" for any port.
struct ListenPattern {
  std::string text;
  std::optional<std::string> address;  // nullopt = loopback only
  std::optional<uint16_t> port;        // nullopt = any port (including 0)

  static Result<ListenPattern> Parse(std::string_view text);
  // `address` as the client sent it in tcpip-forward ("", "localhost",
  // "127.0.0.1", ...). On a match, `*bind_address` is where to listen.
  bool Matches(std::string_view address, uint16_t port, std::string* bind_address) const;
  bool CoveredBy(const ListenPattern& wider) const;
};

// True for the addresses a -R request means by "loopback only".
bool IsLoopbackListenAddress(std::string_view address);

}  // namespace hopgate::policy
