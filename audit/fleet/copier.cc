#include "audit/fleet/copier.h"

#include <chrono>
#include <set>
#include <vector>

#include <nlohmann/json.hpp>

#include "audit/fleet/log_tail.h"
#include "audit/fleet/pg.h"
#include "audit/fleet/schema.h"
#include "common/clock.h"

namespace hopgate::audit::fleet {
namespace {

// jsonb refuses the escape \u0000; in the jsonb copy it becomes U+FFFD (the
// `line` column keeps the original, byte for byte). A backslash always
// starts an escape inside JSON strings, so scanning escapes in order is exact.
std::string JsonbSafe(std::string_view line) {
  std::string out;
  out.reserve(line.size());
  for (size_t i = 0; i < line.size(); ++i) {
    if (line[i] != '\\' || i + 1 >= line.size()) {
      out += line[i];
      continue;
    }
    if (line.compare(i, 6, "\\u0000") == 0) {
      out += "\\ufffd";
      i += 5;
    } else {
      out += line[i];
      out += line[i + 1];
      ++i;
    }
  }
  return out;
}

// The batch as one jsonb parameter: [{"s": seq, "l": "line", "e": {...}}].
std::string BatchJson(const std::vector<LogLine>& lines) {
  std::string out = "[";
  for (const LogLine& l : lines) {
    if (out.size() > 1) out += ",";
    out += "{\"s\":" + std::to_string(l.seq) + ",\"l\":";
    out += nlohmann::json(l.text).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    out += ",\"e\":";
    std::string safe = JsonbSafe(l.text);
    if (!safe.empty() && safe[0] == '{' && nlohmann::json::accept(safe)) {
      out += safe;
    } else {  // a damaged line still takes its place in the sequence
      out += "{\"type\":\"unreadable_line\",\"seq\":" + std::to_string(l.seq) + "}";
    }
    out += "}";
  }
  return out + "]";
}

constexpr const char* kInsert = R"(
  INSERT INTO audit_events (origin, seq, time, type, conn, username, event, line)
  SELECT $1, (x->>'s')::bigint,
         CASE WHEN x->'e'->>'ts' ~ '^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$'
              THEN (x->'e'->>'ts')::timestamptz END,
         coalesce(x->'e'->>'type', ''), x->'e'->>'connection', x->'e'->>'user', x->'e', x->>'l'
  FROM jsonb_array_elements($2::jsonb) AS x
  ON CONFLICT (origin, seq) DO NOTHING)";

}  // namespace

Copier::Copier(CopierOptions options) : options_(std::move(options)) {}

Copier::~Copier() { Stop(0); }

void Copier::Start() { thread_ = std::thread([this] { Run(); }); }

void Copier::Stop(int drain_ms) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!stop_) drain_until_ms_ = SteadyMs() + drain_ms;
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

bool Copier::Stopping() {
  std::lock_guard<std::mutex> lock(mu_);
  return stop_;
}

bool Copier::PastDrain() {
  std::lock_guard<std::mutex> lock(mu_);
  return stop_ && SteadyMs() >= drain_until_ms_;
}

bool Copier::Pause(int ms) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait_for(lock, std::chrono::milliseconds(ms), [this] { return stop_; });
  return !stop_ || SteadyMs() < drain_until_ms_;
}

void Copier::Report(bool up) {
  if (!options_.status) return;
  uint64_t local = options_.local_size ? options_.local_size() : 0;
  uint64_t done = copied_.load();
  options_.status(local > done ? local - done : 0, up);
}

void Copier::Log(bool error, const std::string& message) {
  if (options_.log) options_.log(error, message);
}

Status Copier::Connect(std::unique_ptr<Pg>* db, LogTail* tail) {
  auto conn = Pg::Connect(options_.dsn);
  if (!conn) return conn.error();
  auto version = Migrate(**conn);
  if (!version) return version.error();
  auto rows = (*conn)->Query("SELECT max(seq) FROM audit_events WHERE origin = $1", {options_.origin});
  if (!rows) return rows.error();
  uint64_t next = 0;
  if (rows->size() == 1 && rows->rows[0][0]) next = std::stoull(*rows->rows[0][0]) + 1;
  tail->Seek(next);
  copied_ = next;
  *db = std::move(*conn);
  return Status::Ok();
}

void Copier::Run() {
  std::set<std::string> warned;  // local-log problems, each logged once
  LogTail tail(options_.log_path, [&](const std::string& w) {
    if (warned.insert(w).second) Log(true, "fleet copy: " + w);
  });
  std::unique_ptr<Pg> db;
  std::vector<LogLine> batch;
  int backoff = options_.min_backoff_ms;
  bool down = false;  // an outage was logged and not yet its end
  int64_t last_check = SteadyMs();
  while (!PastDrain()) {
    if (!db) {
      if (Stopping()) return;  // no draining into a database that is down
      if (Status st = Connect(&db, &tail); !st) {
        if (!down) {
          Log(true, "fleet database unavailable (" + st.message() +
                        "): events stay in the local audit log and are copied when it is back");
        }
        down = true;
        Report(false);
        if (!Pause(backoff)) return;
        backoff = std::min(backoff * 2, options_.max_backoff_ms);
        continue;
      }
      Log(false, std::string(down ? "fleet database back" : "fleet database connected") +
                     ": copying " + options_.origin + " from event " + std::to_string(tail.next()));
      down = false;
      backoff = options_.min_backoff_ms;
      batch.clear();
      last_check = SteadyMs();
    }
    if (batch.empty()) {
      if (Status st = tail.Read(options_.batch, &batch); !st) {
        if (warned.insert(st.message()).second) Log(true, "fleet copy: " + st.message());
      }
    }
    if (batch.empty()) {
      if (Stopping()) return;  // caught up
      // Idle: notice a database that went away, for the metric.
      if (SteadyMs() - last_check >= 2000) {
        last_check = SteadyMs();
        if (Status st = db->Exec("SELECT 1"); !st) {
          Log(true, "fleet database unavailable (" + st.message() +
                        "): events stay in the local audit log and are copied when it is back");
          down = true;
          db.reset();
          continue;
        }
      }
      Report(true);
      if (!Pause(options_.poll_ms)) return;
      continue;
    }
    if (Status st = db->Exec(kInsert, {options_.origin, BatchJson(batch)}); !st) {
      Log(true, "fleet database unavailable (copy failed: " + st.message() +
                    "): events stay in the local audit log and are copied when it is back");
      down = true;
      db.reset();  // the next connection asks where the copy ended
      Report(false);
      if (!Pause(backoff)) return;
      continue;
    }
    copied_ = batch.back().seq + 1;
    batch.clear();
    last_check = SteadyMs();
    Report(true);
  }
}

}  // namespace hopgate::audit::fleet
