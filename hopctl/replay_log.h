// What the audit log says about the recordings `hopctl replay` plays: the
// channels of one session (or the one channel that recorded a given file),
// each with what it ran and, once closed, its recording's size and SHA-256.
// Reads the log (and its rotated files) once, then only the lines appended
// since, so a live session can be followed. The log is input too: lines are
// parsed without exceptions, malformed ones become warnings naming
// FILE:LINE, and conflicting claims about one recording are errors. Not
// thread-safe.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace hopgate::hopctl {

// A session id as the audit log writes them: a connection ("c85d14e7c7ab0653a"),
// one recorded session on it ("c85d14e7c7ab0653a-0", the `session` field), or
// one channel of that session, i.e. one recording ("c85d14e7c7ab0653a-0-1").
struct SessionSelector {
  std::string connection;
  std::string session;              // empty: every session of the connection
  std::optional<uint32_t> channel;  // only with `session`
  std::string ToString() const;
};
// Parses `c<hex>[-N[-M]]`; an error says what a session id looks like.
Result<SessionSelector> ParseSessionId(std::string_view text);

struct SftpOpLine {
  int64_t time_ms = 0;
  std::string text;  // "open /tmp/x (write,create): ok", escaped for a terminal
};

// One session channel of a recorded session (a shell, a command or a
// subsystem) and what the log says about it.
struct ReplayChannel {
  std::string session;      // "<connection>-<N>"
  uint32_t channel = 0;     // the channel's number inside the session
  std::string request;      // shell, exec or subsystem
  std::string command;      // the exec command or subsystem name, as asked
  std::string forced_command;
  std::string user, login, target;  // from the session's session_open
  int64_t start_ms = 0;
  std::string start_where;  // FILE:LINE of the session_request

  bool closed = false;
  std::string close_where;  // FILE:LINE of the session_close
  std::string recording;    // path, from session_close (or recording_failed)
  bool has_digest = false;
  std::string sha256;
  uint64_t size = 0;
  std::optional<int> exit_status;
  std::string close_reason;

  std::string failed;       // recording_failed: the error
  std::vector<SftpOpLine> sftp_ops;

  bool has_progress = false;  // the latest recording_progress before the close
  std::string progress_path, progress_sha256, progress_where;
  uint64_t progress_bytes = 0;

  std::string Id() const { return session + "-" + std::to_string(channel); }
  bool IsSftp() const;  // recorded as file operations, not a cast
};

class ReplayLog {
 public:
  // The channels of `selector`.
  ReplayLog(std::string log_path, SessionSelector selector);
  // The channel whose session_close names `recording` (same file, or the
  // same file name: recordings are named after their session and channel).
  ReplayLog(std::string log_path, std::string recording);

  // Reads what was appended since the last call (the first call reads
  // every file). A log that was rotated meanwhile is read again from the
  // start. Errors: the log cannot be read, or it contradicts itself.
  Status Refresh();

  const std::vector<ReplayChannel>& channels() const { return channels_; }
  const ReplayChannel* Find(const std::string& session, uint32_t channel) const;
  bool found() const { return found_; }   // any event of the selection
  // Nothing more can happen: the connection (or the session, or the
  // channel) ended, or the gateway restarted after it began.
  bool ended() const { return ended_; }
  std::string ended_because() const { return ended_because_; }
  // Malformed lines that mention the selection, as FILE:LINE: why.
  std::vector<std::string> TakeWarnings();
  const std::string& log_path() const { return log_path_; }

 private:
  Status ReadFile(const std::string& file, uint64_t from_offset, uint64_t first_line);
  struct LogLine;
  Status Apply(std::string_view line, const std::string& where);
  bool ApplyEnd(const LogLine& l);
  Status ApplyClose(const LogLine& l);
  void ApplyChannelEvent(const LogLine& l);
  bool Selected(const std::string& connection, const std::string& session,
                std::optional<uint32_t> channel) const;
  ReplayChannel* Channel(const std::string& session, uint32_t channel, bool create);
  void Reset();

  std::string log_path_;
  SessionSelector sel_;
  std::string recording_;       // file mode: the recording's path
  std::string recording_name_;  // ... and its file name
  std::string filter_;          // lines without it are skipped unparsed

  std::vector<ReplayChannel> channels_;
  struct SessionInfo {
    std::string session, user, login, target;
  };
  std::vector<SessionInfo> sessions_;
  bool found_ = false, ended_ = false;
  std::string ended_because_;
  std::vector<std::string> warnings_;

  // Where the next Refresh continues.
  ino_t inode_ = 0;
  uint64_t offset_ = 0, lines_ = 0;
  bool read_once_ = false;
};

}  // namespace hopgate::hopctl
