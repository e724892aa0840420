// The session index, brought up to date from the audit log: which files are
// new or grown, and what each event adds to the tables.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <climits>

#include "audit/index_internal.h"
#include "audit/json_line.h"
#include "audit/line_reader.h"
#include "audit/log_files.h"
#include "audit/timestamps.h"
#include "common/encoding.h"

namespace hopgate::audit::index_internal {
namespace {

constexpr size_t kMaxLogLine = 16 << 20;

#define RETURN_IF_ERROR(expr)          \
  do {                                 \
    if (Status st_ = (expr); !st_) {   \
      return st_.error();                    \
    }                                  \
  } while (false)

// True if the byte before `offset` is a newline (an index made from this
// file stopped at a line boundary there).
bool EndsLineAt(const std::string& path, uint64_t offset) {
  if (offset == 0) return true;
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  char c = 0;
  ssize_t n = pread(fd, &c, 1, static_cast<off_t>(offset - 1));
  close(fd);
  return n == 1 && c == '\n';
}

}  // namespace

void Updater::Warn(const std::string& message) const {
  if (options_.warn) options_.warn(message);
}

void Updater::Progress(const char* label) {
  if (options_.progress) options_.progress(label, phase_done_, phase_total_);
}

Result<UpdateStats> Updater::Run() {
  Db* db = sql_.db();
  RETURN_IF_ERROR(db->Exec("BEGIN IMMEDIATE"));
  if (Status st = IndexLog(); !st || stats_.rebuilt) {
    (void)db->Exec("ROLLBACK");
    if (!st) return st.error();
    return stats_;
  }
  RETURN_IF_ERROR(db->Exec("COMMIT"));
  RETURN_IF_ERROR(db->Exec("BEGIN IMMEDIATE"));
  if (Status st = IndexRecordings(); !st) {
    (void)db->Exec("ROLLBACK");
    return st.error();
  }
  RETURN_IF_ERROR(db->Exec("COMMIT"));
  return stats_;
}

Status Updater::IndexLog() {
  auto last = sql_.QueryInt("SELECT max(last_seq) FROM log_files");
  if (!last) return last.error();
  last_seq_ = *last;
  std::vector<LogFile> files;
  RETURN_IF_ERROR(PlanLog(&files));
  if (stats_.rebuilt) return Status::Ok();
  phase_done_ = 0;
  phase_total_ = 0;
  for (const auto& f : files) phase_total_ += f.size > f.offset ? f.size - f.offset : 0;
  for (auto& f : files) RETURN_IF_ERROR(IndexLogFile(&f));
  Progress("audit log");
  return Status::Ok();
}

Status Updater::IndexRecordings() {
  std::vector<Pending> pending;
  phase_done_ = 0;
  RETURN_IF_ERROR(PlanRecordings(&pending, &phase_total_));
  uint64_t since_commit = 0;
  for (auto& r : pending) {
    uint64_t before = stats_.cast_bytes;
    RETURN_IF_ERROR(IndexRecording(&r));
    Progress("recordings");
    since_commit += stats_.cast_bytes - before;
    if (since_commit >= (64u << 20)) {  // keep transactions (and lost work) bounded
      RETURN_IF_ERROR(sql_.db()->Exec("COMMIT"));
      RETURN_IF_ERROR(sql_.db()->Exec("BEGIN IMMEDIATE"));
      since_commit = 0;
    }
  }
  return Status::Ok();
}

Status Updater::PlanLog(std::vector<LogFile>* files) {
  // The files rotation left, the current one, and those logrotate renamed
  // (`audit.jsonl.1`): ordered by their first seq below.
  std::vector<std::string> paths = LogFilesOf(options_.log_path);
  for (auto& p : RenamedFilesOf(options_.log_path)) paths.push_back(std::move(p));
  if (paths.empty()) {
    return MakeError(Code::kNotFound, options_.log_path + ": no such audit log");
  }
  for (const auto& path : paths) {
    struct stat sb;
    if (stat(path.c_str(), &sb) != 0) continue;  // rotated away meanwhile
    auto first = FirstLine(path, kMaxLogLine);
    if (!first) {
      if (first.code() != Code::kNotFound) Warn(first.message());
      continue;  // empty, or its first line is still being written
    }
    LogFile f;
    f.path = path;
    f.key = Sha256Hex(*first);
    f.size = static_cast<uint64_t>(sb.st_size);
    uint64_t seq;
    if (PeekSeq(*first, &seq) && seq <= static_cast<uint64_t>(INT64_MAX)) {
      f.first_seq = static_cast<int64_t>(seq);
    }
    auto s = sql_.Get("SELECT offset, lines FROM log_files WHERE key = ?", {f.key});
    if (!s) return s.error();
    auto row = (*s)->Step();
    if (!row) return row.error();
    if (*row) {
      f.known = true;
      f.offset = static_cast<uint64_t>((*s)->Int(0));
      f.lines = static_cast<uint64_t>((*s)->Int(1));
    }
    (*s)->Reset();
    if (f.known && (f.size < f.offset || !EndsLineAt(path, f.offset))) {
      Warn(path + ": shorter or different than when it was indexed; rebuilding the index");
      stats_.rebuilt = true;
      return Status::Ok();
    }
    if (!f.known && f.first_seq) {
      auto other = sql_.QueryInt("SELECT count(*) FROM log_files WHERE first_seq = ?", {*f.first_seq});
      if (!other) return other.error();
      if (other->value_or(0) > 0) {
        Warn(path + ": not the file the index was made from; rebuilding the index");
        stats_.rebuilt = true;
        return Status::Ok();
      }
    }
    files->push_back(std::move(f));
  }
  std::stable_sort(files->begin(), files->end(), [](const LogFile& a, const LogFile& b) {
    return a.first_seq.value_or(INT64_MAX) < b.first_seq.value_or(INT64_MAX);
  });
  return Status::Ok();
}

Status Updater::IndexLogFile(LogFile* f) {
  uint64_t lines = f->lines;
  uint64_t done_before = phase_done_;
  auto r = ReadLines(f->path, f->offset, kMaxLogLine, [&](std::string_view line, const LineInfo& info) {
    ++lines;
    phase_done_ = done_before + (info.end - f->offset);
    if ((lines & 1023) == 0) Progress("audit log");
    std::string where = f->path + ":" + std::to_string(lines);
    if (info.too_long) {
      Warn(where + ": line longer than 16 MiB, skipped");
      return Status::Ok();
    }
    return ApplyLine(line, where);
  });
  if (!r) {
    if (r.code() == Code::kNotFound || r.code() == Code::kUnavailable) {
      Warn(r.message());  // rotated or removed meanwhile: the next call catches up
      return Status::Ok();
    }
    return r.error();
  }
  stats_.log_bytes += r->end - f->offset;
  f->offset = r->end;
  f->lines = lines;
  return sql_.Run(
      "INSERT INTO log_files(key, path, first_seq, last_seq, offset, lines) VALUES(?, ?, ?, ?, ?, ?) "
      "ON CONFLICT(key) DO UPDATE SET path = excluded.path, last_seq = excluded.last_seq, "
      "offset = excluded.offset, lines = excluded.lines",
      {f->key, f->path, f->first_seq, last_seq_, f->offset, f->lines});
}

Status Updater::ApplyLine(std::string_view line, const std::string& where) {
  if (line.empty()) return Status::Ok();
  auto j = ParseJsonLine(line);
  if (!j || !j->is_object()) {
    Warn(where + ": " + (j ? std::string("not a JSON object") : j.message()) + ", skipped");
    return Status::Ok();
  }
  std::string type = Str(*j, "type");
  if (type.empty()) {
    Warn(where + ": no \"type\", skipped");
    return Status::Ok();
  }
  std::optional<int64_t> seq = Int(*j, "seq");
  if (seq && last_seq_ && *seq > *last_seq_ + 1) {
    Warn(where + ": events " + std::to_string(*last_seq_ + 1) + ".." + std::to_string(*seq - 1) +
         " are missing from the log (hopctl audit verify checks it)");
  }
  if (seq && (!last_seq_ || *seq > *last_seq_)) last_seq_ = seq;
  std::optional<int64_t> ts;
  if (auto t = ParseRfc3339Ms(Str(*j, "ts"))) ts = *t;
  std::string conn = Str(*j, "connection");
  if (conn.empty() && type == "recording_progress") conn = ConnOf(Str(*j, "session"));
  if (!conn.empty()) {
    if (type != "recording_progress") {
      RETURN_IF_ERROR(sql_.Run(
          "INSERT OR IGNORE INTO events(seq, conn, ts, type, line) VALUES(?, ?, ?, ?, ?)",
          {seq, conn, ts, type, line}));
      if (sql_.db()->Changes() == 0) return Status::Ok();  // indexed already
    }
    RETURN_IF_ERROR(sql_.Run("INSERT OR IGNORE INTO sessions(id, start) VALUES(?, ?)", {conn, ts}));
  }
  ++stats_.events;
  return Apply(*j, type, conn, seq, ts);
}

Status Updater::Apply(const nlohmann::json& j, const std::string& type, const std::string& conn,
                      std::optional<int64_t> seq, std::optional<int64_t> ts) {
  if (type == "server_start") {
    // Sessions still open when the gateway started again ended unrecorded.
    return sql_.Run(
        "UPDATE sessions SET end_reason = 'no close event: the gateway stopped first' "
        "WHERE end IS NULL AND end_reason IS NULL");
  }
  if (conn.empty()) return Status::Ok();
  if (type == "connection_open" || type == "auth" || type == "connection_close" ||
      type == "session_limit" || type == "credential_revoked") {
    return ApplyConnection(j, type, conn, seq, ts);
  }
  if (type == "channel_open" || type == "channel_close") return ApplyChannel(j, type, conn, seq, ts);
  return ApplyRecorded(j, type, conn, seq, ts);
}

Status Updater::ApplyConnection(const nlohmann::json& j, const std::string& type,
                                const std::string& conn, std::optional<int64_t> seq,
                                std::optional<int64_t> ts) {
  if (type == "connection_open") {
    return sql_.Run(
        "UPDATE sessions SET start = coalesce(?, start), source_addr = ?, source_port = ?, "
        "listen = ? WHERE id = ?",
        {ts, Str(j, "client_addr"), Int(j, "client_port"), Str(j, "listen"), conn});
  }
  if (type == "auth") {
    std::string result = Str(j, "result");
    RETURN_IF_ERROR(Decision(conn, seq, ts, "login", Str(j, "method") + " as " + Str(j, "user"), j));
    if (result != "success") return Status::Ok();
    nlohmann::json cert = j.contains("certificate") && j["certificate"].is_object()
                              ? j["certificate"] : nlohmann::json::object();
    return sql_.Run(
        "UPDATE sessions SET user = ?, auth_method = ?, key_type = ?, fingerprint = ?, "
        "cert_key_id = ?, cert_serial = ?, ca_fingerprint = ?, "
        "source_addr = coalesce(source_addr, ?), source_port = coalesce(source_port, ?) WHERE id = ?",
        {Str(j, "user"), Str(j, "method"), Str(j, "key_type"), Str(j, "fingerprint"),
         TextOrNull(Str(cert, "key_id")), Int(cert, "serial"), TextOrNull(Str(cert, "ca_fingerprint")),
         TextOrNull(Str(j, "client_addr")), Int(j, "client_port"), conn});
  }
  if (type == "connection_close") {
    return sql_.Run(
        "UPDATE sessions SET end = ?, end_reason = ?, user = coalesce(user, ?) WHERE id = ?",
        {ts, Str(j, "reason"), TextOrNull(Str(j, "user")), conn});
  }
  // session_limit, credential_revoked: a limit or a revocation ended or cut it.
  return sql_.Run("UPDATE sessions SET limits = limits + 1 WHERE id = ?", {conn});
}

Status Updater::Decision(const std::string& conn, std::optional<int64_t> seq,
                         std::optional<int64_t> ts, const std::string& what,
                         const std::string& subject, const nlohmann::json& j) {
  std::string decision = Str(j, "decision");
  if (decision.empty()) decision = Str(j, "result");
  return sql_.Run(
      "INSERT INTO decisions(conn, seq, ts, what, subject, decision, rule, policy_version, reason) "
      "VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?)",
      {conn, seq, ts, what, subject, decision, TextOrNull(Str(j, "rule")),
       TextOrNull(Str(j, "policy_version")), TextOrNull(Str(j, "reason"))});
}

Status Updater::ApplyChannel(const nlohmann::json& j, const std::string& type,
                             const std::string& conn, std::optional<int64_t> seq,
                             std::optional<int64_t> ts) {
  if (type == "channel_open") {
    bool allow = Str(j, "decision") == "allow";
    bool recorded = allow && Bool(j, "recorded") && Str(j, "error").empty();
    RETURN_IF_ERROR(sql_.Run(
        "INSERT INTO channels(conn, channel, kind, destination, host, dial, decision, rule, "
        "policy_version, recorded, reason, error, opened) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        {conn, Int(j, "channel"), Str(j, "kind"), TextOrNull(Str(j, "destination")),
         TextOrNull(Str(j, "host")), TextOrNull(Str(j, "dial")), Str(j, "decision"),
         TextOrNull(Str(j, "rule")), TextOrNull(Str(j, "policy_version")), recorded ? 1 : 0,
         TextOrNull(Str(j, "reason")), TextOrNull(Str(j, "error")), ts}));
    RETURN_IF_ERROR(Decision(conn, seq, ts, "channel", Str(j, "kind") + " " + Str(j, "destination"), j));
    return sql_.Run(
        "UPDATE sessions SET channels = channels + ?, denied = denied + ?, "
        "recorded = max(recorded, ?) WHERE id = ?",
        {allow ? 1 : 0, allow ? 0 : 1, recorded ? 1 : 0, conn});
  }
  int64_t up = Int(j, "bytes_client_to_target").value_or(0);
  int64_t down = Int(j, "bytes_target_to_client").value_or(0);
  RETURN_IF_ERROR(sql_.Run(
      "UPDATE channels SET closed = ?, bytes_up = ?, bytes_down = ?, duration_ms = ?, "
      "close_reason = ? WHERE id = (SELECT max(id) FROM channels WHERE conn = ? AND channel = ? "
      "AND closed IS NULL)",
      {ts, up, down, Int(j, "duration_ms"), TextOrNull(Str(j, "reason")), conn, Int(j, "channel")}));
  return sql_.Run("UPDATE sessions SET bytes_up = bytes_up + ?, bytes_down = bytes_down + ? WHERE id = ?",
                  {up, down, conn});
}

}  // namespace hopgate::audit::index_internal
