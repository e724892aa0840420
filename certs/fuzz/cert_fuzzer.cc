// Fuzz target: certificate parsing (blob and text), validation against a
// fixed context, and validation of the same body re-signed by the trusted
// fuzz CA so that the checks after the signature are reached too.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "certs/fuzz/fuzz_fixture.h"

using namespace hopgate::certs;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const fuzz::Fixture& f = fuzz::GetFixture();
  std::string_view in(reinterpret_cast<const char*>(data), size);
  (void)ParsePublicKeyBlob(in);
  (void)ParsePublicKeyLine(in);
  auto cert = ParseCertificate(in);
  if (!cert.ok()) cert = ParseCertificateText(in);
  if (!cert.ok()) return 0;
  (void)cert->Fingerprint();
  (void)cert->CaFingerprint();
  // Text form round-trips.
  auto again = ParseCertificateText(cert->ToText("c"));
  if (!again.ok() || again->blob != cert->blob) abort();
  (void)ValidateCertificate(*cert, f.ctx);
  (void)f.krl.RevokedCertificate(*cert);

  auto resigned = SignCertificateBody(
      std::string_view(cert->blob).substr(0, cert->ca_key_offset), f.ca);
  if (!resigned.ok()) abort();
  auto cert2 = ParseCertificate(*resigned);
  // A body that parsed once must parse again under a different CA key, as
  // long as the result still fits the size cap.
  if (!cert2.ok()) {
    if (resigned->size() <= kMaxCertificateBytes) abort();
    return 0;
  }
  if (!VerifyCertificateSignature(*cert2).ok()) abort();
  auto grants = ValidateCertificate(*cert2, f.ctx);
  if (grants.ok()) {
    // Whatever was granted must be consistent with the certificate.
    if (cert2->type != CertType::kUser) abort();
    if (cert2->principals.empty()) abort();
  }
  return 0;
}
