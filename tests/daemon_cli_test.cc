// The hopgate command line: --check like sshd -t, and refusing to start on
// bad input without leaving anything half-started.
#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <cstdlib>

#include "tests/support/harness.h"

using namespace hopgate::testing;

TEST_CASE("--check accepts a good config and policy") {
  std::string dir = MakeTempDir("check-ok");
  KeyPair alice = GenerateKey(dir, "alice");
  Gate gate(dir, "version: 1\nusers:\n  alice:\n    keys: [\"" + alice.public_line +
                     "\"]\nrules:\n  - name: r\n    users: [alice]\n    permit_open: [\"db:22\"]\n",
            "", /*start=*/false);
  RunResult r = Run({Gate::Binary(), "--config", gate.config_path(), "--check"});
  INFO(r.err);
  CHECK(r.exit_code == 0);
  CHECK(r.out.find(": OK (policy sha256:") != std::string::npos);
  // The lint warning about an undefined host is printed but is not an error.
  CHECK(r.err.find("warning: rule \"r\" permit_open names host \"db\"") != std::string::npos);
}

TEST_CASE("--check prints every error as FILE:LINE:COL and exits 1") {
  std::string dir = MakeTempDir("check-bad");
  Gate gate(dir,
            "version: 1\nusers:\n  alice:\n    keys: [\"ssh-ed25519 no!pe\"]\nrules:\n"
            "  - name: r\n    permit_open: [\"db:99999\"]\n    colour: red\n",
            "", /*start=*/false);
  RunResult r = Run({Gate::Binary(), "--config", gate.config_path(), "--check"});
  CHECK(r.exit_code == 1);
  std::string p = gate.policy_path();
  CHECK(r.err.find(p + ":4:12: key is not valid base64") != std::string::npos);
  CHECK(r.err.find(p + ":7:19: permit_open: invalid port \"99999\"") != std::string::npos);
  CHECK(r.err.find(p + ":8:5: unknown key \"colour\" in a rule") != std::string::npos);

  WriteFile(gate.config_path(), "version: 1\nlisten: [\"127.0.0.1:65536\"]\nhost_keys: [k]\n"
                                "policy: p\naudit: {log: a}\nlimits: {login_grace: 5s}\n");
  RunResult c = Run({Gate::Binary(), "--config", gate.config_path(), "--check"});
  CHECK(c.exit_code == 1);
  CHECK(c.err.find(gate.config_path() + ":2:10: listen: invalid port \"65536\"") != std::string::npos);
  CHECK(c.err.find(gate.config_path() + ":6:10: unknown key \"login_grace\" in limits") !=
        std::string::npos);
}

TEST_CASE("starting with a bad policy prints the errors, exits 1 and listens on nothing") {
  std::string dir = MakeTempDir("start-bad");
  Gate gate(dir, "version: 1\nrules:\n  - name: r\n    users: alice\n", "", /*start=*/false);
  RunResult r = Run({Gate::Binary(), "--config", gate.config_path()}, "", 10'000);
  CHECK(r.exit_code == 1);
  CHECK(r.err.find(gate.policy_path() + ":4:12: users must be a list") != std::string::npos);
  CHECK(r.err.find("not started") != std::string::npos);
  CHECK(r.err.find("listening on") == std::string::npos);
  CHECK(r.out.find("listening on") == std::string::npos);
  // No audit log or host key was created for a daemon that never started.
  CHECK(ReadFile(gate.audit_path()).empty());
}

TEST_CASE("a missing host key is generated with mode 0600 and its fingerprint logged") {
  std::string dir = MakeTempDir("hostkey");
  Gate gate(dir, "version: 1\nrules: []\n");
  std::string key = dir + "/host_ed25519";
  RunResult mode = Run({"stat", "-c", "%a", key});
  CHECK(mode.out == "600\n");
  RunResult fp = Run({"ssh-keygen", "-l", "-f", key});
  REQUIRE(fp.exit_code == 0);
  std::string sha = fp.out.substr(fp.out.find("SHA256:"), 50);
  sha = sha.substr(0, sha.find(' '));
  CHECK(gate.Log().find(sha) != std::string::npos);
  // The key a client sees is that key.
  RunResult scan = Run({"ssh-keyscan", "-p", std::to_string(gate.port()), "-t", "ed25519",
                        "127.0.0.1"});
  std::string pub = Run({"ssh-keygen", "-y", "-f", key}).out;
  REQUIRE(pub.size() > 20);
  pub = pub.substr(0, pub.find_first_of(" \n", 12));
  CHECK(scan.out.find(pub) != std::string::npos);
}

namespace {

const char* kGoodPolicy = "version: 1\nrules: []\n";

// --check and a real start, on the same config: both must refuse it, and
// both must say `want`.
void CheckAndStartRefuse(Gate& gate, const std::string& want) {
  RunResult c = Run({Gate::Binary(), "--config", gate.config_path(), "--check"});
  INFO(c.err);
  CHECK(c.exit_code == 1);
  CHECK(c.err.find(want) != std::string::npos);
  RunResult s = Run({Gate::Binary(), "--config", gate.config_path()}, "", 10'000);
  INFO(s.err);
  CHECK(s.exit_code == 1);
  CHECK(s.err.find(want) != std::string::npos);
  CHECK(s.err.find("not started") != std::string::npos);
}

}  // namespace

TEST_CASE("--check refuses what start-up refuses, naming the config line") {
  std::string dir = MakeTempDir("check-startup");
  SECTION("an audit log in a directory that does not exist") {
    Gate gate(dir, kGoodPolicy, "", false);
    std::string cfg = ReadFile(gate.config_path());
    cfg.replace(cfg.find("  log: "), 7, "  log: /nonexistent-hopgate-dir/x");
    cfg.erase(cfg.find("/nonexistent-hopgate-dir/x") + 26, cfg.find('\n', cfg.find("/nonexistent")) -
                                                               cfg.find("/nonexistent") - 26);
    WriteFile(gate.config_path(), cfg, 0600);
    CheckAndStartRefuse(gate, gate.config_path() + ":6:8: audit.log: cannot create "
                              "/nonexistent-hopgate-dir/x: directory /nonexistent-hopgate-dir "
                              "does not exist");
  }
  SECTION("an audit log the user: account cannot reach") {
    // A directory only root can search (like the demo under /root once did):
    // the log's directory would be created for nobody but nobody cannot get
    // there.
    char base[] = "/tmp/hopgate-unreachable-XXXXXX";
    REQUIRE(mkdtemp(base) != nullptr);
    REQUIRE(chmod(base, 0700) == 0);
    Gate gate(dir, kGoodPolicy, "", false);
    std::string cfg = ReadFile(gate.config_path());
    size_t at = cfg.find("  log: ");
    cfg.replace(at, cfg.find('\n', at) - at, "  log: " + std::string(base) + "/var/audit.jsonl");
    cfg = "user: nobody\n" + cfg;
    WriteFile(gate.config_path(), cfg, 0600);
    CheckAndStartRefuse(gate, "audit.log: directory " + std::string(base) +
                                  " is not searchable by user nobody");
    Run({"rm", "-rf", base});
  }
  SECTION("a missing upstream CA key") {
    Gate gate(dir, kGoodPolicy, "upstream:\n  user_ca_key: no-such-ca\n", false);
    CheckAndStartRefuse(gate, gate.config_path() + ":8:16: upstream.user_ca_key: " + dir +
                                  "/no-such-ca: No such file or directory");
  }
  SECTION("a recordings directory under a file") {
    WriteFile(dir + "/plain-file", "x");
    Gate gate(dir, kGoodPolicy, "", false);
    std::string cfg = ReadFile(gate.config_path());
    cfg.insert(cfg.find("\n", cfg.find("  log: ")) + 1, "  recordings: " + dir + "/plain-file/rec\n");
    WriteFile(gate.config_path(), cfg, 0600);
    CheckAndStartRefuse(gate, "audit.recordings: recordings directory " + dir +
                                  "/plain-file/rec: " + dir + "/plain-file is not a directory");
  }
  SECTION("a metrics address the machine does not have") {
    Gate gate(dir, kGoodPolicy, "metrics:\n  listen: \"192.0.2.1:9642\"\n", false);
    CheckAndStartRefuse(gate, gate.config_path() + ":8:11: metrics.listen: cannot listen on "
                                  "192.0.2.1:9642: Cannot assign requested address");
  }
  SECTION("a truncated public key in the policy") {
    Gate gate(dir,
              "version: 1\nusers:\n  alice:\n    keys: [\"ssh-ed25519 "
              "AAAAC3NzaC1lZDI1NTE5AAAAIMr4 alice@laptop\"]\nrules: []\n",
              "", false);
    CheckAndStartRefuse(gate, gate.policy_path() + ":4:12: invalid ssh-ed25519 key:");
    RunResult h = Run({Gate::HopctlBinary(), "policy", "check", gate.policy_path()});
    CHECK(h.exit_code != 0);
    CHECK(h.err.find("invalid ssh-ed25519 key") != std::string::npos);
  }
  SECTION("a short RSA key") {
    std::string k = dir + "/short";
    REQUIRE(Run({"ssh-keygen", "-q", "-t", "rsa", "-b", "1024", "-N", "", "-f", k}).exit_code == 0);
    std::string line = ReadFile(k + ".pub");
    line.pop_back();
    Gate gate(dir, "version: 1\nusers:\n  alice:\n    keys: [\"" + line + "\"]\nrules: []\n", "",
              false);
    CheckAndStartRefuse(gate, "RSA key of 1024 bits is too small (minimum 2048, "
                              "authentication.min_rsa_bits)");
  }
}

TEST_CASE("--print-config output loads back unchanged") {
  std::string dir = MakeTempDir("print-config");
  Gate gate(dir, kGoodPolicy,
            "limits:\n  idle_timeout_never: 1s\n", false);  // replaced below
  WriteFile(gate.config_path(),
            "version: 1\nlisten: [\"127.0.0.1:" + std::to_string(gate.port()) +
                "\"]\nhost_keys: [host_ed25519]\npolicy: policy.yaml\naudit:\n  log: audit.jsonl\n"
                "recording:\n  notice: \"\"\n",
            0600);
  RunResult first = Run({Gate::Binary(), "--config", gate.config_path(), "--print-config"});
  REQUIRE(first.exit_code == 0);
  std::string printed = dir + "/printed.yaml";
  WriteFile(printed, first.out, 0600);
  RunResult second = Run({Gate::Binary(), "--config", printed, "--print-config"});
  INFO(first.out << second.err);
  REQUIRE(second.exit_code == 0);
  CHECK(second.out == first.out);
  CHECK(Run({Gate::Binary(), "--config", printed, "--check"}).exit_code == 0);
}

TEST_CASE("messages say what is wrong: tabs, version, --version") {
  std::string dir = MakeTempDir("messages");
  Gate gate(dir, "version: 1\nrules:\n\t- name: r\n", "", false);
  RunResult tab = Run({Gate::Binary(), "--config", gate.config_path(), "--check"});
  CHECK(tab.err.find(gate.policy_path() +
                     ":3:1: a tab in the indentation: YAML forbids tabs for indentation") !=
        std::string::npos);
  WriteFile(gate.policy_path(), "version: 2\nrules: []\n");
  RunResult version = Run({Gate::Binary(), "--config", gate.config_path(), "--check"});
  CHECK(version.err.find(gate.policy_path() + ":1:10: version must be 1") != std::string::npos);
  RunResult v = Run({Gate::HopctlBinary(), "--version"});
  CHECK(v.exit_code == 0);
  CHECK(v.out.rfind("hopctl ", 0) == 0);
}

TEST_CASE("generated host keys get a .pub, and hopctl known-hosts prints the exact lines") {
  std::string dir = MakeTempDir("known-hosts");
  Gate gate(dir, "version: 1\nhosts:\n  db1: {address: \"127.0.0.1:2201\", record: true, "
                 "host_key: \"" + GenerateKey(dir, "db1_host").public_line.substr(0, 80) +
                 "\"}\nrules: []\n",
            "upstream:\n  user_ca_key: " + GenerateKey(dir, "ca").private_path + "\n", false);
  std::string policy = ReadFile(gate.policy_path());
  std::string line = GenerateKey(dir, "db1_real").public_line;
  line = line.substr(0, line.rfind(' '));
  policy.replace(policy.find("host_key: \"") + 11, policy.find("\"}", policy.find("host_key")) -
                                                       policy.find("host_key: \"") - 11,
                 line);
  WriteFile(gate.policy_path(), policy);
  gate.Start();
  for (const char* f : {"/host_ed25519.pub", "/recording_host_ed25519.pub"}) {
    INFO(f);
    std::string pub = ReadFile(dir + f);
    CHECK(pub.rfind("ssh-ed25519 AAAA", 0) == 0);
  }
  RunResult kh = Run({Gate::HopctlBinary(), "known-hosts", "--config", gate.config_path(),
                      "--gateway", "gate.example.com:" + std::to_string(gate.port())});
  INFO(kh.err);
  REQUIRE(kh.exit_code == 0);
  std::string host_pub = ReadFile(dir + "/host_ed25519.pub");
  std::string rec_pub = ReadFile(dir + "/recording_host_ed25519.pub");
  CHECK(kh.out.find("[gate.example.com]:" + std::to_string(gate.port()) + " " +
                    host_pub.substr(0, host_pub.rfind(' '))) != std::string::npos);
  CHECK(kh.out.find("db1,[127.0.0.1]:2201 " + rec_pub.substr(0, rec_pub.rfind(' '))) !=
        std::string::npos);
  // The gateway's line is what ssh-keyscan sees.
  RunResult scan = Run({"ssh-keyscan", "-p", std::to_string(gate.port()), "-t", "ed25519",
                        "127.0.0.1"});
  CHECK(scan.out.find(host_pub.substr(0, host_pub.rfind(' '))) != std::string::npos);
}

TEST_CASE("hopctl known-hosts prints the recording key's line before the gateway first starts") {
  std::string dir = MakeTempDir("known-hosts-early");
  KeyPair rec = GenerateKey(dir, "recording_key");
  std::string db1_key = GenerateKey(dir, "db1_real").public_line;
  db1_key = db1_key.substr(0, db1_key.rfind(' '));
  Gate gate(dir,
            "version: 1\nhosts:\n  db1: {address: \"127.0.0.1:2201\", record: true, host_key: \"" +
                db1_key + "\"}\nrules: []\n",
            "upstream:\n  user_ca_key: " + GenerateKey(dir, "ca").private_path +
                "\nrecording:\n  host_key: " + rec.private_path + "\n",
            false);  // never started: its own host key does not exist yet
  RunResult kh = Run({Gate::HopctlBinary(), "known-hosts", "--config", gate.config_path()});
  INFO(kh.err);
  REQUIRE(kh.exit_code == 0);
  std::string want = rec.public_line.substr(0, rec.public_line.rfind(' '));
  CHECK(kh.out.find("db1,[127.0.0.1]:2201 " + want) != std::string::npos);
  // The gateway's own line cannot be printed yet, and it says why.
  RunResult gw = Run({Gate::HopctlBinary(), "known-hosts", "--config", gate.config_path(),
                      "--gateway", "gate.example.com"});
  CHECK(gw.exit_code == 2);
  CHECK(gw.err.find("hopgate generates it at its first start") != std::string::npos);
}

TEST_CASE("hopgate raises its open-files limit to the hard limit and says so") {
  std::string dir = MakeTempDir("rlimit");
  Gate gate(dir, kGoodPolicy, "", false);
  gate.set_launcher({"prlimit", "--nofile=1024:4096", "--"});
  gate.Start();
  REQUIRE(WaitUntil([&] { return gate.Log().find("open-files limit") != std::string::npos; },
                    10'000));
  INFO(gate.Log());
  CHECK(gate.Log().find("open-files limit 4096 (was 1024; hard limit 4096): about 2048 relayed "
                        "connections") != std::string::npos);
  // The process itself runs with it.
  std::string limits = ReadFile("/proc/" + std::to_string(gate.process().pid()) + "/limits");
  CHECK(limits.find("Max open files            4096                 4096") != std::string::npos);
}
