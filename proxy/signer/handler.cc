#include "proxy/signer/handler.h"

#include <openssl/rand.h>

#include <algorithm>

#include "audit/checkpoint.h"
#include "certs/mint.h"
#include "certs/sshsig.h"
#include "common/strings.h"
#include "policy/mint_scope.h"
#include "proxy/base/logging.h"

namespace hopgate::proxy::signer {
namespace {

Reply Refuse(uint32_t id, const std::string& why) {
  spdlog::warn("signer: refused: {}", why);
  return Reply{id, false, why};
}

// Names go into the key id hopgate:<user>:<session>: no separators, no
// control characters, so the id names one user and one session.
bool CleanName(const std::string& s) {
  if (s.empty()) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return static_cast<unsigned char>(c) > 0x20 && c != 0x7f && c != ':';
  });
}

std::string JoinSet(const std::set<std::string>& s) {
  std::string out;
  for (const auto& x : s) out += (out.empty() ? "" : ", ") + x;
  return out.empty() ? "none" : out;
}

}  // namespace

Handler::Handler(HandlerOptions options, std::shared_ptr<const policy::Policy> policy)
    : options_(std::move(options)), policy_(std::move(policy)) {}

std::string Handler::Handle(std::string_view packet) {
  auto request = DecodeRequest(packet);
  if (!request) return EncodeReply(Refuse(0, request.message()));
  switch (request->kind) {
    case Kind::kMintUserCertificate:
      return EncodeReply(Mint(request->id, request->mint));
    case Kind::kSignCheckpoint:
      return EncodeReply(SignCheckpoint(request->id, request->checkpoint));
    case Kind::kReloadPolicy:
      return EncodeReply(ReloadPolicy(request->id));
  }
  return EncodeReply(Refuse(request->id, "unknown request"));
}

std::string Handler::CheckMint(const MintRequest& m) const {
  if (!options_.user_ca) return "no upstream.user_ca_key is configured";
  if (!CleanName(m.user)) return "malformed user name";
  if (!CleanName(m.session_id)) return "malformed session id";
  if (m.validity_seconds == 0 ||
      m.validity_seconds > static_cast<uint64_t>(options_.max_validity_seconds)) {
    return "validity " + std::to_string(m.validity_seconds) + "s is over upstream.max_cert_validity (" +
           std::to_string(options_.max_validity_seconds) + "s)";
  }
  if (m.target_kind != 1 && m.target_kind != 2) return "unknown target kind";
  if (!policy_) return "the signer has no policy";
  if (m.principals.empty()) return "no principal";
  auto kind = m.target_kind == 1 ? policy::MintTarget::kHop : policy::MintTarget::kRecorded;
  policy::MintScope scope = policy::ScopeForMint(*policy_, m.user, kind, m.target, m.port);
  for (const auto& p : m.principals) {
    if (!scope.principals.count(p)) {
      return "principal " + Quote(p) + " is not allowed for " + m.user + " on " + m.target +
             " by policy " + policy_->version + " (allowed: " + JoinSet(scope.principals) +
             (scope.why_empty.empty() ? "" : "; " + scope.why_empty) + ")";
    }
  }
  for (const auto& e : m.extensions) {
    if (e.rfind("permit-", 0) != 0) return "extension " + Quote(e) + " is not a permit-* extension";
    if (!scope.extensions.count(e)) {
      return "extension " + e + " is not granted to " + m.user + " on " + m.target +
             " by the policy (granted: " + JoinSet(scope.extensions) + ")";
    }
  }
  return "";
}

Reply Handler::Mint(uint32_t id, const MintRequest& m) {
  if (std::string why = CheckMint(m); !why.empty()) return Refuse(id, why);
  auto key = certs::ParsePublicKeyBlob(m.public_key);
  if (!key) return Refuse(id, "the key to certify: " + key.message());
  certs::CertificateSpec spec;
  spec.key = *key;
  RAND_bytes(reinterpret_cast<unsigned char*>(&spec.serial), sizeof spec.serial);
  spec.key_id = "hopgate:" + m.user + ":" + m.session_id;
  spec.principals = m.principals;
  uint64_t now = static_cast<uint64_t>(options_.now_seconds());
  spec.valid_after = now - 60;  // clock skew between us and the target
  spec.valid_before = now + m.validity_seconds;
  spec.extensions = m.extensions;
  std::sort(spec.extensions.begin(), spec.extensions.end());
  spec.extensions.erase(std::unique(spec.extensions.begin(), spec.extensions.end()),
                        spec.extensions.end());
  spec.force_command = m.force_command;
  auto cert = certs::MintUserCertificate(spec, *options_.user_ca);
  if (!cert) return Refuse(id, "cannot mint: " + cert.message());
  ++signatures_["user_certificate"];
  std::string principals;
  for (const auto& p : spec.principals) principals += (principals.empty() ? "" : ",") + p;
  spdlog::info("signer: signed user certificate {} serial {} for {} on {} principals [{}] "
               "valid {}s extensions [{}] ({} {})",
               spec.key_id, spec.serial, m.user, m.target, principals, m.validity_seconds,
               JoinSet({spec.extensions.begin(), spec.extensions.end()}), key->TypeName(),
               key->Fingerprint());
  return Reply{id, true, *cert};
}

Reply Handler::SignCheckpoint(uint32_t id, const std::string& text) {
  if (!options_.audit_key) return Refuse(id, "no audit signing key");
  auto parsed = audit::ParseCheckpoint(text);
  if (!parsed) return Refuse(id, "not a checkpoint: " + parsed.message());
  if (parsed->origin != options_.audit_origin) {
    return Refuse(id, "checkpoint for origin " + Quote(parsed->origin) + ", not " +
                          Quote(options_.audit_origin));
  }
  auto sig = certs::SshSigSign(*options_.audit_key, audit::kCheckpointNamespace, text);
  if (!sig) return Refuse(id, "cannot sign: " + sig.message());
  ++signatures_["audit_checkpoint"];
  spdlog::info("signer: signed audit checkpoint {} size {}", parsed->origin, parsed->size);
  return Reply{id, true, *sig};
}

Reply Handler::ReloadPolicy(uint32_t id) {
  if (!options_.load_policy) return Refuse(id, "no policy loader");
  auto p = options_.load_policy();
  if (!p) return Refuse(id, "policy reload failed: " + p.message());
  policy_ = *p;
  spdlog::info("signer: policy {} loaded", policy_->version);
  return Reply{id, true, policy_->version};
}

}  // namespace hopgate::proxy::signer
