#include "audit/bundle_internal.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/strings.h"

namespace hopgate::audit::bundle_io {
namespace {

Error Errno(const std::string& path, int err) {
  Code code = err == ENOENT ? Code::kNotFound
              : err == EEXIST ? Code::kAlreadyExists
              : err == EACCES || err == EPERM ? Code::kPermissionDenied
                                                : Code::kDataLoss;
  return MakeError(code, path + ": " + strerror(err));
}

struct Fd {
  int fd;
  ~Fd() {
    if (fd >= 0) close(fd);
  }
};

Status WriteAll(int fd, const char* data, size_t size, const std::string& path) {
  size_t off = 0;
  while (off < size) {
    ssize_t n = write(fd, data + off, size - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return Errno(path, n < 0 ? errno : EIO);
    off += static_cast<size_t>(n);
  }
  return Status::Ok();
}

Status Walk(const std::string& root, const std::string& rel, std::vector<std::string>* files,
            std::vector<std::string>* other, int depth) {
  std::string dir = rel.empty() ? root : root + "/" + rel;
  DIR* d = opendir(dir.c_str());
  if (!d) return Errno(dir, errno);
  std::vector<std::string> names;
  while (dirent* e = readdir(d)) {
    std::string name = e->d_name;
    if (name != "." && name != "..") names.push_back(name);
  }
  closedir(d);
  for (const auto& name : names) {
    std::string r = rel.empty() ? name : rel + "/" + name;
    struct stat st;
    if (lstat((root + "/" + r).c_str(), &st) != 0) return Errno(root + "/" + r, errno);
    if (S_ISREG(st.st_mode)) {
      files->push_back(r);
    } else if (S_ISDIR(st.st_mode) && depth < 8) {
      Status s = Walk(root, r, files, other, depth + 1);
      if (!s) return s;
    } else {
      other->push_back(r);
    }
  }
  return Status::Ok();
}

}  // namespace

Result<std::string> ReadFile(const std::string& path, size_t max_bytes) {
  Fd f{open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK)};
  if (f.fd < 0) return Errno(path, errno);
  struct stat st;
  if (fstat(f.fd, &st) != 0) return Errno(path, errno);
  if (!S_ISREG(st.st_mode)) return MakeError(Code::kFailedPrecondition, path + ": not a regular file");
  std::string out;
  char buf[1 << 16];
  while (true) {
    ssize_t n = read(f.fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Errno(path, errno);
    if (n == 0) break;
    if (out.size() + static_cast<size_t>(n) > max_bytes) {
      return MakeError(Code::kResourceExhausted,
                       path + ": larger than " + std::to_string(max_bytes) + " bytes");
    }
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

Status WriteNewFile(const std::string& path, const std::string& data) {
  Fd f{open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)};
  if (f.fd < 0) return Errno(path, errno);
  Status st = WriteAll(f.fd, data.data(), data.size(), path);
  if (st && fsync(f.fd) != 0) return Errno(path, errno);
  return st;
}

Status CopyFile(const std::string& from, const std::string& to) {
  Fd in{open(from.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK)};
  if (in.fd < 0) return Errno(from, errno);
  struct stat st;
  if (fstat(in.fd, &st) != 0) return Errno(from, errno);
  if (!S_ISREG(st.st_mode)) return MakeError(Code::kFailedPrecondition, from + ": not a regular file");
  Fd out{open(to.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)};
  if (out.fd < 0) return Errno(to, errno);
  std::vector<char> buf(1 << 20);
  while (true) {
    ssize_t n = read(in.fd, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Errno(from, errno);
    if (n == 0) break;
    Status s = WriteAll(out.fd, buf.data(), static_cast<size_t>(n), to);
    if (!s) return s;
  }
  if (fsync(out.fd) != 0) return Errno(to, errno);
  return Status::Ok();
}

Status MakeEmptyDir(const std::string& dir) {
  if (mkdir(dir.c_str(), 0700) == 0) return Status::Ok();
  if (errno != EEXIST) return Errno(dir, errno);
  struct stat st;
  if (stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return MakeError(Code::kAlreadyExists, dir + ": exists and is not a directory");
  }
  std::vector<std::string> files, other;
  Status s = Walk(dir, "", &files, &other, 0);
  if (!s) return s;
  if (!files.empty() || !other.empty()) {
    return MakeError(Code::kAlreadyExists, dir + ": not empty (give a new directory)");
  }
  return Status::Ok();
}

Result<std::vector<std::string>> ListFiles(const std::string& dir, std::vector<std::string>* other) {
  std::vector<std::string> files;
  Status s = Walk(dir, "", &files, other, 0);
  if (!s) return s.error();
  std::sort(files.begin(), files.end());
  std::sort(other->begin(), other->end());
  return files;
}

Result<std::map<std::string, NamedRecording>> RecordingsNamed(const std::vector<EventLine>& lines) {
  using nlohmann::json;
  std::map<std::string, NamedRecording> out;
  for (const auto& l : lines) {
    json j = json::parse(l.text, nullptr, /*allow_exceptions=*/false);
    if (!j.is_object()) continue;
    std::string type = j.value("type", "");
    bool closed = type == "session_close" && j.contains("recording");
    if (!closed && type != "recording_progress") continue;
    NamedRecording r;
    r.closed = closed;
    const char* path_key = closed ? "recording" : "path";
    const char* size_key = closed ? "recording_size" : "bytes";
    const char* sha_key = closed ? "recording_sha256" : "sha256";
    if (!j[path_key].is_string() || !j[size_key].is_number_unsigned() || !j[sha_key].is_string()) {
      return MakeError(Code::kDataLoss, l.where + ": a recording without its path, size and SHA-256");
    }
    r.logged = j[path_key];
    r.size = j[size_key];
    r.sha256 = j[sha_key];
    r.where = l.where;
    std::string name = r.logged.substr(r.logged.rfind('/') + 1);
    if (name.empty() || name == "." || name == "..") {
      return MakeError(Code::kDataLoss, l.where + ": a recording path without a file name");
    }
    auto it = out.find(name);
    if (it != out.end() && it->second.logged != r.logged) {
      return MakeError(Code::kDataLoss, l.where + ": two recordings named " + EscapeControl(name));
    }
    // A session_close wins over progress; of progress, the longest prefix.
    if (it == out.end() || (closed && !it->second.closed) ||
        (!it->second.closed && !closed && r.size >= it->second.size)) {
      out[name] = r;
    }
  }
  return out;
}

}  // namespace hopgate::audit::bundle_io
