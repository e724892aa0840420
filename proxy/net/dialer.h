// Outbound TCP: connects to exactly the addresses a decision allowed, in
// order, with a timeout. Never resolves a name: the decision already did
// (proxy/resolver.h), and dialling anything else would dial what was not
// decided. Blocking for at most `timeout_ms`; called from a connection's own
// thread, so one slow dial never stalls another client.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/net.h"

#include "common/result.h"

namespace hopgate::proxy {

struct Dialed {
  int fd = -1;              // non-blocking, TCP_NODELAY, keepalive
  std::string address;      // the address that answered, "10.0.0.5:22"
  int64_t elapsed_ms = 0;
};

enum class DialFailure { kResolve, kRefused, kTimeout, kUnreachable, kOther };
const char* DialFailureName(DialFailure f);

struct DialError {
  DialFailure kind = DialFailure::kOther;
  std::string message;  // "connect to 10.0.0.5:22 failed: Connection refused"
};

// Returns a connected socket or fills `*error`.
Result<Dialed> Dial(const std::vector<IpAddress>& addresses, uint16_t port,
                    int64_t timeout_ms, DialError* error);

// Socket options every relayed TCP socket gets.
void TuneSocket(int fd);

}  // namespace hopgate::proxy
