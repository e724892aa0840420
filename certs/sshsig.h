// SSH signatures (OpenSSH's PROTOCOL.sshsig): what `ssh-keygen -Y sign`
// writes and `ssh-keygen -Y verify` checks. Detached, armored, SHA-512 of
// the message, a namespace that keeps signatures for one purpose from being
// accepted for another. Pure: bytes in, bytes out.
#pragma once

#include <string>
#include <string_view>

#include "certs/key.h"
#include "certs/private_key.h"
#include "common/result.h"

namespace hopgate::certs {

struct SshSig {
  PublicKey key;
  std::string name_space;      // "namespace" in the spec
  std::string hash_algorithm;  // "sha512" or "sha256"
  std::string signature;       // an SSH signature blob
};

// Signs `message` under `name_space` with SHA-512, armored
// ("-----BEGIN SSH SIGNATURE-----" ... "-----END SSH SIGNATURE-----\n").
Result<std::string> SshSigSign(const PrivateKey& key, std::string_view name_space,
                               std::string_view message);

// Parses an armored signature (the blob, bounds-checked, no trailing bytes).
Result<SshSig> ParseSshSig(std::string_view armored);

// Checks an armored signature over `message`: well formed, version 1, the
// namespace `name_space`, and a valid signature by its key. The caller then
// decides whether it trusts `result->key` (never the signature's own say).
Result<SshSig> SshSigVerify(std::string_view armored, std::string_view name_space,
                            std::string_view message);

}  // namespace hopgate::certs
