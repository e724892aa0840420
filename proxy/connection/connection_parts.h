// Private parts of Connection shared by its source files (connection*.cc).
// Not for use elsewhere.
#pragma once

#include <unistd.h>

#include <memory>
#include <string>

#include "proxy/connection/connection.h"
#include "proxy/ssh/deferred_open.h"
#include "proxy/net/dialer.h"
#include "proxy/ssh/relay.h"

namespace hopgate::proxy {

struct Connection::Channel {
  uint32_t id = 0;
  std::string kind;         // direct-tcpip or forwarded-tcpip
  std::string destination;  // as requested (direct-tcpip) or the -R listen spec
  bool recorded = false;    // carries a recorded session (ends it first at shutdown)
  std::unique_ptr<TcpRelay> relay;
};

// A session channel on the gateway itself: it prints where the user may go
// and exits 0. No shell, no command ever runs on the gateway.
struct Connection::InfoSession {
  uint32_t id = 0;
  ChannelPtr channel;
  ssh_channel_callbacks_struct cb{};
  bool pty = false;
  bool requested = false;  // shell or exec arrived: answered at the top of the loop
  bool answered = false;
  bool closed = false;     // the client closed the channel

  ~InfoSession() {
    // The callbacks go before `channel` frees the channel.
    if (channel) ssh_remove_channel_callbacks(channel.get(), &cb);
  }
};

// A -R listener: the gateway listens on behalf of the client and opens a
// forwarded-tcpip channel back to it for every connection it accepts.
struct Connection::RemoteForward {
  Connection* conn = nullptr;
  uint32_t id = 0;
  std::string address;      // as the client asked ("localhost", "", "0.0.0.0")
  uint16_t port = 0;        // as asked (0: the gateway chose)
  uint16_t bound_port = 0;
  std::string bind_address;
  int fd = -1;
  bool registered = false;  // in the event (done at the top of the loop)
  int64_t paused_until_ms = 0;  // not polled before (after EMFILE)
  bool cancelled = false;   // cancel-tcpip-forward arrived, or the policy withdrew it
  std::string cancel_reason;  // when the gateway cancelled it
  std::string rule;
  std::string policy_version;
  int64_t opened_ms = 0;
  uint64_t accepted = 0;

  ~RemoteForward() {
    if (fd >= 0) close(fd);
  }
};

// A forwarded-tcpip channel the client has not confirmed yet.
struct Connection::PendingOpen {
  uint32_t id = 0;
  ChannelPtr channel;
  int fd = -1;
  std::string destination;
  int64_t started_ms = 0;

  ~PendingOpen() {
    if (fd >= 0) close(fd);  // then `channel` frees the channel
  }
};

// A direct-tcpip request waiting for what the decision or the dial needs:
// a name lookup, a route through jump hosts or a TCP connect. The client's
// request stays unanswered meanwhile (DeferredOpen); every other channel of
// the connection moves on.
struct Connection::PendingDirect {
  enum class Stage { kNew, kResolving, kRouting, kDialing, kDone };
  uint64_t id = 0;
  Stage stage = Stage::kNew;
  DeferredOpen open;
  audit::ChannelOpen event;
  std::string host;  // as requested
  uint16_t port = 0;
  std::string originator;
  uint16_t originator_port = 0;
  std::shared_ptr<const policy::Policy> policy;
  bool resolved = false;               // the lookup answered (or none was needed)
  std::string looked_up;               // the name being (or that was) resolved
  std::vector<IpAddress> addresses;    // what it resolved to
  std::string resolve_error;
  policy::Decision decision;
  int64_t deadline_ms = 0;  // of the current stage
  // kDialing
  Connection* conn = nullptr;
  int fd = -1;
  size_t next_address = 0;
  bool writable = false;
  std::string dial_error;
  DialFailure dial_failure = DialFailure::kOther;

  ~PendingDirect() {
    if (fd >= 0) close(fd);
  }
};

}  // namespace hopgate::proxy
