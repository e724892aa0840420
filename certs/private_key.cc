#include "certs/private_key.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "certs/openssl_util.h"
#include "common/encoding.h"
#include "common/strings.h"
#include "common/wire.h"

namespace hopgate::certs {
namespace {

constexpr std::string_view kBegin = "-----BEGIN OPENSSH PRIVATE KEY-----";
constexpr std::string_view kEnd = "-----END OPENSSH PRIVATE KEY-----";
constexpr std::string_view kAuthMagic("openssh-key-v1\0", 15);
constexpr size_t kBlockSize = 8;  // cipher "none"
constexpr size_t kMaxPrivateKeyText = 64 * 1024;

Error Fail(const std::string& what) { return Error{"private key: " + what}; }

bool IsEcdsa(KeyType t) {
  return t == KeyType::kEcdsaP256 || t == KeyType::kEcdsaP384 ||
         t == KeyType::kEcdsaP521;
}

internal::Curve CurveOf(KeyType type) {
  switch (type) {
    case KeyType::kEcdsaP384: return internal::Curve::kP384;
    case KeyType::kEcdsaP521: return internal::Curve::kP521;
    default: return internal::Curve::kP256;
  }
}

std::string_view CurveName(KeyType type) {
  switch (type) {
    case KeyType::kEcdsaP384: return "nistp384";
    case KeyType::kEcdsaP521: return "nistp521";
    default: return "nistp256";
  }
}

Result<std::string> DecodeArmor(std::string_view text) {
  if (text.size() > kMaxPrivateKeyText) return Fail("too large");
  size_t b = text.find(kBegin);
  if (b == std::string_view::npos) {
    if (text.find("-----BEGIN ") != std::string_view::npos) {
      return Fail("not an OpenSSH private key (PEM/PKCS#8 keys are not "
                  "supported; convert with ssh-keygen -p -f KEY)");
    }
    return Fail("missing \"" + std::string(kBegin) + "\"");
  }
  size_t start = b + kBegin.size();
  size_t e = text.find(kEnd, start);
  if (e == std::string_view::npos) return Fail("missing end marker");
  std::string b64;
  for (char c : text.substr(start, e - start)) {
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n') continue;
    b64.push_back(c);
  }
  auto decoded = Base64Decode(b64);
  if (!decoded.ok()) return Fail("bad base64: " + decoded.message());
  return decoded;
}

// The openssh-key-v1 envelope: magic, cipher and KDF (both "none"), one
// public key blob and the private section, which is returned in
// `*priv_section` (views into `data`).
Status ReadEnvelope(std::string_view data, std::string_view* pub_blob,
                    std::string_view* priv_section) {
  if (data.substr(0, kAuthMagic.size()) != kAuthMagic) {
    return Fail("not in openssh-key-v1 format");
  }
  WireReader r(data.substr(kAuthMagic.size()));
  std::string cipher, kdf;
  std::string_view kdf_options;
  uint32_t nkeys = 0;
  if (!r.ReadString(&cipher, 64) || !r.ReadString(&kdf, 64) ||
      !r.ReadString(&kdf_options, 1024) || !r.ReadU32(&nkeys)) {
    return Fail(r.error());
  }
  if (cipher != "none" || kdf != "none") {
    return Fail("encrypted private keys are not supported (cipher " +
                Quote(cipher) + "); remove the passphrase or use an agent");
  }
  if (!kdf_options.empty()) return Fail("unexpected KDF options");
  if (nkeys != 1) return Fail("expected exactly one key, found " + std::to_string(nkeys));
  if (!r.ReadString(pub_blob) || !r.ReadString(priv_section) || !r.ExpectEnd()) {
    return Fail(r.error());
  }
  if (priv_section->size() % kBlockSize != 0) return Fail("bad private section length");
  return Status::Ok();
}

// The ed25519 fields of the private section: public key and seed + public
// key, checked against each other. Sets `*pub` and `*secret` (the seed).
Status ReadEd25519Private(WireReader* p, PublicKey* pub, std::string* secret) {
  std::string_view pk, sk;
  if (!p->ReadString(&pk, 64) || !p->ReadString(&sk, 128)) return Fail(p->error());
  if (pk.size() != 32 || sk.size() != 64 || sk.substr(32) != pk) {
    return Fail("malformed ed25519 key");
  }
  std::string seed(sk.substr(0, 32));
  auto evp = internal::Ed25519PrivateKey(seed);
  if (!evp.ok()) return Fail(evp.message());
  std::string derived(32, '\0');
  size_t len = derived.size();
  if (EVP_PKEY_get_raw_public_key(evp->get(),
                                  reinterpret_cast<unsigned char*>(derived.data()),
                                  &len) != 1 ||
      len != 32 || derived != pk) {
    ERR_clear_error();
    internal::Cleanse(&seed);
    return Fail("ed25519 public key does not match the private key");
  }
  auto made = MakeEd25519PublicKey(pk);
  if (!made.ok()) return Fail(made.message());
  *pub = std::move(made).value();
  *secret = std::move(seed);
  return Status::Ok();
}

// The ECDSA fields of the private section: curve, point and scalar, checked
// against `type` and each other. Sets `*pub` and `*secret` (the scalar).
Status ReadEcdsaPrivate(WireReader* p, KeyType type, PublicKey* pub, std::string* secret) {
  std::string_view curve, point, scalar;
  if (!p->ReadString(&curve, 64) || !p->ReadString(&point, 256) ||
      !p->ReadMpint(&scalar, 128)) {
    return Fail(p->error());
  }
  if (curve != CurveName(type)) return Fail("ECDSA curve does not match key type");
  auto made = MakeEcdsaPublicKey(type, point);
  if (!made.ok()) return Fail(made.message());
  auto evp = internal::EcdsaPrivateKey(CurveOf(type), point, scalar);
  if (!evp.ok()) return Fail(evp.message());
  *pub = std::move(made).value();
  secret->assign(scalar);
  return Status::Ok();
}

// The padding after the comment: 1, 2, 3, ... up to the block size.
Status CheckPadding(std::string_view pad) {
  for (size_t i = 0; i < pad.size(); ++i) {
    if (static_cast<uint8_t>(pad[i]) != i + 1) return Fail("bad padding");
  }
  // OpenSSH pads to its cipher's block size (8 for "none"); libssh pads to
  // 16. OpenSSH itself only checks the 1, 2, 3... sequence; allow up to 2
  // blocks of 16.
  if (pad.size() >= 32) return Fail("bad padding");
  return Status::Ok();
}

}  // namespace

PrivateKey::~PrivateKey() { internal::Cleanse(&secret_); }

Result<PrivateKey> ParseOpenSshPrivateKey(std::string_view text) {
  auto raw = DecodeArmor(text);
  if (!raw.ok()) return raw.error();
  std::string_view pub_blob, priv_section;
  if (auto st = ReadEnvelope(*raw, &pub_blob, &priv_section); !st.ok()) return st.error();

  WireReader p(priv_section);
  uint32_t check1 = 0, check2 = 0;
  std::string_view type_name;
  if (!p.ReadU32(&check1) || !p.ReadU32(&check2) || !p.ReadString(&type_name, 256)) {
    return Fail(p.error());
  }
  if (check1 != check2) return Fail("check bytes do not match (corrupt key)");
  auto type = KeyTypeFromName(type_name);
  if (!type) return Fail(UnsupportedKeyTypeReason(type_name));
  if (*type == KeyType::kRsa) {
    return Fail("RSA private keys are not supported for signing (use an "
                "ed25519 or ECDSA key)");
  }

  PrivateKey key;
  Status st = *type == KeyType::kEd25519
                  ? ReadEd25519Private(&p, &key.public_, &key.secret_)
                  : ReadEcdsaPrivate(&p, *type, &key.public_, &key.secret_);
  if (!st.ok()) return st.error();
  if (!p.ReadString(&key.comment_, 4096)) return Fail(p.error());
  if (auto pad = CheckPadding(p.rest()); !pad.ok()) return pad.error();
  if (pub_blob != key.public_.blob) {
    return Fail("public key does not match the private key");
  }
  return key;
}

Result<PrivateKey> GenerateEd25519(std::string comment) {
  EVP_PKEY* raw = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
  if (raw == nullptr) {
    ERR_clear_error();
    return Error{"ed25519 key generation failed"};
  }
  internal::EvpPkeyPtr evp(raw);
  std::string seed(32, '\0'), pk(32, '\0');
  size_t slen = 32, plen = 32;
  if (EVP_PKEY_get_raw_private_key(evp.get(),
                                   reinterpret_cast<unsigned char*>(seed.data()),
                                   &slen) != 1 ||
      EVP_PKEY_get_raw_public_key(evp.get(),
                                  reinterpret_cast<unsigned char*>(pk.data()),
                                  &plen) != 1 ||
      slen != 32 || plen != 32) {
    ERR_clear_error();
    internal::Cleanse(&seed);
    return Error{"ed25519 key generation failed"};
  }
  auto pub = MakeEd25519PublicKey(pk);
  if (!pub.ok()) return pub.error();
  PrivateKey key;
  key.public_ = std::move(pub).value();
  key.secret_ = std::move(seed);
  key.comment_ = std::move(comment);
  return key;
}

std::string PrivateKey::ToOpenSshText() const {
  uint32_t check = 0;
  if (RAND_bytes(reinterpret_cast<unsigned char*>(&check), sizeof check) != 1) {
    check = 0x68677465;  // the check bytes only detect wrong passphrases
  }
  WireWriter priv;
  priv.PutU32(check);
  priv.PutU32(check);
  priv.PutString(public_.TypeName());
  std::string sk;
  if (public_.type == KeyType::kEd25519) {
    priv.PutString(public_.ed25519_key);
    sk = secret_ + public_.ed25519_key;
    priv.PutString(sk);
  } else {
    priv.PutString(CurveName(public_.type));
    priv.PutString(public_.ec_point);
    priv.PutMpint(secret_);
  }
  priv.PutString(comment_);
  for (uint8_t i = 1; priv.data().size() % kBlockSize != 0; ++i) priv.PutU8(i);

  WireWriter w;
  w.PutRaw(kAuthMagic);
  w.PutString("none");
  w.PutString("none");
  w.PutString("");
  w.PutU32(1);
  w.PutString(public_.blob);
  std::string priv_bytes = priv.Take();
  w.PutString(priv_bytes);
  std::string blob = w.Take();
  std::string b64 = Base64Encode(blob);
  std::string out(kBegin);
  out += '\n';
  for (size_t i = 0; i < b64.size(); i += 70) {
    out.append(b64, i, 70);
    out += '\n';
  }
  out += kEnd;
  out += '\n';
  internal::Cleanse(&sk);
  internal::Cleanse(&priv_bytes);
  internal::Cleanse(&blob);
  internal::Cleanse(&b64);
  return out;
}

Result<std::string> PrivateKey::Sign(std::string_view data) const {
  WireWriter w;
  w.PutString(public_.TypeName());
  if (public_.type == KeyType::kEd25519) {
    auto evp = internal::Ed25519PrivateKey(secret_);
    if (!evp.ok()) return evp.error();
    auto sig = internal::EvpSign(evp->get(), nullptr, data);
    if (!sig.ok()) return sig.error();
    w.PutString(*sig);
    return w.Take();
  }
  if (!IsEcdsa(public_.type)) return Error{"unsupported signing key type"};
  internal::Curve curve = CurveOf(public_.type);
  auto evp = internal::EcdsaPrivateKey(curve, public_.ec_point, secret_);
  if (!evp.ok()) return evp.error();
  auto der = internal::EvpSign(evp->get(), internal::CurveDigest(curve), data);
  if (!der.ok()) return der.error();
  std::string r, s;
  if (auto st = internal::EcdsaDerToRs(*der, &r, &s); !st.ok()) return st.error();
  WireWriter inner;
  inner.PutMpint(r);
  inner.PutMpint(s);
  w.PutString(inner.data());
  return w.Take();
}

}  // namespace hopgate::certs
