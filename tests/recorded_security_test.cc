// Recorded sessions under attack, with the real OpenSSH client and sshd: a
// reload that withdraws a user's rules cuts the new channels of their open
// recorded session, and SFTP packets the gateway cannot account for never
// reach the target (what it forwards, it audits).
#include <catch2/catch.hpp>

#include <signal.h>
#include <sys/stat.h>

#include "audit/sftp_testing.h"
#include "tests/support/harness.h"
#include "tests/support/recorded_world.h"

using namespace hopgate::testing;
using namespace hopgate::audit::sftp_testing;

namespace {

bool Exists(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0;
}

bool AuditedRemove(const RecordedWorld& w, const std::string& path) {
  for (const auto& e : w.gate->AuditEvents("sftp")) {
    if (e["op"] == "remove" && e["path"] == path) return true;
  }
  return false;
}

}  // namespace

TEST_CASE("a reload that withdraws a user's rules cuts new channels of their recorded session") {
  std::string www = MakeTempDir("recorded-sec-www");
  WriteFile(www + "/hello.txt", "hello\n");
  OnPort http = StartHttpServer(www, www + "/http.log");
  int http_port = http.port;
  RecordedWorld w("    allow_tcp_forwarding: local\n");
  std::string policy = ReadFile(w.gate->policy_path());
  std::string granted = "permit_open: [\"db1:22\", \"127.0.0.1:" + std::to_string(http_port) + "\"]";
  policy.replace(policy.find("permit_open: [\"db1:22\"]"), 23, granted);
  WriteFile(w.gate->policy_path(), policy);
  w.gate->process().Signal(SIGHUP);
  REQUIRE(w.gate->WaitForAudit("policy_reload", "result", "success", 10'000));

  OnPort fwd = StartOnFreePort(
      [&](int port) {
        return w.Ssh({"-N", "-L", std::to_string(port) + ":127.0.0.1:" + std::to_string(http_port)});
      },
      w.dir + "/fwd.log");
  int local = fwd.port;
  std::string url = "http://127.0.0.1:" + std::to_string(local) + "/hello.txt";
  CHECK(Run({"curl", "-s", "--max-time", "10", url}).out == "hello\n");

  // The administrator removes alice's rule; her session stays open.
  size_t rules = policy.find("rules:");
  WriteFile(w.gate->policy_path(),
            policy.substr(0, rules) + "rules:\n  - name: nobody\n    users: [nobody]\n"
                                      "    permit_open: [\"db1:22\"]\n");
  w.gate->process().Signal(SIGHUP);
  REQUIRE(WaitUntil(
      [&] { return w.gate->AuditEvents("policy_reload").size() >= 2 &&
                   w.gate->AuditEvents("policy_reload").back()["result"] == "success"; },
      10'000));
  std::string new_version = w.gate->AuditEvents("policy_reload").back()["policy_version"];
  CHECK(Run({"curl", "-s", "--max-time", "10", url}).out.empty());
  INFO(w.gate->Log());
  bool cut = false;
  for (const auto& e : w.gate->AuditEvents("session_request")) {
    if (e["request"] == "direct-tcpip" && e["decision"] == "deny" &&
        e.value("reason", "").find("no longer allows this session") != std::string::npos) {
      cut = true;
      CHECK(e["policy_version"] == new_version);
    }
  }
  CHECK(cut);
  // A new login to db1 is refused outright.
  CHECK(Run(w.Ssh({"true"})).exit_code != 0);
}

TEST_CASE("SFTP packets the gateway cannot account for never reach the target") {
  RecordedWorld w;
  std::string a = w.dir + "/keep-a", b = w.dir + "/keep-b", c = w.dir + "/gone-c";
  for (const auto& f : {a, b, c}) WriteFile(f, "data\n");

  SECTION("a REMOVE with one trailing byte") {
    // sftp-server would delete the file and answer; the gateway refuses it.
    RunResult r = Run(w.Ssh({"-s", "sftp"}), Init() + WithTrailing(PathPkt(kRemove, 1, a), "x"));
    INFO(r.err << w.gate->Log());
    CHECK(Exists(a));
    CHECK(r.err.find("hopgate: SFTP request refused, not forwarded") != std::string::npos);
    REQUIRE(WaitUntil([&] { return !w.Closes().empty(); }, 10'000));
    CHECK(w.Closes()[0]["reason"].get<std::string>().find("trailing byte") != std::string::npos);
  }
  SECTION("a request that reuses a pending request id") {
    RunResult r = Run(w.Ssh({"-s", "sftp"}),
                      Init() + PathPkt(kRemove, 5, c) + PathPkt(kRemove, 5, b));
    INFO(r.err << w.gate->Log());
    REQUIRE(WaitUntil([&] { return !w.Closes().empty(); }, 10'000));
    CHECK(Exists(b));  // the second was never forwarded
    // What was forwarded is audited: if the first removal happened, it has
    // its event (one without a reply says so).
    CHECK((Exists(c) || AuditedRemove(w, c)));
    CHECK(w.Closes()[0]["reason"].get<std::string>().find("reused") != std::string::npos);
  }
  SECTION("an unknown extension") {
    RunResult r = Run(w.Ssh({"-s", "sftp"}),
                      Init() + Extended(9, "evil@example.com", Str(a)));
    REQUIRE(WaitUntil([&] { return !w.Closes().empty(); }, 10'000));
    CHECK(w.Closes()[0]["reason"].get<std::string>().find("unknown extension") !=
          std::string::npos);
  }
}
