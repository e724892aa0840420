// Dropping root (config `user:`): the account to switch to, the switch
// itself (all three uids and gids, no supplementary groups, no capabilities,
// no way back), and whether a path would be writable by that account, for
// `--check` and start-up. Call DropPrivileges while the process has one
// thread, or rely on glibc applying set*id to every thread (it does).
#pragma once

#include <sys/types.h>

#include <string>

#include "common/result.h"

namespace hopgate::proxy {

struct Account {
  std::string name;
  uid_t uid = 0;
  gid_t gid = 0;
};

// The passwd entry of `name`; an error when there is none or it is root.
Result<Account> LookupAccount(const std::string& name);

// setgroups(0), setresgid, setresuid to `account`, PR_SET_NO_NEW_PRIVS;
// then checks that root cannot be regained and that no capability is left.
Status DropPrivileges(const Account& account);

// Empty when `account` could create files in directory `dir` (write and
// search permission by owner, group or other bits); else why not.
std::string DirectoryNotWritableBy(const std::string& dir, const Account& account);
// Empty when `account` can search every existing directory on the way to
// `path` (from / down to `path` itself, or to its nearest existing
// ancestor when it does not exist yet), so it can reach `path`.
std::string PathNotReachableBy(const std::string& path, const Account& account);
// Empty when `account` could write the existing file `path`.
std::string FileNotWritableBy(const std::string& path, const Account& account);

// While alive, the calling thread creates and opens files as `account`
// (setfsuid/setfsgid): files it creates get that owner, and access is
// checked as that user would be. For start-up, before other threads exist.
class ScopedFsUser {
 public:
  explicit ScopedFsUser(const Account* account);  // null: no change
  ~ScopedFsUser();
  ScopedFsUser(const ScopedFsUser&) = delete;
  ScopedFsUser& operator=(const ScopedFsUser&) = delete;

 private:
  bool active_ = false;
};

// Creates `dir` and its missing parents (mode 0750), each new one owned by
// `account`; directories that exist are left as they are.
Status MakeDirectoriesOwnedBy(const std::string& dir, const Account& account);

}  // namespace hopgate::proxy
