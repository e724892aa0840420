#include "hopctl/replay_log.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <ctime>

#include <nlohmann/json.hpp>

#include "audit/log_files.h"
#include "common/strings.h"

namespace hopgate::hopctl {
namespace {

// The log's files in the order of their lines: those logrotate renamed
// (`audit.jsonl.1`), the rotated ones and the current file, by the seq of
// their first line (files without one keep their place, after the rest).
std::vector<std::string> LogFilesInOrder(const std::string& log) {
  std::vector<std::string> files = audit::RenamedFilesOf(log);
  for (auto& f : audit::LogFilesOf(log)) files.push_back(std::move(f));
  std::vector<std::pair<uint64_t, std::string>> keyed;
  for (auto& f : files) {
    uint64_t seq = UINT64_MAX;
    (void)audit::ForEachLine(f, [&](std::string_view line, uint64_t, uint64_t) -> Status {
      if (!audit::PeekSeq(line, &seq)) seq = UINT64_MAX;
      return MakeError(Code::kFailedPrecondition, "first line read");
    });
    keyed.emplace_back(seq, std::move(f));
  }
  std::stable_sort(keyed.begin(), keyed.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<std::string> out;
  for (auto& [seq, f] : keyed) out.push_back(std::move(f));
  return out;
}

using nlohmann::json;

constexpr size_t kMaxWarnings = 20;
constexpr size_t kMaxSftpLines = 100000;  // per channel: a summary, not a dump

std::string Str(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

std::optional<uint64_t> Unsigned(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_number_unsigned()) return std::nullopt;
  return it->get<uint64_t>();
}

std::optional<uint32_t> Channel32(const json& j) {
  auto v = Unsigned(j, "channel");
  if (!v || *v > UINT32_MAX) return std::nullopt;
  return static_cast<uint32_t>(*v);
}

// "2026-11-21T14:29:32.101Z" -> Unix milliseconds; 0 if it is not that.
int64_t TsMillis(const std::string& ts) {
  struct tm tm = {};
  int ms = 0, used = 0;
  if (sscanf(ts.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
             &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &used) != 6) {
    return 0;
  }
  if (ts.size() > static_cast<size_t>(used) + 4 && ts[used] == '.') {
    ms = atoi(ts.substr(used + 1, 3).c_str());
  }
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  time_t t = timegm(&tm);
  if (t == static_cast<time_t>(-1)) return 0;
  return static_cast<int64_t>(t) * 1000 + ms;
}

bool IsHex64(const std::string& s) {
  if (s.size() != 64) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

std::string BaseName(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

// One SFTP operation as a line for the terminal, e.g.
// "close /tmp/dump.sql (write,create): 0 read, 16777216 written: ok".
std::string SftpText(const json& e) {
  std::string op = Str(e, "op"), path = Str(e, "path"), new_path = Str(e, "new_path");
  std::string mode = Str(e, "mode"), status = Str(e, "status");
  std::string s = op.empty() ? "?" : op;
  if (!path.empty()) s += " " + path;
  if (!new_path.empty()) s += " -> " + new_path;
  if (!mode.empty()) s += " (" + mode + ")";
  if (op == "close") {
    s += ": " + std::to_string(Unsigned(e, "bytes_read").value_or(0)) + " read, " +
         std::to_string(Unsigned(e, "bytes_written").value_or(0)) + " written";
  }
  s += ": " + (status.empty() ? std::string("?") : status);
  return EscapeControl(s);
}

}  // namespace

std::string SessionSelector::ToString() const {
  if (session.empty()) return connection;
  return channel ? session + "-" + std::to_string(*channel) : session;
}

Result<SessionSelector> ParseSessionId(std::string_view text) {
  auto bad = [&] {
    return MakeError(Code::kInvalidArgument,
                     Quote(EscapeControl(text)) +
                         " is neither a recording file nor a session id (c<hex> for a connection, "
                         "c<hex>-N for one recorded session, c<hex>-N-M for one of its channels)");
  };
  std::vector<std::string> parts = Split(text, '-');
  if (parts.empty() || parts.size() > 3 || parts[0].size() < 2 || parts[0].size() > 64 ||
      parts[0][0] != 'c') {
    return bad();
  }
  for (size_t i = 1; i < parts[0].size(); ++i) {
    if (!isxdigit(static_cast<unsigned char>(parts[0][i]))) return bad();
  }
  std::vector<uint32_t> numbers;
  for (size_t i = 1; i < parts.size(); ++i) {
    if (parts[i].empty() || parts[i].size() > 9) return bad();
    for (char c : parts[i]) {
      if (c < '0' || c > '9') return bad();
    }
    numbers.push_back(static_cast<uint32_t>(std::stoul(parts[i])));
  }
  SessionSelector s;
  s.connection = parts[0];
  if (!numbers.empty()) s.session = parts[0] + "-" + std::to_string(numbers[0]);
  if (numbers.size() == 2) s.channel = numbers[1];
  return s;
}

bool ReplayChannel::IsSftp() const {
  return request == "subsystem" && command == "sftp" && forced_command.empty();
}

ReplayLog::ReplayLog(std::string log_path, SessionSelector selector)
    : log_path_(std::move(log_path)), sel_(std::move(selector)), filter_(sel_.connection) {}

ReplayLog::ReplayLog(std::string log_path, std::string recording)
    : log_path_(std::move(log_path)),
      recording_(std::move(recording)),
      recording_name_(BaseName(recording_)),
      filter_(recording_name_) {}

void ReplayLog::Reset() {
  channels_.clear();
  sessions_.clear();
  found_ = ended_ = false;
  ended_because_.clear();
  offset_ = lines_ = 0;
}

std::vector<std::string> ReplayLog::TakeWarnings() {
  std::vector<std::string> w;
  w.swap(warnings_);
  return w;
}

const ReplayChannel* ReplayLog::Find(const std::string& session, uint32_t channel) const {
  for (const auto& c : channels_) {
    if (c.session == session && c.channel == channel) return &c;
  }
  return nullptr;
}

ReplayChannel* ReplayLog::Channel(const std::string& session, uint32_t channel, bool create) {
  for (auto& c : channels_) {
    if (c.session == session && c.channel == channel) return &c;
  }
  if (!create) return nullptr;
  ReplayChannel c;
  c.session = session;
  c.channel = channel;
  for (const auto& s : sessions_) {
    if (s.session == session) {
      c.user = s.user;
      c.login = s.login;
      c.target = s.target;
    }
  }
  channels_.push_back(std::move(c));
  return &channels_.back();
}

bool ReplayLog::Selected(const std::string& connection, const std::string& session,
                         std::optional<uint32_t> channel) const {
  if (!recording_.empty() || connection != sel_.connection) return false;
  if (!sel_.session.empty() && session != sel_.session) return false;
  return !sel_.channel || channel == sel_.channel;
}

Status ReplayLog::Refresh() {
  struct stat st;
  bool exists = stat(log_path_.c_str(), &st) == 0;
  if (read_once_ && exists && st.st_ino == inode_ && static_cast<uint64_t>(st.st_size) >= offset_) {
    return ReadFile(log_path_, offset_, lines_);
  }
  // First read, or the log was rotated or replaced: read everything again.
  Reset();
  std::vector<std::string> files = LogFilesInOrder(log_path_);
  if (files.empty()) {
    return MakeError(Code::kNotFound, log_path_ + ": cannot read the audit log: " +
                                          strerror(exists ? EACCES : ENOENT));
  }
  for (const auto& f : files) {
    offset_ = lines_ = 0;
    if (Status s = ReadFile(f, 0, 0); !s.ok()) return s;
  }
  inode_ = exists ? st.st_ino : 0;
  if (files.back() != log_path_) offset_ = lines_ = 0;
  read_once_ = true;
  return Status::Ok();
}

Status ReplayLog::ReadFile(const std::string& file, uint64_t from_offset, uint64_t first_line) {
  return audit::ForEachLine(
      file,
      [&](std::string_view line, uint64_t offset, uint64_t number) -> Status {
        offset_ = offset + line.size() + 1;
        lines_ = first_line + number;
        if (line.find(filter_) == std::string_view::npos &&
            line.find("\"server_start\"") == std::string_view::npos) {
          return Status::Ok();
        }
        return Apply(line, file + ":" + std::to_string(lines_));
      },
      nullptr, from_offset);
}

// One parsed line of the log and the fields every event may have.
struct ReplayLog::LogLine {
  json e;
  std::string type, session, connection, where;
  std::optional<uint32_t> channel;
  int64_t ts = 0;
};

Status ReplayLog::Apply(std::string_view line, const std::string& where) {
  LogLine l;
  l.e = json::parse(line.begin(), line.end(), nullptr, /*allow_exceptions=*/false);
  if (l.e.is_discarded() || !l.e.is_object()) {
    if (line.find(filter_) != std::string_view::npos) {
      if (warnings_.size() < kMaxWarnings) {
        warnings_.push_back(where + ": not a JSON object, skipped (hopctl audit verify says more)");
      }
    }
    return Status::Ok();
  }
  l.type = Str(l.e, "type");
  l.session = Str(l.e, "session");
  l.connection = Str(l.e, "connection");
  if (l.connection.empty() && l.session.rfind('-') != std::string::npos) {
    l.connection = l.session.substr(0, l.session.rfind('-'));
  }
  l.channel = Channel32(l.e);
  l.ts = TsMillis(Str(l.e, "ts"));
  l.where = where;
  if (ApplyEnd(l)) return Status::Ok();
  if (!recording_.empty()) {
    // File mode: only the close that names this recording matters, and the
    // progress reports of it before that close.
    const char* key = l.type == "session_close"        ? "recording"
                      : l.type == "recording_progress" ? "path"
                                                       : nullptr;
    if (key == nullptr || BaseName(Str(l.e, key)) != recording_name_) return Status::Ok();
  }
  // A session's session_open names its user, login and target for every
  // channel of it, whichever channel was asked for.
  if (l.type == "session_open" && recording_.empty() && l.connection == sel_.connection &&
      (sel_.session.empty() || l.session == sel_.session)) {
    found_ = true;
    sessions_.push_back({l.session, Str(l.e, "user"), Str(l.e, "login"), Str(l.e, "target")});
    return Status::Ok();
  }
  bool file_match = !recording_.empty();
  if (!l.channel || (!file_match && !Selected(l.connection, l.session, l.channel))) {
    return Status::Ok();
  }
  if (l.type == "session_request") {
    std::string request = Str(l.e, "request");
    if (Str(l.e, "decision") != "allow" ||
        (request != "shell" && request != "exec" && request != "subsystem")) {
      return Status::Ok();
    }
    found_ = true;
    ReplayChannel* c = Channel(l.session, *l.channel, true);
    c->request = request;
    c->command = Str(l.e, "command");
    c->forced_command = Str(l.e, "forced_command");
    c->start_ms = l.ts;
    c->start_where = where;
    return Status::Ok();
  }
  if (l.type == "session_close") return ApplyClose(l);
  ApplyChannelEvent(l);
  return Status::Ok();
}

// Events that say nothing more can happen to the selection: true when `l`
// was one of them (whether or not it ended the selection).
bool ReplayLog::ApplyEnd(const LogLine& l) {
  auto end = [&](std::string why) {
    ended_ = true;
    ended_because_ = std::move(why);
    return true;
  };
  if (l.type == "server_start") {
    if (found_ && !ended_) return end("the gateway restarted (" + l.where + ") before it closed");
    return true;
  }
  if (!recording_.empty()) return false;
  if (l.type == "connection_close" && l.connection == sel_.connection) {
    return end("the connection closed (" + l.where + ")");
  }
  if (l.type == "channel_close" && !sel_.session.empty() && !sel_.channel &&
      l.connection == sel_.connection && Str(l.e, "kind") == "direct-tcpip" && l.channel &&
      sel_.session == l.connection + "-" + std::to_string(*l.channel)) {
    return end("the session's channel closed (" + l.where + ")");
  }
  return false;
}

Status ReplayLog::ApplyClose(const LogLine& l) {
  if (Str(l.e, "kind") != "session") return Status::Ok();
  found_ = true;
  ReplayChannel* c = Channel(l.session, *l.channel, true);
  if (c->closed) {
    return MakeError(Code::kDataLoss, l.where + ": a second session_close for " + c->Id() +
                                          " (the first is at " + c->close_where +
                                          "): the log contradicts itself");
  }
  c->closed = true;
  c->close_where = l.where;
  if (c->start_ms == 0) c->start_ms = l.ts;
  if (!Str(l.e, "recording").empty()) c->recording = Str(l.e, "recording");
  c->sha256 = Str(l.e, "recording_sha256");
  auto size = Unsigned(l.e, "recording_size");
  c->has_digest = !c->recording.empty() && IsHex64(c->sha256) && size.has_value();
  c->size = size.value_or(0);
  if (auto it = l.e.find("exit_status"); it != l.e.end() && it->is_number_integer()) {
    c->exit_status = it->get<int>();
  }
  c->close_reason = Str(l.e, "reason");
  if (!recording_.empty()) {
    ended_ = true;
    ended_because_ = "the log closed it (" + l.where + ")";
  } else if (sel_.channel) {
    ended_ = true;
    ended_because_ = "the channel closed (" + l.where + ")";
  }
  return Status::Ok();
}

// What happened on a channel before its close: SFTP operations, a failed
// recording, progress reports of an open one.
void ReplayLog::ApplyChannelEvent(const LogLine& l) {
  ReplayChannel* c = Channel(l.session, *l.channel, !recording_.empty());
  if (c == nullptr) return;
  if (l.type == "sftp" && c->sftp_ops.size() < kMaxSftpLines) {
    c->sftp_ops.push_back({l.ts, SftpText(l.e)});
  } else if (l.type == "recording_failed") {
    c->failed = EscapeControl(Str(l.e, "error"));
    if (c->recording.empty()) c->recording = Str(l.e, "recording");
  } else if (l.type == "recording_progress" && !c->closed) {
    auto bytes = Unsigned(l.e, "bytes");
    std::string sha = Str(l.e, "sha256");
    if (bytes && IsHex64(sha)) {
      c->has_progress = true;
      c->progress_path = Str(l.e, "path");
      c->progress_bytes = *bytes;
      c->progress_sha256 = sha;
      c->progress_where = l.where;
    }
  }
}

}  // namespace hopgate::hopctl
