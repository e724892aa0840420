#include "audit/fleet/schema.h"

#include <string>
#include <vector>

namespace hopgate::audit::fleet {
namespace {

// The advisory lock every replica takes to migrate: one fixed key
// ("hopgate" in ASCII), so nothing else in a shared database collides.
constexpr const char* kMigrationLock = "SELECT pg_advisory_xact_lock(110712835043175)";

// Migration N (1-based) is kMigrations[N-1]; append only, never edit.
const std::vector<const char*> kMigrations = {
    // 1: every replica's audit events, keyed by origin and seq. `line` is
    // the log's own line, byte for byte (its hash chain still checks);
    // `event` the same as jsonb for queries.
    R"(CREATE TABLE audit_events (
         origin text NOT NULL,
         seq bigint NOT NULL,
         time timestamptz,
         type text NOT NULL,
         conn text,
         username text,
         event jsonb NOT NULL,
         line text NOT NULL,
         PRIMARY KEY (origin, seq));
       CREATE INDEX audit_events_conn ON audit_events (conn) WHERE conn IS NOT NULL;
       CREATE INDEX audit_events_time ON audit_events (time);)",
    // 2: fleet-wide locks (hopctl lock): who may not log in, anywhere.
    R"(CREATE TABLE fleet_locks (
         id bigserial PRIMARY KEY,
         kind text NOT NULL,
         value text NOT NULL,
         reason text NOT NULL DEFAULT '',
         created timestamptz NOT NULL DEFAULT now(),
         expires timestamptz);)",
    // 3: the live view (audit/fleet/live.h): each replica's heartbeat, the
    // sessions open on it now, and hopctl terminate's requests.
    R"(CREATE TABLE fleet_nodes (
         node text PRIMARY KEY,
         last_seen timestamptz NOT NULL,
         expires timestamptz NOT NULL);
       CREATE TABLE fleet_sessions (
         node text NOT NULL,
         conn text NOT NULL,
         username text NOT NULL,
         source text NOT NULL,
         targets text NOT NULL DEFAULT '',
         started timestamptz NOT NULL,
         PRIMARY KEY (node, conn));
       CREATE INDEX fleet_sessions_conn ON fleet_sessions (conn);
       CREATE TABLE fleet_terminations (
         id bigserial PRIMARY KEY,
         node text NOT NULL,
         conn text NOT NULL,
         reason text NOT NULL,
         requested_by text NOT NULL,
         created timestamptz NOT NULL DEFAULT now(),
         claimed timestamptz);
       CREATE INDEX fleet_terminations_open ON fleet_terminations (node) WHERE claimed IS NULL;)",
};

Result<int> CurrentVersion(Pg& db) {
  auto rows = db.Query("SELECT coalesce(max(version), 0) FROM hopgate_schema");
  if (!rows) return rows.error();
  if (rows->size() != 1 || !rows->rows[0][0]) return MakeError(Code::kInternal, "no schema version");
  return std::stoi(*rows->rows[0][0]);
}

Result<int> MigrateInTransaction(Pg& db) {
  if (Status st = db.Exec(kMigrationLock); !st) return st.error();
  if (Status st = db.Exec("CREATE TABLE IF NOT EXISTS hopgate_schema ("
                          "version integer PRIMARY KEY, applied timestamptz NOT NULL DEFAULT now())");
      !st) {
    return st.error();
  }
  auto version = CurrentVersion(db);
  if (!version) return version.error();
  if (*version > SchemaVersion()) {
    return MakeError(Code::kFailedPrecondition,
                     "the fleet database's schema is version " + std::to_string(*version) +
                         ", newer than this hopgate's (" + std::to_string(SchemaVersion()) +
                         "): upgrade this replica");
  }
  for (int v = *version + 1; v <= SchemaVersion(); ++v) {
    if (Status st = db.Exec(kMigrations[static_cast<size_t>(v - 1)]); !st) {
      return MakeError(st.code(), "schema migration " + std::to_string(v) + ": " + st.message());
    }
    if (Status st = db.Exec("INSERT INTO hopgate_schema(version) VALUES ($1)", {std::to_string(v)});
        !st) {
      return st.error();
    }
  }
  return SchemaVersion();
}

}  // namespace

int SchemaVersion() { return static_cast<int>(kMigrations.size()); }

Result<int> Migrate(Pg& db) {
  if (Status st = db.Exec("BEGIN"); !st) return st.error();
  auto done = MigrateInTransaction(db);
  if (!done) {
    (void)db.Exec("ROLLBACK");
    return done.error();
  }
  if (Status st = db.Exec("COMMIT"); !st) return st.error();
  return done;
}

}  // namespace hopgate::audit::fleet
