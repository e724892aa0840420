#include "certs/validate.h"

#include <algorithm>

#include "certs/signature.h"
#include "common/strings.h"
#include "common/time_util.h"
#include "common/wire.h"

namespace hopgate::certs {
namespace {

Error Refuse(CertRefusal why, std::string message) {
  return MakeError(Code::kUnauthenticated, std::move(message), static_cast<int>(why));
}

// Past year 9999 FormatRfc3339 is not meaningful; print the raw number.
std::string FormatCertTime(uint64_t t) {
  constexpr uint64_t kMaxPrintable = 253402300799;  // 9999-12-31T23:59:59Z
  if (t > kMaxPrintable) return std::to_string(t);
  return FormatRfc3339(static_cast<int64_t>(t));
}

// An option value is one string inside the data string, nothing after it.
Result<std::string> OptionString(const CertOption& opt) {
  WireReader r(opt.data);
  std::string value;
  if (!r.ReadString(&value) || !r.ExpectEnd()) {
    return Refuse(CertRefusal::kInvalid, "malformed critical option " + Quote(opt.name));
  }
  if (value.find('\0') != std::string::npos) {
    return Refuse(CertRefusal::kInvalid,
                  "critical option " + Quote(opt.name) + " contains a NUL byte");
  }
  return value;
}

// `client` null: source-address is parsed but not enforced (explanations).
Status ApplyCriticalOptions(const Certificate& cert, const std::optional<IpAddress>* client,
                            CertificateGrants* g) {
  for (const auto& opt : cert.critical_options) {
    // No critical options are defined for host certificates.
    bool user = cert.type == CertType::kUser;
    if (user && opt.name == "force-command") {
      auto v = OptionString(opt);
      if (!v.ok()) return v.error();
      g->force_command = std::move(v).value();
    } else if (user && opt.name == "source-address") {
      auto v = OptionString(opt);
      if (!v.ok()) return v.error();
      auto list = ParseSourceAddressList(*v);
      if (!list.ok()) {
        return Refuse(CertRefusal::kInvalid, "invalid source-address: " + list.message());
      }
      if (client == nullptr) {
        g->source_addresses = std::move(list).value();
        continue;
      }
      if (!*client) {
        return Refuse(CertRefusal::kSourceAddress,
                      "certificate restricted to source address " + *v +
                          " but the client address is unknown");
      }
      bool found = std::any_of(list->begin(), list->end(), [&](const Cidr& c) {
        return c.Contains(**client);
      });
      if (!found) {
        return Refuse(CertRefusal::kSourceAddress,
                      "source address " + (*client)->Unmapped().ToString() + " not in " + *v);
      }
      g->source_addresses = std::move(list).value();
    } else {
      return Refuse(CertRefusal::kCriticalOption, "unsupported critical option " + Quote(opt.name));
    }
  }
  return Status::Ok();
}

Status ApplyExtensions(const Certificate& cert, CertificateGrants* g) {
  struct Known {
    const char* name;
    bool CertificateGrants::*flag;
  };
  static constexpr Known kKnown[] = {
      {"permit-X11-forwarding", &CertificateGrants::permit_x11_forwarding},
      {"permit-agent-forwarding", &CertificateGrants::permit_agent_forwarding},
      {"permit-port-forwarding", &CertificateGrants::permit_port_forwarding},
      {"permit-pty", &CertificateGrants::permit_pty},
      {"permit-user-rc", &CertificateGrants::permit_user_rc},
  };
  if (cert.type != CertType::kUser) return Status::Ok();
  for (const auto& ext : cert.extensions) {
    for (const auto& k : kKnown) {
      if (ext.name != k.name) continue;
      // As sshd: a flag extension carrying data is corrupt.
      if (!ext.data.empty()) {
        return Refuse(CertRefusal::kInvalid, "extension " + Quote(ext.name) + " has unexpected data");
      }
      g->*k.flag = true;
    }
  }
  return Status::Ok();
}

}  // namespace

Result<std::vector<Cidr>> ParseSourceAddressList(std::string_view text) {
  std::vector<Cidr> out;
  if (text.empty()) return Error{"empty address list"};
  for (const auto& item : Split(text, ',')) {
    if (item.empty()) return Error{"empty entry in " + Quote(text)};
    auto cidr = Cidr::Parse(item);
    if (!cidr.ok()) return cidr.error();
    out.push_back(*cidr);
    if (out.size() > 256) return Error{"too many addresses"};
  }
  return out;
}

Status VerifyCertificateSignature(const Certificate& cert, bool allow_sha1) {
  return VerifySignature(cert.signature_key, cert.signature, cert.SignedData(),
                         allow_sha1);
}

Result<CertificateGrants> ValidateCertificate(const Certificate& cert,
                                              const ValidationContext& ctx) {
  bool trusted = std::any_of(ctx.trusted_cas.begin(), ctx.trusted_cas.end(),
                             [&](const PublicKey& ca) { return ca == cert.signature_key; });
  if (!trusted) {
    return Refuse(CertRefusal::kUntrustedCa, "CA " + cert.CaFingerprint() + " not trusted");
  }
  if (auto st = VerifyCertificateSignature(cert, ctx.allow_sha1_signatures); !st.ok()) {
    return Refuse(CertRefusal::kBadSignature, st.message());
  }
  if (ctx.revocations != nullptr) {
    if (auto reason = ctx.revocations->RevokedCertificate(cert)) {
      return Refuse(CertRefusal::kRevoked, *reason);
    }
  }
  if (cert.type != ctx.expected_type) {
    return Refuse(CertRefusal::kWrongType, cert.type == CertType::kHost
                                               ? "host certificate presented as a user certificate"
                                               : "user certificate presented as a host certificate");
  }
  uint64_t now = ctx.now < 0 ? 0 : static_cast<uint64_t>(ctx.now);
  if (now < cert.valid_after) {
    return Refuse(CertRefusal::kNotYetValid, "not valid before " + FormatCertTime(cert.valid_after));
  }
  if (now >= cert.valid_before) {
    return Refuse(CertRefusal::kExpired, "expired at " + FormatCertTime(cert.valid_before));
  }
  if (cert.principals.empty()) return Refuse(CertRefusal::kPrincipal, "certificate has no principals");
  if (ctx.principal.empty()) return Refuse(CertRefusal::kPrincipal, "no principal requested");
  if (std::find(cert.principals.begin(), cert.principals.end(), ctx.principal) ==
      cert.principals.end()) {
    return Refuse(CertRefusal::kPrincipal, "principal " + Quote(ctx.principal) + " not listed");
  }
  CertificateGrants g;
  if (auto st = ApplyCriticalOptions(cert, &ctx.client_address, &g); !st.ok()) return st.error();
  if (auto st = ApplyExtensions(cert, &g); !st.ok()) return st.error();
  g.certificate = cert;
  g.key_fingerprint = cert.Fingerprint();
  g.ca_fingerprint = cert.CaFingerprint();
  return g;
}

Result<CertificateGrants> ReadCertificateGrants(const Certificate& cert) {
  CertificateGrants g;
  if (auto st = ApplyCriticalOptions(cert, nullptr, &g); !st.ok()) return st.error();
  if (auto st = ApplyExtensions(cert, &g); !st.ok()) return st.error();
  g.certificate = cert;
  g.key_fingerprint = cert.Fingerprint();
  g.ca_fingerprint = cert.CaFingerprint();
  return g;
}

}  // namespace hopgate::certs
