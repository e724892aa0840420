#include "common/net.h"

#include <netinet/in.h>
#include <sys/socket.h>

#include <arpa/inet.h>

#include <cstring>

namespace hopgate {

std::optional<IpAddress> IpAddress::Parse(std::string_view text) {
  if (text.empty() || text.size() > 64) return std::nullopt;
  std::string s(text);
  IpAddress a;
  if (s.find(':') == std::string::npos) {
    in_addr v4;
    if (inet_pton(AF_INET, s.c_str(), &v4) != 1) return std::nullopt;
    memcpy(a.bytes.data(), &v4, 4);
    a.v6 = false;
    return a;
  }
  in6_addr v6;
  if (inet_pton(AF_INET6, s.c_str(), &v6) != 1) return std::nullopt;
  memcpy(a.bytes.data(), &v6, 16);
  a.v6 = true;
  return a;
}

std::string IpAddress::ToString() const {
  char buf[INET6_ADDRSTRLEN];
  if (!v6) {
    inet_ntop(AF_INET, bytes.data(), buf, sizeof buf);
  } else {
    inet_ntop(AF_INET6, bytes.data(), buf, sizeof buf);
  }
  return buf;
}

IpAddress IpAddress::Unmapped() const {
  static constexpr uint8_t kPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (!v6 || memcmp(bytes.data(), kPrefix, 12) != 0) return *this;
  IpAddress a;
  a.v6 = false;
  memcpy(a.bytes.data(), bytes.data() + 12, 4);
  return a;
}

unsigned IpAddress::FillSockaddr(uint16_t port, void* out) const {
  auto* ss = static_cast<sockaddr_storage*>(out);
  *ss = sockaddr_storage{};
  if (v6) {
    auto* a = reinterpret_cast<sockaddr_in6*>(ss);
    a->sin6_family = AF_INET6;
    a->sin6_port = htons(port);
    memcpy(&a->sin6_addr, bytes.data(), 16);
    return sizeof *a;
  }
  auto* a = reinterpret_cast<sockaddr_in*>(ss);
  a->sin_family = AF_INET;
  a->sin_port = htons(port);
  memcpy(&a->sin_addr, bytes.data(), 4);
  return sizeof *a;
}

bool IpAddress::IsLoopback() const {
  IpAddress a = Unmapped();
  if (!a.v6) return a.bytes[0] == 127;
  for (int i = 0; i < 15; ++i) {
    if (a.bytes[i] != 0) return false;
  }
  return a.bytes[15] == 1;
}

Result<Cidr> Cidr::Parse(std::string_view text) {
  Cidr c;
  std::string_view addr = text;
  std::optional<int> prefix;
  if (size_t slash = text.find('/'); slash != std::string_view::npos) {
    addr = text.substr(0, slash);
    std::string_view p = text.substr(slash + 1);
    if (p.empty() || p.size() > 3) {
      return Error{"invalid CIDR prefix in \"" + std::string(text) + "\""};
    }
    int v = 0;
    for (char ch : p) {
      if (ch < '0' || ch > '9') {
        return Error{"invalid CIDR prefix in \"" + std::string(text) + "\""};
      }
      v = v * 10 + (ch - '0');
    }
    prefix = v;
  }
  auto ip = IpAddress::Parse(addr);
  if (!ip) {
    return Error{"invalid address \"" + std::string(addr) + "\" in \"" +
                 std::string(text) + "\""};
  }
  c.base = *ip;
  int max = ip->v6 ? 128 : 32;
  c.prefix = prefix.value_or(max);
  if (c.prefix > max) {
    return Error{"CIDR prefix /" + std::to_string(c.prefix) + " too long in \"" +
                 std::string(text) + "\""};
  }
  // Host bits must be zero.
  for (int bit = c.prefix; bit < max; ++bit) {
    if (c.base.bytes[bit / 8] & (0x80 >> (bit % 8))) {
      return Error{"\"" + std::string(text) +
                   "\" has host bits set below the prefix"};
    }
  }
  // An IPv4-mapped block ("::ffff:10.0.0.0/104") means those IPv4 addresses:
  // Contains() compares addresses unmapped, so a block kept in IPv6 form
  // would match nothing (a deny rule written so would never deny).
  if (c.base.v6 && c.prefix >= 96 && !c.base.Unmapped().v6) {
    c.base = c.base.Unmapped();
    c.prefix -= 96;
  }
  return c;
}

bool Cidr::Contains(const IpAddress& addr_in) const {
  IpAddress addr = addr_in.Unmapped();
  if (addr.v6 != base.v6) return false;
  int full = prefix / 8;
  if (memcmp(addr.bytes.data(), base.bytes.data(), full) != 0) return false;
  int rem = prefix % 8;
  if (rem == 0) return true;
  uint8_t mask = static_cast<uint8_t>(0xff << (8 - rem));
  return (addr.bytes[full] & mask) == (base.bytes[full] & mask);
}

std::string Cidr::ToString() const {
  return base.ToString() + "/" + std::to_string(prefix);
}

std::optional<uint16_t> ParsePort(std::string_view text, bool allow_zero) {
  if (text.empty() || text.size() > 5) return std::nullopt;
  uint32_t v = 0;
  for (char ch : text) {
    if (ch < '0' || ch > '9') return std::nullopt;
    v = v * 10 + (ch - '0');
  }
  if (v > 65535 || (v == 0 && !allow_zero)) return std::nullopt;
  return static_cast<uint16_t>(v);
}

Result<HostPort> HostPort::Parse(std::string_view text, bool allow_zero_port) {
  HostPort hp;
  std::string_view port_text;
  if (!text.empty() && text[0] == '[') {
    size_t close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() ||
        text[close + 1] != ':') {
      return Error{"expected [IPv6]:port, got \"" + std::string(text) + "\""};
    }
    hp.host = std::string(text.substr(1, close - 1));
    port_text = text.substr(close + 2);
    auto ip = IpAddress::Parse(hp.host);
    if (!ip || !ip->v6) {
      return Error{"invalid IPv6 address \"" + hp.host + "\""};
    }
  } else {
    size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) {
      return Error{"expected host:port, got \"" + std::string(text) + "\""};
    }
    hp.host = std::string(text.substr(0, colon));
    port_text = text.substr(colon + 1);
    if (hp.host.find(':') != std::string::npos) {
      return Error{"IPv6 addresses need brackets: [" + hp.host + "]:" +
                   std::string(port_text)};
    }
  }
  if (hp.host.empty()) {
    return Error{"missing host in \"" + std::string(text) + "\""};
  }
  auto port = ParsePort(port_text, allow_zero_port);
  if (!port) {
    return Error{"invalid port \"" + std::string(port_text) + "\" in \"" +
                 std::string(text) + "\""};
  }
  hp.port = *port;
  return hp;
}

std::string JoinHostPort(std::string_view host, uint16_t port) {
  if (host.find(':') != std::string_view::npos) {
    return "[" + std::string(host) + "]:" + std::to_string(port);
  }
  return std::string(host) + ":" + std::to_string(port);
}

std::string HostPort::ToString() const { return JoinHostPort(host, port); }

}  // namespace hopgate
