// What login trusts besides the policy: the user CA keys
// (authentication.trusted_user_ca_keys, like sshd's TrustedUserCAKeys) and
// the revocation list (authentication.revoked_keys: a KRL or one public key
// per line, like RevokedKeys). Loaded at start and on every reload, checked
// by --check; an immutable snapshot shared by pointer.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "certs/key.h"
#include "certs/krl.h"
#include "common/result.h"
#include "proxy/config/config.h"

namespace hopgate::proxy {

struct Trust {
  std::vector<certs::PublicKey> user_cas;
  certs::RevocationList revoked;
  std::string version;  // "sha256:..." of both files, "" when neither is set
};

// Reads both files named by `config`. Errors name the file and line.
Result<std::shared_ptr<const Trust>> LoadTrust(const Config& config);

}  // namespace hopgate::proxy
