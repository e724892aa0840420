// Server-side routes: hopgate reaches the target through a chain of real
// OpenSSH sshd jump hosts (gate -> jump1 -> jump2 -> target) while the user
// types one `ssh -J alice@gate target`.
#include <catch2/catch.hpp>

#include <signal.h>

#include <future>
#include <regex>
#include <sstream>

#include "tests/support/harness.h"

using namespace hopgate::testing;

namespace {

std::string Sub(const std::string& dir, const std::string& name) {
  std::string d = dir + "/" + name;
  Run({"mkdir", "-p", d});
  return d;
}

// How many logins a jump host's sshd accepted (LogLevel VERBOSE).
int AcceptedLogins(const Sshd& sshd) {
  std::istringstream in(ReadFile(sshd.log_path()));
  std::string line;
  int n = 0;
  while (std::getline(in, line)) n += line.find("Accepted publickey for") != std::string::npos;
  return n;
}

struct World {
  std::string dir = MakeTempDir("route");
  KeyPair alice = GenerateKey(dir, "alice");
  KeyPair hop_id = GenerateKey(dir, "hop_identity");  // the gateway's key on the jump hosts
  KeyPair upstream_ca = GenerateKey(dir, "upstream_ca");
  std::unique_ptr<Sshd> jump1, jump2, target;
  std::unique_ptr<Gate> gate;
  Client client{dir, alice.private_path};

  // `jump1_auth` is jump1's login method: "identity" or "certificate".
  explicit World(const std::string& jump2_host_key = "", const std::string& jump1_auth = "identity") {
    jump1 = std::make_unique<Sshd>(Sub(dir, "jump1"), std::vector<std::string>{hop_id.public_line},
                                   "TrustedUserCAKeys " + upstream_ca.public_path + "\n");
    jump2 = std::make_unique<Sshd>(Sub(dir, "jump2"), std::vector<std::string>{hop_id.public_line});
    target = std::make_unique<Sshd>(Sub(dir, "target"), std::vector<std::string>{alice.public_line});
    std::string j1_login = jump1_auth == "identity" ? "    identity: " + hop_id.private_path + "\n"
                                                    : "";
    std::string policy =
        "version: 1\n"
        "users:\n"
        "  alice:\n"
        "    keys: [\"" + alice.public_line + "\"]\n"
        "hosts:\n"
        "  jump1:\n"
        "    address: \"127.0.0.1:" + std::to_string(jump1->port()) + "\"\n"
        "    login: root\n" + j1_login +
        "    host_key: \"" + jump1->host_key_line() + "\"\n"
        "  jump2:\n"
        "    address: \"127.0.0.1:" + std::to_string(jump2->port()) + "\"\n"
        "    login: root\n"
        "    identity: " + hop_id.private_path + "\n"
        "    host_key: \"" + (jump2_host_key.empty() ? jump2->host_key_line() : jump2_host_key) +
        "\"\n"
        "    via: [jump1]\n"
        "  target:\n"
        "    address: \"127.0.0.1:" + std::to_string(target->port()) + "\"\n"
        "    via: [jump2]\n"
        "rules:\n"
        "  - name: alice-to-target\n"
        "    users: [alice]\n"
        "    permit_open: [\"target:22\"]\n";
    gate = std::make_unique<Gate>(dir, policy,
                                  "upstream:\n  user_ca_key: " + upstream_ca.private_path + "\n"
                                  // 20 parallel logins from one address.
                                  "limits:\n  per_source_max_startups: 20\n");
  }

  std::vector<std::string> Ssh(const std::vector<std::string>& command) const {
    return client.SshJ("alice", gate->port(), 22, command, "target");
  }
};

}  // namespace

TEST_CASE("ssh -J through gate -> jump1 -> jump2 -> target runs the command on the target") {
  World w;
  RunResult r = Run(w.Ssh({"echo", "ok", "from", "$SSH_CONNECTION"}));
  INFO(r.err << w.gate->Log());
  REQUIRE(r.exit_code == 0);
  // The target sees the connection coming from the last jump host (sshd's
  // direct-tcpip from jump2), not from the client.
  CHECK(r.out.rfind("ok from 127.0.0.1 ", 0) == 0);
  auto opens = w.gate->AuditEvents("channel_open");
  REQUIRE(opens.size() == 1);
  CHECK(opens[0]["decision"] == "allow");
  CHECK(opens[0]["route"] == nlohmann::json::array({"jump1", "jump2"}));
  CHECK(opens[0]["dial"] == "127.0.0.1:" + std::to_string(w.target->port()));
  // Each jump host accepted exactly one login from the gateway.
  CHECK(AcceptedLogins(*w.jump1) == 1);
  CHECK(AcceptedLogins(*w.jump2) == 1);
}

TEST_CASE("a 64 MiB scp through the two-hop route arrives intact both ways") {
  World w;
  std::string up = w.dir + "/up.bin", back = w.dir + "/back.bin";
  WriteRandomFile(up, 64 << 20);
  std::string remote = "root@target:" + w.dir + "/on-target.bin";
  std::string jump = "alice@127.0.0.1:" + std::to_string(w.gate->port());
  RunResult put = Run({"scp", "-q", "-F", w.client.config_path(), "-J", jump, "-P", "22", up, remote},
                      "", 180'000);
  INFO(put.err);
  REQUIRE(put.exit_code == 0);
  CHECK(Sha256OfFile(w.dir + "/on-target.bin") == Sha256OfFile(up));
  RunResult get = Run({"scp", "-q", "-F", w.client.config_path(), "-J", jump, "-P", "22", remote, back},
                      "", 180'000);
  INFO(get.err);
  REQUIRE(get.exit_code == 0);
  CHECK(Sha256OfFile(back) == Sha256OfFile(up));
  // Both copies crossed the same shared connection to jump1.
  CHECK(AcceptedLogins(*w.jump1) == 1);
  uint64_t c2t = 0, t2c = 0;
  for (const auto& c : w.gate->AuditEvents("channel_close")) {
    c2t += c["bytes_client_to_target"].get<uint64_t>();
    t2c += c["bytes_target_to_client"].get<uint64_t>();
  }
  CHECK(c2t > (64u << 20));
  CHECK(t2c > (64u << 20));
}

TEST_CASE("20 parallel ssh -J through the route share one upstream connection to jump1") {
  World w;
  // One first login sets the shared connection up; the rest reuse it.
  REQUIRE(Run(w.Ssh({"true"})).exit_code == 0);
  std::vector<std::future<RunResult>> runs;
  for (int i = 0; i < 20; ++i) {
    runs.push_back(std::async(std::launch::async, [&w, i] {
      return Run(w.Ssh({"echo", "session-" + std::to_string(i)}), "", 90'000);
    }));
  }
  int ok = 0;
  for (int i = 0; i < 20; ++i) {
    RunResult r = runs[static_cast<size_t>(i)].get();
    ok += r.exit_code == 0 && r.out == "session-" + std::to_string(i) + "\n";
  }
  CHECK(ok == 20);
  INFO(ReadFile(w.jump1->log_path()));
  CHECK(AcceptedLogins(*w.jump1) == 1);
  CHECK(AcceptedLogins(*w.jump2) == 1);
}

TEST_CASE("a wrong pinned host key on jump2 refuses the connection and names jump2") {
  KeyPair other = GenerateKey(MakeTempDir("route-other"), "not_jump2");
  World w(other.public_line);
  RunResult r = Run(w.Ssh({"echo", "ok"}));
  CHECK(r.exit_code == 255);
  CHECK(r.out.empty());
  REQUIRE(w.gate->WaitForAudit("channel_open", "failed_hop", "jump2", 5000));
  auto e = w.gate->AuditEvents("channel_open").back();
  CHECK(e["decision"] == "allow");  // the policy allowed it; the route failed
  CHECK(e["error"].get<std::string>().rfind("hop jump2: host key mismatch: it presented ssh-ed25519 SHA256:", 0) == 0);
  CHECK(AcceptedLogins(*w.jump2) == 0);  // no login was attempted on a host we do not trust
  // The failure is counted by reason.
  CHECK(w.gate->Log().find("hop jump2: host key mismatch") != std::string::npos);
}

TEST_CASE("a jump host without an identity gets a certificate minted for the user") {
  World w("", "certificate");
  RunResult r = Run(w.Ssh({"echo", "ok"}));
  INFO(r.err << w.gate->Log());
  REQUIRE(r.exit_code == 0);
  CHECK(r.out == "ok\n");
  // jump1's own log names the human behind the gateway's login.
  std::string log = ReadFile(w.jump1->log_path());
  INFO(log);
  std::regex accepted("Accepted publickey for root from 127\\.0\\.0\\.1 port [0-9]+ ssh2: "
                      "ED25519-CERT SHA256:[^ ]+ ID hopgate:alice:c[0-9a-f]+ \\(serial [0-9]+\\) CA");
  CHECK(std::regex_search(log, accepted));
}

TEST_CASE("a cycle of jump hosts is refused by hopgate --check with file:line:col") {
  std::string dir = MakeTempDir("route-cycle");
  KeyPair k = GenerateKey(dir, "k");
  std::string hop = "    login: root\n    identity: " + k.private_path + "\n    host_key: \"" +
                    k.public_line + "\"\n";
  std::string policy = "version: 1\nhosts:\n"
                       "  a:\n    address: \"127.0.0.1:1\"\n" + hop + "    via: [b]\n"
                       "  b:\n    address: \"127.0.0.1:2\"\n" + hop + "    via: [a]\n"
                       "rules:\n  - name: r\n    permit_open: [\"a:22\"]\n";
  Gate gate(dir, policy, "", /*start=*/false);
  RunResult r = Run({Gate::Binary(), "--config", gate.config_path(), "--check"});
  CHECK(r.exit_code == 1);
  CHECK(r.err.find(gate.policy_path() + ":14:10: host \"b\": via \"a\" makes a cycle of jump hosts") !=
        std::string::npos);
}

TEST_CASE("a recorded target behind the chain: the recorded session rides the same route") {
  std::string dir = MakeTempDir("route-recorded");
  KeyPair alice = GenerateKey(dir, "alice");
  KeyPair hop_id = GenerateKey(dir, "hop_identity");
  KeyPair upstream_ca = GenerateKey(dir, "upstream_ca");
  auto sub = [&](const std::string& n) { return Sub(dir, n); };
  Sshd jump1(sub("jump1"), {hop_id.public_line});
  Sshd jump2(sub("jump2"), {hop_id.public_line});
  Sshd target(sub("target"), {}, "TrustedUserCAKeys " + upstream_ca.public_path + "\n");
  std::string hop = "    login: root\n    identity: " + hop_id.private_path + "\n";
  std::string policy =
      "version: 1\n"
      "users:\n"
      "  alice:\n"
      "    keys: [\"" + alice.public_line + "\"]\n"
      "hosts:\n"
      "  jump1:\n"
      "    address: \"127.0.0.1:" + std::to_string(jump1.port()) + "\"\n" + hop +
      "    host_key: \"" + jump1.host_key_line() + "\"\n"
      "  jump2:\n"
      "    address: \"127.0.0.1:" + std::to_string(jump2.port()) + "\"\n" + hop +
      "    host_key: \"" + jump2.host_key_line() + "\"\n"
      "    via: [jump1]\n"
      "  db1:\n"
      "    address: \"127.0.0.1:" + std::to_string(target.port()) + "\"\n"
      "    record: true\n"
      "    host_key: \"" + target.host_key_line() + "\"\n"
      "    via: [jump2]\n"
      "rules:\n"
      "  - name: alice-db\n"
      "    users: [alice]\n"
      "    permit_open: [\"db1:22\"]\n"
      "    logins: [root]\n";
  Gate gate(dir, policy, "upstream:\n  user_ca_key: " + upstream_ca.private_path + "\n");
  RunResult kh = Run({Gate::HopctlBinary(), "known-hosts", "--config", gate.config_path()});
  REQUIRE(kh.exit_code == 0);
  WriteFile(dir + "/known_hosts", kh.out);
  std::string cfg = dir + "/ssh_config";
  WriteFile(cfg,
            "Host 127.0.0.1\n  StrictHostKeyChecking no\n  UserKnownHostsFile /dev/null\n"
            "Host *\n  IdentityFile " + alice.private_path + "\n  IdentitiesOnly yes\n"
            "  IdentityAgent none\n  UserKnownHostsFile " + dir + "/known_hosts\n"
            "  GlobalKnownHostsFile /dev/null\n  LogLevel ERROR\n  BatchMode yes\n",
            0600);
  RunResult r = Run({"ssh", "-F", cfg, "-J", "alice@127.0.0.1:" + std::to_string(gate.port()),
                     "root@db1", "echo recorded-through-chain; exit 7"});
  INFO(r.err << "\n" << gate.Log());
  CHECK(r.exit_code == 7);
  CHECK(r.out == "recorded-through-chain\n");
  auto opens = gate.AuditEvents("session_open");
  REQUIRE(opens.size() == 1);
  CHECK(opens[0]["route"] == nlohmann::json::array({"jump1", "jump2"}));
  REQUIRE(WaitUntil([&] { return !gate.AuditEvents("session_close").empty(); }, 5000));
  std::string cast = gate.AuditEvents("session_close")[0]["recording"];
  CHECK(ReadFile(cast).find("recorded-through-chain") != std::string::npos);
  CHECK(AcceptedLogins(jump1) == 1);
  CHECK(AcceptedLogins(jump2) == 1);
}

TEST_CASE("a server that speaks first is heard through a route, every time") {
  // The reply arriving with the channel's confirmation must not stay inside
  // libssh: 200 opens in a row through gate -> jump1 -> jump2, each must see
  // the banner before sending anything.
  World w;
  std::string src = getenv("TEST_SRCDIR") ? std::string(getenv("TEST_SRCDIR")) + "/hopgate/" : "";
  std::string client = src + "tests/support/hostile_client.py";
  Process banner({"/usr/bin/python3", client, "serve", "--port", "0", "--banner", "220 banner"},
                 w.dir + "/banner.log");
  int port = ListeningPort(w.dir + "/banner.log", banner);
  std::string policy = ReadFile(w.gate->policy_path());
  policy.replace(policy.find("rules:\n"), 7,
                 "  smtp:\n    address: \"127.0.0.1:" + std::to_string(port) +
                     "\"\n    via: [jump2]\nrules:\n  - name: smtp\n    users: [alice]\n"
                     "    permit_open: [\"smtp:" + std::to_string(port) + "\"]\n");
  WriteFile(w.gate->policy_path(), policy);
  w.gate->process().Signal(SIGHUP);
  REQUIRE(w.gate->WaitForAudit("policy_reload", "result", "success", 10'000));
  RunResult r = Run({"/usr/bin/python3", client, "banners", "--port",
                     std::to_string(w.gate->port()), "--user", "alice", "--key",
                     w.alice.private_path, "--dest", "smtp:" + std::to_string(port), "--count",
                     "200"},
                    "", 240'000);
  INFO(r.out << r.err << w.gate->Log());
  REQUIRE(r.out.find('{') != std::string::npos);
  auto result = nlohmann::json::parse(r.out.substr(r.out.find('{')));
  CHECK(result["seen"] == 200);
  CHECK(result["missing"] == 0);
}
