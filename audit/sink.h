// Where audit events go. `Sink` is the interface; FileSink appends JSON lines
// to a tamper-evident file log (one write(2) per event, so each line reaches
// the kernel before Write returns), MemorySink keeps them for tests.
// Implementations are thread-safe: connection threads write concurrently.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "audit/checkpoint.h"
#include "audit/events.h"
#include "audit/merkle.h"
#include "common/result.h"

namespace hopgate::audit {

class Sink {
 public:
  virtual ~Sink() = default;
  // Records one event. An error means the event is not durable: callers that
  // must not proceed unaudited refuse the action.
  virtual Status Write(const Event& event) = 0;
  // True while the last write succeeded (for /healthz).
  virtual bool Healthy() const = 0;
};

// Options of the tamper-evident file log.
struct FileSinkOptions {
  std::string origin = "hopgate/unknown";  // the checkpoints' first line
  uint64_t rotate_size = 0;                 // bytes; 0: never by size
  int64_t rotate_interval_ms = 0;           // 0: never by age
  uint64_t checkpoint_every_events = 10'000;
  CheckpointSigner signer;                  // empty: checkpoints are unsigned
  std::function<int64_t()> clock;           // Unix ms; default: the system clock
};

// The audit log: JSON lines appended to a file, each a leaf of an
// append-only Merkle tree (audit/merkle.h). Every line gains `seq` (its leaf
// index, counted across restarts and rotations) and `prev` (the hex SHA-256
// of the previous line). Signed checkpoints of the tree go into the log as
// `checkpoint` events and into `<path>.checkpoint` / `.checkpoint.sig`
// (replaced atomically); the tree's state is saved in `<path>.tree` so a
// restart continues it without rereading every file (it is rebuilt from the
// files when missing or stale). Rotation renames the file to
// `<stem>.<first seq>.jsonl`. One write(2) per event; a failed write is
// cut back off the file, so the chain never holds half a line.
class FileSink : public Sink {
 public:
  // Opens (creating with mode 0600) `path`, recovering the tree from the
  // saved state and the files. A partial last line (a crash mid-write) is
  // cut off and reported in notes(); lines out of sequence are an error
  // naming the file and line.
  static Result<std::unique_ptr<FileSink>> Open(const std::string& path,
                                                FileSinkOptions options = {});
  ~FileSink() override;

  Status Write(const Event& event) override;
  bool Healthy() const override { return healthy_.load(std::memory_order_relaxed); }
  // Reopens the path (after log rotation by logrotate): the tree continues.
  Status Reopen();
  // The one health state of the log, for /healthz and the metrics alike:
  // true while the last write succeeded and `path` names the file being
  // written. A log renamed or deleted without a SIGHUP (a logrotate that
  // forgot postrotate) is reopened here, so events go on reaching the path;
  // `*reopened` says so. Otherwise `*why` says what is wrong. Writes no
  // event; after a failed write (a full disk) it writes and removes a
  // scratch file `<path>.probe`, and is healthy again once that succeeds.
  bool Check(std::string* why, bool* reopened = nullptr);

  // Writes `progress` (one event per open recording), then a signed
  // checkpoint of every line before it, and updates the checkpoint files and
  // the saved state. `reason`: interval, start, shutdown, ...
  Status WriteCheckpoint(const std::string& reason,
                         const std::vector<RecordingProgress>& progress = {});
  // Rotates if the file is older than rotate_interval (size is checked on
  // every write).
  Status MaybeRotate();
  // Events written so far, across files and restarts (the tree size).
  uint64_t size() const;
  // The tree size when the last checkpoint was written.
  uint64_t checkpointed_size() const;
  // What recovery at Open did (a cut partial line, a rebuilt state).
  const std::vector<std::string>& notes() const { return notes_; }
  const std::string& path() const { return path_; }

 private:
  FileSink(std::string path, FileSinkOptions options);
  Status Recover();
  Status RebuildFromFiles();
  Status ReplayFile(const std::string& file, uint64_t from_offset, bool current);
  Status WriteLocked(const Event& event, bool may_checkpoint);
  Status AppendLineLocked(const std::string& line);
  Status CheckpointLocked(const std::string& reason, const std::vector<RecordingProgress>& progress);
  Status RotateLocked();
  Status SaveStateLocked();
  Status OpenCurrentLocked();
  // True if a scratch file beside the log can be written (room again after
  // a failed write).
  bool ProbeSpaceLocked();
  int64_t Now() const;

  const std::string path_;
  const FileSinkOptions options_;
  mutable std::mutex mu_;
  int fd_ = -1;
  std::atomic<bool> healthy_{true};
  std::string last_error_;  // of the last failed write or reopen (under mu_)
  bool detached_ = false;   // the path no longer names a file we can write (under mu_)
  // The chain (under mu_).
  TreeState tree_;
  std::string prev_hex_;        // SHA-256 of the last line, hex
  uint64_t file_first_seq_ = 0; // seq of the current file's first line
  uint64_t file_bytes_ = 0;     // bytes in the current file
  int64_t file_opened_ms_ = 0;  // when the current file was started
  uint64_t checkpointed_ = 0;   // tree size at the last checkpoint
  bool checkpointing_ = false;
  std::vector<std::string> notes_;
};

class MemorySink : public Sink {
 public:
  Status Write(const Event& event) override;
  bool Healthy() const override { return true; }
  std::vector<nlohmann::json> Events() const;

 private:
  mutable std::mutex mu_;
  std::vector<nlohmann::json> events_;
};

// Stamps events with the time and a connection id and hands them to a Sink;
// counts outcomes through an optional observer (metrics).
class Log {
 public:
  using Clock = std::function<int64_t()>;  // Unix milliseconds
  using Observer = std::function<void(const char* type, bool ok)>;

  Log(std::shared_ptr<Sink> sink, Clock clock) : sink_(std::move(sink)), clock_(std::move(clock)) {}

  Status Record(const std::string& connection, Body body);
  bool Healthy() const { return sink_->Healthy(); }
  Sink& sink() { return *sink_; }
  void set_observer(Observer o) { observer_ = std::move(o); }
  int64_t Now() const { return clock_(); }

 private:
  std::shared_ptr<Sink> sink_;
  Clock clock_;
  Observer observer_;
};

}  // namespace hopgate::audit
