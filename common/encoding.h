// Base64 (RFC 4648, strict), hex and SHA-256 helpers built on OpenSSL.
// Pure functions; thread-safe.
#pragma once

#include <string>
#include <string_view>

#include <openssl/types.h>

#include "common/result.h"

namespace hopgate {

std::string Base64Encode(std::string_view data, bool pad = true);
// Strict: only the standard alphabet, correct padding, no whitespace.
Result<std::string> Base64Decode(std::string_view text);
std::string HexEncode(std::string_view data);
// Lower- or upper-case hex, an even number of digits, nothing else.
Result<std::string> HexDecode(std::string_view text);
// Raw 32-byte digest.
std::string Sha256(std::string_view data);
std::string Sha256Hex(std::string_view data);
// Raw 20-byte digest (KRL SHA1 fingerprint sections only).
std::string Sha1(std::string_view data);
// "SHA256:" + unpadded base64 of SHA-256(blob): how OpenSSH prints a key's
// fingerprint when given the key's wire blob.
std::string Sha256Fingerprint(std::string_view blob);
// Hex of the digest a running EVP_MD_CTX has reached so far (a copy is
// finalised; `ctx` keeps going); empty if OpenSSL fails.
std::string RunningDigestHex(const EVP_MD_CTX* ctx);

}  // namespace hopgate
