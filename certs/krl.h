// Key revocation: OpenSSH binary KRLs (PROTOCOL.krl, as `ssh-keygen -k`
// writes them) and the plain-text form sshd's RevokedKeys also accepts (one
// public key per line). The list is an immutable value once parsed; const
// methods are thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "certs/certificate.h"
#include "certs/key.h"
#include "common/result.h"

namespace hopgate::certs {

inline constexpr size_t kMaxKrlBytes = 16 * 1024 * 1024;
// Cap on the revoked items (serial ranges, key ids, keys, hashes) a list may
// hold, whatever its size on disk (a bitmap expands into ranges).
inline constexpr size_t kMaxKrlEntries = 2 * 1024 * 1024;

class RevocationList {
 public:
  // Revokes nothing.
  RevocationList() = default;

  // Detects the form: bytes starting with "SSHKRL\n\0" are a binary KRL,
  // anything else is text. Binary KRLs: format version 1; unknown sections or
  // critical extensions fail the load, non-critical extensions are ignored,
  // signature sections are refused (as OpenSSH 9.4+ does). Text: blank lines
  // and '#' comments allowed, every other line must be a public key or a
  // certificate ("line N: reason" otherwise); a certificate line revokes its
  // certified key. DSA and FIDO keys (never accepted by hopgate) are loaded
  // in both forms, as OpenSSH does, and simply never match.
  static Result<RevocationList> Parse(std::string_view bytes);

  // Why `key` is revoked (explicit key, SHA1 or SHA256 hash; in text form a
  // listed key), e.g. "revoked (key SHA256:...)"; nullopt if it is not.
  std::optional<std::string> RevokedKey(const PublicKey& key) const;

  // Why `cert` is revoked, checked as OpenSSH's ssh_krl_check_key does: the
  // certified key as a plain key; key id and serial (non-zero) under its CA's
  // section and under the any-CA section; then the CA key as a plain key.
  // Reasons: "revoked (key SHA256:...)", "revoked (key id \"x\")",
  // "revoked (serial 7)", "revoked (CA SHA256:...)".
  std::optional<std::string> RevokedCertificate(const Certificate& cert) const;

  bool empty() const;
  // Header fields of a binary KRL (0 / empty for text lists).
  uint64_t krl_version() const { return krl_version_; }
  uint64_t generated_date() const { return generated_date_; }
  const std::string& comment() const { return comment_; }

 private:
  struct CaSection {
    std::vector<std::pair<uint64_t, uint64_t>> serials;  // sorted, merged
    std::set<std::string> key_ids;
  };

  static Result<RevocationList> ParseBinary(std::string_view bytes);
  static Result<RevocationList> ParseText(std::string_view text);
  Status ParseCertSection(std::string_view data, size_t* entries);
  void Finish();
  std::optional<std::string> CertSectionReason(const CaSection& section,
                                               const Certificate& cert) const;
  bool KeyRevoked(const PublicKey& key) const;

  uint64_t krl_version_ = 0;
  uint64_t generated_date_ = 0;
  std::string comment_;
  // Keyed by the CA's plain key blob; "" is the any-CA section.
  std::map<std::string, CaSection> by_ca_;
  std::set<std::string> keys_;     // plain key blobs
  std::set<std::string> sha1s_;    // raw 20-byte digests of plain blobs
  std::set<std::string> sha256s_;  // raw 32-byte digests of plain blobs
};

}  // namespace hopgate::certs
