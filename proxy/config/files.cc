#include "proxy/config/files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <set>

#include "common/strings.h"
#include "common/unique_fd.h"

namespace hopgate::proxy {

Status WriteFileAtomically(const std::string& path, const std::string& data, int mode) {
  std::string tmp = path + ".tmp";
  UniqueFd fd(open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode));
  if (!fd) return MakeError(Code::kPermissionDenied, tmp + ": " + strerror(errno));
  fchmod(fd.get(), static_cast<mode_t>(mode));  // whatever the umask
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = write(fd.get(), data.data() + off, data.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      std::string err = strerror(n < 0 ? errno : EIO);
      unlink(tmp.c_str());
      return MakeError(Code::kDataLoss, tmp + ": " + err);
    }
    off += static_cast<size_t>(n);
  }
  if (fsync(fd.get()) != 0 || rename(tmp.c_str(), path.c_str()) != 0) {
    std::string err = strerror(errno);
    unlink(tmp.c_str());
    return MakeError(Code::kDataLoss, path + ": " + err);
  }
  return Status::Ok();
}

Result<std::string> ReadFile(const std::string& path, size_t max_bytes) {
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) {
    return MakeError(errno == ENOENT ? Code::kNotFound : Code::kPermissionDenied, strerror(errno));
  }
  struct stat st;
  if (fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) {
    return MakeError(Code::kInvalidArgument, "not a regular file");
  }
  std::string out;
  char buf[65536];
  while (true) {
    ssize_t n = read(fd.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Error{strerror(errno)};
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
    if (out.size() > max_bytes) {
      return MakeError(Code::kResourceExhausted,
                       "file is larger than " + std::to_string(max_bytes) + " bytes");
    }
  }
  return out;
}

policy::LoadResult LoadPolicyFile(const std::string& path, const policy::PolicyOptions& options) {
  auto text = ReadFile(path);
  if (!text) {
    policy::LoadResult r{nullptr, Diagnostics(path), true};
    r.diagnostics.ErrorAtFile("cannot read policy: " + text.message());
    return r;
  }
  return policy::ParsePolicy(
      *text, path, [](const std::string& p) { return ReadFile(p, 16 << 20); }, options);
}

policy::LoadResult LoadPolicyFor(const Config& config) {
  policy::PolicyOptions options;
  options.min_rsa_bits = static_cast<int>(config.min_rsa_bits);
  policy::LoadResult r = LoadPolicyFile(config.policy, options);
  if (!r.policy || !config.upstream_user_ca_key.empty()) return r;
  std::set<std::string> hops;
  for (const auto& [name, h] : r.policy->hosts) hops.insert(h.route.begin(), h.route.end());
  bool bad = false;
  for (const auto& [name, h] : r.policy->hosts) {
    bool hop = hops.count(name) > 0;
    if ((hop || h.record) && h.identity_text.empty()) {
      r.diagnostics.Error(h.location,
                          "host " + Quote(name) + (hop ? " is a jump host" : " is recorded") +
                              " without an identity, so hopgate must mint a certificate to log "
                              "in to it, but " +
                              config.file + " has no upstream.user_ca_key");
      bad = true;
    }
  }
  if (bad) r.policy = nullptr;
  return r;
}

Result<std::optional<certs::PrivateKey>> LoadUpstreamCa(const Config& config) {
  if (config.upstream_user_ca_key.empty()) return std::optional<certs::PrivateKey>();
  const std::string where = config.Where("upstream.user_ca_key") + ": ";
  auto text = ReadFile(config.upstream_user_ca_key, 1 << 20);
  if (!text) return Error{where + config.upstream_user_ca_key + ": " + text.message()};
  auto key = certs::ParseOpenSshPrivateKey(*text);
  if (!key) return Error{where + config.upstream_user_ca_key + ": " + key.message()};
  return std::optional<certs::PrivateKey>(std::move(*key));
}

}  // namespace hopgate::proxy
