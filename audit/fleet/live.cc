// hopctl's side of the live view: list the sessions of live replicas, ask
// one to end a session. The replicas' side is live_publisher.cc.
#include "audit/fleet/live.h"


namespace hopgate::audit::fleet {
namespace {

std::vector<std::string> SplitTargets(const std::string& s) {
  std::vector<std::string> out;
  size_t at = 0;
  while (at < s.size()) {
    size_t comma = s.find(',', at);
    if (comma == std::string::npos) comma = s.size();
    if (comma > at) out.push_back(s.substr(at, comma - at));
    at = comma + 1;
  }
  return out;
}

int64_t Int(const std::optional<std::string>& v) {
  if (!v || v->empty()) return 0;
  try {
    return std::stoll(*v);
  } catch (const std::exception&) {
    return 0;
  }
}

// A database no replica has set up yet (hopctl may run with a read-only
// user, so it never migrates): no live sessions.
bool NoTablesYet(const Error& e) {
  return e.message.find("does not exist") != std::string::npos &&
         e.message.find("fleet_") != std::string::npos;
}

}  // namespace

Result<std::vector<LiveSession>> ListLiveSessions(Pg& db) {
  auto rows = db.Query(
      "SELECT s.node, s.conn, s.username, s.source, s.targets, "
      "(extract(epoch FROM s.started) * 1000)::bigint, "
      "greatest(0, (extract(epoch FROM now() - s.started) * 1000)::bigint) "
      "FROM fleet_sessions s JOIN fleet_nodes n ON n.node = s.node "
      "WHERE n.expires > now() ORDER BY s.started, s.node, s.conn");
  if (!rows) {
    if (NoTablesYet(rows.error())) return std::vector<LiveSession>();
    return rows.error();
  }
  std::vector<LiveSession> out;
  for (const auto& r : rows->rows) {
    LiveSession s;
    s.node = r[0].value_or("");
    s.conn = r[1].value_or("");
    s.user = r[2].value_or("");
    s.source = r[3].value_or("");
    s.targets = SplitTargets(r[4].value_or(""));
    s.started_ms = Int(r[5]);
    s.duration_ms = Int(r[6]);
    out.push_back(std::move(s));
  }
  return out;
}

Result<std::optional<TerminationRequest>> RequestTermination(Pg& db, const std::string& conn,
                                                             const std::string& reason,
                                                             const std::string& requested_by) {
  auto rows = db.Query(
      "WITH s AS (SELECT s.node FROM fleet_sessions s JOIN fleet_nodes n ON n.node = s.node "
      "           WHERE s.conn = $1 AND n.expires > now() LIMIT 1), "
      "t AS (INSERT INTO fleet_terminations (node, conn, reason, requested_by) "
      "      SELECT node, $1, $2, $3 FROM s RETURNING id, node) "
      "SELECT id, node, pg_notify('hopgate_terminate', node) FROM t",
      {conn, reason, requested_by});
  if (!rows) {
    if (NoTablesYet(rows.error())) return std::optional<TerminationRequest>();
    return rows.error();
  }
  if (rows->size() == 0) return std::optional<TerminationRequest>();
  return std::optional<TerminationRequest>(
      TerminationRequest{Int(rows->rows[0][0]), rows->rows[0][1].value_or("")});
}

Result<bool> TerminationDone(Pg& db, int64_t id, const std::string& conn) {
  auto rows = db.Query(
      "SELECT (SELECT claimed IS NOT NULL FROM fleet_terminations WHERE id = $1) AND "
      "NOT EXISTS (SELECT 1 FROM fleet_sessions s JOIN fleet_nodes n ON n.node = s.node "
      "            WHERE s.conn = $2 AND n.expires > now())",
      {std::to_string(id), conn});
  if (!rows) return rows.error();
  return rows->size() == 1 && rows->rows[0][0].value_or("f") == "t";
}

}  // namespace hopgate::audit::fleet
