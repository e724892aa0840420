// A fleet: two hopgate replicas (different fleet.node) copying their audit
// logs to one real PostgreSQL (Debian's postgresql: initdb and pg_ctl in a
// temporary directory, on a loopback port). Sessions through either replica
// appear in one `hopctl sessions --database`, each with its node; stopping
// PostgreSQL blocks no login; after it restarts (and after a replica
// restarts) the copy catches up with no event missing or duplicated.
#include <catch2/catch.hpp>

#include <dirent.h>
#include <pwd.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <set>
#include <sstream>

#include <chrono>
#include <thread>

#include "audit/fleet/pg.h"
#include "audit/fleet/schema.h"
#include "tests/support/harness.h"
#include "tests/support/postgres.h"

using namespace hopgate::testing;
using nlohmann::json;

namespace {

// Every event in a replica's local audit log, in seq order: the live file
// and the files rotation left beside it (audit.<first seq>.jsonl).
std::vector<json> LocalLog(const Gate& gate) {
  std::vector<json> out;
  if (DIR* d = opendir(gate.dir().c_str())) {
    while (dirent* e = readdir(d)) {
      std::string name = e->d_name;
      if (name.rfind("audit.", 0) != 0 || name.size() <= 6 ||
          name.compare(name.size() - 6, 6, ".jsonl") != 0) {
        continue;
      }
      std::string text = ReadFile(gate.dir() + "/" + name);
      text.erase(text.rfind('\n') == std::string::npos ? 0 : text.rfind('\n') + 1);  // a line being written
      std::istringstream in(text);
      for (std::string line; std::getline(in, line);) {
        if (!line.empty()) out.push_back(json::parse(line));
      }
    }
    closedir(d);
  }
  std::sort(out.begin(), out.end(), [](const json& x, const json& y) {
    return x["seq"].get<uint64_t>() < y["seq"].get<uint64_t>();
  });
  return out;
}

std::vector<uint64_t> LocalSeqs(const Gate& gate) {
  std::vector<uint64_t> out;
  for (const auto& e : LocalLog(gate)) out.push_back(e["seq"].get<uint64_t>());
  return out;
}

// "hopgate/gate-a 17" for every event of a replica's local audit log.
std::set<std::string> LocalEvents(const Gate& gate, const std::string& origin) {
  std::set<std::string> out;
  for (uint64_t seq : LocalSeqs(gate)) out.insert(origin + " " + std::to_string(seq));
  return out;
}

size_t RotatedFiles(const Gate& gate) {
  size_t n = 0;
  if (DIR* d = opendir(gate.dir().c_str())) {
    while (dirent* e = readdir(d)) {
      std::string name = e->d_name;
      if (name.rfind("audit.", 0) == 0 && name != "audit.jsonl" && name.size() > 6 &&
          name.compare(name.size() - 6, 6, ".jsonl") == 0) {
        ++n;
      }
    }
    closedir(d);
  }
  return n;
}

std::set<std::string> DatabaseEvents(Postgres& pg, const std::string& origin) {
  auto rows = pg.Query("SELECT origin || ' ' || seq FROM audit_events WHERE origin = '" + origin +
                       "'");
  return std::set<std::string>(rows.begin(), rows.end());
}

// True once every event in the replica's local log is in the database.
bool CaughtUp(Postgres& pg, const Gate& gate, const std::string& origin) {
  std::set<std::string> local = LocalEvents(gate, origin), db = DatabaseEvents(pg, origin);
  return std::includes(db.begin(), db.end(), local.begin(), local.end());
}

std::string Metrics(const Gate& gate) { return gate.ScrapeMetrics(); }

struct Fleet {
  Postgres pg;
  std::string dir = MakeTempDir("fleet");
  KeyPair alice = GenerateKey(dir, "alice");
  Sshd target{dir, {alice.public_line}};
  Client client{dir, alice.private_path};
  std::unique_ptr<Gate> a, b;

  Fleet() {
    std::string policy = "version: 1\nusers:\n  alice:\n    keys: [\"" + alice.public_line +
                         "\"]\nrules:\n  - name: alice-to-target\n    users: [alice]\n"
                         "    permit_open: [\"127.0.0.1:" + std::to_string(target.port()) + "\"]\n";
    // gate-a rotates its audit log every 4 KiB: the copy follows the files.
    a = MakeGate("gate-a", policy, "audit_rotate");
    b = MakeGate("gate-b", policy, "");
  }
  std::unique_ptr<Gate> MakeGate(const std::string& node, const std::string& policy,
                                 const std::string& rotate) {
    std::string gdir = dir + "/" + node;
    Run({"mkdir", "-p", gdir});
    // Logins refused by a lock are retried until it lifts: no penalties.
    std::string extra = "limits:\n  per_source_penalty: off\n"
                        "metrics:\n  listen: \"127.0.0.1:0\"\n"
                        "fleet:\n  database: \"" + pg.dsn() + "\"\n  node: " + node + "\n";
    auto gate = std::make_unique<Gate>(gdir, policy, extra, /*start=*/false);
    if (!rotate.empty()) {
      std::string cfg = ReadFile(gate->config_path());
      cfg.replace(cfg.find("\naudit:\n"), 8, "\naudit:\n  rotate_size: 4KiB\n");
      WriteFile(gate->config_path(), cfg, 0600);
    }
    gate->Start();
    return gate;
  }
  RunResult Login(Gate& gate, const std::string& word) {
    return Run(client.SshJ("alice", gate.port(), target.port(), {"echo", word}));
  }
};

std::vector<json> LocalEventsOf(const Gate& gate, const std::string& type) {
  std::vector<json> out;
  for (auto& e : LocalLog(gate)) {
    if (e["type"] == type) out.push_back(std::move(e));
  }
  return out;
}

std::string ConnectionOf(const Gate& gate, size_t index) {
  auto opens = LocalEventsOf(gate, "connection_open");
  REQUIRE(opens.size() > index);
  return opens[index]["connection"].get<std::string>();
}

}  // namespace

TEST_CASE("two replicas, one database: sessions of both, each with its node") {
  Fleet f;
  RunResult ra = f.Login(*f.a, "via-a");
  INFO(ra.err << f.a->Log());
  REQUIRE(ra.out == "via-a\n");
  RunResult rb = f.Login(*f.b, "via-b");
  INFO(rb.err << f.b->Log());
  REQUIRE(rb.out == "via-b\n");
  // The audit origin of a replica is hopgate/<fleet.node>.
  CHECK(LocalEventsOf(*f.a, "checkpoint").at(0)["checkpoint"].get<std::string>().rfind(
            "hopgate/gate-a\n", 0) == 0);
  REQUIRE(WaitUntil([&] { return CaughtUp(f.pg, *f.a, "hopgate/gate-a"); }, 30'000));
  REQUIRE(WaitUntil([&] { return CaughtUp(f.pg, *f.b, "hopgate/gate-b"); }, 30'000));
  // Both replicas migrated the same empty database at once: one schema.
  std::vector<std::string> versions;
  for (int v = 1; v <= hopgate::audit::fleet::SchemaVersion(); ++v) versions.push_back(std::to_string(v));
  CHECK(f.pg.Query("SELECT version FROM hopgate_schema ORDER BY 1") == versions);

  std::string id_a = ConnectionOf(*f.a, 0), id_b = ConnectionOf(*f.b, 0);
  RunResult s = Run({Gate::HopctlBinary(), "sessions", "--database", f.pg.dsn(), "--json"});
  INFO(s.err);
  REQUIRE(s.exit_code == 0);
  json list = json::parse(s.out);
  std::map<std::string, std::string> node_of;
  for (const auto& row : list) node_of[row["id"].get<std::string>()] = row["node"].get<std::string>();
  CHECK(node_of[id_a] == "gate-a");
  CHECK(node_of[id_b] == "gate-b");
  CHECK(list.size() == 2);

  // The table shows the full connection id and the node; --config finds the
  // database in fleet.database.
  RunResult t = Run({Gate::HopctlBinary(), "sessions", "--config", f.a->config_path(), "--user", "alice"});
  INFO(t.err);
  REQUIRE(t.exit_code == 0);
  CHECK(t.out.find("NODE") != std::string::npos);
  CHECK(t.out.find(id_a + "  gate-a") != std::string::npos);
  CHECK(t.out.find(id_b + "  gate-b") != std::string::npos);

  // One session's story, from whichever replica served it.
  RunResult show = Run({Gate::HopctlBinary(), "show", id_b, "--database", f.pg.dsn()});
  INFO(show.err);
  REQUIRE(show.exit_code == 0);
  CHECK(show.out.find("node: gate-b") != std::string::npos);
  CHECK(show.out.find("alice") != std::string::npos);
  // --grep searches every replica's sessions in one listing (nothing recorded here).
  RunResult grep = Run({Gate::HopctlBinary(), "sessions", "--database", f.pg.dsn(), "--grep", "x", "--json"});
  CHECK(grep.exit_code == 1);
  CHECK(json::parse(grep.out) == json::array());
  RunResult none = Run({Gate::HopctlBinary(), "show", "c0000000000000000", "--database", f.pg.dsn()});
  CHECK(none.exit_code == 1);
  CHECK(none.err.find("no session c0000000000000000 in the fleet database") != std::string::npos);
}

TEST_CASE("the database down blocks no login; the copy catches up, nothing missing or twice") {
  Fleet f;
  REQUIRE(f.Login(*f.a, "before").out == "before\n");
  REQUIRE(WaitUntil([&] { return CaughtUp(f.pg, *f.a, "hopgate/gate-a"); }, 30'000));
  CHECK(Gate::MetricValue(Metrics(*f.a), "hopgate_fleet_database_up") == 1);

  f.pg.Stop();
  RunResult during = f.Login(*f.a, "during");
  INFO(during.err << f.a->Log());
  CHECK(during.exit_code == 0);
  CHECK(during.out == "during\n");
  REQUIRE(f.Login(*f.b, "during-b").out == "during-b\n");
  // hopctl says plainly that it cannot reach the database.
  RunResult down = Run({Gate::HopctlBinary(), "sessions", "--database", f.pg.dsn()});
  CHECK(down.exit_code == 2);
  CHECK(down.err.find("hopctl: fleet database: postgresql://hopgate@127.0.0.1:") != std::string::npos);
  // The metrics say so: the database is down and events wait to be copied.
  CHECK(WaitUntil([&] {
    std::string m = Metrics(*f.a);
    return Gate::MetricValue(m, "hopgate_fleet_database_up") == 0 &&
           Gate::MetricValue(m, "hopgate_fleet_copy_lag_events") > 0;
  }, 20'000));

  // A replica restarted during the outage resumes where its copy ended.
  f.b->process().Signal(SIGTERM);
  REQUIRE(f.b->process().Wait(30'000) == 0);
  f.b->Start();
  REQUIRE(f.Login(*f.b, "restarted").out == "restarted\n");

  f.pg.Start();
  CHECK(WaitUntil([&] { return CaughtUp(f.pg, *f.a, "hopgate/gate-a"); }, 60'000));
  CHECK(WaitUntil([&] { return CaughtUp(f.pg, *f.b, "hopgate/gate-b"); }, 60'000));
  CHECK(WaitUntil([&] { return Gate::MetricValue(Metrics(*f.a), "hopgate_fleet_database_up") == 1; }, 20'000));
  // Exactly the local events: every seq of each replica once, none extra.
  for (auto [gate, origin] : {std::pair{f.a.get(), "hopgate/gate-a"}, std::pair{f.b.get(), "hopgate/gate-b"}}) {
    std::set<std::string> local = LocalEvents(*gate, origin);
    auto rows = f.pg.Query("SELECT count(*), count(DISTINCT seq), min(seq), max(seq) FROM audit_events "
                           "WHERE origin = '" + std::string(origin) + "'");
    REQUIRE(rows.size() == 1);
    uint64_t max_local = LocalSeqs(*gate).back();
    // Rows: as many as distinct seqs, from 0 with no gap, up to the local log's last.
    std::string n = std::to_string(max_local + 1);
    CHECK(rows[0] == n + "|" + n + "|0|" + std::to_string(max_local));
    CHECK(local.size() == max_local + 1);
  }
  // The outage was logged once, not once per retry.
  std::string log = f.a->Log();
  size_t outages = 0;
  for (size_t at = 0; (at = log.find("fleet database unavailable", at)) != std::string::npos; ++at) ++outages;
  CHECK(outages == 1);
  CHECK(log.find("fleet database back") != std::string::npos);

  CHECK(RotatedFiles(*f.a) >= 1);  // the copy followed gate-a's rotation

  RunResult s = Run({Gate::HopctlBinary(), "sessions", "--database", f.pg.dsn(), "--json"});
  REQUIRE(s.exit_code == 0);
  CHECK(json::parse(s.out).size() == 4);  // before, during, during-b, restarted
}

TEST_CASE("replicas starting at once migrate an empty database once") {
  Postgres pg;
  pg.Query("CREATE DATABASE race");
  std::string dsn = pg.dsn();
  dsn.replace(dsn.rfind("/postgres"), 9, "/race");
  std::vector<std::string> outcomes(8);
  std::vector<std::thread> replicas;
  for (size_t i = 0; i < outcomes.size(); ++i) {
    replicas.emplace_back([&, i] {
      auto db = hopgate::audit::fleet::Pg::Connect(dsn);
      if (!db) {
        outcomes[i] = db.message();
        return;
      }
      auto v = hopgate::audit::fleet::Migrate(**db);
      outcomes[i] = v ? "version " + std::to_string(*v) : v.message();
    });
  }
  for (auto& t : replicas) t.join();
  const std::string latest = std::to_string(hopgate::audit::fleet::SchemaVersion());
  for (const auto& o : outcomes) CHECK(o == "version " + latest);
  RunResult rows = Run({PgBin() + "psql", "-X", "-At", "-d", dsn, "-c",
                        "SELECT count(*), max(version) FROM hopgate_schema"});
  CHECK(rows.out == latest + "|" + latest + "\n");
  // A database migrated by a newer hopgate is refused, not written to.
  RunResult newer = Run({PgBin() + "psql", "-X", "-At", "-d", dsn, "-c",
                         "INSERT INTO hopgate_schema(version) VALUES (99)"});
  REQUIRE(newer.exit_code == 0);
  auto db = hopgate::audit::fleet::Pg::Connect(dsn);
  REQUIRE(db);
  auto v = hopgate::audit::fleet::Migrate(**db);
  REQUIRE_FALSE(v);
  CHECK(v.message().find("schema is version 99, newer than this hopgate's (" + latest + ")") !=
        std::string::npos);
}

TEST_CASE("a lock cuts the user's live session on another replica and refuses her everywhere") {
  Fleet f;
  // alice's live session through gate-b.
  Process live(f.client.SshJ("alice", f.b->port(), f.target.port(), {"sleep", "120"}),
               f.dir + "/live.log");
  REQUIRE(f.b->WaitForAudit("channel_open", "decision", "allow", 30'000));
  // Both replicas are watching the locks (they migrated and listen).
  REQUIRE(WaitUntil([&] {
    return f.a->Log().find("fleet locks: listening for changes") != std::string::npos &&
           f.b->Log().find("fleet locks: listening for changes") != std::string::npos;
  }, 30'000));

  RunResult lock = Run({Gate::HopctlBinary(), "lock", "--user", "alice", "--reason",
                        "left the company", "--database", f.pg.dsn()});
  INFO(lock.err);
  REQUIRE(lock.exit_code == 0);
  auto locked_at = std::chrono::steady_clock::now();
  int64_t id = std::stoll(lock.out);
  REQUIRE(WaitUntil([&] { return !live.Running(); }, 20'000));
  auto cut_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                    std::chrono::steady_clock::now() - locked_at).count();
  WARN("live session cut " << cut_ms << " ms after hopctl lock returned");
  auto applied = f.b->AuditEvents("lock_applied");
  REQUIRE(applied.size() == 1);
  CHECK(applied[0]["user"] == "alice");
  CHECK(applied[0]["lock_id"] == id);
  CHECK(applied[0]["reason"] == "left the company");
  CHECK(f.b->Log().find("user \"alice\" locked by the fleet (lock " + std::to_string(id) +
                        ": left the company): closing the connection") != std::string::npos);

  // New logins are refused on every replica, with the reason in the audit log.
  RunResult refused = f.Login(*f.a, "refused");
  CHECK(refused.exit_code != 0);
  bool audited = false;
  for (const auto& e : LocalEventsOf(*f.a, "auth")) {
    if (e["result"] == "failure" &&
        e["reason"].get<std::string>().find("locked by the fleet (lock " + std::to_string(id) +
                                            ": left the company)") != std::string::npos) {
      audited = true;
    }
  }
  CHECK(audited);

  RunResult locks = Run({Gate::HopctlBinary(), "locks", "--config", f.a->config_path()});
  REQUIRE(locks.exit_code == 0);
  CHECK(locks.out.find(std::to_string(id) + "  user  alice") != std::string::npos);
  CHECK(locks.out.find("left the company") != std::string::npos);

  RunResult unlock = Run({Gate::HopctlBinary(), "unlock", std::to_string(id), "--database", f.pg.dsn()});
  CHECK(unlock.exit_code == 0);
  CHECK(unlock.out == "1 lock lifted\n");
  CHECK(WaitUntil([&] { return f.Login(*f.a, "again").out == "again\n"; }, 20'000));
  RunResult none = Run({Gate::HopctlBinary(), "unlock", "--user", "alice", "--database", f.pg.dsn()});
  CHECK(none.exit_code == 1);

  // A lock with --ttl lifts itself.
  RunResult bad = Run({Gate::HopctlBinary(), "lock", "--user", "alice", "--ttl", "soon", "--database", f.pg.dsn()});
  CHECK(bad.exit_code == 2);
  CHECK(bad.err.find("hopctl: --ttl: ") == 0);
  RunResult brief = Run({Gate::HopctlBinary(), "lock", "--user", "alice", "--ttl", "3s", "--database", f.pg.dsn()});
  REQUIRE(brief.exit_code == 0);
  RunResult listed = Run({Gate::HopctlBinary(), "locks", "--database", f.pg.dsn()});
  CHECK(listed.out.find(std::to_string(std::stoll(brief.out)) + "  user  alice") != std::string::npos);
  CHECK(listed.out.find("never") == std::string::npos);  // it has an expiry
  CHECK(WaitUntil([&] { return f.Login(*f.b, "expired").out == "expired\n"; }, 30'000));
  CHECK(Run({Gate::HopctlBinary(), "locks", "--database", f.pg.dsn()}).out.find("alice") == std::string::npos);
}

bool RefusedWith(const Gate& gate, const std::string& reason) {
  for (const auto& e : LocalEventsOf(gate, "auth")) {
    if (e["result"] == "failure" && e["reason"] == reason) return true;
  }
  return false;
}

TEST_CASE("fleet locks on a key and on a source address") {
  Fleet f;
  REQUIRE(WaitUntil([&] {
    return f.a->Log().find("fleet locks: listening for changes") != std::string::npos &&
           f.b->Log().find("fleet locks: listening for changes") != std::string::npos;
  }, 30'000));
  std::string hopctl = Gate::HopctlBinary(), dsn = f.pg.dsn();

  // A key: its holder is refused on every replica until the lock lifts.
  std::string fp = KeyFingerprint(f.alice.public_path);
  RunResult key = Run({hopctl, "lock", "--key", fp, "--reason", "laptop stolen", "--database", dsn});
  INFO(key.err);
  REQUIRE(key.exit_code == 0);
  std::string refusal = "key " + fp + " locked by the fleet (lock " + key.out.substr(0, key.out.size() - 1) +
                        ": laptop stolen)";
  for (Gate* gate : {f.a.get(), f.b.get()}) {
    CHECK(WaitUntil([&] { return f.Login(*gate, "no").exit_code != 0 && RefusedWith(*gate, refusal); }, 20'000));
  }
  RunResult listed = Run({hopctl, "locks", "--database", dsn});
  CHECK(listed.out.find("  key  " + fp + "  ") != std::string::npos);
  RunResult bad = Run({hopctl, "lock", "--source", "127.0.0.1/8", "--database", dsn});
  CHECK(bad.exit_code == 2);
  CHECK(bad.err.find("hopctl: --source: not a CIDR block: \"127.0.0.1/8\"") == 0);
  RunResult lifted = Run({hopctl, "unlock", "--key", fp, "--database", dsn});
  CHECK(lifted.out == "1 lock lifted\n");
  CHECK(WaitUntil([&] { return f.Login(*f.a, "back").out == "back\n"; }, 20'000));

  // A source address: the live session from it on gate-b is cut (gate-b:
  // its audit log does not rotate, so one file holds its events).
  size_t allowed = f.b->AuditEvents("channel_open").size();
  Process live(f.client.SshJ("alice", f.b->port(), f.target.port(), {"sleep", "120"}), f.dir + "/live.log");
  REQUIRE(WaitUntil([&] { return f.b->AuditEvents("channel_open").size() > allowed; }, 30'000));
  RunResult source = Run({hopctl, "lock", "--source", "127.0.0.1", "--database", dsn});
  REQUIRE(source.exit_code == 0);
  int64_t id = std::stoll(source.out);
  REQUIRE(WaitUntil([&] { return !live.Running(); }, 20'000));
  auto applied = f.b->AuditEvents("lock_applied");
  REQUIRE(applied.size() == 1);
  CHECK(applied[0]["lock_id"] == id);
  CHECK(applied[0]["kind"] == "source");
  CHECK(applied[0]["value"] == "127.0.0.1/32");
  CHECK(WaitUntil([&] {
    return f.Login(*f.a, "no").exit_code != 0 &&
           RefusedWith(*f.a, "source 127.0.0.1 (in 127.0.0.1/32) locked by the fleet (lock " +
                                 std::to_string(id) + ")");
  }, 20'000));
  CHECK(Run({hopctl, "unlock", std::to_string(id), "--database", dsn}).exit_code == 0);
}
