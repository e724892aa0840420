// A thin RAII layer over SQLite (Debian's libsqlite3) for the session index:
// a database handle, prepared statements with bind-by-position, and errors
// as Status values naming the database file. Nothing here knows the
// index's schema. A Db and its statements belong to one thread at a time.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.h"

struct sqlite3;
struct sqlite3_stmt;

namespace hopgate::audit {

class Stmt;

class Db {
 public:
  // Opens (creating if missing) the database at `path`, mode 0600.
  static Result<std::unique_ptr<Db>> Open(const std::string& path);
  ~Db();
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;

  // Runs one or more statements without results.
  Status Exec(const std::string& sql);
  Result<Stmt> Prepare(const std::string& sql);
  int64_t LastInsertId() const;
  int Changes() const;
  // "PATH: message" for the last error on this handle.
  Status Fail(const std::string& what) const;
  const std::string& path() const { return path_; }
  sqlite3* raw() const { return db_; }

 private:
  Db(std::string path, sqlite3* db) : path_(std::move(path)), db_(db) {}
  std::string path_;
  sqlite3* db_;
};

// A prepared statement. Bind positions count from 1, as in SQLite.
class Stmt {
 public:
  Stmt(Stmt&& other) noexcept;
  Stmt& operator=(Stmt&& other) noexcept;
  ~Stmt();

  Stmt& Bind(int i, int64_t v);
  Stmt& Bind(int i, double v);
  Stmt& Bind(int i, std::string_view v);  // copied (SQLITE_TRANSIENT)
  Stmt& Bind(int i, const char* v) { return Bind(i, std::string_view(v)); }
  Stmt& Bind(int i, const std::string& v) { return Bind(i, std::string_view(v)); }
  Stmt& BindNull(int i);
  // Binds NULL for an empty string or an absent value.
  Stmt& BindOpt(int i, std::string_view v) { return v.empty() ? BindNull(i) : Bind(i, v); }
  Stmt& BindOpt(int i, std::optional<int64_t> v) { return v ? Bind(i, *v) : BindNull(i); }

  // One step: true while a row is available, false when done.
  Result<bool> Step();
  // Steps to completion, then resets for the next use.
  Status Run();
  void Reset();

  bool IsNull(int col) const;
  int64_t Int(int col) const;
  double Real(int col) const;
  std::string Text(int col) const;  // "" for NULL
  std::optional<int64_t> OptInt(int col) const;

 private:
  friend class Db;
  Stmt(const Db* db, sqlite3_stmt* s) : db_(db), s_(s) {}
  const Db* db_;
  sqlite3_stmt* s_;
};

}  // namespace hopgate::audit
