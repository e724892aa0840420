// Which files make up a log and in what order (declared in verify.h).
#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <set>
#include <utility>

#include "audit/line_scan.h"
#include "audit/log_files.h"
#include "audit/verify.h"

namespace hopgate::audit {
namespace {

bool EndsWith(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

bool AllDigits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// Files beside a log that are not lines of it: checkpoints, the writer's
// state, temporary and probe files, and the session index hopctl keeps
// there (`<log>.index.sqlite`, with SQLite's -wal, -shm and -journal).
bool IsSideFile(const std::string& name) {
  return EndsWith(name, ".checkpoint") || EndsWith(name, ".checkpoint.sig") ||
         EndsWith(name, ".sig") || EndsWith(name, ".tree") || EndsWith(name, ".tmp") ||
         EndsWith(name, ".probe") || EndsWith(name, ".sqlite") ||
         name.find(".sqlite-") != std::string::npos ||
         name.find(".before-tree.") != std::string::npos;
}

bool IsRegular(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

std::vector<std::string> Entries(const std::string& dir) {
  std::vector<std::string> names;
  if (DIR* d = opendir(dir.c_str())) {
    while (dirent* e = readdir(d)) {
      std::string name = e->d_name;
      if (name != "." && name != "..") names.push_back(name);
    }
    closedir(d);
  }
  std::sort(names.begin(), names.end());
  return names;
}

// The first line of `file` (up to 1 MiB), or "" if it has none.
std::string FirstLine(const std::string& file) {
  std::string first;
  (void)ForEachLine(file, [&](std::string_view line, uint64_t, uint64_t) -> Status {
    first = std::string(line);
    return MakeError(Code::kFailedPrecondition, "first line read");
  });
  return first;
}

bool FirstSeq(const std::string& file, uint64_t* seq) {
  LineFields f;
  std::string line = FirstLine(file);
  if (ScanLine(line, &f) != nullptr || !f.has_seq) return false;
  *seq = f.seq;
  return true;
}

// Log files in a directory: names with ".jsonl" in them, or any other file
// whose first line carries a seq; never the checkpoint, state or temp files.
std::vector<std::string> DirLogFiles(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& name : Entries(dir)) {
    std::string path = dir + "/" + name;
    if (IsSideFile(name) || !IsRegular(path)) continue;
    uint64_t seq;
    if (name.find(".jsonl") != std::string::npos || FirstSeq(path, &seq)) out.push_back(path);
  }
  return out;
}

// The log at `path`: rotated files, files logrotate renamed (`NAME.1`,
// `NAME-20261121`), and the file itself.
std::vector<std::string> OneLog(const std::string& path) {
  std::vector<std::string> out = LogFilesOf(path);
  for (auto& f : RenamedFilesOf(path)) out.push_back(std::move(f));
  return out;
}

// The number in `<stem>.<seq>.jsonl`, for a file whose first line is unreadable.
uint64_t SeqFromName(const std::string& file) {
  if (!EndsWith(file, ".jsonl")) return UINT64_MAX;
  std::string stem = file.substr(0, file.size() - 6);
  size_t dot = stem.rfind('.');
  if (dot == std::string::npos || !AllDigits(std::string_view(stem).substr(dot + 1)) ||
      stem.size() - dot - 1 > 19) {
    return UINT64_MAX;
  }
  return std::stoull(stem.substr(dot + 1));
}

}  // namespace

Result<std::vector<std::string>> LogFilesFor(const std::vector<std::string>& paths) {
  if (paths.empty()) return MakeError(Code::kInvalidArgument, "no log files given");
  std::vector<std::string> out;
  for (const auto& p : paths) {
    struct stat st;
    if (stat(p.c_str(), &st) != 0) {
      return MakeError(errno == ENOENT ? Code::kNotFound : Code::kPermissionDenied,
                       p + ": " + strerror(errno));
    }
    std::vector<std::string> found;
    if (S_ISDIR(st.st_mode)) {
      found = DirLogFiles(p);
      if (found.empty()) return MakeError(Code::kNotFound, p + ": no audit log files in it");
    } else if (paths.size() == 1) {
      found = OneLog(p);
    } else {
      found = {p};
    }
    out.insert(out.end(), found.begin(), found.end());
  }
  std::set<std::string> seen;
  std::vector<std::string> unique;
  for (auto& f : out) {
    if (seen.insert(f).second) unique.push_back(std::move(f));
  }
  return unique;
}

Result<std::vector<std::string>> OrderLogFiles(const std::vector<std::string>& files) {
  std::vector<std::pair<uint64_t, std::string>> keyed;
  for (const auto& f : files) {
    struct stat st;
    if (stat(f.c_str(), &st) != 0) {
      return MakeError(errno == ENOENT ? Code::kNotFound : Code::kPermissionDenied,
                       f + ": " + strerror(errno));
    }
    if (st.st_size == 0) continue;
    uint64_t seq;
    keyed.emplace_back(FirstSeq(f, &seq) ? seq : SeqFromName(f), f);
  }
  std::stable_sort(keyed.begin(), keyed.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<std::string> out;
  for (auto& [seq, f] : keyed) out.push_back(std::move(f));
  return out;
}

}  // namespace hopgate::audit
