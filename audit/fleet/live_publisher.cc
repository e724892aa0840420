// A replica's side of the live view (live.h): publishes its sessions, beats

// its heartbeat, expires dead replicas, reads the fleet's per-user counts
// and claims the terminate requests addressed to it.
#include <algorithm>
#include <chrono>

#include "audit/fleet/live.h"
#include "audit/fleet/schema.h"
#include "common/clock.h"

namespace hopgate::audit::fleet {
namespace {

std::string Join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ",") + s;
  return out;
}

int64_t Int(const std::optional<std::string>& v) {
  try {
    return v ? std::stoll(*v) : 0;
  } catch (const std::exception&) {
    return 0;
  }
}

constexpr const char* kUpsert =
    "INSERT INTO fleet_sessions (node, conn, username, source, targets, started) "
    "VALUES ($1, $2, $3, $4, $5, to_timestamp($6::double precision / 1000)) "
    "ON CONFLICT (node, conn) DO UPDATE SET targets = EXCLUDED.targets";

}  // namespace

LivePublisher::LivePublisher(Options options) : options_(std::move(options)) {}

LivePublisher::~LivePublisher() { Stop(); }

void LivePublisher::Start() { thread_ = std::thread([this] { Run(); }); }

void LivePublisher::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void LivePublisher::Opened(LiveSession s) {
  std::lock_guard<std::mutex> lock(mu_);
  s.node = options_.node;
  dirty_.insert(s.conn);
  sessions_[s.conn] = std::move(s);
}

void LivePublisher::TargetAdded(const std::string& conn, const std::string& target) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = sessions_.find(conn);
  if (it == sessions_.end()) return;
  auto& t = it->second.targets;
  if (std::find(t.begin(), t.end(), target) != t.end()) return;
  t.push_back(target);
  dirty_.insert(conn);
}

void LivePublisher::Closed(const std::string& conn) {
  std::lock_guard<std::mutex> lock(mu_);
  if (sessions_.erase(conn) > 0) dirty_.insert(conn);
}

std::optional<int64_t> LivePublisher::OthersOf(const std::string& user) const {
  if (!up_.load()) return std::nullopt;
  std::lock_guard<std::mutex> lock(mu_);
  auto it = others_.find(user);
  return it == others_.end() ? 0 : it->second;
}

bool LivePublisher::Pause(int ms) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait_for(lock, std::chrono::milliseconds(ms), [this] { return stop_; });
  return !stop_;
}

bool LivePublisher::Stopping() {
  std::lock_guard<std::mutex> lock(mu_);
  return stop_;
}

void LivePublisher::Run() {
  bool down = false;
  int backoff = 250;
  while (!Stopping()) {
    bool announced = false;
    auto db = Pg::Connect(options_.dsn, 5, 10'000);
    Status st = db ? Serve(**db, &announced) : Status(db.error());
    if (st) return;  // stopped
    up_.store(false);
    if (options_.status) options_.status(-1, false);
    if (announced) {
      down = false;
      backoff = 250;
    }
    if (!down) {
      options_.log(true, "fleet sessions: database unavailable (" + st.message() +
                             "); fleet.max_sessions_per_user is not enforced until it is back "
                             "(limits.max_sessions_per_user still applies)");
    }
    down = true;
    if (!Pause(backoff)) return;
    backoff = std::min(backoff * 2, 5000);
  }
}

Status LivePublisher::Serve(Pg& db, bool* announced) {
  if (auto v = Migrate(db); !v) return v.error();
  if (Status st = db.Exec("LISTEN hopgate_sessions; LISTEN hopgate_terminate"); !st) return st;
  if (Status st = Resync(db); !st) return st;
  if (Status st = ReadCounts(db); !st) return st;
  if (Status st = ClaimTerminations(db); !st) return st;
  up_.store(true);
  *announced = true;
  options_.log(false, "fleet sessions: publishing this replica's live sessions as node " +
                          options_.node + " (heartbeat every " +
                          std::to_string(options_.heartbeat_ms / 1000) + "s)");
  int64_t next_beat = SteadyMs() + options_.heartbeat_ms;
  while (true) {
    if (Stopping()) {
      Withdraw(db);
      return Status::Ok();
    }
    if (Status st = PublishDirty(db); !st) return st;
    bool reread = false;
    if (SteadyMs() >= next_beat) {
      if (Status st = Heartbeat(db); !st) return st;
      next_beat = SteadyMs() + options_.heartbeat_ms;
      reread = true;
    }
    auto n = db.WaitForNotifications(options_.poll_ms);
    if (!n) return n.error();
    if (reread || *n > 0) {
      if (Status st = ReadCounts(db); !st) return st;
      if (Status st = ClaimTerminations(db); !st) return st;
    }
  }
}

// After (re)connecting: this node's rows become exactly its sessions now.
Status LivePublisher::Resync(Pg& db) {
  std::vector<LiveSession> all;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [conn, s] : sessions_) all.push_back(s);
    dirty_.clear();
  }
  if (Status st = db.Exec("BEGIN"); !st) return st;
  Status st = Heartbeat(db);
  if (st) st = db.Exec("DELETE FROM fleet_sessions WHERE node = $1", {options_.node});
  for (size_t i = 0; st && i < all.size(); ++i) {
    const LiveSession& s = all[i];
    st = db.Exec(kUpsert, {options_.node, s.conn, s.user, s.source, Join(s.targets),
                           std::to_string(s.started_ms)});
  }
  if (st) st = db.Exec("COMMIT");
  if (!st) {
    (void)db.Exec("ROLLBACK");
    return st;
  }
  return db.Exec("SELECT pg_notify('hopgate_sessions', $1)", {options_.node});
}

Status LivePublisher::PublishDirty(Pg& db) {
  std::vector<std::pair<std::string, std::optional<LiveSession>>> changes;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (dirty_.empty()) return Status::Ok();
    for (const auto& conn : dirty_) {
      auto it = sessions_.find(conn);
      changes.emplace_back(conn, it == sessions_.end() ? std::nullopt
                                                       : std::optional<LiveSession>(it->second));
    }
    dirty_.clear();
  }
  // A failure here reconnects, and the resync then publishes everything.
  for (const auto& [conn, s] : changes) {
    Status st = s ? db.Exec(kUpsert, {options_.node, conn, s->user, s->source, Join(s->targets),
                                      std::to_string(s->started_ms)})
                  : db.Exec("DELETE FROM fleet_sessions WHERE node = $1 AND conn = $2",
                            {options_.node, conn});
    if (!st) {
      std::lock_guard<std::mutex> lock(mu_);
      for (const auto& c : changes) dirty_.insert(c.first);
      return st;
    }
  }
  return db.Exec("SELECT pg_notify('hopgate_sessions', $1)", {options_.node});
}

// This node is alive for 3 more intervals; replicas past theirs are removed
// with their sessions.
Status LivePublisher::Heartbeat(Pg& db) {
  std::string expiry = std::to_string(3.0 * options_.heartbeat_ms / 1000.0);
  if (Status st = db.Exec(
          "INSERT INTO fleet_nodes (node, last_seen, expires) "
          "VALUES ($1, now(), now() + make_interval(secs => $2::double precision)) "
          "ON CONFLICT (node) DO UPDATE SET last_seen = EXCLUDED.last_seen, "
          "expires = EXCLUDED.expires",
          {options_.node, expiry});
      !st) {
    return st;
  }
  auto gone = db.Query(
      "WITH dead AS (DELETE FROM fleet_nodes WHERE expires < now() RETURNING node), "
      "s AS (DELETE FROM fleet_sessions WHERE node IN (SELECT node FROM dead) RETURNING node) "
      "SELECT d.node, (SELECT count(*) FROM s WHERE s.node = d.node) FROM dead d");
  if (!gone) return gone.error();
  for (const auto& r : gone->rows) {
    options_.log(true, "fleet sessions: replica " + r[0].value_or("?") +
                           " stopped sending heartbeats; its " + r[1].value_or("0") +
                           " live sessions expired");
  }
  return Status::Ok();
}

Status LivePublisher::ReadCounts(Pg& db) {
  auto rows = db.Query(
      "SELECT s.node, s.username, count(*) FROM fleet_sessions s "
      "JOIN fleet_nodes n ON n.node = s.node WHERE n.expires > now() GROUP BY 1, 2");
  if (!rows) return rows.error();
  std::map<std::string, int64_t> others;
  int64_t total = 0;
  for (const auto& r : rows->rows) {
    int64_t n = Int(r[2]);
    total += n;
    if (r[0].value_or("") != options_.node) others[r[1].value_or("")] += n;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    others_ = std::move(others);
  }
  if (options_.status) options_.status(total, true);
  return Status::Ok();
}

Status LivePublisher::ClaimTerminations(Pg& db) {
  auto rows = db.Query(
      "UPDATE fleet_terminations SET claimed = now() WHERE node = $1 AND claimed IS NULL "
      "RETURNING id, conn, reason, requested_by",
      {options_.node});
  if (!rows) return rows.error();
  if (rows->size() == 0) return Status::Ok();
  std::vector<Termination> out;
  for (const auto& r : rows->rows) {
    out.push_back(Termination{Int(r[0]), r[1].value_or(""), r[2].value_or(""), r[3].value_or("")});
  }
  if (options_.on_terminate) options_.on_terminate(std::move(out));
  return Status::Ok();
}

// A clean stop: nothing of this node is left to expire.
void LivePublisher::Withdraw(Pg& db) {
  Status st = db.Exec(
      "WITH s AS (DELETE FROM fleet_sessions WHERE node = $1), "
      "n AS (DELETE FROM fleet_nodes WHERE node = $1) "
      "SELECT pg_notify('hopgate_sessions', $1)",
      {options_.node});
  if (!st) options_.log(true, "fleet sessions: could not withdraw at stop: " + st.message());
}

}  // namespace hopgate::audit::fleet
