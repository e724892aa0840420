// The session index: what the events of recorded sessions add (inner
// logins, requests, exec commands, channel ends with exit statuses and
// recordings, SFTP operations).
#include <ctime>

#include "audit/index_internal.h"

namespace hopgate::audit::index_internal {
namespace {

#define RETURN_IF_ERROR(expr)          \
  do {                                 \
    if (Status st_ = (expr); !st_) {   \
      return st_.error();                    \
    }                                  \
  } while (false)

// Where the gateway puts a channel's recording (README, "What is recorded,
// and where"): <recordings>/YYYY/MM/DD/<session>-<channel>.cast, by the UTC
// date the channel started. Used only until the log names the file.
std::string ExpectedCastPath(const std::string& dir, const std::string& part, int64_t ts_ms) {
  time_t t = static_cast<time_t>(ts_ms / 1000);
  struct tm tm;
  if (gmtime_r(&t, &tm) == nullptr) return "";
  char date[32];
  snprintf(date, sizeof date, "%04d/%02d/%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
  return dir + "/" + date + "/" + part + ".cast";
}

}  // namespace

Status Updater::ApplyRecorded(const nlohmann::json& j, const std::string& type,
                              const std::string& conn, std::optional<int64_t> seq,
                              std::optional<int64_t> ts) {
  std::string session = Str(j, "session");
  if (type == "session_open") {
    std::string login = Str(j, "login");
    RETURN_IF_ERROR(Decision(conn, seq, ts, "recorded login",
                             (login.empty() ? "" : login + "@") + Str(j, "target"), j));
    if (Str(j, "result") != "success") return Status::Ok();
    RETURN_IF_ERROR(sql_.Run("UPDATE sessions SET recorded = 1 WHERE id = ?", {conn}));
    if (login.empty()) return Status::Ok();
    return sql_.Run("INSERT OR IGNORE INTO logins(conn, session, login, target) VALUES(?, ?, ?, ?)",
                    {conn, session, login, Str(j, "target")});
  }
  if (type == "session_request") return ApplyRequest(j, conn, seq, ts);
  if (type == "session_close") return ApplySessionClose(j, conn, ts);
  if (session.empty()) return Status::Ok();
  if (type == "sftp") {
    return sql_.Run(
        "INSERT INTO sftp(conn, session, channel, ts, op, path, new_path, mode, status, bytes_read, "
        "bytes_written) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        {conn, session, Int(j, "channel"), ts, Str(j, "op"), Str(j, "path"),
         TextOrNull(Str(j, "new_path")), TextOrNull(Str(j, "mode")), Str(j, "status"),
         Int(j, "bytes_read"), Int(j, "bytes_written")});
  }
  if (type == "recording_failed" || type == "recording_progress") {
    auto part = EnsurePart(conn, session, Int(j, "channel").value_or(0), ts);
    if (!part) return part.error();
    if (type == "recording_failed") {
      return sql_.Run("UPDATE parts SET recording_error = ? WHERE id = ?", {Str(j, "error"), *part});
    }
    std::string path = Str(j, "path");
    if (path.empty()) return Status::Ok();
    return SetRecording(*part, path, "", std::nullopt, false);
  }
  return Status::Ok();
}

Status Updater::ApplyRequest(const nlohmann::json& j, const std::string& conn,
                             std::optional<int64_t> seq, std::optional<int64_t> ts) {
  std::string session = Str(j, "session"), request = Str(j, "request"), command = Str(j, "command");
  int64_t channel = Int(j, "channel").value_or(0);
  std::string subject = session + "-" + std::to_string(channel) + " " + request;
  if (!command.empty()) subject += " " + command;
  RETURN_IF_ERROR(Decision(conn, seq, ts, "request", subject, j));
  if (session.empty() || Str(j, "decision") != "allow") return Status::Ok();
  static const char* kChannelRequests[] = {"shell", "exec", "subsystem", "direct-tcpip",
                                           "forwarded-tcpip", "auth-agent", "x11"};
  bool defines = false;
  for (const char* r : kChannelRequests) defines = defines || request == r;
  if (!defines) return Status::Ok();
  auto part = EnsurePart(conn, session, channel, ts);
  if (!part) return part.error();
  std::string forced = Str(j, "forced_command");
  RETURN_IF_ERROR(sql_.Run(
      "UPDATE parts SET request = ?, command = ?, forced_command = ? WHERE id = ?",
      {request, TextOrNull(command), TextOrNull(forced), *part}));
  if (request == "exec") {
    if (!command.empty()) RETURN_IF_ERROR(AddText(*part, kCommand, 0, command));
    if (!forced.empty()) RETURN_IF_ERROR(AddText(*part, kCommand, 0, forced));
  }
  // A recorded shell or command is written as it goes: index what there is
  // already, from where the gateway puts it, until the log names the file.
  bool cast = request == "shell" || request == "exec" || (request == "subsystem" && command != "sftp");
  if (!cast || !ts) return Status::Ok();
  std::string name = session + "-" + std::to_string(channel);
  std::string guess = ExpectedCastPath(options_.recordings_dir, name, *ts);
  if (guess.empty()) return Status::Ok();
  return sql_.Run("INSERT OR IGNORE INTO recordings(part, path, closed) VALUES(?, ?, 0)",
                  {*part, guess});
}

Status Updater::ApplySessionClose(const nlohmann::json& j, const std::string& conn,
                                  std::optional<int64_t> ts) {
  std::string session = Str(j, "session");
  if (session.empty()) return Status::Ok();
  auto part = EnsurePart(conn, session, Int(j, "channel").value_or(0), ts);
  if (!part) return part.error();
  RETURN_IF_ERROR(sql_.Run(
      "UPDATE parts SET kind = ?, closed = ?, exit_status = ?, exit_signal = ?, bytes_up = ?, "
      "bytes_down = ?, reason = ? WHERE id = ?",
      {Str(j, "kind"), ts, Int(j, "exit_status"), TextOrNull(Str(j, "exit_signal")),
       Int(j, "bytes_client_to_target"), Int(j, "bytes_target_to_client"),
       TextOrNull(Str(j, "reason")), *part}));
  std::string recording = Str(j, "recording");
  if (recording.empty()) {
    // No recording after all (an SFTP channel, a refused request): forget a guess.
    return sql_.Run("DELETE FROM recordings WHERE part = ? AND offset = 0 AND closed = 0", {*part});
  }
  return SetRecording(*part, recording, Str(j, "recording_sha256"), Int(j, "recording_size"), true);
}

Result<int64_t> Updater::EnsurePart(const std::string& conn, const std::string& session,
                                    int64_t channel, std::optional<int64_t> ts) {
  auto id = sql_.QueryInt(
      "SELECT max(id) FROM parts WHERE session = ? AND channel = ? AND closed IS NULL",
      {session, channel});
  if (!id) return id.error();
  if (id->has_value()) return **id;
  std::string name = session + "-" + std::to_string(channel);
  if (Status st = sql_.Run(
          "INSERT INTO parts(conn, session, channel, name, opened) VALUES(?, ?, ?, ?, ?)",
          {conn, session, channel, name, ts});
      !st) {
    return st.error();
  }
  return sql_.db()->LastInsertId();
}

Status Updater::SetRecording(int64_t part, const std::string& path, const std::string& sha256,
                             std::optional<int64_t> size, bool closed) {
  auto s = sql_.Get("SELECT path, offset FROM recordings WHERE part = ?", {part});
  if (!s) return s.error();
  auto row = (*s)->Step();
  if (!row) return row.error();
  bool exists = *row;
  std::string old_path = exists ? (*s)->Text(0) : "";
  int64_t offset = exists ? (*s)->Int(1) : 0;
  (*s)->Reset();
  if (!exists) {
    return sql_.Run(
        "INSERT INTO recordings(part, path, sha256, size, closed) VALUES(?, ?, ?, ?, ?)",
        {part, path, TextOrNull(sha256), size, closed ? 1 : 0});
  }
  if (old_path != path && offset > 0) {
    // Text indexed from another file (a guess that was wrong): start again.
    RETURN_IF_ERROR(sql_.Run(
        "INSERT INTO text_fts(text_fts, rowid, line) SELECT 'delete', id, line FROM text "
        "WHERE part = ? AND kind != ?",
        {part, static_cast<int64_t>(kCommand)}));
    RETURN_IF_ERROR(sql_.Run("DELETE FROM text WHERE part = ? AND kind != ?",
                             {part, static_cast<int64_t>(kCommand)}));
    RETURN_IF_ERROR(sql_.Run(
        "UPDATE recordings SET offset = 0, lines = 0, text_lines = 0 WHERE part = ?", {part}));
  }
  return sql_.Run(
      "UPDATE recordings SET path = ?, sha256 = coalesce(?, sha256), size = coalesce(?, size), "
      "closed = max(closed, ?), done = 0 WHERE part = ?",
      {path, TextOrNull(sha256), size, closed ? 1 : 0, part});
}

Status Updater::AddText(int64_t part, TextKind kind, double t, std::string_view text) {
  RETURN_IF_ERROR(sql_.Run("INSERT INTO text(part, kind, t, line) VALUES(?, ?, ?, ?)",
                           {part, static_cast<int64_t>(kind), t, text}));
  ++stats_.text_lines;
  return sql_.Run("INSERT INTO text_fts(rowid, line) VALUES(?, ?)",
                  {sql_.db()->LastInsertId(), text});
}

}  // namespace hopgate::audit::index_internal
