// Thin RAII helpers over OpenSSL 3 EVP for the certs package: building keys
// from raw SSH key material, digests by curve, DER <-> (r, s) for ECDSA.
// Internal to certs/. Functions are thread-safe; objects are not shared.
#pragma once

#include <openssl/evp.h>

#include <memory>
#include <string>
#include <string_view>

#include "common/result.h"

namespace hopgate::certs::internal {

struct EvpPkeyDeleter {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
using EvpPkeyPtr = std::unique_ptr<EVP_PKEY, EvpPkeyDeleter>;

struct EvpMdCtxDeleter {
  void operator()(EVP_MD_CTX* p) const { EVP_MD_CTX_free(p); }
};
using EvpMdCtxPtr = std::unique_ptr<EVP_MD_CTX, EvpMdCtxDeleter>;

enum class Curve { kP256, kP384, kP521 };

// "nistp256" -> OpenSSL group name "prime256v1", etc.
const char* CurveGroupName(Curve curve);
// Field size in bytes: 32, 48, 66.
size_t CurveFieldBytes(Curve curve);
// SHA-256 / SHA-384 / SHA-512, as RFC 5656 assigns them to the curves.
const EVP_MD* CurveDigest(Curve curve);

Result<EvpPkeyPtr> Ed25519PublicKey(std::string_view key32);
Result<EvpPkeyPtr> Ed25519PrivateKey(std::string_view seed32);
// Imports and fully checks an uncompressed point (on the curve, not the
// point at infinity, in the prime-order subgroup).
Result<EvpPkeyPtr> EcdsaPublicKey(Curve curve, std::string_view point);
// Imports a private scalar with its public point and checks they match.
Result<EvpPkeyPtr> EcdsaPrivateKey(Curve curve, std::string_view point,
                                   std::string_view scalar);
// e and n as unsigned big-endian magnitudes.
Result<EvpPkeyPtr> RsaPublicKey(std::string_view e, std::string_view n);

// Verifies `sig` over `data` with `md` (nullptr for Ed25519).
bool EvpVerify(EVP_PKEY* key, const EVP_MD* md, std::string_view data,
               std::string_view sig, bool rsa_pkcs1 = false);
Result<std::string> EvpSign(EVP_PKEY* key, const EVP_MD* md,
                            std::string_view data);

// ECDSA signature encodings: SSH's (r, s) magnitudes <-> DER ECDSA-Sig-Value.
Result<std::string> EcdsaRsToDer(std::string_view r, std::string_view s);
Status EcdsaDerToRs(std::string_view der, std::string* r, std::string* s);

// Clears a buffer holding secret material.
void Cleanse(std::string* s);

}  // namespace hopgate::certs::internal
