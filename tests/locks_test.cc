// Locks without a fleet database: `hopctl lock/locks/unlock --config FILE`
// write the gateway's locks file (locks.json beside the audit log), the
// gateway notices and applies them. Real ssh -J through the gateway to a
// real sshd; keys and certificates made by ssh-keygen at test time.
#include <catch2/catch.hpp>

#include <signal.h>

#include <chrono>
#include <sstream>

#include "tests/support/harness.h"

using namespace hopgate::testing;
using nlohmann::json;

namespace {

struct World {
  std::string dir = MakeTempDir("locks");
  KeyPair alice = GenerateKey(dir, "alice");
  KeyPair bob = GenerateKey(dir, "bob");
  KeyPair ca = GenerateKey(dir, "user_ca");
  // Certificates for alice are made on carol's key, which the policy does
  // not list: a refused certificate cannot fall back to a listed plain key.
  KeyPair carol = GenerateKey(dir, "carol");
  Sshd target{dir, {alice.public_line, bob.public_line, carol.public_line}};
  Client alice_client{MkDir(dir + "/a"), alice.private_path};
  Client bob_client{MkDir(dir + "/b"), bob.private_path};
  std::unique_ptr<Gate> gate;

  World() {
    std::string policy = "version: 1\nusers:\n  alice:\n    keys: [\"" + alice.public_line +
                         "\"]\n  bob:\n    keys: [\"" + bob.public_line +
                         "\"]\nrules:\n  - name: to-target\n    users: [alice, bob]\n"
                         "    permit_open: [\"127.0.0.1:" + std::to_string(target.port()) + "\"]\n";
    // Refused logins are retried until a lock lifts: no penalties.
    gate = std::make_unique<Gate>(dir, policy,
                                  "authentication:\n  trusted_user_ca_keys: " + ca.public_path +
                                      "\nlimits:\n  per_source_penalty: off\n");
  }
  static std::string MkDir(const std::string& d) {
    Run({"mkdir", "-p", d});
    return d;
  }
  RunResult Login(const Client& c, const std::string& user, const std::string& word) {
    return Run(c.SshJ(user, gate->port(), target.port(), {"echo", word}));
  }
  bool LogsIn(const Client& c, const std::string& user) {
    return Login(c, user, "in").out == "in\n";
  }
  // hopctl SUBCOMMAND ARGS... --config <the gateway's config>
  RunResult Hopctl(std::vector<std::string> args) {
    args.insert(args.begin(), Gate::HopctlBinary());
    args.push_back("--config");
    args.push_back(gate->config_path());
    return Run(args);
  }
  int64_t Lock(const std::vector<std::string>& args) {
    std::vector<std::string> argv = {"lock"};
    argv.insert(argv.end(), args.begin(), args.end());
    RunResult r = Hopctl(argv);
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    return std::stoll(r.out);
  }
  // The reasons of refused logins in the audit log.
  std::vector<std::string> Refusals() const {
    std::vector<std::string> out;
    for (const auto& e : gate->AuditEvents("auth")) {
      if (e["result"] == "failure") out.push_back(e["reason"].get<std::string>());
    }
    return out;
  }
  bool Refused(const std::string& reason) const {
    for (const auto& r : Refusals()) {
      if (r == reason) return true;
    }
    return false;
  }
  // Certifies carol's key for principal alice: a client presenting it.
  Client CertClient(const std::string& name, const std::string& serial) {
    std::string sub = MkDir(dir + "/" + name);
    Run({"cp", carol.private_path, sub + "/id"});
    Run({"cp", carol.public_path, sub + "/id.pub"});
    REQUIRE(Run({"ssh-keygen", "-q", "-s", ca.private_path, "-I", "alice@corp", "-n", "alice",
                 "-z", serial, sub + "/id.pub"}).exit_code == 0);
    return Client(sub, sub + "/id", "  CertificateFile " + sub + "/id-cert.pub\n");
  }
};

}  // namespace

TEST_CASE("a lock on a user cuts her live ssh -J session, refuses her next login, and unlock lets her in") {
  World w;
  Process live(w.alice_client.SshJ("alice", w.gate->port(), w.target.port(), {"sleep", "120"}),
               w.dir + "/live.log");
  REQUIRE(w.gate->WaitForAudit("channel_open", "decision", "allow", 30'000));

  auto start = std::chrono::steady_clock::now();
  int64_t id = w.Lock({"--user", "alice", "--reason", "left the company"});
  REQUIRE(WaitUntil([&] { return !live.Running(); }, 20'000));
  WARN("live session cut " << std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::steady_clock::now() - start).count()
                           << " ms after hopctl lock returned");
  auto applied = w.gate->AuditEvents("lock_applied");
  REQUIRE(applied.size() == 1);
  CHECK(applied[0]["user"] == "alice");
  CHECK(applied[0]["lock_id"] == id);
  CHECK(applied[0]["reason"] == "left the company");
  CHECK(applied[0]["kind"] == "user");
  CHECK(applied[0]["value"] == "alice");
  CHECK(w.gate->Log().find("user \"alice\" locked (lock " + std::to_string(id) +
                           ": left the company): closing the connection") != std::string::npos);

  // Her next login is refused, and audited with the lock; bob is not locked.
  CHECK(w.Login(w.alice_client, "alice", "no").exit_code != 0);
  CHECK(w.Refused("user \"alice\" locked (lock " + std::to_string(id) + ": left the company)"));
  CHECK(w.LogsIn(w.bob_client, "bob"));

  RunResult locks = w.Hopctl({"locks"});
  REQUIRE(locks.exit_code == 0);
  CHECK(locks.out.find("ID  KIND  VALUE") == 0);
  CHECK(locks.out.find(std::to_string(id) + "  user  alice  ") != std::string::npos);
  CHECK(locks.out.find("  never  left the company\n") != std::string::npos);
  // The file is the gateway's locks.file default: beside the audit log.
  CHECK(ReadFile(w.gate->dir() + "/locks.json").find("\"left the company\"") != std::string::npos);

  RunResult unlock = w.Hopctl({"unlock", "--user", "alice"});
  CHECK(unlock.exit_code == 0);
  CHECK(unlock.out == "1 lock lifted\n");
  CHECK(WaitUntil([&] { return w.LogsIn(w.alice_client, "alice"); }, 20'000));
  RunResult again = w.Hopctl({"unlock", std::to_string(id)});
  CHECK(again.exit_code == 1);
  CHECK(again.err == "hopctl: no such lock\n");
  // Ids only grow, even after an unlock.
  CHECK(w.Lock({"--user", "carol"}) == id + 1);
}

TEST_CASE("a lock on a key refuses its holder but not another user's key; bad values are refused") {
  World w;
  std::string fp = KeyFingerprint(w.alice.public_path);
  int64_t id = w.Lock({"--key", fp, "--reason", "laptop stolen"});
  // (A login under way as the lock arrives is cut rather than refused: wait for a refusal.)
  CHECK(WaitUntil([&] {
    return w.Login(w.alice_client, "alice", "no").exit_code != 0 &&
           w.Refused("key " + fp + " locked (lock " + std::to_string(id) + ": laptop stolen)");
  }, 20'000));
  CHECK(w.LogsIn(w.bob_client, "bob"));
  CHECK(w.Hopctl({"locks"}).out.find(std::to_string(id) + "  key  " + fp + "  ") != std::string::npos);

  struct Bad {
    std::vector<std::string> args;
    std::string err;
  };
  for (const Bad& b : {
           Bad{{"--key", "MD5:de:ad"}, "hopctl: --key: not a SHA256 key fingerprint: \"MD5:de:ad\""},
           Bad{{"--key", "SHA256:abc"}, "hopctl: --key: not a SHA256 key fingerprint: \"SHA256:abc\""},
           Bad{{"--source", "10.0.0.1/8"}, "hopctl: --source: not a CIDR block: \"10.0.0.1/8\""},
           Bad{{"--source", "example.com"}, "hopctl: --source: not a CIDR block: \"example.com\""},
           Bad{{"--cert-serial", "-3"}, "hopctl: --cert-serial: not a certificate serial: \"-3\""},
           Bad{{"--user", "alice", "--source", "10.0.0.0/8"},
               "hopctl: give exactly one of --user, --key, --cert-serial, --source"},
           Bad{{}, "hopctl: give exactly one of --user, --key, --cert-serial, --source"},
       }) {
    std::vector<std::string> argv = {"lock"};
    argv.insert(argv.end(), b.args.begin(), b.args.end());
    RunResult r = w.Hopctl(argv);
    INFO(r.err);
    CHECK(r.exit_code == 2);
    CHECK(r.err.rfind(b.err, 0) == 0);
  }
  // Nothing was added by the refused commands.
  CHECK(w.Hopctl({"unlock", "--key", fp}).out == "1 lock lifted\n");
  CHECK(WaitUntil([&] { return w.LogsIn(w.alice_client, "alice"); }, 20'000));
}

TEST_CASE("a lock on a source cuts live sessions from it and refuses logins until its TTL passes") {
  World w;
  Process live(w.bob_client.SshJ("bob", w.gate->port(), w.target.port(), {"sleep", "120"}),
               w.dir + "/live.log");
  REQUIRE(w.gate->WaitForAudit("channel_open", "decision", "allow", 30'000));
  int64_t id = w.Lock({"--source", "127.0.0.0/8", "--ttl", "4s"});
  REQUIRE(WaitUntil([&] { return !live.Running(); }, 20'000));
  auto applied = w.gate->AuditEvents("lock_applied");
  REQUIRE(applied.size() == 1);
  CHECK(applied[0]["user"] == "bob");
  CHECK(applied[0]["kind"] == "source");
  CHECK(applied[0]["value"] == "127.0.0.0/8");
  CHECK(applied[0]["reason"] == "");
  CHECK(w.Login(w.alice_client, "alice", "no").exit_code != 0);
  CHECK(w.Refused("source 127.0.0.1 (in 127.0.0.0/8) locked (lock " + std::to_string(id) + ")"));
  RunResult listed = w.Hopctl({"locks"});
  CHECK(listed.out.find(std::to_string(id) + "  source  127.0.0.0/8  ") != std::string::npos);
  CHECK(listed.out.find("never") == std::string::npos);  // it has an expiry
  // The TTL lifts it by itself.
  CHECK(WaitUntil([&] { return w.LogsIn(w.alice_client, "alice"); }, 30'000));
  CHECK(w.Hopctl({"locks"}).out == "ID  KIND  VALUE  CREATED  EXPIRES  REASON\n");
}

TEST_CASE("locks on a certificate serial and on the CA key that signed it") {
  World w;
  Client cert42 = w.CertClient("c42", "42");
  Client cert43 = w.CertClient("c43", "43");
  REQUIRE(w.LogsIn(cert42, "alice"));
  int64_t serial = w.Lock({"--cert-serial", "042"});
  CHECK(WaitUntil([&] {
    return w.Login(cert42, "alice", "no").exit_code != 0 &&
           w.Refused("certificate serial 42 locked (lock " + std::to_string(serial) + ")");
  }, 20'000));
  CHECK(w.LogsIn(cert43, "alice"));
  CHECK(w.Hopctl({"unlock", "--cert-serial", "42"}).exit_code == 0);

  // A lock on the CA's key: every certificate it signed, whatever its serial.
  std::string ca_fp = KeyFingerprint(w.ca.public_path);
  int64_t by_ca = w.Lock({"--key", ca_fp});
  CHECK(WaitUntil([&] {
    return w.Login(cert43, "alice", "no").exit_code != 0 &&
           w.Refused("certificate authority " + ca_fp + " locked (lock " + std::to_string(by_ca) + ")");
  }, 20'000));
  CHECK(w.Login(cert42, "alice", "no").exit_code != 0);
}

TEST_CASE("a damaged locks file is reported and the last good locks stay; at start it stops the gateway") {
  World w;
  int64_t id = w.Lock({"--user", "alice", "--reason", "on leave"});
  CHECK(WaitUntil([&] {
    return w.Login(w.alice_client, "alice", "no").exit_code != 0 &&
           w.Refused("user \"alice\" locked (lock " + std::to_string(id) + ": on leave)");
  }, 20'000));
  std::string path = w.gate->dir() + "/locks.json";
  std::string good = ReadFile(path);
  WriteFile(path, "{\"version\": 1, \"next_id\": 5, \"locks\": [\n  {\"id\": 4, \"kind\": \"usr\", \"value\": \"x\"}]}\n", 0640);
  REQUIRE(WaitUntil([&] {
    return w.gate->Log().find("locks file " + path + ": locks[0] (id 4): ") != std::string::npos;
  }, 20'000));
  CHECK(w.gate->Log().find("the last good locks (1) stay in force") != std::string::npos);
  CHECK(w.Login(w.alice_client, "alice", "no").exit_code != 0);
  CHECK(w.Refused("user \"alice\" locked (lock " + std::to_string(id) + ": on leave)"));
  CHECK(w.LogsIn(w.bob_client, "bob"));
  // hopctl will not write over it either.
  RunResult lock = w.Hopctl({"lock", "--user", "bob"});
  CHECK(lock.exit_code == 2);
  INFO(lock.err);
  CHECK(lock.err.find("hopctl: locks file: " + path + ": locks[0] (id 4): unknown lock kind \"usr\"") == 0);
  CHECK(ReadFile(path).find("usr") != std::string::npos);

  // A gateway started on a damaged file refuses to start rather than run without its locks.
  w.gate->process().Signal(SIGTERM);
  REQUIRE(w.gate->process().Wait(30'000).has_value());
  RunResult start = Run({Gate::Binary(), "--config", w.gate->config_path()}, "", 30'000);
  CHECK_FALSE(start.timed_out);
  CHECK(start.exit_code != 0);
  CHECK((start.out + start.err).find(path + ": locks[0] (id 4): unknown lock kind \"usr\"") !=
        std::string::npos);
  // hopgate --check says the same.
  RunResult check = Run({Gate::Binary(), "--check", "--config", w.gate->config_path()});
  CHECK(check.exit_code != 0);
  CHECK((check.out + check.err).find("locks.file (default): " + path + ": locks[0] (id 4)") !=
        std::string::npos);
  // Repaired, it starts with the lock in force.
  WriteFile(path, good, 0640);
  w.gate->Start();
  CHECK(w.Login(w.alice_client, "alice", "no").exit_code != 0);
  CHECK(w.LogsIn(w.bob_client, "bob"));
}
