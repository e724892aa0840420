// hopctl sessions / show against a real gateway run: passthrough and
// recorded sessions by two users through real OpenSSH clients and sshd,
// then the session index beside the audit log lists them, filters them,
// finds what their terminals showed, tells one session's story, keeps up
// as new sessions arrive, and gives the same answers rebuilt from nothing.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <chrono>
#include <ctime>
#include <map>
#include <regex>
#include <set>
#include <thread>

#include "audit/testing/test_log.h"
#include "tests/support/harness.h"

using namespace hopgate::testing;
using nlohmann::json;

namespace {

std::string P(int port) { return std::to_string(port); }

// Two users; db1 recorded (a target sshd trusting the gateway's upstream
// CA; alice's typed input recorded too), and a plain sshd both reach end
// to end.
struct TwoUserWorld {
  std::string dir = MakeTempDir("sessions");
  KeyPair alice = GenerateKey(dir, "alice");
  KeyPair bob = GenerateKey(dir, "bob");
  KeyPair ca = GenerateKey(dir, "upstream_ca");
  std::unique_ptr<Sshd> db1, plain;
  std::unique_ptr<Gate> gate;
  std::string known_hosts = dir + "/known_hosts";

  TwoUserWorld() {
    Run({"mkdir", "-p", dir + "/db1", dir + "/plain"});
    db1 = std::make_unique<Sshd>(dir + "/db1", std::vector<std::string>{},
                                 "TrustedUserCAKeys " + ca.public_path + "\n");
    plain = std::make_unique<Sshd>(dir + "/plain",
                                   std::vector<std::string>{alice.public_line, bob.public_line});
    std::string policy =
        "version: 1\n"
        "users:\n"
        "  alice:\n    keys: [\"" + alice.public_line + "\"]\n"
        "  bob:\n    keys: [\"" + bob.public_line + "\"]\n"
        "hosts:\n"
        "  db1:\n"
        "    address: \"127.0.0.1:" + P(db1->port()) + "\"\n"
        "    record: true\n"
        "    host_key: \"" + db1->host_key_line() + "\"\n"
        "rules:\n"
        "  - name: alice-db\n    users: [alice]\n    permit_open: [\"db1:22\"]\n    logins: [root]\n"
        "    record_input: true\n"
        "  - name: bob-db\n    users: [bob]\n    permit_open: [\"db1:22\"]\n    logins: [root]\n"
        "  - name: plain-ssh\n    users: [alice, bob]\n"
        "    permit_open: [\"127.0.0.1:" + P(plain->port()) + "\"]\n";
    gate = std::make_unique<Gate>(dir, policy, "upstream:\n  user_ca_key: " + ca.private_path + "\n");
    RunResult kh = Run({Gate::HopctlBinary(), "known-hosts", "--config", gate->config_path()});
    REQUIRE(kh.exit_code == 0);
    WriteFile(known_hosts, kh.out);
    for (const auto* who : {&alice, &bob}) {
      std::string name = who == &alice ? "alice" : "bob";
      WriteFile(Config(name),
                "Host 127.0.0.1\n  StrictHostKeyChecking no\n  UserKnownHostsFile /dev/null\n"
                "Host *\n  IdentityFile " + who->private_path + "\n  IdentitiesOnly yes\n"
                "  IdentityAgent none\n  StrictHostKeyChecking yes\n"
                "  UserKnownHostsFile " + known_hosts + "\n  GlobalKnownHostsFile /dev/null\n"
                "  LogLevel ERROR\n  BatchMode yes\n  ConnectTimeout 20\n",
                0600);
    }
  }
  std::string Config(const std::string& user) const { return dir + "/ssh_config_" + user; }
  std::string Jump(const std::string& user) const { return user + "@127.0.0.1:" + P(gate->port()); }

  RunResult Recorded(const std::string& user, std::vector<std::string> args, const std::string& input = "") {
    std::vector<std::string> argv = {"ssh", "-F", Config(user), "-J", Jump(user), "root@db1"};
    argv.insert(argv.end(), args.begin(), args.end());
    return Run(argv, input, 60'000);
  }
  RunResult Passthrough(const std::string& user, const std::string& command) {
    return Run({"ssh", "-F", Config(user), "-J", Jump(user), "-p", P(plain->port()), "root@127.0.0.1",
                command});
  }
  // Waits until the gateway has written `n` connection_close events.
  void WaitClosed(size_t n) {
    REQUIRE(WaitUntil([&] { return gate->AuditEvents("connection_close").size() >= n; }, 10'000));
  }
  // The connection id of the n-th (0-based) connection in the log.
  std::string ConnectionId(size_t n) const { return gate->AuditEvents("connection_open").at(n)["connection"]; }

  RunResult Hopctl(std::vector<std::string> args) const {
    args.insert(args.begin(), Gate::HopctlBinary());
    return Run(args, "", 120'000);
  }
  json SessionsJson(std::vector<std::string> extra = {}) const {
    std::vector<std::string> args = {"sessions", "--json", "--audit", gate->audit_path()};
    args.insert(args.end(), extra.begin(), extra.end());
    RunResult r = Hopctl(args);
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    return json::parse(r.out);
  }
};

std::map<std::string, json> ById(const json& list) {
  std::map<std::string, json> out;
  for (const auto& s : list) out[s["id"]] = s;
  return out;
}

std::string Rfc3339Now() {
  auto now = std::chrono::system_clock::now();
  int64_t ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  time_t secs = ms / 1000;
  struct tm tm;
  gmtime_r(&secs, &tm);
  char buf[64];
  snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
           tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms % 1000));
  return buf;
}

}  // namespace

// The four sessions every test case below starts from: 0, alice end to
// end; 1, bob's recorded command; 2, alice's recorded terminal, printing a
// marker that appears only as output (the typed command says $((40+2)));
// 3, bob end to end.
struct FourSessions {
  TwoUserWorld w;
  std::string pass_alice, rec_bob, rec_alice, pass_bob;

  FourSessions() {
    RunResult r0 = w.Passthrough("alice", "echo pass-alice");
    REQUIRE(r0.out == "pass-alice\n");
    w.WaitClosed(1);
    RunResult r1 = w.Recorded("bob", {"echo MARKER-BOB-7f3a; exit 7"});
    INFO(r1.err << w.gate->Log());
    REQUIRE(r1.exit_code == 7);
    w.WaitClosed(2);
    RunResult r2 = w.Recorded("alice", {"-tt"}, "echo MARKER-ALICE-$((40+2))\nexit\n");
    REQUIRE(r2.out.find("MARKER-ALICE-42") != std::string::npos);
    w.WaitClosed(3);
    RunResult r3 = w.Passthrough("bob", "head -c 200000 /dev/zero");
    REQUIRE(r3.out.size() == 200000);
    w.WaitClosed(4);
    pass_alice = w.ConnectionId(0);
    rec_bob = w.ConnectionId(1);
    rec_alice = w.ConnectionId(2);
    pass_bob = w.ConnectionId(3);
  }
};

TEST_CASE("hopctl sessions: a real gateway's sessions with their users, targets, recorded flags and bytes") {
  FourSessions f;
  TwoUserWorld& w = f.w;
  json list = w.SessionsJson();
  REQUIRE(list.size() == 4);
  auto by = ById(list);
  std::string plain_target = "127.0.0.1:" + P(w.plain->port());
  CHECK(by[f.pass_alice]["user"] == "alice");
  CHECK(by[f.pass_alice]["targets"] == json::array({plain_target}));
  CHECK(by[f.pass_alice]["recorded"] == false);
  CHECK(by[f.pass_alice]["logins"] == json::array());
  CHECK(by[f.pass_alice]["end_reason"] == "client disconnected");
  CHECK(by[f.rec_bob]["user"] == "bob");
  CHECK(by[f.rec_bob]["targets"] == json::array({"db1:22"}));
  CHECK(by[f.rec_bob]["recorded"] == true);
  CHECK(by[f.rec_bob]["logins"] == json::array({"root"}));
  CHECK(by[f.rec_bob]["exit_statuses"] == json::array({7}));
  CHECK(by[f.rec_alice]["user"] == "alice");
  CHECK(by[f.rec_alice]["recorded"] == true);
  CHECK(by[f.pass_bob]["user"] == "bob");
  // Bytes each way are the outer channels' (what crossed the gateway).
  CHECK(by[f.pass_bob]["bytes_down"].get<uint64_t>() > 200000);
  CHECK(by[f.pass_bob]["bytes_up"].get<uint64_t>() > 0);
  CHECK(by[f.pass_bob]["bytes_down"] == w.gate->AuditEvents("channel_close")[3]["bytes_target_to_client"]);
  for (const auto& s : list) {
    CHECK(s["source"].get<std::string>().rfind("127.0.0.1:", 0) == 0);
    CHECK(s["start"].is_string());
    CHECK(s["end"].is_string());
  }
  // The same from --config, and as a table.
  RunResult cfg = w.Hopctl({"sessions", "--json", "--config", w.gate->config_path()});
  REQUIRE(cfg.exit_code == 0);
  CHECK(json::parse(cfg.out) == list);
  RunResult table = w.Hopctl({"sessions", "--audit", w.gate->audit_path()});
  REQUIRE(table.exit_code == 0);
  CHECK(table.out.rfind("ID ", 0) == 0);
  CHECK(table.out.find(f.rec_bob) != std::string::npos);
  CHECK(table.out.find("db1:22") != std::string::npos);
  // --audit a directory: the one log in it.
  RunResult dir = w.Hopctl({"sessions", "--json", "--audit", w.dir});
  INFO(dir.err);
  REQUIRE(dir.exit_code == 0);
  CHECK(json::parse(dir.out) == list);
}

TEST_CASE("hopctl sessions: filters: --user, --recorded, --target, --from, --since") {
  FourSessions f;
  TwoUserWorld& w = f.w;
  auto ids = [](const json& l) {
    std::vector<std::string> v;
    for (const auto& s : l) v.push_back(s["id"]);
    return v;
  };
  CHECK(ids(w.SessionsJson({"--user", "bob"})) == std::vector<std::string>{f.rec_bob, f.pass_bob});
  CHECK(ids(w.SessionsJson({"--recorded"})) == std::vector<std::string>{f.rec_bob, f.rec_alice});
  CHECK(ids(w.SessionsJson({"--user", "alice", "--recorded"})) == std::vector<std::string>{f.rec_alice});
  CHECK(ids(w.SessionsJson({"--target", "db1"})) == std::vector<std::string>{f.rec_bob, f.rec_alice});
  CHECK(w.SessionsJson({"--from", "127.0.0.0/8"}).size() == 4);
  CHECK(w.SessionsJson({"--from", "10.0.0.0/8"}).empty());
  CHECK(w.SessionsJson({"--since", "1h"}).size() == 4);
  CHECK(w.SessionsJson({"--until", "2000-01-01"}).empty());
  std::string mark = Rfc3339Now();
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  REQUIRE(w.Passthrough("alice", "echo late").exit_code == 0);
  w.WaitClosed(5);
  CHECK(ids(w.SessionsJson({"--since", mark})) == std::vector<std::string>{w.ConnectionId(4)});
  RunResult bad = w.Hopctl({"sessions", "--audit", w.gate->audit_path(), "--since", "yesterday"});
  CHECK(bad.exit_code == 2);
  CHECK(bad.err.find("invalid time") != std::string::npos);
}

TEST_CASE("hopctl sessions: --grep finds a marker in the one recorded session that printed it") {
  FourSessions f;
  TwoUserWorld& w = f.w;
  RunResult g = w.Hopctl({"sessions", "--audit", w.gate->audit_path(), "--grep", "MARKER-ALICE-42"});
  INFO(g.out << g.err);
  REQUIRE(g.exit_code == 0);
  std::istringstream lines(g.out);
  int n = 0;
  for (std::string line; std::getline(lines, line); ++n) {
    CHECK(line.rfind(f.rec_alice + "-0-0 +", 0) == 0);
    CHECK(line.find("output: ") != std::string::npos);
  }
  CHECK(n >= 1);
  // What alice typed (record_input) is found as input, and as the echo the
  // terminal showed.
  RunResult typed = w.Hopctl({"sessions", "--json", "--audit", w.gate->audit_path(), "--grep",
                              "echo MARKER-ALICE-$((40+2))"});
  INFO(typed.out << typed.err);
  REQUIRE(typed.exit_code == 0);
  std::set<std::string> kinds;
  for (const auto& m : json::parse(typed.out)) {
    CHECK(m["part"] == f.rec_alice + "-0-0");
    kinds.insert(m["kind"].get<std::string>());
  }
  CHECK(kinds == std::set<std::string>{"input", "output"});
  RunResult gj = w.Hopctl({"sessions", "--json", "--audit", w.gate->audit_path(), "--grep", "MARKER-BOB-7f3a"});
  REQUIRE(gj.exit_code == 0);
  json matches = json::parse(gj.out);
  REQUIRE(matches.size() == 2);  // the exec command and its output
  for (const auto& m : matches) {
    CHECK(m["id"] == f.rec_bob);
    CHECK(m["user"] == "bob");
    CHECK(m["offset"].is_number());
  }
  CHECK(matches[0]["kind"] == "command");
  CHECK(matches[1]["kind"] == "output");
  CHECK(matches[1]["text"] == "MARKER-BOB-7f3a");
  RunResult none = w.Hopctl({"sessions", "--audit", w.gate->audit_path(), "--grep", "MARKER-NOWHERE"});
  CHECK(none.exit_code == 1);
  CHECK(none.out.empty());
  RunResult other = w.Hopctl({"sessions", "--audit", w.gate->audit_path(), "--grep", "MARKER-ALICE-42",
                              "--user", "bob"});
  CHECK(other.exit_code == 1);
}

TEST_CASE("hopctl show: tells a recorded session's story") {
  FourSessions f;
  TwoUserWorld& w = f.w;
  RunResult s = w.Hopctl({"show", "--audit", w.gate->audit_path(), f.rec_bob});
  INFO(s.out << s.err);
  REQUIRE(s.exit_code == 0);
  json close = w.gate->AuditEvents("session_close").at(0);
  CHECK(s.out.find("session " + f.rec_bob + ": bob from 127.0.0.1:") != std::string::npos);
  CHECK(s.out.find("login as \"bob\" accepted: publickey ssh-ed25519") != std::string::npos);
  CHECK(s.out.find("direct-tcpip db1:22: allowed by rule bob-db (policy sha256:") != std::string::npos);
  CHECK(s.out.find("exec \"echo MARKER-BOB-7f3a; exit 7\": allowed") != std::string::npos);
  CHECK(s.out.find("exec \"echo MARKER-BOB-7f3a; exit 7\" ended: exit status 7") != std::string::npos);
  CHECK(s.out.find("recording " + close["recording"].get<std::string>() + " sha256 " +
                   close["recording_sha256"].get<std::string>()) != std::string::npos);
  CHECK(s.out.find("disconnected: client disconnected") != std::string::npos);
  // In time order: login before the decision before the command before the end.
  CHECK(s.out.find("login as") < s.out.find("allowed by rule bob-db"));
  CHECK(s.out.find("allowed by rule bob-db") < s.out.find("ended: exit status 7"));
  CHECK(s.out.find("ended: exit status 7") < s.out.find("disconnected:"));
  RunResult part = w.Hopctl({"show", "--json", "--audit", w.gate->audit_path(), f.rec_bob + "-0"});
  REQUIRE(part.exit_code == 0);
  json story = json::parse(part.out);
  CHECK(story["session"]["id"] == f.rec_bob);
  CHECK(story["recordings"].at(0)["sha256"] == close["recording_sha256"]);
  CHECK(story["events"].front()["type"] == "connection_open");
  // A command with an escape sequence in it reaches the auditor's
  // terminal escaped, not obeyed.
  RunResult hostile = w.Recorded("bob", {"echo plain #\x1b]0;pwned\x07\x1b[2J"});
  REQUIRE(hostile.exit_code == 0);
  w.WaitClosed(5);
  RunResult told = w.Hopctl({"show", "--audit", w.gate->audit_path(), w.ConnectionId(4)});
  REQUIRE(told.exit_code == 0);
  CHECK(told.out.find('\x1b') == std::string::npos);
  CHECK(told.out.find("\\x1b]0;pwned\\x07\\x1b[2J") != std::string::npos);
  RunResult missing = w.Hopctl({"show", "--audit", w.gate->audit_path(), "c0000000000000000"});
  CHECK(missing.exit_code == 1);
  CHECK(missing.err.find("no session c0000000000000000") != std::string::npos);
}

TEST_CASE("hopctl sessions: the index keeps up, and rebuilt from nothing it answers the same") {
  FourSessions f;
  TwoUserWorld& w = f.w;
  RunResult late = w.Recorded("alice", {"echo LATE-$((6*7))-MARKER"});
  REQUIRE(late.out == "LATE-42-MARKER\n");
  w.WaitClosed(5);
  json now = w.SessionsJson();
  REQUIRE(now.size() == 5);
  CHECK(now[4]["id"] == w.ConnectionId(4));
  RunResult g = w.Hopctl({"sessions", "--audit", w.gate->audit_path(), "--grep", "LATE-42-MARKER"});
  CHECK(g.exit_code == 0);
  CHECK(g.out.find(w.ConnectionId(4) + "-0-0") != std::string::npos);
  REQUIRE(unlink((w.gate->audit_path() + ".index.sqlite").c_str()) == 0);
  CHECK(w.SessionsJson() == now);
  RunResult reindexed = w.Hopctl({"sessions", "--json", "--reindex", "--audit", w.gate->audit_path()});
  REQUIRE(reindexed.exit_code == 0);
  CHECK(json::parse(reindexed.out) == now);
}

TEST_CASE("hopctl sessions: a malformed recording line is skipped with a warning; the rest is indexed") {
  FourSessions f;
  TwoUserWorld& w = f.w;
  json close = w.gate->AuditEvents("session_close").at(1);  // alice's terminal
  std::string cast = close["recording"];
  std::string text = ReadFile(cast);
  WriteFile(cast, text + "[1.5,\"o\",\"broken\n[99.0,\"o\",\"AFTER-THE-BAD-LINE\\r\\n\"]\n", 0600);
  RunResult r = w.Hopctl({"sessions", "--reindex", "--audit", w.gate->audit_path(), "--grep",
                          "AFTER-THE-BAD-LINE"});
  INFO(r.err);
  CHECK(r.exit_code == 0);
  CHECK(r.out.find(f.rec_alice + "-0-0 +99.000s output: AFTER-THE-BAD-LINE") != std::string::npos);
  size_t lines = std::count(text.begin(), text.end(), '\n');
  CHECK(r.err.find(cast + ":" + std::to_string(lines + 1) + ": ") != std::string::npos);
  CHECK(w.SessionsJson().size() == 4);
}

TEST_CASE("hopctl sessions: bad arguments and missing logs are errors that say so") {
  std::string dir = MakeTempDir("sessions-errors");
  auto hopctl = [](std::vector<std::string> args) {
    args.insert(args.begin(), Gate::HopctlBinary());
    return Run(args);
  };
  RunResult none = hopctl({"sessions"});
  CHECK(none.exit_code == 2);
  CHECK(none.err.find("--config") != std::string::npos);
  RunResult missing = hopctl({"sessions", "--audit", dir + "/nope.jsonl"});
  CHECK(missing.exit_code == 2);
  CHECK(missing.err.find(dir + "/nope.jsonl") != std::string::npos);
  RunResult both = hopctl({"sessions", "--audit", "a", "--config", "b"});
  CHECK(both.exit_code == 2);
  WriteFile(dir + "/audit.jsonl", "");
  RunResult from = hopctl({"sessions", "--audit", dir + "/audit.jsonl", "--from", "nonsense!"});
  CHECK(from.exit_code == 2);
  CHECK(from.err.find("--from") != std::string::npos);
  RunResult empty = hopctl({"sessions", "--json", "--audit", dir + "/audit.jsonl"});
  CHECK(empty.exit_code == 0);
  CHECK(empty.out == "[]\n");
  WriteFile(dir + "/other.jsonl", "");
  RunResult two = hopctl({"sessions", "--audit", dir});
  CHECK(two.exit_code == 2);
  CHECK(two.err.find(dir + ": several audit logs (audit.jsonl, other.jsonl)") != std::string::npos);
  RunResult bad_show = hopctl({"show", "--audit", dir + "/audit.jsonl"});
  CHECK(bad_show.exit_code != 0);  // SESSION is required
  CHECK(bad_show.err.find("SESSION") != std::string::npos);
}

TEST_CASE("hopctl sessions --reindex: a progress bar on a terminal, nothing on stderr off one") {
  // Enough recorded output (12 MiB) for indexing to show its progress.
  hopgate::audit::testing::TestLog t(MakeTempDir("sessions-progress") + "/log");
  t.RecordedConnection("c5000000000000005", 12u << 20);
  t.Close();
  std::vector<std::string> argv = {Gate::HopctlBinary(), "sessions", "--reindex", "--audit", t.log()};

  // Off a terminal (a pipe): the rows on stdout, nothing on stderr.
  RunResult piped = Run(argv, "", 120'000);
  INFO(piped.err);
  CHECK(piped.exit_code == 0);
  CHECK(piped.out.find("c5000000000000005") != std::string::npos);
  CHECK(piped.err.empty());

  // On a terminal (script gives it one): the bar, with its percentage,
  // bytes, rate and time left, drawn on the line it then clears.
  std::string line;
  for (const auto& a : argv) line += "'" + a + "' ";
  std::string typescript = t.dir() + "/typescript";
  RunResult tty = Run({"script", "-q", "-e", "-c", line, typescript}, "", 120'000);
  INFO(tty.out << tty.err);
  CHECK(tty.exit_code == 0);
  std::string shown = ReadFile(typescript);
  INFO(shown);
  CHECK(shown.find("\r\x1b[Kindexing recordings [") != std::string::npos);
  CHECK(std::regex_search(shown, std::regex(R"(indexing recordings \[[#.]{30}\] +\d+% [0-9.]+ k?M?B of 12\.\d MB, [0-9.]+ [kMG]?B/s, [0-9?:]+ left)")));
  CHECK(shown.find("c5000000000000005") != std::string::npos);  // and the rows
}
