#include "certs/sshsig.h"

#include <openssl/sha.h>

#include "certs/signature.h"
#include "common/encoding.h"
#include "common/wire.h"

namespace hopgate::certs {
namespace {

constexpr std::string_view kMagic = "SSHSIG";
constexpr uint32_t kVersion = 1;
constexpr std::string_view kBegin = "-----BEGIN SSH SIGNATURE-----";
constexpr std::string_view kEnd = "-----END SSH SIGNATURE-----";

Result<std::string> MessageHash(std::string_view algorithm, std::string_view message) {
  unsigned char out[SHA512_DIGEST_LENGTH];
  if (algorithm == "sha512") {
    SHA512(reinterpret_cast<const unsigned char*>(message.data()), message.size(), out);
    return std::string(reinterpret_cast<char*>(out), SHA512_DIGEST_LENGTH);
  }
  if (algorithm == "sha256") return Sha256(message);
  return Error{"unsupported SSHSIG hash algorithm \"" + std::string(algorithm) + "\""};
}

// What the key actually signs: the preamble, namespace, reserved, hash
// algorithm and H(message), each an SSH string after the magic.
std::string SignedData(std::string_view name_space, std::string_view algorithm,
                       std::string_view hash) {
  WireWriter w;
  w.PutRaw(kMagic);
  w.PutString(name_space);
  w.PutString("");
  w.PutString(algorithm);
  w.PutString(hash);
  return w.Take();
}

std::string Armor(std::string_view blob) {
  std::string b64 = Base64Encode(blob);
  std::string out = std::string(kBegin) + "\n";
  for (size_t i = 0; i < b64.size(); i += 70) out += b64.substr(i, 70) + "\n";
  out += std::string(kEnd) + "\n";
  return out;
}

}  // namespace

Result<std::string> SshSigSign(const PrivateKey& key, std::string_view name_space,
                               std::string_view message) {
  if (name_space.empty()) return Error{"an SSHSIG namespace must not be empty"};
  auto hash = MessageHash("sha512", message);
  if (!hash) return hash.error();
  auto sig = key.Sign(SignedData(name_space, "sha512", *hash));
  if (!sig) return sig.error();
  WireWriter w;
  w.PutRaw(kMagic);
  w.PutU32(kVersion);
  w.PutString(key.Public().blob);
  w.PutString(name_space);
  w.PutString("");
  w.PutString("sha512");
  w.PutString(*sig);
  return Armor(w.data());
}

Result<SshSig> ParseSshSig(std::string_view armored) {
  size_t begin = armored.find(kBegin);
  size_t end = armored.find(kEnd);
  if (begin != 0 || end == std::string_view::npos) {
    return Error{"not an armored SSH signature (no BEGIN/END SSH SIGNATURE lines)"};
  }
  std::string b64;
  for (char c : armored.substr(kBegin.size(), end - kBegin.size())) {
    if (c != '\n' && c != '\r') b64.push_back(c);
  }
  auto blob = Base64Decode(b64);
  if (!blob) return Error{"SSH signature: " + blob.message()};
  WireReader r(*blob);
  std::string_view magic, pub;
  uint32_t version = 0;
  SshSig out;
  if (!r.ReadBytes(kMagic.size(), &magic) || magic != kMagic) {
    return Error{"SSH signature: bad magic"};
  }
  if (!r.ReadU32(&version) || version != kVersion) {
    return Error{"SSH signature: unsupported version"};
  }
  std::string reserved;
  if (!r.ReadString(&pub) || !r.ReadString(&out.name_space) || !r.ReadString(&reserved) ||
      !r.ReadString(&out.hash_algorithm) || !r.ReadString(&out.signature) || !r.ExpectEnd()) {
    return Error{"SSH signature: " + r.error()};
  }
  auto key = ParsePublicKeyBlob(pub);
  if (!key) return Error{"SSH signature: " + key.message()};
  out.key = std::move(*key);
  return out;
}

Result<SshSig> SshSigVerify(std::string_view armored, std::string_view name_space,
                            std::string_view message) {
  auto sig = ParseSshSig(armored);
  if (!sig) return sig;
  if (sig->name_space != name_space) {
    return Error{"SSH signature is for namespace \"" + sig->name_space + "\", not \"" +
                 std::string(name_space) + "\""};
  }
  auto hash = MessageHash(sig->hash_algorithm, message);
  if (!hash) return hash.error();
  Status st = VerifySignature(sig->key, sig->signature,
                              SignedData(sig->name_space, sig->hash_algorithm, *hash));
  if (!st) return Error{"SSH signature does not verify: " + st.message()};
  return sig;
}

}  // namespace hopgate::certs
