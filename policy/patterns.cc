#include "policy/patterns.h"

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

bool IsPlainGlob(std::string_view host) {
  for (char c : host) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '-' || c == '_' || c == '*' || c == '?' || c == ':';
    if (!ok) return false;
  }
  return !host.empty();
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
      return Error{"expected [IPv6 or CIDR]:port, got \"" + std::string(text) + "\""};
    }
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
    auto cidr = Cidr::Parse(host);
    if (!cidr) return Error{cidr.message()};
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
    if (host.find('/') != std::string_view::npos) {
      auto cidr = Cidr::Parse(host);
      if (!cidr) return Error{cidr.message()};
      p.cidr = *cidr;
    } else if (auto ip = IpAddress::Parse(host)) {
      p.cidr = Cidr{*ip, ip->v6 ? 128 : 32};
    } else {
      if (!IsPlainGlob(host)) {
        return Error{"invalid host pattern \"" + std::string(host) + "\""};
      }
      p.host = ToLower(host);
    }
  }
  auto port_pattern = ParsePortPattern(port, text, /*allow_zero=*/false);
  if (!port_pattern) return Error{port_pattern.message()};
  p.port = *port_pattern;
  return p;
}

bool OpenPattern::Matches(const std::vector<std::string>& names, uint16_t req_port) const {
  if (port && *port != req_port) return false;
  for (const auto& name : names) {
    if (cidr) {
      if (auto ip = IpAddress::Parse(name); ip && cidr->Contains(*ip)) return true;
    } else if (GlobMatchNoCase(host, name)) {
      return true;
    }
  }
  return false;
}

bool OpenPattern::CoveredBy(const OpenPattern& wider) const {
  if (wider.port && (!port || *port != *wider.port)) return false;
  if (wider.IsAnyHost()) return true;
  if (wider.cidr && cidr) {
    return wider.cidr->prefix <= cidr->prefix && wider.cidr->Contains(cidr->base);
  }
  if (!wider.cidr && !cidr) {
    return wider.host == host || (host.find_first_of("*?") == std::string::npos &&
                                  GlobMatch(wider.host, host));
  }
  return false;
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
