// A thin RAII layer over libpq (Debian libpq-dev): one connection, text
// parameters in, text values out, every failure a Result error with
// PostgreSQL's own message. Not thread-safe: one Pg per thread.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"

typedef struct pg_conn PGconn;
typedef struct pg_result PGresult;

namespace hopgate::audit::fleet {

// The rows of a query, values as text (nullopt for SQL NULL).
struct Rows {
  std::vector<std::vector<std::optional<std::string>>> rows;
  size_t size() const { return rows.size(); }
};

class Pg {
 public:
  // Connects to `dsn` (a postgresql:// URI), giving up after
  // `connect_timeout_s`; statements are cut off after `statement_timeout_ms`
  // so a hung server cannot hold a caller forever.
  static Result<std::unique_ptr<Pg>> Connect(const std::string& dsn, int connect_timeout_s = 5,
                                             int statement_timeout_ms = 30'000);
  ~Pg();
  Pg(const Pg&) = delete;
  Pg& operator=(const Pg&) = delete;

  // Runs `sql` with $1.. bound to `params` (nullopt: NULL).
  Result<Rows> Query(const std::string& sql,
                     const std::vector<std::optional<std::string>>& params = {});
  Status Exec(const std::string& sql, const std::vector<std::optional<std::string>>& params = {});
  // False once the connection broke (the server went away).
  bool Alive() const;
  // LISTEN support: waits up to `timeout_ms` for the server to send
  // something, reads it, and returns how many notifications arrived
  // (an error when the connection broke).
  Result<int> WaitForNotifications(int timeout_ms);

 private:
  explicit Pg(PGconn* conn) : conn_(conn) {}
  PGconn* conn_;
};

// "postgresql://user:secret@host/db" with the password hidden, for messages.
std::string RedactDsn(const std::string& dsn);

}  // namespace hopgate::audit::fleet
