#include "policy/mint_scope.h"

#include <algorithm>

#include "policy/credentials.h"
#include "policy/decide.h"
#include "policy/destination.h"

namespace hopgate::policy {
namespace {

bool Contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

// users:/groups: only; from: and principals: are the connection's business.
bool WhoMatches(const Rule& r, const std::string& user, const std::vector<std::string>& groups) {
  if (!r.HasWho()) return true;
  if (Contains(r.users, user)) return true;
  for (const auto& g : r.groups) {
    if (Contains(groups, g)) return true;
  }
  return false;
}

// A deny rule that refuses `user` everything, whatever the connection.
bool DeniesEverything(const Rule& r, const std::string& user,
                      const std::vector<std::string>& groups) {
  return r.effect == Effect::kDeny && r.from.empty() && r.principals.empty() &&
         r.destinations.empty() && r.HasWho() && WhoMatches(r, user, groups);
}

bool AnyPatternMatches(const std::vector<OpenPattern>& patterns, const OpenDestination& d) {
  for (const auto& p : patterns) {
    for (const auto& e : d.endpoints) {
      std::string what;
      if (PatternMatches(p, d, e, &what)) return true;
    }
  }
  return false;
}

Grants RuleGrants(const Rule& r) {
  Grants g;
  g.tcp_forwarding = r.tcp_forwarding;
  g.pty = r.pty;
  g.agent_forwarding = r.agent_forwarding;
  g.x11_forwarding = r.x11_forwarding;
  return g;
}

MintScope HopScope(const Policy& policy, const std::string& user,
                   const std::vector<std::string>& groups, const std::string& target) {
  MintScope s;
  const Host* hop = policy.FindHost(target);
  if (!hop) {
    s.why_empty = "no hosts: entry " + target;
    return s;
  }
  bool in_a_route = false;
  for (const auto& [name, h] : policy.hosts) in_a_route |= Contains(h.route, hop->name);
  if (!in_a_route) {
    s.why_empty = target + " is not a jump host of any route";
    return s;
  }
  if (!hop->identity_text.empty()) {
    s.why_empty = target + " has an identity: nothing is minted for it";
    return s;
  }
  for (const auto& r : policy.rules) {
    if (r.effect == Effect::kAllow && AllowsLocal(r.tcp_forwarding) && WhoMatches(r, user, groups)) {
      s.principals.insert(hop->login.empty() ? user : hop->login);
      s.extensions.insert("permit-port-forwarding");
      return s;
    }
  }
  s.why_empty = "no allow rule lets " + user + " forward anything";
  return s;
}

MintScope RecordedScope(const Policy& policy, const std::string& user,
                        const std::vector<std::string>& groups, const std::string& target,
                        uint16_t port) {
  MintScope s;
  auto dest = BuildDestination(policy, Request::Open(target, port));
  if (!dest) {
    s.why_empty = "target " + target + ": " + dest.message();
    return s;
  }
  for (const auto& r : policy.rules) {
    if (r.effect != Effect::kAllow || !AllowsLocal(r.tcp_forwarding)) continue;
    if (!WhoMatches(r, user, groups) || !AnyPatternMatches(r.permit_open, *dest)) continue;
    if (r.logins.empty()) {
      s.principals.insert(user);
    } else {
      s.principals.insert(r.logins.begin(), r.logins.end());
    }
    for (auto& e : ExtensionsForGrants(RuleGrants(r))) s.extensions.insert(e);
  }
  if (s.principals.empty()) s.why_empty = "no allow rule lets " + user + " reach " + target;
  return s;
}

}  // namespace

MintScope ScopeForMint(const Policy& policy, const std::string& user, MintTarget kind,
                       const std::string& target, uint16_t port) {
  std::vector<std::string> groups = policy.GroupsOf(user);
  for (const auto& r : policy.rules) {
    if (DeniesEverything(r, user, groups)) {
      MintScope s;
      s.why_empty = "rule " + r.name + " denies " + user + " everything";
      return s;
    }
  }
  if (kind == MintTarget::kHop) return HopScope(policy, user, groups, target);
  return RecordedScope(policy, user, groups, target, port);
}

}  // namespace hopgate::policy
