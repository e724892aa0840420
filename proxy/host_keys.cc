#include "proxy/host_keys.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/encoding.h"

namespace hopgate::proxy {
namespace {

Result<HostKey> Describe(const std::string& path, ssh_key key) {
  HostKey hk;
  hk.path = path;
  hk.key.reset(key);
  auto blob = KeyBlob(key);
  if (!blob) return Error{path + ": " + blob.message()};
  hk.type = KeyTypeName(key);
  hk.fingerprint = Sha256Fingerprint(*blob);
  hk.public_line = hk.type + " " + Base64Encode(*blob);
  return hk;
}

}  // namespace

Result<std::vector<HostKey>> LoadOrGenerateHostKeys(const std::vector<std::string>& paths,
                                                    bool generate_missing) {
  std::vector<HostKey> out;
  for (const auto& path : paths) {
    struct stat st;
    bool generated = false;
    if (stat(path.c_str(), &st) != 0) {
      if (errno != ENOENT) return Error{path + ": " + strerror(errno)};
      if (!generate_missing) return Error{path + ": host key does not exist"};
      ssh_key key = nullptr;
      if (ssh_pki_generate(SSH_KEYTYPE_ED25519, 0, &key) != SSH_OK) {
        return Error{path + ": cannot generate an Ed25519 host key"};
      }
      KeyPtr owned(key);
      mode_t old = umask(077);
      int rc = ssh_pki_export_privkey_file(key, nullptr, nullptr, nullptr, path.c_str());
      umask(old);
      if (rc != SSH_OK) {
        return Error{path + ": cannot write the generated host key (does the directory exist "
                            "and is it writable?)"};
      }
      chmod(path.c_str(), 0600);
      generated = true;
    } else {
      if (!S_ISREG(st.st_mode)) return Error{path + ": not a regular file"};
      if (st.st_mode & 077) {
        return Error{path + ": host key is accessible by group or others (mode " +
                     std::to_string((st.st_mode & 0777) / 64) +
                     std::to_string((st.st_mode & 077) / 8) + std::to_string(st.st_mode & 7) +
                     "); chmod 600 it"};
      }
    }
    ssh_key key = nullptr;
    if (ssh_pki_import_privkey_file(path.c_str(), nullptr, nullptr, nullptr, &key) != SSH_OK) {
      return Error{path + ": cannot load private key (unreadable, encrypted or not a key)"};
    }
    enum ssh_keytypes_e type = ssh_key_type(key);
    if (type != SSH_KEYTYPE_ED25519 && type != SSH_KEYTYPE_ECDSA_P256 &&
        type != SSH_KEYTYPE_ECDSA_P384 && type != SSH_KEYTYPE_ECDSA_P521 &&
        type != SSH_KEYTYPE_RSA) {
      ssh_key_free(key);
      return Error{path + ": unsupported host key type"};
    }
    auto hk = Describe(path, key);
    if (!hk) return Error{hk.message()};
    hk->generated = generated;
    out.push_back(std::move(*hk));
  }
  return out;
}

}  // namespace hopgate::proxy
