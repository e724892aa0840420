// Private to the session index (index*.cc): the statement cache, typed
// reads of JSON fields, and the updater that brings the index up to date.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "audit/index.h"
#include "audit/sqlite_db.h"
#include "audit/terminal_text.h"

namespace hopgate::audit::index_internal {

inline constexpr int kSchemaVersion = 1;
// Text kinds in the `text` table.
enum TextKind : int64_t { kOutput = 0, kInput = 1, kCommand = 2 };
const char* TextKindName(int64_t kind);

// A value bound to a statement parameter.
struct Value {
  enum class Kind { kNull, kInt, kReal, kText } kind = Kind::kNull;
  int64_t i = 0;
  double d = 0;
  std::string_view s;

  Value(std::nullptr_t) {}  // NOLINT: implicit on purpose
  Value(int v) : kind(Kind::kInt), i(v) {}  // NOLINT
  Value(int64_t v) : kind(Kind::kInt), i(v) {}  // NOLINT
  Value(uint64_t v) : kind(Kind::kInt), i(static_cast<int64_t>(v)) {}  // NOLINT
  Value(double v) : kind(Kind::kReal), d(v) {}  // NOLINT
  Value(std::string_view v) : kind(Kind::kText), s(v) {}  // NOLINT
  Value(const std::string& v) : kind(Kind::kText), s(v) {}  // NOLINT
  Value(const char* v) : kind(Kind::kText), s(v) {}  // NOLINT
  Value(std::optional<int64_t> v) : kind(v ? Kind::kInt : Kind::kNull), i(v.value_or(0)) {}  // NOLINT
};
// NULL for an empty string.
inline Value TextOrNull(const std::string& s) { return s.empty() ? Value(nullptr) : Value(s); }

// Prepared statements, kept for the life of the database handle.
class Statements {
 public:
  explicit Statements(Db* db) : db_(db) {}
  // The statement for `sql` with `args` bound, ready to step.
  Result<Stmt*> Get(const std::string& sql, std::initializer_list<Value> args = {});
  // Runs a statement without results.
  Status Run(const std::string& sql, std::initializer_list<Value> args = {});
  // The first column of the first row, if any.
  Result<std::optional<int64_t>> QueryInt(const std::string& sql, std::initializer_list<Value> args = {});
  Db* db() { return db_; }

 private:
  Db* db_;
  std::map<std::string, Stmt> cache_;
};

// Typed reads of an audit event's fields; a missing or mistyped field reads
// as empty (hostile or damaged lines must not throw).
std::string Str(const nlohmann::json& j, const char* key);
std::optional<int64_t> Int(const nlohmann::json& j, const char* key);
bool Bool(const nlohmann::json& j, const char* key);

// The connection id of a session or part id ("c1-0-2" -> "c1").
std::string ConnOf(const std::string& id);

// The schema, created in an empty database.
Status CreateSchema(Db* db);

// Brings one index up to date (index_update.cc: the log; index_cast.cc: the
// recordings).
class Updater {
 public:
  Updater(Db* db, const IndexOptions& options) : sql_(db), options_(options) {}
  Result<UpdateStats> Run();

 private:
  struct LogFile {
    std::string path, key;
    std::optional<int64_t> first_seq;
    uint64_t size = 0, offset = 0, lines = 0;
    bool known = false;
  };
  struct Pending {  // a recording with bytes not yet indexed
    int64_t id = 0, part = 0;
    std::string name, path, file;
    bool closed = false;
    uint64_t offset = 0, lines = 0, size = 0;
    bool warned = false;
  };

  // The log.
  Status IndexLog();
  Status PlanLog(std::vector<LogFile>* files);
  Status IndexLogFile(LogFile* f);
  Status ApplyLine(std::string_view line, const std::string& where);
  Status Apply(const nlohmann::json& j, const std::string& type, const std::string& conn,
               std::optional<int64_t> seq, std::optional<int64_t> ts);
  Status ApplyConnection(const nlohmann::json& j, const std::string& type, const std::string& conn,
                         std::optional<int64_t> seq, std::optional<int64_t> ts);
  Status ApplyChannel(const nlohmann::json& j, const std::string& type, const std::string& conn,
                      std::optional<int64_t> seq, std::optional<int64_t> ts);
  Status ApplyRecorded(const nlohmann::json& j, const std::string& type, const std::string& conn,
                       std::optional<int64_t> seq, std::optional<int64_t> ts);
  Status ApplyRequest(const nlohmann::json& j, const std::string& conn, std::optional<int64_t> seq,
                      std::optional<int64_t> ts);
  Status ApplySessionClose(const nlohmann::json& j, const std::string& conn, std::optional<int64_t> ts);
  Status Decision(const std::string& conn, std::optional<int64_t> seq, std::optional<int64_t> ts,
                  const std::string& what, const std::string& subject, const nlohmann::json& j);
  Result<int64_t> EnsurePart(const std::string& conn, const std::string& session, int64_t channel,
                             std::optional<int64_t> ts);
  Status SetRecording(int64_t part, const std::string& path, const std::string& sha256,
                      std::optional<int64_t> size, bool closed);
  Status AddText(int64_t part, TextKind kind, double t, std::string_view text);

  // The recordings.
  Status IndexRecordings();
  Status PlanRecordings(std::vector<Pending>* pending, uint64_t* bytes);
  std::string Locate(const std::string& path) const;
  Status IndexRecording(Pending* r);
  void Progress(const char* label);
  void Warn(const std::string& message) const;

  Statements sql_;
  const IndexOptions& options_;
  UpdateStats stats_;
  std::optional<int64_t> last_seq_;  // the last seq applied, to notice gaps
  // Progress of the phase running.
  uint64_t phase_done_ = 0, phase_total_ = 0;
};

}  // namespace hopgate::audit::index_internal
