// Locks without a fleet database: a JSON file (config locks.file, default
// locks.json beside the audit log) that hopctl lock/unlock rewrite and the
// gateway watches. The same FleetLock values as the database holds
// (lock_rule.h), so the gateway applies both the same way.
//
//   {"version": 1, "next_id": 3, "locks": [
//     {"id": 2, "kind": "user", "value": "alice", "reason": "left",
//      "created": "2026-12-06T05:30:00Z", "expires": "2026-12-06T06:30:00Z"}]}
//
// Writers take an exclusive flock(2) on PATH.lock, read the file, write
// PATH.tmp, fsync it and rename it over PATH: readers only ever see a whole
// file, and ids only grow (next_id), even across unlocks.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "audit/fleet/lock_rule.h"
#include "common/result.h"

namespace hopgate::audit::fleet {

struct LocksFile {
  int64_t next_id = 1;
  std::vector<FleetLock> locks;  // as stored, expired ones included
};

// Strict: unknown keys, bad kinds or values, duplicate ids are errors naming
// `path` and the line:column (JSON syntax) or the lock ("locks[2] (id 5)").
Result<LocksFile> ParseLocksFile(std::string_view text, const std::string& path);
std::string SerializeLocksFile(const LocksFile& file);
// A missing file is an empty set of locks.
Result<LocksFile> ReadLocksFile(const std::string& path);
// The locks not expired at `now_unix`.
std::vector<FleetLock> ActiveFileLocks(const LocksFile& file, int64_t now_unix);

// hopctl's side. `value` as NormalizeLockValue returned it. A malformed file
// is left as it is and the error returned: locks are never dropped unseen.
Result<int64_t> AddFileLock(const std::string& path, const std::string& kind,
                            const std::string& value, const std::string& reason,
                            int64_t ttl_seconds /* 0: none */, int64_t now_unix);
// Lifts lock `id`, or (id 0) every lock of `kind` with `value`; expired
// locks are dropped from the file too. Returns how many active locks it lifted.
Result<int64_t> RemoveFileLocks(const std::string& path, int64_t id, const std::string& kind,
                                const std::string& value, int64_t now_unix);

// The gateway's side: checks the file every `poll_ms` (stat: inode, size,
// times), re-reads it when it changed and hands the new locks to on_locks.
// A file that cannot be read or parsed is reported through log(true, ...)
// once per change and the last good locks stay in force.
class LocksFileWatcher {
 public:
  struct Options {
    std::string path;
    std::function<void(std::vector<FleetLock>)> on_locks;
    std::function<void(bool error, const std::string&)> log;
    int poll_ms = 250;
  };
  explicit LocksFileWatcher(Options options);
  ~LocksFileWatcher();  // Stop()
  // Reads the file once (so locks apply before the first login), then polls.
  void Start();
  void Stop();

 private:
  void Poll();
  void Run();
  Options options_;
  std::string seen_;  // the stat signature last read ("" before the first)
  size_t good_count_ = 0;
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
};

}  // namespace hopgate::audit::fleet
