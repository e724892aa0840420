#include <catch2/catch.hpp>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include "common/encoding.h"
#include "hopctl/replay_log.h"
#include "hopctl/replay_options.h"
#include "hopctl/replay_source.h"
#include "hopctl/replay_text.h"

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
  CHECK(one.channels()[0].user == "alice");  // from the session's session_open
  CHECK(one.channels()[0].target == "db1:22");
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

TEST_CASE("replay log: a recording the log never closed has the prefix its progress vouches for") {
  std::string cast = Dir() + "/open.cast";
  std::string prefix = kCast;
  Write(cast, prefix + "[1.5,\"o\",\"after\\r\\n\"]\n");
  std::string log = Dir() + "/replay_log3.jsonl";
  Write(log,
        R"({"type":"session_request","connection":"c2","session":"c2-0","channel":0,"request":"shell","decision":"allow","ts":"2026-11-21T14:29:32.441Z"})" "\n"
        R"({"type":"recording_progress","connection":"c2","session":"c2-0","channel":0,"path":"/gw/open.cast","bytes":)" +
            std::to_string(prefix.size()) + R"(,"sha256":")" + Sha256Hex(prefix) + R"(","ts":"2026-11-21T14:30:32.441Z"})" "\n");
  ReplayLog by_session(log, *ParseSessionId("c2-0-0"));
  REQUIRE(by_session.Refresh().ok());
  REQUIRE(by_session.channels().size() == 1);
  const ReplayChannel& c = by_session.channels()[0];
  CHECK(!c.closed);
  REQUIRE(c.has_progress);
  CHECK(c.progress_bytes == prefix.size());
  CHECK(c.progress_where == log + ":2");
  CHECK(VerifyPrefix(cast, c.progress_bytes, c.progress_sha256, c.progress_where).ok());
  // Found by file name too (a copy of the file elsewhere).
  ReplayLog by_file(log, cast);
  REQUIRE(by_file.Refresh().ok());
  REQUIRE(by_file.channels().size() == 1);
  CHECK(by_file.channels()[0].has_progress);
  // One byte of the prefix changed: refused, naming the event.
  std::string changed = prefix;
  changed[changed.find("hi")] = 'H';
  Write(cast, changed);
  Status s = VerifyPrefix(cast, c.progress_bytes, c.progress_sha256, c.progress_where);
  REQUIRE(!s.ok());
  CHECK(s.code() == Code::kDataLoss);
  CHECK(s.message().find("recording_progress (" + log + ":2)") != std::string::npos);
  Write(cast, prefix.substr(0, 10));  // cut short
  s = VerifyPrefix(cast, c.progress_bytes, c.progress_sha256, c.progress_where);
  REQUIRE(!s.ok());
  CHECK(s.message().find("fewer than") != std::string::npos);
}

TEST_CASE("replay text: what clients wrote cannot act on the terminal or hide itself") {
  CHECK(ForTerminal("echo \x1b]0;owned\x07 ok") == "echo \\x1b]0;owned\\x07 ok");
  CHECK(ForTerminal("rm -rf /tmp/x\xe2\x80\xae#fdp.txt") == "rm -rf /tmp/x\\u{202E}#fdp.txt");
  CHECK(ForTerminal("a\xe2\x80\x8b" "b\xef\xbb\xbf\xe2\x81\xa6") == "a\\u{200B}b\\u{FEFF}\\u{2066}");
  CHECK(ForTerminal("caf\xc3\xa9 \xe2\x82\xac \xff") == "caf\xc3\xa9 \xe2\x82\xac \\xff");  // é € kept
  ReplayChannel c;
  c.session = "c1-0";
  c.request = "exec";
  c.command = "cat /etc/\x1b[2Jpasswd";
  c.user = "alice";
  c.login = "ro\xe2\x80\xaeot";
  c.target = "db1:22";
  c.start_ms = 1795271372000;
  c.exit_status = 1;
  CHECK(Describe(c) == "c1-0-0: exec: cat /etc/\\x1b[2Jpasswd | alice as ro\\u{202E}ot on db1:22 | " +
                           std::string("2026-11-21T14:29:32Z | exit 1"));
  audit::CastInfo h;
  h.title = "\x1b[31mred";
  CHECK(DescribeFile("/r/x.cast", h) == "/r/x.cast: \\x1b[31mred");
  CHECK(Fit("abcdefghij", 6) == "abc...");
}

TEST_CASE("replay --from: seconds or [h:]mm:ss; anything else is refused, never thrown") {
  CHECK(*ParseOffset("90") == 90);
  CHECK(*ParseOffset("90.5") == 90.5);
  CHECK(*ParseOffset("1:30") == 90);
  CHECK(*ParseOffset("1:02:03.5") == 3723.5);
  for (const char* bad : {"", ".", "1:.", ":", "1:60", "1.5:00", "-1", "1e3", "1:2:3:4", "nan",
                          "99999999999999"}) {
    INFO(bad);
    auto r = ParseOffset(bad);
    REQUIRE(!r.ok());
    CHECK(r.message().find("--from") == 0);
  }
}

TEST_CASE("replay log: a session split by logrotate's rename is read from both files, in order") {
  std::string cast = Dir() + "/log_test.cast";
  Write(cast, kCast);
  std::string dir = Dir() + "/replay_logrotate";
  std::system(("rm -rf '" + dir + "' && mkdir -p '" + dir + "'").c_str());
  std::string log = dir + "/audit.jsonl";
  // The gateway's lines carry seq; the first five went to the file
  // logrotate renamed, the rest to the file reopened after SIGHUP.
  std::string text = Log(cast, CastSha(), sizeof kCast - 1), before, after;
  int seq = 0;
  for (size_t at = 0, nl; (nl = text.find('\n', at)) != std::string::npos; at = nl + 1) {
    std::string line = text.substr(at, nl - at);
    if (line.find("broken") != std::string::npos) continue;
    line.insert(line.size() - 1, ",\"seq\":" + std::to_string(seq));
    (seq < 5 ? before : after) += line + "\n";
    ++seq;
  }
  Write(log + ".1", before);
  Write(log, after);

  ReplayLog all(log, *ParseSessionId("c1a"));
  REQUIRE(all.Refresh().ok());
  REQUIRE(all.channels().size() == 3);
  const ReplayChannel& exec = all.channels()[0];
  CHECK(exec.request == "exec");
  CHECK(exec.user == "alice");  // from the session_open in the renamed file
  CHECK(exec.target == "db1:22");
  CHECK(exec.closed);
  CHECK(exec.close_where == log + ":4");
  CHECK(VerifyRecording(exec).ok());
  CHECK(all.channels()[1].IsSftp());
  CHECK(all.TakeWarnings().empty());
}
