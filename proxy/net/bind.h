// Binding a TCP socket to a configured listen address: the one place the
// daemon's listeners and `--check` turn "host:port" into a bound socket.
#pragma once

#include "common/net.h"
#include "common/result.h"
#include "common/unique_fd.h"

namespace hopgate::proxy {

// A TCP socket bound to `hp` (an IP address or "localhost"), with
// SO_REUSEADDR and, for IPv6, IPV6_V6ONLY. `socket_flags` adds to
// SOCK_STREAM | SOCK_CLOEXEC (for example SOCK_NONBLOCK). On failure the
// error's message is "HOST:PORT: reason" and `*errno_out` (when given) holds
// the errno of the call that failed (0 when `hp` is not an IP address).
Result<UniqueFd> BindTcp(const HostPort& hp, int socket_flags, int* errno_out = nullptr);

}  // namespace hopgate::proxy
