// OpenSSH authorized_keys lines: `[options] type base64 [comment]`, as listed
// under a user's `keys:` in the policy or in an `authorized_keys:` file.
// Parsing is pure (text in, entries and diagnostics out). Thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "common/yaml_util.h"
#include "policy/restrictions.h"

namespace hopgate::policy {

struct AuthorizedKey {
  std::string type;     // key type name from the blob, e.g. "ssh-ed25519"
  std::string blob;     // the public key's wire blob
  std::string comment;
  bool has_options = false;
  Restrictions restrictions;  // from the options (permissive when none)
  SourceLocation location;
};

// RSA keys shorter than this are refused (authentication.min_rsa_bits).
inline constexpr int kDefaultMinRsaBits = 2048;

// Parses one line (no trailing newline). Blank lines and comments must be
// filtered by the caller. `where` names the line in restriction sources.
// The key itself is validated as `ssh-keygen -l` would: an Ed25519 key of
// 32 bytes, an ECDSA point on its curve, an RSA modulus of at least
// `min_rsa_bits`, nothing after the key's fields.
Result<AuthorizedKey> ParseAuthorizedKeyLine(std::string_view line, std::string_view where,
                                             int min_rsa_bits = kDefaultMinRsaBits);

// Parses a whole authorized_keys file; errors go to `diags` with line:col.
std::vector<AuthorizedKey> ParseAuthorizedKeysFile(std::string_view text, Diagnostics* diags,
                                                   int min_rsa_bits = kDefaultMinRsaBits);

// "YYYYMMDD[HHMM[SS]]" (UTC; an optional trailing Z) to unix seconds.
Result<int64_t> ParseExpiryTime(std::string_view text);

}  // namespace hopgate::policy
