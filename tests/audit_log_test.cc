// The gateway's tamper-evident audit log, end to end: signed checkpoints
// that `ssh-keygen -Y verify` accepts, progress of open recordings, the
// shutdown checkpoint, and a restart after SIGKILL that continues the chain.
#include <catch2/catch.hpp>

#include <signal.h>

#include <fstream>

#include "common/encoding.h"
#include "tests/support/recorded_world.h"

using namespace hopgate;
using namespace hopgate::testing;

namespace {

std::string SigningKey(const RecordedWorld& w) { return w.gate->dir() + "/audit_signing_ed25519"; }

// ssh-keygen -Y verify of `text` with `sig` against the gateway's signing key.
RunResult SshKeygenVerify(const RecordedWorld& w, const std::string& text, const std::string& sig,
                          const std::string& origin) {
  std::string dir = w.dir;
  WriteFile(dir + "/allowed_signers", origin + " " + ReadFile(SigningKey(w) + ".pub"));
  WriteFile(dir + "/cp", text);
  WriteFile(dir + "/cp.sig", sig);
  return Run({"sh", "-c", "ssh-keygen -Y verify -f " + dir + "/allowed_signers -I '" + origin +
                              "' -n hopgate-audit -s " + dir + "/cp.sig < " + dir + "/cp"});
}

// seq runs 0, 1, 2, ... and each prev is the SHA-256 of the line before.
void CheckChain(const std::string& log) {
  std::istringstream in(ReadFile(log));
  std::string line, prev(64, '0');
  uint64_t seq = 0;
  while (std::getline(in, line)) {
    auto j = nlohmann::json::parse(line);
    INFO(line);
    REQUIRE(j["seq"] == seq);
    CHECK(j["prev"] == prev);
    prev = Sha256Hex(line);
    ++seq;
  }
}

}  // namespace

TEST_CASE("checkpoints are signed, cover open recordings, and verify with ssh-keygen") {
  RecordedWorld w("", "", "", {}, "  origin: hopgate/test-gate\n  checkpoint_interval: 1s\n");
  Process session(w.Ssh({"echo progress-marker; sleep 6"}), w.dir + "/session.log");
  // While the session runs, a checkpoint carries its recording's progress.
  nlohmann::json progress;
  REQUIRE(WaitUntil([&] {
    for (const auto& e : w.gate->AuditEvents("recording_progress")) {
      if (e["bytes"].get<uint64_t>() > 0 &&
          ReadFile(e["path"].get<std::string>()).find("progress-marker") != std::string::npos) {
        progress = e;
        return true;
      }
    }
    return false;
  }, 20'000));
  std::string cast = ReadFile(progress["path"].get<std::string>());
  REQUIRE(cast.size() >= progress["bytes"].get<uint64_t>());
  CHECK(Sha256Hex(cast.substr(0, progress["bytes"].get<uint64_t>())) == progress["sha256"]);
  // The checkpoint right after it signs the tree of every line before it
  // (written just after the progress lines: read again until it is there).
  std::vector<nlohmann::json> lines;
  size_t at = progress["seq"].get<size_t>();
  size_t cp = at + 1;
  REQUIRE(WaitUntil([&] {
    lines = w.gate->Audit();
    cp = at + 1;
    while (cp < lines.size() && lines[cp]["type"] == "recording_progress") ++cp;
    return cp < lines.size();
  }, 10'000));
  CHECK(lines[cp]["type"] == "checkpoint");
  CHECK(lines[cp]["tree_size"] == cp);
  std::string text = lines[cp]["checkpoint"];
  CHECK(text.rfind("hopgate/test-gate\n" + std::to_string(cp) + "\n", 0) == 0);
  RunResult v = SshKeygenVerify(w, text, lines[cp]["signature"], "hopgate/test-gate");
  INFO(v.out << v.err);
  CHECK(v.exit_code == 0);
  CHECK(SshKeygenVerify(w, text + "x", lines[cp]["signature"], "hopgate/test-gate").exit_code != 0);
  REQUIRE(session.Wait(30'000).has_value());

  // After a clean stop the last line is the shutdown checkpoint, and the
  // files beside the log hold it.
  w.gate->process().Signal(SIGTERM);
  REQUIRE(w.gate->process().Wait(15'000).has_value());
  lines = w.gate->Audit();
  CHECK(lines.back()["type"] == "checkpoint");
  CHECK(lines.back()["reason"] == "shutdown");
  std::string file_text = ReadFile(w.gate->audit_path() + ".checkpoint");
  CHECK(file_text == lines.back()["checkpoint"]);
  CHECK(SshKeygenVerify(w, file_text, ReadFile(w.gate->audit_path() + ".checkpoint.sig"),
                        "hopgate/test-gate")
            .exit_code == 0);
  CheckChain(w.gate->audit_path());
  // The signing key is private.
  RunResult mode = Run({"stat", "-c", "%a", SigningKey(w)});
  CHECK(mode.out == "600\n");
}

TEST_CASE("after SIGKILL mid-session the log is intact and a restart continues the chain") {
  RecordedWorld w("", "", "", {}, "  checkpoint_interval: 1s\n");
  Process session(w.Ssh({"echo before-kill; sleep 30"}), w.dir + "/session.log");
  REQUIRE(WaitUntil([&] { return ReadFile(w.dir + "/session.log").find("before-kill") !=
                                 std::string::npos; },
                    20'000));
  REQUIRE(w.gate->WaitForAudit("recording_progress", "", "", 10'000));
  size_t before = w.gate->Audit().size();
  w.gate->process().Signal(SIGKILL);
  REQUIRE(w.gate->process().Wait(10'000).has_value());
  session.Wait(10'000);
  // Every event written before is intact (each line parses; chained).
  CHECK(w.gate->Audit().size() >= before);
  CheckChain(w.gate->audit_path());
  // A restart works at once and continues the same chain, starting with a
  // checkpoint of what the killed run left.
  w.gate->Start();
  RunResult r = Run(w.Ssh({"echo after-restart"}), "", 30'000);
  INFO(r.err << w.gate->Log());
  CHECK(r.exit_code == 0);
  CHECK(r.out == "after-restart\n");
  CheckChain(w.gate->audit_path());
  bool start_checkpoint = false;
  for (const auto& e : w.gate->AuditEvents("checkpoint")) start_checkpoint |= e["reason"] == "start";
  CHECK(start_checkpoint);
}
