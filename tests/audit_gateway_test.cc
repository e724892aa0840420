// hopctl audit on a real gateway's log: a recorded session through real
// hopgate, sshd and ssh, the gateway stopped, its log signed by a checkpoint;
// `hopctl audit verify` accepts the log and the recording, finds a changed
// recording, and the session's export bundle verifies offline.
#include <catch2/catch.hpp>

#include <signal.h>

#include <nlohmann/json.hpp>

#include "audit/checkpoint.h"
#include "audit/sink.h"
#include "audit/testing/test_log.h"
#include "certs/private_key.h"
#include "certs/sshsig.h"
#include "tests/support/harness.h"
#include "tests/support/recorded_world.h"

using namespace hopgate;
using namespace hopgate::testing;

namespace {

// The public keys that signed checkpoints already in the log (once the
// gateway signs its own, with the key it generated at start), one per line.
std::string CheckpointSigners(const std::string& log) {
  std::string out;
  for (const auto& line : audit::testing::Lines(log)) {
    auto j = nlohmann::json::parse(line);
    if (j["type"] != "checkpoint" || j["signature"] == "") continue;
    auto sig = certs::ParseSshSig(j["signature"].get<std::string>());
    REQUIRE(sig.ok());
    std::string key = sig->key.ToLine();
    if (out.find(key) == std::string::npos) out += key + "\n";
  }
  return out;
}

}  // namespace

TEST_CASE("hopctl audit on a real gateway's log: verify, a changed recording, export") {
  RecordedWorld w;
  RunResult r = Run(w.Ssh({"echo audit-marker; exit 0"}));
  INFO(r.err << w.gate->Log());
  REQUIRE(r.exit_code == 0);
  REQUIRE(WaitUntil([&] { return !w.Closes().empty(); }, 5000));
  std::string cast = w.Closes()[0]["recording"];
  std::string connection = w.Closes()[0]["connection"];
  w.gate->process().Signal(SIGTERM);
  REQUIRE(w.gate->process().Wait(15'000) == 0);

  // Sign the whole log as the gateway's sink does (same FileSink, same tree).
  auto key = certs::GenerateEd25519();
  REQUIRE(key.ok());
  std::string keys = w.dir + "/trusted.pub";
  WriteFile(keys, key->PublicLine() + "\n" + CheckpointSigners(w.gate->audit_path()));
  {
    audit::FileSinkOptions o;
    o.origin = "hopgate/gateway-test";
    o.signer = [&](std::string_view text) {
      return certs::SshSigSign(*key, audit::kCheckpointNamespace, text);
    };
    auto sink = audit::FileSink::Open(w.gate->audit_path(), o);
    REQUIRE(sink.ok());
    REQUIRE((*sink)->WriteCheckpoint("test").ok());
  }
  size_t events = audit::testing::Lines(w.gate->audit_path()).size();

  std::string hopctl = Gate::HopctlBinary();
  r = Run({hopctl, "audit", "verify", "--key", keys, w.gate->audit_path()});
  INFO(r.out << r.err);
  CHECK(r.exit_code == 0);
  CHECK(r.out.find("OK: " + std::to_string(events) + " events, 1 recordings, tree size " +
                   std::to_string(events) + ", root ") != std::string::npos);

  std::string bundle = w.dir + "/bundle";
  r = Run({hopctl, "audit", "export", connection, "--audit", w.gate->audit_path(), "--out", bundle});
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  r = Run({hopctl, "audit", "verify-bundle", "--key", keys, bundle});
  INFO(r.out << r.err);
  CHECK(r.exit_code == 0);
  CHECK(r.out.find("OK: session " + connection + ", ") != std::string::npos);
  CHECK(ReadFile(bundle + "/events.jsonl").find("\"type\":\"session_close\"") != std::string::npos);

  audit::testing::FlipByte(cast);
  r = Run({hopctl, "audit", "verify", "--key", keys, w.gate->audit_path()});
  INFO(r.out << r.err);
  CHECK(r.exit_code == 1);
  CHECK(r.out.find(cast + ": recording changed: its SHA-256 does not match the log's (" +
                   w.gate->audit_path() + ":") != std::string::npos);
}
