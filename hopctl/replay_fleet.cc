#include "hopctl/replay_fleet.h"

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "audit/fleet/fleet_index.h"
#include "audit/fleet/pg.h"
#include "hopctl/replay_options.h"

namespace hopgate::hopctl {
namespace {

Result<std::string> MakeTempDir() {
  const char* tmp = getenv("TMPDIR");
  std::string pattern = std::string(tmp && *tmp ? tmp : "/tmp") + "/hopctl-replay-XXXXXX";
  if (mkdtemp(pattern.data()) == nullptr) {
    return MakeError(Code::kPermissionDenied, pattern + ": " + strerror(errno));
  }
  return pattern;
}

bool AllDigits(const std::string& s) {
  return !s.empty() && s.find_first_not_of("0123456789") == std::string::npos;
}

// "…/2026/12/06/c…-0-0.cast" -> "2026/12/06/c…-0-0.cast" (the part below the
// replica's recordings directory), or "" when the path is not laid out so.
std::string DatedTail(const std::string& logged) {
  std::vector<std::string> parts;
  size_t end = logged.size();
  while (parts.size() < 4 && end > 0) {
    size_t slash = logged.rfind('/', end - 1);
    size_t begin = slash == std::string::npos ? 0 : slash + 1;
    parts.insert(parts.begin(), logged.substr(begin, end - begin));
    if (slash == std::string::npos) break;
    end = slash;
  }
  if (parts.size() != 4 || parts[0].size() != 4 || parts[1].size() != 2 || parts[2].size() != 2 ||
      !AllDigits(parts[0]) || !AllDigits(parts[1]) || !AllDigits(parts[2])) {
    return "";
  }
  return parts[0] + "/" + parts[1] + "/" + parts[2] + "/" + parts[3];
}

std::string BaseName(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

}  // namespace

FleetSessionLog::~FleetSessionLog() {
  std::error_code ec;
  if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
}

Result<std::unique_ptr<FleetSessionLog>> FleetSessionLog::Fetch(const std::string& dsn,
                                                                const std::string& connection) {
  auto db = audit::fleet::Pg::Connect(dsn);
  if (!db) return db.error();
  auto origins = (*db)->Query(
      "SELECT DISTINCT origin FROM audit_events WHERE conn = $1 ORDER BY origin", {connection});
  if (!origins) return origins.error();
  if (origins->size() == 0) {
    return MakeError(Code::kNotFound, "no session " + connection + " in the fleet database " +
                                          audit::fleet::RedactDsn(dsn));
  }
  std::unique_ptr<FleetSessionLog> out(new FleetSessionLog());
  out->origin_ = origins->rows[0][0].value_or("");
  out->node_ = audit::fleet::NodeOfOrigin(out->origin_);
  if (origins->size() > 1) {
    // Connection ids are random per replica: two replicas naming one is
    // a damaged database, not a session to guess about.
    return MakeError(Code::kFailedPrecondition,
                     "connection " + connection + " is named by the events of several replicas (" +
                         out->origin_ + ", " + origins->rows[1][0].value_or("") + ")");
  }
  auto rows = (*db)->Query(
      "SELECT seq, line FROM audit_events WHERE origin = $1 AND conn = $2 ORDER BY seq",
      {out->origin_, connection});
  if (!rows) return rows.error();
  auto dir = MakeTempDir();
  if (!dir) return dir.error();
  out->dir_ = *dir;
  out->log_path_ = out->dir_ + "/audit.jsonl";
  std::string text;
  for (const auto& row : rows->rows) {
    out->seqs_.push_back(row[0].value_or("?"));
    text += row[1].value_or("");
    text += '\n';
  }
  int fd = open(out->log_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return MakeError(Code::kPermissionDenied, out->log_path_ + ": " + strerror(errno));
  bool written = write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  close(fd);
  if (!written) return MakeError(Code::kDataLoss, out->log_path_ + ": " + strerror(errno));
  return out;
}

std::string FleetSessionLog::Describe(const std::string& message) const {
  std::string out;
  const std::string prefix = log_path_ + ":";
  size_t at = 0;
  while (true) {
    size_t hit = message.find(prefix, at);
    if (hit == std::string::npos) break;
    size_t digits = hit + prefix.size();
    size_t end = digits;
    while (end < message.size() && message[end] >= '0' && message[end] <= '9') ++end;
    out += message.substr(at, hit - at);
    size_t line = end > digits ? std::stoul(message.substr(digits, end - digits)) : 0;
    if (line >= 1 && line <= seqs_.size()) {
      out += origin_ + " seq " + seqs_[line - 1] + " (fleet database)";
    } else {
      out += "the fleet database's events of " + origin_ + (end > digits ? " line " : "") +
             message.substr(digits, end - digits);
    }
    at = end;
  }
  out += message.substr(at);
  // The temporary log's own name, without a line (a whole-log message).
  for (size_t hit; (hit = out.find(log_path_)) != std::string::npos;) {
    out.replace(hit, log_path_.size(), "the fleet database's events of " + origin_);
  }
  return out;
}

Result<std::string> LocateRecording(const std::string& id, const std::string& node,
                                    const std::string& logged, const std::string& recordings_dir) {
  std::vector<std::string> tried;
  if (!recordings_dir.empty()) {
    std::string tail = DatedTail(logged);
    if (!tail.empty()) tried.push_back(recordings_dir + "/" + tail);
    tried.push_back(recordings_dir + "/" + BaseName(logged));
    for (const auto& path : tried) {
      if (IsRegularFile(path)) return path;
    }
  }
  if (!logged.empty() && IsRegularFile(logged)) return logged;
  std::string message = "recording " + id + " is on replica " + node + " at " + logged +
                        "; copy it here or pass --recordings DIR";
  if (!tried.empty()) {
    message += " (not found at ";
    for (size_t i = 0; i < tried.size(); ++i) message += (i ? " or " : "") + tried[i];
    message += " either)";
  }
  return MakeError(Code::kNotFound, message);
}

}  // namespace hopgate::hopctl
