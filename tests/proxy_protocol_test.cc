// Behind a load balancer: Debian's real haproxy in front of a gateway
// listener with `proxy_protocol: true`, sending PROXY v2 (send-proxy-v2) and
// v1 (send-proxy) headers. `ssh -J` through haproxy from 127.0.0.5: the
// audit shows the client's address and haproxy's as via_proxy, a policy
// `from:` rule that only the client's address matches allows while the same
// user from another address is denied, and connections that skip haproxy,
// or send no header in time, are refused and audited.
#include <signal.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include <regex>

#include "tests/support/haproxy.h"
#include "tests/support/harness.h"

using namespace hopgate::testing;

namespace {

struct World {
  std::string dir = MakeTempDir("proxyproto");
  KeyPair alice = GenerateKey(dir, "alice");
  KeyPair stranger = GenerateKey(dir, "stranger");
  Sshd target{dir, {alice.public_line}};
  std::unique_ptr<Gate> gate;

  explicit World(const std::string& extra_config = "", std::string policy = "") {
    // alice may go anywhere, but only from 127.0.0.5.
    if (policy.empty()) {
      policy = "version: 1\nusers:\n  alice:\n    keys: [\"" + alice.public_line +
               "\"]\nrules:\n  - name: office\n    users: [alice]\n"
               "    from: [\"127.0.0.5/32\"]\n    permit_open: [\"*:*\"]\n";
    }
    gate = std::make_unique<Gate>(dir, policy, extra_config, /*start=*/false);
    // The generated config listens on a plain 127.0.0.1:0: make it the
    // object form, balancers only from 127.0.0.1.
    REQUIRE(RequireProxyProtocol(gate->config_path()));
    gate->Start();
  }

  // ssh -J alice@127.0.0.1:`port` target echo ok, from `source`.
  RunResult AliceEcho(int port, const std::string& source,
                      const std::string& identity = "") const {
    Client c(dir, identity.empty() ? alice.private_path : identity,
             "  BindAddress " + source + "\n");
    return Run(c.SshJ("alice", port, target.port(), {"echo", "ok"}), "", 30'000);
  }

  std::vector<nlohmann::json> OpensFrom(const std::string& addr) const {
    std::vector<nlohmann::json> out;
    for (const auto& e : gate->AuditEvents("connection_open")) {
      if (e.value("client_addr", "") == addr) out.push_back(e);
    }
    return out;
  }
};

void ThroughHaproxy(const std::string& send_proxy) {
  World w;
  Haproxy lb(w.dir, w.gate->port(), send_proxy);

  // From 127.0.0.5 through haproxy: the from: rule matches the client.
  RunResult ok = w.AliceEcho(lb.port(), "127.0.0.5");
  INFO(ok.err << w.gate->Log() << ReadFile(w.dir + "/haproxy.log"));
  REQUIRE(ok.out == "ok\n");
  auto opens = w.OpensFrom("127.0.0.5");
  REQUIRE(opens.size() == 1);
  std::string via = opens[0].value("via_proxy", "");
  // haproxy's own address and the port it connected from.
  std::smatch m;
  REQUIRE(std::regex_match(via, m, std::regex(R"(127\.0\.0\.1:(\d+))")));
  CHECK(std::stoi(m[1].str()) > 0);
  CHECK(opens[0]["client_port"].get<int>() > 0);
  CHECK(opens[0]["listen"] == "127.0.0.1:" + std::to_string(w.gate->port()));
  bool auth_from_client = false;
  for (const auto& e : w.gate->AuditEvents("auth")) {
    if (e.value("user", "") == "alice" && e.value("client_addr", "") == "127.0.0.5") {
      auth_from_client = true;
    }
  }
  CHECK(auth_from_client);
  CHECK(w.gate->Log().find("via proxy " + via) != std::string::npos);

  // The same user through the same haproxy from 127.0.0.6: no rule allows.
  RunResult denied = w.AliceEcho(lb.port(), "127.0.0.6");
  CHECK(denied.exit_code != 0);
  CHECK(denied.out.empty());
  REQUIRE(w.OpensFrom("127.0.0.6").size() == 1);
  CHECK(w.OpensFrom("127.0.0.6")[0].value("via_proxy", "").rfind("127.0.0.1:", 0) == 0);
  bool denied_channel = false;
  for (const auto& e : w.gate->AuditEvents("channel_open")) {
    if (e.value("decision", "") == "deny") denied_channel = true;
  }
  CHECK(denied_channel);

  // Straight to the listener, skipping haproxy, from 127.0.0.7 (not in
  // proxy_from): refused before SSH, audited, never a connection_open.
  RunResult direct = w.AliceEcho(w.gate->port(), "127.0.0.7");
  CHECK(direct.exit_code != 0);
  CHECK(direct.out.empty());
  REQUIRE(w.gate->WaitForAudit("proxy_protocol_refused", "peer_addr", "127.0.0.7", 5'000));
  auto refused = w.gate->AuditEvents("proxy_protocol_refused");
  REQUIRE(!refused.empty());
  CHECK(refused.back()["reason"] == "peer 127.0.0.7 is not in proxy_from");
  CHECK(refused.back()["listen"] == "127.0.0.1:" + std::to_string(w.gate->port()));
  CHECK(w.OpensFrom("127.0.0.7").empty());
  CHECK(w.gate->Log().find("refused connection from 127.0.0.7:") != std::string::npos);
}

}  // namespace

TEST_CASE("ssh -J through haproxy send-proxy-v2: the client's address is the one that counts") {
  ThroughHaproxy("send-proxy-v2");
}

TEST_CASE("ssh -J through haproxy send-proxy (v1): the client's address is the one that counts") {
  ThroughHaproxy("send-proxy");
}

TEST_CASE("a balancer's connection without a header, or too slow with it, is dropped") {
  World w("limits:\n  login_grace_time: 3s\n");
  // From 127.0.0.1 (in proxy_from) but speaking SSH at once: no header.
  RunResult bare = w.AliceEcho(w.gate->port(), "127.0.0.1");
  CHECK(bare.exit_code != 0);
  REQUIRE(w.gate->WaitForAudit("proxy_protocol_refused", "reason",
                               "malformed PROXY header: no PROXY protocol header (the client "
                               "spoke SSH)",
                               5'000));

  // Half a header, then nothing: dropped at login_grace_time, while
  // another connection through a real balancer still gets in meanwhile.
  int slow = ConnectRaw(w.gate->port());
  REQUIRE(slow >= 0);
  REQUIRE(write(slow, "PROXY TCP4 127.0.0.9", 20) == 20);
  Haproxy lb(w.dir, w.gate->port(), "send-proxy-v2");
  RunResult ok = w.AliceEcho(lb.port(), "127.0.0.5");
  INFO(ok.err << w.gate->Log());
  CHECK(ok.out == "ok\n");
  double lasted = SecondsUntilClosed(slow, 30);
  close(slow);
  CHECK(lasted < 30);  // closed by the gateway, not by the test giving up
  auto refused = w.gate->AuditEvents("proxy_protocol_refused");
  bool grace = false;
  for (const auto& e : refused) {
    if (e.value("reason", "") ==
        "no complete PROXY header within login_grace_time (3s; 20 bytes received)") {
      grace = true;
      CHECK(e["peer_addr"] == "127.0.0.1");
    }
  }
  CHECK(grace);
  CHECK(w.OpensFrom("127.0.0.9").empty());
}

TEST_CASE("penalties through haproxy fall on the client's address, not on the balancer") {
  World w;
  Haproxy lb(w.dir, w.gate->port(), "send-proxy-v2");
  // Four failed logins from 127.0.0.3, all through the one balancer.
  for (int i = 0; i < 4; ++i) {
    RunResult r = w.AliceEcho(lb.port(), "127.0.0.3", w.stranger.private_path);
    INFO(r.err);
    CHECK(r.err.find("Permission denied") != std::string::npos);
  }
  // 127.0.0.3 is now turned away before SSH...
  RunResult refused = w.AliceEcho(lb.port(), "127.0.0.3");
  INFO(refused.err << w.gate->Log());
  CHECK(refused.out.empty());
  CHECK(w.gate->Log().find("source 127.0.0.3 penalized for failed logins") != std::string::npos);
  // ...while alice from 127.0.0.5, through the same balancer, gets in.
  RunResult ok = w.AliceEcho(lb.port(), "127.0.0.5");
  INFO(ok.err);
  CHECK(ok.out == "ok\n");
}

TEST_CASE("a certificate's source-address is checked against the client behind haproxy") {
  std::string dir = MakeTempDir("proxyproto-ca");
  KeyPair ca = GenerateKey(dir, "user_ca");
  // alice is not listed: a certificate for 127.0.0.5 only is her way in.
  World w("authentication:\n  trusted_user_ca_keys: " + ca.public_path + "\n",
          "version: 1\nrules:\n  - name: certs\n    users: [alice]\n"
          "    permit_open: [\"*:*\"]\n");
  Haproxy lb(w.dir, w.gate->port(), "send-proxy");
  REQUIRE(Run({"ssh-keygen", "-q", "-s", ca.private_path, "-I", "alice@corp", "-n", "alice", "-O",
               "source-address=127.0.0.5/32", w.alice.public_path})
              .exit_code == 0);
  std::string cert = w.alice.private_path + "-cert.pub";
  auto echo = [&](const std::string& source) {
    Client c(w.dir, w.alice.private_path,
             "  CertificateFile " + cert + "\n  BindAddress " + source + "\n");
    return Run(c.SshJ("alice", lb.port(), w.target.port(), {"echo", "ok"}), "", 30'000);
  };
  RunResult ok = echo("127.0.0.5");
  INFO(ok.err << w.gate->Log());
  CHECK(ok.out == "ok\n");
  RunResult refused = echo("127.0.0.6");
  CHECK(refused.exit_code == 255);
  std::string reason;
  for (const auto& e : w.gate->AuditEvents("auth")) {
    if (e["method"] == "certificate" && e["result"] == "failure") reason = e.value("reason", "");
  }
  CHECK(reason.rfind("source address 127.0.0.6 not in 127.0.0.5/32", 0) == 0);
}

TEST_CASE("--check names the line and column of a bad PROXY protocol listener") {
  std::string dir = MakeTempDir("proxyproto-check");
  Gate gate(dir, "version: 1\nrules: []\n", "", /*start=*/false);
  WriteFile(gate.config_path(),
            "version: 1\nlisten:\n  - {address: \"127.0.0.1:0\", proxy_protocol: true}\n"
            "  - {address: \"127.0.0.1:0\", proxy_protocol: true, proxy_from: [\"10.0.0.1/8\"]}\n"
            "host_keys: [k]\npolicy: p\naudit: {log: a}\n");
  RunResult r = Run({Gate::Binary(), "--config", gate.config_path(), "--check"});
  CHECK(r.exit_code == 1);
  INFO(r.err);
  CHECK(r.err.find(gate.config_path() + ":3:5: listen: proxy_protocol: true needs proxy_from") !=
        std::string::npos);
  CHECK(r.err.find(gate.config_path() +
                   ":4:65: listen: proxy_from: \"10.0.0.1/8\" has host bits set") !=
        std::string::npos);
}
