// A recorded-session world for integration tests: a real OpenSSH sshd that
// trusts an upstream CA, hopgate recording it as db1 for alice, the client's
// known_hosts from `hopctl known-hosts`, and helpers to read recordings.
// Everything under $TEST_TMPDIR on 127.0.0.1.
#pragma once

#include <memory>
#include <stdexcept>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/support/harness.h"

namespace hopgate::testing {

struct RecordedWorld {
  std::string dir = MakeTempDir("recorded");
  KeyPair alice = GenerateKey(dir, "alice");
  KeyPair mallory = GenerateKey(dir, "mallory");  // a second key alice also holds
  KeyPair ca = GenerateKey(dir, "upstream_ca");
  std::unique_ptr<Sshd> target;
  std::unique_ptr<Gate> gate;
  std::string known_hosts = dir + "/known_hosts";
  std::string ssh_config = dir + "/ssh_config";

  // `rule_extra` is appended to alice's rule; `host_extra` to db1's entry.
  // `config_extra` is appended to the gateway's config right after its
  // audit: section, so indented lines ("  checkpoint_interval: 1s\n") add
  // to that section and unindented ones start sections of their own.
  explicit RecordedWorld(const std::string& rule_extra = "", const std::string& host_extra = "",
                         const std::string& host_key = "", std::vector<std::string> launcher = {},
                         const std::string& config_extra = "") {
    std::string tdir = dir + "/target";
    Run({"mkdir", "-p", tdir});
    target = std::make_unique<Sshd>(tdir, std::vector<std::string>{},
                                    "TrustedUserCAKeys " + ca.public_path + "\n");
    std::string policy =
        "version: 1\n"
        "users:\n"
        "  alice:\n"
        "    keys: [\"" + alice.public_line + "\"]\n"
        "hosts:\n"
        "  db1:\n"
        "    address: \"127.0.0.1:" + std::to_string(target->port()) + "\"\n"
        "    aliases: [db1.internal]\n"
        "    record: true\n"
        "    host_key: \"" + (host_key.empty() ? target->host_key_line() : host_key) + "\"\n" +
        host_extra +
        "rules:\n"
        "  - name: alice-db\n"
        "    users: [alice]\n"
        "    permit_open: [\"db1:22\"]\n"
        "    logins: [root]\n" + rule_extra;
    gate = std::make_unique<Gate>(
        dir, policy, config_extra + "upstream:\n  user_ca_key: " + ca.private_path + "\n", false);
    if (!launcher.empty()) gate->set_launcher(launcher);
    gate->Start();
    RunResult kh = Run({Gate::HopctlBinary(), "known-hosts", "--config", gate->config_path()});
    if (kh.exit_code != 0) throw std::runtime_error("hopctl known-hosts failed: " + kh.err);
    WriteFile(known_hosts, kh.out);
    WriteFile(ssh_config,
              "Host 127.0.0.1\n"
              "  StrictHostKeyChecking no\n"
              "  UserKnownHostsFile /dev/null\n"
              "Host *\n"
              "  IdentityFile " + alice.private_path + "\n"
              "  IdentitiesOnly yes\n"
              "  IdentityAgent none\n"
              "  StrictHostKeyChecking yes\n"
              "  UserKnownHostsFile " + known_hosts + "\n"
              "  GlobalKnownHostsFile /dev/null\n"
              "  LogLevel ERROR\n"
              "  BatchMode yes\n"
              "  ConnectTimeout 20\n",
              0600);
  }

  std::string Jump() const { return "alice@127.0.0.1:" + std::to_string(gate->port()); }

  std::vector<std::string> Ssh(const std::vector<std::string>& args,
                               const std::string& login = "root") const {
    std::vector<std::string> argv = {"ssh", "-F", ssh_config, "-J", Jump()};
    argv.insert(argv.end(), args.begin(), args.end());
    argv.insert(argv.begin() + 5, login + "@db1");
    return argv;
  }

  std::vector<nlohmann::json> Closes() const { return gate->AuditEvents("session_close"); }
};

inline std::vector<nlohmann::json> CastLines(const std::string& path) {
  std::vector<nlohmann::json> out;
  std::istringstream in(ReadFile(path));
  std::string line;
  while (std::getline(in, line)) {
    // A recording cut by a write error may end in a partial line.
    auto j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded()) break;
    out.push_back(j);
  }
  return out;
}

inline std::string CastOutput(const std::string& path) {
  std::string out;
  auto lines = CastLines(path);
  for (size_t i = 1; i < lines.size(); ++i) {
    if (lines[i][1] == "o") out += lines[i][2].get<std::string>();
  }
  return out;
}


}  // namespace hopgate::testing
