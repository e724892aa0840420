// The session index, read: session summaries with filters, full-text
// search of recorded text, and one session's events.
#include <algorithm>
#include <map>

#include "audit/index_internal.h"
#include "audit/json_line.h"
#include "common/net.h"

namespace hopgate::audit {

using namespace index_internal;

namespace {

std::string Lower(std::string s) {
  for (char& c : s) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return s;
}

void AddDistinct(std::vector<std::string>* v, const std::string& s) {
  if (!s.empty() && std::find(v->begin(), v->end(), s) == v->end()) v->push_back(s);
}

// The host part of "host:port" / "[v6]:port".
std::string HostOf(const std::string& destination) {
  if (auto hp = HostPort::Parse(destination)) return hp->host;
  return destination;
}

// Runs `sql` (with `conn` bound to its one parameter, if given) and calls
// `row` for each result row.
Status ForRows(Statements* sql, const std::string& query, const std::optional<std::string>& conn,
               const std::function<void(Stmt&)>& row) {
  auto s = conn ? sql->Get(query, {*conn}) : sql->Get(query);
  if (!s) return s.error();
  while (true) {
    auto r = (*s)->Step();
    if (!r) return r.error();
    if (!*r) break;
    row(**s);
  }
  (*s)->Reset();
  return Status::Ok();
}

// Every session (or the one `conn`), with its channels, logins, exit
// statuses and recordings gathered.
Result<std::vector<SessionSummary>> LoadSummaries(Statements* sql,
                                                  const std::optional<std::string>& conn) {
  std::string where = conn ? " WHERE id = ?" : "";
  std::string and_conn = conn ? " AND conn = ?" : "";
  std::vector<SessionSummary> out;
  std::map<std::string, size_t> at;
  Status st = ForRows(
      sql,
      "SELECT id, user, source_addr, source_port, auth_method, start, end, recorded, bytes_up, "
      "bytes_down, channels, denied, end_reason FROM sessions" + where + " ORDER BY start, id",
      conn, [&](Stmt& s) {
        SessionSummary m;
        m.id = s.Text(0);
        m.user = s.Text(1);
        m.source_addr = s.Text(2);
        m.source_port = s.Int(3);
        m.auth_method = s.Text(4);
        m.start_ms = s.OptInt(5);
        m.end_ms = s.OptInt(6);
        m.recorded = s.Int(7) != 0;
        m.bytes_up = static_cast<uint64_t>(s.Int(8));
        m.bytes_down = static_cast<uint64_t>(s.Int(9));
        m.channels = s.Int(10);
        m.denied = s.Int(11);
        m.end_reason = s.Text(12);
        at[m.id] = out.size();
        out.push_back(std::move(m));
      });
  if (!st) return st.error();
  auto find = [&](const std::string& id) -> SessionSummary* {
    auto it = at.find(id);
    return it == at.end() ? nullptr : &out[it->second];
  };
  st = ForRows(sql,
               "SELECT conn, destination, host FROM channels WHERE decision = 'allow' AND error IS "
               "NULL AND destination IS NOT NULL" + and_conn + " ORDER BY id",
               conn, [&](Stmt& s) {
                 if (SessionSummary* m = find(s.Text(0))) {
                   AddDistinct(&m->targets, s.Text(1));
                   AddDistinct(&m->hosts, s.Text(2));
                 }
               });
  if (!st) return st.error();
  st = ForRows(sql, "SELECT conn, login FROM logins WHERE 1" + and_conn + " ORDER BY rowid", conn,
               [&](Stmt& s) {
                 if (SessionSummary* m = find(s.Text(0))) AddDistinct(&m->logins, s.Text(1));
               });
  if (!st) return st.error();
  st = ForRows(sql,
               "SELECT conn, exit_status, exit_signal FROM parts WHERE (exit_status IS NOT NULL "
               "OR exit_signal IS NOT NULL)" + and_conn + " ORDER BY id",
               conn, [&](Stmt& s) {
                 if (SessionSummary* m = find(s.Text(0))) {
                   if (!s.IsNull(1)) m->exit_statuses.push_back(s.Int(1));
                   if (!s.IsNull(2)) m->exit_signals.push_back(s.Text(2));
                 }
               });
  if (!st) return st.error();
  st = ForRows(sql,
               "SELECT p.conn, p.name FROM recordings r JOIN parts p ON p.id = r.part "
               "WHERE 1" + std::string(conn ? " AND p.conn = ?" : "") + " ORDER BY p.id",
               conn, [&](Stmt& s) {
                 if (SessionSummary* m = find(s.Text(0))) AddDistinct(&m->recordings, s.Text(1));
               });
  if (!st) return st.error();
  return out;
}

bool MatchesFrom(const std::string& from, const SessionSummary& s) {
  if (auto cidr = Cidr::Parse(from)) {
    auto addr = IpAddress::Parse(s.source_addr);
    return addr && cidr->Contains(addr->Unmapped());
  }
  return from == s.Source();  // address:port
}

}  // namespace

Status SessionFilter::Check() const {
  if (from.empty() || Cidr::Parse(from).ok() || HostPort::Parse(from).ok()) return Status::Ok();
  return MakeError(Code::kInvalidArgument,
                   "--from \"" + from + "\": expected an address, address:port or CIDR block");
}

bool SessionFilter::Matches(const SessionSummary& s) const {
  if (!user.empty() && s.user != user) return false;
  if (recorded_only && !s.recorded) return false;
  if (!from.empty() && !MatchesFrom(from, s)) return false;
  if (since_ms && s.end_ms && *s.end_ms < *since_ms) return false;
  if (until_ms && s.start_ms && *s.start_ms > *until_ms) return false;
  if (!target.empty()) {
    std::string t = Lower(target);
    bool hit = false;
    for (const auto& d : s.targets) hit = hit || Lower(d) == t || Lower(HostOf(d)) == t;
    if (!hit) return false;
  }
  return true;
}

Result<std::vector<SessionSummary>> SessionIndex::Sessions(const SessionFilter& filter) {
  Statements sql(db_.get());
  auto all = LoadSummaries(&sql, std::nullopt);
  if (!all) return all.error();
  std::vector<SessionSummary> out;
  for (auto& s : *all) {
    if (filter.Matches(s)) out.push_back(std::move(s));
  }
  return out;
}

Result<std::optional<SessionSummary>> SessionIndex::Session(const std::string& id) {
  Statements sql(db_.get());
  auto one = LoadSummaries(&sql, id);
  if (!one) return one.error();
  if (one->empty()) return std::optional<SessionSummary>();
  return std::optional<SessionSummary>(std::move(one->front()));
}

Result<std::vector<nlohmann::json>> SessionIndex::Events(const std::string& id) {
  Statements sql(db_.get());
  std::vector<nlohmann::json> out;
  Status st = ForRows(&sql, "SELECT line FROM events WHERE conn = ? ORDER BY id", id, [&](Stmt& s) {
    if (auto j = ParseJsonLine(s.Text(0))) out.push_back(std::move(*j));
  });
  if (!st) return st.error();
  return out;
}

Result<std::vector<RecordingInfo>> SessionIndex::Recordings(const std::string& id) {
  Statements sql(db_.get());
  std::vector<RecordingInfo> out;
  Status st = ForRows(
      &sql,
      "SELECT p.name, r.path, r.sha256, r.size, r.closed, r.text_lines "
      "FROM recordings r JOIN parts p ON p.id = r.part WHERE p.conn = ? ORDER BY p.id",
      id, [&](Stmt& s) {
        RecordingInfo r;
        r.part = s.Text(0);
        r.path = s.Text(1);
        r.sha256 = s.Text(2);
        r.size = s.OptInt(3);
        r.closed = s.Int(4) != 0;
        r.indexed_lines = s.Int(5);
        out.push_back(std::move(r));
      });
  if (!st) return st.error();
  return out;
}

}  // namespace hopgate::audit
