#include "policy/patterns.h"

#include "common/host.h"
#include "common/strings.h"

namespace hopgate::policy {
namespace {

Result<std::optional<uint16_t>> ParsePortPattern(std::string_view text,
                                                 std::string_view whole, bool allow_zero) {
  if (text == "*") return std::optional<uint16_t>{};
  auto port = ParsePort(text, allow_zero);
  if (!port) {
    return Error{"invalid port \"" + std::string(text) + "\" in \"" + std::string(whole) +
                 "\" (a number 1-65535 or *)"};
  }
  return std::optional<uint16_t>{*port};
}

// An IPv4 glob: digits, dots and wildcards, at least one wildcard.
bool IsAddressGlob(std::string_view host) {
  bool wildcard = false;
  for (char c : host) {
    if (c == '*' || c == '?') {
      wildcard = true;
    } else if (!((c >= '0' && c <= '9') || c == '.')) {
      return false;
    }
  }
  return wildcard;
}

// A name glob: host-name characters and wildcards; no empty labels. The
// last label must not be a number (that would be an address attempt).
Result<std::string> NameGlob(std::string_view host) {
  std::string g = ToLower(host);
  if (!g.empty() && g.back() == '.') g.pop_back();
  if (g.empty()) return Error{"empty host"};
  for (char c : g) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-' ||
              c == '_' || c == '*' || c == '?';
    if (!ok) return Error{"invalid character in host pattern \"" + std::string(host) + "\""};
  }
  if (g.front() == '.' || g.back() == '.' || g.find("..") != std::string::npos) {
    return Error{"empty label in host pattern \"" + std::string(host) + "\""};
  }
  std::string_view last = std::string_view(g).substr(g.rfind('.') == std::string::npos ? 0 : g.rfind('.') + 1);
  if (LooksNumeric(last)) {
    return Error{"\"" + std::string(host) +
                 "\" is neither an address nor a host name (an address pattern is dotted "
                 "digits with * or ?, a.b.c.d, or a CIDR block; a name's last label is not a "
                 "number)"};
  }
  return g;
}

}  // namespace

Result<OpenPattern> OpenPattern::Parse(std::string_view text) {
  OpenPattern p;
  p.text = std::string(text);
  std::string_view host, port;
  if (text == "*") {
    return Error{"\"*\" is ambiguous: write \"*:*\" for any host and port"};
  }
  if (!text.empty() && text[0] == '[') {
    size_t close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      // "[2001:db8::]/32:22" puts the prefix outside the brackets.
      if (close != std::string_view::npos && close + 1 < text.size() && text[close + 1] == '/') {
        size_t colon = text.find(':', close);
        if (colon == std::string_view::npos) {
          return Error{"expected [IPv6]/prefix:port, got \"" + std::string(text) + "\""};
        }
        auto cidr = Cidr::Parse(std::string(text.substr(1, close - 1)) +
                                std::string(text.substr(close + 1, colon - close - 1)));
        if (!cidr) return Error{cidr.message()};
        p.kind = HostKind::kCidr;
        p.cidr = *cidr;
        port = text.substr(colon + 1);
        auto pp = ParsePortPattern(port, text, /*allow_zero=*/false);
        if (!pp) return Error{pp.message()};
        p.port = *pp;
        return p;
      }
      return Error{"expected [IPv6 or CIDR]:port, got \"" + std::string(text) + "\""};
    }
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
    if (host.find_first_of("*?") != std::string_view::npos) {
      return Error{"IPv6 patterns take a CIDR block, not wildcards: \"" + std::string(text) +
                   "\""};
    }
    auto cidr = Cidr::Parse(host);
    if (!cidr) return Error{cidr.message()};
    p.kind = HostKind::kCidr;
    p.cidr = *cidr;
  } else {
    size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) {
      return Error{"expected host:port, got \"" + std::string(text) + "\""};
    }
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) {
      return Error{"IPv6 addresses need brackets, e.g. [2001:db8::1]:22"};
    }
    if (host == "*") {
      p.kind = HostKind::kAny;
    } else if (host.find('/') != std::string_view::npos) {
      auto cidr = Cidr::Parse(host);
      if (!cidr) return Error{cidr.message()};
      p.kind = HostKind::kCidr;
      p.cidr = *cidr;
    } else if (auto ip = IpAddress::Parse(host)) {
      p.kind = HostKind::kCidr;
      IpAddress a = ip->Unmapped();
      p.cidr = Cidr{a, a.v6 ? 128 : 32};
    } else if (IsAddressGlob(host)) {
      p.kind = HostKind::kAddressGlob;
      p.glob = std::string(host);
    } else {
      auto g = NameGlob(host);
      if (!g) return Error{g.message()};
      p.kind = HostKind::kName;
      p.glob = *g;
    }
  }
  auto port_pattern = ParsePortPattern(port, text, /*allow_zero=*/false);
  if (!port_pattern) return Error{port_pattern.message()};
  p.port = *port_pattern;
  return p;
}

bool OpenPattern::MatchesName(std::string_view name) const {
  if (kind == HostKind::kAny) return true;
  return kind == HostKind::kName && GlobMatch(glob, name);
}

bool OpenPattern::MatchesAddress(const IpAddress& address) const {
  switch (kind) {
    case HostKind::kAny: return true;
    case HostKind::kName: return false;
    case HostKind::kCidr: return cidr->Contains(address);
    case HostKind::kAddressGlob: {
      IpAddress a = address.Unmapped();
      return !a.v6 && GlobMatch(glob, a.ToString());
    }
  }
  return false;
}

std::string OpenPattern::HostText() const {
  switch (kind) {
    case HostKind::kAny: return "*";
    case HostKind::kCidr:
      return cidr->prefix == (cidr->base.v6 ? 128 : 32) ? cidr->base.ToString() : cidr->ToString();
    default: return glob;
  }
}

bool OpenPattern::CoveredBy(const OpenPattern& wider) const {
  if (wider.port && (!port || *port != *wider.port)) return false;
  if (wider.IsAnyHost()) return true;
  if (kind != wider.kind) {
    // An address glob covers a CIDR block only when it covers every address
    // of it; say so only for single addresses.
    if (wider.kind == HostKind::kAddressGlob && kind == HostKind::kCidr &&
        cidr->prefix == (cidr->base.v6 ? 128 : 32)) {
      return wider.MatchesAddress(cidr->base);
    }
    return false;
  }
  switch (kind) {
    case HostKind::kCidr:
      return wider.cidr->prefix <= cidr->prefix && wider.cidr->Contains(cidr->base);
    case HostKind::kName:
    case HostKind::kAddressGlob:
      return wider.glob == glob ||
             (glob.find_first_of("*?") == std::string::npos && GlobMatch(wider.glob, glob));
    default: return false;
  }
}

bool IsLoopbackListenAddress(std::string_view address) {
  return address.empty() || address == "localhost" || address == "127.0.0.1" ||
         address == "::1";
}

Result<ListenPattern> ListenPattern::Parse(std::string_view text) {
  ListenPattern p;
  p.text = std::string(text);
  std::string_view port = text;
  if (!text.empty() && text[0] == '[') {
    size_t close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return Error{"expected [IPv6]:port, got \"" + std::string(text) + "\""};
    }
    p.address = std::string(text.substr(1, close - 1));
    port = text.substr(close + 2);
    if (!IpAddress::Parse(*p.address)) {
      return Error{"invalid IPv6 address \"" + *p.address + "\""};
    }
  } else if (size_t colon = text.rfind(':'); colon != std::string_view::npos) {
    std::string_view addr = text.substr(0, colon);
    if (addr.find(':') != std::string_view::npos) {
      return Error{"IPv6 addresses need brackets, e.g. [::1]:8080"};
    }
    if (addr.empty()) return Error{"missing address before ':' in \"" + std::string(text) + "\""};
    if (addr != "localhost" && addr != "*" && !IpAddress::Parse(addr)) {
      return Error{"listen address must be an IP address, localhost or *, got \"" +
                   std::string(addr) + "\""};
    }
    p.address = std::string(addr);
    port = text.substr(colon + 1);
  }
  auto port_pattern = ParsePortPattern(port, text, /*allow_zero=*/false);
  if (!port_pattern) return Error{port_pattern.message()};
  p.port = *port_pattern;
  return p;
}

bool ListenPattern::Matches(std::string_view req_address, uint16_t req_port,
                            std::string* bind_address) const {
  // Port 0 asks the gateway to choose; only a wildcard port permits it.
  if (port && *port != req_port) return false;
  if (!address || *address == "localhost") {
    // Loopback only, whatever the client asked for.
    if (!IsLoopbackListenAddress(req_address)) {
      // A client asking for all interfaces ("0.0.0.0", "*") is narrowed to
      // loopback rather than refused, as sshd does without GatewayPorts.
      if (req_address != "0.0.0.0" && req_address != "*" && req_address != "::") return false;
    }
    if (bind_address) *bind_address = req_address == "::1" ? "::1" : "127.0.0.1";
    return true;
  }
  if (*address == "*") {
    if (bind_address) {
      *bind_address = req_address.empty() || req_address == "*" ? "0.0.0.0"
                      : req_address == "localhost"               ? "127.0.0.1"
                                                                 : std::string(req_address);
    }
    return req_address.empty() || req_address == "*" || req_address == "localhost" ||
           IpAddress::Parse(req_address).has_value();
  }
  if (req_address != *address) return false;
  if (bind_address) *bind_address = *address;
  return true;
}

bool ListenPattern::CoveredBy(const ListenPattern& wider) const {
  if (wider.port && (!port || *port != *wider.port)) return false;
  if (wider.address && *wider.address == "*") return true;
  auto norm = [](const std::optional<std::string>& a) {
    return !a || *a == "localhost" ? std::string("localhost") : *a;
  };
  return norm(address) == norm(wider.address);
}

}  // namespace hopgate::policy
