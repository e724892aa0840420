// Packets over the signer's SOCK_SEQPACKET sockets: one message per packet,
// optionally with one descriptor (SCM_RIGHTS); oversized packets are
// detected (MSG_TRUNC) and refused. Thread-compatible.
#pragma once

#include <string>
#include <string_view>

#include "common/result.h"
#include "common/unique_fd.h"

namespace hopgate::proxy::signer {

// Sends `data` (and `pass_fd` when >= 0). Never raises SIGPIPE.
Status SendPacket(int fd, std::string_view data, int pass_fd = -1);

// Waits up to `timeout_ms` (-1: forever) for a packet of at most
// `max_bytes`. kUnavailable when the peer is gone, kDeadlineExceeded on
// timeout, kInvalidArgument when it was larger than `max_bytes`.
Result<std::string> ReceivePacket(int fd, int timeout_ms, size_t max_bytes,
                                  UniqueFd* received_fd = nullptr);

}  // namespace hopgate::proxy::signer
