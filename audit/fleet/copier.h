// Copies one replica's audit events to the fleet database, in the
// background: the local audit log stays the source of truth (written first,
// fail-closed); a thread follows it (LogTail) and inserts its lines, in
// order and in batches, into `audit_events` keyed by (origin, seq) with
// ON CONFLICT DO NOTHING, so a copy is exactly once whatever happens in
// between. After a restart or an outage it asks the database how far it got
// (max(seq) for its origin) and resumes there. Nothing here ever blocks a
// login or the audit writer: while the database is down the thread retries
// with backoff and the events wait in the local files.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "common/result.h"

namespace hopgate::audit::fleet {

class Pg;
class LogTail;

struct CopierOptions {
  std::string dsn;       // postgresql://...
  std::string origin;    // this replica's audit origin, hopgate/<node>
  std::string log_path;  // the local audit log
  // Events written to the local log so far (its next seq).
  std::function<uint64_t()> local_size;
  // Called after every step: events not yet in the database, and whether it
  // is reachable (for the metrics).
  std::function<void(uint64_t lag, bool up)> status;
  // Log lines: once per outage, not per retry. `error` false: information.
  std::function<void(bool error, const std::string& message)> log;
  size_t batch = 500;         // lines per INSERT
  int poll_ms = 200;          // how often the log is checked when idle
  int min_backoff_ms = 250;   // reconnects: doubling from this...
  int max_backoff_ms = 5000;  // ...up to this
};

class Copier {
 public:
  explicit Copier(CopierOptions options);
  ~Copier();  // Stop(0)
  Copier(const Copier&) = delete;
  Copier& operator=(const Copier&) = delete;

  void Start();
  // Stops the thread, first copying what it can within `drain_ms` if the
  // database is up. Idempotent.
  void Stop(int drain_ms = 0);
  // The seq the copy has reached (every event before it is in the database).
  uint64_t copied() const { return copied_.load(); }

 private:
  void Run();
  // Connects, migrates the schema and finds where this origin's copy ended.
  Status Connect(std::unique_ptr<Pg>* db, LogTail* tail);
  // Waits up to `ms` (less when stopping); false when the thread should end.
  bool Pause(int ms);
  bool Stopping();
  bool PastDrain();
  void Report(bool up);
  void Log(bool error, const std::string& message);

  CopierOptions options_;
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;           // guarded by mu_
  int64_t drain_until_ms_ = 0;  // guarded by mu_
  std::atomic<uint64_t> copied_{0};
};

}  // namespace hopgate::audit::fleet
