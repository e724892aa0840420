// The one loader: everything start-up reads and checks, without starting
// anything. `hopgate --check`, start-up and (for the policy and trust files)
// reload all go through it, so `--check` fails on everything start-up would
// fail on. Nothing is created, bound or written: files are read, directories
// and addresses are probed.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "certs/private_key.h"
#include "policy/policy.h"
#include "proxy/config/config.h"
#include "proxy/config/trust.h"

namespace hopgate::proxy {

struct Loaded {
  std::shared_ptr<const policy::Policy> policy;
  std::shared_ptr<const Trust> trust;
  // Every problem, one line each ("FILE:LINE:COL: message"), errors first.
  std::vector<std::string> errors;
  std::vector<std::string> warnings;
  bool ok() const { return errors.empty(); }
};

// The policy (and the files it names) and the trust files: what a reload
// replaces, all or nothing.
Loaded LoadPolicyAndTrust(const Config& config);

// Everything: LoadPolicyAndTrust, and that the audit log
// and recordings directory can be written, the host keys and interception
// keys read (or, when missing, generated in a writable directory), and the
// listen and metrics addresses bound (an address already in use, as by a
// running gateway, counts as valid).
// `private_keys`: also load the upstream CA key and the audit signing key
// (and forget them): `--check` does; start-up leaves them to the signer
// process, so the network-facing process never reads them. With `user:`,
// the paths the gateway writes must be writable by that user.
Loaded LoadAll(const Config& config, bool private_keys);

}  // namespace hopgate::proxy
