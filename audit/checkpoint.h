// Checkpoints of the audit log's Merkle tree, in the C2SP tlog-checkpoint
// layout: the log's origin, the tree size, the base64 root hash, then one
// extension line with the RFC 3339 time, each ending in a newline. The text
// is signed with an SSHSIG (namespace "hopgate-audit"), so
//   ssh-keygen -Y verify -f allowed_signers -I <origin> -n hopgate-audit
//     -s CHECKPOINT.sig < CHECKPOINT    (one command line)
// checks it with no hopgate code. Pure: text in, values out.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "audit/merkle.h"
#include "common/result.h"

namespace hopgate::audit {

inline constexpr const char* kCheckpointNamespace = "hopgate-audit";

struct CheckpointText {
  std::string origin;
  uint64_t size = 0;
  Hash root;               // 32 raw bytes
  std::string time;        // RFC 3339, UTC, as written
};

std::string FormatCheckpoint(const CheckpointText& c);
// Strict: exactly four lines, a non-empty origin without control characters,
// a decimal size without leading zeros, a base64 32-byte root, a time line.
Result<CheckpointText> ParseCheckpoint(std::string_view text);

// Signs a checkpoint text; returns the armored SSHSIG. The gateway's comes
// from the audit signing key (see proxy/); tests may pass their own.
using CheckpointSigner = std::function<Result<std::string>(std::string_view text)>;

}  // namespace hopgate::audit
