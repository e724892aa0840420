// Answering a channel-open request after its libssh callback has returned.
//
// libssh 0.10 hands a direct-tcpip request to the message callback and frees
// the message when the callback returns, and it has no API to keep one: a
// request could only be answered inside the callback, so name lookups and
// TCP connects blocked every other channel of the connection. OpenSSH's sshd
// instead confirms a direct-tcpip only once its connect succeeds. To do the
// same, the few fields libssh needs to answer (the client's channel number,
// window and packet size) are copied out of the message while the callback
// runs, and a message with just those fields is rebuilt to answer later,
// through libssh's own reply functions.
//
// The copy reads libssh 0.10's message layout. It is checked on every
// message against libssh's public accessors (the destination and originator
// pointers and ports must be where the layout says); when the check fails,
// Capture() returns nullopt and the caller answers inside the callback as
// before, so a different libssh can only make hopgate slower, never wrong.
// Thread-compatible: use on the thread that owns the session.
#pragma once

#include <libssh/libssh.h>
#include <libssh/server.h>

#include <cstdint>
#include <optional>

namespace hopgate::proxy {

struct DeferredOpen {
  int channel_type = 0;  // SSH_CHANNEL_*
  uint32_t sender = 0;   // the client's channel number
  uint32_t window = 0;
  uint32_t packet_size = 0;

  // The fields of `msg`, a channel-open request of `session`, or nullopt.
  static std::optional<DeferredOpen> Capture(ssh_session session, ssh_message msg);
  // Confirms the channel; returns it (owned by the caller) or null.
  ssh_channel Accept(ssh_session session) const;
  // Refuses it (libssh's only refusal: administratively prohibited).
  void Refuse(ssh_session session) const;
};

}  // namespace hopgate::proxy
