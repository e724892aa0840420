// What an evaluator sees: a recorded session says so, a gateway that stops
// tells the people in its recorded sessions why, and /healthz and the
// metrics agree about the audit log. Real OpenSSH client and sshd.
#include <catch2/catch.hpp>

#include <signal.h>

#include <cstdio>

#include "tests/support/harness.h"
#include "tests/support/recorded_world.h"

using namespace hopgate::testing;

TEST_CASE("a recorded session shows its notice, and the audit log says it was shown") {
  SECTION("the default notice") {
    RecordedWorld w;
    RunResult r = Run(w.Ssh({"-o", "LogLevel=INFO", "echo hi"}));
    INFO(r.err << w.gate->Log());
    CHECK(r.out == "hi\n");
    CHECK(r.err.find("This session is recorded by hopgate.") != std::string::npos);
    auto opens = w.gate->AuditEvents("session_open");
    REQUIRE(opens.size() == 1);
    CHECK(opens[0].value("notice_shown", false));
  }
  SECTION("an empty notice shows nothing") {
    RecordedWorld w("", "", "", {}, "recording:\n  notice: \"\"\n");
    RunResult r = Run(w.Ssh({"-o", "LogLevel=INFO", "echo hi"}));
    CHECK(r.out == "hi\n");
    CHECK(r.err.find("recorded by hopgate") == std::string::npos);
    auto opens = w.gate->AuditEvents("session_open");
    REQUIRE(opens.size() == 1);
    CHECK_FALSE(opens[0].value("notice_shown", false));
  }
}

TEST_CASE("SIGTERM tells a recorded session why it ends") {
  RecordedWorld w;
  std::string log = w.dir + "/client.log";
  Process client(w.Ssh({"echo started; sleep 30"}), log);
  REQUIRE(WaitUntil([&] { return ReadFile(log).find("started") != std::string::npos; }, 20'000));
  w.gate->process().Signal(SIGTERM);
  REQUIRE(w.gate->process().Wait(15'000).has_value());
  REQUIRE(client.Wait(15'000).has_value());
  INFO(ReadFile(log) << w.gate->Log());
  CHECK(ReadFile(log).find("hopgate: session closed (gateway shutting down)") != std::string::npos);
  auto closes = w.Closes();
  REQUIRE(closes.size() == 1);
  CHECK(closes[0]["reason"] == "gateway shutting down");
  // The recording was closed properly too.
  CHECK(closes[0].contains("recording_sha256"));
}

TEST_CASE("/healthz and hopgate_audit_log_healthy agree about the audit log") {
  std::string dir = MakeTempDir("health");
  Run({"mkdir", "-p", dir + "/logs"});
  Gate gate(dir, "version: 1\nrules: []\n", "metrics:\n  listen: \"127.0.0.1:0\"\n", false);
  std::string cfg = ReadFile(gate.config_path());
  size_t at = cfg.find(gate.audit_path());
  cfg.replace(at, gate.audit_path().size(), dir + "/logs/audit.jsonl");
  WriteFile(gate.config_path(), cfg, 0600);
  gate.Start();
  int metrics_port = gate.MetricsPort();
  REQUIRE(metrics_port != 0);
  std::string base = "http://127.0.0.1:" + std::to_string(metrics_port);
  auto healthz = [&] {
    return Run({"curl", "-s", "-o", "/dev/stdout", "-w", " %{http_code}", base + "/healthz"}).out;
  };
  auto gauge = [&] {
    std::string m = Run({"curl", "-s", base + "/metrics"}).out;
    size_t p = m.find("\nhopgate_audit_log_healthy ");
    return p == std::string::npos ? std::string("missing") : m.substr(p + 27, 1);
  };
  REQUIRE(WaitUntil([&] { return healthz().find("200") != std::string::npos; }, 10'000));
  CHECK(gauge() == "1");
  // logrotate without its postrotate SIGHUP: the log is moved away. The
  // gateway follows the path and both stay healthy.
  REQUIRE(rename((dir + "/logs/audit.jsonl").c_str(), (dir + "/logs/audit.jsonl.1").c_str()) == 0);
  CHECK(healthz().find("200") != std::string::npos);
  CHECK(gauge() == "1");
  REQUIRE(WaitUntil([&] { return !ReadFile(dir + "/logs/audit.jsonl").empty() ||
                                 Run({"test", "-e", dir + "/logs/audit.jsonl"}).exit_code == 0; },
                    10'000));
  // The whole directory goes: nothing can be written at the path. Both say so.
  REQUIRE(rename((dir + "/logs").c_str(), (dir + "/logs.gone").c_str()) == 0);
  std::string h = healthz();
  INFO(h << gate.Log());
  CHECK(h.find("503") != std::string::npos);
  CHECK(h.find("cannot be reopened") != std::string::npos);
  CHECK(gauge() == "0");
  // Back again: healthy again, both.
  REQUIRE(rename((dir + "/logs.gone").c_str(), (dir + "/logs").c_str()) == 0);
  CHECK(WaitUntil([&] { return healthz().find("200") != std::string::npos; }, 10'000));
  CHECK(gauge() == "1");
}
