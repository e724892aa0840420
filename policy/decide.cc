#include "policy/decide.h"

#include <algorithm>

#include "common/strings.h"
#include "policy/destination.h"

namespace hopgate::policy {
namespace {

bool Contains(const std::vector<std::string>& v, std::string_view s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

std::string JoinList(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ", ") + s;
  return out;
}

// Checks the rule's conditions. On a miss, `*why` says which one failed.
bool ConditionsHold(const Rule& r, const Identity& id, const std::vector<std::string>& groups,
                    std::string* why) {
  if (r.HasWho()) {
    bool listed = Contains(r.users, id.user);
    bool member = false;
    for (const auto& g : r.groups) member |= Contains(groups, g);
    if (!listed && !member) {
      std::string want;
      if (!r.users.empty()) want += "users [" + JoinList(r.users) + "]";
      if (!r.groups.empty()) want += std::string(want.empty() ? "" : " or ") + "groups [" + JoinList(r.groups) + "]";
      *why = "user " + id.user + " is not in " + want;
      return false;
    }
  }
  if (!r.principals.empty()) {
    if (!id.certificate) {
      *why = "needs a certificate with principal [" + JoinList(r.principals) + "]";
      return false;
    }
    bool any = false;
    for (const auto& p : id.principals) any |= Contains(r.principals, p);
    if (!any) {
      *why = "certificate principals [" + JoinList(id.principals) + "] not in [" +
             JoinList(r.principals) + "]";
      return false;
    }
  }
  if (!r.from.empty()) {
    if (!id.source) {
      *why = "source address unknown";
      return false;
    }
    bool any = false;
    for (const auto& c : r.from) any |= c.Contains(*id.source);
    if (!any) {
      std::vector<std::string> cidrs;
      for (const auto& c : r.from) cidrs.push_back(c.ToString());
      *why = "source " + id.source->Unmapped().ToString() + " not in from [" + JoinList(cidrs) + "]";
      return false;
    }
  }
  return true;
}

// The first pattern matching an endpoint of `d` in `mask` (all when null);
// `*what` says what matched. Marks every matched endpoint in `*hits`.
const OpenPattern* MatchOpen(const std::vector<OpenPattern>& patterns, const OpenDestination& d,
                             const std::vector<bool>* mask, std::vector<bool>* hits,
                             std::string* what) {
  const OpenPattern* first = nullptr;
  for (size_t i = 0; i < d.endpoints.size(); ++i) {
    if (mask && !(*mask)[i]) continue;
    for (const auto& pat : patterns) {
      std::string w;
      if (PatternMatches(pat, d, d.endpoints[i], &w)) {
        if (!first) {
          first = &pat;
          *what = w;
        }
        if (hits) (*hits)[i] = true;
        break;
      }
    }
  }
  return first;
}

const ListenPattern* MatchListen(const std::vector<ListenPattern>& patterns,
                                 const std::string& address, uint16_t port, std::string* bind) {
  for (const auto& pat : patterns) {
    if (pat.Matches(address, port, bind)) return &pat;
  }
  return nullptr;
}

// Narrows `rule`'s grants by every restriction. Returns a deny reason, or
// nullopt when the request survives.
std::optional<std::string> Narrow(const Rule& rule, const Identity& id, const Request& req,
                                  const OpenDestination* dest, std::vector<bool>* endpoints,
                                  Grants* g) {
  g->tcp_forwarding = rule.tcp_forwarding;
  for (const auto& p : rule.permit_open) g->permit_open.push_back(p.text);
  for (const auto& p : rule.permit_listen) g->permit_listen.push_back(p.text);
  g->pty = rule.pty;
  g->agent_forwarding = rule.agent_forwarding;
  g->x11_forwarding = rule.x11_forwarding;
  g->user_rc = true;
  g->max_session = rule.max_session;
  g->idle_timeout = rule.idle_timeout;
  g->record_input = rule.record_input;
  g->logins = rule.logins;
  if (rule.force_command) {
    g->force_command = rule.force_command;
    g->force_command_source = "rule " + rule.name;
  }
  std::optional<std::string> deny;
  for (const auto& r : id.restrictions) {
    if (!r.port_forwarding) {
      g->tcp_forwarding = TcpForwarding::kNo;
      if (!deny && req.kind != Request::Kind::kSession) {
        deny = r.source + " does not permit port forwarding";
      }
    }
    g->pty &= r.pty;
    g->agent_forwarding &= r.agent_forwarding;
    g->x11_forwarding &= r.x11_forwarding;
    g->user_rc &= r.user_rc;
    if (r.permit_open) {
      for (const auto& p : *r.permit_open) g->permit_open.push_back(p.text + " (" + r.source + ")");
      if (!deny && req.kind == Request::Kind::kOpen) {
        // Only the endpoints the credential also permits stay dialable.
        std::vector<bool> kept(endpoints->size(), false);
        std::string what;
        MatchOpen(*r.permit_open, *dest, endpoints, &kept, &what);
        *endpoints = kept;
        if (std::find(kept.begin(), kept.end(), true) == kept.end()) {
          deny = r.source + " permitopen does not include " + JoinHostPort(req.host, req.port);
        }
      }
    }
    if (r.permit_listen) {
      for (const auto& p : *r.permit_listen) g->permit_listen.push_back(p.text + " (" + r.source + ")");
      std::string ignored;
      if (!deny && req.kind == Request::Kind::kListen &&
          !MatchListen(*r.permit_listen, req.host, req.port, &ignored)) {
        deny = r.source + " permitlisten does not include " + JoinHostPort(req.host, req.port);
      }
    }
    if (r.force_command) {
      if (g->force_command && *g->force_command != *r.force_command) {
        g->force_command_conflict = "conflicting forced commands: " + g->force_command_source +
                                    " forces " + Quote(*g->force_command) + ", " + r.source +
                                    " forces " + Quote(*r.force_command);
      } else if (!g->force_command) {
        g->force_command = r.force_command;
        g->force_command_source = r.source;
      }
    }
  }
  if (!deny && req.kind == Request::Kind::kSession && g->force_command_conflict) {
    deny = *g->force_command_conflict;
  }
  return deny;
}

}  // namespace

std::string Request::ToString() const {
  switch (kind) {
    case Kind::kOpen: return "direct-tcpip to " + JoinHostPort(host, port);
    case Kind::kListen: return "tcpip-forward on " + JoinHostPort(host.empty() ? "*" : host, port);
    case Kind::kSession: return "session";
  }
  return "?";
}

std::string Decision::RuleDescription() const {
  if (rule.empty()) return "default deny";
  return rule + " (" + rule_location.ToString() + ")";
}

namespace {

// After an allow: which entry's settings apply, whether the session is
// terminated and recorded, and exactly which addresses to dial. A recorded
// endpoint wins over the others: recording is a property of the endpoint,
// whichever name or rule led to it.
void Finalize(const Rule& decider, const OpenDestination& dest, const std::vector<bool>& allowed,
              Decision* d) {
  const Host* entry = nullptr;
  size_t chosen = dest.endpoints.size();
  for (size_t i = 0; i < dest.endpoints.size() && !entry; ++i) {
    if (!allowed[i]) continue;
    for (const Host* h : dest.endpoints[i].entries) {
      if (h->record && h->address.port == dest.port) {
        entry = h;
        chosen = i;
        break;
      }
    }
  }
  // Otherwise the entry asked for by name, else the one whose SSH endpoint
  // this is, else any entry at the address (its route is how it is reached).
  if (!entry) entry = dest.named;
  for (int pass = 0; pass < 2 && !entry; ++pass) {
    for (size_t i = 0; i < dest.endpoints.size() && !entry; ++i) {
      if (!allowed[i]) continue;
      for (const Host* h : dest.endpoints[i].entries) {
        if (pass == 1 || h->address.port == dest.port) {
          entry = h;
          break;
        }
      }
    }
  }
  if (entry) {
    d->host_entry = entry->name;
    d->route = entry->route;
    // Found by address: its own address names it in known_hosts lookups and
    // is what the last jump host of its route dials.
    if (entry != dest.named) d->dial_host = entry->address.host;
  }
  // Dial only the allowed endpoints that share the chosen entry (all allowed
  // ones when there is none).
  for (size_t i = 0; i < dest.endpoints.size(); ++i) {
    const Endpoint& e = dest.endpoints[i];
    if (!allowed[i] || !e.address) continue;
    if (entry && std::find(e.entries.begin(), e.entries.end(), entry) == e.entries.end()) continue;
    d->dial_addresses.push_back(*e.address);
  }
  if (!d->route.empty()) d->dial_addresses.clear();  // the last jump host dials
  bool ssh_port = entry ? dest.port == entry->address.port : dest.port == 22;
  if (entry && entry->record && ssh_port) {
    d->terminate = true;
    d->terminate_reason = "host " + entry->name + " has record: true";
    if (chosen < dest.endpoints.size() && dest.named && entry != dest.named) {
      d->terminate_reason += " (" + dest.endpoints[chosen].address->ToString() + ":" +
                             std::to_string(dest.port) + " is its SSH endpoint)";
    }
  } else if (std::string why = decider.TerminationReason(); !why.empty() && ssh_port) {
    d->terminate = true;
    d->terminate_reason = "rule " + decider.name + " has " + why;
  }
}

// Appends one rule's outcome to the decision's trace.
void AddStep(Decision* d, const Rule& r, TraceStep::Outcome o, std::string detail) {
  d->trace.push_back({r.name, r.location, r.effect, o, std::move(detail)});
}

// The groups rules see for `id`: the policy's groups of the user, then the
// identity's extra groups not already among them.
std::vector<std::string> GroupsFor(const Policy& policy, const Identity& id) {
  std::vector<std::string> groups = policy.GroupsOf(id.user);
  for (const auto& g : id.extra_groups) {
    if (!Contains(groups, g)) groups.push_back(g);
  }
  return groups;
}

// Builds the destination of a direct-tcpip request into `*dest` and copies
// what is known of it into `*d`. Returns false (with `d->reason` set) when
// the destination is malformed.
bool SetDestination(const Policy& policy, const Request& req, std::optional<OpenDestination>* dest,
                    Decision* d) {
  auto built = BuildDestination(policy, req);
  if (!built) {
    d->reason = "malformed destination: " + built.message();
    return false;
  }
  *dest = std::move(*built);
  d->dial_host = (*dest)->dial_host;
  d->dial_port = (*dest)->port;
  d->route = (*dest)->route;
  d->unresolved = (*dest)->unresolved;
  if ((*dest)->named) d->host_entry = (*dest)->named->name;
  return true;
}

// Whether deny rule `r` matches the request: its conditions hold and, when it
// lists destinations, one matches the name or any address. Traces the outcome.
bool DenyRuleMatches(const Rule& r, const Identity& id, const std::vector<std::string>& groups,
                     const Request& req, const OpenDestination* dest, Decision* d) {
  std::string why;
  if (!ConditionsHold(r, id, groups, &why)) {
    AddStep(d, r, TraceStep::Outcome::kSkipped, why);
    return false;
  }
  if (r.destinations.empty()) {
    AddStep(d, r, TraceStep::Outcome::kMatched, "denies every request of this identity");
    return true;
  }
  if (req.kind != Request::Kind::kOpen) {
    AddStep(d, r, TraceStep::Outcome::kSkipped, "destinations apply to direct-tcpip only");
    return false;
  }
  std::string what;
  const OpenPattern* hit = MatchOpen(r.destinations, *dest, nullptr, nullptr, &what);
  if (!hit) {
    AddStep(d, r, TraceStep::Outcome::kSkipped,
            "destination " + JoinHostPort(req.host, req.port) + " not in destinations");
    return false;
  }
  AddStep(d, r, TraceStep::Outcome::kMatched, "denies " + hit->text + " (matched " + what + ")");
  return true;
}

// Deny rules first, wherever they stand in the file. Returns the first deny
// rule that matches (the later ones are traced as not evaluated), or null.
const Rule* FindDenyRule(const Policy& policy, const Identity& id,
                         const std::vector<std::string>& groups, const Request& req,
                         const OpenDestination* dest, Decision* d) {
  const Rule* denied_by = nullptr;
  for (const auto& r : policy.rules) {
    if (r.effect != Effect::kDeny) continue;
    if (denied_by) {
      AddStep(d, r, TraceStep::Outcome::kNotEvaluated, "a deny rule already matched");
      continue;
    }
    if (DenyRuleMatches(r, id, groups, req, dest, d)) denied_by = &r;
  }
  return denied_by;
}

// Whether allow rule `r`, whose conditions hold, grants the request: the
// forwarding kind is allowed and permit_open / permit_listen has an entry.
// Marks the endpoints it permits in `*allowed`; traces the outcome.
bool AllowRuleGrants(const Rule& r, const Request& req, const OpenDestination* dest,
                     std::vector<bool>* allowed, Decision* d) {
  switch (req.kind) {
    case Request::Kind::kOpen: {
      if (!AllowsLocal(r.tcp_forwarding)) {
        AddStep(d, r, TraceStep::Outcome::kSkipped,
                std::string("allow_tcp_forwarding is ") + TcpForwardingName(r.tcp_forwarding));
        return false;
      }
      std::string what;
      const OpenPattern* hit = MatchOpen(r.permit_open, *dest, nullptr, allowed, &what);
      if (!hit) {
        AddStep(d, r, TraceStep::Outcome::kSkipped,
                "permit_open has no entry for " + JoinHostPort(req.host, req.port));
        return false;
      }
      AddStep(d, r, TraceStep::Outcome::kMatched,
              "permit_open " + hit->text + " (matched " + what + ")");
      return true;
    }
    case Request::Kind::kListen: {
      if (!AllowsRemote(r.tcp_forwarding)) {
        AddStep(d, r, TraceStep::Outcome::kSkipped,
                std::string("allow_tcp_forwarding is ") + TcpForwardingName(r.tcp_forwarding));
        return false;
      }
      const ListenPattern* hit = MatchListen(r.permit_listen, req.host, req.port, &d->bind_address);
      if (!hit) {
        AddStep(d, r, TraceStep::Outcome::kSkipped,
                "permit_listen has no entry for " +
                    JoinHostPort(req.host.empty() ? "*" : req.host, req.port));
        return false;
      }
      AddStep(d, r, TraceStep::Outcome::kMatched, "permit_listen " + hit->text);
      return true;
    }
    case Request::Kind::kSession:
      AddStep(d, r, TraceStep::Outcome::kMatched, "conditions hold");
      return true;
  }
  return false;
}

// The first allow rule, in file order, whose conditions hold and which grants
// the request (later ones are traced as not evaluated), or null.
const Rule* FindAllowRule(const Policy& policy, const Identity& id,
                          const std::vector<std::string>& groups, const Request& req,
                          const OpenDestination* dest, std::vector<bool>* allowed, Decision* d) {
  const Rule* decider = nullptr;
  for (const auto& r : policy.rules) {
    if (r.effect != Effect::kAllow) continue;
    if (decider) {
      AddStep(d, r, TraceStep::Outcome::kNotEvaluated, "an earlier rule decided");
      continue;
    }
    std::string why;
    if (!ConditionsHold(r, id, groups, &why)) {
      AddStep(d, r, TraceStep::Outcome::kSkipped, why);
      continue;
    }
    if (AllowRuleGrants(r, req, dest, allowed, d)) decider = &r;
  }
  return decider;
}

}  // namespace

Decision Decide(const Policy& policy, const Identity& id, const Request& req) {
  Decision d;
  d.policy_version = policy.version;
  std::vector<std::string> groups = GroupsFor(policy, id);
  std::optional<OpenDestination> dest;
  if (req.kind == Request::Kind::kOpen && !SetDestination(policy, req, &dest, &d)) return d;
  const OpenDestination* dest_ptr = dest ? &*dest : nullptr;

  // A deny matching the name or any address of the destination denies.
  if (const Rule* denied_by = FindDenyRule(policy, id, groups, req, dest_ptr, &d)) {
    d.allow = false;
    d.rule = denied_by->name;
    d.rule_location = denied_by->location;
    d.reason = "denied by rule " + denied_by->name;
    for (const auto& r : policy.rules) {
      if (r.effect != Effect::kAllow) continue;
      AddStep(&d, r, TraceStep::Outcome::kNotEvaluated, "a deny rule matched");
    }
    return d;
  }

  std::vector<bool> allowed(dest ? dest->endpoints.size() : 0, false);
  const Rule* decider = FindAllowRule(policy, id, groups, req, dest_ptr, &allowed, &d);
  if (!decider) {
    d.allow = false;
    d.reason = "no rule permits " + req.ToString() + " for user " + id.user;
    return d;
  }
  d.rule = decider->name;
  d.rule_location = decider->location;
  std::optional<std::string> narrowed = Narrow(*decider, id, req, dest_ptr, &allowed, &d.grants);
  if (narrowed) {
    d.allow = false;
    d.reason = *narrowed;
    return d;
  }
  if (req.kind == Request::Kind::kOpen) {
    Finalize(*decider, *dest, allowed, &d);
    if (d.terminate && d.grants.force_command_conflict) {
      d.allow = false;
      d.reason = *d.grants.force_command_conflict;
      return d;
    }
  }
  d.allow = true;
  return d;
}

bool MayBeRecorded(const Policy& policy, const Host& host) {
  if (host.record) return true;
  auto dest = BuildDestination(policy, Request::Open(host.name, 22));
  if (!dest) return false;
  for (const auto& r : policy.rules) {
    if (r.effect != Effect::kAllow || !AllowsLocal(r.tcp_forwarding) ||
        r.TerminationReason().empty()) {
      continue;
    }
    std::string what;
    if (MatchOpen(r.permit_open, *dest, nullptr, nullptr, &what)) return true;
  }
  return false;
}

std::vector<std::string> DescribeAccess(const Policy& policy, const Identity& id) {
  std::vector<std::string> out;
  std::vector<std::string> groups = policy.GroupsOf(id.user);
  for (const auto& g : id.extra_groups) groups.push_back(g);
  bool port_forwarding = true;
  for (const auto& r : id.restrictions) port_forwarding &= r.port_forwarding;
  for (const auto& r : policy.rules) {
    std::string why;
    if (r.effect == Effect::kDeny && r.destinations.empty() && ConditionsHold(r, id, groups, &why)) {
      return {};  // denied everything
    }
  }
  if (!port_forwarding) return {};
  for (const auto& r : policy.rules) {
    std::string why;
    if (r.effect != Effect::kAllow || !ConditionsHold(r, id, groups, &why)) continue;
    if (AllowsLocal(r.tcp_forwarding)) {
      for (const auto& p : r.permit_open) {
        std::string host = p.HostText();
        std::string port = p.port ? std::to_string(*p.port) : "*";
        std::string desc = host + ":" + port;
        bool recorded = !r.TerminationReason().empty();
        if (p.IsNamePattern()) {
          if (const Host* h = policy.FindHost(p.glob)) {
            desc += "  (" + h->address.ToString() + ")";
            recorded |= h->record;
          }
        }
        if (recorded && (!p.port || *p.port == 22)) desc += "  recorded";
        out.push_back("open   " + desc + "   [rule " + r.name + "]");
      }
    }
    if (AllowsRemote(r.tcp_forwarding)) {
      for (const auto& p : r.permit_listen) {
        out.push_back("listen " + p.text + "   [rule " + r.name + "]");
      }
    }
  }
  return out;
}

}  // namespace hopgate::policy
