// The tamper-evident file log: seq and prev on every line, checkpoints whose
// root is the tree of the lines before them, continuation across restarts,
// rotation and logrotate, recovery from a crash mid-write, and refusal of a
// log whose lines are out of sequence.
#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "audit/checkpoint.h"
#include "audit/log_files.h"
#include "audit/merkle.h"
#include "audit/sink.h"
#include "certs/private_key.h"
#include "certs/sshsig.h"
#include "common/encoding.h"

using namespace hopgate;
using namespace hopgate::audit;

namespace {

std::string FreshDir(const std::string& name) {
  std::string dir = std::string(getenv("TEST_TMPDIR") ? getenv("TEST_TMPDIR") : "/tmp") + "/" + name;
  std::string cmd = "rm -rf '" + dir + "' && mkdir -p '" + dir + "'";
  REQUIRE(system(cmd.c_str()) == 0);
  return dir;
}

std::vector<std::string> Lines(const std::string& file) {
  std::ifstream in(file);
  std::vector<std::string> out;
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

Status Note(FileSink& sink, const std::string& what) {
  ConnectionClose c;
  c.reason = what;
  return sink.Write(Event{1795168800000, "c1", c});
}

// Checks seq, prev and every checkpoint's root against the lines.
void CheckChain(const std::vector<std::string>& lines) {
  std::vector<Hash> leaves;
  std::string prev(64, '0');
  for (size_t i = 0; i < lines.size(); ++i) {
    auto j = nlohmann::json::parse(lines[i]);
    INFO("line " << i << ": " << lines[i]);
    REQUIRE(j["seq"] == i);
    CHECK(j["prev"] == prev);
    if (j["type"] == "checkpoint") {
      CHECK(j["tree_size"] == i);
      CHECK(j["root"] == Base64Encode(RootOf(leaves)));
      auto text = ParseCheckpoint(j["checkpoint"].get<std::string>());
      REQUIRE(text.ok());
      CHECK(text->size == i);
      CHECK(text->root == RootOf(leaves));
    }
    leaves.push_back(LeafHash(lines[i]));
    prev = Sha256Hex(lines[i]);
  }
}

}  // namespace

TEST_CASE("every line carries seq and prev; a checkpoint signs the tree before it") {
  std::string dir = FreshDir("chain-basic");
  std::string path = dir + "/audit.jsonl";
  auto key = certs::GenerateEd25519("audit");
  REQUIRE(key.ok());
  FileSinkOptions o;
  o.origin = "hopgate/test";
  o.signer = [&](std::string_view text) { return certs::SshSigSign(*key, kCheckpointNamespace, text); };
  o.clock = [] { return int64_t{1795168800000}; };
  auto sink = FileSink::Open(path, o);
  REQUIRE(sink.ok());
  for (int i = 0; i < 5; ++i) REQUIRE(Note(**sink, "event " + std::to_string(i)).ok());
  RecordingProgress p;
  p.path = "/rec/a.cast";
  p.bytes = 10;
  p.sha256 = std::string(64, 'a');
  REQUIRE((*sink)->WriteCheckpoint("interval", {p}).ok());
  REQUIRE(Note(**sink, "after").ok());
  auto lines = Lines(path);
  REQUIRE(lines.size() == 8);
  CheckChain(lines);
  auto progress = nlohmann::json::parse(lines[5]);
  CHECK(progress["type"] == "recording_progress");
  CHECK(progress["path"] == "/rec/a.cast");
  // The checkpoint files beside the log verify with the key, as
  // `ssh-keygen -Y verify` would.
  std::ifstream cp(path + ".checkpoint"), sig(path + ".checkpoint.sig");
  std::stringstream cps, sigs;
  cps << cp.rdbuf();
  sigs << sig.rdbuf();
  CHECK(cps.str() == "hopgate/test\n6\n" +
                         Base64Encode(RootOf([&] {
                           std::vector<Hash> l;
                           for (int i = 0; i < 6; ++i) l.push_back(LeafHash(lines[i]));
                           return l;
                         }())) +
                         "\n2026-11-20T10:00:00Z\n");
  auto verified = certs::SshSigVerify(sigs.str(), kCheckpointNamespace, cps.str());
  INFO((verified.ok() ? std::string() : verified.message()));
  REQUIRE(verified.ok());
  CHECK(verified->key == key->Public());
}

TEST_CASE("the tree continues across restarts, with or without the saved state") {
  std::string dir = FreshDir("chain-restart");
  std::string path = dir + "/audit.jsonl";
  for (int run = 0; run < 3; ++run) {
    if (run == 2) REQUIRE(unlink((path + ".tree").c_str()) == 0);  // rebuilt from the files
    auto sink = FileSink::Open(path);
    REQUIRE(sink.ok());
    CHECK((*sink)->size() == static_cast<uint64_t>(run * 3));
    for (int i = 0; i < 3; ++i) REQUIRE(Note(**sink, "run " + std::to_string(run)).ok());
  }
  CheckChain(Lines(path));
  CHECK(Lines(path).size() == 9);
}

TEST_CASE("a partial last line from a crash is cut; the chain goes on") {
  std::string dir = FreshDir("chain-crash");
  std::string path = dir + "/audit.jsonl";
  {
    auto sink = FileSink::Open(path);
    REQUIRE(sink.ok());
    REQUIRE(Note(**sink, "one").ok());
    REQUIRE(Note(**sink, "two").ok());
  }
  {
    std::ofstream out(path, std::ios::app);
    out << "{\"ts\":\"2026-11-20T10:00:00.000Z\",\"type\":\"conn";  // killed mid-write
  }
  auto sink = FileSink::Open(path);
  REQUIRE(sink.ok());
  REQUIRE((*sink)->notes().size() == 1);
  CHECK((*sink)->notes()[0].find("partial last line") != std::string::npos);
  REQUIRE(Note(**sink, "three").ok());
  CheckChain(Lines(path));
  CHECK(Lines(path).size() == 3);
}

TEST_CASE("rotation by size keeps one tree across the files; logrotate's rename too") {
  std::string dir = FreshDir("chain-rotate");
  std::string path = dir + "/audit.jsonl";
  FileSinkOptions o;
  o.rotate_size = 1000;
  {
    auto sink = FileSink::Open(path, o);
    REQUIRE(sink.ok());
    for (int i = 0; i < 20; ++i) REQUIRE(Note(**sink, "event " + std::to_string(i)).ok());
    // logrotate renames the file (holding at least one line) and sends SIGHUP.
    struct stat st;
    while (stat(path.c_str(), &st) == 0 && st.st_size == 0) REQUIRE(Note(**sink, "more").ok());
    REQUIRE(rename(path.c_str(), (dir + "/audit.jsonl.1").c_str()) == 0);
    REQUIRE((*sink)->Reopen().ok());
    REQUIRE(Note(**sink, "after logrotate").ok());
  }
  auto files = LogFilesOf(path);
  REQUIRE(files.size() >= 3);
  CHECK(files[0] == dir + "/audit.0.jsonl");
  // Every rotated file ends with a checkpoint covering it.
  auto first = Lines(files[0]);
  CHECK(nlohmann::json::parse(first.back())["type"] == "checkpoint");
  CHECK(nlohmann::json::parse(first.back())["reason"] == "rotation");
  // Rotated files, the file logrotate moved and the current one: in seq
  // order they form one chain.
  std::vector<std::string> moved = Lines(dir + "/audit.jsonl.1");
  REQUIRE(!moved.empty());
  uint64_t seq = nlohmann::json::parse(moved[0])["seq"];
  std::vector<std::string> ordered = moved;
  for (const auto& f : files) for (auto& l : Lines(f)) ordered.push_back(l);
  std::sort(ordered.begin(), ordered.end(), [](const std::string& a, const std::string& b) {
    return nlohmann::json::parse(a)["seq"].get<uint64_t>() <
           nlohmann::json::parse(b)["seq"].get<uint64_t>();
  });
  CheckChain(ordered);
  // The tree continues after a restart from the files.
  REQUIRE(unlink((path + ".tree").c_str()) == 0);
  REQUIRE(rename((dir + "/audit.jsonl.1").c_str(), RotatedPath(path, seq).c_str()) == 0);
  auto again = FileSink::Open(path, o);
  INFO((again.ok() ? "" : again.message()));
  REQUIRE(again.ok());
  CHECK((*again)->size() == ordered.size());
}

TEST_CASE("a log whose lines are out of sequence is refused, naming the line") {
  std::string dir = FreshDir("chain-bad");
  std::string path = dir + "/audit.jsonl";
  {
    auto sink = FileSink::Open(path);
    REQUIRE(sink.ok());
    for (int i = 0; i < 3; ++i) REQUIRE(Note(**sink, "e").ok());
  }
  auto lines = Lines(path);
  std::ofstream(path) << lines[0] << "\n" << lines[2] << "\n";  // line 2 deleted
  REQUIRE(unlink((path + ".tree").c_str()) == 0);
  auto sink = FileSink::Open(path);
  REQUIRE_FALSE(sink.ok());
  CHECK(sink.message() == path + ":2: sequence number 2 where 1 was expected");
}

TEST_CASE("a log from before the tree is moved aside and a new tree starts") {
  std::string dir = FreshDir("chain-legacy");
  std::string path = dir + "/audit.jsonl";
  std::ofstream(path) << "{\"ts\":\"2026-11-20T10:00:00.000Z\",\"type\":\"server_start\"}\n";
  auto sink = FileSink::Open(path);
  REQUIRE(sink.ok());
  REQUIRE((*sink)->notes().size() == 1);
  CHECK((*sink)->notes()[0].find("moved it to " + path + ".before-tree.") != std::string::npos);
  REQUIRE(Note(**sink, "new").ok());
  CheckChain(Lines(path));
}

TEST_CASE("with no interval checkpoint, one comes at least every 10,000 events (the default)") {
  std::string dir = FreshDir("chain-every-events");
  std::string path = dir + "/audit.jsonl";
  FileSinkOptions o;  // checkpoint_every_events left at its default
  o.clock = [] { return int64_t{1795168800000}; };
  auto sink = FileSink::Open(path, o);
  REQUIRE(sink.ok());
  for (int i = 0; i < 20'000; ++i) REQUIRE(Note(**sink, "e").ok());
  auto lines = Lines(path);
  // 20,000 events and two checkpoints: one after the first 10,000 events,
  // one after the next 9,999 (with the first checkpoint's line, 10,000
  // lines again).
  REQUIRE(lines.size() == 20'002);
  std::vector<uint64_t> at;
  for (const auto& l : lines) {
    auto j = nlohmann::json::parse(l);
    if (j["type"] != "checkpoint") continue;
    at.push_back(j["seq"]);
    CHECK(j["reason"] == "events");
  }
  CHECK(at == std::vector<uint64_t>{10'000, 20'000});
  CheckChain(lines);
  CHECK((*sink)->checkpointed_size() == 20'000);
  // The checkpoint file beside the log is the latest one.
  std::ifstream cp(path + ".checkpoint");
  std::stringstream text;
  text << cp.rdbuf();
  auto latest = ParseCheckpoint(text.str());
  REQUIRE(latest.ok());
  CHECK(latest->size == 20'000);
}

TEST_CASE("rotation by audit.rotate_interval: by the file's age, not when empty, across a restart") {
  std::string dir = FreshDir("chain-rotate-interval");
  std::string path = dir + "/audit.jsonl";
  const int64_t hour = 3'600'000, t0 = 1795168800000;
  int64_t now = t0;
  FileSinkOptions o;
  o.rotate_interval_ms = hour;
  o.clock = [&now] { return now; };
  {
    auto sink = FileSink::Open(path, o);
    REQUIRE(sink.ok());
    for (int i = 0; i < 3; ++i) REQUIRE(Note(**sink, "first hour").ok());
    now = t0 + hour - 1;
    REQUIRE((*sink)->MaybeRotate().ok());
    CHECK(LogFilesOf(path) == std::vector<std::string>{path});  // not old enough yet
    now = t0 + hour;
    REQUIRE((*sink)->MaybeRotate().ok());
    REQUIRE(LogFilesOf(path) == std::vector<std::string>{dir + "/audit.0.jsonl", path});
    auto first = Lines(dir + "/audit.0.jsonl");
    REQUIRE(first.size() == 4);
    CHECK(nlohmann::json::parse(first.back())["reason"] == "rotation");
    // The new file is empty: an hour later there is still nothing to rotate.
    now = t0 + 3 * hour;
    REQUIRE((*sink)->MaybeRotate().ok());
    CHECK(Lines(path).empty());
    CHECK(LogFilesOf(path).size() == 2);
    // Its age counts from when it was started (at the rotation), not from
    // its first line: the next rotation is due an hour after t0 + hour.
    REQUIRE(Note(**sink, "second file").ok());
    REQUIRE((*sink)->MaybeRotate().ok());
    REQUIRE(LogFilesOf(path).size() == 3);
    CHECK(LogFilesOf(path)[1] == dir + "/audit.4.jsonl");
    REQUIRE(Note(**sink, "third file").ok());
  }
  // A restart keeps the current file's start time (from the saved state):
  // it is rotated an hour after it began, not an hour after the restart.
  now = t0 + 3 * hour + hour / 2;
  {
    auto sink = FileSink::Open(path, o);
    REQUIRE(sink.ok());
    REQUIRE((*sink)->MaybeRotate().ok());
    CHECK(LogFilesOf(path).size() == 3);
    now = t0 + 4 * hour;
    REQUIRE((*sink)->MaybeRotate().ok());
    CHECK(LogFilesOf(path).size() == 4);
  }
  std::vector<std::string> all;
  for (const auto& f : LogFilesOf(path)) for (auto& l : Lines(f)) all.push_back(l);
  CheckChain(all);
  CHECK(all.size() == 4 + 2 + 2);  // each file's events and its rotation checkpoint
}
