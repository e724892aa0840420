// Decisions: a request (open a destination, listen for -R, or a session) by an
// identity, judged against a Policy. Deny rules first; then the first allow
// rule in file order that matches decides with its own grants, narrowed by
// the credential's restrictions. A deny is a value with a reason, and every
// decision carries a trace of the rules considered. Pure; thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

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

struct Request {
  enum class Kind { kOpen, kListen, kSession };
  Kind kind = Kind::kSession;
  std::string host;  // kOpen: destination; kListen: bind address as sent
  uint16_t port = 0;

  static Request Open(std::string host, uint16_t port) {
    return {Kind::kOpen, std::move(host), port};
  }
  static Request Listen(std::string address, uint16_t port) {
    return {Kind::kListen, std::move(address), port};
  }
  static Request Session() { return {Kind::kSession, "", 0}; }
  std::string ToString() const;  // "direct-tcpip to db1:22", ...
};

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
  // kOpen: where to dial (a hosts: entry's address, or the host as asked).
  std::string host_entry;
  std::string dial_host;
  uint16_t dial_port = 0;
  // Jump hosts (hosts: entries) to cross first, in order; empty: dial directly.
  std::vector<std::string> route;
  // kOpen to an SSH port: the gateway terminates the inner SSH session and
  // records it, and why ("host db1 has record: true", "rule x: force_command").
  bool terminate = false;
  std::string terminate_reason;
  // kListen: where to listen.
  std::string bind_address;

  // "rule-name (file:line:col)" or "default deny".
  std::string RuleDescription() const;
};

Decision Decide(const Policy& policy, const Identity& identity, const Request& request);

// Everything `identity` may open or listen on, one line per grant, for the
// gateway's own session banner and `hopctl`.
std::vector<std::string> DescribeAccess(const Policy& policy, const Identity& identity);

}  // namespace hopgate::policy
