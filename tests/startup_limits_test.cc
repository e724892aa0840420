// Admission under attack, against the real gateway: slow clients from a few
// addresses cannot take every start-up slot from a real user
// (limits.per_source_max_startups) and are dropped at login_grace_time; a
// source whose logins keep failing is refused for a while
// (limits.per_source_penalty) while everyone else still gets in.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include <sstream>

#include "tests/support/harness.h"

using namespace hopgate::testing;

namespace {

const char* kPython = "/usr/bin/python3";

struct World {
  std::string dir = MakeTempDir("startups");
  KeyPair alice = GenerateKey(dir, "alice");
  KeyPair stranger = GenerateKey(dir, "stranger");
  Sshd target{dir, {alice.public_line}};
  std::unique_ptr<Gate> gate;

  explicit World(const std::string& extra_config) {
    std::string policy = "version: 1\nusers:\n  alice:\n    keys: [\"" + alice.public_line +
                         "\"]\nrules:\n  - name: anything\n    users: [alice]\n"
                         "    permit_open: [\"*:*\"]\n";
    gate = std::make_unique<Gate>(dir, policy, extra_config);
  }

  // ssh -J alice@gate target echo ok, from `source` (a loopback address).
  RunResult AliceEcho(const std::string& identity, const std::string& source) const {
    Client c(dir, identity, "BindAddress " + source + "\n");
    return Run(c.SshJ("alice", gate->port(), target.port(), {"echo", "ok"}), "", 30'000);
  }
};

}  // namespace

TEST_CASE("600 slow clients from four addresses do not lock a real user out") {
  World w("limits:\n  login_grace_time: 6s\n");  // max_startups 64, per source 10
  Process slow({kPython, HostileClient(), "slowloris", "--port", std::to_string(w.gate->port()),
                "--sources", "127.0.0.2,127.0.0.3,127.0.0.4,127.0.0.5", "--per-source", "150",
                "--seconds", "14"},
               w.dir + "/slow.log");
  REQUIRE(WaitUntil([&] { return ReadFile(w.dir + "/slow.log").find("opened") != std::string::npos; },
                    30'000));
  // While they trickle their identification strings, alice gets in, 3 of 3.
  for (int i = 0; i < 3; ++i) {
    RunResult r = w.AliceEcho(w.alice.private_path, "127.0.0.1");
    INFO("try " << i << ": " << r.err << w.gate->Log());
    CHECK(r.out == "ok\n");
  }
  REQUIRE(WaitUntil([&] { return LastJson(ReadFile(w.dir + "/slow.log")).contains("still_open"); },
                    40'000));
  nlohmann::json result = LastJson(ReadFile(w.dir + "/slow.log"));
  INFO(result.dump());
  CHECK(result["still_open"] == 0);
  for (const char* source : {"127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"}) {
    const auto& lasted = result["seconds_open"][source];
    REQUIRE(lasted.size() == 150);
    int held = 0;
    for (double s : lasted) {
      if (s > 3) ++held;
      CHECK(s < 6 + 4);  // dropped at login_grace_time, not left to linger
    }
    INFO(source);
    CHECK(held >= 1);
    CHECK(held <= 10);  // per_source_max_startups: the rest refused at once
  }
  CHECK(w.gate->Log().find("(per_source_max_startups 10)") != std::string::npos);
}

TEST_CASE("a source whose logins keep failing is refused for a while; others are not") {
  World w("");  // defaults: authfail 5s each, refused from 15s of penalty on
  for (int i = 0; i < 4; ++i) {
    RunResult r = w.AliceEcho(w.stranger.private_path, "127.0.0.3");
    INFO(r.err);
    CHECK(r.exit_code != 0);
    CHECK(r.err.find("Permission denied") != std::string::npos);
  }
  // Now even the right key from that source is turned away before SSH starts...
  RunResult refused = w.AliceEcho(w.alice.private_path, "127.0.0.3");
  INFO(refused.err << w.gate->Log());
  CHECK(refused.out.empty());
  CHECK(refused.err.find("Permission denied") == std::string::npos);
  CHECK(w.gate->Log().find("source 127.0.0.3 penalized for failed logins") != std::string::npos);
  // ...while another address logs in as usual.
  RunResult other = w.AliceEcho(w.alice.private_path, "127.0.0.1");
  INFO(other.err);
  CHECK(other.out == "ok\n");
}

TEST_CASE("per_source_penalty_exempt and per_source_penalty: off keep a source admitted") {
  for (const char* config : {"limits:\n  per_source_penalty_exempt: [\"127.0.0.0/29\"]\n",
                             "limits:\n  per_source_penalty: off\n"}) {
    World w(config);
    for (int i = 0; i < 4; ++i) (void)w.AliceEcho(w.stranger.private_path, "127.0.0.3");
    RunResult r = w.AliceEcho(w.alice.private_path, "127.0.0.3");
    INFO(config << r.err);
    CHECK(r.out == "ok\n");
  }
}
