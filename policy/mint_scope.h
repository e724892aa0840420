// What the policy lets the gateway put in a certificate it mints for one
// user and one target, as the signer process checks it on its own: the
// principals (upstream logins) and the permit-* extensions. An upper bound:
// conditions only a live connection can show (from:, principals:) are not
// known to the signer, so rules with them count as if they held; the
// network-facing process decides exactly, the signer caps what a subverted
// one could ask for. Pure; thread-safe.
#pragma once

#include <cstdint>
#include <set>
#include <string>

#include "policy/policy.h"

namespace hopgate::policy {

enum class MintTarget {
  kHop,       // a jump host of a route (target = its hosts: name)
  kRecorded,  // the target of a recorded session (target = host entry or host name)
};

struct MintScope {
  std::set<std::string> principals;  // empty: nothing may be minted
  std::set<std::string> extensions;  // permit-* names allowed
  std::string why_empty;             // when principals is empty: why
};

// The scope of a certificate for `user` to log in to `target`:`port`.
MintScope ScopeForMint(const Policy& policy, const std::string& user, MintTarget kind,
                       const std::string& target, uint16_t port);

}  // namespace hopgate::policy
