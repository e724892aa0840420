#include "audit/fleet/fleet_index.h"

#include <stdlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "audit/fleet/fleet_cache.h"
#include "audit/fleet/pg.h"

namespace hopgate::audit::fleet {
namespace {

// The origins to read: every replica's, or only those that served
// `only_connection`.
Result<Rows> Origins(Pg& db, const std::string& dsn, const std::string& only_connection) {
  auto schema = db.Query("SELECT to_regclass('audit_events') IS NOT NULL");
  if (!schema) return schema.error();
  if (schema->size() != 1 || schema->rows[0][0] != std::optional<std::string>("t")) {
    return MakeError(Code::kNotFound, RedactDsn(dsn) + ": no hopgate fleet tables (no replica has "
                                                       "copied its audit log there yet)");
  }
  return only_connection.empty()
             ? db.Query("SELECT DISTINCT origin FROM audit_events ORDER BY origin")
             : db.Query("SELECT DISTINCT origin FROM audit_events WHERE conn = $1 ORDER BY origin",
                        {only_connection});
}

Result<std::string> MakeTempDir() {
  const char* tmp = getenv("TMPDIR");
  std::string pattern = std::string(tmp && *tmp ? tmp : "/tmp") + "/hopctl-fleet-XXXXXX";
  if (mkdtemp(pattern.data()) == nullptr) {
    return MakeError(Code::kPermissionDenied, pattern + ": " + strerror(errno));
  }
  return pattern;
}

}  // namespace

std::string NodeOfOrigin(const std::string& origin) {
  const std::string prefix = "hopgate/";
  return origin.rfind(prefix, 0) == 0 ? origin.substr(prefix.size()) : origin;
}

FleetIndex::~FleetIndex() {
  replicas_.clear();  // closes the indexes before the lock goes
  lock_.reset();
  std::error_code ec;
  if (temporary_) std::filesystem::remove_all(cache_dir_, ec);
}

Result<std::unique_ptr<FleetIndex>> FleetIndex::Open(const FleetIndexOptions& options) {
  auto db = Pg::Connect(options.dsn);
  if (!db) return db.error();
  auto origins = Origins(**db, options.dsn, options.only_connection);
  if (!origins) return origins.error();
  std::unique_ptr<FleetIndex> out(new FleetIndex());
  out->cache_dir_ = options.cache_dir;
  if (out->cache_dir_.empty()) out->cache_dir_ = DefaultCacheDir(options.dsn);
  if (out->cache_dir_.empty()) {
    auto dir = MakeTempDir();
    if (!dir) return dir.error();
    out->cache_dir_ = *dir;
    out->temporary_ = true;
  }
  if (options.rebuild) {
    std::error_code ec;
    std::filesystem::remove_all(out->cache_dir_, ec);
  }
  auto lock = CacheLock::Take(out->cache_dir_);
  if (!lock) return lock.error();
  out->lock_ = std::move(*lock);
  for (size_t i = 0; i < origins->size(); ++i) {
    std::string origin = origins->rows[i][0].value_or("");
    std::string node = NodeOfOrigin(origin);
    IndexOptions o;
    auto mirror = UpdateMirror(**db, origin, out->cache_dir_, &o.log_path);
    if (!mirror) return MakeError(mirror.code(), node + ": " + mirror.message());
    out->stats_.events_copied += mirror->appended;
    if (mirror->rebuilt) out->stats_.rebuilt.push_back(origin);
    if (mirror->rebuilt && options.warn) {
      options.warn(node + ": the cached events no longer match the database's: rebuilt");
    }
    o.recordings_dir = options.recordings_dir;
    o.warn = [warn = options.warn, node, path = o.log_path](const std::string& w) {
      if (!warn) return;
      std::string text = w;
      if (text.rfind(path, 0) == 0) text = "events" + text.substr(path.size());  // not our cache path
      warn(node + ": " + text);
    };
    auto ix = SessionIndex::Open(o);
    if (!ix) return ix.error();
    auto indexed = (*ix)->Update();
    if (!indexed) return indexed.error();
    out->stats_.events_indexed += indexed->events;
    out->replicas_.push_back(Replica{origin, node, std::move(*ix)});
  }
  return out;
}

Result<std::vector<FleetRow>> FleetIndex::Sessions(const SessionFilter& filter) {
  std::vector<FleetRow> rows;
  for (auto& r : replicas_) {
    auto list = r.index->Sessions(filter);
    if (!list) return list.error();
    for (auto& s : *list) rows.push_back(FleetRow{r.node, std::move(s)});
  }
  std::stable_sort(rows.begin(), rows.end(), [](const FleetRow& a, const FleetRow& b) {
    return a.session.start_ms.value_or(0) < b.session.start_ms.value_or(0);
  });
  return rows;
}

}  // namespace hopgate::audit::fleet
