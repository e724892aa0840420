// The session index against logs written by the real FileSink and
// recordings written by the real CastWriter: what sessions it lists, what
// --grep finds, and that it stays right as the log grows, rotates, is
// replaced, or names recordings that are damaged, moved or missing.
#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>

#include "audit/asciicast.h"
#include "audit/index.h"
#include "audit/sink.h"

using namespace hopgate;
using namespace hopgate::audit;

namespace {

constexpr int64_t kT0 = 1795932189000;  // 2026-11-29T06:03:09Z

std::string FreshDir(const std::string& name) {
  std::string dir = std::string(getenv("TEST_TMPDIR") ? getenv("TEST_TMPDIR") : "/tmp") + "/" + name;
  std::string cmd = "rm -rf '" + dir + "' && mkdir -p '" + dir + "'";
  REQUIRE(system(cmd.c_str()) == 0);
  return dir;
}

void Append(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::app);
  out << text;
}

// Writes a log the way the gateway does, with recordings beside it.
struct World {
  std::string dir;
  std::string log;
  std::unique_ptr<FileSink> sink;
  int64_t now = kT0;
  std::vector<std::string> warnings;

  explicit World(const std::string& name, FileSinkOptions options = {})
      : dir(FreshDir(name)), log(dir + "/audit.jsonl") {
    Open(options);
  }
  void Open(FileSinkOptions options = {}) {
    sink.reset();
    auto s = FileSink::Open(log, options);
    REQUIRE(s.ok());
    sink = std::move(*s);
  }
  void W(const std::string& conn, Body body) {
    REQUIRE(sink->Write(Event{now += 100, conn, std::move(body)}).ok());
  }

  void Connect(const std::string& conn, const std::string& user, const std::string& addr, int port) {
    ConnectionOpen o;
    o.client_addr = addr;
    o.client_port = static_cast<uint16_t>(port);
    o.listen = "127.0.0.1:2222";
    W(conn, o);
    Auth a;
    a.user = user;
    a.client_addr = addr;
    a.client_port = static_cast<uint16_t>(port);
    a.method = "publickey";
    a.key_type = "ssh-ed25519";
    a.fingerprint = "SHA256:k-" + user;
    a.success = true;
    W(conn, a);
  }
  void Open(const std::string& conn, uint32_t channel, const std::string& dest, bool recorded) {
    ChannelOpen c;
    c.channel = channel;
    c.kind = "direct-tcpip";
    c.destination = dest;
    c.dial = "127.0.0.1:22";
    c.allow = true;
    c.rule = recorded ? "rec-rule" : "pass-rule";
    c.policy_version = "sha256:1234";
    c.recorded = recorded;
    c.host = dest.substr(0, dest.find(':'));
    W(conn, c);
  }
  void CloseChannel(const std::string& conn, uint32_t channel, uint64_t up, uint64_t down) {
    ChannelClose c;
    c.channel = channel;
    c.kind = "direct-tcpip";
    c.bytes_client_to_target = up;
    c.bytes_target_to_client = down;
    c.reason = "client disconnected";
    W(conn, c);
  }
  void Disconnect(const std::string& conn, const std::string& user) {
    ConnectionClose c;
    c.user = user;
    c.reason = "client disconnected";
    W(conn, c);
  }

  void Passthrough(const std::string& conn, const std::string& user, const std::string& dest) {
    Connect(conn, user, "198.51.100.7", 40001);
    Open(conn, 0, dest, false);
    CloseChannel(conn, 0, 1000, 5000);
    Disconnect(conn, user);
  }

  std::string CastPath(const std::string& part) { return dir + "/recordings/2026/11/29/" + part + ".cast"; }

  // A recorded exec (or shell, if `command` is empty) showing `output`.
  void Recorded(const std::string& conn, const std::string& user, const std::string& command,
                const std::vector<std::string>& output, int exit_status,
                const std::vector<std::string>& input = {}) {
    Connect(conn, user, "203.0.113.9", 50000);
    Open(conn, 0, "db1:22", true);
    std::string session = conn + "-0";
    SessionOpen so;
    so.session = session;
    so.user = user;
    so.login = "root";
    so.target = "db1:22";
    so.rule = "rec-rule";
    so.success = true;
    W(conn, so);
    SessionRequest r;
    r.session = session;
    r.request = command.empty() ? "shell" : "exec";
    r.command = command;
    r.allow = true;
    r.rule = "rec-rule";
    r.policy_version = "sha256:1234";
    W(conn, r);
    auto out = FileCastOutput::Create(CastPath(session + "-0"));
    REQUIRE(out.ok());
    CastHeader h;
    h.timestamp = now / 1000;
    h.command = command;
    {
      CastWriter cw(out->get(), h, now);
      int64_t t = now;
      for (const auto& o : output) REQUIRE(cw.Output(t += 500, o).ok());
      for (const auto& i : input) REQUIRE(cw.Input(t += 500, i).ok());
      REQUIRE(cw.Close(t).ok());
    }
    REQUIRE((*out)->Close().ok());
    SessionClose c;
    c.session = session;
    c.kind = "session";
    c.recording = (*out)->path();
    c.recording_sha256 = (*out)->Sha256Hex();
    c.recording_size = (*out)->size();
    c.exit_status = exit_status;
    c.bytes_client_to_target = 10;
    c.bytes_target_to_client = 20;
    c.reason = "closed by the target";
    W(conn, c);
    CloseChannel(conn, 0, 3000, 7000);
    Disconnect(conn, user);
  }

  IndexOptions Options() {
    IndexOptions o;
    o.log_path = log;
    o.warn = [this](const std::string& w) { warnings.push_back(w); };
    return o;
  }
  std::unique_ptr<SessionIndex> Index() {
    auto ix = SessionIndex::Open(Options());
    REQUIRE(ix.ok());
    return std::move(*ix);
  }
  UpdateStats Update(SessionIndex& ix) {
    auto st = ix.Update();
    INFO((st.ok() ? std::string() : st.message()));
    REQUIRE(st.ok());
    return *st;
  }
};

std::vector<std::string> Ids(const std::vector<SessionSummary>& v) {
  std::vector<std::string> out;
  for (const auto& s : v) out.push_back(s.id);
  return out;
}

std::vector<std::string> Grep(SessionIndex& ix, const std::string& text, SessionFilter f = {}) {
  std::vector<std::string> out;
  Status st = ix.Grep(text, f, 0, [&](const TextMatch& m) { out.push_back(m.part + " " + m.kind + " " + m.text); });
  INFO(st.message());
  REQUIRE(st.ok());
  return out;
}

bool HasWarning(const World& w, const std::string& part) {
  for (const auto& x : w.warnings) {
    if (x.find(part) != std::string::npos) return true;
  }
  return false;
}

}  // namespace

TEST_CASE("index: passthrough and recorded sessions with their users, targets, bytes and ends") {
  World w("ix-basic");
  w.Passthrough("c01", "alice", "web1:22");
  w.Recorded("c02", "bob", "echo hi; exit 3", {"hi\r\n"}, 3);
  auto ix = w.Index();
  UpdateStats st = w.Update(*ix);
  CHECK(st.recordings == 1);
  auto all = ix->Sessions({});
  REQUIRE(all.ok());
  REQUIRE(Ids(*all) == std::vector<std::string>{"c01", "c02"});
  const SessionSummary& a = (*all)[0];
  CHECK(a.user == "alice");
  CHECK(a.Source() == "198.51.100.7:40001");
  CHECK(a.targets == std::vector<std::string>{"web1:22"});
  CHECK(a.hosts == std::vector<std::string>{"web1"});
  CHECK_FALSE(a.recorded);
  CHECK(a.bytes_up == 1000);
  CHECK(a.bytes_down == 5000);
  CHECK(a.end_reason == "client disconnected");
  CHECK(a.auth_method == "publickey");
  REQUIRE(a.start_ms.has_value());
  REQUIRE(a.end_ms.has_value());
  CHECK(*a.end_ms > *a.start_ms);
  const SessionSummary& b = (*all)[1];
  CHECK(b.user == "bob");
  CHECK(b.recorded);
  CHECK(b.logins == std::vector<std::string>{"root"});
  CHECK(b.exit_statuses == std::vector<int64_t>{3});
  CHECK(b.recordings == std::vector<std::string>{"c02-0-0"});
  CHECK(b.bytes_up == 3000);
  auto j = b.ToJson();
  CHECK(j["id"] == "c02");
  CHECK(j["source"] == "203.0.113.9:50000");
  CHECK(j["recorded"] == true);
  CHECK(j["bytes_down"] == 7000);

  SessionFilter f;
  f.user = "alice";
  CHECK(Ids(*ix->Sessions(f)) == std::vector<std::string>{"c01"});
  f = {};
  f.recorded_only = true;
  CHECK(Ids(*ix->Sessions(f)) == std::vector<std::string>{"c02"});
  f = {};
  f.target = "WEB1";
  CHECK(Ids(*ix->Sessions(f)) == std::vector<std::string>{"c01"});
  f.target = "db1:22";
  CHECK(Ids(*ix->Sessions(f)) == std::vector<std::string>{"c02"});
  f = {};
  f.from = "203.0.113.0/24";
  CHECK(f.Check().ok());
  CHECK(Ids(*ix->Sessions(f)) == std::vector<std::string>{"c02"});
  f.from = "198.51.100.7:40001";
  CHECK(Ids(*ix->Sessions(f)) == std::vector<std::string>{"c01"});
  f.from = "not an address";
  CHECK_FALSE(f.Check().ok());
  f = {};
  f.since_ms = w.now + 1;
  CHECK(ix->Sessions(f)->empty());
  f = {};
  f.until_ms = kT0 - 1;
  CHECK(ix->Sessions(f)->empty());

  auto events = ix->Events("c02");
  REQUIRE(events.ok());
  REQUIRE(events->size() >= 8);
  CHECK((*events)[0]["type"] == "connection_open");
  CHECK(events->back()["type"] == "connection_close");
  auto recs = ix->Recordings("c02");
  REQUIRE(recs.ok());
  REQUIRE(recs->size() == 1);
  CHECK((*recs)[0].part == "c02-0-0");
  CHECK((*recs)[0].closed);
  CHECK((*recs)[0].sha256.size() == 64);
  CHECK(ix->Session("c99")->has_value() == false);
}

TEST_CASE("index: grep finds recorded output, typed input and exec commands, per session") {
  World w("ix-grep");
  w.Recorded("c01", "alice", "", {"\x1b[1;32mroot@db1\x1b[0m:~# ", "cat /etc/MARKER-one.txt\r\n",
                                  "secret contents\r\n"}, 0, {"typed-input-xyz\r"});
  w.Recorded("c02", "bob", "grep MARKER-two /var/log/syslog", {"line with MARKER-two inside\r\n"}, 1);
  auto ix = w.Index();
  w.Update(*ix);
  CHECK(Grep(*ix, "MARKER-one") ==
        std::vector<std::string>{"c01-0-0 output root@db1:~# cat /etc/MARKER-one.txt"});
  CHECK(Grep(*ix, "marker-two") ==
        std::vector<std::string>{"c02-0-0 command grep MARKER-two /var/log/syslog",
                                 "c02-0-0 output line with MARKER-two inside"});
  CHECK(Grep(*ix, "typed-input") == std::vector<std::string>{"c01-0-0 input typed-input-xyz"});
  // The last word may be a prefix; punctuation-only text is read line by line.
  CHECK(Grep(*ix, "secret cont").size() == 1);
  CHECK(Grep(*ix, ":~#").size() == 1);
  CHECK(Grep(*ix, "nowhere-to-be-found").empty());
  // Escape sequences are not part of the text.
  CHECK(Grep(*ix, "[1;32m").empty());
  SessionFilter only_bob;
  only_bob.user = "bob";
  CHECK(Grep(*ix, "MARKER", only_bob).size() == 2);
  size_t n = 0;
  REQUIRE(ix->Grep("MARKER", {}, 1, [&](const TextMatch& m) {
                ++n;
                CHECK(m.time_ms.has_value());
                // Index order: exec commands come with the log, before
                // the recordings' text.
                CHECK(m.session == "c02");
                CHECK(m.kind == "command");
              }).ok());
  CHECK(n == 1);
}

TEST_CASE("index: updates read only what is new; deleting the index loses nothing") {
  World w("ix-incremental");
  w.Passthrough("c01", "alice", "web1:22");
  auto ix = w.Index();
  UpdateStats first = w.Update(*ix);
  CHECK(first.events > 0);
  UpdateStats none = w.Update(*ix);
  CHECK(none.events == 0);
  CHECK(none.log_bytes == 0);
  w.Recorded("c02", "bob", "", {"NEW-SESSION-TEXT\r\n"}, 0);
  UpdateStats more = w.Update(*ix);
  CHECK(more.events > 0);
  CHECK(more.recordings == 1);
  CHECK(Ids(*ix->Sessions({})) == std::vector<std::string>{"c01", "c02"});
  CHECK(Grep(*ix, "NEW-SESSION-TEXT").size() == 1);
  // Again: nothing doubled.
  w.Update(*ix);
  CHECK(Grep(*ix, "NEW-SESSION-TEXT").size() == 1);
  CHECK((*ix->Sessions({}))[1].bytes_up == 3000);

  auto before = ix->Sessions({});
  ix.reset();
  REQUIRE(unlink(DefaultIndexPath(w.log).c_str()) == 0);
  auto again = w.Index();
  w.Update(*again);
  auto after = again->Sessions({});
  REQUIRE(after->size() == before->size());
  for (size_t i = 0; i < after->size(); ++i) CHECK((*after)[i].ToJson() == (*before)[i].ToJson());
  CHECK(Grep(*again, "NEW-SESSION-TEXT").size() == 1);
  struct stat sb;
  REQUIRE(stat(DefaultIndexPath(w.log).c_str(), &sb) == 0);
  CHECK((sb.st_mode & 0777) == 0600);
}

TEST_CASE("index: a rotated log is read across its files, each line once") {
  FileSinkOptions o;
  o.rotate_size = 2000;
  World w("ix-rotated", o);
  for (int i = 0; i < 6; ++i) w.Passthrough("c0" + std::to_string(i), "alice", "web1:22");
  auto ix = w.Index();
  w.Update(*ix);
  CHECK(ix->Sessions({})->size() == 6);
  for (int i = 6; i < 9; ++i) w.Passthrough("c0" + std::to_string(i), "bob", "web2:22");
  w.Update(*ix);
  auto all = ix->Sessions({});
  REQUIRE(all->size() == 9);
  for (const auto& s : *all) {
    CHECK(s.bytes_up == 1000);  // each channel_close counted once
    CHECK(s.end_reason == "client disconnected");
  }
  CHECK(w.warnings.empty());
}

TEST_CASE("index: malformed recording lines are skipped with FILE:LINE, the rest indexed") {
  World w("ix-malformed");
  w.Recorded("c01", "alice", "", {"good-before\r\n"}, 0);
  std::string cast = w.CastPath("c01-0-0");
  Append(cast, "[1.0,\"o\",\"unterminated\n");
  Append(cast, "{\"not\":\"an event\"}\n");
  Append(cast, std::string(100000, '[') + "\n");
  Append(cast, "[2.0,\"o\",\"good-after\\r\\n\"]\n");
  auto ix = w.Index();
  w.Update(*ix);
  CHECK(Grep(*ix, "good-before").size() == 1);
  CHECK(Grep(*ix, "good-after").size() == 1);
  int lines = 0;
  for (const auto& x : w.warnings) lines += x.find(cast + ":") != std::string::npos;
  CHECK(lines == 3);
}

TEST_CASE("index: a recording still being written is indexed as it grows") {
  World w("ix-live");
  w.Connect("c01", "alice", "127.0.0.1", 1);
  w.Open("c01", 0, "db1:22", true);
  SessionRequest r;
  r.session = "c01-0";
  r.request = "shell";
  r.allow = true;
  w.W("c01", r);
  std::string cast = w.CastPath("c01-0-0");
  auto out = FileCastOutput::Create(cast);
  REQUIRE(out.ok());
  CastHeader h;
  h.timestamp = w.now / 1000;
  CastWriter cw(out->get(), h, w.now);
  REQUIRE(cw.Output(w.now + 100, "first-live-line\r\n").ok());
  REQUIRE(cw.Flush().ok());
  auto ix = w.Index();
  w.Update(*ix);
  CHECK(Grep(*ix, "first-live-line").size() == 1);
  auto live = ix->Session("c01");
  REQUIRE(live->has_value());
  CHECK((*live)->end_reason.empty());
  REQUIRE(cw.Output(w.now + 200, "second-live-line\r\n").ok());
  REQUIRE(cw.Close(w.now + 300).ok());
  REQUIRE((*out)->Close().ok());
  SessionClose c;
  c.session = "c01-0";
  c.kind = "session";
  c.recording = cast;
  c.recording_sha256 = (*out)->Sha256Hex();
  c.recording_size = (*out)->size();
  c.exit_status = 0;
  w.W("c01", c);
  w.Disconnect("c01", "alice");
  w.Update(*ix);
  CHECK(Grep(*ix, "first-live-line").size() == 1);
  CHECK(Grep(*ix, "second-live-line").size() == 1);
  CHECK((*ix->Session("c01"))->end_reason == "client disconnected");
}

TEST_CASE("index: an index made from another log is rebuilt") {
  World w("ix-replaced");
  w.Passthrough("c01", "alice", "web1:22");
  auto ix = w.Index();
  w.Update(*ix);
  ix.reset();
  // Another log at the same path (a restore, a different gateway).
  std::string keep = w.log + ".index.sqlite";
  REQUIRE(system(("rm -f '" + w.log + "' '" + w.log + ".tree' '" + w.log + ".checkpoint'").c_str()) == 0);
  w.Open();
  w.Passthrough("c77", "carol", "web9:22");
  auto again = w.Index();
  UpdateStats st = w.Update(*again);
  CHECK(st.rebuilt);
  CHECK(Ids(*again->Sessions({})) == std::vector<std::string>{"c77"});
  CHECK(HasWarning(w, "rebuilding the index"));
}

TEST_CASE("index: recordings moved with the log are found; a missing one warns once") {
  World w("ix-moved");
  w.Recorded("c01", "alice", "", {"moved-text\r\n"}, 0);
  w.Recorded("c02", "bob", "", {"gone-text\r\n"}, 0);
  // The auditor's copy: log and recordings somewhere else.
  std::string copy = FreshDir("ix-moved-copy");
  REQUIRE(system(("cp -a '" + w.dir + "/audit.jsonl' '" + w.dir + "/recordings' '" + copy + "/'").c_str()) == 0);
  REQUIRE(system(("rm -rf '" + w.dir + "/recordings'").c_str()) == 0);
  REQUIRE(unlink((copy + "/recordings/2026/11/29/c02-0-0.cast").c_str()) == 0);
  IndexOptions o = w.Options();
  o.log_path = copy + "/audit.jsonl";
  auto ix = SessionIndex::Open(o);
  REQUIRE(ix.ok());
  REQUIRE((*ix)->Update().ok());
  CHECK(Grep(**ix, "moved-text").size() == 1);
  CHECK(Grep(**ix, "gone-text").empty());
  CHECK(HasWarning(w, "recording c02-0-0"));
  size_t warned = w.warnings.size();
  REQUIRE((*ix)->Update().ok());
  CHECK(w.warnings.size() == warned);
}

TEST_CASE("index: damaged log lines are skipped with FILE:LINE; a damaged index is an error") {
  World w("ix-damaged");
  w.Passthrough("c01", "alice", "web1:22");
  w.sink.reset();
  std::ifstream in(w.log);
  int n = 0;
  for (std::string l; std::getline(in, l);) ++n;
  Append(w.log, "{not json\n[1,2]\n{\"no\":\"type\"}\n");
  auto ix = w.Index();
  w.Update(*ix);
  CHECK(ix->Sessions({})->size() == 1);
  CHECK(HasWarning(w, w.log + ":" + std::to_string(n + 1) + ": not valid JSON"));
  CHECK(HasWarning(w, w.log + ":" + std::to_string(n + 2) + ": not a JSON object"));
  CHECK(HasWarning(w, w.log + ":" + std::to_string(n + 3) + ": no \"type\""));
  ix.reset();
  std::ofstream(DefaultIndexPath(w.log), std::ios::trunc) << "this is not a database, just text";
  auto bad = SessionIndex::Open(w.Options());
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.message().find(DefaultIndexPath(w.log)) != std::string::npos);
  CHECK(bad.message().find("--reindex") != std::string::npos);
  auto fresh = SessionIndex::Recreate(w.Options());
  REQUIRE(fresh.ok());
  REQUIRE((*fresh)->Update().ok());
  CHECK((*fresh)->Sessions({})->size() == 1);
}

TEST_CASE("index: a recording that shrank is read again; progress is reported") {
  World w("ix-shrunk");
  w.Connect("c01", "alice", "127.0.0.1", 1);
  w.Open("c01", 0, "db1:22", true);
  SessionRequest r;
  r.session = "c01-0";
  r.request = "shell";
  r.allow = true;
  w.W("c01", r);
  std::string cast = w.CastPath("c01-0-0");
  REQUIRE(system(("mkdir -p '" + cast.substr(0, cast.rfind('/')) + "'").c_str()) == 0);
  std::ofstream(cast) << "{\"version\":2}\n[0.1,\"o\",\"a-rather-long-first-version-of-the-text\\r\\n\"]\n";
  std::vector<std::string> phases;
  uint64_t last_done = 0, last_total = 0;
  IndexOptions o = w.Options();
  o.progress = [&](const char* phase, uint64_t done, uint64_t total) {
    if (phases.empty() || phases.back() != phase) phases.push_back(phase);
    last_done = done;
    last_total = total;
  };
  auto ix = SessionIndex::Open(o);
  REQUIRE(ix.ok());
  REQUIRE((*ix)->Update().ok());
  CHECK(phases == std::vector<std::string>{"audit log", "recordings"});
  CHECK(last_done == last_total);
  CHECK(last_total > 0);
  CHECK(Grep(**ix, "first-version").size() == 1);
  std::ofstream(cast, std::ios::trunc) << "{\"version\":2}\n[0.1,\"o\",\"short\\r\\n\"]\n";
  REQUIRE((*ix)->Update().ok());
  CHECK(Grep(**ix, "first-version").empty());
  CHECK(Grep(**ix, "short").size() == 1);
  CHECK(HasWarning(w, "shorter than when it was indexed"));
}

TEST_CASE("index: a log logrotate renamed keeps what was read from it; sessions span the rename") {
  World w("ix-logrotate");
  w.Passthrough("c01", "alice", "web1:22");
  w.Connect("c02", "bob", "198.51.100.8", 40002);  // still open at the rename
  auto ix = w.Index();
  w.Update(*ix);
  REQUIRE(rename(w.log.c_str(), (w.log + ".1").c_str()) == 0);
  REQUIRE(w.sink->Reopen().ok());
  w.Open("c02", 0, "web2:22", false);
  w.CloseChannel("c02", 0, 10, 20);
  w.Disconnect("c02", "bob");
  w.Passthrough("c03", "carol", "web3:22");
  CHECK_FALSE(w.Update(*ix).rebuilt);
  auto all = ix->Sessions({});
  REQUIRE(Ids(*all) == std::vector<std::string>{"c01", "c02", "c03"});
  CHECK((*all)[1].user == "bob");
  CHECK((*all)[1].targets == std::vector<std::string>{"web2:22"});
  CHECK((*all)[1].end_reason == "client disconnected");
  CHECK(w.warnings.empty());
  // An index made after the rename (deleted, or --reindex) reads the
  // renamed file too, before the new one: the same sessions.
  ix.reset();
  REQUIRE(unlink(DefaultIndexPath(w.log).c_str()) == 0);
  auto fresh = w.Index();
  w.Update(*fresh);
  auto again = fresh->Sessions({});
  REQUIRE(again.ok());
  CHECK(Ids(*again) == std::vector<std::string>{"c01", "c02", "c03"});
  CHECK((*again)[1].user == "bob");
  CHECK((*again)[1].end_reason == "client disconnected");
  CHECK(w.warnings.empty());
}

TEST_CASE("index: the log in a directory is the one its .jsonl files belong to") {
  World w("ix-dir");
  w.Passthrough("c01", "alice", "web1:22");
  auto live = LogInDirectory(w.dir);
  REQUIRE(live.ok());
  CHECK(*live == w.log);
  std::string rotated = FreshDir("ix-dir-rotated");  // an auditor's copy of rotated files only
  Append(rotated + "/audit.0.jsonl", "");
  Append(rotated + "/audit.120.jsonl", "");
  CHECK(*LogInDirectory(rotated) == rotated + "/audit.jsonl");
  Append(rotated + "/other.jsonl", "");
  auto several = LogInDirectory(rotated);
  REQUIRE_FALSE(several.ok());
  CHECK(several.message() == rotated + ": several audit logs (audit.jsonl, other.jsonl); give the one to read");
  auto none = LogInDirectory(FreshDir("ix-dir-empty"));
  REQUIRE_FALSE(none.ok());
  CHECK(none.message().find("no audit log") != std::string::npos);
  CHECK_FALSE(LogInDirectory(w.dir + "/nope").ok());
}
