#include "audit/fleet/locks.h"

#include <chrono>

#include "audit/fleet/schema.h"
#include "common/clock.h"

namespace hopgate::audit::fleet {
Result<int64_t> AddLock(Pg& db, const std::string& kind, const std::string& value,
                        const std::string& reason, int64_t ttl_seconds) {
  if (auto v = Migrate(db); !v) return v.error();
  std::optional<std::string> ttl;
  if (ttl_seconds > 0) ttl = std::to_string(ttl_seconds);
  auto rows = db.Query(
      "WITH l AS (INSERT INTO fleet_locks (kind, value, reason, expires) "
      "VALUES ($1, $2, $3, now() + make_interval(secs => $4::bigint)) RETURNING id) "
      "SELECT id, pg_notify('hopgate_locks', id::text) FROM l",
      {kind, value, reason, ttl});
  if (!rows) return rows.error();
  if (rows->size() != 1 || !rows->rows[0][0]) return MakeError(Code::kInternal, "no lock id");
  return std::stoll(*rows->rows[0][0]);
}

Result<std::vector<FleetLock>> ActiveLocks(Pg& db) {
  // A database no replica has set up yet (no table) has no locks.
  auto exists = db.Query("SELECT to_regclass('fleet_locks') IS NOT NULL");
  if (!exists) return exists.error();
  if (exists->rows.size() != 1 || exists->rows[0][0].value_or("f") != "t") {
    return std::vector<FleetLock>{};
  }
  auto rows = db.Query(
      "SELECT id, kind, value, reason, "
      "to_char(created AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), "
      "to_char(expires AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), "
      "coalesce(ceil(extract(epoch FROM expires))::bigint, 0) "
      "FROM fleet_locks WHERE expires IS NULL OR expires > now() ORDER BY id");
  if (!rows) return rows.error();
  std::vector<FleetLock> out;
  for (const auto& r : rows->rows) {
    out.push_back(FleetLock{std::stoll(r[0].value_or("0")), r[1].value_or(""), r[2].value_or(""),
                            r[3].value_or(""), r[4].value_or(""), r[5].value_or(""),
                            std::stoll(r[6].value_or("0"))});
  }
  return out;
}

Result<int64_t> RemoveLocks(Pg& db, int64_t id, const std::string& kind, const std::string& value) {
  if (auto v = Migrate(db); !v) return v.error();
  auto rows = id != 0 ? db.Query("WITH d AS (DELETE FROM fleet_locks WHERE id = $1 RETURNING id) "
                                 "SELECT count(*), pg_notify('hopgate_locks', 'unlock') FROM d",
                                 {std::to_string(id)})
                      : db.Query("WITH d AS (DELETE FROM fleet_locks WHERE kind = $1 AND "
                                 "value = $2 RETURNING id) "
                                 "SELECT count(*), pg_notify('hopgate_locks', 'unlock') FROM d",
                                 {kind, value});
  if (!rows) return rows.error();
  return std::stoll(rows->rows.at(0)[0].value_or("0"));
}

LockWatcher::LockWatcher(Options options) : options_(std::move(options)) {}

LockWatcher::~LockWatcher() { Stop(); }

void LockWatcher::Start() { thread_ = std::thread([this] { Run(); }); }

void LockWatcher::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

bool LockWatcher::Pause(int ms) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait_for(lock, std::chrono::milliseconds(ms), [this] { return stop_; });
  return !stop_;
}

void LockWatcher::Run() {
  bool down = false;
  int backoff = 250;
  while (Pause(0)) {
    auto db = Pg::Connect(options_.dsn);
    Status st = db ? Status::Ok() : Status(db.error());
    if (st) {
      if (auto v = Migrate(**db); !v) st = v.error();
    }
    if (st) st = (*db)->Exec("LISTEN hopgate_locks");
    int64_t next_read = 0;
    bool first = true;
    while (st) {  // one connection's life
      if (SteadyMs() >= next_read) {
        auto locks = ActiveLocks(**db);
        if (!locks) {
          st = locks.error();
          break;
        }
        if (first) {
          options_.log(false, std::string(down ? "fleet locks: database back" : "fleet locks") +
                                  ": listening for changes, " + std::to_string(locks->size()) +
                                  " in force");
        }
        down = false;
        backoff = 250;
        first = false;
        options_.on_locks(std::move(*locks));
        next_read = SteadyMs() + options_.reread_ms;
      }
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (stop_) return;
      }
      // Short waits so Stop() is prompt; a notification re-reads at once.
      auto n = (*db)->WaitForNotifications(250);
      if (!n) {
        st = n.error();
      } else if (*n > 0) {
        next_read = 0;
      }
    }
    if (!down) {
      options_.log(true, "fleet locks: database unavailable (" + st.message() +
                             "); the last locks read stay in force");
    }
    down = true;
    if (!Pause(backoff)) return;
    backoff = std::min(backoff * 2, 5000);
  }
}

}  // namespace hopgate::audit::fleet
