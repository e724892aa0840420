// Fuzz target: the policy's destination patterns (permit_open and
// destinations), listen patterns (permit_listen) and from= address lists
// (policy/patterns.h, policy/restrictions.h). Each line of the input is one
// pattern. Checks that a pattern's host text parses back to the same
// pattern, and that CoveredBy (used by lint and by narrowing) never claims
// cover that matching contradicts, on probes taken from the patterns
// themselves and a fixed set.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "common/net.h"
#include "policy/restrictions.h"

namespace {

using namespace hopgate;
using namespace hopgate::policy;

constexpr size_t kMaxPairs = 16;  // patterns compared pairwise

void Check(bool ok) {
  if (!ok) abort();
}

// "db1.internal" from "db?.*.internal": a name the glob matches.
std::string Instantiate(const std::string& glob, std::string_view star, char one) {
  std::string out;
  for (char c : glob) {
    if (c == '*') {
      out += star;
    } else {
      out.push_back(c == '?' ? one : c);
    }
  }
  return out;
}

struct Probes {
  std::vector<std::string> names = {"db1", "db1.internal", "localhost", "a.b.c", "x"};
  std::vector<IpAddress> addresses;
  std::vector<uint16_t> ports = {1, 22, 5432, 8080, 65535};

  Probes() {
    for (const char* a : {"10.0.3.7", "127.0.0.1", "192.168.1.1", "0.0.0.1", "255.255.255.255",
                          "::1", "2001:db8::1", "::ffff:10.0.3.7", "fe80::1"}) {
      addresses.push_back(*IpAddress::Parse(a));
    }
  }

  void Add(const OpenPattern& p) {
    if (p.kind == OpenPattern::HostKind::kName || p.kind == OpenPattern::HostKind::kAddressGlob) {
      for (std::string s : {Instantiate(p.glob, "x", 'a'), Instantiate(p.glob, "1", '1'),
                            Instantiate(p.glob, "", '0'), Instantiate(p.glob, "a.b", 'z')}) {
        if (auto ip = IpAddress::Parse(s)) addresses.push_back(*ip);
        if (p.kind == OpenPattern::HostKind::kName) names.push_back(s);
      }
    }
    if (p.cidr) {
      addresses.push_back(p.cidr->base);
      IpAddress last = p.cidr->base;
      int max = last.v6 ? 128 : 32;
      for (int bit = p.cidr->prefix; bit < max; ++bit) last.bytes[bit / 8] |= 0x80 >> (bit % 8);
      addresses.push_back(last);
    }
    if (p.port) ports.push_back(*p.port);
  }
};

bool Matches(const OpenPattern& p, const Probes& probes, size_t i, bool name, uint16_t port) {
  if (!p.MatchesPort(port)) return false;
  return name ? p.MatchesName(probes.names[i]) : p.MatchesAddress(probes.addresses[i]);
}

// `narrow` covered by `wide` means: whatever narrow matches, wide matches.
void CheckCover(const OpenPattern& narrow, const OpenPattern& wide, const Probes& probes) {
  if (!narrow.CoveredBy(wide)) return;
  for (uint16_t port : probes.ports) {
    for (size_t i = 0; i < probes.names.size(); ++i) {
      if (Matches(narrow, probes, i, true, port)) Check(Matches(wide, probes, i, true, port));
    }
    for (size_t i = 0; i < probes.addresses.size(); ++i) {
      if (Matches(narrow, probes, i, false, port)) Check(Matches(wide, probes, i, false, port));
    }
  }
}

// The host text as it would be written back in a pattern.
std::string Rewrite(const OpenPattern& p) {
  std::string host = p.HostText();
  if (p.kind == OpenPattern::HostKind::kCidr && p.cidr->base.v6) {
    size_t slash = host.find('/');
    host = slash == std::string::npos ? "[" + host + "]"
                                      : "[" + host.substr(0, slash) + "]" + host.substr(slash);
  }
  return host + ":" + (p.port ? std::to_string(*p.port) : "*");
}

const char* kListenAddresses[] = {"", "localhost", "127.0.0.1", "::1", "0.0.0.0", "*", "::",
                                  "10.1.2.3", "2001:db8::1", "example.com"};

void CheckListenCover(const ListenPattern& narrow, const ListenPattern& wide,
                      const std::vector<uint16_t>& ports) {
  if (!narrow.CoveredBy(wide)) return;
  for (uint16_t port : ports) {
    for (const char* a : kListenAddresses) {
      std::string bind;
      if (narrow.Matches(a, port, &bind)) Check(wide.Matches(a, port, nullptr));
    }
    if (narrow.address && narrow.Matches(*narrow.address, port, nullptr)) {
      Check(wide.Matches(*narrow.address, port, nullptr));
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 64 * 1024) return 0;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  std::vector<OpenPattern> opens;
  std::vector<ListenPattern> listens;
  Probes probes;
  while (true) {
    size_t nl = in.find('\n');
    std::string_view line = in.substr(0, nl);
    if (auto p = OpenPattern::Parse(line)) {
      Check(p->text == line);
      Check(p->CoveredBy(*p));
      Check(p->CoveredBy(*OpenPattern::Parse("*:*")));
      auto again = OpenPattern::Parse(Rewrite(*p));
      Check(again && again->kind == p->kind && again->glob == p->glob && again->port == p->port);
      if (p->cidr) {
        Check(again->cidr->base == p->cidr->base && again->cidr->prefix == p->cidr->prefix);
      }
      // An address or block matches its own address (however it was written).
      if (p->cidr) Check(p->MatchesAddress(p->cidr->base));
      if (opens.size() < kMaxPairs) {
        probes.Add(*p);
        opens.push_back(std::move(*p));
      }
    }
    if (auto l = ListenPattern::Parse(line)) {
      Check(l->CoveredBy(*l));
      if (listens.size() < kMaxPairs) {
        if (l->port) probes.ports.push_back(*l->port);
        listens.push_back(std::move(*l));
      }
    }
    if (auto m = AddressMatcher::Parse(line)) {
      for (const auto& a : probes.addresses) (void)m->Matches(a);
    }
    if (nl == std::string_view::npos) break;
    in.remove_prefix(nl + 1);
  }
  for (const auto& a : opens) {
    for (const auto& b : opens) CheckCover(a, b, probes);
  }
  for (const auto& a : listens) {
    for (const auto& b : listens) CheckListenCover(a, b, probes.ports);
  }
  return 0;
}
