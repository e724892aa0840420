// Loads the gateway's host keys and its recorded sessions' interception
// keys, generating missing files (like sshd-keygen) with mode 0600 and a
// `.pub` beside each, and reports their fingerprints and known_hosts lines.
#pragma once

#include <string>
#include <vector>

#include "common/result.h"
#include "proxy/ssh/ssh_util.h"

namespace hopgate::proxy {

struct HostKey {
  std::string path;
  KeyPtr key;
  std::string type;         // e.g. "ssh-ed25519"
  std::string fingerprint;  // SHA256:...
  std::string public_line;  // "ssh-ed25519 AAAA..."
  // The private key file's text as read: what copies of the key are made
  // from (libssh 0.10 cannot export an RSA key read from OpenSSH's format,
  // ssh-keygen's default, so the key is never round-tripped through it).
  std::string private_text;
  bool generated = false;
};

// Loads every file; a missing file is generated when `generate_missing`, as
// the type its name ends in (`_rsa`: RSA 3072, `_ecdsa`: ECDSA P-256,
// anything else: Ed25519). Errors name the file.
Result<std::vector<HostKey>> LoadOrGenerateHostKeys(const std::vector<std::string>& paths,
                                                    bool generate_missing);

}  // namespace hopgate::proxy
