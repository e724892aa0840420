#include "proxy/ssh/host_keys.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "common/encoding.h"

namespace hopgate::proxy {
namespace {

Result<HostKey> Describe(const std::string& path, KeyPtr owned) {
  HostKey hk;
  hk.path = path;
  hk.key = std::move(owned);
  ssh_key key = hk.key.get();
  auto blob = KeyBlob(key);
  if (!blob) return Error{path + ": " + blob.message()};
  hk.type = KeyTypeName(key);
  hk.fingerprint = Sha256Fingerprint(*blob);
  hk.public_line = hk.type + " " + Base64Encode(*blob);
  return hk;
}

// The key type a file name asks for, like sshd-keygen's file names.
enum ssh_keytypes_e TypeForPath(const std::string& path, int* bits) {
  auto ends = [&](const char* suffix) {
    std::string s(suffix);
    return path.size() >= s.size() && path.compare(path.size() - s.size(), s.size(), s) == 0;
  };
  *bits = 0;
  if (ends("_rsa") || ends("_rsa_key")) {
    *bits = 3072;
    return SSH_KEYTYPE_RSA;
  }
  if (ends("_ecdsa") || ends("_ecdsa_key")) {
    *bits = 256;
    return SSH_KEYTYPE_ECDSA_P256;
  }
  return SSH_KEYTYPE_ED25519;
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
      int bits = 0;
      enum ssh_keytypes_e type = TypeForPath(path, &bits);
      if (ssh_pki_generate(type, bits, &key) != SSH_OK) {
        return Error{path + ": cannot generate a host key"};
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
    std::string text;
    {
      std::ifstream in(path, std::ios::binary);
      std::ostringstream buf;
      buf << in.rdbuf();
      if (!in) return Error{path + ": cannot read the private key: " + strerror(errno)};
      text = buf.str();
    }
    auto imported = ImportPrivateKey(text);
    if (!imported) {
      explicit_bzero(text.data(), text.size());
      return Error{path + ": cannot load private key (unreadable, encrypted or not a key)"};
    }
    KeyPtr loaded = std::move(*imported);
    ssh_key key = loaded.get();
    enum ssh_keytypes_e type = ssh_key_type(key);
    if (type != SSH_KEYTYPE_ED25519 && type != SSH_KEYTYPE_ECDSA_P256 &&
        type != SSH_KEYTYPE_ECDSA_P384 && type != SSH_KEYTYPE_ECDSA_P521 &&
        type != SSH_KEYTYPE_RSA) {
      return Error{path + ": unsupported host key type"};
    }
    auto hk = Describe(path, std::move(loaded));
    if (!hk) return Error{hk.message()};
    hk->generated = generated;
    hk->private_text = std::move(text);
    if (generated) {
      // The public half beside it, as ssh-keygen writes it: what operators
      // publish in known_hosts.
      std::ofstream pub(path + ".pub", std::ios::trunc);
      pub << hk->public_line << " hopgate\n";
    }
    out.push_back(std::move(*hk));
  }
  return out;
}

}  // namespace hopgate::proxy
