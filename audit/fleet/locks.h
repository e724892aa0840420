// Fleet-wide locks (hopctl lock): rows of `fleet_locks`, announced on the
// PostgreSQL channel `hopgate_locks`. LockWatcher keeps a replica's view
// current: it LISTENs, re-reads the active locks on every notification and
// every few seconds anyway (a notification missed while reconnecting cannot
// leave a hole), and hands each new set to a callback.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "audit/fleet/lock_rule.h"
#include "audit/fleet/pg.h"
#include "common/result.h"

namespace hopgate::audit::fleet {

// hopctl's side. Each notifies every replica. `value` as NormalizeLockValue
// returned it (lock_rule.h).
Result<int64_t> AddLock(Pg& db, const std::string& kind, const std::string& value,
                        const std::string& reason, int64_t ttl_seconds /* 0: none */);
Result<std::vector<FleetLock>> ActiveLocks(Pg& db);
// Lifts lock `id`, or (id 0) every lock of `kind` with `value` (all of a
// user's locks: "user", "alice"); returns how many.
Result<int64_t> RemoveLocks(Pg& db, int64_t id, const std::string& kind, const std::string& value);

class LockWatcher {
 public:
  struct Options {
    std::string dsn;
    std::function<void(std::vector<FleetLock>)> on_locks;  // every re-read
    std::function<void(bool error, const std::string&)> log;
    int reread_ms = 5000;
  };
  explicit LockWatcher(Options options);
  ~LockWatcher();  // Stop()
  void Start();
  void Stop();

 private:
  void Run();
  bool Pause(int ms);
  Options options_;
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
};

}  // namespace hopgate::audit::fleet
