// CA and client private keys (ed25519, ECDSA P-256/384/521) for minting
// certificates: loading unencrypted OpenSSH private key text, generating
// ed25519 keys, exporting both halves as OpenSSH text, signing. The secret is
// wiped on destruction (copies are independent). Not thread-safe to mutate;
// const use is thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "certs/key.h"
#include "common/result.h"

namespace hopgate::certs {

class PrivateKey {
 public:
  PrivateKey(const PrivateKey&) = default;
  PrivateKey(PrivateKey&&) = default;
  PrivateKey& operator=(const PrivateKey&) = default;
  PrivateKey& operator=(PrivateKey&&) = default;
  ~PrivateKey();

  KeyType type() const { return public_.type; }
  const PublicKey& Public() const { return public_; }
  const std::string& comment() const { return comment_; }
  void set_comment(std::string comment) { comment_ = std::move(comment); }

  // Unencrypted "-----BEGIN OPENSSH PRIVATE KEY-----" text (openssh-key-v1,
  // cipher "none"), loadable by ssh-keygen, ssh and libssh's
  // ssh_pki_import_privkey_base64. Ends with a newline.
  std::string ToOpenSshText() const;
  // "ssh-ed25519 AAAA... comment" (no trailing newline).
  std::string PublicLine() const { return public_.ToLine(comment_); }

  // An SSH signature blob over `data`: "ssh-ed25519" or the ECDSA name, with
  // (r, s) mpints for ECDSA. Uses OpenSSL's randomness for ECDSA.
  Result<std::string> Sign(std::string_view data) const;

 private:
  PrivateKey() = default;
  friend Result<PrivateKey> ParseOpenSshPrivateKey(std::string_view text);
  friend Result<PrivateKey> GenerateEd25519(std::string comment);

  PublicKey public_;
  std::string secret_;  // ed25519: 32-byte seed; ECDSA: scalar magnitude
  std::string comment_;
};

// Loads an unencrypted OpenSSH private key (ed25519 or ECDSA). Refuses
// encrypted keys ("encrypted private keys are not supported ..."), RSA, DSA
// and other types, more than one key, and inconsistent public/private halves.
Result<PrivateKey> ParseOpenSshPrivateKey(std::string_view text);

// A fresh ed25519 key pair from OpenSSL's RNG.
Result<PrivateKey> GenerateEd25519(std::string comment = {});

}  // namespace hopgate::certs
