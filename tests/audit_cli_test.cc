// `hopctl audit` as an auditor runs it: the real hopctl binary on logs the
// real FileSink wrote with a real checkpoint key; exit codes 0 (verified),
// 1 (damaged), 2 (usage or I/O), and the lines it prints. The checkpoint it
// prints verifies with `ssh-keygen -Y verify`.
#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <regex>

#include <nlohmann/json.hpp>

#include "audit/testing/test_log.h"
#include "tests/support/harness.h"

using namespace hopgate;
using namespace hopgate::testing;
namespace at = hopgate::audit::testing;

namespace {

struct Day {
  at::TestLog t;
  std::string r1, r3;
  explicit Day(const std::string& name) : t(at::FreshDir(name)) {
    t.Checkpoint("start");
    r1 = t.RecordedConnection("c1000000000000001", 5000);
    t.PassthroughConnection("c2000000000000002");
    t.Checkpoint("interval");
    r3 = t.OpenRecordedConnection("c4000000000000004", 3000);
    t.Checkpoint("interval", {r3});
    t.GrowRecording(r3, 400);
    t.Close();
  }
  std::string log() const { return t.log(); }
};

RunResult Hopctl(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {Gate::HopctlBinary(), "audit"};
  argv.insert(argv.end(), args.begin(), args.end());
  return Run(argv);
}

std::vector<std::string> OutLines(const RunResult& r) {
  std::vector<std::string> out;
  std::istringstream in(r.out);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

}  // namespace

TEST_CASE("hopctl audit verify: OK, exit 0, the killed recording's prefix as a note") {
  Day d("cli-verify-ok");
  RunResult r = Hopctl({"verify", "--key", d.t.key_pub(), d.log()});
  INFO(r.out << r.err);
  CHECK(r.exit_code == 0);
  CHECK(r.err.empty());  // no progress bar without a terminal
  auto lines = OutLines(r);
  REQUIRE(lines.size() == 2);
  CHECK(lines[0].rfind("note: " + d.r3 + ": verified prefix of ", 0) == 0);
  size_t n = at::Lines(d.log()).size();
  CHECK(std::regex_match(lines[1], std::regex("OK: " + std::to_string(n) + " events, 2 recordings, tree size " +
                                              std::to_string(n) + ", root [A-Za-z0-9+/]{43}=")));
  // The same with an allowed_signers file, and with the directory.
  r = Hopctl({"verify", "--allowed-signers", d.t.allowed_signers(), d.t.dir()});
  INFO(r.out << r.err);
  CHECK(r.exit_code == 0);
  CHECK(OutLines(r).back() == lines[1]);
}

TEST_CASE("hopctl audit verify: a trusted key is required; --config names the gateway's") {
  Day d("cli-verify-keys");
  RunResult r = Hopctl({"verify", d.log()});
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("a trusted key is needed") != std::string::npos);
  CHECK(r.out.empty());
  // <audit.signing_key>.pub from the config, and audit.log as the PATH.
  WriteFile(d.t.dir() + "/hopgate.yaml", "version: 1\naudit:\n  log: audit.jsonl\n  signing_key: audit_key\n");
  r = Hopctl({"verify", "--config", d.t.dir() + "/hopgate.yaml"});
  INFO(r.out << r.err);
  CHECK(r.exit_code == 0);
  CHECK(OutLines(r).back().rfind("OK: ", 0) == 0);
  WriteFile(d.t.dir() + "/nokey.yaml", "version: 1\naudit:\n  log: audit.jsonl\n");
  r = Hopctl({"verify", "--config", d.t.dir() + "/nokey.yaml"});
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("names no audit.signing_key") != std::string::npos);
  // Both kinds of trust at once is a usage error.
  r = Hopctl({"verify", "--key", d.t.key_pub(), "--allowed-signers", d.t.allowed_signers(), d.log()});
  CHECK(r.exit_code == 2);
  // A log that is not there.
  r = Hopctl({"verify", "--key", d.t.key_pub(), d.t.dir() + "/missing.jsonl"});
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("missing.jsonl: No such file or directory") != std::string::npos);
  // Another key: exit 1, every checkpoint named.
  auto other = GenerateKey(d.t.dir(), "other");
  r = Hopctl({"verify", "--key", other.public_path, d.log()});
  CHECK(r.exit_code == 1);
  CHECK(r.out.find(": checkpoint signature: signed by SHA256:") != std::string::npos);
}

TEST_CASE("hopctl audit verify: damage exits 1 and names the first damaged place") {
  Day d("cli-verify-damage");
  auto lines = at::Lines(d.log());
  std::string& l = lines[4];
  l.replace(l.find("root"), 4, "rooT");
  at::WriteLines(d.log(), lines);
  RunResult r = Hopctl({"verify", "--key", d.t.key_pub(), d.log()});
  INFO(r.out << r.err);
  CHECK(r.exit_code == 1);
  auto out = OutLines(r);
  REQUIRE(out.size() >= 3);
  CHECK(out[1] == d.log() + ":5: line changed (its hash does not match the next line's prev)");
  CHECK(out.back().rfind("FAILED: ", 0) == 0);
  REQUIRE(unlink(d.r1.c_str()) == 0);
  r = Hopctl({"verify", "--key", d.t.key_pub(), d.log()});
  CHECK(r.exit_code == 1);
  CHECK(r.out.find(d.r1 + ": recording missing (" + d.log() + ":") != std::string::npos);
}

TEST_CASE("hopctl audit verify --checkpoint: a truncated tail against yesterday's checkpoint") {
  Day d("cli-verify-truncate");
  std::string old = d.t.dir() + "/yesterday";
  RunResult cp = Hopctl({"checkpoint", d.log(), "--out", old});
  REQUIRE(cp.exit_code == 0);
  RunResult r = Hopctl({"verify", "--key", d.t.key_pub(), "--checkpoint", old, d.log()});
  INFO(r.out << r.err);
  CHECK(r.exit_code == 0);
  auto lines = at::Lines(d.log());
  lines.resize(lines.size() - 4);
  at::WriteLines(d.log(), lines);
  r = Hopctl({"verify", "--key", d.t.key_pub(), "--checkpoint", old, d.log()});
  INFO(r.out << r.err);
  CHECK(r.exit_code == 1);
  CHECK(r.out.find(old + ": the log has " + std::to_string(lines.size()) + " events but this checkpoint covers ") !=
        std::string::npos);
  REQUIRE(unlink((old + ".sig").c_str()) == 0);
  r = Hopctl({"verify", "--key", d.t.key_pub(), "--checkpoint", old, d.log()});
  CHECK(r.exit_code == 2);
  CHECK(r.err.find(old + ".sig: ") != std::string::npos);
}

TEST_CASE("hopctl audit checkpoint: prints it; ssh-keygen -Y verify accepts what it writes") {
  Day d("cli-checkpoint");
  RunResult r = Hopctl({"checkpoint", d.log()});
  REQUIRE(r.exit_code == 0);
  std::string text = ReadFile(d.log() + ".checkpoint"), sig = ReadFile(d.log() + ".checkpoint.sig");
  CHECK(r.out == text + sig);
  std::string out = d.t.dir() + "/cp";
  REQUIRE(Hopctl({"checkpoint", d.log(), "--out", out}).exit_code == 0);
  RunResult v = Run({"sh", "-c", "ssh-keygen -Y verify -f '" + d.t.allowed_signers() +
                                     "' -I hopgate/test -n hopgate-audit -s '" + out + ".sig' < '" + out + "'"});
  INFO(v.out << v.err);
  CHECK(v.exit_code == 0);
  CHECK(v.out.find("Good \"hopgate-audit\" signature for hopgate/test") != std::string::npos);
  CHECK(Hopctl({"checkpoint", d.log(), "--out", out}).exit_code == 2);  // never overwrites
  // Caught between the gateway's two renames (a new text, the old
  // signature): the pair from the log's last checkpoint event instead.
  auto first = nlohmann::json::parse(at::Lines(d.log())[0]);
  WriteFile(d.log() + ".checkpoint.sig", first["signature"].get<std::string>());
  r = Hopctl({"checkpoint", d.log()});
  CHECK(r.exit_code == 0);
  CHECK(r.out == text + sig);
  // Without the files beside the log: the last checkpoint event.
  REQUIRE(unlink((d.log() + ".checkpoint").c_str()) == 0);
  r = Hopctl({"checkpoint", d.log()});
  CHECK(r.exit_code == 0);
  CHECK(r.out == text + sig);
  // A log with no checkpoint at all.
  std::string bare = d.t.dir() + "/bare.jsonl";
  WriteFile(bare, at::Lines(d.log())[1] + "\n");
  r = Hopctl({"checkpoint", bare});
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("no checkpoint in " + bare) != std::string::npos);
}

TEST_CASE("hopctl audit export and verify-bundle") {
  Day d("cli-export");
  std::string out = d.t.dir() + "/bundle";
  RunResult r = Hopctl({"export", "c1000000000000001", "--audit", d.log(), "--out", out});
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(r.out.rfind("exported session c1000000000000001 to " + out + ": 8 events, 1 recordings, ", 0) == 0);
  r = Hopctl({"verify-bundle", "--key", d.t.key_pub(), out});
  INFO(r.out << r.err);
  CHECK(r.exit_code == 0);
  CHECK(r.out.rfind("OK: session c1000000000000001, 8 events, 1 recordings, checkpoint of tree size ", 0) == 0);
  r = Hopctl({"verify-bundle", "--allowed-signers", d.t.allowed_signers(), out});
  CHECK(r.exit_code == 0);
  // The auditor must bring a key.
  r = Hopctl({"verify-bundle", out});
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("a trusted key is needed") != std::string::npos);
  // One byte changed in a recording of the bundle.
  at::FlipByte(out + "/recordings/c1000000000000001-0-0.cast");
  r = Hopctl({"verify-bundle", "--key", d.t.key_pub(), out});
  CHECK(r.exit_code == 1);
  CHECK(r.out.find(out + "/recordings/c1000000000000001-0-0.cast: SHA-256 does not match manifest.json") !=
        std::string::npos);
  // Refusals: a session after the last checkpoint, an unknown one, a bad id, no log named.
  r = Hopctl({"export", "c4000000000000004", "--audit", d.log(), "--out", d.t.dir() + "/b2"});
  CHECK(r.exit_code == 0);  // its progress event precedes a checkpoint
  r = Hopctl({"export", "c9999999999999999", "--audit", d.log(), "--out", d.t.dir() + "/b3"});
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("no events of session c9999999999999999") != std::string::npos);
  r = Hopctl({"export", "nonsense", "--audit", d.log(), "--out", d.t.dir() + "/b4"});
  CHECK(r.exit_code == 2);
  r = Hopctl({"export", "c1000000000000001", "--out", d.t.dir() + "/b5"});
  CHECK(r.exit_code == 2);
}

TEST_CASE("hopctl audit export: no checkpoint after the session yet exits 1 saying so") {
  at::TestLog t(at::FreshDir("cli-export-early"));
  t.Checkpoint("start");
  t.RecordedConnection("c1000000000000001", 1000);
  t.Close();
  RunResult r = Hopctl({"export", "c1000000000000001", "--audit", t.log(), "--out", t.dir() + "/b"});
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("no checkpoint after the session's last event") != std::string::npos);
  struct stat st;
  CHECK(stat((t.dir() + "/b").c_str(), &st) != 0);
}

TEST_CASE("hopctl audit verify: a progress bar on a terminal only") {
  Day d("cli-progress");
  RunResult r = Run({"script", "-qec",
                     Gate::HopctlBinary() + " audit verify --key " + d.t.key_pub() + " " + d.log(),
                     "/dev/null"});
  INFO(r.out << r.err);
  CHECK(r.exit_code == 0);
  CHECK(r.out.find("verifying [") != std::string::npos);
  CHECK(r.out.find("OK: ") != std::string::npos);
}
