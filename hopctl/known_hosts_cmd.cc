// hopctl known-hosts: the known_hosts lines clients need for the gateway's
// own host keys and for the interception key of recorded hosts.
#include <algorithm>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/net.h"
#include "common/strings.h"
#include "hopctl/command.h"
#include "policy/decide.h"
#include "proxy/config/config.h"
#include "proxy/config/files.h"

namespace hopgate::hopctl {
namespace {
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
  // The gateway's own keys are needed for --gateway, and for their types
  // when the recording keys are the defaults (one per type); a gateway that
  // has not started yet may not have generated them.
  bool need_gateway_keys = !gateway.empty() || cl.config->recording_host_keys.empty();
  for (const auto& path : cl.config->host_keys) {
    auto line = PublicKeyLine(path);
    if (!line && !need_gateway_keys) continue;
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

void AddKnownHostsCommand(CLI::App& app, Commands* out) {
  auto kh_config = std::make_shared<std::string>();
  CLI::App* kh = app.add_subcommand(
      "known-hosts",
      "print the known_hosts line for the hosts whose sessions hopgate records (interception key)");
  kh->add_option("--config", *kh_config, "hopgate configuration file")->required();
  auto kh_gateway = std::make_shared<std::string>();
  kh->add_option("--gateway", *kh_gateway,
                 "also print the gateway's own host keys, for clients that reach it as HOST[:PORT]");

  out->push_back({kh, [kh_config, kh_gateway] { return KnownHosts(*kh_config, *kh_gateway); }});
}

}  // namespace hopgate::hopctl
