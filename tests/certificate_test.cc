// Certificate login through hopgate with real `ssh -J`, certificates made by
// ssh-keygen at test time, and revocation that closes live sessions.
#include <catch2/catch.hpp>

#include <signal.h>

#include "tests/support/harness.h"

using namespace hopgate::testing;

namespace {

struct World {
  std::string dir = MakeTempDir("certs");
  KeyPair ca = GenerateKey(dir, "user_ca");
  KeyPair other_ca = GenerateKey(dir, "other_ca");
  KeyPair user = GenerateKey(dir, "alice");
  Sshd target{dir, {user.public_line}};
  std::string krl = dir + "/revoked.krl";
  std::unique_ptr<Gate> gate;
  int cert_counter = 0;

  World() {
    // An empty KRL to start with.
    WriteFile(dir + "/krl.spec", "");
    REQUIRE(Run({"ssh-keygen", "-q", "-k", "-f", krl, "-s", ca.public_path, dir + "/krl.spec"})
                .exit_code == 0);
    // alice is not listed under users: her certificate is enough.
    std::string policy =
        "version: 1\n"
        "users:\n"
        "  bob:\n"
        "    keys: [\"" + other_ca.public_line + "\"]\n"
        "rules:\n"
        "  - name: alice-to-target\n"
        "    users: [alice]\n"
        "    permit_open: [\"127.0.0.1:" + std::to_string(target.port()) + "\"]\n";
    gate = std::make_unique<Gate>(dir, policy,
                                  "authentication:\n"
                                  "  trusted_user_ca_keys: " + ca.public_path + "\n"
                                  "  revoked_keys: " + krl + "\n"
                                  // One client tries certificate after refused
                                  // certificate here: no per-source penalty.
                                  "limits:\n  per_source_penalty: off\n");
  }

  // Signs alice's key with `signer`, returning a client that presents it.
  Client CertClient(const std::vector<std::string>& options, const KeyPair* signer = nullptr) {
    std::string sub = dir + "/client" + std::to_string(cert_counter++);
    Run({"mkdir", "-p", sub});
    Run({"cp", user.private_path, sub + "/id"});
    Run({"cp", user.public_path, sub + "/id.pub"});
    std::vector<std::string> argv = {"ssh-keygen", "-q", "-s",
                                     (signer ? *signer : ca).private_path};
    argv.insert(argv.end(), options.begin(), options.end());
    argv.push_back(sub + "/id.pub");
    RunResult r = Run(argv);
    REQUIRE(r.exit_code == 0);
    return Client(sub, sub + "/id", "  CertificateFile " + sub + "/id-cert.pub\n");
  }

  RunResult Echo(const Client& c) const {
    return Run(c.SshJ("alice", gate->port(), target.port(), {"echo", "ok"}));
  }

  // The reason of the last refused certificate login.
  std::string LastCertificateRefusal() const {
    std::string reason;
    for (const auto& e : gate->AuditEvents("auth")) {
      if (e["method"] == "certificate" && e["result"] == "failure") reason = e["reason"];
    }
    return reason;
  }

  void Revoke(const std::string& spec) {
    WriteFile(dir + "/krl.spec", spec + "\n");
    RunResult r = Run({"ssh-keygen", "-q", "-k", "-u", "-f", krl, "-s", ca.public_path,
                       dir + "/krl.spec"});
    REQUIRE(r.exit_code == 0);
  }
};

}  // namespace

TEST_CASE("a valid certificate logs in through -J, and the audit log describes it") {
  World w;
  Client c = w.CertClient({"-I", "alice@corp", "-n", "alice,ops", "-z", "7", "-V", "-5m:+1h"});
  RunResult r = w.Echo(c);
  INFO(r.err << w.gate->Log());
  REQUIRE(r.exit_code == 0);
  CHECK(r.out == "ok\n");
  nlohmann::json ok;
  for (const auto& e : w.gate->AuditEvents("auth")) {
    if (e["result"] == "success") ok = e;
  }
  REQUIRE(!ok.is_null());
  CHECK(ok["method"] == "certificate");
  CHECK(ok["user"] == "alice");
  CHECK(ok["key_type"] == "ssh-ed25519-cert-v01@openssh.com");
  CHECK(ok["certificate"]["key_id"] == "alice@corp");
  CHECK(ok["certificate"]["serial"] == 7);
  CHECK(ok["certificate"]["principals"] == nlohmann::json::array({"alice", "ops"}));
  // Fingerprints as OpenSSH prints them: of the certified key and of the CA.
  std::string user_fp = Run({"ssh-keygen", "-l", "-f", w.user.public_path}).out;
  std::string ca_fp = Run({"ssh-keygen", "-l", "-f", w.ca.public_path}).out;
  CHECK(user_fp.find(ok["fingerprint"].get<std::string>()) != std::string::npos);
  CHECK(ca_fp.find(ok["certificate"]["ca_fingerprint"].get<std::string>()) != std::string::npos);
  CHECK(ok["certificate"]["valid_before"].get<std::string>().size() == 20);  // RFC 3339
}

TEST_CASE("every certificate sshd would refuse, hopgate refuses, saying why") {
  World w;
  struct Case {
    const char* what;
    std::vector<std::string> options;
    const KeyPair* signer;
    std::string reason_prefix;
  };
  std::vector<Case> cases = {
      {"expired", {"-I", "a", "-n", "alice", "-V", "20200101:20200102"}, nullptr,
       "expired at 2020-01-02T"},
      {"not yet valid", {"-I", "a", "-n", "alice", "-V", "+1d:+2d"}, nullptr, "not valid before "},
      {"wrong principal", {"-I", "a", "-n", "bob", "-V", "-5m:+1h"}, nullptr,
       "principal \"alice\" not listed"},
      {"untrusted CA", {"-I", "a", "-n", "alice"}, &w.other_ca, "CA SHA256:"},
      {"source-address mismatch",
       {"-I", "a", "-n", "alice", "-O", "source-address=10.9.9.0/24"}, nullptr,
       "source address 127.0.0.1 not in 10.9.9.0/24"},
      {"unknown critical option", {"-I", "a", "-n", "alice", "-O", "critical:frobnicate=1"},
       nullptr, "unsupported critical option \"frobnicate\""},
      // (A host certificate is refused too, but the OpenSSH client will not
      // even offer one for user authentication; certs/ tests cover it.)
  };
  for (const auto& c : cases) {
    INFO(c.what);
    Client client = w.CertClient(c.options, c.signer);
    RunResult r = w.Echo(client);
    CHECK(r.exit_code == 255);
    CHECK(r.out.empty());
    CHECK(w.LastCertificateRefusal().rfind(c.reason_prefix, 0) == 0);
  }
  // Nothing reached the target.
  CHECK(ReadFile(w.target.log_path()).find("Accepted") == std::string::npos);
}

TEST_CASE("a certificate without permit-port-forwarding gets no direct-tcpip, as with sshd") {
  World w;
  Client c = w.CertClient({"-I", "alice@corp", "-n", "alice", "-O", "no-port-forwarding"});
  RunResult r = w.Echo(c);
  CHECK(r.exit_code == 255);
  REQUIRE(w.gate->WaitForAudit("channel_open", "decision", "deny", 5000));
  auto deny = w.gate->AuditEvents("channel_open").back();
  CHECK(deny["rule"] == "alice-to-target");
  CHECK(deny["reason"] == "certificate \"alice@corp\" does not permit port forwarding");
}

TEST_CASE("revocation by serial refuses new logins and closes the live session") {
  World w;
  Client c = w.CertClient({"-I", "alice@corp", "-n", "alice", "-z", "42"});
  Process live(c.SshJ("alice", w.gate->port(), w.target.port(), {"sleep", "120"}),
               w.dir + "/live.log");
  REQUIRE(w.gate->WaitForAudit("channel_open", "decision", "allow", 15'000));
  w.Revoke("serial: 42");
  // The change of the KRL file is picked up without a signal.
  REQUIRE(w.gate->WaitForAudit("credential_revoked", "reason", "revoked (serial 42)", 10'000));
  CHECK(live.Wait(15'000).has_value());
  REQUIRE(w.gate->WaitForAudit("connection_close", "reason", "credential revoked (serial 42)",
                               5000));
  // A new login with the same certificate is refused.
  RunResult again = w.Echo(c);
  CHECK(again.exit_code == 255);
  CHECK(w.LastCertificateRefusal() == "revoked (serial 42)");
  // Other certificates still work.
  Client fresh = w.CertClient({"-I", "alice@corp", "-n", "alice", "-z", "43"});
  CHECK(w.Echo(fresh).out == "ok\n");
}

TEST_CASE("revoking a plain key in the KRL closes her live session; key ids revoke too") {
  World w;
  // bob logs in with a plain key listed in the policy.
  std::string bob_dir = w.dir + "/bob";
  Run({"mkdir", "-p", bob_dir});
  KeyPair bob = GenerateKey(bob_dir, "bob");
  std::string policy = ReadFile(w.gate->policy_path());
  size_t at = policy.find(w.other_ca.public_line);
  policy.replace(at, w.other_ca.public_line.size(), bob.public_line);
  policy += "  - name: bob-to-target\n    users: [bob]\n    permit_open: [\"127.0.0.1:" +
            std::to_string(w.target.port()) + "\"]\n";
  WriteFile(w.gate->policy_path(), policy);
  w.gate->process().Signal(SIGHUP);
  REQUIRE(w.gate->WaitForAudit("policy_reload", "result", "success", 10'000));
  Client bob_client(bob_dir, bob.private_path);
  // The target must accept bob's key for the inner login too.
  WriteFile(w.dir + "/authorized_keys", w.user.public_line + "\n" + bob.public_line + "\n", 0600);
  Process live(bob_client.SshJ("bob", w.gate->port(), w.target.port(), {"sleep", "120"}),
               w.dir + "/bob-live.log");
  REQUIRE(WaitUntil([&] {
    for (const auto& e : w.gate->AuditEvents("auth")) {
      if (e["user"] == "bob" && e["result"] == "success") return true;
    }
    return false;
  }, 15'000));
  w.Revoke("key: " + bob.public_line);
  REQUIRE(w.gate->WaitForAudit("credential_revoked", "user", "bob", 10'000));
  CHECK(live.Wait(15'000).has_value());
  RunResult again = Run(bob_client.SshJ("bob", w.gate->port(), w.target.port(), {"true"}));
  CHECK(again.exit_code == 255);
  std::string last;
  for (const auto& e : w.gate->AuditEvents("auth")) {
    if (e["user"] == "bob" && e["result"] == "failure") last = e["reason"];
  }
  CHECK(last.rfind("revoked (key SHA256:", 0) == 0);

  // Revocation by key id.
  Client c = w.CertClient({"-I", "laptop-stolen", "-n", "alice"});
  REQUIRE(w.Echo(c).out == "ok\n");
  w.Revoke("id: laptop-stolen");
  // A login in flight while the KRL changes is closed rather than refused:
  // keep trying until a login is refused at authentication.
  INFO(ReadFile(w.gate->audit_path()));
  CHECK(WaitUntil([&] {
    return w.Echo(c).exit_code == 255 &&
           w.LastCertificateRefusal() == "revoked (key id \"laptop-stolen\")";
  }, 10'000));
}
