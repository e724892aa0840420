// Decisions on what is dialled, attacked as a hostile user would with the
// real OpenSSH client: every spelling of a denied address or host is refused,
// a name is decided on the addresses it resolves to (a hosts file the test
// controls, bind-mounted in a private mount namespace), recorded hosts are
// recorded whatever the spelling, and no hop through a recorded session
// reaches SSH unrecorded.
#include <catch2/catch.hpp>

#include <unistd.h>

#include "tests/support/harness.h"

using namespace hopgate::testing;

namespace {

const char* kPython = "/usr/bin/python3";

// A TCP service on a port of its own that greets every connection with
// "hello-<tag>", each Banner with a different tag.
struct Banner {
  int port = 0;
  std::string tag;
  std::unique_ptr<Process> proc;
  explicit Banner(const std::string& dir, const std::string& bind = "127.0.0.1") {
    static int count = 0;
    tag = std::to_string(++count);
    std::string log = dir + "/banner-" + tag + ".log";
    proc = std::make_unique<Process>(
        std::vector<std::string>{kPython, HostileClient(), "serve", "--port", "0", "--banner",
                                 "hello-" + tag, "--bind", bind},
        log);
    port = ListeningPort(log, *proc);
  }
  std::string greeting() const { return "hello-" + tag + "\n"; }
};

struct World {
  std::string dir = MakeTempDir("destinations");
  KeyPair alice = GenerateKey(dir, "alice");
  Client client{dir, alice.private_path};
  std::unique_ptr<Gate> gate;

  // `hosts` and `rules` are YAML under those keys; alice exists.
  void Start(const std::string& hosts, const std::string& rules,
             std::vector<std::string> launcher = {}) {
    std::string policy = "version: 1\nusers:\n  alice:\n    keys: [\"" + alice.public_line +
                         "\"]\n" + (hosts.empty() ? "" : "hosts:\n" + hosts) + "rules:\n" +
                         rules;
    gate = std::make_unique<Gate>(dir, policy, "", false);
    if (!launcher.empty()) gate->set_launcher(launcher);
    gate->Start();
  }

  // ssh -W host:port through the gateway: what the service sent, or "".
  RunResult W(const std::string& dest) const {
    return Run({"ssh", "-F", client.config_path(), "-p", std::to_string(gate->port()), "-W",
                dest, "alice@127.0.0.1"},
               "", 30'000);
  }

  nlohmann::json OpenEvent(const std::string& destination) const {
    for (const auto& e : gate->AuditEvents("channel_open")) {
      if (e.value("destination", "") == destination) return e;
    }
    return nullptr;
  }
};

std::string Port(int p) { return std::to_string(p); }

}  // namespace

TEST_CASE("a deny on an address holds for every spelling of it") {
  World w;
  Banner denied(w.dir), open(w.dir);
  w.Start("", "  - name: no-local\n    effect: deny\n    destinations: [\"127.0.0.1/32:" +
                  Port(denied.port) + "\"]\n  - name: anything\n    users: [alice]\n"
                  "    permit_open: [\"*:*\"]\n");
  for (std::string spelling : {"127.0.0.1", "127.1", "2130706433", "0x7f.0.0.1", "0177.0.0.1",
                               "127.0.0.01", "[::ffff:127.0.0.1]", "localhost"}) {
    INFO(spelling);
    std::string dest = spelling + ":" + Port(denied.port);
    RunResult r = w.W(dest);
    CHECK(r.exit_code != 0);
    CHECK(r.out.find("hello") == std::string::npos);
    std::string as_sent = spelling == "[::ffff:127.0.0.1]"
                              ? "[::ffff:127.0.0.1]:" + Port(denied.port)
                              : dest;
    auto e = w.OpenEvent(as_sent);
    REQUIRE(e != nullptr);
    CHECK(e["decision"] == "deny");
    CHECK(e["rule"] == "no-local");
  }
  // localhost was decided on what it resolved to.
  auto local = w.OpenEvent("localhost:" + Port(denied.port));
  REQUIRE(local.contains("addresses"));
  CHECK(local["addresses"].dump().find("127.0.0.1") != std::string::npos);
  // Another port of the same address is allowed and dialled as decided.
  RunResult ok = w.W("0x7f.1:" + Port(open.port));
  INFO(ok.err << w.gate->Log());
  CHECK(ok.out == open.greeting());
  auto e = w.OpenEvent("0x7f.1:" + Port(open.port));
  REQUIRE(e != nullptr);
  CHECK(e["dial"] == "127.0.0.1:" + Port(open.port));
}

TEST_CASE("a deny on a host holds for its aliases, its address and hosts sharing it") {
  World w;
  Banner secret(w.dir), other(w.dir);
  std::string at = "127.0.0.1:" + Port(secret.port);
  w.Start("  secret: {address: \"" + at + "\", aliases: [secret.internal]}\n"
          "  public: {address: \"" + at + "\"}\n",
          "  - name: no-secret\n    effect: deny\n    destinations: [\"secret:*\"]\n"
          "  - name: anything\n    users: [alice]\n    permit_open: [\"*:*\"]\n");
  for (std::string dest : std::vector<std::string>{"secret:22", "SECRET.internal.:22", at, "127.1:" + Port(secret.port),
                           "[::ffff:127.0.0.1]:" + Port(secret.port), "public:22",
                           "localhost:" + Port(secret.port), "127.0.0.1:" + Port(other.port)}) {
    INFO(dest);
    RunResult r = w.W(dest);
    CHECK(r.out.find("hello") == std::string::npos);
    CHECK(r.exit_code != 0);
  }
  int denied = 0;
  for (const auto& e : w.gate->AuditEvents("channel_open")) {
    CHECK(e["decision"] == "deny");
    CHECK(e["rule"] == "no-secret");
    ++denied;
  }
  CHECK(denied == 8);
}

TEST_CASE("names are decided on what they resolve to, and dialled as resolved") {
  World w;
  Banner local(w.dir), second(w.dir, "127.0.0.2");
  std::string hosts = w.dir + "/hosts";
  WriteFile(hosts,
            "127.0.0.1 localhost\n"
            "127.0.0.1 evil.example\n"
            "127.0.0.3 10.0.3.9.evil.example\n"
            "127.0.0.2 fine.example\n");
  // The gateway runs in a private mount namespace whose /etc/hosts is ours.
  setenv("HOSTS", hosts.c_str(), 1);
  std::vector<std::string> in_ns = {"unshare", "--mount", "--propagation", "private", "sh", "-c",
                                    "mount --bind \"$HOSTS\" /etc/hosts && exec \"$0\" \"$@\""};
  std::string p1 = Port(local.port), p2 = Port(second.port);
  w.Start("",
          "  - name: no-local\n    effect: deny\n    destinations: [\"127.0.0.1/32:" + p1 +
              "\"]\n  - name: named\n    users: [alice]\n    permit_open: [\"10.0.3.*:" + p2 +
              "\", \"fine.example:" + p2 + "\", \"evil.example:" + p1 + "\"]\n",
          in_ns);
  // A name that resolves to a denied address is denied, even where a rule
  // allows the name.
  RunResult evil = w.W("evil.example:" + p1);
  CHECK(evil.out.empty());
  auto e = w.OpenEvent("evil.example:" + p1);
  REQUIRE(e != nullptr);
  CHECK(e["rule"] == "no-local");
  CHECK(e["addresses"] == nlohmann::json::array({"127.0.0.1"}));
  // An address pattern never matches a name that only looks like an address
  // (the first version allowed this one and dialled what DNS said).
  RunResult spoof = w.W("10.0.3.9.evil.example:" + p2);
  CHECK(spoof.out.empty());
  auto s = w.OpenEvent("10.0.3.9.evil.example:" + p2);
  REQUIRE(s != nullptr);
  CHECK(s["decision"] == "deny");
  CHECK(s["rule"] == "");
  // An allowed name is dialled at exactly the address it was decided on.
  RunResult fine = w.W("fine.example:" + p2);
  INFO(fine.err << w.gate->Log());
  CHECK(fine.out == second.greeting());
  auto f = w.OpenEvent("fine.example:" + p2);
  REQUIRE(f != nullptr);
  CHECK(f["dial"] == "127.0.0.2:" + p2);
  // `hopctl policy explain` resolves the same way in that namespace.
  std::vector<std::string> explain = in_ns;
  for (const auto& a : {Gate::HopctlBinary(), std::string("policy"), std::string("explain"),
                        w.gate->policy_path(), std::string("--user"), std::string("alice"),
                        std::string("--open"), "evil.example:" + p1}) {
    explain.push_back(a);
  }
  RunResult ex = Run(explain);
  INFO(ex.out << ex.err);
  CHECK(ex.out.find("resolved:   evil.example -> 127.0.0.1") != std::string::npos);
  CHECK(ex.out.find("DENY") != std::string::npos);
  CHECK(ex.exit_code == 1);
}

TEST_CASE("a recorded host is recorded whatever the spelling of its address") {
  World w;
  KeyPair ca = GenerateKey(w.dir, "upstream_ca");
  std::string tdir = w.dir + "/target";
  Run({"mkdir", "-p", tdir});
  Sshd target(tdir, {}, "TrustedUserCAKeys " + ca.public_path + "\n");
  std::string at = "127.0.0.1:" + Port(target.port());
  std::string policy = "version: 1\nusers:\n  alice:\n    keys: [\"" + w.alice.public_line +
                       "\"]\nhosts:\n  db1:\n    address: \"" + at +
                       "\"\n    record: true\n    host_key: \"" + target.host_key_line() +
                       "\"\n  alias-entry: {address: \"" + at +
                       "\"}\nrules:\n  - name: anything\n    users: [alice]\n"
                       "    permit_open: [\"*:*\"]\n    logins: [root]\n";
  w.gate = std::make_unique<Gate>(w.dir, policy,
                                  "upstream:\n  user_ca_key: " + ca.private_path + "\n");
  int n = 0;
  for (std::string host : {"db1", "127.1", "::ffff:127.0.0.1", "2130706433", "alias-entry"}) {
    INFO(host);
    std::string port = host == "db1" || host == "alias-entry" ? "22" : Port(target.port());
    RunResult r = Run({"ssh", "-F", w.client.config_path(), "-J",
                       "alice@127.0.0.1:" + Port(w.gate->port()), "-p", port, "root@" + host,
                       "echo recorded-" + std::to_string(n)});
    INFO(r.err << w.gate->Log());
    CHECK(r.out == "recorded-" + std::to_string(n) + "\n");
    ++n;
  }
  auto opens = w.gate->AuditEvents("channel_open");
  REQUIRE(opens.size() == 5);
  for (const auto& e : opens) {
    CHECK(e.value("recorded", false));
    CHECK(e["host"] == "db1");
  }
  int sessions = 0;
  for (const auto& e : w.gate->AuditEvents("session_open")) sessions += e["result"] == "success";
  CHECK(sessions == 5);
  CHECK(w.gate->AuditEvents("session_close").size() == 5);
}

TEST_CASE("no hop through a recorded session reaches SSH unrecorded") {
  World w;
  KeyPair ca = GenerateKey(w.dir, "upstream_ca");
  std::string tdir = w.dir + "/target", odir = w.dir + "/other";
  Run({"mkdir", "-p", tdir, odir});
  Sshd target(tdir, {w.alice.public_line}, "TrustedUserCAKeys " + ca.public_path + "\n");
  Sshd other(odir, {w.alice.public_line});
  std::string policy = "version: 1\nusers:\n  alice:\n    keys: [\"" + w.alice.public_line +
                       "\"]\nhosts:\n  db1:\n    address: \"127.0.0.1:" + Port(target.port()) +
                       "\"\n    record: true\n    host_key: \"" + target.host_key_line() +
                       "\"\nrules:\n  - name: anything\n    users: [alice]\n"
                       "    permit_open: [\"*:*\"]\n    logins: [root]\n";
  w.gate = std::make_unique<Gate>(w.dir, policy,
                                  "upstream:\n  user_ca_key: " + ca.private_path + "\n");
  std::string jump = "alice@127.0.0.1:" + Port(w.gate->port()) + ",root@db1";
  // The recorded target's own address, asked for from inside its session.
  RunResult self = Run({"ssh", "-F", w.client.config_path(), "-J", jump, "-p",
                        Port(target.port()), "root@127.0.0.1", "echo escaped"});
  CHECK(self.out.empty());
  CHECK(self.exit_code != 0);
  // Another SSH server, reached through the recorded session.
  RunResult hop = Run({"ssh", "-F", w.client.config_path(), "-J", jump, "-p",
                       Port(other.port()), "root@127.0.0.1", "echo escaped"});
  CHECK(hop.out.empty());
  CHECK(hop.exit_code != 0);
  INFO(w.gate->Log());
  bool refused_recorded = false, refused_ssh = false;
  for (const auto& e : w.gate->AuditEvents("session_request")) {
    if (e["request"] != "direct-tcpip" || e["decision"] != "deny") continue;
    std::string reason = e["reason"];
    refused_recorded |= reason.find("to a recorded endpoint is refused") != std::string::npos;
    refused_ssh |= reason.find("the channel carries SSH") != std::string::npos;
  }
  CHECK(refused_recorded);
  CHECK(refused_ssh);
  // Neither reached the target's or the other server's sshd as alice's key.
  CHECK(ReadFile(other.log_path()).find("Accepted publickey") == std::string::npos);
}
