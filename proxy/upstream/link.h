// Private to the upstream package: one shared SSH connection to a jump host
// (a Link), run on its own thread, and the stream requests it serves. See
// upstream.h for what links are for. Thread-safe where marked; the rest runs
// on the link's thread.
#pragma once

#include <fcntl.h>
#include <openssl/rand.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <ctime>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>

#include "common/unique_fd.h"
#include "proxy/base/clock.h"
#include "proxy/ssh/relay.h"
#include "proxy/upstream/upstream.h"

namespace hopgate::proxy {

// Owns a channel until it is freed or handed to a TcpRelay (release()).
struct ChannelDeleter {
  void operator()(ssh_channel c) const { ssh_channel_free(c); }
};
using ChannelPtr = std::unique_ptr<ssh_channel_struct, ChannelDeleter>;

// One stream requested from a link: a direct-tcpip channel opened by the
// link's thread and pumped to a socketpair whose other end is `fd`.
struct StreamRequest {
  std::string host;
  uint16_t port = 0;
  std::string originator;
  uint16_t originator_port = 0;
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  bool abandoned = false;  // the requester gave up waiting: close what arrives
  int fd = -1;
  std::string error;
  // Link thread only: always freed or handed on there before the request
  // completes, so it never reaches the requester's thread.
  ChannelPtr channel;
};

class Link : public std::enable_shared_from_this<Link> {
 public:
  enum class State { kConnecting, kReady, kClosed };

  Link(UpstreamPool* pool, std::string key, std::string name, int64_t idle_close_ms)
      : pool_(pool), key_(std::move(key)), name_(std::move(name)), idle_close_ms_(idle_close_ms) {}

  const std::string& key() const { return key_; }
  const std::string& name() const { return name_; }

  // Pool bookkeeping, under the pool's lock.
  int reserved = 0;

  // Is this link usable for one more stream? (pool lock held)
  bool Usable(int64_t max_channels) {
    std::lock_guard<std::mutex> lock(mu_);
    if (state_ == State::kClosed || stopping_) return false;
    return streams_ + reserved < max_channels;
  }
  bool Idle(int64_t now) {
    std::lock_guard<std::mutex> lock(mu_);
    return reserved == 0 && streams_ == 0 && queue_.empty() &&
           now - idle_since_ms_ >= idle_close_ms_;
  }

  // Connects over `fd` (taken: libssh closes it), checks the host key and
  // logs in; on success starts the link's thread. Runs on the caller's
  // thread; other callers wait in WaitReady().
  bool Establish(int fd, const Hop& hop, const RouteRequest& req,
                 signer::Signer* ca, int64_t timeout_ms,
                 RouteFailure* failure) {
    std::string reason, message;
    bool ok = Handshake(fd, hop, req, ca, timeout_ms, &reason, &message);
    if (ok) {
      int wake[2];
      if (pipe2(wake, O_NONBLOCK | O_CLOEXEC) != 0) {
        ok = false;
        reason = "other";
        message = "hop " + hop.name + ": cannot create a pipe";
      } else {
        wake_read_.reset(wake[0]);
        wake_write_.reset(wake[1]);
      }
    }
    if (ok) {
      event_.reset(ssh_event_new());
      if (event_) fds_ = std::make_unique<EventFds>(event_.get(), nullptr, nullptr);
      ssh_set_blocking(session_.get(), 0);
      if (!event_ || ssh_event_add_session(event_.get(), session_.get()) != SSH_OK ||
          ssh_event_add_fd(event_.get(), wake_read_.get(), POLLIN, &Link::OnWake, this) != SSH_OK) {
        ok = false;
        reason = "other";
        message = "hop " + hop.name + ": cannot set up the event loop";
      }
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (ok) {
        state_ = State::kReady;
        idle_since_ms_ = SteadyMs();
      } else {
        state_ = State::kClosed;
        fail_reason_ = reason;
        fail_message_ = message;
      }
    }
    cv_.notify_all();
    if (!ok) {
      if (event_ && session_) ssh_event_remove_session(event_.get(), session_.get());
      event_.reset();
      session_.reset();
      failure->hop = hop.name;
      failure->reason = reason;
      failure->message = message;
      return false;
    }
    pool_->StartLinkThread(shared_from_this());
    return true;
  }

  // The transport to the hop could not be made: fail the link and its waiters.
  void MarkFailed(const RouteFailure& failure) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      state_ = State::kClosed;
      fail_reason_ = failure.reason;
      fail_message_ = failure.message;
    }
    cv_.notify_all();
  }

  // Waits for a link another caller is establishing. False (with the
  // failure) if it failed or did not finish in time.
  bool WaitReady(int64_t timeout_ms, RouteFailure* failure) {
    std::unique_lock<std::mutex> lock(mu_);
    bool done = cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms),
                             [&] { return state_ != State::kConnecting; });
    if (done && state_ == State::kReady) return true;
    failure->hop = name_;
    failure->reason = done ? fail_reason_ : "timeout";
    failure->message = done ? fail_message_ : "hop " + name_ + ": SSH set-up timed out";
    return false;
  }

  // Asks the link's thread for a stream to host:port; blocks until it is
  // open, refused, or `timeout_ms` passed.
  Result<int> OpenStream(const std::string& host, uint16_t port, const std::string& originator,
                         uint16_t originator_port, int64_t timeout_ms) {
    auto req = std::make_shared<StreamRequest>();
    req->host = host;
    req->port = port;
    req->originator = originator.empty() ? "127.0.0.1" : originator;
    req->originator_port = originator_port;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (state_ != State::kReady || stopping_) return Error{"the connection to it is closed"};
      queue_.push_back(req);
    }
    Wake();
    std::unique_lock<std::mutex> lock(req->mu);
    if (!req->cv.wait_for(lock, std::chrono::milliseconds(timeout_ms), [&] { return req->done; })) {
      req->abandoned = true;
      return Error{"no answer to the channel open in time"};
    }
    if (req->fd < 0) return Error{req->error};
    return req->fd;
  }

  void Stop() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
    }
    Wake();
  }

 private:
  friend class UpstreamPool;  // runs Run() on a thread it owns
  bool Handshake(int fd, const Hop& hop, const RouteRequest& req,
                 signer::Signer* ca, int64_t timeout_ms,
                 std::string* reason, std::string* message) {
    SshLogin login;
    login.name = hop.name;
    login.address = hop.address;
    login.login = hop.login;
    login.identity_text = hop.identity_text;
    login.host_key_blob = hop.host_key_blob;
    login.known_hosts_path = hop.known_hosts_path;
    login.key_id = "hopgate:" + req.user + ":" + req.connection_id;
    login.mint_user = req.user;
    login.mint_session = req.connection_id;
    login.mint_kind = 1;  // a jump host
    login.mint_target = hop.name;
    login.mint_port = hop.address.port;
    login.extensions = {"permit-port-forwarding"};
    login.valid_seconds = pool_->max_cert_validity();
    auto session = ConnectSsh(fd, login, ca, timeout_ms, reason);
    if (!session) {
      *message = "hop " + hop.name + ": " + session.message();
      return false;
    }
    session_ = std::move(*session);
    return true;
  }

  static int OnWake(socket_t fd, int revents, void* userdata) {
    char buf[64];
    while (read(fd, buf, sizeof buf) > 0) {
    }
    return 0;
  }
  void Wake() {
    if (wake_write_) {
      char c = 1;
      (void)!write(wake_write_.get(), &c, 1);
    }
  }

  static void Complete(StreamRequest& req, int fd, const std::string& error) {
    std::lock_guard<std::mutex> lock(req.mu);
    if (req.abandoned) {
      if (fd >= 0) close(fd);  // nobody will take it now
      fd = -1;
    }
    req.fd = fd;
    req.error = error;
    req.done = true;
    req.cv.notify_all();
  }

  // The link's thread: opens requested channels, pumps every stream, and
  // ends when the hop goes away, the pool shuts down, or it was idle long
  // enough.
  void Run() {
    ssh_session s = session_.get();
    std::string end;
    alive_.Attach(s, pool_->options_.alive, SteadyMs());
    while (true) {
      int64_t now = SteadyMs();
      if (!TakeRequests(s)) {
        end = "gateway shutting down";
        break;
      }
      if (!alive_.Check(now)) {
        end = "keepalive timeout: " + alive_.reason();
        spdlog::warn("upstream {}: the hop stopped answering: {}", name_, alive_.reason());
        break;
      }
      AdvanceOpens(s, now);
      SyncRelays(now);
      if (relays_.empty() && opening_.empty() && pool_->RetireIfIdle(this)) {
        end = "idle";
        break;
      }
      int64_t timeout = opening_.empty() ? std::min<int64_t>(idle_close_ms_ + 10, 60'000) : 1000;
      if (alive_.NextDeadline() != AliveCheck::kNever) {
        timeout = std::clamp<int64_t>(alive_.NextDeadline() - now + 1, 1, timeout);
      }
      // Nested polls above may have seen the hop go: do not sleep on it.
      if (HopGone(s)) {
        end = "the hop closed the connection";
        break;
      }
      ssh_event_dopoll(event_.get(), static_cast<int>(timeout));
      if (HopGone(s)) {
        end = "the hop closed the connection";
        break;
      }
    }
    Teardown(s, end);
  }

  static bool HopGone(ssh_session s) {
    return (ssh_get_status(s) & (SSH_CLOSED | SSH_CLOSED_ERROR)) || !ssh_is_connected(s);
  }

  // Moves queued requests to opening_, each with a new channel. False when
  // the link is stopping (every queued request is then refused).
  bool TakeRequests(ssh_session s) {
    std::deque<std::shared_ptr<StreamRequest>> fresh;
    bool stopping;
    {
      std::lock_guard<std::mutex> lock(mu_);
      fresh.swap(queue_);
      stopping = stopping_;
    }
    if (stopping) {
      for (auto& r : fresh) Complete(*r, -1, "the gateway is shutting down");
      return false;
    }
    for (auto& r : fresh) {
      r->channel.reset(ssh_channel_new(s));
      if (r->channel == nullptr) {
        Complete(*r, -1, "cannot create a channel: " + SessionError(s));
        continue;
      }
      opening_.push_back(r);
    }
    return true;
  }

  // Channel opens are non-blocking: each call moves the open on or reports
  // its outcome. An open channel goes to a new relay, the socket pair's
  // other end to the requester.
  void AdvanceOpens(ssh_session s, int64_t now) {
    for (size_t i = 0; i < opening_.size();) {
      StreamRequest& r = *opening_[i];
      int rc = ssh_channel_open_forward(r.channel.get(), r.host.c_str(), r.port,
                                        r.originator.c_str(), r.originator_port);
      if (rc == SSH_AGAIN) {
        ++i;
        continue;
      }
      if (rc == SSH_OK) {
        int sp[2];
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sp) != 0) {
          ssh_channel_close(r.channel.get());
          r.channel.reset();
          Complete(r, -1, "cannot create a socket pair");
        } else {
          relays_.push_back(
              std::make_unique<TcpRelay>(fds_.get(), r.channel.release(), sp[0], now));
          Complete(r, sp[1], "");
        }
      } else {
        std::string why = SessionError(s);
        r.channel.reset();
        Complete(r, -1,
                 "it refused to open a channel to " + JoinHostPort(r.host, r.port) + ": " + why);
      }
      opening_.erase(opening_.begin() + static_cast<long>(i));
    }
  }

  // Moves every relay on, drops finished ones, and publishes the stream count.
  void SyncRelays(int64_t now) {
    for (auto& relay : relays_) relay->Sync(now);
    for (size_t i = 0; i < relays_.size();) {
      if (relays_[i]->finished()) {
        relays_.erase(relays_.begin() + static_cast<long>(i));
      } else {
        ++i;
      }
    }
    std::lock_guard<std::mutex> lock(mu_);
    int streams = static_cast<int>(relays_.size() + opening_.size());
    if (streams > 0) idle_since_ms_ = now;
    streams_ = streams;
  }

  // Ending: refuse what waits, abort every stream, then leave the pool.
  void Teardown(ssh_session s, const std::string& end) {
    pool_->Remove(this);
    std::deque<std::shared_ptr<StreamRequest>> rest;
    {
      std::lock_guard<std::mutex> lock(mu_);
      state_ = State::kClosed;
      rest.swap(queue_);
    }
    for (auto& r : rest) Complete(*r, -1, "the connection to it closed");
    for (auto& r : opening_) {
      r->channel.reset();
      Complete(*r, -1, "the connection to it closed");
    }
    opening_.clear();
    for (auto& relay : relays_) relay->Abort(end);
    relays_.clear();
    spdlog::info("upstream {}: connection closed ({})", name_, end);
    ssh_event_remove_fd(event_.get(), wake_read_.get());
    ssh_event_remove_session(event_.get(), s);
    ssh_disconnect(s);
    fds_.reset();
    event_.reset();
    alive_.Detach();
    session_.reset();
  }

  UpstreamPool* pool_;
  std::string key_;
  std::string name_;
  int64_t idle_close_ms_;
  SessionPtr session_;
  EventPtr event_;
  std::unique_ptr<EventFds> fds_;  // the relays' sockets in event_ (this thread's own loop)
  UniqueFd wake_read_, wake_write_;  // a pipe: Wake() interrupts the link's poll

  std::mutex mu_;
  std::condition_variable cv_;
  State state_ = State::kConnecting;
  bool stopping_ = false;
  std::string fail_reason_, fail_message_;
  std::deque<std::shared_ptr<StreamRequest>> queue_;
  int streams_ = 0;
  int64_t idle_since_ms_ = 0;

  // The link's thread only.
  AliveCheck alive_;  // upstream.alive_*
  std::vector<std::shared_ptr<StreamRequest>> opening_;
  std::vector<std::unique_ptr<TcpRelay>> relays_;
};

}  // namespace hopgate::proxy
