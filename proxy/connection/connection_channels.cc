// Connection requests: the dispatch of libssh's messages, the channel cap,
// direct-tcpip (-J, -W, -L, -D) and recorded targets, and the relayed
// channels. The deferred direct-tcpip path is in connection_direct.cc, -R in
// connection_forward.cc, the information session in connection_info.cc.
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
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

int64_t ToMs(int64_t seconds) { return seconds * 1000; }

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
  // A refusal (or a permitted open that failed) past the flood limit is
  // counted, not written; an open that goes on to relay is always written.
  if ((!e.allow || !e.error.empty()) &&
      !AdmitRefusal("channel_refused", e.reason.empty() ? e.error : e.reason)) {
    return Status::Ok();
  }
  Status st = gw_->audit().Record(id_, e);
  FleetSessions* fleet = gw_->fleet_sessions();
  if (st && fleet && e.allow && e.error.empty() && !e.destination.empty() && e.kind == "direct-tcpip") {
    fleet->TargetAdded(id_, e.destination);
  }
  return st;
}

void Connection::FlushRefusalSummaries(bool all) {
  if (refusals_.empty()) return;  // no refusal yet: the common case, kept cheap
  std::vector<audit::AuditSuppressed> counted;
  refusals_.Flush(kConnectionRefusals, all ? 0 : gw_->WallMs(), &counted);
  for (auto& s : counted) {
    s.scope = "connection";
    s.source = client_.address;
  }
  gw_->RecordSuppressed(id_, counted);
}

bool Connection::AdmitRefusal(const std::string& kind, const std::string& reason) {
  SourceThrottle& sources = gw_->audit_throttle();
  const int64_t now = gw_->WallMs();
  std::vector<audit::AuditSuppressed> mine, theirs;
  bool admit = refusals_.Admit(kConnectionRefusals, kind, reason, now, &mine);
  refusal_written_ = false;
  for (auto& s : mine) {
    s.scope = "connection";
    s.source = client_.address;
  }
  if (admit) {
    // Past this connection's own limit, the source's (across connections).
    auto ip = IpAddress::Parse(client_.address);
    admit = sources.Admit(ip ? Startups::SourceOf(*ip) : client_.address, kind, reason, now,
                          &theirs);
  }
  gw_->RecordSuppressed(id_, mine);
  gw_->RecordSuppressed("", theirs);
  refusal_written_ = admit;
  if (!admit) {
    gw_->metrics().AuditSuppressed(kind);
    if (!refusals_noted_) {
      refusals_noted_ = true;
      spdlog::warn("conn={} from {}: more {} refusals within a minute than the audit log takes "
                   "one by one ({} per connection, {} per source address); further ones are "
                   "counted in audit_suppressed events",
                   id_, client_.address, kind, kConnectionRefusals.first, sources.limits().first);
    }
  }
  return admit;
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

  if (!ChannelSlotFree()) {
    RefuseOverCap(e);
    ssh_message_reply_default(msg);
    return;
  }
  if (host.empty() || port <= 0 || port > 65535) {
    e.reason = "malformed destination";
    RefuseDirectNow(msg, e);
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
  DirectTcpipNow(msg, e, policy, host, static_cast<uint16_t>(port), orig, orig_port);
}

void Connection::RefuseDirectNow(ssh_message msg, const audit::ChannelOpen& e) {
  (void)AuditChannelOpen(e);
  if (refusal_written_) {  // else a flood: counted, and not logged one by one either
    spdlog::info("conn={} user={} direct-tcpip to {} refused: {}{}", id_, user_, e.destination,
                 e.reason, e.error);
  }
  ssh_message_reply_default(msg);
}

// libssh's message layout is not the one DeferredOpen knows: answer here,
// blocking this connection until the lookup and connect are done.
void Connection::DirectTcpipNow(ssh_message msg, audit::ChannelOpen& e,
                                const std::shared_ptr<const policy::Policy>& policy,
                                const std::string& host, uint16_t port, const char* orig,
                                int orig_port) {
  auto refuse = [&]() { RefuseDirectNow(msg, e); };
  DecidedOpen o = DecideOpen(gw_->resolver(), ToMs(gw_->config().connect_timeout), *policy,
                             gw_->policy().GetNames(), CurrentIdentity(), host, port);
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
    StartRecorded(o, host, port, policy, &e,
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
  RelayDialed(
      e, dialed->fd, d, [&] { return ssh_message_channel_request_open_reply_accept(msg); },
      [&] { ssh_message_reply_default(msg); });
}

void Connection::RelayDialed(const audit::ChannelOpen& e, int fd, const policy::Decision& d,
                             const std::function<ssh_channel()>& accept,
                             const std::function<void()>& refuse) {
  // Nothing is relayed unaudited: if the event cannot be written, refuse.
  if (Status st = AuditChannelOpen(e); !st) {
    close(fd);
    spdlog::error("conn={} refusing direct-tcpip to {}: {}", id_, e.destination, st.message());
    refuse();
    return;
  }
  ssh_channel channel = accept();
  if (channel == nullptr) {
    close(fd);
    audit::ChannelClose c;
    c.channel = e.channel;
    c.kind = e.kind;
    c.destination = e.destination;
    c.reason = "could not confirm the channel to the client";
    (void)gw_->audit().Record(id_, c);
    return;
  }
  spdlog::info("conn={} user={} direct-tcpip to {} via {} allowed by rule {}", id_, user_,
               e.destination, e.dial, d.rule);
  AdoptRelay(e, channel, fd);
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

}  // namespace hopgate::proxy
