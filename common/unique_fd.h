// UniqueFd: the sole owner of a file descriptor, closed when the owner goes
// away (like std::unique_ptr for fds). Move-only value type; thread-safety is
// that of an int.
#pragma once

#include <unistd.h>

namespace hopgate {

class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(other.release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    reset(other.release());
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { reset(); }

  int get() const { return fd_; }
  explicit operator bool() const { return fd_ >= 0; }
  // Gives up ownership without closing; -1 if none.
  int release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }
  // Closes the fd held (if any) and takes `fd`.
  void reset(int fd = -1) {
    if (fd_ >= 0 && fd_ != fd) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

}  // namespace hopgate
