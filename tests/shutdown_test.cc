// Orderly shutdown under load: SIGTERM while 20 passthrough, 5 routed and 5
// recorded sessions are open (a 2s drain, then they are closed). The gateway exits 0, every client's session
// ends, and the audit log and the recordings are complete. Under
// --config=asan and --config=tsan the harness also fails the test on any
// sanitizer report from the gateway.
#include <catch2/catch.hpp>

#include <signal.h>

#include "tests/support/recorded_world.h"

using namespace hopgate::testing;

namespace {

constexpr int kPassthrough = 20, kRouted = 5, kRecorded = 5;

std::string Port(int p) { return std::to_string(p); }

}  // namespace

TEST_CASE("SIGTERM with passthrough, routed and recorded sessions open exits cleanly") {
  std::string peers = MakeTempDir("shutdown-peers");
  KeyPair hop = GenerateKey(peers, "hop_identity");
  Run({"mkdir", "-p", peers + "/plain", peers + "/jump", peers + "/far"});
  // The jump host accepts the gateway's own key; the passthrough and routed
  // targets get alice's key (end to end) once the world has made it.
  Sshd plain(peers + "/plain", {});
  Sshd jump(peers + "/jump", {hop.public_line});
  Sshd far(peers + "/far", {});
  std::string hosts =
      "  jump:\n"
      "    address: \"127.0.0.1:" + Port(jump.port()) + "\"\n"
      "    login: root\n"
      "    identity: " + hop.private_path + "\n"
      "    host_key: \"" + jump.host_key_line() + "\"\n"
      "  far:\n"
      "    address: \"127.0.0.1:" + Port(far.port()) + "\"\n"
      "    via: [jump]\n";
  std::string rules =
      "  - name: alice-rest\n"
      "    users: [alice]\n"
      "    permit_open: [\"127.0.0.1:" + Port(plain.port()) + "\", \"far:22\"]\n";
  // 30 clients log in at once from one address: above the default
  // per_source_max_startups. SIGTERM drains for 2s, then closes them.
  RecordedWorld w(rules, hosts, "", {},
                  "limits:\n  per_source_max_startups: 30\n  drain_timeout: 2s\n");
  WriteFile(peers + "/plain/authorized_keys", w.alice.public_line + "\n", 0600);
  WriteFile(peers + "/far/authorized_keys", w.alice.public_line + "\n", 0600);

  std::vector<std::unique_ptr<Process>> clients;
  auto start = [&](std::vector<std::string> argv, const std::string& name) {
    clients.push_back(std::make_unique<Process>(argv, w.dir + "/" + name + ".log"));
  };
  std::vector<std::string> unchecked = {"ssh", "-F", w.ssh_config, "-o",
                                        "StrictHostKeyChecking=no", "-o",
                                        "UserKnownHostsFile=/dev/null", "-J", w.Jump()};
  for (int i = 0; i < kPassthrough; ++i) {
    auto argv = unchecked;
    for (const auto& a : {std::string("-p"), Port(plain.port()), std::string("root@127.0.0.1"),
                          std::string("sleep 60")}) {
      argv.push_back(a);
    }
    start(argv, "plain-" + std::to_string(i));
  }
  for (int i = 0; i < kRouted; ++i) {
    auto argv = unchecked;
    argv.push_back("root@far");
    argv.push_back("sleep 60");
    start(argv, "far-" + std::to_string(i));
  }
  for (int i = 0; i < kRecorded; ++i) {
    start(w.Ssh({"echo recorded-" + std::to_string(i) + "; sleep 60"}),
          "recorded-" + std::to_string(i));
  }

  // Every session is open: a command running on each target.
  auto count = [&](const std::string& type, const std::string& field, const std::string& value) {
    int n = 0;
    for (const auto& e : w.gate->AuditEvents(type)) n += e.value(field, "") == value;
    return n;
  };
  bool all_open = WaitUntil([&] {
    return count("channel_open", "decision", "allow") >= kPassthrough + kRouted + kRecorded &&
           count("session_request", "request", "exec") >= kRecorded;
  }, 60'000);
  INFO(w.gate->Log());
  REQUIRE(all_open);
  // The recorded commands' output has reached their clients (and so the
  // recordings) before the gateway is stopped.
  REQUIRE(WaitUntil([&] {
    for (int i = 0; i < kRecorded; ++i) {
      std::string marker = "recorded-" + std::to_string(i);
      if (ReadFile(w.dir + "/" + marker + ".log").find(marker) == std::string::npos) return false;
    }
    return true;
  }, 20'000));

  w.gate->process().Signal(SIGTERM);
  auto code = w.gate->process().Wait(30'000);
  REQUIRE(code.has_value());
  CHECK(*code == 0);
  // Every client's session ends with the gateway.
  for (auto& c : clients) CHECK(c->Wait(15'000).has_value());

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
  CHECK(stop["connections_closed"] == kPassthrough + kRouted + kRecorded);
  // The drain came first, with every connection still open.
  auto drains = w.gate->AuditEvents("drain_start");
  REQUIRE(drains.size() == 1);
  CHECK(drains[0]["connections_open"] == kPassthrough + kRouted + kRecorded);
  CHECK(drains[0]["drain_timeout"] == 2);
  int opens = 0, closes = 0, chan_opens = 0, chan_closes = 0;
  for (const auto& e : events) {
    opens += e["type"] == "connection_open";
    closes += e["type"] == "connection_close";
    chan_opens += e["type"] == "channel_open" && e["decision"] == "allow";
    chan_closes += e["type"] == "channel_close";
  }
  CHECK(opens == kPassthrough + kRouted + kRecorded);
  CHECK(closes == opens);
  CHECK(chan_closes >= chan_opens);
  // Each recorded session was closed properly: its recording is whole and
  // holds what its command printed before the gateway stopped.
  auto session_closes = w.Closes();
  CHECK(session_closes.size() == static_cast<size_t>(kRecorded));
  std::string printed;
  for (const auto& c : session_closes) {
    REQUIRE(c.contains("recording"));
    CHECK(c.contains("recording_sha256"));
    std::string cast = c["recording"];
    printed += CastOutput(cast);
  }
  for (int i = 0; i < kRecorded; ++i) {
    CHECK(printed.find("recorded-" + std::to_string(i)) != std::string::npos);
  }
}
