#include "proxy/config/trust.h"

#include "common/encoding.h"
#include "proxy/config/files.h"

namespace hopgate::proxy {
namespace {

// A certs/ parse error in `file`: "FILE:3:1: reason" when it names a line.
std::string WithFile(const std::string& file, const Error& error) {
  if (error.line > 0) return file + ":" + std::to_string(error.line) + ":1: " + error.message;
  return file + ": " + error.message;
}

}  // namespace

Result<std::shared_ptr<const Trust>> LoadTrust(const Config& config) {
  auto trust = std::make_shared<Trust>();
  std::string hash_input;
  if (!config.trusted_user_ca_keys.empty()) {
    const std::string& f = config.trusted_user_ca_keys;
    auto text = ReadFile(f, 1 << 20);
    if (!text) {
      return Error{config.Where("authentication.trusted_user_ca_keys") + ": cannot read " + f +
                   ": " + text.message()};
    }
    auto keys = certs::ParsePublicKeyLines(*text);
    if (!keys) return Error{WithFile(f, keys.error())};
    if (keys->empty()) return Error{f + ": no CA keys in the file"};
    for (size_t i = 0; i < keys->size(); ++i) {
      const auto& k = (*keys)[i];
      if (k.type == certs::KeyType::kRsa && k.Bits() < config.min_rsa_bits) {
        return Error{f + ": CA key " + k.Fingerprint() + " is RSA of " + std::to_string(k.Bits()) +
                     " bits, below authentication.min_rsa_bits " +
                     std::to_string(config.min_rsa_bits)};
      }
    }
    trust->user_cas = std::move(*keys);
    hash_input += f + '\0' + *text + '\0';
  }
  if (!config.revoked_keys.empty()) {
    const std::string& f = config.revoked_keys;
    auto bytes = ReadFile(f, certs::kMaxKrlBytes);
    if (!bytes) {
      return Error{config.Where("authentication.revoked_keys") + ": cannot read " + f + ": " +
                   bytes.message()};
    }
    auto krl = certs::RevocationList::Parse(*bytes);
    if (!krl) return Error{WithFile(f, krl.error())};
    trust->revoked = std::move(*krl);
    hash_input += f + '\0' + *bytes;
  }
  if (!hash_input.empty()) trust->version = "sha256:" + Sha256Hex(hash_input).substr(0, 16);
  return std::shared_ptr<const Trust>(std::move(trust));
}

}  // namespace hopgate::proxy
