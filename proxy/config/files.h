// Small file helpers for the proxy layer (the only layer that touches files):
// whole-file reads with errors that name the path, and the policy loader that
// hands policy/ its FileReader.
#pragma once

#include <optional>
#include <string>

#include "certs/private_key.h"
#include "common/result.h"
#include "proxy/config/config.h"
#include "policy/policy.h"

namespace hopgate::proxy {

// Reads a whole file; refuses anything over `max_bytes`.
Result<std::string> ReadFile(const std::string& path, size_t max_bytes = 64 << 20);
// Writes a whole file with `mode` through a temporary file and a rename, so
// the path holds the old content or the new, never part of it.
Status WriteFileAtomically(const std::string& path, const std::string& data, int mode);
// Reads and parses a policy file (and the authorized_keys files it names).
policy::LoadResult LoadPolicyFile(const std::string& path,
                                  const policy::PolicyOptions& options = {});
// The policy the config names, also checked against the config: a jump host
// without an identity needs upstream.user_ca_key to mint its certificates.
policy::LoadResult LoadPolicyFor(const Config& config);
// upstream.user_ca_key, if configured. Errors name the file.
Result<std::optional<certs::PrivateKey>> LoadUpstreamCa(const Config& config);

}  // namespace hopgate::proxy
