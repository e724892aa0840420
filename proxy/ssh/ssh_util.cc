#include "proxy/ssh/ssh_util.h"

#include <string.h>

#include <cstdlib>
#include <memory>

#include "common/encoding.h"

namespace hopgate::proxy {
namespace {

// Frees a string libssh allocated for the caller.
struct SshCharDeleter {
  void operator()(char* p) const { ssh_string_free_char(p); }
};

}  // namespace

Result<std::string> KeyBlob(ssh_key key) {
  char* b64 = nullptr;
  if (ssh_pki_export_pubkey_base64(key, &b64) != SSH_OK || b64 == nullptr) {
    return Error{"cannot export public key"};
  }
  std::unique_ptr<char, SshCharDeleter> owned(b64);
  auto blob = Base64Decode(b64);
  if (!blob) return Error{"cannot decode exported public key: " + blob.message()};
  return std::move(*blob);
}

std::string KeyTypeName(ssh_key key) {
  const char* name = ssh_key_type_to_char(ssh_key_type(key));
  return name ? name : "unknown";
}

std::string SessionError(ssh_session s) {
  const char* e = ssh_get_error(s);
  if (e == nullptr || *e == '\0') return "unknown error";
  return e;
}

void DisableCompression(ssh_session s) {
  ssh_options_set(s, SSH_OPTIONS_COMPRESSION_C_S, "none");
  ssh_options_set(s, SSH_OPTIONS_COMPRESSION_S_C, "none");
}

Result<KeyPtr> ImportPrivateKey(const std::string& text) {
  ssh_key key = nullptr;
  if (ssh_pki_import_privkey_base64(text.c_str(), nullptr, nullptr, nullptr, &key) != SSH_OK) {
    return Error{"libssh cannot import the private key"};
  }
  return KeyPtr(key);
}

}  // namespace hopgate::proxy
