// One place where a direct-tcpip destination is decided, for the client's
// own channels and for channels inside recorded sessions alike: parse the
// host, resolve the one name the decision needs (once, with a timeout), and
// decide on the name and every address it resolved to. The Decision then
// names exactly the addresses to dial. Thread-safe (the resolver is).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "policy/decide.h"
#include "proxy/net/resolver.h"

namespace hopgate::proxy {

struct DecidedOpen {
  policy::Decision decision;
  std::string looked_up;             // the name resolved for it ("" when none)
  std::vector<IpAddress> addresses;  // what it resolved to
  std::string resolve_error;         // why it did not resolve ("name not found", ...)
  // The decision allows, but a name the gateway dials did not resolve.
  bool Unreachable() const { return decision.allow && decision.unresolved; }
  std::vector<std::string> AddressTexts() const;
};

DecidedOpen DecideOpen(Resolver& resolver, int64_t timeout_ms, const policy::Policy& policy,
                       std::shared_ptr<const policy::AddressMap> names,
                       const policy::Identity& identity, const std::string& host, uint16_t port);

}  // namespace hopgate::proxy
