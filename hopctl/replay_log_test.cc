#include <catch2/catch.hpp>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include "common/encoding.h"
#include "hopctl/replay_log.h"
#include "hopctl/replay_source.h"

using namespace hopgate;
using namespace hopgate::hopctl;

namespace {

std::string Dir() {
  const char* t = getenv("TEST_TMPDIR");
  return t ? t : "/tmp";
}

void Write(const std::string& path, const std::string& text, bool append = false) {
  std::ofstream(path, append ? std::ios::app : std::ios::trunc) << text;
}

// Events as the gateway writes them, for connection c1a with two recorded
// sessions (c1a-0: an exec and an sftp channel; c1a-2: a shell still open).
std::string Log(const std::string& cast, const std::string& sha, uint64_t size) {
  return
      R"({"type":"server_start","ts":"2026-11-21T14:00:00.000Z"})" "\n"
      R"({"type":"session_open","connection":"c1a","session":"c1a-0","channel":0,"user":"alice","login":"root","target":"db1:22","result":"success","ts":"2026-11-21T14:29:32.412Z"})" "\n"
      R"({"type":"session_request","connection":"c1a","session":"c1a-0","channel":0,"request":"pty-req","decision":"allow","ts":"2026-11-21T14:29:32.440Z"})" "\n"
      R"({"type":"session_request","connection":"c1a","session":"c1a-0","channel":0,"request":"exec","command":"echo \u001b[31mhi","decision":"allow","ts":"2026-11-21T14:29:32.441Z"})" "\n"
      R"({"type":"session_request","connection":"c1a","session":"c1a-0","channel":1,"request":"subsystem","command":"sftp","decision":"allow","ts":"2026-11-21T14:29:33.000Z"})" "\n"
      R"({"type":"sftp","connection":"c1a","session":"c1a-0","channel":1,"op":"open","path":"/tmp/x","mode":"write,create","status":"ok","ts":"2026-11-21T14:29:33.500Z"})" "\n"
      R"({"type":"sftp","connection":"c1a","session":"c1a-0","channel":1,"op":"close","path":"/tmp/x","mode":"write,create","bytes_read":0,"bytes_written":42,"status":"ok","ts":"2026-11-21T14:29:34.000Z"})" "\n"
      R"({"type":"session_close","connection":"c1a","session":"c1a-0","channel":1,"kind":"session","exit_status":0,"ts":"2026-11-21T14:29:34.100Z"})" "\n"
      R"({"type":"session_close","connection":"c1a","session":"c1a-0","channel":0,"kind":"session","exit_status":3,"recording":")" + cast + R"(","recording_sha256":")" + sha + R"(","recording_size":)" + std::to_string(size) + R"(,"ts":"2026-11-21T14:29:35.000Z"})" "\n"
      R"({"type":"session_request","connection":"c1b","session":"c1b-0","channel":0,"request":"shell","decision":"allow","ts":"2026-11-21T14:30:00.000Z"})" "\n"
      R"({"type":"session_request","connection":"c1a","session":"c1a-2","channel":0,"request":"shell","decision":"allow","ts":"2026-11-21T14:31:00.000Z"})" "\n"
      "{\"type\":\"session_close\",\"connection\":\"c1a\", broken\n";
}

const char kCast[] = "{\"version\":2,\"width\":80,\"height\":24}\n[0.5,\"o\",\"hi\\r\\n\"]\n";
std::string CastSha() { return Sha256Hex(kCast); }

}  // namespace

TEST_CASE("session ids: connection, session, channel; anything else is refused") {
  auto c = ParseSessionId("c85d14e7c7ab0653a");
  REQUIRE(c.ok());
  CHECK(c->session.empty());
  auto s = ParseSessionId("c85d14e7c7ab0653a-0");
  REQUIRE(s.ok());
  CHECK(s->session == "c85d14e7c7ab0653a-0");
  CHECK(!s->channel);
  auto ch = ParseSessionId("c85d14e7c7ab0653a-0-2");
  REQUIRE(ch.ok());
  CHECK(*ch->channel == 2);
  CHECK(ch->ToString() == "c85d14e7c7ab0653a-0-2");
  for (const char* bad : {"", "c", "x85d", "c85-", "c85--1", "c85-0-1-2", "c8z", "c85-a",
                          "c85-0-99999999999", "c85\n-0"}) {
    INFO(bad);
    CHECK(!ParseSessionId(bad).ok());
  }
}

TEST_CASE("replay log: a session's channels, what they ran, their digests") {
  std::string cast = Dir() + "/log_test.cast";
  Write(cast, kCast);
  std::string log = Dir() + "/replay_log.jsonl";
  Write(log, Log(cast, CastSha(), sizeof kCast - 1));

  ReplayLog all(log, *ParseSessionId("c1a"));
  REQUIRE(all.Refresh().ok());
  CHECK(all.found());
  CHECK(!all.ended());
  REQUIRE(all.channels().size() == 3);
  const ReplayChannel& exec = all.channels()[0];
  CHECK(exec.Id() == "c1a-0-0");
  CHECK(exec.request == "exec");
  CHECK(exec.user == "alice");
  CHECK(exec.closed);
  CHECK(exec.has_digest);
  CHECK(*exec.exit_status == 3);
  CHECK(exec.close_where == log + ":9");
  CHECK(VerifyRecording(exec).ok());
  const ReplayChannel& sftp = all.channels()[1];
  CHECK(sftp.IsSftp());
  REQUIRE(sftp.sftp_ops.size() == 2);
  CHECK(sftp.sftp_ops[1].text == "close /tmp/x (write,create): 0 read, 42 written: ok");
  CHECK(!all.channels()[2].closed);  // c1a-2: live
  // The malformed line mentions c1a: a warning naming it.
  auto warnings = all.TakeWarnings();
  REQUIRE(warnings.size() == 1);
  CHECK(warnings[0].rfind(log + ":12: ", 0) == 0);

  ReplayLog one(log, *ParseSessionId("c1a-0-0"));
  REQUIRE(one.Refresh().ok());
  REQUIRE(one.channels().size() == 1);
  CHECK(one.ended());  // its session_close is there

  // Appended lines are read incrementally; the end of the connection ends it.
  Write(log, R"({"type":"session_close","connection":"c1a","session":"c1a-2","channel":0,"kind":"session","ts":"2026-11-21T14:32:00.000Z"})" "\n"
             R"({"type":"connection_close","connection":"c1a","ts":"2026-11-21T14:32:01.000Z"})" "\n", true);
  REQUIRE(all.Refresh().ok());
  CHECK(all.channels()[2].closed);
  CHECK(all.ended());

  // A file given by path is found by its name in a session_close.
  ReplayLog by_file(log, std::string("/elsewhere/log_test.cast"));
  REQUIRE(by_file.Refresh().ok());
  REQUIRE(by_file.channels().size() == 1);
  CHECK(by_file.channels()[0].sha256 == CastSha());
}

TEST_CASE("replay log: a changed recording, a second close, a gateway restart") {
  std::string cast = Dir() + "/log_test.cast";
  Write(cast, kCast);
  std::string log = Dir() + "/replay_log2.jsonl";
  std::string text = Log(cast, CastSha(), sizeof kCast - 1);
  Write(log, text);
  ReplayLog l(log, *ParseSessionId("c1a-0"));
  REQUIRE(l.Refresh().ok());
  ReplayChannel c = l.channels()[0];

  std::string changed = kCast;
  changed[changed.find("hi")] = 'H';  // one byte
  Write(cast, changed);
  Status s = VerifyRecording(c);
  REQUIRE(!s.ok());
  CHECK(s.message() == cast + ": does not match the audit log (" + log +
                           ":9): SHA-256 " + Sha256Hex(changed).substr(0, 16) + "..., the log says " +
                           c.sha256.substr(0, 16) + "...");
  Write(cast, std::string(kCast) + "x");
  s = VerifyRecording(c);
  REQUIRE(!s.ok());
  CHECK(s.message().find("bytes, the log says") != std::string::npos);
  std::remove(cast.c_str());
  s = VerifyRecording(c);
  REQUIRE(!s.ok());
  CHECK(s.message().find("No such file") != std::string::npos);

  // A second session_close for the same channel: the log contradicts itself.
  Write(log, text + text.substr(text.find("{\"type\":\"session_close\",\"connection\":\"c1a\",\"session\":\"c1a-0\",\"channel\":0")), false);
  ReplayLog twice(log, *ParseSessionId("c1a-0"));
  Status t = twice.Refresh();
  REQUIRE(!t.ok());
  CHECK(t.message().find("a second session_close for c1a-0-0") != std::string::npos);

  // A restart of the gateway ends a session that never closed.
  Write(log, text + R"({"type":"server_start","ts":"2026-11-21T15:00:00.000Z"})" "\n");
  ReplayLog live(log, *ParseSessionId("c1a-2"));
  REQUIRE(live.Refresh().ok());
  CHECK(live.ended());
  CHECK(live.ended_because().find("gateway restarted") != std::string::npos);
}
