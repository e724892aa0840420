// A fleet behind a load balancer, as an auditor sees it: two hopgate
// replicas recording db1 (a real OpenSSH sshd) behind Debian's real haproxy
// (send-proxy-v2, round-robin), copying their audit logs to one real
// PostgreSQL. One `hopctl sessions --database` lists the sessions of both
// replicas with the client's address; `hopctl replay --database` plays a
// session recorded on replica B, checked against the digest in the
// database's events, refuses a tampered copy, and says where a recording it
// cannot reach is. The session cache that `hopctl sessions --database`
// keeps is brought up to date, not rebuilt, and notices a database that no
// longer holds what it cached.
#include <sys/stat.h>

#include <catch2/catch.hpp>

#include <filesystem>
#include <map>
#include <set>

#include "tests/support/haproxy.h"
#include "tests/support/harness.h"
#include "tests/support/postgres.h"

using namespace hopgate::testing;
using nlohmann::json;

namespace {

struct BalancedFleet {
  Postgres pg;
  std::string dir = MakeTempDir("fleet-replay");
  KeyPair alice = GenerateKey(dir, "alice");
  KeyPair ca = GenerateKey(dir, "upstream_ca");
  std::unique_ptr<Sshd> target;
  std::unique_ptr<Gate> a, b;
  std::unique_ptr<Haproxy> lb;
  std::string ssh_config = dir + "/ssh_config";

  BalancedFleet() {
    std::string tdir = dir + "/target";
    Run({"mkdir", "-p", tdir});
    target = std::make_unique<Sshd>(tdir, std::vector<std::string>{},
                                    "TrustedUserCAKeys " + ca.public_path + "\n");
    std::string policy =
        "version: 1\nusers:\n  alice:\n    keys: [\"" + alice.public_line + "\"]\n"
        "hosts:\n  db1:\n    address: \"127.0.0.1:" + std::to_string(target->port()) + "\"\n"
        "    record: true\n    host_key: \"" + target->host_key_line() + "\"\n"
        "rules:\n  - name: alice-db\n    users: [alice]\n    permit_open: [\"db1:22\"]\n"
        "    logins: [root]\n";
    a = MakeGate("gate-a", policy);
    b = MakeGate("gate-b", policy);
    lb = std::make_unique<Haproxy>(dir, std::vector<int>{a->port(), b->port()}, "send-proxy-v2");
    // The client comes from 127.0.0.5; each replica presents db1 with its
    // own key (a real fleet shares them), so host keys are not checked here.
    WriteFile(ssh_config,
              "Host *\n"
              "  IdentityFile " + alice.private_path + "\n"
              "  IdentitiesOnly yes\n  IdentityAgent none\n"
              "  StrictHostKeyChecking no\n  UserKnownHostsFile /dev/null\n"
              "  GlobalKnownHostsFile /dev/null\n"
              "  BindAddress 127.0.0.5\n"
              "  LogLevel ERROR\n  BatchMode yes\n  ConnectTimeout 20\n",
              0600);
  }
  std::unique_ptr<Gate> MakeGate(const std::string& node, const std::string& policy) {
    std::string gdir = dir + "/" + node;
    Run({"mkdir", "-p", gdir});
    std::string extra = "upstream:\n  user_ca_key: " + ca.private_path + "\n"
                        "fleet:\n  database: \"" + pg.dsn() + "\"\n  node: " + node + "\n";
    auto gate = std::make_unique<Gate>(gdir, policy, extra, /*start=*/false);
    REQUIRE(RequireProxyProtocol(gate->config_path()));
    gate->Start();
    return gate;
  }
  // ssh -J through haproxy to db1, running `word`'s echo there.
  RunResult Echo(const std::string& word) {
    return Run({"ssh", "-F", ssh_config, "-J", "alice@127.0.0.1:" + std::to_string(lb->port()),
                "root@db1", "echo", word},
               "", 60'000);
  }
  RunResult Hopctl(std::vector<std::string> args) {
    args.insert(args.begin(), Gate::HopctlBinary());
    return Run(args, "", 120'000);
  }
  // True once the database holds `connection`'s session_close.
  bool Closed(const std::string& connection) {
    return pg.Query("SELECT count(*) FROM audit_events WHERE conn = '" + connection +
                    "' AND type = 'session_close'") == std::vector<std::string>{"1"};
  }
};

// The recorded session a replica served whose output showed `word`: its
// connection id and its recording's path, from the replica's own log.
std::pair<std::string, std::string> RecordedSession(const Gate& gate, const std::string& word) {
  for (const auto& close : gate.AuditEvents("session_close")) {
    std::string path = close.value("recording", "");
    if (!path.empty() && ReadFile(path).find(word) != std::string::npos) {
      return {close.value("connection", ""), path};
    }
  }
  return {"", ""};
}

}  // namespace

TEST_CASE("behind haproxy: one listing of both replicas' sessions; replay of a session on replica B") {
  BalancedFleet f;
  // Round-robin: four logins, two on each replica.
  for (const std::string word : {"first-word", "second-word", "third-word", "fourth-word"}) {
    RunResult r = f.Echo(word);
    INFO(r.err << f.a->Log() << f.b->Log() << ReadFile(f.dir + "/haproxy.log"));
    REQUIRE(r.out == word + "\n");
  }
  auto [on_b, recording] = RecordedSession(*f.b, "second-word");
  if (on_b.empty()) std::tie(on_b, recording) = RecordedSession(*f.b, "first-word");
  REQUIRE(!on_b.empty());
  std::string word_b = ReadFile(recording).find("second-word") != std::string::npos ? "second-word"
                                                                                       : "first-word";
  REQUIRE(f.b->AuditEvents("session_close").size() >= 2);
  REQUIRE(f.a->AuditEvents("session_close").size() >= 2);
  REQUIRE(WaitUntil([&] { return f.Closed(on_b); }, 30'000));
  for (const auto& e : f.a->AuditEvents("session_close")) {
    std::string conn = e.value("connection", "");
    REQUIRE(WaitUntil([&] { return f.Closed(conn); }, 30'000));
  }

  SECTION("one hopctl sessions --database lists both replicas, each with the client's address") {
    std::string cache = f.dir + "/cache";
    RunResult s = f.Hopctl({"sessions", "--database", f.pg.dsn(), "--index", cache, "--json"});
    INFO(s.err);
    REQUIRE(s.exit_code == 0);
    std::map<std::string, int> per_node;
    for (const auto& row : json::parse(s.out)) {
      ++per_node[row["node"].get<std::string>()];
      CHECK(row["source"].get<std::string>().rfind("127.0.0.5:", 0) == 0);
      CHECK(row["recorded"] == true);
    }
    CHECK(per_node == std::map<std::string, int>{{"gate-a", 2}, {"gate-b", 2}});
    // --grep searches what the recorded terminals of every replica showed.
    RunResult g = f.Hopctl({"sessions", "--database", f.pg.dsn(), "--index", cache, "--grep",
                            word_b, "--json"});
    INFO(g.err);
    REQUIRE(g.exit_code == 0);
    json matches = json::parse(g.out);
    REQUIRE(matches.size() >= 1);
    CHECK(matches[0]["id"] == on_b);

    // The cache is kept and brought up to date: a new session appears.
    CHECK(std::filesystem::exists(cache + "/hopgate%2Fgate-b/audit.jsonl"));
    REQUIRE(f.Echo("fifth-word").out == "fifth-word\n");
    std::string fifth;
    for (const Gate* g2 : {f.a.get(), f.b.get()}) {
      auto [conn, path] = RecordedSession(*g2, "fifth-word");
      if (!conn.empty()) fifth = conn;
    }
    REQUIRE(!fifth.empty());
    REQUIRE(WaitUntil([&] { return f.Closed(fifth); }, 30'000));
    RunResult again = f.Hopctl({"sessions", "--database", f.pg.dsn(), "--index", cache, "--json"});
    REQUIRE(again.exit_code == 0);
    std::set<std::string> ids;
    for (const auto& row : json::parse(again.out)) ids.insert(row["id"].get<std::string>());
    CHECK(ids.size() == 5);
    CHECK(ids.count(fifth) == 1);

    // A database that no longer holds what was cached: that replica's
    // cache is rebuilt, with a warning.
    f.pg.Query("UPDATE audit_events SET line = line || ' ' WHERE origin = 'hopgate/gate-b' AND "
               "seq = (SELECT max(seq) FROM audit_events WHERE origin = 'hopgate/gate-b')");
    RunResult rebuilt = f.Hopctl({"sessions", "--database", f.pg.dsn(), "--index", cache, "--json"});
    REQUIRE(rebuilt.exit_code == 0);
    CHECK(rebuilt.err.find("gate-b: the cached events no longer match the database's: rebuilt") !=
          std::string::npos);
    CHECK(json::parse(rebuilt.out).size() == 5);

    // Without --index the cache is under $XDG_CACHE_HOME.
    std::string xdg = f.dir + "/xdg";
    RunResult d = Run({"env", "XDG_CACHE_HOME=" + xdg, Gate::HopctlBinary(), "sessions",
                       "--database", f.pg.dsn()});
    CHECK(d.exit_code == 0);
    CHECK(d.out.find(on_b + "  gate-b") != std::string::npos);
    CHECK(std::filesystem::exists(xdg + "/hopgate/fleet"));
  }

  SECTION("hopctl replay --database plays B's session, verified; refuses a tampered copy") {
    RunResult r = f.Hopctl({"replay", on_b, "--database", f.pg.dsn(), "--idle-limit", "0"});
    INFO(r.err);
    CHECK(r.exit_code == 0);
    CHECK(r.out.find(word_b) != std::string::npos);

    // The recording is not where replica B wrote it (it stayed on B): the
    // error says where it is.
    std::string copies = f.dir + "/copies";
    size_t cut = recording.size();
    for (int i = 0; i < 4; ++i) cut = recording.rfind('/', cut - 1);  // YYYY/MM/DD/NAME
    std::string tail = recording.substr(cut + 1);
    std::string copy = copies + "/" + tail;
    Run({"mkdir", "-p", copy.substr(0, copy.rfind('/'))});
    REQUIRE(Run({"mv", recording, copy}).exit_code == 0);
    std::string part = recording.substr(recording.rfind('/') + 1);
    part = part.substr(0, part.size() - 5);  // c…-0-0
    RunResult away = f.Hopctl({"replay", on_b, "--database", f.pg.dsn()});
    CHECK(away.exit_code == 1);
    CHECK(away.err.find("recording " + part + " is on replica gate-b at " + recording +
                        "; copy it here or pass --recordings DIR") != std::string::npos);
    CHECK(away.out.find(word_b) == std::string::npos);

    // --recordings DIR: a copy laid out as the replica's recordings are.
    RunResult copied = f.Hopctl({"replay", on_b, "--database", f.pg.dsn(), "--recordings",
                                 copies, "--idle-limit", "0"});
    INFO(copied.err);
    CHECK(copied.exit_code == 0);
    CHECK(copied.out.find(word_b) != std::string::npos);

    // A tampered copy: the digest in the database's events refuses it,
    // and the message names the event, not a temporary file.
    std::string text = ReadFile(copy);
    size_t at = text.find(word_b);
    REQUIRE(at != std::string::npos);
    text[at] = 'X';
    WriteFile(copy, text);
    RunResult tampered = f.Hopctl({"replay", on_b, "--database", f.pg.dsn(), "--recordings",
                                   copies, "--idle-limit", "0"});
    CHECK(tampered.exit_code == 1);
    CHECK(tampered.out.find("X" + word_b.substr(1)) == std::string::npos);
    CHECK(tampered.err.find("does not match the audit log") != std::string::npos);
    CHECK(tampered.err.find("hopgate/gate-b seq ") != std::string::npos);
    CHECK(tampered.err.find("hopctl-replay-") == std::string::npos);

    RunResult unknown = f.Hopctl({"replay", "c0000000000000000", "--database", f.pg.dsn()});
    CHECK(unknown.exit_code == 2);
    CHECK(unknown.err.find("no session c0000000000000000 in the fleet database") != std::string::npos);
  }
}
