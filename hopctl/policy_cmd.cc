// hopctl policy check / explain: validate a policy file; show how it decides
// one request, so a CI pipeline can test a policy change before it ships.
// Exit codes: 0 allow / valid, 1 deny / invalid, 2 usage or file error.
#include <algorithm>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "certs/private_key.h"
#include "common/net.h"
#include "common/strings.h"
#include "hopctl/command.h"
#include "policy/credentials.h"
#include "policy/decide.h"
#include "policy/explain.h"
#include "proxy/config/config.h"
#include "proxy/config/files.h"
#include "proxy/net/decide_open.h"
#include "proxy/net/resolver.h"

namespace hopgate::hopctl {
namespace {


int PolicyCheck(const std::string& file) {
  policy::LoadResult r = proxy::LoadPolicyFile(file);
  for (const auto& d : r.diagnostics.items()) fprintf(stderr, "%s\n", d.ToString().c_str());
  if (r.policy) {
    printf("%s: OK, %zu rules, %d warnings, version %s\n", file.c_str(), r.policy->rules.size(),
           r.diagnostics.warning_count(), r.policy->version.c_str());
    return 0;
  }
  return r.unreadable ? 2 : 1;
}

struct ExplainArgs {
  std::string file, user, cert, from, open, listen;
  std::vector<std::string> groups;
  bool session = false;
};

// The identity to decide for: user, extra groups, --from and the principals
// and restrictions of --cert. Prints the error and returns false when an
// argument is bad.
bool ExplainIdentity(const ExplainArgs& a, policy::Identity* id) {
  id->user = a.user;
  id->extra_groups = a.groups;
  if (!a.from.empty()) {
    id->source = IpAddress::Parse(a.from);
    if (!id->source) {
      fprintf(stderr, "hopctl policy explain: --from %s is not an IP address\n", a.from.c_str());
      return false;
    }
  }
  if (!a.cert.empty()) {
    auto text = proxy::ReadFile(a.cert);
    if (!text) {
      fprintf(stderr, "%s: %s\n", a.cert.c_str(), text.message().c_str());
      return false;
    }
    auto cred = policy::IdentityFromCertificateText(*text, a.cert);
    if (!cred) {
      fprintf(stderr, "%s: %s\n", a.cert.c_str(), cred.message().c_str());
      return false;
    }
    id->certificate = true;
    id->principals = cred->principals;
    id->restrictions.push_back(cred->restrictions);
    printf(
        "note: %s is read for its principals and permissions only; its signature, CA and "
        "validity are checked at login, not here\n",
        a.cert.c_str());
  }
  return true;
}

// `policy explain --open HOST:PORT`: resolves and decides as the daemon
// does, prints the explanation; returns the exit code.
int ExplainOpen(const policy::Policy& policy, const policy::Identity& id, const std::string& open) {
  auto hp = HostPort::Parse(open);
  if (!hp) {
    fprintf(stderr, "hopctl policy explain: --open: %s\n", hp.message().c_str());
    return 2;
  }
  // Decided as the daemon decides it: the name resolved here, once, and
  // the policy's own names too.
  proxy::Resolver resolver(2);
  auto names =
      std::make_shared<policy::AddressMap>(resolver.ResolveAll(policy.NamesToResolve(), 5000));
  proxy::DecidedOpen o = proxy::DecideOpen(resolver, 5000, policy, names, id, hp->host, hp->port);
  policy::Request req = policy::Request::Open(hp->host, hp->port);
  if (!o.looked_up.empty()) {
    std::string addrs;
    for (const auto& t : o.AddressTexts()) addrs += (addrs.empty() ? "" : ", ") + t;
    if (addrs.empty()) addrs = "(" + o.resolve_error + ")";
    printf("resolved:   %s -> %s\n", o.looked_up.c_str(), addrs.c_str());
  }
  printf("%s", policy::ExplainDecision(policy, id, req, o.decision).c_str());
  return o.decision.allow ? 0 : 1;
}

// The request of `--listen [address:]port` (address "localhost" when left
// out), or nullopt after printing the usage error.
std::optional<policy::Request> ListenRequest(const std::string& listen) {
  std::string address = "localhost";
  std::string port_text = listen;
  if (auto hp = HostPort::Parse(listen)) {
    address = hp->host;
    port_text = std::to_string(hp->port);
  }
  auto port = ParsePort(port_text, /*allow_zero=*/true);
  if (!port) {
    fprintf(stderr, "hopctl policy explain: --listen wants [address:]port, got %s\n",
            listen.c_str());
    return std::nullopt;
  }
  return policy::Request::Listen(address, *port);
}

int PolicyExplain(const ExplainArgs& a) {
  int kinds = !a.open.empty() + !a.listen.empty() + a.session;
  if (kinds != 1) {
    fprintf(stderr, "hopctl policy explain: give exactly one of --open, --listen, --session\n");
    return 2;
  }
  policy::LoadResult r = proxy::LoadPolicyFile(a.file);
  if (!r.policy) {
    fprintf(stderr, "%s", r.diagnostics.ToString().c_str());
    return 2;
  }
  policy::Identity id;
  if (!ExplainIdentity(a, &id)) return 2;
  if (!a.open.empty()) return ExplainOpen(*r.policy, id, a.open);
  policy::Request req;
  if (!a.listen.empty()) {
    std::optional<policy::Request> listen = ListenRequest(a.listen);
    if (!listen) return 2;
    req = *listen;
  } else {
    req = policy::Request::Session();
  }
  policy::Decision d = policy::Decide(*r.policy, id, req);
  printf("%s", policy::ExplainDecision(*r.policy, id, req, d).c_str());
  return d.allow ? 0 : 1;
}

// The public key line of a host key file: from its `.pub` when there is one
// (readable without root), else from the private key.
}  // namespace

void AddPolicyCommands(CLI::App& app, Commands* out) {
  CLI::App* pol = app.add_subcommand("policy", "work with policy files");
  pol->require_subcommand(1);

  auto check_file = std::make_shared<std::string>();
  CLI::App* check = pol->add_subcommand(
      "check",
      "validate a policy: errors as FILE:LINE:COL, warnings for rules that never "
      "match, undefined names and grant-everything patterns");
  check->add_option("FILE", *check_file, "policy file")->required();

  auto ex = std::make_shared<ExplainArgs>();
  CLI::App* explain = pol->add_subcommand(
      "explain", "show how the policy decides one request; exit 0 allow, 1 deny, 2 error");
  explain->add_option("FILE", ex->file, "policy file")->required();
  explain->add_option("--user", ex->user, "SSH user name")->required();
  explain->add_option("--group", ex->groups, "extra group membership (repeatable)");
  explain->add_option("--cert", ex->cert, "user certificate (-cert.pub) presented at login");
  explain->add_option("--from", ex->from, "client source address");
  explain->add_option("--open", ex->open, "direct-tcpip destination host:port (-J, -W, -L, -D)");
  explain->add_option("--listen", ex->listen, "tcpip-forward [address:]port (-R)");
  explain->add_flag("--session", ex->session, "a session channel");

  out->push_back({check, [check_file] { return PolicyCheck(*check_file); }});
  out->push_back({explain, [ex] { return PolicyExplain(*ex); }});
}

}  // namespace hopgate::hopctl
