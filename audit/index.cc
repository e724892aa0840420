#include "audit/index.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <set>

#include "audit/index_internal.h"
#include "common/net.h"
#include "common/time_util.h"

namespace hopgate::audit {
namespace index_internal {

const char* TextKindName(int64_t kind) {
  switch (kind) {
    case kOutput: return "output";
    case kInput: return "input";
    case kCommand: return "command";
  }
  return "text";
}

Result<Stmt*> Statements::Get(const std::string& sql, std::initializer_list<Value> args) {
  auto it = cache_.find(sql);
  if (it == cache_.end()) {
    auto s = db_->Prepare(sql);
    if (!s) return s.error();
    it = cache_.emplace(sql, std::move(*s)).first;
  }
  Stmt& s = it->second;
  s.Reset();
  int i = 1;
  for (const Value& v : args) {
    switch (v.kind) {
      case Value::Kind::kNull: s.BindNull(i); break;
      case Value::Kind::kInt: s.Bind(i, v.i); break;
      case Value::Kind::kReal: s.Bind(i, v.d); break;
      case Value::Kind::kText: s.Bind(i, v.s); break;
    }
    ++i;
  }
  return &s;
}

Status Statements::Run(const std::string& sql, std::initializer_list<Value> args) {
  auto s = Get(sql, args);
  if (!s) return s.error();
  return (*s)->Run();
}

Result<std::optional<int64_t>> Statements::QueryInt(const std::string& sql,
                                                    std::initializer_list<Value> args) {
  auto s = Get(sql, args);
  if (!s) return s.error();
  auto row = (*s)->Step();
  if (!row) return row.error();
  std::optional<int64_t> v;
  if (*row) v = (*s)->OptInt(0);
  (*s)->Reset();
  return v;
}

std::string Str(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_string()) return "";
  return it->get<std::string>();
}

std::optional<int64_t> Int(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end()) return std::nullopt;
  if (it->is_number_unsigned()) {
    uint64_t v = it->get<uint64_t>();
    if (v > static_cast<uint64_t>(INT64_MAX)) return std::nullopt;
    return static_cast<int64_t>(v);
  }
  if (it->is_number_integer()) return it->get<int64_t>();
  return std::nullopt;
}

bool Bool(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_boolean() && it->get<bool>();
}

std::string ConnOf(const std::string& id) { return id.substr(0, id.find('-')); }

Status CreateSchema(Db* db) {
  // Times are Unix milliseconds; byte counts are client->target ("up") and
  // target->client ("down").
  return db->Exec(R"SQL(
    CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE log_files(key TEXT PRIMARY KEY, path TEXT NOT NULL, first_seq INTEGER,
      last_seq INTEGER, offset INTEGER NOT NULL, lines INTEGER NOT NULL);
    CREATE TABLE events(id INTEGER PRIMARY KEY, seq INTEGER UNIQUE, conn TEXT NOT NULL,
      ts INTEGER, type TEXT NOT NULL, line TEXT NOT NULL);
    CREATE INDEX events_by_conn ON events(conn, id);
    CREATE TABLE sessions(id TEXT PRIMARY KEY, start INTEGER, end INTEGER, user TEXT,
      source_addr TEXT, source_port INTEGER, listen TEXT, auth_method TEXT, key_type TEXT,
      fingerprint TEXT, cert_key_id TEXT, cert_serial INTEGER, ca_fingerprint TEXT,
      recorded INTEGER NOT NULL DEFAULT 0, bytes_up INTEGER NOT NULL DEFAULT 0,
      bytes_down INTEGER NOT NULL DEFAULT 0, channels INTEGER NOT NULL DEFAULT 0,
      denied INTEGER NOT NULL DEFAULT 0, limits INTEGER NOT NULL DEFAULT 0, end_reason TEXT);
    CREATE INDEX sessions_by_start ON sessions(start);
    CREATE TABLE channels(id INTEGER PRIMARY KEY, conn TEXT NOT NULL, channel INTEGER,
      kind TEXT, destination TEXT, host TEXT, dial TEXT, decision TEXT, rule TEXT,
      policy_version TEXT, recorded INTEGER, reason TEXT, error TEXT, opened INTEGER,
      closed INTEGER, bytes_up INTEGER, bytes_down INTEGER, duration_ms INTEGER,
      close_reason TEXT);
    CREATE INDEX channels_by_conn ON channels(conn, channel);
    CREATE TABLE decisions(id INTEGER PRIMARY KEY, conn TEXT NOT NULL, seq INTEGER, ts INTEGER,
      what TEXT NOT NULL, subject TEXT, decision TEXT, rule TEXT, policy_version TEXT,
      reason TEXT);
    CREATE INDEX decisions_by_conn ON decisions(conn);
    CREATE TABLE logins(conn TEXT NOT NULL, session TEXT NOT NULL, login TEXT NOT NULL,
      target TEXT, PRIMARY KEY(session, login));
    CREATE INDEX logins_by_conn ON logins(conn);
    CREATE TABLE parts(id INTEGER PRIMARY KEY, conn TEXT NOT NULL, session TEXT NOT NULL,
      channel INTEGER NOT NULL, name TEXT NOT NULL, kind TEXT, request TEXT, command TEXT,
      forced_command TEXT, opened INTEGER, closed INTEGER, exit_status INTEGER,
      exit_signal TEXT, bytes_up INTEGER, bytes_down INTEGER, reason TEXT,
      recording_error TEXT);
    CREATE INDEX parts_by_session ON parts(session, channel);
    CREATE INDEX parts_by_conn ON parts(conn);
    CREATE TABLE sftp(id INTEGER PRIMARY KEY, conn TEXT NOT NULL, session TEXT,
      channel INTEGER, ts INTEGER, op TEXT, path TEXT, new_path TEXT, mode TEXT, status TEXT,
      bytes_read INTEGER, bytes_written INTEGER);
    CREATE INDEX sftp_by_conn ON sftp(conn);
    CREATE TABLE recordings(id INTEGER PRIMARY KEY, part INTEGER NOT NULL UNIQUE,
      path TEXT NOT NULL, sha256 TEXT, size INTEGER, closed INTEGER NOT NULL DEFAULT 0,
      offset INTEGER NOT NULL DEFAULT 0, lines INTEGER NOT NULL DEFAULT 0,
      done INTEGER NOT NULL DEFAULT 0, warned INTEGER NOT NULL DEFAULT 0, start INTEGER,
      text_lines INTEGER NOT NULL DEFAULT 0);
    CREATE INDEX recordings_pending ON recordings(done);
    -- No index on text(part): it would cost a tenth of the indexing time,
    -- and only the rare re-read of a recording needs it.
    CREATE TABLE text(id INTEGER PRIMARY KEY, part INTEGER NOT NULL, kind INTEGER NOT NULL,
      t REAL NOT NULL, line TEXT NOT NULL);
    CREATE VIRTUAL TABLE text_fts USING fts5(line, content='text', content_rowid='id');
    INSERT INTO text_fts(text_fts, rank) VALUES('hashsize', 33554432);
    PRAGMA user_version = 1;
  )SQL");
}

}  // namespace index_internal

using namespace index_internal;

std::string DefaultIndexPath(const std::string& log_path) { return log_path + ".index.sqlite"; }

Result<std::string> LogInDirectory(const std::string& dir) {
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return MakeError(Code::kNotFound, dir + ": " + strerror(errno));
  const std::string ext = ".jsonl";
  std::set<std::string> stems;
  while (dirent* e = readdir(d)) {
    std::string name = e->d_name;
    if (name.size() <= ext.size() || name.compare(name.size() - ext.size(), ext.size(), ext) != 0) {
      continue;
    }
    std::string stem = name.substr(0, name.size() - ext.size());
    size_t dot = stem.rfind('.');
    if (dot != std::string::npos && dot + 1 < stem.size() &&
        std::all_of(stem.begin() + dot + 1, stem.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      stem.resize(dot);  // rotated: <stem>.<seq>.jsonl
    }
    if (!stem.empty()) stems.insert(stem);
  }
  closedir(d);
  if (stems.empty()) return MakeError(Code::kNotFound, dir + ": no audit log (*.jsonl) in the directory");
  if (stems.size() > 1) {
    std::string names;
    for (const auto& s : stems) names += (names.empty() ? "" : ", ") + s + ".jsonl";
    return MakeError(Code::kInvalidArgument,
                     dir + ": several audit logs (" + names + "); give the one to read");
  }
  // A live log not named .jsonl keeps its whole name in its rotated files
  // (audit.log -> audit.log.42.jsonl).
  std::string stem = dir + "/" + *stems.begin();
  struct stat sb;
  if (stat((stem + ext).c_str(), &sb) != 0 && stat(stem.c_str(), &sb) == 0 && S_ISREG(sb.st_mode)) {
    return stem;
  }
  return stem + ext;
}

SessionIndex::SessionIndex(IndexOptions options, std::unique_ptr<Db> db)
    : options_(std::move(options)), db_(std::move(db)) {}

SessionIndex::~SessionIndex() = default;

namespace {

void FillDefaults(IndexOptions* o) {
  if (o->index_path.empty()) o->index_path = DefaultIndexPath(o->log_path);
  if (o->recordings_dir.empty()) {
    size_t slash = o->log_path.rfind('/');
    o->recordings_dir =
        (slash == std::string::npos ? std::string(".") : o->log_path.substr(0, slash)) +
        "/recordings";
  }
}

Status RemoveIndexFiles(const std::string& path) {
  for (const char* suffix : {"", "-journal", "-wal", "-shm"}) {
    std::string f = path + suffix;
    if (unlink(f.c_str()) != 0 && errno != ENOENT) {
      return MakeError(Code::kPermissionDenied, f + ": " + strerror(errno));
    }
  }
  return Status::Ok();
}

// An empty database gets the schema; one of another version is rebuilt.
Result<std::unique_ptr<Db>> OpenWithSchema(const std::string& path, bool retried = false) {
  auto db = Db::Open(path);
  if (!db) return db.error();
  Statements sql(db->get());
  auto version = sql.QueryInt("PRAGMA user_version");
  if (!version) {
    return MakeError(version.code(), version.message() +
                                         " (the index is derived data: delete it, or run with "
                                         "--reindex)");
  }
  auto tables = sql.QueryInt("SELECT count(*) FROM sqlite_master");
  if (!tables) return tables.error();
  if (version->value_or(0) != kSchemaVersion && tables->value_or(0) > 0) {
    if (retried) return MakeError(Code::kInternal, path + ": cannot replace an old index");
    db->reset();
    if (Status st = RemoveIndexFiles(path); !st) return st.error();
    return OpenWithSchema(path, true);
  }
  if (Status st = (*db)->Exec("PRAGMA synchronous = NORMAL; PRAGMA cache_size = -65536;"); !st) {
    return st.error();
  }
  if (tables->value_or(0) == 0) {
    if (Status st = (*db)->Exec("BEGIN IMMEDIATE"); !st) return st.error();
    // Another process may have created it meanwhile.
    auto again = sql.QueryInt("SELECT count(*) FROM sqlite_master");
    if (!again) return again.error();
    if (again->value_or(0) == 0) {
      if (Status st = CreateSchema(db->get()); !st) return st.error();
    }
    if (Status st = (*db)->Exec("COMMIT"); !st) return st.error();
  }
  return std::move(*db);
}

}  // namespace

Result<std::unique_ptr<SessionIndex>> SessionIndex::Open(IndexOptions options) {
  FillDefaults(&options);
  auto db = OpenWithSchema(options.index_path);
  if (!db) return db.error();
  return std::unique_ptr<SessionIndex>(new SessionIndex(std::move(options), std::move(*db)));
}

Result<std::unique_ptr<SessionIndex>> SessionIndex::Recreate(IndexOptions options) {
  FillDefaults(&options);
  if (Status st = RemoveIndexFiles(options.index_path); !st) return st.error();
  return Open(std::move(options));
}

Result<UpdateStats> SessionIndex::Update() {
  auto stats = Updater(db_.get(), options_).Run();
  if (stats && stats->rebuilt) {
    // The index was made from another log: start again from nothing.
    db_.reset();
    if (Status st = RemoveIndexFiles(options_.index_path); !st) return st.error();
    auto db = OpenWithSchema(options_.index_path);
    if (!db) return db.error();
    db_ = std::move(*db);
    auto again = Updater(db_.get(), options_).Run();
    if (again) again->rebuilt = true;
    return again;
  }
  return stats;
}

std::string SessionSummary::Source() const {
  if (source_addr.empty()) return "";
  if (source_port <= 0 || source_port > 65535) return source_addr;
  return JoinHostPort(source_addr, static_cast<uint16_t>(source_port));
}

nlohmann::json SessionSummary::ToJson() const {
  using nlohmann::json;
  json j;
  j["id"] = id;
  j["user"] = user.empty() ? json(nullptr) : json(user);
  j["source"] = Source().empty() ? json(nullptr) : json(Source());
  j["auth"] = auth_method.empty() ? json(nullptr) : json(auth_method);
  j["targets"] = targets;
  j["hosts"] = hosts;
  j["logins"] = logins;
  j["recorded"] = recorded;
  j["recordings"] = recordings;
  j["start"] = start_ms ? json(FormatRfc3339Millis(*start_ms)) : json(nullptr);
  j["end"] = end_ms ? json(FormatRfc3339Millis(*end_ms)) : json(nullptr);
  j["duration_ms"] = start_ms && end_ms ? json(*end_ms - *start_ms) : json(nullptr);
  j["bytes_up"] = bytes_up;
  j["bytes_down"] = bytes_down;
  j["exit_statuses"] = exit_statuses;
  j["exit_signals"] = exit_signals;
  j["channels"] = channels;
  j["denied"] = denied;
  j["end_reason"] = end_reason.empty() ? json(nullptr) : json(end_reason);
  return j;
}

nlohmann::json TextMatch::ToJson() const {
  nlohmann::json j;
  j["id"] = session;
  j["part"] = part;
  j["kind"] = kind;
  j["offset"] = offset;
  j["time"] = time_ms ? nlohmann::json(FormatRfc3339Millis(*time_ms)) : nlohmann::json(nullptr);
  j["user"] = user;
  j["text"] = text;
  return j;
}

}  // namespace hopgate::audit
