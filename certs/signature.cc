#include "certs/signature.h"

#include "certs/openssl_util.h"
#include "common/strings.h"
#include "common/wire.h"

namespace hopgate::certs {
namespace {

constexpr char kBadSignature[] = "bad signature";

internal::Curve CurveOf(KeyType type) {
  switch (type) {
    case KeyType::kEcdsaP384: return internal::Curve::kP384;
    case KeyType::kEcdsaP521: return internal::Curve::kP521;
    default: return internal::Curve::kP256;
  }
}

Status VerifyEd25519(const PublicKey& key, std::string_view sig,
                     std::string_view data) {
  if (sig.size() != 64) return Error{kBadSignature};
  auto evp = internal::Ed25519PublicKey(key.ed25519_key);
  if (!evp.ok() || !internal::EvpVerify(evp->get(), nullptr, data, sig)) {
    return Error{kBadSignature};
  }
  return Status::Ok();
}

Status VerifyEcdsa(const PublicKey& key, std::string_view sig,
                   std::string_view data) {
  internal::Curve curve = CurveOf(key.type);
  uint32_t max = static_cast<uint32_t>(internal::CurveFieldBytes(curve) + 1);
  WireReader r(sig);
  std::string_view mp_r, mp_s;
  if (!r.ReadMpint(&mp_r, max) || !r.ReadMpint(&mp_s, max) || !r.ExpectEnd() ||
      mp_r.empty() || mp_s.empty()) {
    return Error{kBadSignature};
  }
  auto der = internal::EcdsaRsToDer(mp_r, mp_s);
  auto evp = internal::EcdsaPublicKey(curve, key.ec_point);
  if (!der.ok() || !evp.ok() ||
      !internal::EvpVerify(evp->get(), internal::CurveDigest(curve), data,
                           *der)) {
    return Error{kBadSignature};
  }
  return Status::Ok();
}

Status VerifyRsa(const PublicKey& key, const EVP_MD* md, std::string_view sig,
                 std::string_view data) {
  size_t modlen = (static_cast<size_t>(key.Bits()) + 7) / 8;
  if (sig.empty() || sig.size() > modlen) return Error{kBadSignature};
  // OpenSSH accepts signatures shorter than the modulus (leading zeros
  // dropped by some signers) and pads them back.
  std::string padded(modlen - sig.size(), '\0');
  padded.append(sig);
  auto evp = internal::RsaPublicKey(key.rsa_e, key.rsa_n);
  if (!evp.ok() ||
      !internal::EvpVerify(evp->get(), md, data, padded, /*rsa_pkcs1=*/true)) {
    return Error{kBadSignature};
  }
  return Status::Ok();
}

}  // namespace

Result<std::string> SignatureAlgorithm(std::string_view sig_blob) {
  WireReader r(sig_blob);
  std::string name;
  if (!r.ReadString(&name, 128)) return Error{kBadSignature};
  return name;
}

Status VerifySignature(const PublicKey& key, std::string_view sig_blob,
                       std::string_view data, bool allow_sha1) {
  WireReader r(sig_blob);
  std::string_view alg, sig;
  if (!r.ReadString(&alg, 128) || !r.ReadString(&sig, 8192) || !r.ExpectEnd()) {
    return Error{kBadSignature};
  }
  auto mismatch = [&]() -> Status {
    return Error{"signature algorithm " + Quote(alg) + " does not match key type " +
                 std::string(key.TypeName())};
  };
  switch (key.type) {
    case KeyType::kEd25519:
      if (alg != "ssh-ed25519") return mismatch();
      return VerifyEd25519(key, sig, data);
    case KeyType::kEcdsaP256:
    case KeyType::kEcdsaP384:
    case KeyType::kEcdsaP521:
      if (alg != key.TypeName()) return mismatch();
      return VerifyEcdsa(key, sig, data);
    case KeyType::kRsa:
      if (alg == "rsa-sha2-256") return VerifyRsa(key, EVP_sha256(), sig, data);
      if (alg == "rsa-sha2-512") return VerifyRsa(key, EVP_sha512(), sig, data);
      if (alg == "ssh-rsa") {
        if (!allow_sha1) return Error{"SHA-1 signature (ssh-rsa) refused"};
        return VerifyRsa(key, EVP_sha1(), sig, data);
      }
      return mismatch();
  }
  return Error{kBadSignature};
}

}  // namespace hopgate::certs
