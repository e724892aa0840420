// Decisions: a request (open a destination, listen for -R, or a session) by an
// identity, judged against a Policy. Deny rules first; then the first allow
// rule in file order that matches decides with its own grants, narrowed by
// the credential's restrictions. A deny is a value with a reason, and every
// decision carries a trace of the rules considered. Pure; thread-safe.
//
// A kOpen destination is decided on what will be dialled: its canonical name
// and every address it resolved to (destination.cc). A deny rule matching
// the name or any address denies; an allow rule allows the addresses it
// matches (all of them when it matches a name); the gateway dials only those.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/host.h"
#include "policy/policy.h"
#include "policy/restrictions.h"

namespace hopgate::policy {

struct Identity {
  std::string user;                       // the SSH user name
  std::vector<std::string> extra_groups;  // in addition to the policy's groups
  bool certificate = false;
  std::vector<std::string> principals;    // certificate principals
  std::optional<IpAddress> source;        // client address
  std::vector<Restrictions> restrictions; // certificate, authorized_keys line
};

// DNS answers the daemon looked up: canonical name -> addresses, in the
// resolver's order. A name absent from every map is unresolved.
using AddressMap = std::map<std::string, std::vector<IpAddress>, std::less<>>;

struct Request {
  enum class Kind { kOpen, kListen, kSession };
  Kind kind = Kind::kSession;
  std::string host;  // kOpen: destination as sent; kListen: bind address as sent
  uint16_t port = 0;
  // kOpen: answers for the name PlanOpen() asked for (looked up for this
  // request), and for the policy's literal names (Policy::NamesToResolve(),
  // kept fresh by the daemon). Decisions never resolve anything themselves.
  AddressMap dns;
  std::shared_ptr<const AddressMap> names;

  static Request Open(std::string host, uint16_t port, AddressMap dns = {},
                      std::shared_ptr<const AddressMap> names = nullptr) {
    Request r{Kind::kOpen, std::move(host), port, std::move(dns), std::move(names)};
    return r;
  }
  static Request Listen(std::string address, uint16_t port) {
    return {Kind::kListen, std::move(address), port, {}, nullptr};
  }
  static Request Session() { return {Kind::kSession, "", 0, {}, nullptr}; }
  std::string ToString() const;  // "direct-tcpip to db1:22", ...
  // The addresses `name` resolved to, or nullptr when it was not looked up.
  const std::vector<IpAddress>* Lookup(std::string_view name) const;
};

// What the daemon must do before deciding a kOpen request.
struct OpenPlan {
  CanonicalHost host;     // the destination as parsed
  std::string resolve;    // a name to look up now; empty when there is none
                          // (an address, or a name a jump host dials)
};
// Parses the destination (an error says why it is malformed) and names what
// to resolve: the requested name, or the address name of the hosts: entry
// it names. Pure.
Result<OpenPlan> PlanOpen(const Policy& policy, std::string_view host, uint16_t port);

// What the deciding rule grants after narrowing.
struct Grants {
  TcpForwarding tcp_forwarding = TcpForwarding::kNo;
  std::vector<std::string> permit_open;    // as written, rule then narrowing
  std::vector<std::string> permit_listen;
  std::optional<std::string> force_command;
  std::string force_command_source;        // "rule x", "certificate", ...
  std::optional<std::string> force_command_conflict;  // why two differ
  bool pty = false;
  bool agent_forwarding = false;
  bool x11_forwarding = false;
  bool user_rc = false;
  std::optional<int64_t> max_session;
  std::optional<int64_t> idle_timeout;
  bool record_input = false;
  std::vector<std::string> logins;  // empty: only the gateway user name
};

struct TraceStep {
  std::string rule;
  SourceLocation location;
  Effect effect = Effect::kAllow;
  enum class Outcome { kSkipped, kMatched, kNotEvaluated } outcome = Outcome::kSkipped;
  std::string detail;  // why it did or did not match
};

struct Decision {
  bool allow = false;
  std::string rule;  // the deciding rule; empty for the default deny
  SourceLocation rule_location;
  std::string reason;  // for a deny: why, in words a user can act on
  Grants grants;
  std::vector<TraceStep> trace;
  std::string policy_version;
  // kOpen: where to dial. `dial_addresses` is exactly what the gateway
  // connects to, in order (never resolved again); empty when the last jump
  // host of `route` dials `dial_host`, or when a name did not resolve
  // (`unresolved`). `dial_host` is the canonical address or name, for
  // messages, known_hosts lookups and the last hop of a route.
  std::string host_entry;  // the hosts: entry whose settings apply
  std::string dial_host;
  uint16_t dial_port = 0;
  std::vector<IpAddress> dial_addresses;
  bool unresolved = false;
  // Jump hosts (hosts: entries) to cross first, in order; empty: dial directly.
  std::vector<std::string> route;
  // kOpen to an SSH endpoint: the gateway terminates the inner SSH session
  // and records it, and why ("host db1 has record: true", "rule x has
  // force_command").
  bool terminate = false;
  std::string terminate_reason;
  // kListen: where to listen.
  std::string bind_address;

  // "rule-name (file:line:col)" or "default deny".
  std::string RuleDescription() const;
};

Decision Decide(const Policy& policy, const Identity& identity, const Request& request);

// Whether SSH to `host`'s SSH port may be terminated and recorded for some
// identity: it has record: true, or an allow rule that terminates sessions
// permits it. The one answer to "is it recorded" for hopctl and explain.
bool MayBeRecorded(const Policy& policy, const Host& host);

// Everything `identity` may open or listen on, one line per grant, for the
// gateway's own session banner and `hopctl`.
std::vector<std::string> DescribeAccess(const Policy& policy, const Identity& identity);

}  // namespace hopgate::policy
