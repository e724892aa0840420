// Minting OpenSSH user certificates signed by an ed25519 or ECDSA CA key,
// e.g. the short-lived certificates the gateway uses to log in upstream.
// Pure apart from OpenSSL's RNG (nonce, ECDSA k); thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "certs/certificate.h"
#include "certs/key.h"
#include "certs/private_key.h"
#include "common/result.h"

namespace hopgate::certs {

struct CertificateSpec {
  PublicKey key;                          // the key being certified
  uint64_t serial = 0;
  std::string key_id;
  std::vector<std::string> principals;    // at least one
  uint64_t valid_after = 0;               // Unix seconds
  uint64_t valid_before = kForever;
  std::optional<std::string> force_command;
  std::vector<std::string> source_addresses;  // CIDRs or bare addresses
  // Extension names (empty data), e.g. StandardExtensions(). Sorted and
  // checked for duplicates by the minter. Default: none (no pty, no
  // forwarding).
  std::vector<std::string> extensions;
};

// The five permit-* extensions `ssh-keygen -s` grants by default.
std::vector<std::string> StandardExtensions();

// Builds and signs a user certificate; returns the certificate wire blob
// (use CertificateToText for a -cert.pub line). The result is re-parsed and
// its signature verified before it is returned.
Result<std::string> MintUserCertificate(const CertificateSpec& spec,
                                        const PrivateKey& ca);

// Lower level: appends the CA public key and a signature over everything to
// `body` (a certificate from its type name through the reserved field) and
// returns the finished blob. Tests and fuzzers use it to re-sign edited
// certificates: body = cert.blob.substr(0, cert.ca_key_offset).
Result<std::string> SignCertificateBody(std::string_view body, const PrivateKey& ca);

}  // namespace hopgate::certs
