#include <catch2/catch.hpp>

#include "proxy/config/config.h"

using namespace hopgate;
using namespace hopgate::proxy;

TEST_CASE("a complete config parses, with relative paths resolved") {
  auto r = ParseConfig(R"(version: 1
listen: ["127.0.0.1:2222", "[::1]:2222"]
host_keys: [keys/host_ed25519]
policy: policy.yaml
audit:
  log: /var/log/hopgate/audit.jsonl
limits:
  login_grace_time: 15s
  max_startups: 10
  max_sessions_per_user: 3
)",
                       "/etc/hopgate/hopgate.yaml");
  INFO(r.diagnostics.ToString());
  REQUIRE(r.config);
  const Config& c = *r.config;
  REQUIRE(c.listen.size() == 2);
  CHECK(c.listen[1].host == "::1");
  CHECK(c.host_keys[0] == "/etc/hopgate/keys/host_ed25519");
  CHECK(c.policy == "/etc/hopgate/policy.yaml");
  CHECK(c.audit_log == "/var/log/hopgate/audit.jsonl");
  CHECK(c.login_grace_time == 15);
  CHECK(c.max_startups == 10);
  CHECK(c.max_sessions_per_user == 3);
  CHECK(c.Dump().find("login_grace_time: 15s") != std::string::npos);
}

TEST_CASE("defaults are filled in one place") {
  auto r = ParseConfig(
      "version: 1\nlisten: [\"0.0.0.0:22\"]\nhost_keys: [k]\npolicy: p\naudit: {log: a}\n",
      "/c.yaml");
  REQUIRE(r.config);
  CHECK(r.config->login_grace_time == 30);
  CHECK(r.config->max_startups == 64);
  CHECK(r.config->max_sessions_per_user == 0);
  CHECK(r.config->drain_timeout == 600);
  CHECK(r.config->Dump().find("  drain_timeout: 10m\n") != std::string::npos);
}

TEST_CASE("limits.drain_timeout takes a duration; 0s means no drain") {
  std::string base = "version: 1\nlisten: [\"0.0.0.0:22\"]\nhost_keys: [k]\npolicy: p\naudit: {log: a}\n";
  auto zero = ParseConfig(base + "limits:\n  drain_timeout: 0s\n", "/c.yaml");
  REQUIRE(zero.config);
  CHECK(zero.config->drain_timeout == 0);
  auto bad = ParseConfig(base + "limits:\n  drain_timeout: 30\n", "/c.yaml");
  CHECK_FALSE(bad.config);
  CHECK(bad.diagnostics.ToString().find("/c.yaml:7:18: limits.drain_timeout: invalid duration") !=
        std::string::npos);
}

TEST_CASE("config errors name file:line:col") {
  auto r = ParseConfig(R"(version: 1
listen: ["127.0.0.1", "db.example.com:22", "::1:22"]
host_keys: []
polcy: p.yaml
audit: {}
limits:
  login_grace_time: 30
  max_startups: -1
)",
                       "/etc/hopgate/bad.yaml");
  CHECK_FALSE(r.config);
  std::string e = r.diagnostics.ToString();
  INFO(e);
  CHECK(e.find("/etc/hopgate/bad.yaml:2:10: listen: expected host:port, got \"127.0.0.1\"") != std::string::npos);
  CHECK(e.find("/etc/hopgate/bad.yaml:2:23: listen: \"db.example.com\" must be an IP address") != std::string::npos);
  CHECK(e.find("/etc/hopgate/bad.yaml:2:44: listen: IPv6 addresses need brackets") != std::string::npos);
  CHECK(e.find("/etc/hopgate/bad.yaml:3:12: host_keys must name at least one key file") != std::string::npos);
  CHECK(e.find("/etc/hopgate/bad.yaml:4:1: unknown key \"polcy\" in the config") != std::string::npos);
  CHECK(e.find("/etc/hopgate/bad.yaml:1:1: missing policy") != std::string::npos);
  CHECK(e.find("/etc/hopgate/bad.yaml:5:8: missing audit.log") != std::string::npos);
  CHECK(e.find("/etc/hopgate/bad.yaml:7:21: limits.login_grace_time: invalid duration \"30\": missing unit") != std::string::npos);
  CHECK(e.find("/etc/hopgate/bad.yaml:8:17: limits.max_startups must be between 1 and 100000") != std::string::npos);
}

TEST_CASE("recording and upstream sections parse, with defaults next to the audit log") {
  auto r = hopgate::proxy::ParseConfig(
      "version: 1\nlisten: [\"127.0.0.1:2222\"]\nhost_keys: [keys/host]\npolicy: p.yaml\n"
      "audit:\n  log: /var/log/hopgate/audit.jsonl\n"
      "recording:\n  min_free_bytes: 0\n"
      "upstream:\n  user_ca_key: ca\n  max_channels_per_connection: 8\n  idle_close: 2m\n",
      "/etc/hopgate/hopgate.yaml");
  INFO(r.diagnostics.ToString());
  REQUIRE(r.config);
  CHECK(r.config->recording_min_free_bytes == 0);
  CHECK(r.config->recordings_dir == "/var/log/hopgate/recordings");
  CHECK(r.config->recording_host_keys.empty());  // derived from host_keys at start
  CHECK(r.config->upstream_user_ca_key == "/etc/hopgate/ca");
  CHECK(r.config->upstream_max_channels == 8);
  CHECK(r.config->upstream_idle_close == 120);
  CHECK(r.config->recording_max_unflushed == 65536);  // the default
  auto sized = hopgate::proxy::ParseConfig(
      "version: 1\nlisten: [\"127.0.0.1:2222\"]\nhost_keys: [k]\npolicy: p\naudit: {log: a}\n"
      "recording:\n  max_unflushed: 256KiB\n",
      "/etc/hopgate/hopgate.yaml");
  REQUIRE(sized.config);
  CHECK(sized.config->recording_max_unflushed == 262144);
  CHECK(sized.config->Dump().find("max_unflushed: 262144") != std::string::npos);
  for (const std::string& v : {std::string("17MiB"), std::string("-1"), std::string("lots")}) {
    auto too = hopgate::proxy::ParseConfig(
        "version: 1\nlisten: [\"127.0.0.1:2222\"]\nhost_keys: [k]\npolicy: p\naudit: {log: a}\n"
        "recording:\n  max_unflushed: " + v + "\n",
        "/etc/hopgate/hopgate.yaml");
    INFO(v << ": " << too.diagnostics.ToString());
    CHECK_FALSE(too.config);
    CHECK(too.diagnostics.ToString().find("/etc/hopgate/hopgate.yaml:7:18: recording.max_unflushed") !=
          std::string::npos);
  }
  auto bad = hopgate::proxy::ParseConfig(
      "version: 1\nlisten: [\"127.0.0.1:2222\"]\nhost_keys: [k]\npolicy: p\naudit: {log: a}\n"
      "recording:\n  min_free: 1\n",
      "/etc/hopgate/hopgate.yaml");
  CHECK_FALSE(bad.config);
  CHECK(bad.diagnostics.ToString().find("/etc/hopgate/hopgate.yaml:7:3:") != std::string::npos);
}

TEST_CASE("recording.host_keys takes a list of interception keys; host_key and host_keys not both") {
  const std::string base =
      "version: 1\nlisten: [\"127.0.0.1:2222\"]\nhost_keys: [k]\npolicy: p\naudit: {log: a}\n";
  auto list = hopgate::proxy::ParseConfig(
      base + "recording:\n  host_keys: [rec_ed25519, /keys/rec_rsa]\n", "/etc/hopgate/hopgate.yaml");
  INFO(list.diagnostics.ToString());
  REQUIRE(list.config);
  CHECK(list.config->recording_host_keys ==
        std::vector<std::string>{"/etc/hopgate/rec_ed25519", "/keys/rec_rsa"});
  auto again = hopgate::proxy::ParseConfig(list.config->Dump(), "/etc/hopgate/hopgate.yaml");
  REQUIRE(again.config);
  CHECK(again.config->recording_host_keys == list.config->recording_host_keys);
  auto both = hopgate::proxy::ParseConfig(
      base + "recording:\n  host_key: one\n  host_keys: [two]\n", "/etc/hopgate/hopgate.yaml");
  CHECK_FALSE(both.config);
  CHECK(both.diagnostics.ToString().find(
            "/etc/hopgate/hopgate.yaml:8:14: recording: give host_key or host_keys, not both") !=
        std::string::npos);
  auto empty = hopgate::proxy::ParseConfig(base + "recording:\n  host_keys: []\n",
                                           "/etc/hopgate/hopgate.yaml");
  CHECK_FALSE(empty.config);
  CHECK(empty.diagnostics.ToString().find("recording.host_keys must name at least one key file") !=
        std::string::npos);
}

TEST_CASE("per-source start-up limits and penalties parse, load back, and refuse nonsense") {
  const std::string head =
      "version: 1\nlisten: [\"0.0.0.0:22\"]\nhost_keys: [k]\npolicy: p\naudit: {log: a}\n";
  auto defaults = ParseConfig(head, "/c.yaml");
  REQUIRE(defaults.config);
  CHECK(defaults.config->per_source_max_startups == 10);
  CHECK(defaults.config->per_source_penalty.enabled);
  CHECK(defaults.config->per_source_penalty.authfail_ms == 5'000);
  CHECK(defaults.config->per_source_penalty.min_ms == 15'000);

  auto r = ParseConfig(head + "limits:\n  per_source_max_startups: 4\n"
                              "  per_source_penalty: {authfail: 30s, min: 1m, max: 1h}\n"
                              "  per_source_penalty_exempt: [\"10.0.0.0/8\", \"2001:db8::/32\"]\n",
                       "/c.yaml");
  INFO(r.diagnostics.ToString());
  REQUIRE(r.config);
  const Config& c = *r.config;
  CHECK(c.per_source_max_startups == 4);
  CHECK(c.per_source_penalty.authfail_ms == 30'000);
  CHECK(c.per_source_penalty.noauth_ms == 1'000);
  CHECK(c.per_source_penalty.max_ms == 3'600'000);
  REQUIRE(c.per_source_penalty.exempt.size() == 2);
  auto again = ParseConfig(c.Dump(), "/c.yaml");
  INFO(c.Dump());
  REQUIRE(again.config);
  CHECK(again.config->Dump() == c.Dump());

  auto off = ParseConfig(head + "limits:\n  per_source_penalty: off\n", "/c.yaml");
  REQUIRE(off.config);
  CHECK_FALSE(off.config->per_source_penalty.enabled);

  auto bad = ParseConfig(head + "limits:\n  per_source_penalty: {authfial: 5s, min: 1h, max: 1m}\n"
                                "  per_source_penalty_exempt: [\"10.0.0.1/8\"]\n",
                         "/c.yaml");
  CHECK_FALSE(bad.config);
  std::string e = bad.diagnostics.ToString();
  INFO(e);
  CHECK(e.find("/c.yaml:7:24: unknown key \"authfial\" in limits.per_source_penalty") != std::string::npos);
  CHECK(e.find("/c.yaml:8:31: limits.per_source_penalty_exempt:") != std::string::npos);
}

TEST_CASE("config: user and upstream.max_cert_validity") {
  auto r = ParseConfig(
      "version: 1\nlisten: [\"127.0.0.1:2222\"]\nhost_keys: [/k]\npolicy: /p\n"
      "audit:\n  log: /var/log/hopgate/audit.jsonl\nuser: hopgate\n"
      "upstream:\n  max_cert_validity: 5m\n",
      "/etc/hopgate/hopgate.yaml");
  INFO(r.diagnostics.ToString());
  REQUIRE(r.config);
  CHECK(r.config->user == "hopgate");
  CHECK(r.config->upstream_max_cert_validity == 300);
  CHECK(r.config->Dump().find("user: \"hopgate\"") != std::string::npos);
  auto d = ParseConfig(
      "version: 1\nlisten: [\"127.0.0.1:2222\"]\nhost_keys: [/k]\npolicy: /p\n"
      "audit:\n  log: /a\n",
      "/etc/hopgate/hopgate.yaml");
  REQUIRE(d.config);
  CHECK(d.config->upstream_max_cert_validity == 600);
  CHECK(d.config->user.empty());
  auto root = ParseConfig(
      "version: 1\nlisten: [\"127.0.0.1:2222\"]\nhost_keys: [/k]\npolicy: /p\n"
      "audit:\n  log: /a\nuser: root\nupstream:\n  max_cert_validity: 48h\n",
      "/etc/hopgate/hopgate.yaml");
  CHECK_FALSE(root.config);
  CHECK_THAT(root.diagnostics.ToString(), Catch::Contains("user must name an unprivileged account"));
  CHECK_THAT(root.diagnostics.ToString(),
             Catch::Contains("upstream.max_cert_validity must be between 1m and 24h"));
}

TEST_CASE("fleet: the database, the node, and the audit origin it implies") {
  const std::string base =
      "version: 1\nlisten: [\"0.0.0.0:22\"]\nhost_keys: [k]\npolicy: p\naudit: {log: a}\n";
  auto r = ParseConfig(base + "fleet:\n  database: \"postgresql://hopgate:pw@db1:5432/hopgate\"\n"
                              "  node: gate-2\n",
                       "/c.yaml");
  INFO(r.diagnostics.ToString());
  REQUIRE(r.config);
  CHECK(r.config->fleet_database == "postgresql://hopgate:pw@db1:5432/hopgate");
  CHECK(r.config->fleet_node == "gate-2");
  CHECK(r.config->audit_origin == "hopgate/gate-2");
  std::string dump = r.config->Dump();
  CHECK(dump.find("postgresql://hopgate:REDACTED@db1:5432/hopgate") != std::string::npos);
  CHECK(dump.find("pw@") == std::string::npos);
  auto again = ParseConfig(dump, "/c.yaml");
  INFO(again.diagnostics.ToString());
  CHECK(again.config);

  // Without fleet.node, the hostname names the replica.
  auto h = ParseConfig(base + "fleet: {database: \"postgres://db1/hopgate\"}\n", "/c.yaml");
  REQUIRE(h.config);
  CHECK_FALSE(h.config->fleet_node.empty());
  CHECK(h.config->audit_origin == "hopgate/" + h.config->fleet_node);

  // No fleet: no database, origin as before.
  auto none = ParseConfig(base, "/c.yaml");
  REQUIRE(none.config);
  CHECK(none.config->fleet_database.empty());
}

TEST_CASE("fleet errors name file:line:col") {
  const std::string head = "version: 1\nlisten: [\"0.0.0.0:22\"]\nhost_keys: [k]\npolicy: p\n";
  auto bad = ParseConfig(head + "audit: {log: a}\nfleet:\n  database: \"mysql://db1/x\"\n"
                                "  node: \"gate 1/a\"\n  nodes: 2\n",
                         "/etc/hopgate/f.yaml");
  CHECK_FALSE(bad.config);
  std::string e = bad.diagnostics.ToString();
  INFO(e);
  CHECK(e.find("/etc/hopgate/f.yaml:9:3") != std::string::npos);  // unknown key nodes
  CHECK(e.find("/etc/hopgate/f.yaml:7:13: fleet.database must be a PostgreSQL URI") != std::string::npos);
  CHECK(e.find("/etc/hopgate/f.yaml:8:9: fleet.node must be") != std::string::npos);

  auto origin = ParseConfig(head + "audit: {log: a, origin: hopgate/other}\n"
                                   "fleet: {database: \"postgresql://db1/x\", node: gate1}\n",
                            "/etc/hopgate/o.yaml");
  CHECK_FALSE(origin.config);
  CHECK(origin.diagnostics.ToString().find(
            "/etc/hopgate/o.yaml:5:25: audit.origin must be \"hopgate/gate1\" in a fleet") !=
        std::string::npos);

  auto missing = ParseConfig(head + "audit: {log: a}\nfleet: {node: gate1}\n", "/m.yaml");
  CHECK_FALSE(missing.config);
  CHECK(missing.diagnostics.ToString().find("missing fleet.database") != std::string::npos);
}

TEST_CASE("limits.client_alive_* and upstream.alive_* parse, load back, and refuse nonsense") {
  const std::string head =
      "version: 1\nlisten: [\"0.0.0.0:22\"]\nhost_keys: [k]\npolicy: p\naudit: {log: a}\n";
  auto defaults = ParseConfig(head, "/c.yaml");
  REQUIRE(defaults.config);
  CHECK(defaults.config->client_alive_interval == 15);
  CHECK(defaults.config->client_alive_count_max == 3);
  CHECK(defaults.config->upstream_alive_interval == 15);
  CHECK(defaults.config->upstream_alive_count_max == 3);

  auto r = ParseConfig(head + "limits:\n  client_alive_interval: 1m\n  client_alive_count_max: 5\n"
                              "upstream:\n  alive_interval: off\n  alive_count_max: 2\n",
                       "/c.yaml");
  INFO(r.diagnostics.ToString());
  REQUIRE(r.config);
  CHECK(r.config->client_alive_interval == 60);
  CHECK(r.config->client_alive_count_max == 5);
  CHECK(r.config->upstream_alive_interval == 0);
  CHECK(r.config->upstream_alive_count_max == 2);
  auto again = ParseConfig(r.config->Dump(), "/c.yaml");
  INFO(r.config->Dump());
  REQUIRE(again.config);
  CHECK(again.config->Dump() == r.config->Dump());

  auto zero = ParseConfig(head + "limits:\n  client_alive_interval: 0\n", "/c.yaml");
  REQUIRE(zero.config);
  CHECK(zero.config->client_alive_interval == 0);

  auto bad = ParseConfig(head + "limits:\n  client_alive_interval: soon\n"
                                "  client_alive_count_max: 0\n",
                         "/c.yaml");
  CHECK_FALSE(bad.config);
  std::string e = bad.diagnostics.ToString();
  INFO(e);
  CHECK(e.find("/c.yaml:7:26: limits.client_alive_interval: invalid duration") != std::string::npos);
  CHECK(e.find("/c.yaml:8:27: limits.client_alive_count_max") != std::string::npos);
}

TEST_CASE("listen entries may be objects with PROXY protocol settings") {
  auto r = ParseConfig(R"(version: 1
listen:
  - "127.0.0.1:2222"
  - {address: "0.0.0.0:2200", proxy_protocol: true, proxy_from: ["10.0.0.0/8", "192.0.2.7"]}
  - address: "[::1]:2201"
host_keys: [k]
policy: p
audit: {log: a}
)",
                       "/c.yaml");
  INFO(r.diagnostics.ToString());
  REQUIRE(r.config);
  const Config& c = *r.config;
  REQUIRE(c.listen.size() == 3);
  REQUIRE(c.listen_proxy.size() == 3);
  CHECK_FALSE(c.listen_proxy[0].enabled);
  CHECK(c.listen[1].ToString() == "0.0.0.0:2200");
  CHECK(c.listen_proxy[1].enabled);
  REQUIRE(c.listen_proxy[1].from.size() == 2);
  CHECK(c.listen_proxy[1].from[1].ToString() == "192.0.2.7/32");
  CHECK(c.listen[2].host == "::1");
  CHECK_FALSE(c.listen_proxy[2].enabled);
  // The effective form keeps the object and loads back to itself.
  std::string dump = c.Dump();
  CHECK(dump.find("  - {address: \"0.0.0.0:2200\", proxy_protocol: true, proxy_from: "
                  "[\"10.0.0.0/8\", \"192.0.2.7/32\"]}") != std::string::npos);
  auto again = ParseConfig(dump, "/c.yaml");
  REQUIRE(again.config);
  CHECK(again.config->Dump() == dump);
}

TEST_CASE("listen objects with bad PROXY protocol settings name file:line:col") {
  auto r = ParseConfig(R"(version: 1
listen:
  - {address: "0.0.0.0:2200", proxy_protocol: true}
  - {address: "0.0.0.0:2201", proxy_from: ["10.0.0.0/8"]}
  - {address: "0.0.0.0:2202", proxy_protocol: yes please, proxy_from: ["10.0.0.1/8"]}
  - {adress: "0.0.0.0:2203"}
  - {address: "0.0.0.0:2204", proxy_protocol: true, proxy_from: "10.0.0.0/8"}
host_keys: [k]
policy: p
audit: {log: a}
)",
                       "/etc/hopgate/bad.yaml");
  CHECK_FALSE(r.config);
  std::string e = r.diagnostics.ToString();
  INFO(e);
  CHECK(e.find("/etc/hopgate/bad.yaml:3:5: listen: proxy_protocol: true needs proxy_from") !=
        std::string::npos);
  CHECK(e.find("/etc/hopgate/bad.yaml:4:43: listen: proxy_from needs proxy_protocol: true") !=
        std::string::npos);
  CHECK(e.find("/etc/hopgate/bad.yaml:5:47: listen: proxy_protocol must be true or false") != std::string::npos);
  CHECK(e.find("/etc/hopgate/bad.yaml:5:72: listen: proxy_from: \"10.0.0.1/8\" has host bits set") !=
        std::string::npos);
  CHECK(e.find("5:71") == std::string::npos);  // no second error for the same entry
  CHECK(e.find("/etc/hopgate/bad.yaml:6:6: unknown key \"adress\"") != std::string::npos);
  CHECK(e.find("/etc/hopgate/bad.yaml:7:65: listen: proxy_from must be a list") != std::string::npos);
}

TEST_CASE("locks.file: default beside the audit log, none in a fleet") {
  std::string base = "version: 1\nlisten: [\"0.0.0.0:22\"]\nhost_keys: [k]\npolicy: p\n"
                     "audit: {log: /var/log/hopgate/audit.jsonl}\n";
  auto plain = ParseConfig(base, "/etc/hopgate/c.yaml");
  REQUIRE(plain.config);
  CHECK(plain.config->locks_file == "/var/log/hopgate/locks.json");
  CHECK(plain.config->Dump().find("locks:\n  file: \"/var/log/hopgate/locks.json\"\n") !=
        std::string::npos);
  auto set = ParseConfig(base + "locks:\n  file: state/locks.json\n", "/etc/hopgate/c.yaml");
  REQUIRE(set.config);
  CHECK(set.config->locks_file == "/etc/hopgate/state/locks.json");
  std::string fleet = "fleet:\n  database: \"postgresql://h@db/h\"\n  node: g1\n";
  auto in_fleet = ParseConfig(base + fleet, "/etc/hopgate/c.yaml");
  REQUIRE(in_fleet.config);
  CHECK(in_fleet.config->locks_file.empty());
  auto both = ParseConfig(base + fleet + "locks:\n  file: /x/locks.json\n", "/etc/hopgate/c.yaml");
  REQUIRE_FALSE(both.config);
  CHECK(both.diagnostics.ToString().find("locks.file has no effect with fleet.database") !=
        std::string::npos);
  auto unknown = ParseConfig(base + "locks:\n  path: /x\n", "/etc/hopgate/c.yaml");
  CHECK_FALSE(unknown.config);
}

TEST_CASE("fleet.max_sessions_per_user and fleet.heartbeat_interval parse and load back") {
  const std::string base =
      "version: 1\nlisten: [\"0.0.0.0:22\"]\nhost_keys: [k]\npolicy: p\naudit: {log: a}\n";
  auto r = ParseConfig(base + "fleet:\n  database: \"postgresql://db1/hopgate\"\n  node: g1\n"
                              "  max_sessions_per_user: 2\n  heartbeat_interval: 2s\n",
                       "/c.yaml");
  INFO(r.diagnostics.ToString());
  REQUIRE(r.config);
  CHECK(r.config->fleet_max_sessions_per_user == 2);
  CHECK(r.config->fleet_heartbeat_interval == 2);
  auto again = ParseConfig(r.config->Dump(), "/c.yaml");
  REQUIRE(again.config);
  CHECK(again.config->fleet_max_sessions_per_user == 2);
  CHECK(again.config->fleet_heartbeat_interval == 2);
  // Defaults: no fleet-wide limit, a heartbeat every 5 s.
  auto d = ParseConfig(base + "fleet: {database: \"postgresql://db1/x\"}\n", "/c.yaml");
  REQUIRE(d.config);
  CHECK(d.config->fleet_max_sessions_per_user == 0);
  CHECK(d.config->fleet_heartbeat_interval == 5);
  auto bad = ParseConfig(base + "fleet:\n  database: \"postgresql://db1/x\"\n"
                                "  max_sessions_per_user: -1\n  heartbeat_interval: 0s\n",
                         "/b.yaml");
  CHECK_FALSE(bad.config);
  std::string e = bad.diagnostics.ToString();
  INFO(e);
  CHECK(e.find("/b.yaml:8:26: fleet.max_sessions_per_user") != std::string::npos);
  CHECK(e.find("/b.yaml:9:23: fleet.heartbeat_interval must be at least 1s") != std::string::npos);
}
