// -R: tcpip-forward and cancel-tcpip-forward requests, the gateway's
// listeners for them, and the forwarded-tcpip channels opened back to the
// client for every connection they accept.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "common/strings.h"
#include "proxy/base/logging.h"
#include "proxy/connection/connection.h"
#include "proxy/connection/connection_parts.h"
#include "proxy/net/dialer.h"

namespace hopgate::proxy {
namespace {

constexpr size_t kMaxForwards = 64;       // -R listeners per connection
constexpr int64_t kOpenTimeoutMs = 30'000;  // client must confirm forwarded-tcpip

std::string PeerText(const sockaddr_storage& ss, uint16_t* port) {
  char buf[INET6_ADDRSTRLEN] = "?";
  *port = 0;
  if (ss.ss_family == AF_INET) {
    auto* a = reinterpret_cast<const sockaddr_in*>(&ss);
    inet_ntop(AF_INET, &a->sin_addr, buf, sizeof buf);
    *port = ntohs(a->sin_port);
  } else if (ss.ss_family == AF_INET6) {
    auto* a = reinterpret_cast<const sockaddr_in6*>(&ss);
    inet_ntop(AF_INET6, &a->sin6_addr, buf, sizeof buf);
    *port = ntohs(a->sin6_port);
  }
  return buf;
}

// Binds a listening socket for -R. Returns the fd and the bound port.
Result<int> ListenOn(const std::string& address, uint16_t port, uint16_t* bound) {
  auto ip = IpAddress::Parse(address);
  if (!ip) return Error{"not an IP address: " + address};
  sockaddr_storage ss{};
  socklen_t len;
  if (ip->v6) {
    auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
    a->sin6_family = AF_INET6;
    a->sin6_port = htons(port);
    memcpy(&a->sin6_addr, ip->bytes.data(), 16);
    len = sizeof *a;
  } else {
    auto* a = reinterpret_cast<sockaddr_in*>(&ss);
    a->sin_family = AF_INET;
    a->sin_port = htons(port);
    memcpy(&a->sin_addr, ip->bytes.data(), 4);
    len = sizeof *a;
  }
  int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return Error{strerror(errno)};
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (ip->v6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  if (bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0 || listen(fd, 128) != 0) {
    std::string err = strerror(errno);
    close(fd);
    return Error{err};
  }
  sockaddr_storage got{};
  socklen_t got_len = sizeof got;
  getsockname(fd, reinterpret_cast<sockaddr*>(&got), &got_len);
  PeerText(got, bound);
  return fd;
}

}  // namespace

void Connection::HandleTcpipForward(ssh_message msg) {
  const char* addr = ssh_message_global_request_address(msg);
  int port = ssh_message_global_request_port(msg);
  std::string address = addr ? addr : "";
  audit::ChannelOpen e;
  e.channel = NextChannelId();
  e.kind = "tcpip-forward";
  e.destination = JoinHostPort(address.empty() ? "*" : address, static_cast<uint16_t>(port));
  auto policy = gw_->policy().Get();
  e.policy_version = policy->version;
  auto refuse = [&]() {
    (void)AuditChannelOpen(e);
    spdlog::info("conn={} user={} tcpip-forward on {} refused: {}{}", id_, user_, e.destination,
                 e.reason, e.error);
    ssh_message_reply_default(msg);
  };
  if (port < 0 || port > 65535) {
    e.reason = "malformed port";
    refuse();
    return;
  }
  if (forwards_.size() + incoming_forwards_.size() >= kMaxForwards) {
    e.reason = "too many remote forwards on this connection (limit " +
               std::to_string(kMaxForwards) + ")";
    refuse();
    return;
  }
  policy::Decision d = policy::Decide(
      *policy, CurrentIdentity(), policy::Request::Listen(address, static_cast<uint16_t>(port)));
  e.rule = d.rule;
  e.allow = d.allow;
  if (!d.allow) {
    e.reason = d.reason;
    refuse();
    return;
  }
  uint16_t bound = 0;
  auto fd = ListenOn(d.bind_address, static_cast<uint16_t>(port), &bound);
  if (!fd) {
    e.error = "cannot listen on " + JoinHostPort(d.bind_address, static_cast<uint16_t>(port)) +
              ": " + fd.message();
    refuse();
    return;
  }
  e.dial = JoinHostPort(d.bind_address, bound);
  if (Status st = AuditChannelOpen(e); !st) {
    close(*fd);
    ssh_message_reply_default(msg);
    return;
  }
  auto fwd = std::make_unique<RemoteForward>();
  fwd->conn = this;
  fwd->id = e.channel;
  fwd->address = address;
  fwd->port = static_cast<uint16_t>(port);
  fwd->bound_port = bound;
  fwd->bind_address = d.bind_address;
  fwd->fd = *fd;
  fwd->rule = d.rule;
  fwd->policy_version = policy->version;
  fwd->opened_ms = gw_->NowMs();
  ssh_message_global_request_reply_success(msg, bound);
  gw_->metrics().ChannelsActive("tcpip-forward", 1);
  spdlog::info("conn={} user={} listening on {} for the client (rule {})", id_, user_, e.dial,
               d.rule);
  incoming_forwards_.push_back(std::move(fwd));
  NoteLimits(d);
}

void Connection::HandleCancelForward(ssh_message msg) {
  const char* addr = ssh_message_global_request_address(msg);
  int port = ssh_message_global_request_port(msg);
  std::string address = addr ? addr : "";
  for (auto* list : {&forwards_, &incoming_forwards_}) {
    for (auto& f : *list) {
      if (!f->cancelled && f->address == address && f->bound_port == port) {
        f->cancelled = true;  // closed at the top of the loop
        ssh_message_global_request_reply_success(msg, 0);
        return;
      }
    }
  }
  ssh_message_reply_default(msg);
}

int Connection::OnListener(socket_t, int, void* userdata) {
  auto* fwd = static_cast<RemoteForward*>(userdata);
  if (!fwd->cancelled) fwd->conn->AcceptForwarded(*fwd);
  // A listener paused at the open-files limit was removed from the event
  // inside this callback, which libssh wants to hear as -1.
  return fwd->registered ? 0 : -1;
}

void Connection::AcceptForwarded(RemoteForward& fwd) {
  for (int burst = 0; burst < 16; ++burst) {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    int fd = accept4(fwd.fd, reinterpret_cast<sockaddr*>(&ss), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EMFILE || errno == ENFILE) {
        // Out of descriptors: rest this listener a second rather than spin
        // on a socket that stays readable.
        fds_->Remove(fwd.fd);
        fwd.registered = false;
        fwd.paused_until_ms = gw_->NowMs() + 1000;
        spdlog::warn("conn={} -R listener {}: accept failed: {}; pausing it for 1s", id_,
                     JoinHostPort(fwd.bind_address, fwd.bound_port), strerror(errno));
      }
      return;
    }
    TuneSocket(fd);
    uint16_t peer_port = 0;
    std::string peer = PeerText(ss, &peer_port);
    if (!RecheckForward(fwd, fd, peer, peer_port)) return;
    if (!ChannelSlotFree()) {
      close(fd);
      audit::ChannelOpen e;
      e.channel = NextChannelId();
      e.kind = "forwarded-tcpip";
      e.destination = JoinHostPort(fwd.address.empty() ? "*" : fwd.address, fwd.bound_port);
      e.originator = JoinHostPort(peer, peer_port);
      e.policy_version = gw_->policy().Get()->version;
      RefuseOverCap(e);
      continue;
    }
    OpenForwarded(fwd, fd, peer, peer_port);
  }
}

bool Connection::RecheckForward(RemoteForward& fwd, int fd, const std::string& peer,
                                uint16_t peer_port) {
  // Live policy: each connection to the listener is decided again when a
  // reload changed the policy since the listener was granted.
  auto policy = gw_->policy().Get();
  if (policy->version == fwd.policy_version) return true;
  policy::Decision d =
      policy::Decide(*policy, CurrentIdentity(), policy::Request::Listen(fwd.address, fwd.port));
  if (!d.allow) {
    close(fd);
    audit::ChannelOpen e;
    e.channel = NextChannelId();
    e.kind = "forwarded-tcpip";
    e.destination = JoinHostPort(fwd.address.empty() ? "*" : fwd.address, fwd.bound_port);
    e.originator = JoinHostPort(peer, peer_port);
    e.policy_version = policy->version;
    e.rule = d.rule;
    e.reason = d.reason;
    (void)AuditChannelOpen(e);
    fwd.cancelled = true;
    fwd.cancel_reason = "no longer allowed by policy " + policy->version + ": " + d.reason;
    return false;
  }
  fwd.rule = d.rule;
  fwd.policy_version = policy->version;
  return true;
}

void Connection::OpenForwarded(RemoteForward& fwd, int fd, const std::string& peer,
                               uint16_t peer_port) {
  auto p = std::make_unique<PendingOpen>();
  p->id = NextChannelId();
  p->fd = fd;
  p->destination = JoinHostPort(fwd.address.empty() ? "*" : fwd.address, fwd.bound_port);
  p->started_ms = gw_->NowMs();
  ++fwd.accepted;
  audit::ChannelOpen e;
  e.channel = p->id;
  e.kind = "forwarded-tcpip";
  e.destination = p->destination;
  e.originator = JoinHostPort(peer, peer_port);
  e.allow = true;
  e.rule = fwd.rule;
  e.policy_version = fwd.policy_version;
  if (Status st = AuditChannelOpen(e); !st) return;  // fd closed by ~PendingOpen
  p->channel.reset(ssh_channel_new(session_.get()));
  // Tell the client which of its forwards this is: the address and port it
  // asked for (the bound port when it asked for 0).
  int rc = p->channel == nullptr
               ? SSH_ERROR
               : ssh_channel_open_reverse_forward(p->channel.get(), fwd.address.c_str(),
                                                  fwd.bound_port, peer.c_str(), peer_port);
  if (rc == SSH_ERROR) {
    audit::ChannelClose c;
    c.channel = p->id;
    c.kind = "forwarded-tcpip";
    c.destination = p->destination;
    c.reason = "could not open the channel to the client";
    (void)gw_->audit().Record(id_, c);
    return;
  }
  incoming_pending_opens_.push_back(std::move(p));
}

void Connection::ServeForwards(int64_t now) {
  for (auto it = forwards_.begin(); it != forwards_.end();) {
    RemoteForward& f = **it;
    if (f.cancelled) {
      CloseForward(f, f.cancel_reason.empty() ? "cancelled by the client" : f.cancel_reason);
      it = forwards_.erase(it);
      continue;
    }
    if (!f.registered && now >= f.paused_until_ms) {
      f.registered = fds_->Set(f.fd, POLLIN, &Connection::OnListener, &f);
    }
    ++it;
  }
  for (size_t i = 0; i < pending_opens_.size();) {
    PendingOpen& p = *pending_opens_[i];
    int rc = ssh_channel_open_reverse_forward(p.channel.get(), "", 0, "", 0);  // poll: already sent
    if (rc == SSH_AGAIN && now - p.started_ms < kOpenTimeoutMs) {
      ++i;
      continue;
    }
    if (rc == SSH_OK) {
      auto ch = std::make_unique<Channel>();
      ch->id = p.id;
      ch->kind = "forwarded-tcpip";
      ch->destination = p.destination;
      // The relay owns the channel and the socket now.
      ch->relay = std::make_unique<TcpRelay>(fds_.get(), p.channel.release(), p.fd, now);
      gw_->metrics().ChannelsActive(ch->kind, 1);
      p.fd = -1;
      channels_.push_back(std::move(ch));
      ++channels_total_;
      last_activity_ms_ = now;
    } else {
      audit::ChannelClose c;
      c.channel = p.id;
      c.kind = "forwarded-tcpip";
      c.destination = p.destination;
      c.reason = rc == SSH_AGAIN ? "the client did not answer the channel open"
                                 : "the client refused the channel";
      (void)gw_->audit().Record(id_, c);
    }
    pending_opens_.erase(pending_opens_.begin() + static_cast<long>(i));
  }
}

void Connection::CloseForward(RemoteForward& fwd, const std::string& reason) {
  gw_->metrics().ChannelsActive("tcpip-forward", -1);
  if (fwd.registered) fds_->Remove(fwd.fd);
  fwd.registered = false;
  audit::ChannelClose c;
  c.channel = fwd.id;
  c.kind = "tcpip-forward";
  c.destination = JoinHostPort(fwd.address.empty() ? "*" : fwd.address, fwd.bound_port);
  c.duration_ms = gw_->NowMs() - fwd.opened_ms;
  c.reason = reason + " (" + std::to_string(fwd.accepted) + " connections accepted)";
  (void)gw_->audit().Record(id_, c);
  spdlog::info("conn={} stopped listening on {}: {}", id_,
               JoinHostPort(fwd.bind_address, fwd.bound_port), reason);
}

}  // namespace hopgate::proxy
