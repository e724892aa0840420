// The hopgate command line: --check like sshd -t, and refusing to start on
// bad input without leaving anything half-started.
#include <catch2/catch.hpp>

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

  WriteFile(gate.config_path(), "version: 1\nlisten: [\"127.0.0.1:0\"]\nhost_keys: [k]\n"
                                "policy: p\naudit: {log: a}\nlimits: {login_grace: 5s}\n");
  RunResult c = Run({Gate::Binary(), "--config", gate.config_path(), "--check"});
  CHECK(c.exit_code == 1);
  CHECK(c.err.find(gate.config_path() + ":2:10: listen: invalid port \"0\"") != std::string::npos);
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
  CHECK_FALSE(WaitForPort(gate.port(), 300));
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
