// LocksFileWatcher (locks_file.h): the gateway's view of a locks file.
#include <sys/stat.h>

#include <cerrno>
#include <chrono>
#include <cstring>

#include "audit/fleet/locks_file.h"

namespace hopgate::audit::fleet {
namespace {

// What changes whenever the file is replaced or written; "missing" if absent.
std::string Signature(const std::string& path, std::string* error) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return "missing";
    *error = path + ": " + strerror(errno);
    return "error " + *error;
  }
  return std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino) + ":" +
         std::to_string(st.st_size) + ":" + std::to_string(st.st_mtim.tv_sec) + "." +
         std::to_string(st.st_mtim.tv_nsec) + ":" + std::to_string(st.st_ctim.tv_sec) + "." +
         std::to_string(st.st_ctim.tv_nsec);
}

}  // namespace

LocksFileWatcher::LocksFileWatcher(Options options) : options_(std::move(options)) {}

LocksFileWatcher::~LocksFileWatcher() { Stop(); }

void LocksFileWatcher::Start() {
  Poll();
  thread_ = std::thread([this] { Run(); });
}

void LocksFileWatcher::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void LocksFileWatcher::Run() {
  while (true) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait_for(lock, std::chrono::milliseconds(options_.poll_ms), [this] { return stop_; });
      if (stop_) return;
    }
    Poll();
  }
}

void LocksFileWatcher::Poll() {
  std::string stat_error;
  std::string sig = Signature(options_.path, &stat_error);
  if (sig == seen_) return;
  bool first = seen_.empty();
  seen_ = sig;
  const std::string keep =
      "; the last good locks (" + std::to_string(good_count_) + ") stay in force";
  if (!stat_error.empty()) {
    options_.log(true, "locks file " + stat_error + keep);
    return;
  }
  auto file = ReadLocksFile(options_.path);
  if (!file) {
    options_.log(true, "locks file " + file.message() + keep);
    return;
  }
  if (sig == "missing") {
    if (good_count_ > 0) {
      options_.log(true, "locks file " + options_.path + " removed: its " +
                             std::to_string(good_count_) + " lock(s) no longer apply");
    } else if (first) {
      options_.log(false, "locks file " + options_.path + " (none yet): watching for locks");
    }
  } else {
    options_.log(false, "locks file " + options_.path + ": " +
                            std::to_string(file->locks.size()) + " lock(s) read");
  }
  good_count_ = file->locks.size();
  options_.on_locks(std::move(file->locks));
}

}  // namespace hopgate::audit::fleet
