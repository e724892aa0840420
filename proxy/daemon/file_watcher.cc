#include "proxy/daemon/file_watcher.h"

#include <sys/inotify.h>
#include <unistd.h>

#include <cerrno>

namespace hopgate::proxy {

FileWatcher::FileWatcher() : fd_(inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) {}

void FileWatcher::Watch(const std::vector<std::string>& paths) {
  if (!fd_) return;
  for (const auto& [wd, dir] : dirs_) inotify_rm_watch(fd_.get(), wd);
  dirs_.clear();
  files_.clear();
  for (const auto& p : paths) {
    size_t slash = p.rfind('/');
    std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : p.substr(0, slash);
    std::string base = slash == std::string::npos ? p : p.substr(slash + 1);
    files_[dir].insert(base);
  }
  for (const auto& [dir, names] : files_) {
    int wd = inotify_add_watch(fd_.get(), dir.c_str(),
                               IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_DELETE | IN_MODIFY |
                                   IN_ATTRIB);
    if (wd >= 0) dirs_[wd] = dir;
  }
}

bool FileWatcher::Drain() {
  if (!fd_) return false;
  bool changed = false;
  alignas(inotify_event) char buf[8192];
  while (true) {
    ssize_t n = read(fd_.get(), buf, sizeof buf);
    if (n <= 0) break;
    for (char* p = buf; p < buf + n;) {
      auto* ev = reinterpret_cast<inotify_event*>(p);
      p += sizeof(inotify_event) + ev->len;
      auto dir = dirs_.find(ev->wd);
      if (dir == dirs_.end() || ev->len == 0) continue;
      const auto& names = files_[dir->second];
      if (names.count(ev->name)) changed = true;
    }
  }
  return changed;
}

}  // namespace hopgate::proxy
