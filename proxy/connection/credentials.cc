#include "proxy/connection/credentials.h"

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

}  // namespace hopgate::proxy
