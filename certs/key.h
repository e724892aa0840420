// OpenSSH public keys (ed25519, ECDSA P-256/384/521, RSA): parsing from the
// wire blob and from `type base64 [comment]` text, validation of the key
// material, canonical blobs and SHA256 fingerprints. Pure value types; every
// function is thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "common/wire.h"

namespace hopgate::certs {

enum class KeyType {
  kEd25519,
  kEcdsaP256,
  kEcdsaP384,
  kEcdsaP521,
  kRsa,
};

// "ssh-ed25519", "ecdsa-sha2-nistp256", ..., "ssh-rsa".
std::string_view KeyTypeName(KeyType type);
// "ssh-ed25519-cert-v01@openssh.com", ..., "ssh-rsa-cert-v01@openssh.com".
std::string_view CertTypeName(KeyType type);
// Plain key type names only; nullopt for certificate and unsupported names.
std::optional<KeyType> KeyTypeFromName(std::string_view name);
// Certificate type names only (the five supported ones).
std::optional<KeyType> KeyTypeFromCertName(std::string_view name);
// True for any name of the form "*-cert-v01@openssh.com" (supported or not).
bool IsCertificateTypeName(std::string_view name);
// True for well-formed key types OpenSSH knows that hopgate never accepts:
// "ssh-dss" and the FIDO "sk-*" types (plain, not certificates).
bool IsKnownUnsupportedKeyType(std::string_view name);
// A reason for names that are recognised but refused (DSA, FIDO keys) or
// unknown: "DSA keys are not supported", "unknown key type \"x\"".
std::string UnsupportedKeyTypeReason(std::string_view name);

// A plain (non-certificate) public key. `blob` is its canonical SSH wire
// encoding: two keys are the same key exactly when their blobs are equal.
struct PublicKey {
  KeyType type = KeyType::kEd25519;
  std::string blob;
  // Key material as found in the blob, for building OpenSSL keys.
  std::string ed25519_key;  // 32 bytes
  std::string ec_point;     // uncompressed SEC1 point (0x04 || X || Y)
  std::string rsa_e;        // unsigned big-endian magnitudes
  std::string rsa_n;

  std::string_view TypeName() const { return KeyTypeName(type); }
  // "SHA256:" + unpadded base64 of SHA-256(blob), as `ssh-keygen -l` prints.
  std::string Fingerprint() const;
  // Key size in bits (256 for ed25519, the curve size, the RSA modulus size).
  int Bits() const;
  // "ssh-ed25519 AAAA... comment" (no trailing newline; no comment if empty).
  std::string ToLine(std::string_view comment = {}) const;

  bool operator==(const PublicKey& other) const { return blob == other.blob; }
};

// Parses and validates a plain public key blob. Certificates, DSA, FIDO and
// unknown types are refused with a reason. Trailing bytes are an error.
Result<PublicKey> ParsePublicKeyBlob(std::string_view blob);

// Parses `type base64 [comment]` (authorized_keys style, without options).
// The type word must match the type inside the blob. `comment` receives the
// rest of the line, trimmed, when non-null.
Result<PublicKey> ParsePublicKeyLine(std::string_view line,
                                     std::string* comment = nullptr);

// Parses a list of public keys, one per line (a TrustedUserCAKeys file):
// blank lines and '#' comments are skipped; any other line must be a valid
// plain key, else an error with the reason and Error::line set.
Result<std::vector<PublicKey>> ParsePublicKeyLines(std::string_view text);

// Lower level, shared with certificate parsing: reads the key fields that
// follow the type name (and, in a certificate, the nonce) from `reader`,
// validates them, and returns the key with its canonical plain blob.
Result<PublicKey> ReadPublicKeyFields(KeyType type, WireReader* reader);

// Builds a PublicKey from raw material (used by key generation and private
// key parsing); validates exactly like ParsePublicKeyBlob.
Result<PublicKey> MakeEd25519PublicKey(std::string_view key32);
Result<PublicKey> MakeEcdsaPublicKey(KeyType type, std::string_view point);

// Splits "type base64 [comment]" text into its parts (after trimming).
// Shared by the key, certificate and revocation-list text parsers.
struct KeyTextFields {
  std::string_view type;
  std::string blob;  // base64-decoded
  std::string_view comment;
};
Result<KeyTextFields> SplitKeyText(std::string_view line);

}  // namespace hopgate::certs
