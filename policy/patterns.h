// Destination patterns of the policy: permit_open and destinations
// (host:port for direct-tcpip) and permit_listen ([address:]port for
// tcpip-forward). A pattern's host part means exactly one thing:
//   - "*" matches every destination;
//   - an address pattern ("10.0.3.7", "10.0.3.*", "10.0.3.0/24",
//     "[2001:db8::]/32") matches addresses only, never names;
//   - a name pattern ("db1", "*.internal", "db?.example.com") matches names
//     only: the canonical requested name, hosts: names and aliases, and the
//     literal names the daemon resolved to the destination's address.
// Matching never resolves anything itself. Value types; thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/net.h"
#include "common/result.h"

namespace hopgate::policy {

// "db1.internal:22", "10.0.3.*:22", "10.0.0.0/24:5432", "[2001:db8::]/32:22",
// "[2001:db8::1]:22", "db1:*", "*:*".
struct OpenPattern {
  enum class HostKind { kAny, kName, kAddressGlob, kCidr };
  std::string text;               // as written, for messages
  HostKind kind = HostKind::kAny;
  std::string glob;               // kName: lower-case name glob; kAddressGlob: IPv4 glob
  std::optional<Cidr> cidr;       // kCidr (a single address is a /32 or /128)
  std::optional<uint16_t> port;   // nullopt = any port

  static Result<OpenPattern> Parse(std::string_view text);
  bool IsAnyHost() const { return kind == HostKind::kAny; }
  bool IsAnything() const { return IsAnyHost() && !port; }
  bool IsNamePattern() const { return kind == HostKind::kName; }
  bool IsAddressPattern() const {
    return kind == HostKind::kAddressGlob || kind == HostKind::kCidr;
  }
  // A name pattern without wildcards: the daemon resolves it, so a request
  // by one of its addresses is known by this name too.
  bool IsLiteralName() const {
    return kind == HostKind::kName && glob.find_first_of("*?") == std::string::npos;
  }
  // Host part only. `name` must be canonical (common/host.h).
  bool MatchesName(std::string_view name) const;
  bool MatchesAddress(const IpAddress& address) const;
  bool MatchesPort(uint16_t p) const { return !port || *port == p; }
  // The host part as shown in descriptions ("10.0.3.0/24", "db1", "*").
  std::string HostText() const;
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
