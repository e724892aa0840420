#include "audit/fleet/log_tail.h"

#include <sys/stat.h>

#include <algorithm>
#include <optional>

#include "audit/log_files.h"

namespace hopgate::audit::fleet {
namespace {

// A sentinel: the batch is full, stop reading.
constexpr Code kFull = Code::kResourceExhausted;

std::optional<ino_t> InodeOf(const std::string& path) {
  struct stat sb;
  if (stat(path.c_str(), &sb) != 0) return std::nullopt;
  return sb.st_ino;
}

// The first seq of a rotated file, from its name (`audit.42.jsonl` -> 42).
std::optional<uint64_t> RotatedFirstSeq(const std::string& file) {
  const std::string ext = ".jsonl";
  if (file.size() <= ext.size()) return std::nullopt;
  std::string stem = file.substr(0, file.size() - ext.size());
  size_t dot = stem.rfind('.');
  if (dot == std::string::npos) return std::nullopt;
  std::string digits = stem.substr(dot + 1);
  if (digits.empty() || digits.size() > 19 ||
      !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return std::nullopt;
  }
  return std::stoull(digits);
}

// The seq of the live file's first line, if it has a complete one.
std::optional<uint64_t> LiveFirstSeq(const std::string& file) {
  std::optional<uint64_t> first;
  (void)ForEachLine(file, [&](std::string_view line, uint64_t, uint64_t) -> Status {
    uint64_t seq;
    if (PeekSeq(line, &seq)) first = seq;
    return MakeError(kFull, "first line read");
  });
  return first;
}

}  // namespace

LogTail::LogTail(std::string log_path, std::function<void(const std::string&)> warn)
    : path_(std::move(log_path)), warn_(std::move(warn)) {}

void LogTail::Seek(uint64_t seq) {
  next_ = seq;
  file_.clear();
  offset_ = 0;
}

bool LogTail::Locate() {
  // Every file the log's lines may be in, by the seq of its first line: the
  // rotated files, those logrotate renamed (`audit.jsonl.1`, whose lines a
  // tail that was reading the live file may not have copied yet), the live
  // file.
  std::vector<std::pair<uint64_t, std::string>> files;
  for (const std::string& f : LogFilesOf(path_)) {
    std::optional<uint64_t> first = f == path_ ? LiveFirstSeq(f) : RotatedFirstSeq(f);
    if (first) files.emplace_back(*first, f);
  }
  for (const std::string& f : RenamedFilesOf(path_)) {
    if (std::optional<uint64_t> first = LiveFirstSeq(f)) files.emplace_back(*first, f);
  }
  std::stable_sort(files.begin(), files.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  std::string chosen;
  std::string earliest = files.empty() ? "" : files.front().second;
  for (const auto& [first, f] : files) {
    if (first <= next_) chosen = f;
  }
  if (chosen.empty()) chosen = earliest;  // older events are gone from the local files
  if (chosen.empty()) return false;
  auto inode = InodeOf(chosen);
  if (!inode) return false;
  if (!file_.empty() && *inode == inode_) {
    file_ = chosen;  // the same file, renamed by rotation: keep reading where we were
    return true;
  }
  file_ = chosen;
  inode_ = *inode;
  offset_ = 0;
  return true;
}

Status LogTail::ReadCurrent(size_t max, std::vector<LogLine>* out) {
  uint64_t end = offset_;
  Status st = ForEachLine(
      file_,
      [&](std::string_view line, uint64_t offset, uint64_t) -> Status {
        if (out->size() >= max) return MakeError(kFull, "batch full");
        end = offset + line.size() + 1;
        uint64_t seq;
        if (!PeekSeq(line, &seq) || seq < next_) return Status::Ok();
        if (seq > next_) {
          warn_(file_ + ": events " + std::to_string(next_) + ".." + std::to_string(seq - 1) +
                " are missing from the local audit log");
        }
        out->push_back(LogLine{seq, std::string(line)});
        next_ = seq + 1;
        return Status::Ok();
      },
      nullptr, offset_);
  offset_ = end;
  if (!st && st.code() != kFull) return st;
  return Status::Ok();
}

Status LogTail::Read(size_t max, std::vector<LogLine>* out) {
  out->clear();
  for (int pass = 0; pass < 2; ++pass) {
    // A file renamed or replaced under its name (rotation): find where the
    // next event is now.
    if ((file_.empty() || InodeOf(file_) != std::optional<ino_t>(inode_)) && !Locate()) {
      return Status::Ok();
    }
    Status st = ReadCurrent(max, out);
    if (!st && st.code() != Code::kNotFound) return st;
    if (!out->empty()) return Status::Ok();
    // At the end of the live file: wait for more.
    if (st && file_ == path_ && InodeOf(path_) == std::optional<ino_t>(inode_)) {
      return Status::Ok();
    }
    // At the end of a rotated file: the next event is in a later one.
    std::string before = file_;
    ino_t before_inode = inode_;
    if (!Locate() || (file_ == before && inode_ == before_inode)) return Status::Ok();
  }
  return Status::Ok();
}

}  // namespace hopgate::audit::fleet
