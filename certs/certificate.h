// OpenSSH certificates (PROTOCOL.certkeys, *-cert-v01@openssh.com) parsed
// from the wire blob or `-cert.pub` text. Parsing checks structure only; the
// CA signature and every policy check happen in validate.h. Pure value types;
// thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "certs/key.h"
#include "common/result.h"

namespace hopgate::certs {

enum class CertType : uint32_t { kUser = 1, kHost = 2 };

// valid_before of a certificate that never expires.
inline constexpr uint64_t kForever = ~uint64_t{0};
// Caps on counts (OpenSSH allows 256 principals).
inline constexpr size_t kMaxPrincipals = 256;
inline constexpr size_t kMaxOptions = 64;
inline constexpr size_t kMaxCertificateBytes = 64 * 1024;

// One critical option or extension. `data` is the raw data string; for
// options with a value (force-command, source-address) it holds a string.
struct CertOption {
  std::string name;
  std::string data;
};

struct Certificate {
  std::string blob;    // the whole certificate, as parsed
  PublicKey key;       // the certified key, as a plain key
  std::string nonce;
  uint64_t serial = 0;
  CertType type = CertType::kUser;
  std::string key_id;
  std::vector<std::string> principals;
  uint64_t valid_after = 0;
  uint64_t valid_before = 0;
  std::vector<CertOption> critical_options;  // strictly ascending names
  std::vector<CertOption> extensions;        // strictly ascending names
  PublicKey signature_key;                   // the CA key (never a cert)
  std::string signature;                     // signature blob
  std::string signature_algorithm;           // e.g. "rsa-sha2-512"
  size_t ca_key_offset = 0;  // where the signature key field starts in blob
  size_t signed_length = 0;  // bytes of blob covered by the signature

  // "ssh-ed25519-cert-v01@openssh.com", ...
  std::string_view TypeName() const { return CertTypeName(key.type); }
  // Fingerprint of the certified key (not of the certificate blob), as
  // OpenSSH logs it.
  std::string Fingerprint() const { return key.Fingerprint(); }
  std::string CaFingerprint() const { return signature_key.Fingerprint(); }
  std::string_view SignedData() const {
    return std::string_view(blob).substr(0, signed_length);
  }
  // "type base64 comment", as in a -cert.pub file (no trailing newline).
  std::string ToText(std::string_view comment = {}) const;
};

// Parses a certificate blob. Refuses: unsupported key types, counts above the
// caps, NUL bytes in key id or principals, options/extensions that are not
// well-formed name/data pairs in strictly ascending name order, a CA key that
// is itself a certificate, an unknown certificate type, trailing bytes.
Result<Certificate> ParseCertificate(std::string_view blob);

// Parses `-cert.pub` text: "type base64 [comment]"; the type word must match
// the blob. `comment` receives the comment when non-null.
Result<Certificate> ParseCertificateText(std::string_view text,
                                         std::string* comment = nullptr);

// "type base64 comment" for a certificate blob (no trailing newline). The
// blob is not re-checked; its leading type name is used as the type word.
std::string CertificateToText(std::string_view blob, std::string_view comment);

}  // namespace hopgate::certs
