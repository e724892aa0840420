#include "audit/fleet/fleet_index.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "audit/fleet/pg.h"

namespace hopgate::audit::fleet {
namespace {

constexpr int kPage = 5000;

Result<std::string> MakeTempDir() {
  const char* tmp = getenv("TMPDIR");
  std::string pattern = std::string(tmp && *tmp ? tmp : "/tmp") + "/hopctl-fleet-XXXXXX";
  if (mkdtemp(pattern.data()) == nullptr) {
    return MakeError(Code::kPermissionDenied, pattern + ": " + strerror(errno));
  }
  return pattern;
}

// Writes `origin`'s events, in seq order, to `path` (one line each).
Status CopyOrigin(Pg& db, const std::string& origin, const std::string& path) {
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return MakeError(Code::kPermissionDenied, path + ": " + strerror(errno));
  std::string after = "-1";
  Status result;
  while (true) {
    auto rows = db.Query(
        "SELECT seq, line FROM audit_events WHERE origin = $1 AND seq > $2 ORDER BY seq LIMIT " +
            std::to_string(kPage),
        {origin, after});
    if (!rows) {
      result = rows.error();
      break;
    }
    std::string text;
    for (const auto& row : rows->rows) {
      text += row[1].value_or("");
      text += '\n';
    }
    if (!text.empty() && write(fd, text.data(), text.size()) != static_cast<ssize_t>(text.size())) {
      result = MakeError(Code::kDataLoss, path + ": " + strerror(errno));
      break;
    }
    if (rows->size() < static_cast<size_t>(kPage)) break;
    after = rows->rows.back()[0].value_or("-1");
  }
  close(fd);
  return result;
}

}  // namespace

std::string NodeOfOrigin(const std::string& origin) {
  const std::string prefix = "hopgate/";
  return origin.rfind(prefix, 0) == 0 ? origin.substr(prefix.size()) : origin;
}

FleetIndex::~FleetIndex() {
  replicas_.clear();  // closes the indexes first
  std::error_code ec;
  if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
}

Result<std::unique_ptr<FleetIndex>> FleetIndex::Open(const std::string& dsn,
                                                     std::function<void(const std::string&)> warn,
                                                     const std::string& only_connection) {
  auto db = Pg::Connect(dsn);
  if (!db) return db.error();
  auto schema = (*db)->Query("SELECT to_regclass('audit_events') IS NOT NULL");
  if (!schema) return schema.error();
  if (schema->size() != 1 || schema->rows[0][0] != std::optional<std::string>("t")) {
    return MakeError(Code::kNotFound, RedactDsn(dsn) + ": no hopgate fleet tables (no replica has "
                                                       "copied its audit log there yet)");
  }
  auto origins = only_connection.empty()
                     ? (*db)->Query("SELECT DISTINCT origin FROM audit_events ORDER BY origin")
                     : (*db)->Query("SELECT DISTINCT origin FROM audit_events WHERE conn = $1 "
                                    "ORDER BY origin",
                                    {only_connection});
  if (!origins) return origins.error();
  std::unique_ptr<FleetIndex> out(new FleetIndex());
  auto dir = MakeTempDir();
  if (!dir) return dir.error();
  out->dir_ = *dir;
  for (size_t i = 0; i < origins->size(); ++i) {
    std::string origin = origins->rows[i][0].value_or("");
    std::string sub = out->dir_ + "/" + std::to_string(i);
    if (mkdir(sub.c_str(), 0700) != 0) {
      return MakeError(Code::kPermissionDenied, sub + ": " + strerror(errno));
    }
    IndexOptions o;
    o.log_path = sub + "/audit.jsonl";
    if (Status st = CopyOrigin(**db, origin, o.log_path); !st) return st.error();
    std::string node = NodeOfOrigin(origin);
    o.warn = [warn, node, path = o.log_path](const std::string& w) {
      if (!warn) return;
      std::string text = w;
      if (text.rfind(path, 0) == 0) text = "events" + text.substr(path.size());  // not our temp path
      warn(node + ": " + text);
    };
    auto ix = SessionIndex::Open(o);
    if (!ix) return ix.error();
    if (auto st = (*ix)->Update(); !st) return st.error();
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
