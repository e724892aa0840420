// Loads the gateway's host keys, generating missing files as Ed25519 with
// mode 0600 (like sshd-keygen), and reports their fingerprints.
#pragma once

#include <string>
#include <vector>

#include "common/result.h"
#include "proxy/ssh_util.h"

namespace hopgate::proxy {

struct HostKey {
  std::string path;
  KeyPtr key;
  std::string type;         // e.g. "ssh-ed25519"
  std::string fingerprint;  // SHA256:...
  std::string public_line;  // "ssh-ed25519 AAAA..."
  bool generated = false;
};

// Loads every file; a missing file is generated. Errors name the file.
Result<std::vector<HostKey>> LoadOrGenerateHostKeys(const std::vector<std::string>& paths,
                                                    bool generate_missing);

}  // namespace hopgate::proxy
