#include "proxy/files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace hopgate::proxy {

Result<std::string> ReadFile(const std::string& path, size_t max_bytes) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Error{strerror(errno)};
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return Error{"not a regular file"};
  }
  std::string out;
  char buf[65536];
  while (true) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      close(fd);
      return Error{strerror(err)};
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
    if (out.size() > max_bytes) {
      close(fd);
      return Error{"file is larger than " + std::to_string(max_bytes) + " bytes"};
    }
  }
  close(fd);
  return out;
}

policy::LoadResult LoadPolicyFile(const std::string& path) {
  auto text = ReadFile(path);
  if (!text) {
    policy::LoadResult r{nullptr, Diagnostics(path)};
    r.diagnostics.ErrorAtFile("cannot read policy: " + text.message());
    return r;
  }
  return policy::ParsePolicy(*text, path,
                             [](const std::string& p) { return ReadFile(p, 16 << 20); });
}

}  // namespace hopgate::proxy
