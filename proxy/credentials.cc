#include "proxy/credentials.h"

#include "certs/certificate.h"
#include "common/strings.h"
#include "common/time_util.h"

namespace hopgate::proxy {
namespace {

std::string CertTime(uint64_t t, const char* forever) {
  if (t == 0) return "always";
  if (t == certs::kForever) return forever;
  if (t > 253402300799ULL) return std::to_string(t);
  return FormatRfc3339(static_cast<int64_t>(t));
}

}  // namespace

policy::Restrictions RestrictionsFromCertificate(const certs::CertificateGrants& g) {
  policy::Restrictions r;
  r.source = "certificate " + Quote(g.certificate.key_id);
  r.port_forwarding = g.permit_port_forwarding;
  r.pty = g.permit_pty;
  r.agent_forwarding = g.permit_agent_forwarding;
  r.x11_forwarding = g.permit_x11_forwarding;
  r.user_rc = g.permit_user_rc;
  r.force_command = g.force_command;
  return r;
}

audit::CertificateInfo DescribeCertificate(const certs::Certificate& cert) {
  audit::CertificateInfo info;
  info.key_id = cert.key_id;
  info.serial = cert.serial;
  info.principals = cert.principals;
  info.ca_fingerprint = cert.CaFingerprint();
  info.valid_after = CertTime(cert.valid_after, "forever");
  info.valid_before = CertTime(cert.valid_before, "forever");
  return info;
}

Result<CertificateIdentity> IdentityFromCertificateText(std::string_view text,
                                                        std::string_view file) {
  auto cert = certs::ParseCertificateText(Trim(text));
  if (!cert) return Error{"not a certificate: " + cert.message()};
  if (cert->type != certs::CertType::kUser) return Error{"a host certificate, not a user one"};
  auto grants = certs::ReadCertificateGrants(*cert);
  if (!grants) return Error{grants.message()};
  CertificateIdentity id;
  id.principals = cert->principals;
  id.restrictions = RestrictionsFromCertificate(*grants);
  id.restrictions.source += " (" + std::string(file) + ")";
  return id;
}

}  // namespace hopgate::proxy
