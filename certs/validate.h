// Judges a parsed certificate against a context (time, trusted CAs, expected
// type, requested principal, client address, revocation list), as sshd does
// for TrustedUserCAKeys, and returns what the certificate grants. Pure: the
// caller passes `now`. Thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "certs/certificate.h"
#include "certs/key.h"
#include "certs/krl.h"
#include "common/net.h"
#include "common/result.h"

namespace hopgate::certs {

struct ValidationContext {
  int64_t now = 0;                       // Unix seconds
  std::vector<PublicKey> trusted_cas;    // plain CA keys
  CertType expected_type = CertType::kUser;
  std::string principal;                 // login name (user) or host name
  std::optional<IpAddress> client_address;
  const RevocationList* revocations = nullptr;  // not owned; may be null
  bool allow_sha1_signatures = false;    // SHA-1 "ssh-rsa" CA signatures
};

// What a valid certificate allows. Rights are the certificate's only: the
// caller narrows them further with its own policy.
struct CertificateGrants {
  std::optional<std::string> force_command;
  std::vector<Cidr> source_addresses;    // empty: any source
  bool permit_port_forwarding = false;
  bool permit_pty = false;
  bool permit_agent_forwarding = false;
  bool permit_x11_forwarding = false;
  bool permit_user_rc = false;

  Certificate certificate;               // key_id, serial, principals, ...
  std::string key_fingerprint;           // of the certified key
  std::string ca_fingerprint;
};

// Checks, in this order (first failure wins, message in quotes):
//  CA trusted ("CA SHA256:... not trusted"); signature ("bad signature", or
//  a SHA-1/algorithm reason); revocation ("revoked (...)"); type ("host
//  certificate presented as a user certificate"); validity ("not valid
//  before 2026-11-22T10:00:00Z", "expired at 2026-11-20T10:00:00Z");
//  principals ("certificate has no principals", "principal \"bob\" not
//  listed"); critical options ("unsupported critical option \"foo\"",
//  "source address 10.1.2.3 not in 192.168.0.0/16"); known extensions with
//  data are refused; unknown extensions are ignored.
// Why ValidateCertificate refused a certificate: Error::reason (its code is
// kUnauthenticated). Callers count and react by this, never by the message.
enum class CertRefusal {
  kInvalid = 1,     // malformed option or extension data
  kUntrustedCa,
  kBadSignature,
  kRevoked,
  kWrongType,       // host certificate for a user, or the reverse
  kNotYetValid,
  kExpired,
  kPrincipal,       // none listed, none requested, or not the one asked for
  kSourceAddress,
  kCriticalOption,  // an unsupported critical option
};

Result<CertificateGrants> ValidateCertificate(const Certificate& cert,
                                              const ValidationContext& context);

// What the certificate's options and extensions grant, without checking
// trust, signature, time, principal or source address (for explanations,
// never for login). Unsupported critical options are still refused.
Result<CertificateGrants> ReadCertificateGrants(const Certificate& cert);

// The CA signature check alone (trust is not checked).
Status VerifyCertificateSignature(const Certificate& cert, bool allow_sha1 = false);

// Parses a source-address value: comma-separated CIDRs or bare addresses.
Result<std::vector<Cidr>> ParseSourceAddressList(std::string_view text);

}  // namespace hopgate::certs
