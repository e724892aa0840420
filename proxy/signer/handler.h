// The signer's request handling, apart from any socket: decodes one request
// packet, applies the signer's own limits and returns the reply packet. It
// alone holds the upstream CA key and the audit signing key (in the signer
// process; see signer.h). Limits: validity at most upstream.max_cert_validity,
// principals and permit-* extensions only those the policy (loaded by the
// signer itself) allows that user on that target, key id always
// hopgate:<user>:<session>, checkpoints only for the configured origin.
// Every signature is counted and logged. Not thread-safe (one per process).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "certs/private_key.h"
#include "policy/policy.h"
#include "proxy/signer/protocol.h"

namespace hopgate::proxy::signer {

struct HandlerOptions {
  std::optional<certs::PrivateKey> user_ca;     // upstream.user_ca_key
  std::optional<certs::PrivateKey> audit_key;   // audit.signing_key
  int64_t max_validity_seconds = 600;           // upstream.max_cert_validity
  std::string audit_origin;                     // audit.origin
  std::function<int64_t()> now_seconds;         // wall clock, Unix seconds
  // Reads the policy again (kReloadPolicy); null policy with the error.
  std::function<Result<std::shared_ptr<const policy::Policy>>()> load_policy;
};

class Handler {
 public:
  Handler(HandlerOptions options, std::shared_ptr<const policy::Policy> policy);

  // One request packet in, one reply packet out (a refusal says why).
  std::string Handle(std::string_view packet);
  // Signatures made so far, by kind ("user_certificate", "audit_checkpoint").
  const std::map<std::string, uint64_t>& signatures() const { return signatures_; }

 private:
  Reply Mint(uint32_t id, const MintRequest& m);
  Reply SignCheckpoint(uint32_t id, const std::string& text);
  Reply ReloadPolicy(uint32_t id);
  // Empty when the request stays inside the limits; else why not.
  std::string CheckMint(const MintRequest& m) const;

  HandlerOptions options_;
  std::shared_ptr<const policy::Policy> policy_;
  std::map<std::string, uint64_t> signatures_;
};

}  // namespace hopgate::proxy::signer
