#include "audit/line_reader.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace hopgate::audit {
namespace {

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) close(fd_);
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

Error IoError(const std::string& path) {
  return MakeError(errno == ENOENT ? Code::kNotFound : Code::kUnavailable,
                   path + ": " + strerror(errno));
}

}  // namespace

Result<ReadResult> ReadLines(const std::string& path, uint64_t from_offset, size_t max_line,
                             const std::function<Status(std::string_view, const LineInfo&)>& line) {
  Fd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return IoError(path);
  if (lseek(fd.get(), static_cast<off_t>(from_offset), SEEK_SET) < 0) return IoError(path);
  uint64_t pos = from_offset;         // file offset of the block's first byte
  uint64_t line_start = from_offset;  // of the line being assembled
  std::string buf;                    // its bytes from earlier blocks
  bool skipping = false;              // it is over the cap: drop bytes to its newline
  std::string block(1 << 20, '\0');
  while (true) {
    ssize_t n = read(fd.get(), block.data(), block.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return IoError(path);
    if (n == 0) break;
    std::string_view data(block.data(), static_cast<size_t>(n));
    size_t start = 0;
    for (size_t nl; (nl = data.find('\n', start)) != std::string_view::npos; start = nl + 1) {
      LineInfo info{line_start, pos + nl + 1, false};
      Status st;
      if (skipping || buf.size() + (nl - start) > max_line) {
        info.too_long = true;
        st = line({}, info);
      } else if (buf.empty()) {
        st = line(data.substr(start, nl - start), info);
      } else {
        buf.append(data.substr(start, nl - start));
        st = line(buf, info);
      }
      if (!st) return st.error();
      buf.clear();
      skipping = false;
      line_start = info.end;
    }
    if (!skipping) {
      if (buf.size() + (data.size() - start) > max_line) {
        skipping = true;
        buf.clear();
      } else {
        buf.append(data.substr(start));
      }
    }
    pos += static_cast<uint64_t>(n);
  }
  return ReadResult{line_start, pos - line_start};
}

Result<std::string> FirstLine(const std::string& path, size_t max_line) {
  Fd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return IoError(path);
  std::string buf;
  char block[65536];
  while (buf.size() <= max_line) {
    ssize_t n = read(fd.get(), block, sizeof block);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return IoError(path);
    if (n == 0) break;
    buf.append(block, static_cast<size_t>(n));
    size_t nl = buf.find('\n');
    if (nl != std::string::npos) {
      if (nl > max_line) break;
      buf.resize(nl);
      return buf;
    }
  }
  return MakeError(Code::kNotFound, path + ": no complete first line");
}

}  // namespace hopgate::audit
