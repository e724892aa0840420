// hopctl's cache of a fleet database's events: per origin, a mirror of that
// replica's audit log (the `line` column, in seq order, one line each) that
// the SessionIndex beside it indexes as it indexes a local log. Each call
// appends only the events after the last one the mirror holds (id: origin
// and seq), and the index reads only what was appended, so listing the
// fleet's sessions costs what is new since the last call, not the whole
// database. A small state file per origin (the last seq, the mirror's size
// and its last line's SHA-256) lets a torn append be cut back and a
// database that no longer holds the same events (restored, recreated) be
// noticed: that origin's mirror is then rebuilt. The mirror is derived
// data: deleting the directory loses nothing.
#pragma once

#include <functional>
#include <string>

#include "audit/fleet/pg.h"
#include "common/result.h"

namespace hopgate::audit::fleet {

// $XDG_CACHE_HOME/hopgate/fleet/<hash of the DSN without its password>, or
// $HOME/.cache/... when XDG_CACHE_HOME is unset; "" when neither is set
// (a cron job's or a service's bare environment: the caller then uses a
// temporary cache).
std::string DefaultCacheDir(const std::string& dsn);

// Creates `dir` (mode 0700, parents too) and holds an exclusive lock on it
// while alive, so two hopctl updating one cache take turns.
class CacheLock {
 public:
  static Result<std::unique_ptr<CacheLock>> Take(const std::string& dir);
  ~CacheLock();
  CacheLock(const CacheLock&) = delete;
  CacheLock& operator=(const CacheLock&) = delete;

 private:
  explicit CacheLock(int fd) : fd_(fd) {}
  int fd_;
};

struct MirrorStats {
  uint64_t appended = 0;  // events appended by this call
  bool rebuilt = false;   // the mirror did not match the database
};

// Brings `origin`'s mirror under `dir` (one subdirectory per origin) up to
// date from `db`. `*log_path` gets the mirror's path (an audit log).
Result<MirrorStats> UpdateMirror(Pg& db, const std::string& origin, const std::string& dir,
                                 std::string* log_path);

}  // namespace hopgate::audit::fleet
