#include "certs/openssl_util.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>

namespace hopgate::certs::internal {
namespace {

struct BnDeleter {
  void operator()(BIGNUM* p) const { BN_clear_free(p); }
};
using BnPtr = std::unique_ptr<BIGNUM, BnDeleter>;

struct ParamBldDeleter {
  void operator()(OSSL_PARAM_BLD* p) const { OSSL_PARAM_BLD_free(p); }
};
struct ParamDeleter {
  void operator()(OSSL_PARAM* p) const { OSSL_PARAM_free(p); }
};
struct PkeyCtxDeleter {
  void operator()(EVP_PKEY_CTX* p) const { EVP_PKEY_CTX_free(p); }
};
using PkeyCtxPtr = std::unique_ptr<EVP_PKEY_CTX, PkeyCtxDeleter>;
struct EcdsaSigDeleter {
  void operator()(ECDSA_SIG* p) const { ECDSA_SIG_free(p); }
};

const unsigned char* Bytes(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

BnPtr ToBn(std::string_view magnitude) {
  return BnPtr(BN_bin2bn(Bytes(magnitude), static_cast<int>(magnitude.size()),
                         nullptr));
}

// Builds a key of `type_name` from `params` with `selection`, then (when
// `check`) runs the matching OpenSSL consistency check.
Result<EvpPkeyPtr> FromData(const char* type_name, OSSL_PARAM_BLD* bld,
                            int selection, const char* what, bool check = true) {
  std::unique_ptr<OSSL_PARAM, ParamDeleter> params(OSSL_PARAM_BLD_to_param(bld));
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, type_name, nullptr));
  EVP_PKEY* raw = nullptr;
  if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &raw, selection, params.get()) != 1) {
    ERR_clear_error();
    return Error{std::string("invalid ") + what};
  }
  EvpPkeyPtr key(raw);
  if (!check) return key;
  PkeyCtxPtr checker(EVP_PKEY_CTX_new_from_pkey(nullptr, key.get(), nullptr));
  int ok = 0;
  if (checker) {
    ok = selection == EVP_PKEY_KEYPAIR ? EVP_PKEY_check(checker.get())
                                       : EVP_PKEY_public_check(checker.get());
  }
  if (ok != 1) {
    ERR_clear_error();
    return Error{std::string("invalid ") + what};
  }
  return key;
}

}  // namespace

const char* CurveGroupName(Curve curve) {
  switch (curve) {
    case Curve::kP256: return "prime256v1";
    case Curve::kP384: return "secp384r1";
    case Curve::kP521: return "secp521r1";
  }
  return "";
}

size_t CurveFieldBytes(Curve curve) {
  switch (curve) {
    case Curve::kP256: return 32;
    case Curve::kP384: return 48;
    case Curve::kP521: return 66;
  }
  return 0;
}

const EVP_MD* CurveDigest(Curve curve) {
  switch (curve) {
    case Curve::kP256: return EVP_sha256();
    case Curve::kP384: return EVP_sha384();
    case Curve::kP521: return EVP_sha512();
  }
  return nullptr;
}

Result<EvpPkeyPtr> Ed25519PublicKey(std::string_view key32) {
  if (key32.size() != 32) return Error{"ed25519 public key must be 32 bytes"};
  EVP_PKEY* raw = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr,
                                              Bytes(key32), key32.size());
  if (raw == nullptr) {
    ERR_clear_error();
    return Error{"invalid ed25519 public key"};
  }
  return EvpPkeyPtr(raw);
}

Result<EvpPkeyPtr> Ed25519PrivateKey(std::string_view seed32) {
  if (seed32.size() != 32) return Error{"ed25519 private key must be 32 bytes"};
  EVP_PKEY* raw = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr,
                                               Bytes(seed32), seed32.size());
  if (raw == nullptr) {
    ERR_clear_error();
    return Error{"invalid ed25519 private key"};
  }
  return EvpPkeyPtr(raw);
}

Result<EvpPkeyPtr> EcdsaPublicKey(Curve curve, std::string_view point) {
  size_t field = CurveFieldBytes(curve);
  if (point.size() != 1 + 2 * field || point[0] != 0x04) {
    return Error{"ECDSA public key is not an uncompressed point of the right size"};
  }
  std::unique_ptr<OSSL_PARAM_BLD, ParamBldDeleter> bld(OSSL_PARAM_BLD_new());
  if (!bld ||
      !OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME,
                                       CurveGroupName(curve), 0) ||
      !OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY,
                                        point.data(), point.size())) {
    return Error{"out of memory"};
  }
  return FromData("EC", bld.get(), EVP_PKEY_PUBLIC_KEY,
                  "ECDSA public key (point not on the curve)");
}

Result<EvpPkeyPtr> EcdsaPrivateKey(Curve curve, std::string_view point,
                                   std::string_view scalar) {
  BnPtr d = ToBn(scalar);
  std::unique_ptr<OSSL_PARAM_BLD, ParamBldDeleter> bld(OSSL_PARAM_BLD_new());
  if (!d || !bld ||
      !OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME,
                                       CurveGroupName(curve), 0) ||
      !OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY,
                                        point.data(), point.size()) ||
      !OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_PRIV_KEY, d.get())) {
    return Error{"out of memory"};
  }
  return FromData("EC", bld.get(), EVP_PKEY_KEYPAIR,
                  "ECDSA private key (does not match its public key)");
}

Result<EvpPkeyPtr> RsaPublicKey(std::string_view e, std::string_view n) {
  BnPtr bn_e = ToBn(e), bn_n = ToBn(n);
  std::unique_ptr<OSSL_PARAM_BLD, ParamBldDeleter> bld(OSSL_PARAM_BLD_new());
  if (!bn_e || !bn_n || !bld ||
      !OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, bn_n.get()) ||
      !OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, bn_e.get())) {
    return Error{"out of memory"};
  }
  // No EVP_PKEY_public_check here: for RSA it runs Miller-Rabin with random
  // bases, so a malformed modulus could be accepted on one parse and refused
  // on the next (found by the fuzzer). Size and parity are checked by the
  // caller, as OpenSSH does.
  return FromData("RSA", bld.get(), EVP_PKEY_PUBLIC_KEY, "RSA public key",
                  /*check=*/false);
}

bool EvpVerify(EVP_PKEY* key, const EVP_MD* md, std::string_view data,
               std::string_view sig, bool rsa_pkcs1) {
  EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  EVP_PKEY_CTX* pctx = nullptr;
  bool ok = ctx && EVP_DigestVerifyInit(ctx.get(), &pctx, md, nullptr, key) == 1;
  if (ok && rsa_pkcs1) {
    ok = EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) == 1;
  }
  ok = ok && EVP_DigestVerify(ctx.get(), Bytes(sig), sig.size(), Bytes(data),
                              data.size()) == 1;
  if (!ok) ERR_clear_error();
  return ok;
}

Result<std::string> EvpSign(EVP_PKEY* key, const EVP_MD* md,
                            std::string_view data) {
  EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  size_t len = 0;
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, md, nullptr, key) != 1 ||
      EVP_DigestSign(ctx.get(), nullptr, &len, Bytes(data), data.size()) != 1) {
    ERR_clear_error();
    return Error{"signing failed"};
  }
  std::string sig(len, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()),
                     &len, Bytes(data), data.size()) != 1) {
    ERR_clear_error();
    return Error{"signing failed"};
  }
  sig.resize(len);
  return sig;
}

Result<std::string> EcdsaRsToDer(std::string_view r, std::string_view s) {
  std::unique_ptr<ECDSA_SIG, EcdsaSigDeleter> sig(ECDSA_SIG_new());
  BnPtr bn_r = ToBn(r), bn_s = ToBn(s);
  if (!sig || !bn_r || !bn_s ||
      ECDSA_SIG_set0(sig.get(), bn_r.get(), bn_s.get()) != 1) {
    return Error{"out of memory"};
  }
  bn_r.release();  // owned by sig now
  bn_s.release();
  int len = i2d_ECDSA_SIG(sig.get(), nullptr);
  if (len <= 0) return Error{"cannot encode ECDSA signature"};
  std::string der(static_cast<size_t>(len), '\0');
  auto* p = reinterpret_cast<unsigned char*>(der.data());
  if (i2d_ECDSA_SIG(sig.get(), &p) != len) {
    return Error{"cannot encode ECDSA signature"};
  }
  return der;
}

Status EcdsaDerToRs(std::string_view der, std::string* r, std::string* s) {
  const unsigned char* p = Bytes(der);
  std::unique_ptr<ECDSA_SIG, EcdsaSigDeleter> sig(
      d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der.size())));
  if (!sig) {
    ERR_clear_error();
    return Error{"cannot decode ECDSA signature"};
  }
  const BIGNUM* bn_r = nullptr;
  const BIGNUM* bn_s = nullptr;
  ECDSA_SIG_get0(sig.get(), &bn_r, &bn_s);
  r->assign(static_cast<size_t>(BN_num_bytes(bn_r)), '\0');
  s->assign(static_cast<size_t>(BN_num_bytes(bn_s)), '\0');
  BN_bn2bin(bn_r, reinterpret_cast<unsigned char*>(r->data()));
  BN_bn2bin(bn_s, reinterpret_cast<unsigned char*>(s->data()));
  return Status::Ok();
}

void Cleanse(std::string* s) {
  if (!s->empty()) OPENSSL_cleanse(s->data(), s->size());
  s->clear();
}

}  // namespace hopgate::certs::internal
