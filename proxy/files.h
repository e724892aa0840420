// Small file helpers for the proxy layer (the only layer that touches files):
// whole-file reads with errors that name the path, and the policy loader that
// hands policy/ its FileReader.
#pragma once

#include <string>

#include "common/result.h"
#include "policy/policy.h"

namespace hopgate::proxy {

// Reads a whole file; refuses anything over `max_bytes`.
Result<std::string> ReadFile(const std::string& path, size_t max_bytes = 64 << 20);
// Reads and parses a policy file (and the authorized_keys files it names).
policy::LoadResult LoadPolicyFile(const std::string& path);

}  // namespace hopgate::proxy
