// AliveCheck notices an SSH peer that vanished without closing TCP (a host
// that lost power, a frozen process, a dropped NAT mapping), like sshd's
// ClientAliveInterval / ClientAliveCountMax.
//
// Any packet received from the peer proves it alive: libssh counts them in
// a counter set with ssh_set_counters(). When nothing has arrived for
// `interval_ms`, a `keepalive@openssh.com` global request with want-reply
// goes out (OpenSSH, as client and as server, answers it, with
// SSH_MSG_REQUEST_FAILURE); every further interval without a packet sends
// another. After `count_max` probes went unanswered and one more interval
// passed, the peer is declared dead: the caller ends the connection. That is
// interval * (count_max + 1) of silence, as with sshd.
//
// Never blocks: the request is sent without waiting for its reply (the
// session is non-blocking). libssh 0.10 keeps one outgoing global request in
// flight per session; a probe whose reply has not come yet is simply not
// repeated. A caller that makes a global request of its own on the same
// session (ssh_channel_listen_forward) calls Settle() first.
//
// Not thread-safe: used by the thread that runs the session. The counter
// lives in this object, so it must outlive every use of the session (declare
// it before the session, or Detach()).
#pragma once

#include <libssh/libssh.h>

#include <cstdint>
#include <limits>
#include <string>

namespace hopgate::proxy {

struct AliveSettings {
  int64_t interval_ms = 0;  // 0: off
  int64_t count_max = 3;
  bool enabled() const { return interval_ms > 0 && count_max > 0; }
};

class AliveCheck {
 public:
  static constexpr int64_t kNever = std::numeric_limits<int64_t>::max();

  AliveCheck() = default;
  ~AliveCheck() = default;
  AliveCheck(const AliveCheck&) = delete;
  AliveCheck& operator=(const AliveCheck&) = delete;

  // Starts watching `s` (its received packets count from now on).
  void Attach(ssh_session s, AliveSettings settings, int64_t now_ms);
  // Stops libssh from writing to this object's counter.
  void Detach();
  // Sends a probe when due. False once the peer is dead (see reason()).
  bool Check(int64_t now_ms);
  // When Check() next has something to do; kNever when off.
  int64_t NextDeadline() const;
  // Before a global request of the caller's own on this session: consumes
  // the outcome of an outstanding probe. Blocks (up to the session's
  // timeout) only if a probe is still unanswered.
  void Settle();
  // "no answer to 3 keepalives over 45s"
  std::string reason() const;
  // Probes sent since the peer was last heard from.
  int64_t unanswered() const { return sent_; }

 private:
  void SendProbe();

  ssh_session session_ = nullptr;
  AliveSettings settings_;
  ssh_counter_struct counter_{};
  uint64_t seen_packets_ = 0;
  int64_t last_heard_ms_ = 0;
  int64_t next_ms_ = kNever;  // next probe, or the verdict after the last one
  int64_t sent_ = 0;
  bool in_flight_ = false;  // probes were sent since the last Settle()
};

}  // namespace hopgate::proxy
