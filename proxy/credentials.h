// Bridges certs/ and policy/: what a certificate's extensions and options
// mean as policy Restrictions, and how a certificate is described in audit
// events. Pure functions.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "audit/events.h"
#include "certs/validate.h"
#include "common/result.h"
#include "policy/restrictions.h"

namespace hopgate::proxy {

// The narrowing a certificate imposes: rights only where its extensions
// grant them, its force-command, labelled `certificate "<key id>"`.
policy::Restrictions RestrictionsFromCertificate(const certs::CertificateGrants& grants);

audit::CertificateInfo DescribeCertificate(const certs::Certificate& cert);

struct CertificateIdentity {
  std::vector<std::string> principals;
  policy::Restrictions restrictions;
};

// For `hopctl policy explain --cert`: principals and permissions of a
// -cert.pub file, without checking trust, signature or validity.
Result<CertificateIdentity> IdentityFromCertificateText(std::string_view text,
                                                        std::string_view file);

}  // namespace hopgate::proxy
