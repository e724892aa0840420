#include "proxy/net/decide_open.h"

namespace hopgate::proxy {

std::vector<std::string> DecidedOpen::AddressTexts() const {
  std::vector<std::string> out;
  for (const auto& a : addresses) out.push_back(a.ToString());
  return out;
}

DecidedOpen DecideOpen(Resolver& resolver, int64_t timeout_ms, const policy::Policy& policy,
                       std::shared_ptr<const policy::AddressMap> names,
                       const policy::Identity& identity, const std::string& host, uint16_t port) {
  DecidedOpen out;
  policy::Request req = policy::Request::Open(host, port, {}, std::move(names));
  // A malformed host needs no lookup: Decide refuses it with the reason.
  if (auto plan = policy::PlanOpen(policy, host, port); plan && !plan->resolve.empty()) {
    out.looked_up = plan->resolve;
    ResolveError err;
    auto addrs = resolver.Resolve(plan->resolve, timeout_ms, &err);
    if (addrs) {
      out.addresses = *addrs;
      req.dns[plan->resolve] = std::move(*addrs);
    } else {
      out.resolve_error = err.message;
    }
  }
  out.decision = policy::Decide(policy, identity, req);
  return out;
}

}  // namespace hopgate::proxy
