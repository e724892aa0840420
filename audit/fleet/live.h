// The fleet's live view (schema migration 3): which sessions are open right
// now on which replica, and hopctl terminate's requests.
//
// Each replica runs a LivePublisher: a thread with its own connection that
// mirrors the replica's authenticated connections into `fleet_sessions`
// (logins only enqueue; nothing here ever blocks one) and beats its
// heartbeat in `fleet_nodes` every interval. A replica whose heartbeat is
// older than 3 intervals is dead: its rows stop counting at once and the
// next heartbeat of any replica deletes them. The same thread LISTENs on
// `hopgate_sessions` (any replica's change: it re-reads every user's count
// on the other replicas, for fleet.max_sessions_per_user) and
// `hopgate_terminate` (claims the requests addressed to its node).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "audit/fleet/pg.h"
#include "common/result.h"

namespace hopgate::audit::fleet {

struct LiveSession {
  std::string node;    // the replica serving it
  std::string conn;    // its connection id (c…)
  std::string user;
  std::string source;  // client address:port
  std::vector<std::string> targets;  // destinations opened so far (host:port), in order
  int64_t started_ms = 0;   // Unix ms, when it authenticated
  int64_t duration_ms = 0;  // read back: how long it has been open (database clock)
};

// hopctl's side. Sessions of live replicas only (expired rows excluded),
// oldest first.
Result<std::vector<LiveSession>> ListLiveSessions(Pg& db);

struct TerminationRequest {
  int64_t id = 0;
  std::string node;  // the replica holding the session
};
// Asks the replica holding live session `conn` to end it; nullopt when no
// live replica holds it. Notifies every replica.
Result<std::optional<TerminationRequest>> RequestTermination(Pg& db, const std::string& conn,
                                                             const std::string& reason,
                                                             const std::string& requested_by);
// True once the replica took request `id` and `conn` is gone from the live view.
Result<bool> TerminationDone(Pg& db, int64_t id, const std::string& conn);

// A request a replica claimed: end connection `conn`.
struct Termination {
  int64_t id = 0;
  std::string conn, reason, requested_by;
};

class LivePublisher {
 public:
  struct Options {
    std::string dsn;
    std::string node;
    int heartbeat_ms = 5000;  // sessions expire 3 heartbeats after the last
    int poll_ms = 100;        // how soon queued changes and notifications are seen
    std::function<void(std::vector<Termination>)> on_terminate;
    // After every read: sessions open across the fleet, and whether the
    // database is reachable.
    std::function<void(int64_t fleet_sessions, bool up)> status;
    std::function<void(bool error, const std::string&)> log;
  };
  explicit LivePublisher(Options options);
  ~LivePublisher();  // Stop()
  LivePublisher(const LivePublisher&) = delete;
  LivePublisher& operator=(const LivePublisher&) = delete;

  void Start();
  // Stops the thread; with the database up, removes this replica's rows
  // first (a clean stop leaves nothing to expire). Idempotent.
  void Stop();

  // Any thread; never blocks on the database.
  void Opened(LiveSession s);
  void TargetAdded(const std::string& conn, const std::string& target);
  void Closed(const std::string& conn);
  // The user's live sessions on the other replicas as last read; nullopt
  // while the database is unavailable (the caller falls back to its own
  // count).
  std::optional<int64_t> OthersOf(const std::string& user) const;

 private:
  void Run();
  // One connection's life: resync, then publish changes until it breaks.
  Status Serve(Pg& db, bool* announced);
  Status Resync(Pg& db);
  Status PublishDirty(Pg& db);
  Status Heartbeat(Pg& db);
  Status ReadCounts(Pg& db);
  Status ClaimTerminations(Pg& db);
  void Withdraw(Pg& db);
  bool Pause(int ms);
  bool Stopping();

  Options options_;
  std::thread thread_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;                              // guarded by mu_
  std::map<std::string, LiveSession> sessions_;    // guarded by mu_: this replica's
  std::set<std::string> dirty_;                    // guarded by mu_: not yet published
  std::map<std::string, int64_t> others_;          // guarded by mu_: user -> count elsewhere
  std::atomic<bool> up_{false};
};

}  // namespace hopgate::audit::fleet
