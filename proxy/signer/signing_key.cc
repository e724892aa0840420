#include "proxy/signer/signing_key.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>

#include "proxy/config/files.h"

namespace hopgate::proxy {

Result<certs::PrivateKey> LoadSigningKey(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) {
    return MakeError(errno == ENOENT ? Code::kNotFound : Code::kPermissionDenied,
                     path + ": " + strerror(errno));
  }
  if (st.st_mode & 0077) {
    char mode[8];
    snprintf(mode, sizeof mode, "%04o", st.st_mode & 07777);
    return MakeError(Code::kPermissionDenied,
                     path + ": the audit signing key is readable by others (mode " + mode +
                         "); chmod 600 it");
  }
  auto text = ReadFile(path);
  if (!text) return Error{text.message()};
  auto key = certs::ParseOpenSshPrivateKey(*text);
  if (!key) return MakeError(Code::kInvalidArgument, path + ": " + key.message());
  return key;
}

Result<certs::PrivateKey> LoadOrGenerateSigningKey(const std::string& path, bool* generated) {
  *generated = false;
  auto key = LoadSigningKey(path);
  if (key || key.code() != Code::kNotFound) return key;
  auto fresh = certs::GenerateEd25519("hopgate audit signing key");
  if (!fresh) return Error{"cannot generate the audit signing key: " + fresh.message()};
  Status st = WriteFileAtomically(path, fresh->ToOpenSshText(), 0600);
  if (!st) return Error{"cannot write the audit signing key: " + st.message()};
  st = WriteFileAtomically(path + ".pub", fresh->PublicLine() + "\n", 0644);
  if (!st) return Error{"cannot write the audit signing key: " + st.message()};
  *generated = true;
  return fresh;
}

}  // namespace hopgate::proxy
