// The session index: an SQLite database beside the audit log
// (`<log>.index.sqlite`) that makes sessions findable: one row per
// connection ("session") with its user, source, targets, logins, bytes and
// end, its channels, decisions, recorded sub-sessions (exec commands, exit
// statuses, recordings) and SFTP operations, and a full-text index (FTS5)
// of what recorded terminals showed, what was typed where input is
// recorded, and exec commands.
//
// Derived data only: Update() brings it up to date from the log files
// (audit/log_files.h) and the recordings they name, remembering per file
// how far it read (the last seq and byte offset) and per recording how far
// it indexed, so each call reads only what is new; deleting the file loses
// nothing. Recordings are hostile input: malformed lines are skipped with a
// warning. One SessionIndex per thread; several processes may share the
// file (SQLite locking).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/result.h"

namespace hopgate::audit {

class Db;

struct IndexOptions {
  std::string log_path;        // the audit log (rotated files are found beside it)
  std::string index_path;      // default: <log_path>.index.sqlite
  std::string recordings_dir;  // where to look for recordings moved with the log
                               // (default: recordings/ beside the log)
  // Called with problems that do not stop indexing: "FILE:LINE: reason".
  std::function<void(const std::string&)> warn;
  // Called during Update() with the phase ("audit log", then "recordings"),
  // the bytes of it read so far and its total.
  std::function<void(const char* phase, uint64_t done, uint64_t total)> progress;
};

// `<log_path>.index.sqlite`.
std::string DefaultIndexPath(const std::string& log_path);

// The audit log in directory `dir` (an auditor's copy): the one log its
// `.jsonl` files belong to, live (`<stem>.jsonl`) or rotated
// (`<stem>.<seq>.jsonl`), as a path LogFilesOf() reads (the live file's,
// whether or not it exists). An error naming the directory when it holds
// no log, or several.
Result<std::string> LogInDirectory(const std::string& dir);

struct UpdateStats {
  uint64_t events = 0;       // new log lines applied
  uint64_t log_bytes = 0;    // log bytes read
  uint64_t recordings = 0;   // recordings read (in part or whole)
  uint64_t cast_bytes = 0;   // recording bytes read
  uint64_t text_lines = 0;   // lines added to the full-text index
  bool rebuilt = false;      // the index did not match the log and was rebuilt
};

// One session (one client connection), as `hopctl sessions` lists it.
struct SessionSummary {
  std::string id;  // connection id, "c…"
  std::string user;
  std::string source_addr;
  int64_t source_port = 0;
  std::string auth_method;  // publickey, certificate
  std::optional<int64_t> start_ms, end_ms;
  std::vector<std::string> targets;  // allowed destinations, in order, distinct
  std::vector<std::string> hosts;    // their hosts: entries
  std::vector<std::string> logins;   // logins on recorded targets, distinct
  std::vector<std::string> recordings;  // ids of recorded channels ("c…-0-0")
  bool recorded = false;
  uint64_t bytes_up = 0, bytes_down = 0;  // client->target, target->client (outer channels)
  std::vector<int64_t> exit_statuses;     // of recorded channels, in order
  std::vector<std::string> exit_signals;  // of recorded channels killed by a signal
  int64_t channels = 0, denied = 0;
  std::string end_reason;  // empty while open

  std::string Source() const;  // "addr:port", IPv6 bracketed
  nlohmann::json ToJson() const;
};

// What `hopctl sessions` filters on; unset fields match everything.
struct SessionFilter {
  std::string user;
  std::string target;  // a destination as requested (db1:22) or its host part (db1)
  std::string from;    // an address, address:port or CIDR block
  std::optional<int64_t> since_ms, until_ms;  // sessions active in [since, until]
  bool recorded_only = false;

  // An error for a `from` that is none of the above.
  Status Check() const;
  bool Matches(const SessionSummary& s) const;
};

// A line of recorded text (or an exec command) that --grep found.
struct TextMatch {
  std::string session;  // connection id
  std::string part;     // the recorded channel, "c…-0-0"
  std::string kind;     // output, input, command
  double offset = 0;    // seconds into the recording
  std::optional<int64_t> time_ms;  // wall time, when known
  std::string user;
  std::string text;

  nlohmann::json ToJson() const;
};

struct RecordingInfo {
  std::string part;  // "c…-0-0"
  std::string path;  // as the log names it
  std::string sha256;
  std::optional<int64_t> size;
  bool closed = false;
  int64_t indexed_lines = 0;
};

class SessionIndex {
 public:
  // Opens (creating) the index. An index of another schema version is
  // rebuilt; an unreadable one is an error naming the file (delete it or
  // use --reindex).
  static Result<std::unique_ptr<SessionIndex>> Open(IndexOptions options);
  // Deletes the index file and opens a fresh one.
  static Result<std::unique_ptr<SessionIndex>> Recreate(IndexOptions options);
  ~SessionIndex();

  // Reads what is new in the log and the recordings.
  Result<UpdateStats> Update();

  Result<std::vector<SessionSummary>> Sessions(const SessionFilter& filter);
  Result<std::optional<SessionSummary>> Session(const std::string& id);
  // Lines containing `text` (ASCII case ignored) whose first word starts a
  // word of the line, in sessions the filter admits, in the order they were
  // indexed (by recording, in time order within one); at most `limit`
  // (0: all), each passed to `each`.
  Status Grep(const std::string& text, const SessionFilter& filter, size_t limit,
              const std::function<void(const TextMatch&)>& each);
  // The session's audit events (the log's own lines, parsed), in log order.
  Result<std::vector<nlohmann::json>> Events(const std::string& id);
  Result<std::vector<RecordingInfo>> Recordings(const std::string& id);

  const std::string& path() const { return options_.index_path; }

 private:
  SessionIndex(IndexOptions options, std::unique_ptr<Db> db);
  IndexOptions options_;
  std::unique_ptr<Db> db_;
};

}  // namespace hopgate::audit
