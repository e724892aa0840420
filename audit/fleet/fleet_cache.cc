#include "audit/fleet/fleet_cache.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "common/encoding.h"

namespace hopgate::audit::fleet {
namespace {

constexpr int kPage = 5000;

struct State {
  int64_t seq = -1;   // the last event the mirror holds (-1: none)
  uint64_t size = 0;  // the mirror's size after it
  std::string last_sha256;
};

Status Failed(const std::string& what) {
  return MakeError(Code::kPermissionDenied, what + ": " + strerror(errno));
}

// "hopgate/gate-a" -> "hopgate%2Fgate-a": one safe directory name per origin.
std::string DirNameOf(const std::string& origin) {
  std::string out;
  for (unsigned char c : origin) {
    if (isalnum(c) || c == '-' || c == '_' || (c == '.' && !out.empty())) {
      out += static_cast<char>(c);
    } else {
      char hex[4];
      snprintf(hex, sizeof hex, "%%%02X", c);
      out += hex;
    }
  }
  return out;
}

// The state file; a missing or unreadable one is an empty mirror.
State ReadState(const std::string& path) {
  State s;
  FILE* f = fopen(path.c_str(), "re");
  if (f == nullptr) return s;
  char buf[512] = {};
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  auto j = nlohmann::json::parse(std::string(buf, n), nullptr, false);
  if (j.is_object() && j["seq"].is_number_integer() && j["size"].is_number_unsigned() &&
      j["sha256"].is_string()) {
    s.seq = j["seq"].get<int64_t>();
    s.size = j["size"].get<uint64_t>();
    s.last_sha256 = j["sha256"].get<std::string>();
  }
  return s;
}

Status WriteState(const std::string& path, const State& s) {
  nlohmann::json j = {{"seq", s.seq}, {"size", s.size}, {"sha256", s.last_sha256}};
  std::string text = j.dump() + "\n", tmp = path + ".tmp";
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Failed(tmp);
  bool ok = write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  close(fd);
  if (!ok || rename(tmp.c_str(), path.c_str()) != 0) return Failed(path);
  return Status::Ok();
}

// True if the database still holds, at the mirror's last seq, the line the
// mirror ends with (the same events, not a restored or recreated database).
Result<bool> StillMatches(Pg& db, const std::string& origin, const State& s) {
  if (s.seq < 0) return true;
  auto rows = db.Query("SELECT line FROM audit_events WHERE origin = $1 AND seq = $2",
                       {origin, std::to_string(s.seq)});
  if (!rows) return rows.error();
  return rows->size() == 1 && Sha256Hex(rows->rows[0][0].value_or("")) == s.last_sha256;
}

// Appends the events after `s->seq`, page by page, recording each page in
// the state file once it is in the mirror.
Status Append(Pg& db, const std::string& origin, int fd, const std::string& log,
              const std::string& state_path, State* s, MirrorStats* stats) {
  while (true) {
    auto rows = db.Query("SELECT seq, line FROM audit_events WHERE origin = $1 AND seq > $2 "
                         "ORDER BY seq LIMIT " + std::to_string(kPage),
                         {origin, std::to_string(s->seq)});
    if (!rows) return rows.error();
    if (rows->size() == 0) return Status::Ok();
    std::string text;
    for (const auto& row : rows->rows) {
      text += row[1].value_or("");
      text += '\n';
    }
    if (pwrite(fd, text.data(), text.size(), static_cast<off_t>(s->size)) !=
        static_cast<ssize_t>(text.size())) {
      return MakeError(Code::kDataLoss, log + ": " + strerror(errno));
    }
    s->seq = std::stoll(rows->rows.back()[0].value_or("-1"));
    s->size += text.size();
    s->last_sha256 = Sha256Hex(rows->rows.back()[1].value_or(""));
    stats->appended += rows->size();
    if (Status st = WriteState(state_path, *s); !st) return st;
    if (rows->size() < static_cast<size_t>(kPage)) return Status::Ok();
  }
}

}  // namespace

std::string DefaultCacheDir(const std::string& dsn) {
  std::string base;
  if (const char* xdg = getenv("XDG_CACHE_HOME"); xdg && *xdg == '/') {
    base = xdg;
  } else if (const char* home = getenv("HOME"); home && *home == '/') {
    base = std::string(home) + "/.cache";
  } else {
    return "";
  }
  return base + "/hopgate/fleet/" + Sha256Hex(RedactDsn(dsn)).substr(0, 16);
}

Result<std::unique_ptr<CacheLock>> CacheLock::Take(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return MakeError(Code::kPermissionDenied, dir + ": " + ec.message());
  chmod(dir.c_str(), 0700);
  std::string path = dir + "/lock";
  int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return Failed(path).error();
  if (flock(fd, LOCK_EX) != 0) {
    Status st = Failed(path);
    close(fd);
    return st.error();
  }
  return std::unique_ptr<CacheLock>(new CacheLock(fd));
}

CacheLock::~CacheLock() { close(fd_); }  // releases the lock

Result<MirrorStats> UpdateMirror(Pg& db, const std::string& origin, const std::string& dir,
                                 std::string* log_path) {
  MirrorStats stats;
  std::string sub = dir + "/" + DirNameOf(origin);
  std::string state_path = sub + "/state.json";
  *log_path = sub + "/audit.jsonl";
  State s = ReadState(state_path);
  auto same = StillMatches(db, origin, s);
  if (!same) return same.error();
  if (!*same || s.seq < 0) {
    // Rebuilt, or new: nothing of an old mirror or index is kept.
    std::error_code ec;
    std::filesystem::remove_all(sub, ec);
    stats.rebuilt = !*same;
    s = State{};
  }
  if (mkdir(sub.c_str(), 0700) != 0 && errno != EEXIST) return Failed(sub).error();
  int fd = open(log_path->c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return Failed(*log_path).error();
  // Cut a torn append back to what the state file vouches for.
  if (ftruncate(fd, static_cast<off_t>(s.size)) != 0) {
    Status st = Failed(*log_path);
    close(fd);
    return st.error();
  }
  Status st = Append(db, origin, fd, *log_path, state_path, &s, &stats);
  close(fd);
  if (!st) return st.error();
  return stats;
}

}  // namespace hopgate::audit::fleet
