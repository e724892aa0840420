// `ssh -J` through hopgate to a real OpenSSH sshd, with real ssh and scp.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <future>
#include <thread>

#include "tests/support/harness.h"

using namespace hopgate::testing;

namespace {

struct World {
  std::string dir = MakeTempDir("passthrough");
  KeyPair alice = GenerateKey(dir, "alice");
  KeyPair bob = GenerateKey(dir, "bob");
  Sshd target{dir, {alice.public_line}};
  std::string policy;
  std::unique_ptr<Gate> gate;
  Client client{dir, alice.private_path};

  explicit World(const std::string& extra_config = "") {
    policy = "version: 1\n"
             "users:\n"
             "  alice:\n"
             "    keys: [\"" + alice.public_line + "\"]\n"
             "  bob:\n"
             "    keys: [\"" + bob.public_line + "\"]\n"
             "hosts:\n"
             "  target: {address: \"127.0.0.1:" + std::to_string(target.port()) + "\"}\n"
             "rules:\n"
             "  - name: alice-to-target\n"
             "    users: [alice]\n"
             "    permit_open: [\"127.0.0.1:" + std::to_string(target.port()) + "\", \"target:22\"]\n";
    gate = std::make_unique<Gate>(dir, policy, extra_config);
  }
};

}  // namespace

TEST_CASE("ssh -J through hopgate runs a command on the target") {
  World w;
  RunResult r = Run(w.client.SshJ("alice", w.gate->port(), w.target.port(), {"echo", "ok"}));
  INFO(r.err << w.gate->Log() << ReadFile(w.target.log_path()));
  CHECK(r.exit_code == 0);
  CHECK(r.out == "ok\n");

  // The exit status and stderr of the remote command come back unchanged.
  RunResult e = Run(w.client.SshJ("alice", w.gate->port(), w.target.port(),
                                  {"echo out; echo err >&2; exit 42"}));
  CHECK(e.exit_code == 42);
  CHECK(e.out == "out\n");
  CHECK(e.err.find("err\n") != std::string::npos);

  // A hosts: entry name works as the destination and dials its address.
  RunResult named = Run(w.client.SshJ("alice", w.gate->port(), 22, {"echo", "named"}, "target"));
  INFO(named.err);
  CHECK(named.out == "named\n");

  // The audit log has the whole story, one JSON object per line.
  auto auth = w.gate->AuditEvents("auth");
  REQUIRE(!auth.empty());
  CHECK(auth[0]["user"] == "alice");
  CHECK(auth[0]["result"] == "success");
  CHECK(auth[0]["key_type"] == "ssh-ed25519");
  std::string fp = Run({"ssh-keygen", "-l", "-E", "sha256", "-f", w.alice.public_path}).out;
  CHECK(fp.find(auth[0]["fingerprint"].get<std::string>()) != std::string::npos);
  auto opens = w.gate->AuditEvents("channel_open");
  REQUIRE(opens.size() >= 3);
  CHECK(opens[0]["decision"] == "allow");
  CHECK(opens[0]["rule"] == "alice-to-target");
  CHECK(opens[0]["destination"] == "127.0.0.1:" + std::to_string(w.target.port()));
  CHECK(opens[2]["destination"] == "target:22");
  CHECK(opens[2]["dial"] == "127.0.0.1:" + std::to_string(w.target.port()));
  REQUIRE(w.gate->WaitForAudit("connection_close", "user", "alice", 5000));
  auto closes = w.gate->AuditEvents("channel_close");
  REQUIRE(!closes.empty());
  CHECK(closes[0]["bytes_client_to_target"].get<uint64_t>() > 1000);
  CHECK(closes[0]["bytes_target_to_client"].get<uint64_t>() > 1000);
  for (const auto& e : w.gate->Audit()) {
    CHECK(e.contains("ts"));
    CHECK(e["ts"].get<std::string>().size() == 24);  // 2026-11-21T14:00:00.123Z
  }
}

TEST_CASE("a 64 MiB file goes up and down through -J intact") {
  World w;
  std::string src = w.dir + "/random.bin";
  WriteRandomFile(src, 64 << 20);
  std::string want = Sha256OfFile(src);
  std::string up = w.dir + "/uploaded.bin";
  RunResult r1 = Run(w.client.ScpJ("alice", w.gate->port(), w.target.port(), src,
                                   "root@127.0.0.1:" + up),
                     "", 180'000);
  INFO(r1.err);
  REQUIRE(r1.exit_code == 0);
  CHECK(Sha256OfFile(up) == want);
  std::string down = w.dir + "/downloaded.bin";
  RunResult r2 = Run(w.client.ScpJ("alice", w.gate->port(), w.target.port(),
                                   "root@127.0.0.1:" + src, down),
                     "", 180'000);
  INFO(r2.err);
  REQUIRE(r2.exit_code == 0);
  CHECK(Sha256OfFile(down) == want);
}

TEST_CASE("20 parallel ssh -J sessions all succeed") {
  // All 20 are in key exchange at once from one address: more than the
  // default per_source_max_startups (10), which such a host must raise.
  World w("limits:\n  per_source_max_startups: 20\n");
  std::vector<std::future<RunResult>> runs;
  for (int i = 0; i < 20; ++i) {
    runs.push_back(std::async(std::launch::async, [&w, i] {
      return Run(w.client.SshJ("alice", w.gate->port(), w.target.port(),
                               {"sleep 1; echo session-" + std::to_string(i)}),
                 "", 120'000);
    }));
  }
  int ok = 0;
  for (int i = 0; i < 20; ++i) {
    RunResult r = runs[i].get();
    INFO("session " << i << ": " << r.err);
    CHECK(r.out == "session-" + std::to_string(i) + "\n");
    ok += r.exit_code == 0;
  }
  CHECK(ok == 20);
}

TEST_CASE("a key not listed for the user is refused and audited") {
  World w;
  Client bob_as_alice(MakeTempDir("bobkey"), w.bob.private_path);
  RunResult r = Run(bob_as_alice.SshJ("alice", w.gate->port(), w.target.port(), {"echo", "no"}));
  CHECK(r.exit_code == 255);
  CHECK(r.out.empty());
  CHECK(r.err.find("Permission denied") != std::string::npos);
  REQUIRE(w.gate->WaitForAudit("auth", "result", "failure", 5000));
  auto auth = w.gate->AuditEvents("auth");
  CHECK(auth[0]["user"] == "alice");
  CHECK(auth[0]["reason"] == "key is not listed for user \"alice\"");
  for (const auto& e : auth) CHECK(e["result"] == "failure");

  // An unknown user is refused the same way, and so is a password.
  Client other(MakeTempDir("other"), w.alice.private_path);
  CHECK(Run(other.SshJ("mallory", w.gate->port(), w.target.port(), {"true"})).exit_code == 255);
  REQUIRE(w.gate->WaitForAudit("auth", "reason", "user \"mallory\" is not in the policy", 5000));
  Client password(MakeTempDir("pw"), "/nonexistent",
                  "  PreferredAuthentications password\n  NumberOfPasswordPrompts 1\n");
  RunResult pw = Run(password.SshGate("alice", w.gate->port(), {"true"}));
  CHECK(pw.exit_code == 255);
}

TEST_CASE("a destination no rule permits is refused, with the reason in the audit log") {
  World w;
  Sshd other(MakeTempDir("other-target"), {w.alice.public_line});
  RunResult r = Run(w.client.SshJ("alice", w.gate->port(), other.port(), {"echo", "no"}));
  CHECK(r.exit_code == 255);
  CHECK(r.out.empty());
  CHECK(r.err.find("stdio forwarding failed") != std::string::npos);
  std::string dest = "127.0.0.1:" + std::to_string(other.port());
  REQUIRE(w.gate->WaitForAudit("channel_open", "destination", dest, 5000));
  for (const auto& e : w.gate->AuditEvents("channel_open")) {
    if (e["destination"] != dest) continue;
    CHECK(e["decision"] == "deny");
    CHECK(e["rule"] == "");
    CHECK(e["reason"] == "no rule permits direct-tcpip to " + dest + " for user alice");
  }
  // Nothing reached the other sshd.
  CHECK(ReadFile(other.log_path()).find("Accepted") == std::string::npos);
}

TEST_CASE("a client that never authenticates is dropped at login_grace_time") {
  World w("limits:\n  login_grace_time: 2s\n");
  // A TCP connection that never even sends its version string...
  int silent = ConnectRaw(w.gate->port());
  REQUIRE(silent >= 0);
  // ...and one that completes key exchange but never authenticates.
  int kex_only = ConnectRaw(w.gate->port());
  REQUIRE(kex_only >= 0);
  std::string banner = "SSH-2.0-OpenSSH_9.2p1 test\r\n";
  CHECK(write(kex_only, banner.data(), banner.size()) == static_cast<ssize_t>(banner.size()));
  auto silent_wait = std::async(std::launch::async, [&] { return SecondsUntilClosed(silent, 20); });
  double kex_seconds = SecondsUntilClosed(kex_only, 20);
  double silent_seconds = silent_wait.get();
  close(silent);
  close(kex_only);
  CHECK(silent_seconds >= 1.5);
  CHECK(silent_seconds < 10);
  CHECK(kex_seconds >= 1.5);
  CHECK(kex_seconds < 10);
  auto grace_closes = [&] {
    int n = 0;
    for (const auto& e : w.gate->AuditEvents("connection_close")) {
      n += e["reason"].get<std::string>().find("login grace time exceeded") == 0;
    }
    return n;
  };
  WaitUntil([&] { return grace_closes() >= 2; }, 5000);
  CHECK(grace_closes() == 2);
}

TEST_CASE("max_startups refuses connections beyond the unauthenticated limit") {
  World w("limits:\n  max_startups: 2\n  login_grace_time: 20s\n");
  int a = ConnectRaw(w.gate->port());
  int b = ConnectRaw(w.gate->port());
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  int c = ConnectRaw(w.gate->port());
  // The third is closed at once; the first two are still waiting.
  CHECK(SecondsUntilClosed(c, 5) < 2);
  close(c);
  RunResult r = Run(w.client.SshJ("alice", w.gate->port(), w.target.port(), {"echo", "ok"}));
  CHECK(r.exit_code == 255);
  close(a);
  close(b);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  RunResult again = Run(w.client.SshJ("alice", w.gate->port(), w.target.port(), {"echo", "ok"}));
  CHECK(again.out == "ok\n");
}

TEST_CASE("ssh to the gateway itself gets no shell, just where to go") {
  World w;
  RunResult r = Run(w.client.SshGate("alice", w.gate->port()));
  CHECK(r.exit_code == 0);
  CHECK(r.out.find("hopgate: this is an SSH gateway") != std::string::npos);
  CHECK(r.out.find("target:22") != std::string::npos);
  RunResult cmd = Run(w.client.SshGate("alice", w.gate->port(), {"id"}));
  CHECK(cmd.exit_code == 0);
  CHECK(cmd.out.find("uid=") == std::string::npos);
  RunResult sftp = Run({"sftp", "-F", w.client.config_path(), "-P", std::to_string(w.gate->port()),
                        "alice@127.0.0.1"},
                       "ls\n");
  CHECK(sftp.exit_code != 0);
}

TEST_CASE("SIGTERM stops the daemon cleanly with the audit log complete") {
  World w;
  Process session(w.client.SshJ("alice", w.gate->port(), w.target.port(), {"sleep", "60"}),
                  w.dir + "/session.log");
  REQUIRE(w.gate->WaitForAudit("channel_open", "decision", "allow", 15'000));
  w.gate->process().Signal(SIGTERM);
  auto code = w.gate->process().Wait(15'000);
  REQUIRE(code.has_value());
  CHECK(*code == 0);
  // The client's session ends too.
  CHECK(session.Wait(15'000).has_value());
  auto events = w.gate->Audit();  // every line parses
  REQUIRE(!events.empty());
  // The last line is the shutdown checkpoint, signing everything up to and
  // including server_stop.
  REQUIRE(events.size() >= 2);
  CHECK(events.back()["type"] == "checkpoint");
  CHECK(events.back()["reason"] == "shutdown");
  CHECK(events.back()["tree_size"] == events.size() - 1);
  const auto& stop = events[events.size() - 2];
  CHECK(stop["type"] == "server_stop");
  CHECK(stop["reason"] == "SIGTERM");
  CHECK(stop["connections_closed"] == 1);
  int opens = 0, closes = 0, chan_opens = 0, chan_closes = 0;
  for (const auto& e : events) {
    opens += e["type"] == "connection_open";
    closes += e["type"] == "connection_close";
    chan_opens += e["type"] == "channel_open" && e["decision"] == "allow";
    chan_closes += e["type"] == "channel_close";
  }
  CHECK(opens == 1);
  CHECK(closes == 1);
  CHECK(chan_opens == 1);
  CHECK(chan_closes == 1);
  CHECK(w.gate->AuditEvents("connection_close")[0]["reason"] == "gateway shutting down");
}
