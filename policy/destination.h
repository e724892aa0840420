// Private to decide.cc: a kOpen destination as the decision sees it. The
// requested host is parsed once (common/host.h); what the gateway would dial
// is expanded into endpoints, one per address (or one without an address for
// a name a jump host dials, or a name that did not resolve). Each endpoint
// lists every name it is known by and every hosts: entry at that address and
// port, so a rule written against any of them sees it. Pure.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/host.h"
#include "policy/decide.h"
#include "policy/policy.h"

namespace hopgate::policy {

struct Endpoint {
  std::optional<IpAddress> address;  // nullopt: dialled by name elsewhere, or unresolved
  // A canonical name the endpoint is known by, and the hosts: entry the name
  // belongs to (nullptr for the requested name and resolved names).
  struct Name {
    std::string name;
    const Host* entry = nullptr;
  };
  std::vector<Name> names;
  // hosts: entries at this address (any port), the named one first. Names
  // cover every port of a host; settings (recording) need the exact port.
  std::vector<const Host*> entries;
};

struct OpenDestination {
  CanonicalHost host;           // as requested, canonical
  uint16_t requested_port = 0;
  const Host* named = nullptr;  // the entry the request names by name or alias
  std::string dial_host;        // canonical text: the entry's address host, or the request
  uint16_t port = 0;            // the port dialled
  std::vector<std::string> route;  // of the named entry
  bool unresolved = false;      // a name the gateway dials that did not resolve
  std::vector<Endpoint> endpoints;
};

// Builds the destination of `req` (kOpen). An error means it is malformed.
Result<OpenDestination> BuildDestination(const Policy& policy, const Request& req);

// Whether `pattern` matches the endpoint `e` of `d`; `*what` says by what
// ("10.0.0.5", "name db1"). Name patterns compare the port with the dialled
// port, or with 22 at an entry's SSH port; address patterns with the dialled
// port.
bool PatternMatches(const OpenPattern& pattern, const OpenDestination& d, const Endpoint& e,
                    std::string* what);

}  // namespace hopgate::policy
