// The signer's wire protocol: what the network-facing process may ask of the
// signer process (signer.h) over their SOCK_SEQPACKET socketpair, one
// request or reply per packet. Encoded with the SSH wire types (common/
// wire.h); decoding is bounded (caps on every length and count, no trailing
// bytes) because the signer must survive a subverted network process.
// Value types; thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"

namespace hopgate::proxy::signer {

// Largest packet either side sends or accepts.
constexpr size_t kMaxPacket = 256 * 1024;
constexpr uint32_t kMaxName = 256;        // user, session id, target, principal
constexpr uint32_t kMaxPrincipals = 16;
constexpr uint32_t kMaxExtensions = 16;
constexpr uint32_t kMaxKeyBlob = 4096;
constexpr uint32_t kMaxCommand = 4096;
constexpr uint32_t kMaxCheckpoint = 128 * 1024;

enum class Kind : uint8_t {
  kMintUserCertificate = 1,
  kSignCheckpoint = 2,
  kReloadPolicy = 3,
};

// A user certificate for an upstream login (a jump host, or the target of a
// recorded session). The signer sets the key id (hopgate:<user>:<session>),
// the serial and the validity start itself.
struct MintRequest {
  std::string session_id;   // the session (or connection) it is for
  std::string user;         // the gateway user
  uint8_t target_kind = 0;  // policy::MintTarget: 1 hop, 2 recorded
  std::string target;       // hosts: name of the hop, or the recorded target
  uint16_t port = 22;
  std::string public_key;   // wire blob of the key to certify
  std::vector<std::string> principals;
  uint64_t validity_seconds = 0;
  std::vector<std::string> extensions;
  std::optional<std::string> force_command;
};

struct Request {
  uint32_t id = 0;
  Kind kind = Kind::kMintUserCertificate;
  MintRequest mint;        // kMintUserCertificate
  std::string checkpoint;  // kSignCheckpoint: the checkpoint text to sign
};

struct Reply {
  uint32_t id = 0;
  bool ok = false;
  std::string payload;  // certificate blob, SSHSIG signature, policy version; or why refused
};

std::string EncodeRequest(const Request& request);
Result<Request> DecodeRequest(std::string_view packet);
std::string EncodeReply(const Reply& reply);
Result<Reply> DecodeReply(std::string_view packet);

}  // namespace hopgate::proxy::signer
