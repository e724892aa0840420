#include "proxy/ssh/relay.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

namespace hopgate::proxy {
namespace {

constexpr size_t kChunk = 64 * 1024;
// Per socket-readable event, move at most this much before letting other
// channels and connections run.
constexpr size_t kReadBudget = 512 * 1024;

// A chunk buffer for one pass of moving data, taken from the heap and
// given back when the pass ends: idle connections hold none, and freed
// chunks are reused across threads (the heap keeps them), so memory follows
// the number of relays moving data at once, not the number of connections.
class PassBuffer {
 public:
  PassBuffer() : data_(static_cast<char*>(::operator new(kChunk))) {}
  ~PassBuffer() { ::operator delete(data_); }
  PassBuffer(const PassBuffer&) = delete;
  PassBuffer& operator=(const PassBuffer&) = delete;
  char* get() const { return data_; }

 private:
  char* data_;
};

}  // namespace

TcpRelay::TcpRelay(EventFds* fds, ssh_channel channel, int fd, int64_t now_ms)
    : fds_(fds),
      channel_(channel),
      fd_(fd),
      opened_ms_(now_ms),
      last_activity_ms_(now_ms),
      now_ms_(now_ms) {
  ssh_callbacks_init(&callbacks_);
  callbacks_.userdata = this;
  callbacks_.channel_data_function = &TcpRelay::OnChannelData;
  callbacks_.channel_eof_function = &TcpRelay::OnChannelEof;
  callbacks_.channel_close_function = &TcpRelay::OnChannelClose;
  ssh_set_channel_callbacks(channel_, &callbacks_);
  // Data (and EOF) that arrived with the channel's confirmation, before
  // these callbacks existed, sits in libssh: a server that speaks first
  // (SSH, SMTP) would otherwise never be heard. The first WriteTarget()
  // drains it; Sync() notices an EOF that came with it.
  libssh_holds_data_ = true;
  // The fd is registered by the first Sync(), at the top of the loop: adding
  // to the event while it dispatches (we may be built inside a callback) is
  // not safe.
}

TcpRelay::~TcpRelay() {
  if (!finished_) Finish("relay destroyed");
}

void TcpRelay::SetInterest(short events) {
  if (events == registered_ || fd_ < 0) return;
  registered_ = fds_->Set(fd_, events, &TcpRelay::OnFd, this) ? events : 0;
}

int TcpRelay::OnChannelData(ssh_session, ssh_channel, void* data, uint32_t len, int is_stderr,
                            void* user) {
  auto* self = static_cast<TcpRelay*>(user);
  if (is_stderr || self->failed_ || self->target_shut_) return static_cast<int>(len);
  if (!self->pending_.empty()) {
    // Keep byte order: older bytes we already took go first.
    self->libssh_holds_data_ = true;
    return 0;
  }
  ssize_t n = send(self->fd_, data, len, MSG_NOSIGNAL | MSG_DONTWAIT);
  if (n < 0) {
    if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
      self->Fail(std::string("target write failed: ") + strerror(errno));
      return static_cast<int>(len);
    }
    n = 0;
  }
  self->c2t_bytes_ += static_cast<uint64_t>(n);
  if (n > 0) self->last_activity_ms_ = self->now_ms_;
  self->libssh_holds_data_ = static_cast<uint32_t>(n) < len;
  return static_cast<int>(n);
}

void TcpRelay::OnChannelEof(ssh_session, ssh_channel, void* user) {
  static_cast<TcpRelay*>(user)->client_eof_ = true;
}

void TcpRelay::OnChannelClose(ssh_session, ssh_channel, void* user) {
  auto* self = static_cast<TcpRelay*>(user);
  self->client_closed_ = true;
  self->client_eof_ = true;
}

int TcpRelay::OnFd(socket_t, int revents, void* user) {
  auto* self = static_cast<TcpRelay*>(user);
  if (self->finished_ || self->failed_) return 0;
  if (revents & (POLLOUT | POLLERR | POLLHUP)) {
    if (!self->pending_.empty() || self->libssh_holds_data_) self->WriteTarget();
  }
  if (revents & (POLLIN | POLLERR | POLLHUP)) {
    if ((self->registered_ & POLLIN) && !self->failed_) self->ReadTarget();
  }
  return 0;
}

bool TcpRelay::DrainPending() {
  while (!pending_.empty()) {
    ssize_t n = send(fd_, pending_.data(), pending_.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) return false;
      if (errno == EINTR) continue;
      Fail(std::string("target write failed: ") + strerror(errno));
      return false;
    }
    c2t_bytes_ += static_cast<uint64_t>(n);
    last_activity_ms_ = now_ms_;
    pending_.erase(0, static_cast<size_t>(n));
  }
  return true;
}

void TcpRelay::WriteTarget() {
  if (!DrainPending()) return;
  // Pull what libssh kept back while the socket was full.
  if (!libssh_holds_data_) return;
  PassBuffer pass;
  char* buf = pass.get();
  while (libssh_holds_data_ && !failed_) {
    int r = ssh_channel_read_nonblocking(channel_, buf, kChunk, 0);
    if (r <= 0) {
      libssh_holds_data_ = false;  // drained (0), EOF or error
      break;
    }
    ssize_t n = send(fd_, buf, static_cast<size_t>(r), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) {
      if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        Fail(std::string("target write failed: ") + strerror(errno));
        return;
      }
      n = 0;
    }
    c2t_bytes_ += static_cast<uint64_t>(n);
    if (n > 0) last_activity_ms_ = now_ms_;
    if (n < r) {
      pending_.assign(buf + n, static_cast<size_t>(r - n));
      return;
    }
  }
}

bool TcpRelay::FlushToClient() {
  while (!t2c_pending_.empty()) {
    int w = ssh_channel_write(channel_, t2c_pending_.data(),
                              static_cast<uint32_t>(t2c_pending_.size()));
    if (w < 0) {
      Fail("client channel write failed");
      return false;
    }
    if (w == 0) return false;  // window closed or a key re-exchange is running
    t2c_bytes_ += static_cast<uint64_t>(w);
    t2c_pending_.erase(0, static_cast<size_t>(w));
  }
  return true;
}

void TcpRelay::ReadTarget() {
  if (!FlushToClient()) return;
  PassBuffer pass;
  char* buf = pass.get();
  size_t moved = 0;
  while (moved < kReadBudget && !failed_ && !target_eof_ && !client_closed_) {
    uint32_t window = ssh_channel_window_size(channel_);
    if (window == 0) return;  // Sync() pauses reading until the window opens
    size_t want = window < kChunk ? window : kChunk;
    ssize_t n = recv(fd_, buf, want, MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      Fail(std::string("target read failed: ") + strerror(errno));
      return;
    }
    if (n == 0) {
      if (!client_eof_) target_closed_first_ = true;  // for the close reason
      target_eof_ = true;
      target_eof_pending_ = true;
      return;
    }
    last_activity_ms_ = now_ms_;
    int w = ssh_channel_write(channel_, buf, static_cast<uint32_t>(n));
    if (w < 0) {
      Fail("client channel write failed");
      return;
    }
    t2c_bytes_ += static_cast<uint64_t>(w);
    moved += static_cast<size_t>(n);
    if (w < n) {
      // libssh holds writes back during a key re-exchange: keep the rest and
      // stop reading until it is through.
      t2c_pending_.assign(buf + w, static_cast<size_t>(n - w));
      return;
    }
  }
}

void TcpRelay::Fail(const std::string& reason) {
  if (failed_) return;
  failed_ = true;
  fail_reason_ = reason;
}

void TcpRelay::Abort(const std::string& reason) {
  if (finished_) return;
  Finish(reason);
}

void TcpRelay::Sync(int64_t now_ms) {
  now_ms_ = now_ms;
  if (finished_) return;
  // An EOF that arrived before our callbacks (a flag read; no I/O).
  if (!client_eof_ && ssh_channel_is_eof(channel_)) client_eof_ = true;
  if (failed_) {
    Finish(fail_reason_);
    return;
  }
  // Client EOF: once everything it sent reached the socket, half-close it.
  if (client_eof_ && !target_shut_ && pending_.empty()) {
    if (libssh_holds_data_) {
      WriteTarget();
    }
    if (!failed_ && pending_.empty() && !libssh_holds_data_) {
      shutdown(fd_, SHUT_WR);
      target_shut_ = true;
    }
  }
  if (!t2c_pending_.empty()) FlushToClient();
  if (target_eof_pending_ && t2c_pending_.empty() && !failed_) {
    // Target EOF reaches the client only after every byte before it.
    ssh_channel_send_eof(channel_);
    target_eof_pending_ = false;
  }
  if (failed_) {
    Finish(fail_reason_);
    return;
  }
  if (client_closed_ && target_shut_) {
    Finish("client closed the channel");
    return;
  }
  if (target_shut_ && target_eof_ && !target_eof_pending_) {
    // Which side closed first says whether the target ended it (its
    // service stopped, or it died: a TCP close looks the same either way).
    Finish(target_closed_first_ ? "closed by both sides, the target first"
                                : "closed by both sides, the client first");
    return;
  }
  if (target_eof_ && !target_eof_pending_ && !close_on_target_eof_.empty()) {
    Finish(close_on_target_eof_);
    return;
  }
  short want = 0;
  if (!target_eof_ && !client_closed_ && t2c_pending_.empty() &&
      ssh_channel_window_size(channel_) > 0) {
    want |= POLLIN;
  }
  if (!pending_.empty() || libssh_holds_data_) want |= POLLOUT;
  SetInterest(want);
}

void TcpRelay::Finish(const std::string& reason) {
  if (finished_) return;
  finished_ = true;
  close_reason_ = reason;
  SetInterest(0);
  // Freed by hand, not by RAII members: the relay ends here (socket closed,
  // CLOSE sent), while a finished relay may be kept until its loop drops it.
  if (fd_ >= 0) {
    close(fd_);
    fd_ = -1;
  }
  ssh_remove_channel_callbacks(channel_, &callbacks_);
  // Sends EOF and CLOSE if not yet sent; libssh frees the channel once the
  // client's CLOSE arrives.
  ssh_channel_close(channel_);
  ssh_channel_free(channel_);
  channel_ = nullptr;
}

void TcpRelay::TakeByteDeltas(uint64_t* c2t, uint64_t* t2c) {
  *c2t = c2t_bytes_ - c2t_reported_;
  *t2c = t2c_bytes_ - t2c_reported_;
  c2t_reported_ = c2t_bytes_;
  t2c_reported_ = t2c_bytes_;
}

}  // namespace hopgate::proxy
