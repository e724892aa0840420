// Fuzz target: revocation list parsing (binary KRL and text) and lookups of
// fixed keys and certificates against whatever parsed.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "certs/fuzz/fuzz_fixture.h"

using namespace hopgate::certs;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const fuzz::Fixture& f = fuzz::GetFixture();
  std::string_view in(reinterpret_cast<const char*>(data), size);
  auto krl = RevocationList::Parse(in);
  if (!krl.ok()) return 0;
  (void)krl->empty();
  bool user_revoked = krl->RevokedKey(f.user).has_value();
  (void)krl->RevokedKey(f.ca.Public());
  for (const auto& cert : f.certs) {
    auto reason = krl->RevokedCertificate(cert);
    // A revoked key revokes every certificate of that key.
    if (user_revoked && !reason) abort();
  }
  return 0;
}
