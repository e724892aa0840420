#include "audit/sqlite_db.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace hopgate::audit {

Result<std::unique_ptr<Db>> Db::Open(const std::string& path) {
  // Create the file ourselves so its mode is 0600 whatever the umask: the
  // index holds what recorded terminals showed.
  int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return MakeError(Code::kPermissionDenied, path + ": " + strerror(errno));
  close(fd);
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    sqlite3_close(db);
    return MakeError(Code::kUnavailable, path + ": " + msg);
  }
  sqlite3_extended_result_codes(db, 1);
  sqlite3_busy_timeout(db, 60'000);  // another hopctl may be indexing
  return std::unique_ptr<Db>(new Db(path, db));
}

Db::~Db() { sqlite3_close_v2(db_); }

Status Db::Fail(const std::string& what) const {
  std::string msg = path_ + ": " + what + ": " + sqlite3_errmsg(db_);
  int rc = sqlite3_errcode(db_) & 0xff;
  Code code = rc == SQLITE_CORRUPT || rc == SQLITE_NOTADB ? Code::kDataLoss
              : rc == SQLITE_BUSY || rc == SQLITE_LOCKED  ? Code::kUnavailable
              : rc == SQLITE_FULL                         ? Code::kResourceExhausted
              : rc == SQLITE_READONLY || rc == SQLITE_PERM ? Code::kPermissionDenied
                                                           : Code::kInternal;
  return MakeError(code, msg);
}

Status Db::Exec(const std::string& sql) {
  if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, nullptr) != SQLITE_OK) {
    return Fail(sql.substr(0, sql.find_first_of("(\n")));
  }
  return Status::Ok();
}

Result<Stmt> Db::Prepare(const std::string& sql) {
  sqlite3_stmt* s = nullptr;
  if (sqlite3_prepare_v2(db_, sql.c_str(), static_cast<int>(sql.size()), &s, nullptr) != SQLITE_OK) {
    return Fail("prepare").error();
  }
  return Stmt(this, s);
}

int64_t Db::LastInsertId() const { return sqlite3_last_insert_rowid(db_); }
int Db::Changes() const { return sqlite3_changes(db_); }

Stmt::Stmt(Stmt&& o) noexcept : db_(o.db_), s_(o.s_) { o.s_ = nullptr; }

Stmt& Stmt::operator=(Stmt&& o) noexcept {
  if (this != &o) {
    sqlite3_finalize(s_);
    db_ = o.db_;
    s_ = o.s_;
    o.s_ = nullptr;
  }
  return *this;
}

Stmt::~Stmt() { sqlite3_finalize(s_); }

Stmt& Stmt::Bind(int i, int64_t v) {
  sqlite3_bind_int64(s_, i, v);
  return *this;
}

Stmt& Stmt::Bind(int i, double v) {
  sqlite3_bind_double(s_, i, v);
  return *this;
}

Stmt& Stmt::Bind(int i, std::string_view v) {
  sqlite3_bind_text64(s_, i, v.data(), v.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
  return *this;
}

Stmt& Stmt::BindNull(int i) {
  sqlite3_bind_null(s_, i);
  return *this;
}

Result<bool> Stmt::Step() {
  int rc = sqlite3_step(s_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  Status st = db_->Fail(std::string("statement ") + sqlite3_sql(s_));
  Reset();
  return st.error();
}

Status Stmt::Run() {
  while (true) {
    auto r = Step();
    if (!r) return r.error();
    if (!*r) break;
  }
  Reset();
  return Status::Ok();
}

void Stmt::Reset() {
  sqlite3_reset(s_);
  sqlite3_clear_bindings(s_);
}

bool Stmt::IsNull(int col) const { return sqlite3_column_type(s_, col) == SQLITE_NULL; }
int64_t Stmt::Int(int col) const { return sqlite3_column_int64(s_, col); }
double Stmt::Real(int col) const { return sqlite3_column_double(s_, col); }

std::string Stmt::Text(int col) const {
  const unsigned char* p = sqlite3_column_text(s_, col);
  if (p == nullptr) return "";
  return std::string(reinterpret_cast<const char*>(p), sqlite3_column_bytes(s_, col));
}

std::optional<int64_t> Stmt::OptInt(int col) const {
  if (IsNull(col)) return std::nullopt;
  return Int(col);
}

}  // namespace hopgate::audit
