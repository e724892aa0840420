// hopctl: the administrator's tool. `policy check` validates a policy file;
// `policy explain` shows how the policy decides one request, so a CI pipeline
// can test a policy change before it ships.
// Exit codes: 0 allow / valid, 1 deny / invalid, 2 usage or file error.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "certs/private_key.h"
#include "common/net.h"
#include "common/strings.h"
#include "policy/decide.h"
#include "policy/explain.h"
#include "proxy/net/decide_open.h"
#include "proxy/net/resolver.h"
#include "proxy/config/config.h"
#include "policy/credentials.h"
#include "proxy/config/files.h"
#include "proxy/base/version.h"

using namespace hopgate;

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
Result<std::string> PublicKeyLine(const std::string& path) {
  if (auto pub = proxy::ReadFile(path + ".pub", 1 << 20)) {
    auto fields = Split(std::string(Trim(*pub)), ' ');
    if (fields.size() >= 2) return fields[0] + " " + fields[1];
  }
  auto text = proxy::ReadFile(path, 1 << 20);
  if (!text) {
    return Error{path + ": " + text.message() +
                 " (hopgate generates it at its first start; run it once, or create it with "
                 "ssh-keygen)"};
  }
  auto key = certs::ParseOpenSshPrivateKey(*text);
  if (!key) return Error{path + ": " + key.message()};
  return key->Public().ToLine();
}

// Prints known_hosts lines naming every host whose SSH sessions the gateway
// may terminate and record, one per interception host key, ready for
// /etc/ssh/ssh_known_hosts; with `gateway` (how clients address the
// gateway, HOST or HOST:PORT), the gateway's own host keys too.
int KnownHosts(const std::string& config_file, const std::string& gateway) {
  proxy::ConfigLoad cl = proxy::LoadConfig(config_file);
  if (!cl.config) {
    fprintf(stderr, "%s", cl.diagnostics.ToString().c_str());
    return 2;
  }
  policy::LoadResult r = proxy::LoadPolicyFor(*cl.config);
  if (!r.policy) {
    fprintf(stderr, "%s", r.diagnostics.ToString().c_str());
    return 2;
  }
  std::vector<std::string> gateway_lines;
  std::vector<std::string> host_key_types;
  for (const auto& path : cl.config->host_keys) {
    auto line = PublicKeyLine(path);
    if (!line) {
      fprintf(stderr, "%s\n", line.message().c_str());
      return 2;
    }
    gateway_lines.push_back(*line);
    host_key_types.push_back(line->substr(0, line->find(' ')));
  }
  std::vector<std::string> recording_lines;
  for (const auto& path : proxy::RecordingHostKeyPaths(*cl.config, host_key_types)) {
    auto line = PublicKeyLine(path);
    if (!line) {
      fprintf(stderr, "%s\n", line.message().c_str());
      return 2;
    }
    recording_lines.push_back(*line);
  }
  if (!gateway.empty()) {
    std::string name = gateway;
    if (auto hp = HostPort::Parse(gateway); hp && hp->port != 22) {
      name = "[" + hp->host + "]:" + std::to_string(hp->port);
    } else if (hp) {
      name = hp->host;
    }
    for (const auto& l : gateway_lines) printf("%s %s\n", name.c_str(), l.c_str());
  }
  std::vector<std::string> names;
  auto add = [&](const std::string& n) {
    if (std::find(names.begin(), names.end(), n) == names.end()) names.push_back(n);
  };
  for (const auto& [name, h] : r.policy->hosts) {
    if (!policy::MayBeRecorded(*r.policy, h)) continue;
    add(h.name);
    for (const auto& a : h.aliases) add(a);
    add(h.address.port == 22 ? h.address.host
                             : "[" + h.address.host + "]:" + std::to_string(h.address.port));
  }
  if (names.empty()) {
    if (!gateway.empty()) return 0;
    fprintf(stderr, "no host in %s is recorded\n", r.policy->file.c_str());
    return 1;
  }
  std::string list;
  for (const auto& n : names) list += (list.empty() ? "" : ",") + n;
  for (const auto& l : recording_lines) printf("%s %s\n", list.c_str(), l.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"hopctl: administer hopgate (policy checks and explanations)"};
  app.set_version_flag("--version", std::string("hopctl ") + proxy::kVersion);
  app.require_subcommand(1);
  CLI::App* pol = app.add_subcommand("policy", "work with policy files");
  pol->require_subcommand(1);

  std::string check_file;
  CLI::App* check = pol->add_subcommand(
      "check",
      "validate a policy: errors as FILE:LINE:COL, warnings for rules that never "
      "match, undefined names and grant-everything patterns");
  check->add_option("FILE", check_file, "policy file")->required();

  ExplainArgs ex;
  CLI::App* explain = pol->add_subcommand(
      "explain", "show how the policy decides one request; exit 0 allow, 1 deny, 2 error");
  explain->add_option("FILE", ex.file, "policy file")->required();
  explain->add_option("--user", ex.user, "SSH user name")->required();
  explain->add_option("--group", ex.groups, "extra group membership (repeatable)");
  explain->add_option("--cert", ex.cert, "user certificate (-cert.pub) presented at login");
  explain->add_option("--from", ex.from, "client source address");
  explain->add_option("--open", ex.open, "direct-tcpip destination host:port (-J, -W, -L, -D)");
  explain->add_option("--listen", ex.listen, "tcpip-forward [address:]port (-R)");
  explain->add_flag("--session", ex.session, "a session channel");

  std::string kh_config;
  CLI::App* kh = app.add_subcommand(
      "known-hosts",
      "print the known_hosts line for the hosts whose sessions hopgate records (interception key)");
  kh->add_option("--config", kh_config, "hopgate configuration file")->required();
  std::string kh_gateway;
  kh->add_option("--gateway", kh_gateway,
                 "also print the gateway's own host keys, for clients that reach it as HOST[:PORT]");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }
  if (check->parsed()) return PolicyCheck(check_file);
  if (explain->parsed()) return PolicyExplain(ex);
  if (kh->parsed()) return KnownHosts(kh_config, kh_gateway);
  return 2;
}
