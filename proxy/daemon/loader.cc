#include "proxy/daemon/loader.h"
#include "proxy/signer/signing_key.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "audit/fleet/locks_file.h"
#include "common/unique_fd.h"
#include "proxy/base/privileges.h"
#include "proxy/config/files.h"
#include "proxy/net/bind.h"
#include "proxy/ssh/host_keys.h"

namespace hopgate::proxy {
namespace {

std::string DirOf(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
}

// The nearest directory of `path` that exists (itself included).
std::string NearestExisting(std::string path) {
  struct stat st;
  while (!path.empty() && stat(path.c_str(), &st) != 0) {
    if (path == "/" || path == ".") break;
    path = DirOf(path);
  }
  return path;
}

// Empty when `dir` exists and we may create files in it; else why not.
std::string DirectoryProblem(const std::string& dir) {
  struct stat st;
  if (stat(dir.c_str(), &st) != 0) return "directory " + dir + " does not exist";
  if (!S_ISDIR(st.st_mode)) return dir + " is not a directory";
  if (access(dir.c_str(), W_OK | X_OK) != 0) {
    return "directory " + dir + " is not writable: " + strerror(errno);
  }
  return "";
}

void CheckAuditLog(const Config& c, Loaded* out) {
  const std::string& log = c.audit_log;
  struct stat st;
  if (stat(log.c_str(), &st) == 0) {
    if (!S_ISREG(st.st_mode)) {
      out->errors.push_back(c.Where("audit.log") + ": " + log + " is not a regular file");
    } else if (c.user.empty() && access(log.c_str(), W_OK) != 0) {
      // With user:, it is written as that user: CheckUser checks it for them
      // (root may lack CAP_DAC_OVERRIDE, as under the systemd unit).
      out->errors.push_back(c.Where("audit.log") + ": " + log + " is not writable: " +
                            strerror(errno));
    }
    return;
  }
  // With user:, hopgate creates the log's directory (owned by that user) at
  // start: the nearest existing directory must take it.
  std::string dir = c.user.empty() ? DirOf(log) : NearestExisting(DirOf(log));
  // An existing directory of the log is the user's to write (CheckUser);
  // only one root must create is root's.
  if (!c.user.empty() && dir == DirOf(log)) return;
  if (std::string why = DirectoryProblem(dir); !why.empty()) {
    out->errors.push_back(c.Where("audit.log") + ": cannot create " + log + ": " + why);
  }
}

void CheckRecordings(const Config& c, Loaded* out) {
  // Created on first use, with its parents: the nearest existing one must
  // be a writable directory.
  std::string dir = c.recordings_dir;
  std::string existing = NearestExisting(dir);
  // With user:, an existing recordings directory is the user's to write
  // (CheckUser); a missing one is created by root.
  if (!c.user.empty() && existing == dir) return;
  if (std::string why = DirectoryProblem(existing); !why.empty()) {
    out->errors.push_back(c.Where("audit.recordings") + ": recordings directory " + dir + ": " +
                          why);
  }
}

void CheckKeys(const std::vector<std::string>& paths, const std::string& key,
               const Config& c, Loaded* out, std::vector<HostKey>* loaded) {
  for (const auto& path : paths) {
    struct stat st;
    if (stat(path.c_str(), &st) != 0) {
      // Generated at start: its directory must take it.
      if (std::string why = DirectoryProblem(DirOf(path)); !why.empty()) {
        out->errors.push_back(c.Where(key) + ": " + path + " is missing and cannot be generated: " +
                              why);
      }
      continue;
    }
    auto keys = LoadOrGenerateHostKeys({path}, /*generate_missing=*/false);
    if (!keys) {
      out->errors.push_back(c.Where(key) + ": " + keys.message());
    } else if (loaded) {
      for (auto& k : *keys) loaded->push_back(std::move(k));
    }
  }
}

// audit.signing_key: a key that loads, or (missing) a directory to generate
// it in.
void CheckSigningKey(const Config& c, Loaded* out) {
  const std::string& path = c.audit_signing_key;
  if (path.empty()) return;
  auto key = LoadSigningKey(path);
  if (key) return;
  if (key.code() == Code::kNotFound) {
    if (std::string why = DirectoryProblem(DirOf(path)); !why.empty()) {
      out->errors.push_back(c.Where("audit.signing_key") + ": " + path +
                            " is missing and cannot be generated: " + why);
    }
    return;
  }
  out->errors.push_back(c.Where("audit.signing_key") + ": " + key.message());
}

// upstream.user_ca_key: loads (then forgets), and root-only like ssh keys.
void CheckUpstreamCa(const Config& c, Loaded* out) {
  auto ca = LoadUpstreamCa(c);
  if (!ca) {
    out->errors.push_back(ca.message());
    return;
  }
  struct stat st;
  if (*ca && stat(c.upstream_user_ca_key.c_str(), &st) == 0 && (st.st_mode & 0077)) {
    char mode[8];
    snprintf(mode, sizeof mode, "%04o", st.st_mode & 07777);
    out->errors.push_back(c.Where("upstream.user_ca_key") + ": " + c.upstream_user_ca_key +
                          " is readable by others (mode " + mode + "); chmod 600 it");
  }
}

// config `user:`: the account exists, and every path the gateway writes
// after switching to it is writable by it (or will be created for it).
void CheckUser(const Config& c, Loaded* out) {
  if (c.user.empty()) return;
  auto account = LookupAccount(c.user);
  if (!account) {
    out->errors.push_back(c.Where("user") + ": " + account.message());
    return;
  }
  auto check_dir = [&](const std::string& dir, const std::string& key) {
    if (std::string why = PathNotReachableBy(dir, *account); !why.empty()) {
      out->errors.push_back(c.Where(key) + ": " + why);
      return;
    }
    struct stat st;
    if (stat(dir.c_str(), &st) != 0) return;  // created for the user at start
    if (std::string why = DirectoryNotWritableBy(dir, *account); !why.empty()) {
      out->errors.push_back(c.Where(key) + ": " + why);
    }
  };
  check_dir(DirOf(c.audit_log), "audit.log");
  check_dir(c.recordings_dir, "audit.recordings");
  struct stat st;
  if (stat(c.audit_log.c_str(), &st) == 0) {
    if (std::string why = FileNotWritableBy(c.audit_log, *account); !why.empty()) {
      out->errors.push_back(c.Where("audit.log") + ": " + why);
    }
  }
}

// Binds and closes a socket on `hp`. In use (a running gateway) is fine.
std::string BindProblem(const HostPort& hp) {
  int err = 0;
  auto fd = BindTcp(hp, 0, &err);
  if (!fd && err != EADDRINUSE) {
    return err == 0 ? fd.error().message : "cannot listen on " + fd.error().message;
  }
  return "";
}

}  // namespace

Loaded LoadPolicyAndTrust(const Config& config) {
  Loaded out;
  policy::LoadResult p = LoadPolicyFor(config);
  for (const auto& d : p.diagnostics.items()) {
    (d.severity == Diagnostic::Severity::kError ? out.errors : out.warnings)
        .push_back(d.ToString());
  }
  out.policy = p.policy;
  auto trust = LoadTrust(config);
  if (!trust) {
    out.errors.push_back(trust.message());
  } else {
    out.trust = *trust;
  }
  return out;
}

// A damaged locks file stops the start (there would be no last good locks
// to keep); a missing one is no locks. With user:, the gateway reads it as
// that user (root may lack CAP_DAC_OVERRIDE): only its contents are judged
// here, and start-up reads it again after switching.
void CheckLocksFile(const Config& c, Loaded* out) {
  if (c.locks_file.empty()) return;
  auto f = audit::fleet::ReadLocksFile(c.locks_file);
  if (!f && (f.error().code == Code::kInvalidArgument || c.user.empty())) {
    out->errors.push_back(c.Where("locks.file") + ": " + f.message() + " (fix it or move it away)");
  }
}

Loaded LoadAll(const Config& config, bool private_keys) {
  Loaded out = LoadPolicyAndTrust(config);
  if (private_keys) {
    CheckUpstreamCa(config, &out);
    CheckSigningKey(config, &out);
  }
  CheckAuditLog(config, &out);
  CheckUser(config, &out);
  CheckRecordings(config, &out);
  CheckLocksFile(config, &out);
  std::vector<HostKey> host_keys;
  CheckKeys(config.host_keys, "host_keys", config, &out, &host_keys);
  std::vector<std::string> types;
  for (const auto& k : host_keys) types.push_back(k.type);
  CheckKeys(RecordingHostKeyPaths(config, types),
            config.recording_host_keys.empty() ? "host_keys" : "recording.host_keys", config,
            &out, nullptr);
  for (const auto& hp : config.listen) {
    if (std::string why = BindProblem(hp); !why.empty()) {
      out.errors.push_back(config.Where("listen") + ": " + why);
    }
  }
  if (config.metrics_listen) {
    if (std::string why = BindProblem(*config.metrics_listen); !why.empty()) {
      out.errors.push_back(config.Where("metrics.listen") + ": " + why);
    }
  }
  return out;
}

}  // namespace hopgate::proxy
