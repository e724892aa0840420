// Loads the gateway's host keys and its recorded sessions' interception
// keys, generating missing files (like sshd-keygen) with mode 0600 and a
// `.pub` beside each, and reports their fingerprints and known_hosts lines.
#pragma once

#include <string>
#include <vector>

#include "common/result.h"
#include "proxy/config.h"
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

// Loads every file; a missing file is generated when `generate_missing`, as
// the type its name ends in (`_rsa`: RSA 3072, `_ecdsa`: ECDSA P-256,
// anything else: Ed25519). Errors name the file.
Result<std::vector<HostKey>> LoadOrGenerateHostKeys(const std::vector<std::string>& paths,
                                                    bool generate_missing);

// The interception keys of recorded sessions: recording.host_keys, or, when
// not configured, one per type of `host_keys` (recording_host_ed25519,
// recording_host_ecdsa, recording_host_rsa next to the first host key), so
// every client that can log in to the gateway can also use a recorded host.
std::vector<std::string> RecordingHostKeyPaths(const Config& config,
                                               const std::vector<HostKey>& host_keys);

}  // namespace hopgate::proxy
