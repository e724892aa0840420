// Fuzz target: addresses, CIDR blocks, host:port text and canonical hosts
// (common/net.h, common/host.h). Each line of the input is one string. What
// parses must print and parse back to the same value, and a canonical host
// must agree with glibc: a name is never something inet_aton(3) or
// inet_pton(3) would read as an address (the resolver would dial that
// address, not the name the policy decided on), and a numeric IPv4 form
// means the address inet_aton reads from it.
#include <arpa/inet.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

#include "common/host.h"
#include "common/net.h"

namespace {

using namespace hopgate;

void Check(bool ok) {
  if (!ok) abort();
}

void FuzzAddress(std::string_view s) {
  auto ip = IpAddress::Parse(s);
  if (ip) {
    auto again = IpAddress::Parse(ip->ToString());
    Check(again && *again == *ip);
    Check(ip->Unmapped().Unmapped() == ip->Unmapped());
    (void)ip->IsLoopback();
  }
  auto cidr = Cidr::Parse(s);
  if (cidr) {
    Check(cidr->prefix >= 0 && cidr->prefix <= (cidr->base.v6 ? 128 : 32));
    auto again = Cidr::Parse(cidr->ToString());
    Check(again && again->base == cidr->base && again->prefix == cidr->prefix);
    // A block contains its own base and, written as a bare address, that
    // address in every spelling (IPv4-mapped or not).
    Check(cidr->Contains(cidr->base));
    if (ip) Check(cidr->Contains(*ip) && cidr->Contains(ip->Unmapped()));
  }
}

void FuzzHostPort(std::string_view s) {
  for (bool zero : {false, true}) {
    auto hp = HostPort::Parse(s, zero);
    if (!hp) continue;
    Check(!hp->host.empty());
    Check(zero || hp->port != 0);
    auto again = HostPort::Parse(hp->ToString(), zero);
    Check(again && again->host == hp->host && again->port == hp->port);
  }
  auto port = ParsePort(s, true);
  if (port) Check(std::to_string(*port).size() <= s.size());
}

// What glibc's inet_aton makes of `s`, if anything.
bool InetAton(std::string_view s, IpAddress* out) {
  std::string z(s);
  in_addr a;
  if (inet_aton(z.c_str(), &a) == 0) return false;
  out->v6 = false;
  out->bytes = {};
  memcpy(out->bytes.data(), &a, 4);
  return true;
}

void FuzzCanonicalHost(std::string_view s) {
  auto numeric = ParseNumericIpv4(s);
  IpAddress libc;
  if (numeric) {
    // Never a different address than the C library would connect to.
    Check(InetAton(s, &libc) && libc == *numeric);
    Check(LooksNumeric(s));
  }
  auto h = CanonicalHost::Parse(s);
  if (!h) return;
  auto again = CanonicalHost::Parse(h->ToString());
  Check(again && *again == *h);  // canonical is a fixed point
  if (h->is_name()) {
    Check(!h->name.empty() && h->name.size() <= 253);
    IpAddress a;
    Check(!InetAton(h->name, &a));
    in6_addr v6;
    Check(inet_pton(AF_INET6, h->name.c_str(), &v6) != 1);
    Check(!IpAddress::Parse(h->name));
  } else {
    Check(h->address.Unmapped() == h->address);
    if (LooksNumeric(s)) Check(InetAton(s, &libc) && libc == h->address);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 64 * 1024) return 0;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  while (true) {
    size_t nl = in.find('\n');
    std::string_view line = in.substr(0, nl);
    FuzzAddress(line);
    FuzzHostPort(line);
    FuzzCanonicalHost(line);
    if (nl == std::string_view::npos) break;
    in.remove_prefix(nl + 1);
  }
  return 0;
}
