#include "audit/log_files.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

namespace hopgate::audit {
namespace {

constexpr std::string_view kExt = ".jsonl";

std::pair<std::string, std::string> DirAndBase(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return {".", path};
  return {slash == 0 ? "/" : path.substr(0, slash), path.substr(slash + 1)};
}

std::string Stem(const std::string& base) {
  if (base.size() > kExt.size() && base.compare(base.size() - kExt.size(), kExt.size(), kExt) == 0) {
    return base.substr(0, base.size() - kExt.size());
  }
  return base;
}

}  // namespace

std::string RotatedPath(const std::string& path, uint64_t first_seq) {
  auto [dir, base] = DirAndBase(path);
  std::string prefix = path.substr(0, path.size() - base.size());
  return prefix + Stem(base) + "." + std::to_string(first_seq) + std::string(kExt);
}

std::vector<std::string> LogFilesOf(const std::string& path) {
  auto [dir, base] = DirAndBase(path);
  std::string prefix = Stem(base) + ".";
  std::vector<std::pair<uint64_t, std::string>> rotated;
  if (DIR* d = opendir(dir.c_str())) {
    while (dirent* e = readdir(d)) {
      std::string name = e->d_name;
      if (name.size() <= prefix.size() + kExt.size() || name.rfind(prefix, 0) != 0 ||
          name.compare(name.size() - kExt.size(), kExt.size(), kExt) != 0) {
        continue;
      }
      std::string middle = name.substr(prefix.size(), name.size() - prefix.size() - kExt.size());
      if (middle.empty() || middle.size() > 19 ||
          !std::all_of(middle.begin(), middle.end(), [](char c) { return c >= '0' && c <= '9'; })) {
        continue;
      }
      rotated.emplace_back(std::stoull(middle), path.substr(0, path.size() - base.size()) + name);
    }
    closedir(d);
  }
  std::sort(rotated.begin(), rotated.end());
  std::vector<std::string> out;
  for (auto& [seq, file] : rotated) out.push_back(std::move(file));
  if (access(path.c_str(), F_OK) == 0) out.push_back(path);
  return out;
}

std::vector<std::string> RenamedFilesOf(const std::string& path) {
  auto [dir, base] = DirAndBase(path);
  std::string prefix = path.substr(0, path.size() - base.size());
  std::vector<std::string> out;
  if (DIR* d = opendir(dir.c_str())) {
    while (dirent* e = readdir(d)) {
      std::string name = e->d_name;
      if (name.size() <= base.size() + 1 || name.compare(0, base.size(), base) != 0) continue;
      char sep = name[base.size()];
      std::string_view digits = std::string_view(name).substr(base.size() + 1);
      struct stat st;
      if ((sep == '.' || sep == '-') &&
          std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; }) &&
          stat((prefix + name).c_str(), &st) == 0 && S_ISREG(st.st_mode)) {
        out.push_back(prefix + name);
      }
    }
    closedir(d);
  }
  std::sort(out.begin(), out.end());
  return out;
}

Status ForEachLine(const std::string& file,
                   const std::function<Status(std::string_view, uint64_t, uint64_t)>& line,
                   std::string* partial_tail, uint64_t from_offset) {
  int fd = open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return MakeError(errno == ENOENT ? Code::kNotFound : Code::kPermissionDenied,
                     file + ": " + strerror(errno));
  }
  if (from_offset > 0 && lseek(fd, static_cast<off_t>(from_offset), SEEK_SET) < 0) {
    close(fd);
    return MakeError(Code::kDataLoss, file + ": " + strerror(errno));
  }
  std::string buf;             // the unfinished line carried between blocks
  uint64_t offset = from_offset;  // of buf[0] in the file
  uint64_t number = 0;
  std::string block(1 << 20, '\0');
  Status result;
  while (true) {
    ssize_t n = read(fd, block.data(), block.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      result = MakeError(Code::kDataLoss, file + ": " + strerror(errno));
      break;
    }
    if (n == 0) break;
    buf.append(block.data(), static_cast<size_t>(n));
    size_t start = 0;
    for (size_t nl; (nl = buf.find('\n', start)) != std::string::npos; start = nl + 1) {
      Status st = line(std::string_view(buf).substr(start, nl - start), offset + start, ++number);
      if (!st) {
        close(fd);
        return st;
      }
    }
    buf.erase(0, start);
    offset += start;
  }
  close(fd);
  if (partial_tail) *partial_tail = buf;
  return result;
}

bool PeekSeq(std::string_view line, uint64_t* seq) {
  // The writer puts "seq" at the top level as a plain number; a string value
  // containing "seq": cannot fool this, since quotes inside strings are
  // escaped and the key is matched with its quotes and colon.
  size_t at = line.rfind("\"seq\":");
  if (at == std::string_view::npos) return false;
  size_t i = at + 6;
  if (i >= line.size() || line[i] < '0' || line[i] > '9') return false;
  uint64_t v = 0;
  for (; i < line.size() && line[i] >= '0' && line[i] <= '9'; ++i) v = v * 10 + (line[i] - '0');
  *seq = v;
  return true;
}

}  // namespace hopgate::audit
