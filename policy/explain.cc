#include "policy/explain.h"

#include "common/strings.h"
#include "common/time_util.h"

namespace hopgate::policy {
namespace {

std::string Join(const std::vector<std::string>& v, const char* empty) {
  if (v.empty()) return empty;
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ", ") + s;
  return out;
}

std::string YesNo(bool b) { return b ? "yes" : "no"; }

std::string OptDuration(const std::optional<int64_t>& d) {
  return d ? FormatDuration(*d) : "none";
}

const char* OutcomeWord(TraceStep::Outcome o) {
  switch (o) {
    case TraceStep::Outcome::kMatched: return "MATCH  ";
    case TraceStep::Outcome::kSkipped: return "skip   ";
    case TraceStep::Outcome::kNotEvaluated: return "not run";
  }
  return "?";
}

// The route and dial lines of an allowed direct-tcpip request, and whether
// the session is recorded.
std::string ExplainRoute(const Policy& policy, const Decision& d) {
  std::string out;
  out += "route:      ";
  for (const auto& hop : d.route) {
    const Host& h = policy.hosts.at(hop);
    out += "ssh " + h.login + "@" + hop + " (" + JoinHostPort(h.address.host, h.address.port) +
           ") -> ";
  }
  out += "dial " + JoinHostPort(d.dial_host, d.dial_port);
  if (!d.host_entry.empty()) out += " (hosts: " + d.host_entry + ")";
  if (!d.route.empty()) out += d.route.size() == 1 ? " from the jump host" : " from the last jump host";
  out += "\n";
  if (d.terminate) {
    out += "session:    recorded: the gateway terminates the inner SSH session (" +
           d.terminate_reason + ")\n";
  }
  return out;
}

// The effective grants after narrowing by the credential.
std::string ExplainGrants(const Decision& d) {
  std::string out;
  const Grants& g = d.grants;
  out += "grants (after narrowing by the credential):\n";
  out += std::string("  allow_tcp_forwarding: ") + TcpForwardingName(g.tcp_forwarding) + "\n";
  out += "  permit_open:          " + Join(g.permit_open, "none") + "\n";
  out += "  permit_listen:        " + Join(g.permit_listen, "none") + "\n";
  out += "  force_command:        " +
         (g.force_command ? Quote(*g.force_command) + " (from " + g.force_command_source + ")"
                          : std::string("none")) +
         "\n";
  if (g.force_command_conflict) out += "  conflict:             " + *g.force_command_conflict + "\n";
  out += "  pty: " + YesNo(g.pty) + "   agent_forwarding: " + YesNo(g.agent_forwarding) +
         "   x11_forwarding: " + YesNo(g.x11_forwarding) + "\n";
  out += "  max_session: " + OptDuration(g.max_session) +
         "   idle_timeout: " + OptDuration(g.idle_timeout) + "\n";
  if (d.terminate) {
    out += "  logins: " + Join(g.logins, "the gateway user name") +
           "   record_input: " + YesNo(g.record_input) + "\n";
  }
  return out;
}

// One line per credential (key options, certificate) restricting the identity.
std::string ExplainRestrictions(const Identity& id) {
  std::string out;
  out += "credential restrictions:\n";
  for (const auto& r : id.restrictions) {
    std::vector<std::string> parts;
    if (!r.port_forwarding) parts.push_back("no port forwarding");
    if (!r.pty) parts.push_back("no pty");
    if (!r.agent_forwarding) parts.push_back("no agent forwarding");
    if (!r.x11_forwarding) parts.push_back("no X11 forwarding");
    if (r.force_command) parts.push_back("force-command " + Quote(*r.force_command));
    if (r.permit_open) {
      std::vector<std::string> p;
      for (const auto& o : *r.permit_open) p.push_back(o.text);
      parts.push_back("permitopen " + Join(p, "none"));
    }
    if (r.permit_listen) {
      std::vector<std::string> p;
      for (const auto& o : *r.permit_listen) p.push_back(o.text);
      parts.push_back("permitlisten " + Join(p, "none"));
    }
    out += "  " + r.source + ": " + Join(parts, "no restrictions") + "\n";
  }
  return out;
}

// Every rule considered, in order, with its outcome.
std::string ExplainTrace(const Decision& d) {
  std::string out;
  out += "trace:\n";
  for (const auto& t : d.trace) {
    out += std::string("  ") + OutcomeWord(t.outcome) + " " +
           (t.effect == Effect::kDeny ? "deny  " : "allow ") + t.rule + " (" +
           t.location.ToString() + "): " + t.detail + "\n";
  }
  if (d.trace.empty()) out += "  (the policy has no rules)\n";
  return out;
}

}  // namespace

std::string ExplainDecision(const Policy& policy, const Identity& id, const Request& req,
                            const Decision& d) {
  std::string out;
  out += std::string(d.allow ? "ALLOW" : "DENY") + "  " + req.ToString() + " for user " +
         id.user;
  if (id.source) out += " from " + id.source->Unmapped().ToString();
  out += "\n";
  out += "decided by: " + (d.rule.empty() ? std::string("default deny (no rule matched)")
                                         : "rule " + d.rule + " (" +
                                               d.rule_location.ToString() + ")") +
         "\n";
  if (!d.allow) out += "reason:     " + d.reason + "\n";
  out += "policy:     " + policy.version + " (" + policy.file + ")\n";
  if (d.allow && req.kind == Request::Kind::kOpen) out += ExplainRoute(policy, d);
  if (d.allow && req.kind == Request::Kind::kListen) {
    out += "listen on:  " + JoinHostPort(d.bind_address, req.port) + "\n";
  }
  if (!d.rule.empty() && (d.allow || !d.grants.permit_open.empty() ||
                          d.grants.tcp_forwarding != TcpForwarding::kNo)) {
    out += ExplainGrants(d);
  }
  if (!id.restrictions.empty()) out += ExplainRestrictions(id);
  out += ExplainTrace(d);
  return out;
}

}  // namespace hopgate::policy
