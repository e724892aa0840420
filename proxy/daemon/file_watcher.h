// Notices changes to a set of files (the policy, the authorized_keys files it
// names, the trusted CA and revoked-keys files) with inotify. Directories are
// watched rather than files, so editors that write a new file and rename it
// over the old one are seen too. Used by the server's main thread only.
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include "common/unique_fd.h"

namespace hopgate::proxy {

class FileWatcher {
 public:
  FileWatcher();
  FileWatcher(const FileWatcher&) = delete;
  FileWatcher& operator=(const FileWatcher&) = delete;

  // Replaces the watched set. Files need not exist yet.
  void Watch(const std::vector<std::string>& paths);
  // The inotify fd to poll for POLLIN (-1 if inotify is unavailable).
  int fd() const { return fd_.get(); }
  // Reads pending events; true if any watched file was written, created,
  // moved or deleted.
  bool Drain();

 private:
  UniqueFd fd_;
  std::map<int, std::string> dirs_;                 // watch descriptor -> directory
  std::map<std::string, std::set<std::string>> files_;  // directory -> base names
};

}  // namespace hopgate::proxy
