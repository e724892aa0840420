#include "certs/key.h"

#include "certs/openssl_util.h"
#include "common/encoding.h"
#include "common/strings.h"

namespace hopgate::certs {
namespace {

constexpr std::string_view kCertSuffix = "-cert-v01@openssh.com";
constexpr uint32_t kMaxTypeName = 256;
// RSA modulus bounds: OpenSSH's SSH_RSA_MINIMUM_MODULUS_SIZE and
// SSHBUF_MAX_BIGNUM (16384 bits, plus a possible leading zero byte).
constexpr int kMinRsaBits = 1024;
constexpr int kMaxRsaBits = 16384;

struct TypeInfo {
  KeyType type;
  std::string_view name;
  std::string_view cert_name;
  std::string_view curve;  // ECDSA identifier inside the blob
};

constexpr TypeInfo kTypes[] = {
    {KeyType::kEd25519, "ssh-ed25519", "ssh-ed25519-cert-v01@openssh.com", ""},
    {KeyType::kEcdsaP256, "ecdsa-sha2-nistp256",
     "ecdsa-sha2-nistp256-cert-v01@openssh.com", "nistp256"},
    {KeyType::kEcdsaP384, "ecdsa-sha2-nistp384",
     "ecdsa-sha2-nistp384-cert-v01@openssh.com", "nistp384"},
    {KeyType::kEcdsaP521, "ecdsa-sha2-nistp521",
     "ecdsa-sha2-nistp521-cert-v01@openssh.com", "nistp521"},
    {KeyType::kRsa, "ssh-rsa", "ssh-rsa-cert-v01@openssh.com", ""},
};

const TypeInfo& Info(KeyType type) {
  for (const auto& t : kTypes) {
    if (t.type == type) return t;
  }
  return kTypes[0];
}

internal::Curve CurveOf(KeyType type) {
  switch (type) {
    case KeyType::kEcdsaP384: return internal::Curve::kP384;
    case KeyType::kEcdsaP521: return internal::Curve::kP521;
    default: return internal::Curve::kP256;
  }
}

bool IsEcdsa(KeyType type) {
  return type == KeyType::kEcdsaP256 || type == KeyType::kEcdsaP384 ||
         type == KeyType::kEcdsaP521;
}

int BitLength(std::string_view magnitude) {
  if (magnitude.empty()) return 0;
  int top = static_cast<uint8_t>(magnitude[0]);
  int bits = 0;
  while (top) {
    ++bits;
    top >>= 1;
  }
  return static_cast<int>((magnitude.size() - 1) * 8) + bits;
}

Status CheckRsa(std::string_view e, std::string_view n) {
  int bits = BitLength(n);
  if (bits < kMinRsaBits) {
    return Error{"RSA key of " + std::to_string(bits) +
                 " bits is too small (minimum " + std::to_string(kMinRsaBits) +
                 ")"};
  }
  if (bits > kMaxRsaBits) return Error{"RSA key is too large"};
  if (e.empty() || e.size() > 8 || (static_cast<uint8_t>(e.back()) & 1) == 0 ||
      (e.size() == 1 && static_cast<uint8_t>(e[0]) < 3)) {
    return Error{"RSA public exponent is not sane (must be odd, 3 to 2^64)"};
  }
  if ((static_cast<uint8_t>(n.back()) & 1) == 0) {
    return Error{"RSA modulus is even"};
  }
  auto evp = internal::RsaPublicKey(e, n);
  if (!evp.ok()) return evp.error();
  return Status::Ok();
}

}  // namespace

std::string_view KeyTypeName(KeyType type) { return Info(type).name; }
std::string_view CertTypeName(KeyType type) { return Info(type).cert_name; }

std::optional<KeyType> KeyTypeFromName(std::string_view name) {
  for (const auto& t : kTypes) {
    if (t.name == name) return t.type;
  }
  return std::nullopt;
}

std::optional<KeyType> KeyTypeFromCertName(std::string_view name) {
  for (const auto& t : kTypes) {
    if (t.cert_name == name) return t.type;
  }
  return std::nullopt;
}

bool IsCertificateTypeName(std::string_view name) {
  return name.size() > kCertSuffix.size() &&
         name.substr(name.size() - kCertSuffix.size()) == kCertSuffix;
}

bool IsKnownUnsupportedKeyType(std::string_view name) {
  return name == "ssh-dss" || name == "sk-ssh-ed25519@openssh.com" ||
         name == "sk-ecdsa-sha2-nistp256@openssh.com";
}

std::string UnsupportedKeyTypeReason(std::string_view name) {
  if (name == "ssh-dss" || name == "ssh-dss-cert-v01@openssh.com") {
    return "DSA keys are not supported";
  }
  if (name.substr(0, 3) == "sk-") {
    return "security-key (FIDO) keys are not supported";
  }
  if (name == "rsa-sha2-256" || name == "rsa-sha2-512" ||
      name == "rsa-sha2-256-cert-v01@openssh.com" ||
      name == "rsa-sha2-512-cert-v01@openssh.com") {
    return Quote(name) + " is a signature algorithm, not a key type";
  }
  return "unknown key type " + Quote(name);
}

std::string PublicKey::Fingerprint() const { return Sha256Fingerprint(blob); }

int PublicKey::Bits() const {
  switch (type) {
    case KeyType::kEd25519: return 256;
    case KeyType::kEcdsaP256: return 256;
    case KeyType::kEcdsaP384: return 384;
    case KeyType::kEcdsaP521: return 521;
    case KeyType::kRsa: return BitLength(rsa_n);
  }
  return 0;
}

std::string PublicKey::ToLine(std::string_view comment) const {
  std::string line(TypeName());
  line += ' ';
  line += Base64Encode(blob);
  if (!comment.empty()) {
    line += ' ';
    line += comment;
  }
  return line;
}

Result<PublicKey> ReadPublicKeyFields(KeyType type, WireReader* r) {
  PublicKey key;
  key.type = type;
  WireWriter w;
  w.PutString(KeyTypeName(type));
  if (type == KeyType::kEd25519) {
    if (!r->ReadString(&key.ed25519_key, 64)) return Error{r->error()};
    if (key.ed25519_key.size() != 32) {
      return Error{"ed25519 public key must be 32 bytes, got " +
                   std::to_string(key.ed25519_key.size())};
    }
    w.PutString(key.ed25519_key);
  } else if (IsEcdsa(type)) {
    std::string_view curve;
    if (!r->ReadString(&curve, 64) || !r->ReadString(&key.ec_point, 256)) {
      return Error{r->error()};
    }
    if (curve != Info(type).curve) {
      return Error{"ECDSA curve " + Quote(curve) + " does not match key type " +
                   std::string(KeyTypeName(type))};
    }
    auto evp = internal::EcdsaPublicKey(CurveOf(type), key.ec_point);
    if (!evp.ok()) return evp.error();
    w.PutString(curve);
    w.PutString(key.ec_point);
  } else {
    std::string_view e, n;
    if (!r->ReadMpint(&e, 64) || !r->ReadMpint(&n, kMaxRsaBits / 8 + 1)) {
      return Error{r->error()};
    }
    if (auto st = CheckRsa(e, n); !st.ok()) return st.error();
    key.rsa_e.assign(e);
    key.rsa_n.assign(n);
    w.PutMpint(e);
    w.PutMpint(n);
  }
  key.blob = w.Take();
  return key;
}

Result<PublicKey> ParsePublicKeyBlob(std::string_view blob) {
  WireReader r(blob);
  std::string_view name;
  if (!r.ReadString(&name, kMaxTypeName)) return Error{r.error()};
  auto type = KeyTypeFromName(name);
  if (!type) {
    if (IsCertificateTypeName(name) && KeyTypeFromCertName(name)) {
      return Error{"expected a plain public key, got a certificate (" +
                   std::string(name) + ")"};
    }
    return Error{UnsupportedKeyTypeReason(name)};
  }
  auto key = ReadPublicKeyFields(*type, &r);
  if (!key.ok()) return key;
  if (!r.ExpectEnd()) return Error{"public key: " + r.error()};
  return key;
}

Result<PublicKey> MakeEd25519PublicKey(std::string_view key32) {
  WireWriter w;
  w.PutString(KeyTypeName(KeyType::kEd25519));
  w.PutString(key32);
  return ParsePublicKeyBlob(w.data());
}

Result<PublicKey> MakeEcdsaPublicKey(KeyType type, std::string_view point) {
  if (!IsEcdsa(type)) return Error{"not an ECDSA key type"};
  WireWriter w;
  w.PutString(KeyTypeName(type));
  w.PutString(Info(type).curve);
  w.PutString(point);
  return ParsePublicKeyBlob(w.data());
}

Result<KeyTextFields> SplitKeyText(std::string_view line) {
  line = Trim(line);
  if (line.find_first_of("\r\n") != std::string_view::npos) {
    return Error{"expected a single line"};
  }
  auto is_space = [](char c) { return c == ' ' || c == '\t'; };
  size_t i = 0;
  while (i < line.size() && !is_space(line[i])) ++i;
  KeyTextFields f;
  f.type = line.substr(0, i);
  while (i < line.size() && is_space(line[i])) ++i;
  size_t b64_start = i;
  while (i < line.size() && !is_space(line[i])) ++i;
  std::string_view b64 = line.substr(b64_start, i - b64_start);
  f.comment = Trim(line.substr(i));
  if (f.type.empty() || b64.empty()) {
    return Error{"expected \"type base64 [comment]\""};
  }
  auto decoded = Base64Decode(b64);
  if (!decoded.ok()) return Error{"bad base64: " + decoded.message()};
  f.blob = std::move(decoded).value();
  return f;
}

Result<PublicKey> ParsePublicKeyLine(std::string_view line, std::string* comment) {
  auto fields = SplitKeyText(line);
  if (!fields.ok()) return fields.error();
  if (!KeyTypeFromName(fields->type)) {
    if (KeyTypeFromCertName(fields->type)) {
      return Error{"expected a plain public key, got a certificate (" +
                   std::string(fields->type) + ")"};
    }
    return Error{UnsupportedKeyTypeReason(fields->type)};
  }
  auto key = ParsePublicKeyBlob(fields->blob);
  if (!key.ok()) return key;
  if (key->TypeName() != fields->type) {
    return Error{"key type " + Quote(fields->type) +
                 " does not match the encoded key (" +
                 std::string(key->TypeName()) + ")"};
  }
  if (comment) comment->assign(fields->comment);
  return key;
}

Result<std::vector<PublicKey>> ParsePublicKeyLines(std::string_view text) {
  std::vector<PublicKey> keys;
  size_t line_no = 0;
  while (!text.empty()) {
    size_t nl = text.find('\n');
    std::string_view line = Trim(text.substr(0, nl));
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    ++line_no;
    if (line.empty() || line[0] == '#') continue;
    auto key = ParsePublicKeyLine(line);
    if (!key.ok()) {
      return Error{key.message(), Code::kInvalidArgument, 0, static_cast<int>(line_no)};
    }
    keys.push_back(std::move(key).value());
  }
  return keys;
}

}  // namespace hopgate::certs
