#include "audit/fleet/pg.h"

#include <poll.h>
#include <string.h>

#include <cerrno>
#include <postgresql/libpq-fe.h>

namespace hopgate::audit::fleet {
namespace {

// libpq messages end with a newline (and sometimes carry several lines).
std::string Clean(const char* message) {
  std::string s = message ? message : "";
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  for (char& c : s) {
    if (c == '\n') c = ' ';
  }
  return s.empty() ? "unknown error" : s;
}

struct ResultFree {
  void operator()(PGresult* r) const { PQclear(r); }
};
using ResultPtr = std::unique_ptr<PGresult, ResultFree>;

}  // namespace

Result<std::unique_ptr<Pg>> Pg::Connect(const std::string& dsn, int connect_timeout_s,
                                        int statement_timeout_ms) {
  std::string timeout = std::to_string(connect_timeout_s);
  std::string options = "-c statement_timeout=" + std::to_string(statement_timeout_ms);
  const char* keys[] = {"dbname", "connect_timeout", "options", "application_name", nullptr};
  const char* values[] = {dsn.c_str(), timeout.c_str(), options.c_str(), "hopgate", nullptr};
  PGconn* conn = PQconnectdbParams(keys, values, /*expand_dbname=*/1);
  if (conn == nullptr) return MakeError(Code::kResourceExhausted, "out of memory");
  if (PQstatus(conn) != CONNECTION_OK) {
    std::string why = Clean(PQerrorMessage(conn));
    PQfinish(conn);
    return MakeError(Code::kUnavailable, RedactDsn(dsn) + ": " + why);
  }
  // Server notices ("relation already exists, skipping") are not errors:
  // libpq would print them on stderr.
  PQsetNoticeProcessor(conn, [](void*, const char*) {}, nullptr);
  return std::unique_ptr<Pg>(new Pg(conn));
}

Pg::~Pg() { PQfinish(conn_); }

bool Pg::Alive() const { return PQstatus(conn_) == CONNECTION_OK; }

Result<Rows> Pg::Query(const std::string& sql, const std::vector<std::optional<std::string>>& params) {
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const auto& p : params) values.push_back(p ? p->c_str() : nullptr);
  // Without parameters, the simple protocol: several statements may run at once.
  ResultPtr r(values.empty() ? PQexec(conn_, sql.c_str())
                             : PQexecParams(conn_, sql.c_str(), static_cast<int>(values.size()),
                                            nullptr, values.data(), nullptr, nullptr,
                                            /*resultFormat=*/0));
  if (!r) return MakeError(Code::kUnavailable, Clean(PQerrorMessage(conn_)));
  ExecStatusType st = PQresultStatus(r.get());
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
    Code code = Alive() ? Code::kInternal : Code::kUnavailable;
    return MakeError(code, Clean(PQresultErrorMessage(r.get())));
  }
  Rows out;
  int n = PQntuples(r.get()), cols = PQnfields(r.get());
  out.rows.resize(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) {
    auto& row = out.rows[static_cast<size_t>(i)];
    for (int c = 0; c < cols; ++c) {
      if (PQgetisnull(r.get(), i, c)) {
        row.emplace_back(std::nullopt);
      } else {
        row.emplace_back(std::string(PQgetvalue(r.get(), i, c),
                                     static_cast<size_t>(PQgetlength(r.get(), i, c))));
      }
    }
  }
  return out;
}

Status Pg::Exec(const std::string& sql, const std::vector<std::optional<std::string>>& params) {
  auto r = Query(sql, params);
  if (!r) return r.error();
  return Status::Ok();
}

Result<int> Pg::WaitForNotifications(int timeout_ms) {
  pollfd p{PQsocket(conn_), POLLIN, 0};
  if (p.fd < 0) return MakeError(Code::kUnavailable, "connection lost");
  int ready = poll(&p, 1, timeout_ms);
  if (ready < 0 && errno != EINTR) return MakeError(Code::kInternal, strerror(errno));
  if (ready > 0 && PQconsumeInput(conn_) == 0) {
    return MakeError(Code::kUnavailable, Clean(PQerrorMessage(conn_)));
  }
  int n = 0;
  while (PGnotify* note = PQnotifies(conn_)) {
    PQfreemem(note);
    ++n;
  }
  return n;
}

std::string RedactDsn(const std::string& dsn) {
  size_t scheme = dsn.find("://");
  if (scheme == std::string::npos) return dsn;
  size_t at = dsn.find('@', scheme + 3);
  size_t slash = dsn.find('/', scheme + 3);
  if (at == std::string::npos || (slash != std::string::npos && slash < at)) return dsn;
  size_t colon = dsn.find(':', scheme + 3);
  if (colon == std::string::npos || colon > at) return dsn;
  return dsn.substr(0, colon + 1) + "REDACTED" + dsn.substr(at);
}

}  // namespace hopgate::audit::fleet
