// What credentials mean to the policy, in one place: the narrowing a
// certificate imposes (its extensions and options as Restrictions), and the
// certificate extensions a minted upstream certificate carries for a
// decision's grants. Pure functions; thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "certs/validate.h"
#include "common/result.h"
#include "policy/decide.h"
#include "policy/restrictions.h"

namespace hopgate::policy {

// The narrowing a certificate imposes: rights only where its extensions
// grant them, its force-command, labelled `certificate "<key id>"`.
Restrictions RestrictionsFromCertificate(const certs::CertificateGrants& grants);

struct CertificateIdentity {
  std::vector<std::string> principals;
  Restrictions restrictions;
};

// For `hopctl policy explain --cert`: principals and permissions of a
// -cert.pub file, without checking trust, signature or validity.
Result<CertificateIdentity> IdentityFromCertificateText(std::string_view text,
                                                        std::string_view file);

// The permit-* extensions of a certificate minted to log in to a target
// for these grants: exactly what they allow, nothing more.
std::vector<std::string> ExtensionsForGrants(const Grants& grants);

}  // namespace hopgate::policy
