// hopctl show's story: every kind of event told, in order, with rules and
// policy versions; fields of the wrong type or missing never throw; text
// from the log reaches the terminal escaped.
#include <catch2/catch.hpp>

#include "hopctl/session_story.h"

using namespace hopgate;
using namespace hopgate::hopctl;
using nlohmann::json;

namespace {

std::string Tell(const std::vector<json>& events) {
  audit::SessionSummary s;
  s.id = "c1";
  s.user = "alice";
  std::string out;
  for (const auto& l : TellStory(s, events, {})) out += l + "\n";
  return out;
}

}  // namespace

TEST_CASE("story: a certificate login, decisions with rules, exec, sftp, limits, the end") {
  std::vector<json> ev = {
      {{"type", "connection_open"}, {"ts", "2026-11-29T06:03:09.000Z"}, {"client_addr", "10.0.0.9"},
       {"client_port", 5000}, {"listen", "0.0.0.0:2222"}},
      {{"type", "auth"}, {"ts", "2026-11-29T06:03:09.100Z"}, {"user", "alice"}, {"method", "certificate"},
       {"result", "success"}, {"key_type", "ssh-ed25519-cert-v01@openssh.com"}, {"fingerprint", "SHA256:k"},
       {"certificate", {{"key_id", "alice@corp"}, {"serial", 42}, {"ca_fingerprint", "SHA256:ca"},
                        {"principals", {"alice", "dba"}}, {"valid_after", "always"}, {"valid_before", "forever"}}}},
      {{"type", "channel_open"}, {"ts", "2026-11-29T06:03:09.200Z"}, {"channel", 0}, {"kind", "direct-tcpip"},
       {"destination", "db1:22"}, {"decision", "allow"}, {"rule", "dba"}, {"policy_version", "sha256:1"},
       {"recorded", true}, {"dial", "10.0.0.5:22"}},
      {{"type", "session_request"}, {"ts", "2026-11-29T06:03:09.300Z"}, {"session", "c1-0"}, {"channel", 0},
       {"request", "exec"}, {"command", "id"}, {"forced_command", "echo forced"}, {"decision", "allow"},
       {"rule", "dba"}, {"policy_version", "sha256:1"}},
      {{"type", "sftp"}, {"ts", "2026-11-29T06:03:09.400Z"}, {"session", "c1-0"}, {"channel", 1}, {"op", "close"},
       {"path", "/tmp/x"}, {"mode", "write"}, {"bytes_read", 0}, {"bytes_written", 2048}, {"status", "ok"}},
      {{"type", "session_close"}, {"ts", "2026-11-29T06:03:09.500Z"}, {"session", "c1-0"}, {"channel", 0},
       {"kind", "session"}, {"exit_status", 0}, {"recording", "/r/c1-0-0.cast"}, {"recording_sha256", "abcd"},
       {"recording_size", 10}},
      {{"type", "session_limit"}, {"ts", "2026-11-30T00:00:01.000Z"}, {"limit", "max_session"}, {"seconds", 3600},
       {"rule", "dba"}},
      {{"type", "connection_close"}, {"ts", "2026-11-30T00:00:01.001Z"}, {"reason", "max_session"},
       {"duration_ms", 61000}, {"channels", 1}},
  };
  std::string out = Tell(ev);
  INFO(out);
  CHECK(out.find("login as \"alice\" accepted: certificate ssh-ed25519-cert-v01@openssh.com SHA256:k; "
                 "certificate key id \"alice@corp\", serial 42, CA SHA256:ca, principals alice, dba") !=
        std::string::npos);
  CHECK(out.find("channel 0 direct-tcpip db1:22: allowed by rule dba (policy sha256:1); dialled "
                 "10.0.0.5:22; recorded") != std::string::npos);
  CHECK(out.find("c1-0 #0 exec \"id\": allowed by rule dba (policy sha256:1); forced command "
                 "\"echo forced\" ran instead") != std::string::npos);
  CHECK(out.find("sftp close \"/tmp/x\" (write) read 0 B, wrote 2.0 kB: ok") != std::string::npos);
  CHECK(out.find("c1-0 #0 exec \"id\" ended: exit status 0") != std::string::npos);
  CHECK(out.find("recording /r/c1-0-0.cast sha256 abcd (10 bytes)") != std::string::npos);
  CHECK(out.find("limit hit: max_session (1h00m, rule dba)") != std::string::npos);
  CHECK(out.find("-- 2026-11-30 --") != std::string::npos);
  CHECK(out.find("disconnected: max_session; after 1m01s, channels: 1") != std::string::npos);
  CHECK(out.find("06:03:09.100") < out.find("06:03:09.200"));
}

TEST_CASE("story: wrong types and missing fields are told as empty, never thrown") {
  std::vector<json> ev = {
      {{"type", "auth"}, {"user", 5}, {"certificate", "not an object"}, {"result", nullptr}},
      {{"type", "channel_open"}, {"channel", "x"}, {"recorded", "yes"}, {"route", 7}, {"suppressed", -1}},
      {{"type", "session_close"}, {"session", {1, 2}}, {"exit_status", "0"}},
      {{"type", "sftp"}, {"bytes_read", "many"}},
      {{"type", "session_limit"}, {"seconds", 1e300}},
      {{"type", "something_new"}, {"x", {{"y", 1}}}},
      {{"ts", 12}, {"type", "connection_close"}},
  };
  std::string out;
  REQUIRE_NOTHROW(out = Tell(ev));
  CHECK(out.find("something_new {") != std::string::npos);
  StoryScope scope = ParseScope("c1-0-2");
  CHECK(scope.connection == "c1");
  CHECK(scope.session == "c1-0");
  CHECK(scope.inner == 2);
  for (const auto& e : ev) REQUIRE_NOTHROW(InScope(scope, e));
}

TEST_CASE("story: text from the log is escaped for the terminal") {
  std::vector<json> ev = {
      {{"type", "session_request"}, {"session", "c1-0"}, {"channel", 0}, {"request", "exec"},
       {"command", "echo \x1b]0;pwned\x07\x1b[2J done"}, {"decision", "allow"}},
      {{"type", "sftp"}, {"session", "c1-0"}, {"channel", 0}, {"op", "open"}, {"path", "/tmp/\r\nfake line"},
       {"status", "ok"}},
  };
  std::string out = Tell(ev);
  CHECK(out.find('\x1b') == std::string::npos);
  CHECK(out.find('\r') == std::string::npos);
  CHECK(out.find("echo \\x1b]0;pwned\\x07\\x1b[2J done") != std::string::npos);
  CHECK(out.find("/tmp/\\x0d\\x0afake line") != std::string::npos);
}

TEST_CASE("story: human sizes and durations") {
  CHECK(HumanBytes(0) == "0 B");
  CHECK(HumanBytes(999) == "999 B");
  CHECK(HumanBytes(18734) == "18.7 kB");
  CHECK(HumanBytes(16777216) == "16.8 MB");
  CHECK(HumanDuration(400) == "0.4s");
  CHECK(HumanDuration(754210) == "12m34s");
  CHECK(HumanDuration(3 * 3600 * 1000 + 5 * 60000) == "3h05m");
  CHECK(HumanDuration(2 * 86400000LL + 3600000) == "2d01h");
  CHECK(HumanDuration(-5) == "0.0s");
}
