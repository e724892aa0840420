#include "audit/sink.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace hopgate::audit {

Result<std::unique_ptr<FileSink>> FileSink::Open(const std::string& path) {
  int fd = open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) {
    return MakeError(errno == ENOENT ? Code::kNotFound : Code::kPermissionDenied,
                     "cannot open audit log " + path + ": " + strerror(errno));
  }
  return std::unique_ptr<FileSink>(new FileSink(path, fd));
}

FileSink::~FileSink() {
  if (fd_ >= 0) close(fd_);
}

Status FileSink::Write(const Event& event) {
  std::string line = event.ToJson().dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  line.push_back('\n');
  std::lock_guard<std::mutex> lock(mu_);
  size_t off = 0;
  while (off < line.size()) {
    ssize_t n = write(fd_, line.data() + off, line.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      int err = n < 0 ? errno : EIO;
      healthy_.store(false, std::memory_order_relaxed);
      last_error_ = "audit log " + path_ + ": " + strerror(err);
      return MakeError(Code::kDataLoss, last_error_);
    }
    off += static_cast<size_t>(n);
  }
  healthy_.store(!detached_, std::memory_order_relaxed);
  return Status::Ok();
}

Status FileSink::Reopen() {
  int fd = open(path_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  std::lock_guard<std::mutex> lock(mu_);
  if (fd < 0) {
    healthy_.store(false, std::memory_order_relaxed);
    last_error_ = "cannot reopen audit log " + path_ + ": " + strerror(errno);
    return MakeError(Code::kDataLoss, last_error_);
  }
  close(fd_);
  fd_ = fd;
  healthy_.store(true, std::memory_order_relaxed);
  return Status::Ok();
}

bool FileSink::Check(std::string* why, bool* reopened) {
  if (reopened) *reopened = false;
  std::lock_guard<std::mutex> lock(mu_);
  struct stat by_path, by_fd;
  bool same = stat(path_.c_str(), &by_path) == 0 && fstat(fd_, &by_fd) == 0 &&
              by_path.st_ino == by_fd.st_ino && by_path.st_dev == by_fd.st_dev;
  if (same) {
    if (detached_) {
      // The path came back (a directory renamed back): writing to it again.
      detached_ = false;
      healthy_.store(true, std::memory_order_relaxed);
    }
  } else {
    // Renamed or deleted under us: follow the path, as a SIGHUP would.
    int fd = open(path_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
      detached_ = true;
      healthy_.store(false, std::memory_order_relaxed);
      last_error_ = "audit log " + path_ + " was moved away and cannot be reopened: " +
                    strerror(errno);
    } else {
      close(fd_);
      fd_ = fd;
      detached_ = false;
      healthy_.store(true, std::memory_order_relaxed);
      if (reopened) *reopened = true;
    }
  }
  bool ok = healthy_.load(std::memory_order_relaxed);
  if (!ok && why) *why = last_error_.empty() ? "audit log cannot be written" : last_error_;
  return ok;
}

Status MemorySink::Write(const Event& event) {
  std::lock_guard<std::mutex> lock(mu_);
  events_.push_back(event.ToJson());
  return Status::Ok();
}

std::vector<nlohmann::json> MemorySink::Events() const {
  std::lock_guard<std::mutex> lock(mu_);
  return events_;
}

Status Log::Record(const std::string& connection, Body body) {
  Event e{clock_(), connection, std::move(body)};
  Status st = sink_->Write(e);
  if (observer_) observer_(e.type(), st.ok());
  return st;
}

}  // namespace hopgate::audit
