// Connection requests: direct-tcpip (-J, -W, -L, -D), tcpip-forward (-R) and
// its forwarded-tcpip channels, and the gateway's information session.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "common/strings.h"
#include "common/time_util.h"
#include "proxy/connection/connection.h"
#include "proxy/connection/connection_parts.h"
#include "proxy/net/decide_open.h"
#include "proxy/ssh/deferred_open.h"
#include "proxy/net/dialer.h"
#include "proxy/base/logging.h"
#include "proxy/recorded/recorded_session.h"

namespace hopgate::proxy {
namespace {

constexpr size_t kMaxForwards = 64;       // -R listeners per connection
constexpr int64_t kOpenTimeoutMs = 30'000;  // client must confirm forwarded-tcpip

int64_t ToMs(int64_t seconds) { return seconds * 1000; }

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

// ---------------------------------------------------------------- dispatch

int Connection::OnMessage(ssh_session, ssh_message msg, void* userdata) {
  auto* self = static_cast<Connection*>(userdata);
  int type = ssh_message_type(msg);
  int subtype = ssh_message_subtype(msg);
  if (type == SSH_REQUEST_CHANNEL_OPEN && subtype == SSH_CHANNEL_DIRECT_TCPIP) {
    self->HandleDirectTcpip(msg);
    return 0;
  }
  if (type == SSH_REQUEST_GLOBAL && subtype == SSH_GLOBAL_REQUEST_TCPIP_FORWARD) {
    self->HandleTcpipForward(msg);
    return 0;
  }
  if (type == SSH_REQUEST_GLOBAL && subtype == SSH_GLOBAL_REQUEST_CANCEL_TCPIP_FORWARD) {
    self->HandleCancelForward(msg);
    return 0;
  }
  if (type == SSH_REQUEST_CHANNEL_OPEN) {
    const char* kind = subtype == SSH_CHANNEL_X11               ? "x11"
                       : subtype == SSH_CHANNEL_FORWARDED_TCPIP ? "forwarded-tcpip"
                                                                : "other";
    audit::ChannelOpen e;
    e.channel = self->NextChannelId();
    e.kind = kind;
    e.allow = false;
    e.reason = std::string(kind) + " channels are not accepted by the gateway";
    e.policy_version = self->gw_->policy().Get()->version;
    (void)self->AuditChannelOpen(e);
  }
  return 1;  // refuse with libssh's default reply
}

Status Connection::AuditChannelOpen(const audit::ChannelOpen& e) {
  gw_->metrics().Channel(e.kind, e.allow);
  return gw_->audit().Record(id_, e);
}

bool Connection::ChannelSlotFree() const {
  size_t open = channels_.size() + incoming_channels_.size() + info_sessions_.size() +
                incoming_info_sessions_.size() + pending_opens_.size() +
                incoming_pending_opens_.size();
  return static_cast<int64_t>(open) < gw_->config().max_channels_per_connection;
}

void Connection::RefuseOverCap(audit::ChannelOpen& e) {
  e.allow = false;
  e.reason = "too many open channels on this connection (limits.max_channels_per_connection " +
             std::to_string(gw_->config().max_channels_per_connection) + ")";
  gw_->metrics().Channel(e.kind, false);
  int64_t now = gw_->NowMs();
  if (now - cap_audit_ms_ < 1000) {
    ++cap_suppressed_;
    cap_last_kind_ = e.kind;
    return;
  }
  e.suppressed = std::exchange(cap_suppressed_, 0);
  cap_audit_ms_ = now;
  (void)gw_->audit().Record(id_, e);
  spdlog::warn("conn={} user={} {} refused: {} ({} more refused since the last report)", id_,
               user_, e.kind, e.reason, e.suppressed);
}

void Connection::NoteLimits(const policy::Decision& d) {
  if (d.grants.max_session && (!max_session_ || *d.grants.max_session < *max_session_)) {
    max_session_ = d.grants.max_session;
    max_session_rule_ = d.rule;
  }
  if (d.grants.idle_timeout && (!idle_timeout_ || *d.grants.idle_timeout < *idle_timeout_)) {
    idle_timeout_ = d.grants.idle_timeout;
    idle_timeout_rule_ = d.rule;
  }
}

// ---------------------------------------------------------------- direct-tcpip

void Connection::HandleDirectTcpip(ssh_message msg) {
  const char* dest = ssh_message_channel_request_open_destination(msg);
  int port = ssh_message_channel_request_open_destination_port(msg);
  const char* orig = ssh_message_channel_request_open_originator(msg);
  int orig_port = ssh_message_channel_request_open_originator_port(msg);
  std::string host = dest ? dest : "";
  audit::ChannelOpen e;
  e.channel = NextChannelId();
  e.kind = "direct-tcpip";
  e.destination = JoinHostPort(host, static_cast<uint16_t>(port));
  if (orig) e.originator = JoinHostPort(orig, static_cast<uint16_t>(orig_port));
  auto policy = gw_->policy().Get();
  e.policy_version = policy->version;

  auto refuse = [&]() {
    (void)AuditChannelOpen(e);
    spdlog::info("conn={} user={} direct-tcpip to {} refused: {}{}", id_, user_, e.destination,
                 e.reason, e.error);
    ssh_message_reply_default(msg);
  };
  if (!ChannelSlotFree()) {
    RefuseOverCap(e);
    ssh_message_reply_default(msg);
    return;
  }
  if (host.empty() || port <= 0 || port > 65535) {
    e.reason = "malformed destination";
    refuse();
    return;
  }
  // Answered later, once decided and connected, without blocking the
  // connection's other channels (connection_direct.cc).
  if (auto open = DeferredOpen::Capture(session_.get(), msg)) {
    auto p = std::make_unique<PendingDirect>();
    p->open = *open;
    p->event = e;
    p->host = host;
    p->port = static_cast<uint16_t>(port);
    if (orig) p->originator = orig;
    p->originator_port = static_cast<uint16_t>(orig_port);
    p->policy = policy;
    StartDirect(std::move(p));
    return;
  }
  // libssh's message layout is not the one DeferredOpen knows: answer here,
  // blocking this connection until the lookup and connect are done.
  DecidedOpen o = DecideOpen(gw_->resolver(), ToMs(gw_->config().connect_timeout), *policy,
                             gw_->policy().GetNames(), CurrentIdentity(), host,
                             static_cast<uint16_t>(port));
  const policy::Decision& d = o.decision;
  e.rule = d.rule;
  e.allow = d.allow;
  e.addresses = o.AddressTexts();
  e.host = d.host_entry;
  if (!d.allow) {
    e.reason = d.reason;
    refuse();
    return;
  }
  e.route = d.route;
  if (o.Unreachable()) {
    e.error = "cannot resolve " + o.looked_up + ": " + o.resolve_error;
    gw_->metrics().UpstreamConnectFailure("resolve");
    refuse();
    return;
  }
  if (d.terminate) {
    StartRecorded(o, host, static_cast<uint16_t>(port), policy, &e,
                  [&] { return ssh_message_channel_request_open_reply_accept(msg); },
                  [&] { ssh_message_reply_default(msg); });
    return;
  }
  auto dialed = d.route.empty() ? DialDirect(d, &e) : DialRoute(*policy, d, orig, orig_port, &e);
  if (!dialed) {
    refuse();
    return;
  }
  e.dial = dialed->address;
  // Nothing is relayed unaudited: if the event cannot be written, refuse.
  if (Status st = AuditChannelOpen(e); !st) {
    close(dialed->fd);
    spdlog::error("conn={} refusing direct-tcpip to {}: {}", id_, e.destination, st.message());
    ssh_message_reply_default(msg);
    return;
  }
  ssh_channel channel = ssh_message_channel_request_open_reply_accept(msg);
  if (channel == nullptr) {
    close(dialed->fd);
    audit::ChannelClose c;
    c.channel = e.channel;
    c.kind = e.kind;
    c.destination = e.destination;
    c.reason = "could not confirm the channel to the client";
    (void)gw_->audit().Record(id_, c);
    return;
  }
  spdlog::info("conn={} user={} direct-tcpip to {} via {} allowed by rule {}", id_, user_,
               e.destination, dialed->address, d.rule);
  AdoptRelay(e, channel, dialed->fd);
  NoteLimits(d);
}

void Connection::AdoptRelay(const audit::ChannelOpen& e, ssh_channel channel, int fd) {
  auto ch = std::make_unique<Channel>();
  ch->id = e.channel;
  ch->kind = e.kind;
  ch->destination = e.destination;
  int64_t now = gw_->NowMs();
  ch->relay = std::make_unique<TcpRelay>(fds_.get(), channel, fd, now);
  gw_->metrics().ChannelsActive(ch->kind, 1);
  incoming_channels_.push_back(std::move(ch));
  ++channels_total_;
  last_activity_ms_ = now;
}

// A recorded target: the client's channel carries an SSH session that the
// gateway terminates itself (recorded_session.h). The channel is relayed to
// one end of a socketpair; the recorded session speaks SSH on the other.
void Connection::StartRecorded(const DecidedOpen& o, const std::string& request_host,
                               uint16_t request_port,
                               const std::shared_ptr<const policy::Policy>& policy,
                               audit::ChannelOpen* e, const std::function<ssh_channel()>& accept,
                               const std::function<void()>& refuse_channel) {
  const policy::Decision& d = o.decision;
  policy::AddressMap dns;
  if (!o.looked_up.empty()) dns[o.looked_up] = o.addresses;
  e->recorded = true;
  e->dial = d.dial_addresses.empty() ? JoinHostPort(d.dial_host, d.dial_port)
                                     : JoinHostPort(d.dial_addresses[0].ToString(), d.dial_port);
  auto refuse = [&](const std::string& error) {
    e->error = error;
    (void)AuditChannelOpen(*e);
    spdlog::warn("conn={} user={} recorded session to {} refused: {}", id_, user_,
                 e->destination, error);
    refuse_channel();
  };
  const Config& cfg = gw_->config();
  int64_t free_bytes = FreeBytesUnder(cfg.recordings_dir);
  if (free_bytes >= 0 && free_bytes < cfg.recording_min_free_bytes) {
    refuse("recordings directory " + cfg.recordings_dir + " has " + std::to_string(free_bytes) +
           " bytes free, below recording.min_free_bytes " +
           std::to_string(cfg.recording_min_free_bytes));
    return;
  }
  int sp[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sp) != 0) {
    refuse("cannot create a socket pair");
    return;
  }
  if (Status st = AuditChannelOpen(*e); !st) {
    close(sp[0]);
    close(sp[1]);
    refuse_channel();
    return;
  }
  ssh_channel channel = accept();
  if (channel == nullptr) {
    close(sp[0]);
    close(sp[1]);
    return;
  }
  RecordedSessionSpec spec;
  spec.connection_id = id_;
  spec.outer_channel = e->channel;
  spec.session_id = id_ + "-" + std::to_string(e->channel);
  spec.user = user_;
  spec.client_addr = client_.address;
  spec.client_port = client_.port;
  spec.key_blob = key_.blob;
  spec.key_type = key_type_;
  spec.fingerprint = fingerprint_;
  if (cert_) spec.certificate_key_id = cert_->key_id;
  spec.policy = policy;
  spec.identity = CurrentIdentity();
  spec.decision = d;
  spec.target = e->destination;
  spec.request_host = request_host;
  spec.request_port = request_port;
  spec.dns = dns;
  // The socket end the recorded session reads must block for libssh's
  // handshake; libssh switches it as it needs.
  int flags = fcntl(sp[1], F_GETFL);
  fcntl(sp[1], F_SETFL, flags & ~O_NONBLOCK);
  StartRecordedSession(gw_, std::move(spec), sp[1]);
  spdlog::info("conn={} user={} direct-tcpip to {} terminated for recording ({})", id_, user_,
               e->destination, d.terminate_reason);
  AdoptRelay(*e, channel, sp[0]);
  incoming_channels_.back()->relay->set_close_on_target_eof("the recorded session ended");
  incoming_channels_.back()->recorded = true;
  // Limits are enforced by the recorded session itself, with a message on
  // the terminal.
}

std::optional<Dialed> Connection::DialDirect(const policy::Decision& d, audit::ChannelOpen* e) {
  DialError derr;
  auto dialed = Dial(d.dial_addresses, d.dial_port, ToMs(gw_->config().connect_timeout), &derr);
  if (!dialed) {
    gw_->metrics().UpstreamConnectFailure(DialFailureName(derr.kind));
    e->error = derr.message;
    return std::nullopt;
  }
  gw_->metrics().UpstreamConnect(static_cast<double>(dialed->elapsed_ms) / 1000.0);
  return *dialed;
}

// Through the route's jump hosts: the last hop dials the destination; the
// stream we get back is relayed like a TCP socket.
std::optional<Dialed> Connection::DialRoute(const policy::Policy& policy,
                                            const policy::Decision& d, const char* orig,
                                            int orig_port, audit::ChannelOpen* e) {
  RouteRequest req;
  req.hops = HopsFor(policy, d.route);
  req.user = user_;
  req.connection_id = id_;
  req.host = d.dial_host;
  req.port = d.dial_port;
  if (orig) req.originator = orig;
  req.originator_port = static_cast<uint16_t>(orig_port);
  int64_t started = gw_->NowMs();
  RouteFailure failure;
  auto stream = gw_->upstream().Open(req, &failure);
  if (!stream) {
    e->failed_hop = failure.hop;
    e->error = failure.message;
    return std::nullopt;
  }
  Dialed out;
  out.fd = stream->fd;
  out.address = JoinHostPort(d.dial_host, d.dial_port);
  out.elapsed_ms = gw_->NowMs() - started;
  return out;
}

// ---------------------------------------------------------------- -R

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
    // Live policy: each connection to the listener is decided again when a
    // reload changed the policy since the listener was granted.
    if (auto policy = gw_->policy().Get(); policy->version != fwd.policy_version) {
      policy::Decision d = policy::Decide(*policy, CurrentIdentity(),
                                          policy::Request::Listen(fwd.address, fwd.port));
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
        return;
      }
      fwd.rule = d.rule;
      fwd.policy_version = policy->version;
    }
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
    if (Status st = AuditChannelOpen(e); !st) continue;  // fd closed by ~PendingOpen
    p->channel = ssh_channel_new(session_.get());
    // Tell the client which of its forwards this is: the address and port it
    // asked for (the bound port when it asked for 0).
    int rc = p->channel == nullptr
                 ? SSH_ERROR
                 : ssh_channel_open_reverse_forward(p->channel, fwd.address.c_str(),
                                                    fwd.bound_port, peer.c_str(), peer_port);
    if (rc == SSH_ERROR) {
      audit::ChannelClose c;
      c.channel = p->id;
      c.kind = "forwarded-tcpip";
      c.destination = p->destination;
      c.reason = "could not open the channel to the client";
      (void)gw_->audit().Record(id_, c);
      continue;
    }
    incoming_pending_opens_.push_back(std::move(p));
  }
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
    int rc = ssh_channel_open_reverse_forward(p.channel, "", 0, "", 0);  // poll: already sent
    if (rc == SSH_AGAIN && now - p.started_ms < kOpenTimeoutMs) {
      ++i;
      continue;
    }
    if (rc == SSH_OK) {
      auto ch = std::make_unique<Channel>();
      ch->id = p.id;
      ch->kind = "forwarded-tcpip";
      ch->destination = p.destination;
      ch->relay = std::make_unique<TcpRelay>(fds_.get(), p.channel, p.fd, now);
      gw_->metrics().ChannelsActive(ch->kind, 1);
      p.channel = nullptr;  // owned by the relay now
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

// ---------------------------------------------------------------- channels

void Connection::ReapChannels(int64_t now) {
  // Index loop: nested callbacks during Sync() only touch the inboxes.
  for (size_t i = 0; i < channels_.size();) {
    Channel& ch = *channels_[i];
    ch.relay->Sync(now);
    uint64_t up, down;
    ch.relay->TakeByteDeltas(&up, &down);
    if (up != 0 || down != 0) gw_->metrics().RelayBytes(up, down);
    last_activity_ms_ = std::max(last_activity_ms_, ch.relay->last_activity_ms());
    if (ch.relay->finished()) {
      CloseChannel(ch);
      channels_.erase(channels_.begin() + static_cast<long>(i));
    } else {
      ++i;
    }
  }
}

void Connection::CloseChannel(Channel& ch) {
  if (ch.recorded) recorded_ended_ms_ = gw_->NowMs();
  uint64_t up, down;
  ch.relay->TakeByteDeltas(&up, &down);
  gw_->metrics().RelayBytes(up, down);
  gw_->metrics().ChannelsActive(ch.kind, -1);
  audit::ChannelClose c;
  c.channel = ch.id;
  c.kind = ch.kind;
  c.destination = ch.destination;
  c.bytes_client_to_target = ch.relay->bytes_client_to_target();
  c.bytes_target_to_client = ch.relay->bytes_target_to_client();
  c.duration_ms = gw_->NowMs() - ch.relay->opened_ms();
  c.reason = ch.relay->close_reason();
  (void)gw_->audit().Record(id_, c);
  spdlog::info("conn={} channel {} ({} {}) closed: {} ({} bytes up, {} down)", id_, ch.id,
               ch.kind, ch.destination, c.reason, c.bytes_client_to_target,
               c.bytes_target_to_client);
}

// ---------------------------------------------------------------- session

ssh_channel Connection::OnSessionOpen(ssh_session s, void* userdata) {
  auto* self = static_cast<Connection*>(userdata);
  if (!self->ChannelSlotFree()) {
    audit::ChannelOpen e;
    e.channel = self->NextChannelId();
    e.kind = "session";
    e.policy_version = self->gw_->policy().Get()->version;
    self->RefuseOverCap(e);
    return nullptr;
  }
  auto is = std::make_unique<InfoSession>();
  is->id = self->NextChannelId();
  is->channel = ssh_channel_new(s);
  if (is->channel == nullptr) return nullptr;
  ssh_callbacks_init(&is->cb);
  is->cb.userdata = is.get();
  // The gateway answers shell and exec with a description of what the user
  // may reach, and refuses subsystems and env.
  is->cb.channel_pty_request_function = [](ssh_session, ssh_channel, const char*, int, int, int,
                                           int, void* u) {
    static_cast<InfoSession*>(u)->pty = true;
    return 0;
  };
  is->cb.channel_shell_request_function = [](ssh_session, ssh_channel, void* u) {
    static_cast<InfoSession*>(u)->requested = true;
    return 0;
  };
  is->cb.channel_exec_request_function = [](ssh_session, ssh_channel, const char*, void* u) {
    static_cast<InfoSession*>(u)->requested = true;
    return 0;
  };
  is->cb.channel_subsystem_request_function = [](ssh_session, ssh_channel, const char*,
                                                 void*) { return -1; };
  is->cb.channel_env_request_function = [](ssh_session, ssh_channel, const char*, const char*,
                                           void*) { return -1; };
  is->cb.channel_pty_window_change_function = [](ssh_session, ssh_channel, int, int, int, int,
                                                 void*) { return 0; };
  is->cb.channel_data_function = [](ssh_session, ssh_channel, void*, uint32_t len, int,
                                    void*) {
    return static_cast<int>(len);  // typed input is discarded, never logged
  };
  is->cb.channel_close_function = [](ssh_session, ssh_channel, void* u) {
    static_cast<InfoSession*>(u)->closed = true;
  };
  ssh_set_channel_callbacks(is->channel, &is->cb);
  audit::ChannelOpen e;
  e.channel = is->id;
  e.kind = "session";
  e.allow = true;
  e.reason = "gateway information session (no shell)";
  e.policy_version = self->gw_->policy().Get()->version;
  (void)self->AuditChannelOpen(e);
  self->gw_->metrics().ChannelsActive("session", 1);
  ssh_channel ch = is->channel;
  self->incoming_info_sessions_.push_back(std::move(is));
  return ch;
}

std::string Connection::InfoText(bool pty) const {
  auto policy = gw_->policy().Get();
  std::vector<std::string> lines;
  lines.push_back("hopgate: this is an SSH gateway; it runs no shell or commands.");
  lines.push_back("Reach a server behind it with ProxyJump, for example:");
  lines.push_back("  ssh -J " + user_ + "@" + client_.local + " <login>@<host>");
  std::vector<std::string> access = policy::DescribeAccess(*policy, CurrentIdentity());
  if (access.empty()) {
    lines.push_back("The current policy grants " + user_ + " no destinations.");
  } else {
    lines.push_back("The current policy lets " + user_ + " reach:");
    for (const auto& a : access) lines.push_back("  " + a);
  }
  std::string out;
  for (const auto& l : lines) out += l + (pty ? "\r\n" : "\n");
  return out;
}

void Connection::ServeInfoSessions() {
  for (size_t i = 0; i < info_sessions_.size();) {
    InfoSession& is = *info_sessions_[i];
    if (is.requested && !is.answered && !is.closed) {
      std::string text = InfoText(is.pty);
      ssh_channel_write(is.channel, text.data(), static_cast<uint32_t>(text.size()));
      ssh_channel_request_send_exit_status(is.channel, 0);
      ssh_channel_send_eof(is.channel);
      ssh_channel_close(is.channel);
      is.answered = true;
    }
    if (is.closed) {
      audit::ChannelClose c;
      c.channel = is.id;
      c.kind = "session";
      c.reason = is.answered ? "information shown" : "client closed the channel";
      (void)gw_->audit().Record(id_, c);
      gw_->metrics().ChannelsActive("session", -1);
      info_sessions_.erase(info_sessions_.begin() + static_cast<long>(i));
      continue;
    }
    ++i;
  }
}

}  // namespace hopgate::proxy
