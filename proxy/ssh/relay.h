// TcpRelay pumps bytes between one SSH channel and one stream socket, both
// ways, with back-pressure and independent half-close:
//  - channel -> socket: data is written straight from libssh's buffer; what
//    the socket does not take stays in libssh, whose receive window then stops
//    growing, so the client is slowed, never buffered without bound.
//  - socket -> channel: the socket is read only up to the channel's remote
//    window, and not at all while the window is 0.
// EOF on either side is passed on as EOF (shutdown(SHUT_WR) or channel EOF);
// an error on either side closes both.
// Thread-compatible: used only by the connection thread that owns the event.
// Callbacks never free or (un)register anything; Sync(), called at the top of
// the connection loop, applies those changes (libssh runs callbacks nested).
#pragma once

#include <libssh/callbacks.h>
#include <libssh/libssh.h>

#include <cstdint>
#include <string>

#include "proxy/runtime/worker.h"

namespace hopgate::proxy {

class TcpRelay {
 public:
  // Takes ownership of `channel` (already open) and `fd` (non-blocking); `fd`
  // is registered through `fds` (the event of the thread that runs it).
  // Nothing moves until the first Sync().
  TcpRelay(EventFds* fds, ssh_channel channel, int fd, int64_t now_ms);
  ~TcpRelay();
  TcpRelay(const TcpRelay&) = delete;
  TcpRelay& operator=(const TcpRelay&) = delete;

  // Applies interest changes, resumes reading after a window adjust, and
  // finishes the relay when both directions are done or one side failed.
  void Sync(int64_t now_ms);
  // Closes both sides now (shutdown, limits, revocation).
  void Abort(const std::string& reason);
  // The socket's end also ends the channel (no half-close): for a stream
  // that carries a whole SSH session the gateway terminates itself, whose
  // client must not wait for more after the session ended.
  void set_close_on_target_eof(std::string reason) { close_on_target_eof_ = std::move(reason); }

  bool finished() const { return finished_; }
  const std::string& close_reason() const { return close_reason_; }
  uint64_t bytes_client_to_target() const { return c2t_bytes_; }
  uint64_t bytes_target_to_client() const { return t2c_bytes_; }
  int64_t opened_ms() const { return opened_ms_; }
  int64_t last_activity_ms() const { return last_activity_ms_; }
  // Bytes moved since the last call (for counters; no locking per packet).
  void TakeByteDeltas(uint64_t* c2t, uint64_t* t2c);

 private:
  static int OnChannelData(ssh_session s, ssh_channel c, void* data, uint32_t len,
                           int is_stderr, void* user);
  static void OnChannelEof(ssh_session s, ssh_channel c, void* user);
  static void OnChannelClose(ssh_session s, ssh_channel c, void* user);
  static int OnFd(socket_t fd, int revents, void* user);

  void ReadTarget();
  void WriteTarget();
  bool DrainPending();
  bool FlushToClient();
  void Fail(const std::string& reason);
  void Finish(const std::string& reason);
  void SetInterest(short events);

  EventFds* fds_;
  ssh_channel channel_;
  int fd_;
  ssh_channel_callbacks_struct callbacks_{};

  short registered_ = 0;  // events registered with the ssh_event (0 = none)
  bool client_eof_ = false;      // channel EOF received from the client
  bool client_closed_ = false;   // channel CLOSE received from the client
  bool libssh_holds_data_ = false;  // unread channel data left in libssh
  bool target_shut_ = false;     // shutdown(SHUT_WR) done on the socket
  bool target_eof_ = false;      // socket EOF seen
  bool target_eof_pending_ = false;  // ... and not yet sent as channel EOF
  bool target_closed_first_ = false;  // the target's EOF came before the client's
  bool failed_ = false;
  bool finished_ = false;
  std::string fail_reason_;
  std::string close_reason_;
  std::string close_on_target_eof_;  // non-empty: the close reason then
  std::string pending_;          // read from libssh but not yet sent (bounded)
  std::string t2c_pending_;      // read from the socket, not yet on the channel
  uint64_t c2t_bytes_ = 0, t2c_bytes_ = 0;
  uint64_t c2t_reported_ = 0, t2c_reported_ = 0;
  int64_t opened_ms_;
  int64_t last_activity_ms_;
  int64_t now_ms_;
};

}  // namespace hopgate::proxy
