#include "proxy/base/privileges.h"

#include <grp.h>
#include <pwd.h>
#include <sys/fsuid.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <vector>

namespace hopgate::proxy {
namespace {

// Whether the mode bits give `account` (with only its primary group) the
// `want` bits (2 = write, 1 = search/execute, octal per class).
bool Grants(const struct stat& st, const Account& a, unsigned want) {
  unsigned bits;
  if (st.st_uid == a.uid) {
    bits = (st.st_mode >> 6) & 7;
  } else if (st.st_gid == a.gid) {
    bits = (st.st_mode >> 3) & 7;
  } else {
    bits = st.st_mode & 7;
  }
  return (bits & want) == want;
}

// "CapEff:\t0000000000000000" and friends from /proc/self/status.
bool AnyCapabilityLeft(std::string* which) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    for (const char* field : {"CapInh:", "CapPrm:", "CapEff:", "CapAmb:"}) {
      if (line.rfind(field, 0) != 0) continue;
      std::string value = line.substr(strlen(field));
      if (value.find_first_not_of("\t 0") != std::string::npos) {
        *which = line;
        return true;
      }
    }
  }
  return false;
}

}  // namespace

Result<Account> LookupAccount(const std::string& name) {
  std::vector<char> buf(16384);
  struct passwd pw;
  struct passwd* found = nullptr;
  int rc = getpwnam_r(name.c_str(), &pw, buf.data(), buf.size(), &found);
  if (rc != 0 || found == nullptr) {
    return MakeError(Code::kNotFound,
                     "user " + name + " does not exist" + (rc ? std::string(": ") + strerror(rc) : ""));
  }
  if (pw.pw_uid == 0) return MakeError(Code::kInvalidArgument, "user " + name + " is root");
  return Account{name, pw.pw_uid, pw.pw_gid};
}

Status DropPrivileges(const Account& a) {
  if (getuid() == a.uid && geteuid() == a.uid && getgid() == a.gid) {
    return Status::Ok();  // started as that user already: nothing to drop
  }
  if (setgroups(0, nullptr) != 0) return Error{std::string("setgroups: ") + strerror(errno)};
  if (setresgid(a.gid, a.gid, a.gid) != 0) {
    return Error{"setresgid " + std::to_string(a.gid) + ": " + strerror(errno)};
  }
  if (setresuid(a.uid, a.uid, a.uid) != 0) {
    return Error{"setresuid " + std::to_string(a.uid) + ": " + strerror(errno)};
  }
  prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
  uid_t r, e, s;
  gid_t gr, ge, gs;
  if (getresuid(&r, &e, &s) != 0 || r != a.uid || e != a.uid || s != a.uid ||
      getresgid(&gr, &ge, &gs) != 0 || gr != a.gid || ge != a.gid || gs != a.gid) {
    return Error{"the uids or gids did not all change to " + a.name};
  }
  if (setuid(0) == 0 || seteuid(0) == 0) return Error{"root could be regained after the switch"};
  if (getgroups(0, nullptr) != 0) return Error{"supplementary groups are left"};
  std::string which;
  if (AnyCapabilityLeft(&which)) return Error{"capabilities are left: " + which};
  return Status::Ok();
}

std::string DirectoryNotWritableBy(const std::string& dir, const Account& a) {
  struct stat st;
  if (stat(dir.c_str(), &st) != 0) return dir + ": " + strerror(errno);
  if (!S_ISDIR(st.st_mode)) return dir + " is not a directory";
  if (!Grants(st, a, 3)) {
    return "directory " + dir + " is not writable by user " + a.name + " (uid " +
           std::to_string(a.uid) + ")";
  }
  return "";
}

std::string PathNotReachableBy(const std::string& path, const Account& a) {
  if (path.empty() || path[0] != '/') return "";
  size_t end = 0;
  do {
    end = path.find('/', end + 1);
    std::string dir = path.substr(0, end == 0 ? 1 : end);
    if (dir.empty()) dir = "/";
    struct stat st;
    if (stat(dir.c_str(), &st) != 0) return "";  // created from here on, for the user
    if (!S_ISDIR(st.st_mode)) return "";           // reported elsewhere
    if (!Grants(st, a, 1)) {
      return "directory " + dir + " is not searchable by user " + a.name + " (uid " +
             std::to_string(a.uid) + "), so it cannot reach " + path;
    }
  } while (end != std::string::npos);
  return "";
}

std::string FileNotWritableBy(const std::string& path, const Account& a) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return path + ": " + strerror(errno);
  if (!Grants(st, a, 2)) {
    return path + " is not writable by user " + a.name + " (uid " + std::to_string(a.uid) + ")";
  }
  return "";
}

ScopedFsUser::ScopedFsUser(const Account* a) {
  if (a == nullptr) return;
  setfsgid(a->gid);
  setfsuid(a->uid);
  active_ = true;
}

ScopedFsUser::~ScopedFsUser() {
  if (!active_) return;
  setfsuid(0);
  setfsgid(0);
}

Status MakeDirectoriesOwnedBy(const std::string& dir, const Account& a) {
  std::vector<std::string> missing;
  std::string p = dir;
  struct stat st;
  while (!p.empty() && p != "/" && stat(p.c_str(), &st) != 0) {
    missing.push_back(p);
    size_t slash = p.rfind('/');
    p = slash == std::string::npos ? "" : p.substr(0, slash);
  }
  for (auto it = missing.rbegin(); it != missing.rend(); ++it) {
    if (mkdir(it->c_str(), 0750) != 0 && errno != EEXIST) {
      return Error{"mkdir " + *it + ": " + strerror(errno)};
    }
    if (chown(it->c_str(), a.uid, a.gid) != 0) {
      return Error{"chown " + *it + " to " + a.name + ": " + strerror(errno)};
    }
  }
  return Status::Ok();
}

}  // namespace hopgate::proxy
