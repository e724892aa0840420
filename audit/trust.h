// Whose signatures on audit checkpoints an auditor accepts: an OpenSSH
// allowed_signers file (as `ssh-keygen -Y verify -f` reads it: principals,
// options, key), or plain public keys trusted for every origin (--key). The
// key inside a signature is never trusted by itself. Pure: text and a `now`
// in, answers out; thread-safe once built.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "audit/checkpoint.h"
#include "certs/key.h"
#include "common/result.h"

namespace hopgate::audit {

struct AllowedSigner {
  std::string principals;  // comma-separated patterns ('*', '?', '!' negation)
  std::string namespaces;  // the namespaces="..." option; empty: any namespace
  bool cert_authority = false;  // a CA line: never matches a plain key signature
  std::optional<int64_t> valid_after, valid_before;  // Unix seconds
  certs::PublicKey key;
  int line = 0;
};

class TrustedKeys {
 public:
  // An allowed_signers file. Errors name FILE:LINE (an unknown option, a
  // bad key, a line with no key): the auditor's own trust file must be right.
  // valid-after/valid-before times without a "Z" are read as UTC.
  static Result<TrustedKeys> FromAllowedSigners(std::string_view text, const std::string& file);
  // Public keys, one per line ("ssh-ed25519 AAAA... comment"), trusted to
  // sign for any origin.
  static Result<TrustedKeys> FromPublicKeys(std::string_view text, const std::string& file);

  // Ok if `key` may sign in `name_space` for `principal` at `now`; else why
  // not, naming the key's fingerprint.
  Status Check(const certs::PublicKey& key, std::string_view principal,
               std::string_view name_space, int64_t now) const;
  const std::vector<AllowedSigner>& signers() const { return signers_; }
  // "allowed signers FILE" or "key FILE", for messages.
  const std::string& source() const { return source_; }

 private:
  std::vector<AllowedSigner> signers_;
  std::string source_;
};

// OpenSSH's match_pattern_list: 1 if `text` matches a pattern of the
// comma-separated list, -1 if it matches a negated one ("!pat"), else 0.
int MatchPatternList(std::string_view text, std::string_view list);

// Checks a signed checkpoint: the text parses (checkpoint.h), and the
// armored SSHSIG is a valid signature over it in namespace hopgate-audit by
// a key `trusted` allows for the checkpoint's origin at `now`.
Result<CheckpointText> VerifySignedCheckpoint(std::string_view text, std::string_view signature,
                                              const TrustedKeys& trusted, int64_t now);

}  // namespace hopgate::audit
