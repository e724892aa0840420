// hopctl audit on what a real gateway wrote: recorded sessions through real
// hopgate, sshd and ssh, the log rotated by size and signed by the gateway's
// own checkpoint key (no hopgate code writes anything here but the gateway).
// `hopctl audit verify` accepts the log and recordings; each kind of damage
// (a byte in a line, a deleted line, a swapped pair, a tail cut off against
// an earlier checkpoint, a recording changed, cut or deleted) exits 1 naming
// the place; after SIGKILL mid-session verify reports the open recording's
// verified prefix without a false alarm, and after a restart the log of
// both runs verifies; an export bundle verifies offline. A passthrough-only
// gateway's log verifies and a changed byte in it is named; a log renamed
// under a running gateway (logrotate, then SIGHUP) continues in a new file
// as one tree, and the directory holding both verifies.
#include <catch2/catch.hpp>

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <functional>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "audit/testing/test_log.h"
#include "common/encoding.h"
#include "tests/support/harness.h"
#include "tests/support/recorded_world.h"

using namespace hopgate;
using namespace hopgate::testing;
namespace at = hopgate::audit::testing;

namespace {

// The public half of the key the gateway generated and signs with.
std::string GateKey(const RecordedWorld& w) { return w.dir + "/audit_signing_ed25519.pub"; }

RunResult Hopctl(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {Gate::HopctlBinary(), "audit"};
  argv.insert(argv.end(), args.begin(), args.end());
  return Run(argv, "", 120'000);
}

bool Has(const RunResult& r, const std::string& text) { return r.out.find(text) != std::string::npos; }

// The log's files (audit.jsonl and its rotations audit.<seq>.jsonl), sorted by name.
std::vector<std::string> LogFiles(const std::string& dir) {
  RunResult ls = Run({"sh", "-c", "ls " + dir + "/audit*.jsonl"});
  std::vector<std::string> out;
  std::istringstream in(ls.out);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

// Events of `type` in every file of the log (Gate::AuditEvents reads only
// the current file).
std::vector<nlohmann::json> AllEvents(const std::string& dir, const std::string& type) {
  std::vector<nlohmann::json> out;
  for (const auto& f : LogFiles(dir)) {
    for (const auto& line : at::Lines(f)) {
      auto j = nlohmann::json::parse(line, nullptr, false);
      if (j.is_object() && j["type"] == type) out.push_back(j);
    }
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a["seq"] < b["seq"]; });
  return out;
}

// A copy of the log's files in a new directory, to damage.
std::string CopyLog(const RecordedWorld& w, const std::string& name) {
  std::string dir = w.dir + "/" + name;
  REQUIRE(Run({"sh", "-c", "mkdir " + dir + " && cp " + w.dir + "/audit*.jsonl " + dir}).exit_code == 0);
  return dir;
}

// Verifies a copy of the log whose first file (seq 0 on) `edit` changed;
// with `only_first`, the later files are left out of the copy.
RunResult VerifyDamaged(const RecordedWorld& w, const std::string& name, std::vector<std::string> args,
                        const std::function<void(std::vector<std::string>&)>& edit,
                        bool only_first = false) {
  std::string dir = CopyLog(w, name);
  if (only_first) {
    REQUIRE(Run({"sh", "-c", "cd " + dir + " && ls | grep -v '^audit.0.jsonl$' | xargs rm"}).exit_code == 0);
  }
  auto lines = at::Lines(dir + "/audit.0.jsonl");
  REQUIRE(lines.size() >= 6);
  edit(lines);
  at::WriteLines(dir + "/audit.0.jsonl", lines);
  std::vector<std::string> argv = {"verify", "--key", GateKey(w)};
  argv.insert(argv.end(), args.begin(), args.end());
  argv.push_back(dir);
  RunResult r = Hopctl(argv);
  UNSCOPED_INFO(name << ": " << r.out << r.err);
  return r;
}

void RunSession(const RecordedWorld& w, const std::string& marker) {
  RunResult r = Run(w.Ssh({"echo " + marker + "; exit 0"}), "", 60'000);
  INFO(r.err << w.gate->Log());
  REQUIRE(r.exit_code == 0);
  REQUIRE(r.out == marker + "\n");
}

// A passthrough-only gateway (nothing recorded): `ssh -J` through hopgate to
// a plain sshd. The gateway's files (config, keys, audit log and what lies
// beside it) have a directory of their own, as under /var/log/hopgate.
struct PassthroughWorld {
  std::string dir = MakeTempDir("audit-passthrough");
  std::string gate_dir = dir + "/gate";
  KeyPair alice = GenerateKey(dir, "alice");
  std::unique_ptr<Sshd> target;
  std::unique_ptr<Gate> gate;
  std::unique_ptr<Client> client;

  PassthroughWorld() {
    REQUIRE(Run({"mkdir", "-p", gate_dir, dir + "/target"}).exit_code == 0);
    target = std::make_unique<Sshd>(dir + "/target", std::vector<std::string>{alice.public_line});
    std::string port = std::to_string(target->port());
    gate = std::make_unique<Gate>(gate_dir,
                                  "version: 1\n"
                                  "users:\n"
                                  "  alice:\n"
                                  "    keys: [\"" + alice.public_line + "\"]\n"
                                  "rules:\n"
                                  "  - name: alice-to-target\n"
                                  "    users: [alice]\n"
                                  "    permit_open: [\"127.0.0.1:" + port + "\"]\n",
                                  "  checkpoint_interval: 1s\n");
    client = std::make_unique<Client>(dir, alice.private_path);
  }
  std::string Key() const { return gate_dir + "/audit_signing_ed25519.pub"; }

  void Session(const std::string& marker) {
    RunResult r = Run(client->SshJ("alice", gate->port(), target->port(), {"echo " + marker}), "",
                      60'000);
    INFO(r.err << gate->Log());
    REQUIRE(r.exit_code == 0);
    REQUIRE(r.out == marker + "\n");
  }
  // Connections closed, in every file of the log.
  size_t Closed() const { return AllEvents(gate_dir, "connection_close").size(); }
  void Stop() {
    gate->process().Signal(SIGTERM);
    REQUIRE(gate->process().Wait(15'000) == 0);
  }
};

size_t LineCount(const std::string& file) { return at::Lines(file).size(); }

}  // namespace

TEST_CASE("hopctl audit verify on a real gateway's rotated log; each kind of damage is named") {
  RecordedWorld w("", "", "", {}, "  checkpoint_interval: 1s\n  rotate_size: 4KiB\n");
  for (int i = 0; i < 3; ++i) RunSession(w, "audit-marker-" + std::to_string(i));
  REQUIRE(WaitUntil([&] { return AllEvents(w.dir, "session_close").size() == 3; }, 10'000));
  // Yesterday's checkpoint, as a witness would have kept it.
  REQUIRE(WaitUntil([&] { return !AllEvents(w.dir, "checkpoint").empty(); }, 10'000));
  std::string old = w.dir + "/yesterday";
  RunResult cp = Hopctl({"checkpoint", w.gate->audit_path(), "--out", old});
  INFO(cp.out << cp.err);
  REQUIRE(cp.exit_code == 0);
  RunSession(w, "audit-marker-3");
  REQUIRE(WaitUntil([&] { return AllEvents(w.dir, "session_close").size() == 4; }, 10'000));
  w.gate->process().Signal(SIGTERM);
  REQUIRE(w.gate->process().Wait(15'000) == 0);
  std::vector<nlohmann::json> closes = AllEvents(w.dir, "session_close");

  std::vector<std::string> files = LogFiles(w.dir);
  REQUIRE(files.size() >= 2);  // audit.jsonl and at least one rotation
  size_t events = 0;
  for (const auto& f : files) events += at::Lines(f).size();
  RunResult r = Hopctl({"verify", "--key", GateKey(w), w.gate->audit_path()});
  INFO(r.out << r.err);
  CHECK(r.exit_code == 0);
  CHECK(Has(r, "OK: " + std::to_string(events) + " events, 4 recordings, tree size " +
                   std::to_string(events) + ", root "));
  // The gateway's config names the log and (by default) the key; the log
  // extends the checkpoint saved before the last session.
  r = Hopctl({"verify", "--config", w.gate->config_path(), "--checkpoint", old});
  INFO(r.out << r.err);
  CHECK(r.exit_code == 0);
  CHECK(Has(r, "OK: " + std::to_string(events) + " events"));

  // Damage in the first file (seq 0 on), in a copy of the log.
  using Lines = std::vector<std::string>;
  r = VerifyDamaged(w, "byte", {}, [](Lines& l) {
    size_t t = l[3].find("\"ts\":\"") + 6;
    l[3][t] = l[3][t] == '1' ? '2' : '1';
  });
  CHECK(r.exit_code == 1);
  CHECK(Has(r, w.dir + "/byte/audit.0.jsonl:4: line changed (its hash does not match the next line's prev)\n"));
  r = VerifyDamaged(w, "deleted", {}, [](Lines& l) { l.erase(l.begin() + 2); });
  CHECK(r.exit_code == 1);
  CHECK(Has(r, w.dir + "/deleted/audit.0.jsonl:3: sequence number 3 where 2 was expected\n"));
  r = VerifyDamaged(w, "swapped", {}, [](Lines& l) { std::swap(l[2], l[3]); });
  CHECK(r.exit_code == 1);
  CHECK(Has(r, w.dir + "/swapped/audit.0.jsonl:3: sequence number 3 where 2 was expected\n"));
  // The tail cut off (the later files gone, the first cut short): found
  // against the checkpoint saved earlier.
  r = VerifyDamaged(w, "cut", {"--checkpoint", old}, [](Lines& l) { l.resize(5); }, true);
  CHECK(r.exit_code == 1);
  CHECK(Has(r, old + ": the log has 5 events but this checkpoint covers "));
  {
    std::string changed = closes[0]["recording"], cut = closes[1]["recording"],
                gone = closes[2]["recording"];
    at::FlipByte(changed);
    REQUIRE(truncate(cut.c_str(), 10) == 0);
    REQUIRE(unlink(gone.c_str()) == 0);
    r = Hopctl({"verify", "--key", GateKey(w), w.gate->audit_path()});
    INFO(r.out << r.err);
    CHECK(r.exit_code == 1);
    CHECK(Has(r, changed + ": recording changed: its SHA-256 does not match the log's (" + w.dir + "/audit"));
    CHECK(Has(r, cut + ": recording cut short: 10 bytes, the log says " +
                     std::to_string(closes[1]["recording_size"].get<uint64_t>()) + " ("));
    CHECK(Has(r, gone + ": recording missing ("));
    CHECK(!Has(r, std::string(closes[3]["recording"]) + ":"));
  }
}

TEST_CASE("after SIGKILL mid-session verify reports the open recording's verified prefix") {
  RecordedWorld w("", "", "", {}, "  checkpoint_interval: 1s\n");
  Process session(w.Ssh({"echo before-kill; sleep 30"}), w.dir + "/session.log");
  // A checkpoint covers the recording once its output is in it.
  nlohmann::json progress;
  REQUIRE(WaitUntil([&] {
    auto lines = w.gate->Audit();
    for (size_t i = 0; i + 1 < lines.size(); ++i) {
      const auto& e = lines[i];
      if (e["type"] == "recording_progress" && e["bytes"].get<uint64_t>() > 0 &&
          ReadFile(e["path"].get<std::string>()).find("before-kill") != std::string::npos) {
        progress = e;
        return true;
      }
    }
    return false;
  }, 20'000));
  w.gate->process().Signal(SIGKILL);
  REQUIRE(w.gate->process().Wait(10'000).has_value());
  session.Wait(10'000);
  std::string cast = progress["path"];
  // The last progress the log holds for it (later checkpoints may have come).
  uint64_t covered = 0;
  for (const auto& e : w.gate->AuditEvents("recording_progress")) {
    if (e["path"] == cast) covered = std::max(covered, e["bytes"].get<uint64_t>());
  }
  REQUIRE(covered > 0);

  RunResult r = Hopctl({"verify", "--key", GateKey(w), w.gate->audit_path()});
  INFO(r.out << r.err);
  CHECK(r.exit_code == 0);
  CHECK(Has(r, "note: " + cast + ": verified prefix of " + std::to_string(covered) + " bytes (of "));
  CHECK(Has(r, "OK: "));
  CHECK(Has(r, " 1 recordings, "));

  // Restarted, the gateway continues the chain and tree: the whole log,
  // both runs, verifies; the killed recording stays a verified prefix.
  w.gate->Start();
  RunSession(w, "after-restart");
  w.gate->process().Signal(SIGTERM);
  REQUIRE(w.gate->process().Wait(15'000) == 0);
  r = Hopctl({"verify", "--key", GateKey(w), w.gate->audit_path()});
  INFO(r.out << r.err);
  CHECK(r.exit_code == 0);
  CHECK(Has(r, "note: " + cast + ": verified prefix of " + std::to_string(covered) + " bytes (of "));
  CHECK(Has(r, " 2 recordings, "));

  // A change inside the verified prefix is found; one after it cannot be.
  at::FlipByte(cast, 5);
  r = Hopctl({"verify", "--key", GateKey(w), w.gate->audit_path()});
  INFO(r.out << r.err);
  CHECK(r.exit_code == 1);
  CHECK(Has(r, cast + ": recording changed: its first " + std::to_string(covered) +
                   " bytes do not match the SHA-256 the log recorded ("));
}

TEST_CASE("hopctl audit export of a real gateway's session verifies offline") {
  RecordedWorld w;
  RunSession(w, "export-marker");
  REQUIRE(WaitUntil([&] { return !w.Closes().empty(); }, 5000));
  std::string connection = w.Closes()[0]["connection"];
  w.gate->process().Signal(SIGTERM);
  REQUIRE(w.gate->process().Wait(15'000) == 0);

  std::string bundle = w.dir + "/bundle";
  RunResult r = Hopctl({"export", connection, "--config", w.gate->config_path(), "--out", bundle});
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  r = Hopctl({"verify-bundle", "--key", GateKey(w), bundle});
  INFO(r.out << r.err);
  CHECK(r.exit_code == 0);
  CHECK(Has(r, "OK: session " + connection + ", "));
  CHECK(ReadFile(bundle + "/events.jsonl").find("\"type\":\"session_close\"") != std::string::npos);
  // One byte changed anywhere in it fails it.
  at::FlipByte(bundle + "/events.jsonl");
  r = Hopctl({"verify-bundle", "--key", GateKey(w), bundle});
  INFO(r.out << r.err);
  CHECK(r.exit_code == 1);
  CHECK(Has(r, bundle + "/events.jsonl: "));
}

TEST_CASE("a passthrough-only gateway's log verifies; a changed byte is named by file and line") {
  PassthroughWorld w;
  w.Session("pass-marker-1");
  w.Session("pass-marker-2");
  REQUIRE(WaitUntil([&] { return w.Closed() == 2; }, 10'000));
  w.Stop();
  size_t events = LineCount(w.gate->audit_path());
  RunResult r = Hopctl({"verify", "--key", w.Key(), w.gate->audit_path()});
  INFO(r.out << r.err);
  CHECK(r.exit_code == 0);
  CHECK(Has(r, "OK: " + std::to_string(events) + " events, 0 recordings, tree size " +
                   std::to_string(events) + ", root "));
  // The channel of each session is in it, allowed by the rule.
  CHECK(AllEvents(w.gate_dir, "channel_open").size() >= 2);

  // One byte changed in a copy of the log: exit 1, the file and line named.
  std::string copy = w.dir + "/damaged";
  REQUIRE(Run({"mkdir", copy}).exit_code == 0);
  auto lines = at::Lines(w.gate->audit_path());
  REQUIRE(lines.size() >= 6);
  size_t t = lines[3].find("\"ts\":\"") + 6;
  lines[3][t] = lines[3][t] == '1' ? '2' : '1';
  at::WriteLines(copy + "/audit.jsonl", lines);
  r = Hopctl({"verify", "--key", w.Key(), copy + "/audit.jsonl"});
  INFO(r.out << r.err);
  CHECK(r.exit_code == 1);
  CHECK(Has(r, copy + "/audit.jsonl:4: line changed (its hash does not match the next line's prev)\n"));
  CHECK(!Has(r, "OK: "));
}

TEST_CASE("logrotate renames a running gateway's log and sends SIGHUP: a new file, one tree") {
  PassthroughWorld w;
  w.Session("before-rotate");
  REQUIRE(WaitUntil([&] { return w.Closed() == 1; }, 10'000));
  std::string log = w.gate->audit_path(), moved = log + ".1";
  REQUIRE(rename(log.c_str(), moved.c_str()) == 0);
  w.gate->process().Signal(SIGHUP);
  REQUIRE(WaitUntil([&] { return access(log.c_str(), F_OK) == 0; }, 10'000));
  w.Session("after-rotate");
  REQUIRE(WaitUntil([&] { return !w.gate->AuditEvents("connection_close").empty(); }, 10'000));
  // The second session's events are in the new file only; the moved file
  // ends where the new one begins: its seq and prev continue the chain.
  CHECK(w.gate->AuditEvents("connection_close").size() == 1);
  auto old_lines = at::Lines(moved);
  REQUIRE(!old_lines.empty());
  size_t old_count = old_lines.size();
  // hopctl sessions finds the sessions of both files (the index it keeps
  // beside the log is no part of the log for verify, below).
  RunResult s = Run({Gate::HopctlBinary(), "sessions", "--json", "--config", w.gate->config_path()});
  INFO(s.out << s.err);
  CHECK(s.exit_code == 0);
  auto listed = nlohmann::json::parse(s.out, nullptr, false);
  REQUIRE(listed.is_array());
  std::set<std::string> ids;
  for (const auto& row : listed) ids.insert(row.value("id", ""));
  for (const auto& line : old_lines) {
    auto e = nlohmann::json::parse(line);
    if (e["type"] == "connection_close") CHECK(ids.count(e["connection"]) == 1);
  }
  for (const auto& e : w.gate->AuditEvents("connection_close")) CHECK(ids.count(e["connection"]) == 1);
  CHECK(ids.size() == 2);
  w.Stop();
  CHECK(at::Lines(moved).size() == old_count);  // nothing more went to the moved file
  auto new_lines = at::Lines(log);
  REQUIRE(!new_lines.empty());
  auto first = nlohmann::json::parse(new_lines[0]);
  CHECK(first["seq"] == nlohmann::json::parse(old_lines.back())["seq"].get<uint64_t>() + 1);
  CHECK(first["prev"] == Sha256Hex(old_lines.back()));

  size_t events = old_count + new_lines.size();
  RunResult r = Hopctl({"verify", "--key", w.Key(), w.gate_dir});
  INFO(r.out << r.err);
  CHECK(r.exit_code == 0);
  CHECK(Has(r, "OK: " + std::to_string(events) + " events, 0 recordings, tree size " +
                   std::to_string(events) + ", root "));
  // The same given the log's path: the file logrotate renamed is found beside it.
  r = Hopctl({"verify", "--key", w.Key(), log});
  INFO(r.out << r.err);
  CHECK(r.exit_code == 0);
  CHECK(Has(r, "OK: " + std::to_string(events) + " events"));
}
