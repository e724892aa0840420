// The audit log's signing key (audit.signing_key): an Ed25519 (or ECDSA)
// private key in OpenSSH format that signs the log's checkpoints. Generated
// with mode 0600, its .pub beside it, when missing. Refused when others can
// read it, as ssh refuses such keys.
#pragma once

#include <string>

#include "certs/private_key.h"
#include "common/result.h"

namespace hopgate::proxy {

// Loads an existing key; an error names the file and what is wrong.
Result<certs::PrivateKey> LoadSigningKey(const std::string& path);

// Loads the key, or generates one (and its .pub) if the file does not exist.
Result<certs::PrivateKey> LoadOrGenerateSigningKey(const std::string& path, bool* generated);

}  // namespace hopgate::proxy
