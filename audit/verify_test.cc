// audit verify on logs written by the real FileSink with a real Ed25519
// checkpoint key: an intact log verifies; each kind of damage is found and
// the first damaged place named exactly; a recording whose gateway was
// killed reports its verified prefix without a false alarm.
#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <cstdlib>

#include <nlohmann/json.hpp>

#include "audit/testing/test_log.h"
#include "audit/trust.h"
#include "audit/verify.h"
#include "common/encoding.h"
#include "common/strings.h"

using namespace hopgate;
using namespace hopgate::audit;
using namespace hopgate::audit::testing;

namespace {

constexpr int64_t kNow = 1795168800;

// A gateway's day: a start checkpoint, two recorded and two passthrough
// connections, checkpoints, and a recorded session still open when the
// gateway was killed (its recording grew after the last checkpoint).
struct Scenario {
  TestLog t;
  std::string r1, r2, r3;  // closed, closed, never closed
  explicit Scenario(const std::string& name) : t(FreshDir(name)) {
    t.Event("", ServerStart{"1.0", {"127.0.0.1:2222"}, "sha256:1", {}});
    t.Checkpoint("start");
    r1 = t.RecordedConnection("c1000000000000001", 5000);
    t.PassthroughConnection("c2000000000000002");
    t.Checkpoint("interval");
    r2 = t.RecordedConnection("c3000000000000003", 20000);
    r3 = t.OpenRecordedConnection("c4000000000000004", 3000);
    t.Checkpoint("interval", {r3});
    t.GrowRecording(r3, 700);
    t.PassthroughConnection("c5000000000000005");
    t.Checkpoint("interval", {r3});
    t.GrowRecording(r3, 300);  // written after the last checkpoint
    t.Close();                  // killed: no session_close for r3
  }
  const std::string& log() const { return t.log(); }
};

VerifyReport Verify(const std::vector<std::string>& paths, const std::string& key_pub,
                    VerifyOptions o = {}) {
  auto trusted = TrustedKeys::FromPublicKeys(ReadAll(key_pub), key_pub);
  REQUIRE(trusted.ok());
  auto files = LogFilesFor(paths);
  REQUIRE(files.ok());
  auto ordered = OrderLogFiles(*files);
  REQUIRE(ordered.ok());
  o.trusted = &*trusted;
  o.now = kNow;
  return VerifyLog(*ordered, o);
}

VerifyReport Verify(const Scenario& s, VerifyOptions o = {}) {
  return Verify({s.log()}, s.t.key_pub(), std::move(o));
}

std::string All(const VerifyReport& r) {
  std::string out;
  for (const auto& p : r.problems) out += "problem: " + p + "\n";
  for (const auto& n : r.notes) out += "note: " + n + "\n";
  for (const auto& e : r.io_errors) out += "io: " + e + "\n";
  return out;
}

// 1-based number of the first line containing all of `parts`.
size_t LineWith(const std::vector<std::string>& lines, std::vector<std::string> parts, size_t from = 0) {
  for (size_t i = from; i < lines.size(); ++i) {
    if (std::all_of(parts.begin(), parts.end(),
                    [&](const std::string& p) { return lines[i].find(p) != std::string::npos; })) {
      return i + 1;
    }
  }
  FAIL("no line with " << parts[0]);
  return 0;
}

std::string At(const Scenario& s, size_t line) { return s.log() + ":" + std::to_string(line); }

}  // namespace

TEST_CASE("verify: an intact log, its checkpoints and recordings verify") {
  Scenario s("verify-ok");
  VerifyReport r = Verify(s);
  INFO(All(r));
  CHECK(r.ok());
  auto lines = Lines(s.log());
  CHECK(r.events == lines.size());
  CHECK(r.tree_size == lines.size());
  CHECK(r.checkpoints == 4);
  CHECK(r.recordings == 3);
  CHECK(r.bytes == ReadAll(s.log()).size());
  // The root is that of every line, as the writer computed it.
  std::vector<Hash> leaves;
  for (const auto& l : lines) leaves.push_back(LeafHash(l));
  CHECK(r.root == RootOf(leaves));
}

TEST_CASE("verify: a recording whose gateway was killed shows its verified prefix, no alarm") {
  Scenario s("verify-killed");
  auto lines = Lines(s.log());
  size_t last_progress = 0;
  for (size_t i = 0; i < lines.size(); ++i) {
    if (lines[i].find("\"type\":\"recording_progress\"") != std::string::npos) last_progress = i;
  }
  auto p = nlohmann::json::parse(lines[last_progress]);
  uint64_t prefix = p["bytes"];
  uint64_t now = ReadAll(s.r3).size();
  REQUIRE(now == prefix + 300 + (now - prefix - 300));  // it grew after the checkpoint
  REQUIRE(now > prefix);

  VerifyReport r = Verify(s);
  INFO(All(r));
  CHECK(r.ok());
  bool noted = false;
  for (const auto& n : r.notes) {
    noted |= n == s.r3 + ": verified prefix of " + std::to_string(prefix) + " bytes (of " +
                      std::to_string(now) +
                      " now in the file); no session_close names it: the session is still open, "
                      "or the gateway stopped during it";
  }
  CHECK(noted);

  SECTION("a byte changed after the prefix is not covered: still no alarm") {
    FlipByte(s.r3, now - 5);
    CHECK(Verify(s).ok());
  }
  SECTION("a byte changed inside the prefix is found") {
    FlipByte(s.r3, 100);
    VerifyReport bad = Verify(s);
    REQUIRE(bad.problems.size() == 1);
    CHECK(bad.problems[0] == s.r3 + ": recording changed: its first " + std::to_string(prefix) +
                                 " bytes do not match the SHA-256 the log recorded (" +
                                 At(s, last_progress + 1) + ")");
  }
  SECTION("cut below the prefix") {
    REQUIRE(truncate(s.r3.c_str(), 1000) == 0);
    VerifyReport bad = Verify(s);
    REQUIRE(bad.problems.size() == 1);
    CHECK(bad.problems[0] == s.r3 + ": recording cut short: 1000 bytes, a checkpoint covered " +
                                 std::to_string(prefix) + " (" + At(s, last_progress + 1) + ")");
  }
}

TEST_CASE("verify: one byte changed in a line names that line") {
  Scenario s("verify-byte");
  auto lines = Lines(s.log());
  size_t n = LineWith(lines, {"\"type\":\"auth\"", "alice"});
  std::string& l = lines[n - 1];
  l.replace(l.find("alice"), 5, "alicf");
  WriteLines(s.log(), lines);
  VerifyReport r = Verify(s);
  INFO(All(r));
  REQUIRE(!r.ok());
  CHECK(r.problems[0] == At(s, n) + ": line changed (its hash does not match the next line's prev)");
  // The next checkpoint's root no longer matches either.
  REQUIRE(r.problems.size() >= 2);
  CHECK(r.problems[1].find(": checkpoint root does not match the events before it") != std::string::npos);
}

TEST_CASE("verify: a deleted middle line names where the sequence breaks") {
  Scenario s("verify-delete");
  auto lines = Lines(s.log());
  size_t n = LineWith(lines, {"\"type\":\"channel_open\"", "web1"});
  lines.erase(lines.begin() + static_cast<long>(n - 1));
  WriteLines(s.log(), lines);
  VerifyReport r = Verify(s);
  INFO(All(r));
  REQUIRE(!r.ok());
  CHECK(r.problems[0] == At(s, n) + ": sequence number " + std::to_string(n) + " where " +
                             std::to_string(n - 1) + " was expected");
}

TEST_CASE("verify: a swapped pair of lines") {
  Scenario s("verify-swap");
  auto lines = Lines(s.log());
  size_t n = LineWith(lines, {"\"type\":\"session_open\""});
  std::swap(lines[n - 1], lines[n]);
  WriteLines(s.log(), lines);
  VerifyReport r = Verify(s);
  INFO(All(r));
  REQUIRE(r.problems.size() >= 2);
  CHECK(r.problems[0] == At(s, n) + ": sequence number " + std::to_string(n) + " where " +
                             std::to_string(n - 1) + " was expected");
  CHECK(r.problems[1] == At(s, n + 1) + ": sequence number " + std::to_string(n - 1) + " where " +
                             std::to_string(n + 1) + " was expected");
}

TEST_CASE("verify: damaged JSON is named as such, once") {
  Scenario s("verify-json");
  auto lines = Lines(s.log());
  size_t n = LineWith(lines, {"\"type\":\"connection_close\""});
  lines[n - 1].back() = ']';
  WriteLines(s.log(), lines);
  VerifyReport r = Verify(s);
  INFO(All(r));
  REQUIRE(!r.ok());
  CHECK(r.problems[0] == At(s, n) + ": not valid JSON");
  for (const auto& p : r.problems) CHECK(p.find(At(s, n) + ": line changed") == std::string::npos);
}

TEST_CASE("verify: a rewritten chain is caught by the signed checkpoint after it") {
  Scenario s("verify-rewrite");
  auto lines = Lines(s.log());
  size_t n = LineWith(lines, {"\"type\":\"auth\"", "bob"});
  // Change the line and recompute every later prev, as an attacker without
  // the signing key would.
  for (size_t i = n - 1; i < lines.size(); ++i) {
    auto j = nlohmann::json::parse(lines[i]);
    if (i == n - 1) j["user"] = "mallory";
    if (i > n - 1) j["prev"] = Sha256Hex(lines[i - 1]);
    lines[i] = j.dump();
  }
  WriteLines(s.log(), lines);
  VerifyReport r = Verify(s);
  INFO(All(r));
  REQUIRE(!r.ok());
  size_t cp = LineWith(lines, {"\"type\":\"checkpoint\""}, n);
  auto first_cp = nlohmann::json::parse(lines[LineWith(lines, {"\"type\":\"checkpoint\""}) - 1]);
  CHECK(r.problems[0] == At(s, cp) + ": checkpoint root does not match the events before it (an "
                                     "event from seq " +
                             std::to_string(first_cp["tree_size"].get<uint64_t>()) + " to " +
                             std::to_string(cp - 2) +
                             " was changed and the lines after it rewritten)");
}

TEST_CASE("verify: a truncated tail is found against a checkpoint saved earlier") {
  Scenario s("verify-truncate");
  // Yesterday's checkpoint, shipped off the box.
  std::string old = s.t.dir() + "/saved.checkpoint";
  WriteAll(old, ReadAll(s.log() + ".checkpoint"));
  WriteAll(old + ".sig", ReadAll(s.log() + ".checkpoint.sig"));
  uint64_t covered = std::stoull(Split(ReadAll(old), '\n')[1]);
  auto lines = Lines(s.log());
  VerifyOptions o;
  o.old_checkpoint = SavedCheckpoint{old, ReadAll(old), ReadAll(old + ".sig")};

  SECTION("the whole log extends it") {
    VerifyReport r = Verify(s, o);
    INFO(All(r));
    CHECK(r.ok());
  }
  SECTION("the tail cut off") {
    size_t keep = lines.size() - 9;
    lines.resize(keep);
    WriteLines(s.log(), lines);
    INFO(All(Verify(s)));
    CHECK(Verify(s).ok());  // without the saved checkpoint, nothing shows the cut
    VerifyReport r = Verify(s, o);
    INFO(All(r));
    REQUIRE(r.problems.size() == 1);
    CHECK(r.problems[0] == old + ": the log has " + std::to_string(keep) +
                               " events but this checkpoint covers " + std::to_string(covered) +
                               ": events " + std::to_string(keep) + " to " +
                               std::to_string(covered - 1) + " are missing (the log was cut after " +
                               At(s, keep) + ")");
  }
  SECTION("a checkpoint signed by another key is refused") {
    auto other = certs::GenerateEd25519();
    REQUIRE(other.ok());
    std::string pub = s.t.dir() + "/other.pub";
    WriteAll(pub, other->PublicLine() + "\n");
    VerifyReport r = Verify({s.log()}, pub, o);
    REQUIRE(!r.problems.empty());
    CHECK(r.problems[0] == old + ": signed by " + s.t.key().Public().Fingerprint() +
                               ", not a trusted key (key " + pub + ")");
  }
}

TEST_CASE("verify: recordings changed, cut short or deleted are named") {
  Scenario s("verify-recordings");
  auto lines = Lines(s.log());
  size_t c1 = LineWith(lines, {"\"type\":\"session_close\"", "c1000000000000001"});
  size_t c3 = LineWith(lines, {"\"type\":\"session_close\"", "c3000000000000003"});
  uint64_t size1 = ReadAll(s.r1).size();
  SECTION("one byte") {
    FlipByte(s.r2);
    VerifyReport r = Verify(s);
    REQUIRE(r.problems.size() == 1);
    CHECK(r.problems[0] == s.r2 + ": recording changed: its SHA-256 does not match the log's (" +
                               At(s, c3) + ")");
  }
  SECTION("cut short") {
    REQUIRE(truncate(s.r1.c_str(), 1000) == 0);
    VerifyReport r = Verify(s);
    REQUIRE(r.problems.size() == 1);
    CHECK(r.problems[0] == s.r1 + ": recording cut short: 1000 bytes, the log says " +
                               std::to_string(size1) + " (" + At(s, c1) + ")");
  }
  SECTION("deleted") {
    REQUIRE(unlink(s.r2.c_str()) == 0);
    VerifyReport r = Verify(s);
    REQUIRE(r.problems.size() == 1);
    CHECK(r.problems[0] == s.r2 + ": recording missing (" + At(s, c3) + ")");
  }
  SECTION("a copy moved elsewhere verifies with --recordings") {
    std::string copy = FreshDir("verify-recordings-copy");
    REQUIRE(system(("cp -a '" + s.t.dir() + "/.' '" + copy + "'").c_str()) == 0);
    REQUIRE(system(("rm -rf '" + s.t.recordings() + "'").c_str()) == 0);
    VerifyOptions o;
    o.recordings_dir = copy + "/recordings";
    VerifyReport r = Verify({copy + "/audit.jsonl"}, copy + "/audit_key.pub", o);
    INFO(All(r));
    CHECK(r.ok());
    CHECK(r.recordings == 3);
    FlipByte(copy + "/recordings/2026/11/20/c1000000000000001-0-0.cast");
    r = Verify({copy + "/audit.jsonl"}, copy + "/audit_key.pub", o);
    REQUIRE(r.problems.size() == 1);
    CHECK(r.problems[0].rfind(copy + "/recordings/2026/11/20/c1000000000000001-0-0.cast: recording changed", 0) == 0);
  }
}

TEST_CASE("verify: checkpoints must be signed by a key the auditor trusts") {
  Scenario s("verify-keys");
  SECTION("another key: every checkpoint is refused, naming the signer") {
    auto other = certs::GenerateEd25519();
    REQUIRE(other.ok());
    std::string pub = s.t.dir() + "/other.pub";
    WriteAll(pub, other->PublicLine() + "\n");
    VerifyReport r = Verify({s.log()}, pub);
    REQUIRE(r.problems.size() == 4);
    size_t cp = LineWith(Lines(s.log()), {"\"type\":\"checkpoint\""});
    CHECK(r.problems[0] == At(s, cp) + ": checkpoint signature: signed by " +
                               s.t.key().Public().Fingerprint() + ", not a trusted key (key " + pub + ")");
  }
  SECTION("an allowed_signers file: principal and namespace must match the origin") {
    auto with = [&](const std::string& line) {
      std::string file = s.t.dir() + "/as";
      WriteAll(file, "# auditors' trust\n\n" + line + "\n");
      auto t = TrustedKeys::FromAllowedSigners(ReadAll(file), file);
      REQUIRE(t.ok());
      VerifyOptions o;
      o.trusted = &*t;
      o.now = kNow;
      return VerifyLog(*OrderLogFiles(*LogFilesFor({s.log()})), o);
    };
    std::string key = s.t.key().Public().ToLine();
    CHECK(with("hopgate/test " + key).ok());
    CHECK(with("hopgate/* namespaces=\"hopgate-audit\" " + key).ok());
    CHECK(with("other,hopgate/test namespaces=\"git,hopgate-*\" " + key + " comment").ok());
    VerifyReport r = with("other/origin " + key);
    REQUIRE(!r.problems.empty());
    CHECK(r.problems[0].find("not trusted for \"hopgate/test\"") != std::string::npos);
    CHECK(!with("!hopgate/test,* " + key).ok());
    CHECK(!with("* namespaces=\"git\" " + key).ok());
    CHECK(!with("* cert-authority " + key).ok());
    CHECK(!with("* valid-before=\"20260101\" " + key).ok());
    CHECK(with("* valid-after=\"20260101Z\",valid-before=\"20991231\" " + key).ok());
  }
}

TEST_CASE("verify: rotated files and logrotate's renamed file form one log, in any order") {
  std::string dir = FreshDir("verify-rotate");
  FileSinkOptions so;
  so.rotate_size = 3000;
  TestLog t(dir, so);
  t.Checkpoint("start");
  for (int i = 0; i < 6; ++i) t.PassthroughConnection("c10000000000000" + std::to_string(10 + i));
  // logrotate: rename, then SIGHUP (Reopen).
  REQUIRE(rename(t.log().c_str(), (t.log() + ".1").c_str()) == 0);
  REQUIRE(t.sink().Reopen().ok());
  t.RecordedConnection("c2000000000000099", 4000);
  t.Checkpoint("shutdown");
  t.Close();
  auto files = LogFilesFor({t.log()});
  REQUIRE(files.ok());
  CHECK(std::find(files->begin(), files->end(), t.log() + ".1") != files->end());
  REQUIRE(files->size() >= 4);
  VerifyReport r = Verify({t.log()}, t.key_pub());
  INFO(All(r));
  CHECK(r.ok());
  CHECK(Verify({dir}, t.key_pub()).ok());  // the directory
  // ...also with the session index hopctl keeps beside the log (binary,
  // with ".jsonl" in its name) and SQLite's journal files: not log files.
  for (const char* side : {".index.sqlite", ".index.sqlite-wal", ".index.sqlite-journal"}) {
    std::ofstream(t.log() + side) << std::string("SQLite format 3\0\n{\"seq\":1}\n", 27);
  }
  VerifyReport with_index = Verify({dir}, t.key_pub());
  INFO(All(with_index));
  CHECK(with_index.ok());
  std::vector<std::string> scrambled(files->rbegin(), files->rend());
  CHECK(Verify(scrambled, t.key_pub()).ok());  // explicit files, out of order

  SECTION("the first file missing: the log does not start at 0") {
    auto ordered = *OrderLogFiles(*files);
    REQUIRE(unlink(ordered[0].c_str()) == 0);
    VerifyReport bad = Verify({t.log()}, t.key_pub());
    REQUIRE(!bad.problems.empty());
    uint64_t first = nlohmann::json::parse(Lines(ordered[1])[0])["seq"];
    CHECK(bad.problems[0] == ordered[1] + ":1: sequence number " + std::to_string(first) +
                                 " where 0 was expected");
  }
}

TEST_CASE("verify: a log with nothing signed, a partial last line, unreadable paths") {
  std::string dir = FreshDir("verify-misc");
  SECTION("no checkpoint") {
    auto key = certs::GenerateEd25519();
    WriteAll(dir + "/k.pub", key->PublicLine() + "\n");
    {
      auto sink = FileSink::Open(dir + "/audit.jsonl");
      REQUIRE(sink.ok());
      REQUIRE((*sink)->Write(Event{1, "c1", ConnectionClose{"a", "b", 1, 0}}).ok());
    }
    VerifyReport r = Verify({dir + "/audit.jsonl"}, dir + "/k.pub");
    REQUIRE(r.problems.size() == 1);
    CHECK(r.problems[0] == dir + "/audit.jsonl: no checkpoint in the log, so nothing in it is signed");
  }
  SECTION("a partial last line is a note; events after the last checkpoint too") {
    TestLog t(dir + "/p");
    t.Checkpoint("start");
    t.PassthroughConnection("c3000000000000001");
    t.Close();
    size_t n = Lines(t.log()).size();
    WriteAll(t.log(), ReadAll(t.log()) + "{\"ts\":\"2026");
    VerifyReport r = Verify({t.log()}, t.key_pub());
    INFO(All(r));
    CHECK(r.ok());
    REQUIRE(r.notes.size() == 2);
    CHECK(r.notes[0] == t.log() + ":" + std::to_string(n + 1) +
                            ": an incomplete last line (11 bytes, no newline) was not checked: "
                            "still being written, or cut off");
    CHECK(r.notes[1] == "the last 5 events (seq 1 to 5) come after the last checkpoint: chained, not yet signed");
  }
  SECTION("paths that do not exist") {
    auto files = LogFilesFor({dir + "/nope.jsonl"});
    REQUIRE(!files.ok());
    CHECK(files.code() == Code::kNotFound);
    CHECK(files.message() == dir + "/nope.jsonl: No such file or directory");
    CHECK(LogFilesFor({dir}).code() == Code::kNotFound);  // no log files in it
  }
}

TEST_CASE("verify: the checkpoint file verifies with ssh-keygen -Y verify") {
  Scenario s("verify-sshkeygen");
  std::string cp = s.log() + ".checkpoint";
  std::string origin = Split(ReadAll(cp), '\n')[0];
  CHECK(origin == TestLog::kOrigin);
  std::string cmd = "ssh-keygen -Y verify -f '" + s.t.allowed_signers() + "' -I '" + origin +
                    "' -n hopgate-audit -s '" + cp + ".sig' < '" + cp + "' > '" + s.t.dir() +
                    "/out' 2>&1";
  int rc = system(cmd.c_str());
  INFO(ReadAll(s.t.dir() + "/out"));
  CHECK(rc == 0);
  CHECK(ReadAll(s.t.dir() + "/out").find("Good \"hopgate-audit\" signature for hopgate/test with ED25519 key " +
                                         s.t.key().Public().Fingerprint()) != std::string::npos);
  // A changed checkpoint does not.
  std::string changed = s.t.dir() + "/changed";
  std::string text = ReadAll(cp);
  text[text.find('\n') + 1] = '9';
  WriteAll(changed, text);
  std::string bad = "ssh-keygen -Y verify -f '" + s.t.allowed_signers() + "' -I '" + origin +
                    "' -n hopgate-audit -s '" + cp + ".sig' < '" + changed + "' >/dev/null 2>&1";
  CHECK(system(bad.c_str()) != 0);
}
