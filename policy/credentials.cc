#include "policy/credentials.h"

#include "certs/certificate.h"
#include "common/strings.h"

namespace hopgate::policy {

Restrictions RestrictionsFromCertificate(const certs::CertificateGrants& g) {
  Restrictions r;
  r.source = "certificate " + Quote(g.certificate.key_id);
  r.port_forwarding = g.permit_port_forwarding;
  r.pty = g.permit_pty;
  r.agent_forwarding = g.permit_agent_forwarding;
  r.x11_forwarding = g.permit_x11_forwarding;
  r.user_rc = g.permit_user_rc;
  r.force_command = g.force_command;
  return r;
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

std::vector<std::string> ExtensionsForGrants(const Grants& g) {
  std::vector<std::string> out;
  if (g.agent_forwarding) out.push_back("permit-agent-forwarding");
  if (g.tcp_forwarding != TcpForwarding::kNo) out.push_back("permit-port-forwarding");
  if (g.pty) out.push_back("permit-pty");
  if (g.x11_forwarding) out.push_back("permit-X11-forwarding");
  return out;
}

}  // namespace hopgate::policy
