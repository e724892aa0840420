// Verification of SSH signature blobs (`string algorithm, string signature`)
// made by ed25519, ECDSA (P-256/384/521) and RSA (rsa-sha2-256/512, and
// SHA-1 ssh-rsa only when allowed) keys, through OpenSSL 3. Pure functions;
// thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "certs/key.h"
#include "common/result.h"

namespace hopgate::certs {

// The algorithm name a signature blob starts with ("rsa-sha2-512", ...).
Result<std::string> SignatureAlgorithm(std::string_view sig_blob);

// Checks that `sig_blob` is a valid signature by `key` over `data`. The
// algorithm must fit the key type (ed25519 -> "ssh-ed25519", ECDSA -> its own
// name, RSA -> "rsa-sha2-256"/"rsa-sha2-512", or "ssh-rsa" only when
// `allow_sha1`). Errors: "bad signature" when the signature does not verify
// or is malformed; a specific reason for algorithm mismatches and refused
// SHA-1.
Status VerifySignature(const PublicKey& key, std::string_view sig_blob,
                       std::string_view data, bool allow_sha1 = false);

}  // namespace hopgate::certs
