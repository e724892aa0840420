#include "audit/fleet/locks_file.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <fstream>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "common/strings.h"
#include "common/time_util.h"
#include "common/unique_fd.h"

namespace hopgate::audit::fleet {
namespace {

using nlohmann::json;

Error Bad(const std::string& path, const std::string& where, const std::string& reason) {
  return MakeError(Code::kInvalidArgument, path + ": " + where + reason);
}

// "2026-12-06T05:30:00Z" -> Unix seconds.
std::optional<int64_t> ParseUtc(const std::string& text) {
  struct tm tm {};
  char z = 0;
  int n = 0;
  if (sscanf(text.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%c%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
             &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &z, &n) != 7 ||
      z != 'Z' || static_cast<size_t>(n) != text.size() || text.size() != 20) {
    return std::nullopt;
  }
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  int64_t t = timegm(&tm);
  if (FormatRfc3339(t) != text) return std::nullopt;  // 2026-02-31 and the like
  return t;
}

// "line L, column C" of byte offset `byte` (1-based, as nlohmann reports it).
std::string LineColumn(std::string_view text, size_t byte) {
  size_t line = 1, col = 1;
  for (size_t i = 0; i + 1 < byte && i < text.size(); ++i) {
    if (text[i] == '\n') {
      ++line;
      col = 1;
    } else {
      ++col;
    }
  }
  return std::to_string(line) + ":" + std::to_string(col);
}

Result<FleetLock> ParseLock(const json& j, const std::string& path, const std::string& where) {
  if (!j.is_object()) return Bad(path, where, "a lock must be an object");
  for (const auto& [k, v] : j.items()) {
    static const std::set<std::string> known = {"id", "kind", "value", "reason", "created", "expires"};
    if (!known.count(k)) return Bad(path, where, "unknown key " + Quote(k));
  }
  FleetLock l;
  if (!j.contains("id") || !j["id"].is_number_integer() || j["id"].get<int64_t>() < 1) {
    return Bad(path, where, "id must be a positive integer");
  }
  l.id = j["id"].get<int64_t>();
  std::string at = where.substr(0, where.size() - 2) + " (id " + std::to_string(l.id) + "): ";
  for (const char* key : {"kind", "value"}) {
    if (!j.contains(key) || !j[key].is_string()) return Bad(path, at, std::string(key) + " must be a string");
  }
  l.kind = j["kind"].get<std::string>();
  auto value = NormalizeLockValue(l.kind, j["value"].get<std::string>());
  if (!value) return Bad(path, at, value.message());
  l.value = *value;
  for (auto [key, out] : {std::pair{"reason", &l.reason}, std::pair{"created", &l.created}}) {
    if (!j.contains(key)) continue;
    if (!j[key].is_string()) return Bad(path, at, std::string(key) + " must be a string");
    *out = j[key].get<std::string>();
  }
  if (!l.created.empty() && !ParseUtc(l.created)) {
    return Bad(path, at, "created must be a UTC time like 2026-12-06T05:30:00Z");
  }
  if (j.contains("expires") && !j["expires"].is_null()) {
    std::optional<int64_t> t;
    if (j["expires"].is_string()) t = ParseUtc(j["expires"].get<std::string>());
    if (!t) return Bad(path, at, "expires must be null or a UTC time like 2026-12-06T05:30:00Z");
    l.expires = j["expires"].get<std::string>();
    l.expires_unix = *t;
  }
  return l;
}

// Takes an exclusive lock on PATH.lock for the life of the returned fd.
Result<UniqueFd> LockForWriting(const std::string& path) {
  std::string lock_path = path + ".lock";
  UniqueFd fd(open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (!fd) return MakeError(Code::kUnavailable, lock_path + ": " + strerror(errno));
  if (flock(fd.get(), LOCK_EX) != 0) {
    return MakeError(Code::kUnavailable, lock_path + ": flock: " + strerror(errno));
  }
  return fd;
}

// Writes PATH.tmp (mode 0640; owned like its directory when run as root,
// so a gateway running as its own user can read it), then renames it.
Status WriteAtomically(const std::string& path, const std::string& text) {
  std::string tmp = path + ".tmp";
  UniqueFd fd(open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640));
  if (!fd) return MakeError(Code::kUnavailable, tmp + ": " + strerror(errno));
  size_t slash = path.rfind('/');
  std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
  struct stat ds {};
  if (geteuid() == 0 && stat(dir.c_str(), &ds) == 0) (void)fchown(fd.get(), ds.st_uid, ds.st_gid);
  for (size_t done = 0; done < text.size();) {
    ssize_t n = write(fd.get(), text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      std::string why = strerror(errno);
      unlink(tmp.c_str());
      return MakeError(Code::kUnavailable, tmp + ": " + why);
    }
    done += static_cast<size_t>(n);
  }
  if (fsync(fd.get()) != 0 || rename(tmp.c_str(), path.c_str()) != 0) {
    std::string why = strerror(errno);
    unlink(tmp.c_str());
    return MakeError(Code::kUnavailable, path + ": " + why);
  }
  UniqueFd d(open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (d) (void)fsync(d.get());
  return Status::Ok();
}

// Runs `change` on the file's contents under the writers' lock and writes
// the result; the file is left untouched if it cannot be read or parsed.
template <typename F>
Result<int64_t> Rewrite(const std::string& path, int64_t now_unix, F change) {
  auto lock = LockForWriting(path);
  if (!lock) return lock.error();
  auto file = ReadLocksFile(path);
  if (!file) return file.error();
  int64_t result = change(*file);
  // Expired locks go; the ids they had are never given again (next_id).
  file->locks = ActiveFileLocks(*file, now_unix);
  if (Status st = WriteAtomically(path, SerializeLocksFile(*file)); !st) return st.error();
  return result;
}

}  // namespace

Result<LocksFile> ParseLocksFile(std::string_view text, const std::string& path) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::parse_error& e) {
    // "[json.exception.parse_error.101] parse error at line 1, column 2: syntax error ..."
    std::string what = e.what();
    size_t at = what.find(": ", what.find("parse error"));
    std::string reason = at == std::string::npos ? what : what.substr(at + 2);
    return MakeError(Code::kInvalidArgument, path + ":" + LineColumn(text, e.byte) + ": " + reason);
  }
  if (!j.is_object()) return Bad(path, "", "not a JSON object");
  for (const auto& [k, v] : j.items()) {
    if (k != "version" && k != "next_id" && k != "locks") return Bad(path, "", "unknown key " + Quote(k));
  }
  if (!j.contains("version") || j["version"] != 1) return Bad(path, "", "version must be 1");
  if (!j.contains("next_id") || !j["next_id"].is_number_integer() || j["next_id"].get<int64_t>() < 1) {
    return Bad(path, "", "next_id must be a positive integer");
  }
  if (!j.contains("locks") || !j["locks"].is_array()) return Bad(path, "", "locks must be an array");
  LocksFile out;
  out.next_id = j["next_id"].get<int64_t>();
  std::set<int64_t> ids;
  for (size_t i = 0; i < j["locks"].size(); ++i) {
    std::string where = "locks[" + std::to_string(i) + "]: ";
    auto l = ParseLock(j["locks"][i], path, where);
    if (!l) return l.error();
    if (!ids.insert(l->id).second) return Bad(path, where, "id " + std::to_string(l->id) + " appears twice");
    if (l->id >= out.next_id) {
      return Bad(path, where, "id " + std::to_string(l->id) + " is not below next_id " +
                                  std::to_string(out.next_id));
    }
    out.locks.push_back(std::move(*l));
  }
  return out;
}

std::string SerializeLocksFile(const LocksFile& file) {
  json locks = json::array();
  for (const auto& l : file.locks) {
    json j = {{"id", l.id}, {"kind", l.kind}, {"value", l.value}, {"reason", l.reason},
              {"created", l.created}};
    j["expires"] = l.expires.empty() ? json(nullptr) : json(l.expires);
    locks.push_back(std::move(j));
  }
  json out = {{"version", 1}, {"next_id", file.next_id}, {"locks", std::move(locks)}};
  // A reason in bytes that are not UTF-8 is written with U+FFFD for them
  // (dump() would throw on them).
  return out.dump(2, ' ', false, json::error_handler_t::replace) + "\n";
}

Result<LocksFile> ReadLocksFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    if (errno == ENOENT) return LocksFile{};
    return MakeError(Code::kUnavailable, path + ": " + strerror(errno));
  }
  std::stringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return MakeError(Code::kUnavailable, path + ": read error");
  return ParseLocksFile(ss.str(), path);
}

std::vector<FleetLock> ActiveFileLocks(const LocksFile& file, int64_t now_unix) {
  std::vector<FleetLock> out;
  for (const auto& l : file.locks) {
    if (l.expires_unix == 0 || l.expires_unix > now_unix) out.push_back(l);
  }
  return out;
}

Result<int64_t> AddFileLock(const std::string& path, const std::string& kind,
                            const std::string& value, const std::string& reason,
                            int64_t ttl_seconds, int64_t now_unix) {
  return Rewrite(path, now_unix, [&](LocksFile& f) {
    FleetLock l;
    l.id = f.next_id++;
    l.kind = kind;
    l.value = value;
    l.reason = reason;
    l.created = FormatRfc3339(now_unix);
    if (ttl_seconds > 0) {
      l.expires_unix = now_unix + ttl_seconds;
      l.expires = FormatRfc3339(l.expires_unix);
    }
    f.locks.push_back(l);
    return l.id;
  });
}

Result<int64_t> RemoveFileLocks(const std::string& path, int64_t id, const std::string& kind,
                                const std::string& value, int64_t now_unix) {
  return Rewrite(path, now_unix, [&](LocksFile& f) {
    int64_t n = 0;
    std::vector<FleetLock> kept;
    for (auto& l : f.locks) {
      bool hit = id != 0 ? l.id == id : l.kind == kind && l.value == value;
      bool active = l.expires_unix == 0 || l.expires_unix > now_unix;
      if (hit && active) ++n;
      if (!hit) kept.push_back(std::move(l));
    }
    f.locks = std::move(kept);
    return n;
  });
}

}  // namespace hopgate::audit::fleet
