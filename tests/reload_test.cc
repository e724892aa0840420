// Hot reload of the policy: SIGHUP and file changes, broken files kept out,
// new decisions under the new policy.
#include <catch2/catch.hpp>

#include <signal.h>

#include "tests/support/harness.h"

using namespace hopgate::testing;

namespace {

struct World {
  std::string dir = MakeTempDir("reload");
  KeyPair alice = GenerateKey(dir, "alice");
  Sshd target{dir, {alice.public_line}};
  std::unique_ptr<Gate> gate;
  Client client{dir, alice.private_path};

  std::string Policy(bool with_rule) const {
    std::string p = "version: 1\nusers:\n  alice:\n    keys: [\"" + alice.public_line +
                    "\"]\nrules:\n";
    if (with_rule) {
      p += "  - name: alice-to-target\n    users: [alice]\n    permit_open: [\"127.0.0.1:" +
           std::to_string(target.port()) + "\"]\n";
    } else {
      p += "  - name: nothing-for-alice\n    users: [bob]\n    permit_open: [\"127.0.0.1:1\"]\n";
    }
    return p;
  }
  World() { gate = std::make_unique<Gate>(dir, Policy(true)); }

  RunResult Echo() const {
    return Run(client.SshJ("alice", gate->port(), target.port(), {"echo", "ok"}));
  }
  int Reloads(const std::string& result) const {
    int n = 0;
    for (const auto& e : gate->AuditEvents("policy_reload")) n += e["result"] == result;
    return n;
  }
};

}  // namespace

TEST_CASE("a reload to a broken policy keeps the running one, loudly") {
  World w;
  REQUIRE(w.Echo().out == "ok\n");
  std::string before = w.gate->AuditEvents("server_start")[0]["policy_version"];
  WriteFile(w.gate->policy_path(), "version: 1\nrules:\n  - name: broken\n    permit_open: [\"x:0\"]\n");
  REQUIRE(WaitUntil([&] { return w.Reloads("failure") >= 1; }, 10'000));
  auto failed = w.gate->AuditEvents("policy_reload");
  CHECK(failed.back()["trigger"] == "file change");
  CHECK(failed.back()["errors"] == 1);
  CHECK(failed.back()["policy_version"] == before);
  CHECK(failed.back()["messages"][0].get<std::string>().find(w.gate->policy_path() +
                                                            ":4:19: permit_open: invalid port") == 0);
  CHECK(w.gate->Log().find(w.gate->policy_path() + ":4:19") != std::string::npos);
  // Access is unchanged, decided by the old policy.
  RunResult r = w.Echo();
  CHECK(r.out == "ok\n");
  auto opens = w.gate->AuditEvents("channel_open");
  CHECK(opens.back()["policy_version"] == before);
  // SIGHUP tries again and fails again, still keeping the old policy.
  w.gate->process().Signal(SIGHUP);
  REQUIRE(WaitUntil([&] { return w.Reloads("failure") >= 2; }, 10'000));
  CHECK(w.gate->AuditEvents("policy_reload").back()["trigger"] == "SIGHUP");
  CHECK(w.Echo().out == "ok\n");
}

TEST_CASE("a reload that removes alice's rule refuses her next ssh -J") {
  World w;
  REQUIRE(w.Echo().out == "ok\n");
  std::string before = w.gate->AuditEvents("channel_open").back()["policy_version"];
  WriteFile(w.gate->policy_path() + ".new", w.Policy(false));
  // Replace the file the way editors and config management do: rename over it.
  REQUIRE(Run({"mv", w.gate->policy_path() + ".new", w.gate->policy_path()}).exit_code == 0);
  REQUIRE(WaitUntil([&] { return w.Reloads("success") >= 1; }, 10'000));
  auto reload = w.gate->AuditEvents("policy_reload").back();
  CHECK(reload["previous_version"] == before);
  CHECK(reload["policy_version"] != before);
  RunResult r = w.Echo();
  CHECK(r.exit_code == 255);
  CHECK(r.out.empty());
  auto deny = w.gate->AuditEvents("channel_open").back();
  CHECK(deny["decision"] == "deny");
  CHECK(deny["policy_version"] == reload["policy_version"]);
  // And putting the rule back (SIGHUP this time) lets her in again.
  WriteFile(w.gate->policy_path(), w.Policy(true));
  w.gate->process().Signal(SIGHUP);
  REQUIRE(WaitUntil([&] { return w.Reloads("success") >= 2; }, 10'000));
  CHECK(w.Echo().out == "ok\n");
}
