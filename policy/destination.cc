#include "policy/destination.h"

#include <algorithm>

#include "common/strings.h"

namespace hopgate::policy {
namespace {

void AddName(std::vector<Endpoint::Name>* names, std::string name, const Host* entry) {
  for (const auto& n : *names) {
    if (n.name == name && n.entry == entry) return;
  }
  names->push_back({std::move(name), entry});
}

void AddEntry(std::vector<const Host*>* entries, const Host* h) {
  if (std::find(entries->begin(), entries->end(), h) == entries->end()) entries->push_back(h);
}

void AddEntryNames(std::vector<Endpoint::Name>* names, const Host& h) {
  AddName(names, ToLower(h.name), &h);
  for (const auto& a : h.aliases) AddName(names, ToLower(a), &h);
  if (!h.ip) AddName(names, h.address.host, &h);
}

// Whether the entry `h` sits at `address`: its literal address, or (for an
// entry the gateway dials itself) one its name resolved to.
bool EntryAt(const Host& h, const IpAddress& address, const Request& req) {
  if (h.ip) return h.ip->Unmapped() == address;
  if (!h.route.empty()) return false;  // its name is resolved by the last jump host
  const auto* addrs = req.Lookup(h.address.host);
  return addrs && std::find(addrs->begin(), addrs->end(), address) != addrs->end();
}

Endpoint MakeEndpoint(const Policy& p, const Request& req, const OpenDestination& d,
                      std::optional<IpAddress> address) {
  Endpoint e;
  e.address = address;
  if (d.host.is_name() && !d.named) AddName(&e.names, d.host.name, nullptr);
  if (d.named) {
    AddEntry(&e.entries, d.named);
    AddEntryNames(&e.names, *d.named);
  }
  if (address) {
    for (const auto& [name, h] : p.hosts) {
      if (EntryAt(h, *address, req)) {
        AddEntry(&e.entries, &h);
        AddEntryNames(&e.names, h);
      }
    }
    // The literal names the daemon resolved that include this address.
    if (req.names) {
      for (const auto& [name, addrs] : *req.names) {
        if (std::find(addrs.begin(), addrs.end(), *address) != addrs.end()) {
          AddName(&e.names, name, nullptr);
        }
      }
    }
  }
  return e;
}

}  // namespace

const std::vector<IpAddress>* Request::Lookup(std::string_view name) const {
  if (auto it = dns.find(name); it != dns.end()) return &it->second;
  if (names) {
    if (auto it = names->find(name); it != names->end()) return &it->second;
  }
  return nullptr;
}

Result<OpenPlan> PlanOpen(const Policy& policy, std::string_view host, uint16_t port) {
  auto canonical = CanonicalHost::Parse(host);
  if (!canonical) return Error{canonical.message()};
  OpenPlan plan;
  plan.host = *canonical;
  if (canonical->is_address()) return plan;
  if (const Host* h = policy.FindHost(canonical->name)) {
    if (!h->ip && h->route.empty()) plan.resolve = h->address.host;
    return plan;
  }
  plan.resolve = canonical->name;
  (void)port;
  return plan;
}

Result<OpenDestination> BuildDestination(const Policy& p, const Request& req) {
  auto canonical = CanonicalHost::Parse(req.host);
  if (!canonical) return Error{canonical.message()};
  OpenDestination d;
  d.host = *canonical;
  d.requested_port = req.port;
  d.named = canonical->is_name() ? p.FindHost(canonical->name) : nullptr;
  std::vector<std::optional<IpAddress>> addresses;
  if (d.named) {
    d.dial_host = d.named->address.host;
    // The entry's address carries its SSH port; port 22 (what `ssh -J`
    // asks for by default) means that port.
    d.port = req.port == 22 ? d.named->address.port : req.port;
    d.route = d.named->route;
    if (d.named->ip) {
      addresses.push_back(d.named->ip->Unmapped());
    } else if (!d.route.empty()) {
      addresses.push_back(std::nullopt);  // the last jump host resolves it
    } else if (const auto* a = req.Lookup(d.dial_host); a && !a->empty()) {
      addresses.assign(a->begin(), a->end());
    } else {
      d.unresolved = true;
      addresses.push_back(std::nullopt);
    }
  } else {
    d.dial_host = canonical->ToString();
    d.port = req.port;
    if (canonical->is_address()) {
      addresses.push_back(canonical->address);
    } else if (const auto* a = req.Lookup(canonical->name); a && !a->empty()) {
      addresses.assign(a->begin(), a->end());
    } else {
      d.unresolved = true;
      addresses.push_back(std::nullopt);
    }
  }
  std::vector<IpAddress> seen;
  for (auto& a : addresses) {
    if (a) {
      a = a->Unmapped();
      if (std::find(seen.begin(), seen.end(), *a) != seen.end()) continue;
      seen.push_back(*a);
    }
    d.endpoints.push_back(MakeEndpoint(p, req, d, a));
  }
  return d;
}

bool PatternMatches(const OpenPattern& pat, const OpenDestination& d, const Endpoint& e,
                    std::string* what) {
  // "host:22" names the SSH port of the entry the host part names.
  auto port_ok = [&](const Host* entry) {
    return pat.MatchesPort(d.port) || (pat.port == 22 && entry && entry->address.port == d.port);
  };
  if (pat.IsAnyHost()) {
    bool ok = port_ok(nullptr);
    for (const Host* h : e.entries) ok |= port_ok(h);
    if (!ok) return false;
    *what = e.address ? e.address->ToString() : d.dial_host;
    return true;
  }
  if (pat.IsAddressPattern()) {
    if (!e.address || !pat.MatchesPort(d.port) || !pat.MatchesAddress(*e.address)) return false;
    *what = "address " + e.address->ToString();
    return true;
  }
  for (const auto& n : e.names) {
    if (pat.MatchesName(n.name) && port_ok(n.entry)) {
      *what = "name " + n.name;
      return true;
    }
  }
  return false;
}

}  // namespace hopgate::policy
