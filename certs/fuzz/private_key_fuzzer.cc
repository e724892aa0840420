// Fuzz target: OpenSSH private key files (certs/private_key.h). An input
// that starts with '-' is the key text as written on disk; anything else is
// the decoded openssh-key-v1 bytes, armoured here so that mutations reach
// the binary fields instead of breaking the base64. A key that loads must
// write itself out and load back as the same key, and sign data that its
// public half verifies.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "certs/private_key.h"
#include "certs/signature.h"
#include "common/encoding.h"

namespace {

using namespace hopgate::certs;

void Check(bool ok) {
  if (!ok) abort();
}

std::string Armor(std::string_view raw) {
  std::string b64 = hopgate::Base64Encode(raw);
  std::string out = "-----BEGIN OPENSSH PRIVATE KEY-----\n";
  for (size_t i = 0; i < b64.size(); i += 70) out.append(b64, i, 70).append("\n");
  return out + "-----END OPENSSH PRIVATE KEY-----\n";
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 64 * 1024) return 0;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  auto key = !in.empty() && in[0] == '-' ? ParseOpenSshPrivateKey(in)
                                         : ParseOpenSshPrivateKey(Armor(in));
  if (!key.ok()) return 0;
  Check(key->type() == KeyType::kEd25519 || key->type() == KeyType::kEcdsaP256 ||
        key->type() == KeyType::kEcdsaP384 || key->type() == KeyType::kEcdsaP521);
  auto again = ParseOpenSshPrivateKey(key->ToOpenSshText());
  Check(again.ok() && again->Public().blob == key->Public().blob &&
        again->comment() == key->comment());
  auto pub = ParsePublicKeyLine(key->Public().ToLine("fuzz"));
  Check(pub.ok() && pub->blob == key->Public().blob);
  constexpr std::string_view kData = "hopgate fuzz";
  auto sig = key->Sign(kData);
  Check(sig.ok() && VerifySignature(key->Public(), *sig, kData).ok());
  return 0;
}
