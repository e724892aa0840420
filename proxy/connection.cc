#include "proxy/connection.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "common/encoding.h"
#include "common/strings.h"
#include "common/time_util.h"
#include "proxy/dialer.h"
#include "proxy/logging.h"

namespace hopgate::proxy {

// A relayed channel plus what its audit events need.
struct Connection::Channel {
  uint32_t id = 0;
  std::string kind;
  std::string destination;
  std::unique_ptr<TcpRelay> relay;
};

// A session channel on the gateway itself: it prints where the user may go
// and exits 0. No shell, no command ever runs on the gateway.
struct Connection::InfoSession {
  Connection* conn = nullptr;
  uint32_t id = 0;
  ssh_channel channel = nullptr;
  ssh_channel_callbacks_struct cb{};
  bool pty = false;
  bool requested = false;  // shell or exec arrived: answer at the top of the loop
  bool answered = false;
  bool closed = false;     // client closed the channel

  static int OnPty(ssh_session, ssh_channel, const char*, int, int, int, int, void* u) {
    static_cast<InfoSession*>(u)->pty = true;
    return 0;
  }
  static int OnShell(ssh_session, ssh_channel, void* u) {
    static_cast<InfoSession*>(u)->requested = true;
    return 0;
  }
  static int OnExec(ssh_session, ssh_channel, const char*, void* u) {
    static_cast<InfoSession*>(u)->requested = true;
    return 0;
  }
  static int OnSubsystem(ssh_session, ssh_channel, const char*, void*) { return -1; }
  static int OnEnv(ssh_session, ssh_channel, const char*, const char*, void*) { return -1; }
  static int OnWindowChange(ssh_session, ssh_channel, int, int, int, int, void*) { return 0; }
  static int OnData(ssh_session, ssh_channel, void*, uint32_t len, int, void*) {
    return static_cast<int>(len);  // typed input is discarded, never logged
  }
  static void OnClose(ssh_session, ssh_channel, void* u) {
    static_cast<InfoSession*>(u)->closed = true;
  }
};

namespace {

int64_t ToMs(int64_t seconds) { return seconds * 1000; }

}  // namespace

Connection::Connection(Gateway* gw, SessionPtr session, ClientEndpoint client, std::string id,
                       int64_t accepted_ms)
    : gw_(gw),
      session_(std::move(session)),
      client_(std::move(client)),
      id_(std::move(id)),
      accepted_ms_(accepted_ms) {
  gw_->Register(this);
  wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
}

Connection::~Connection() {
  channels_.clear();
  for (auto& s : info_sessions_) {
    if (s->channel != nullptr) {
      ssh_remove_channel_callbacks(s->channel, &s->cb);
      ssh_channel_free(s->channel);
    }
  }
  info_sessions_.clear();
  event_.reset();
  session_.reset();
  // Unregister before closing the wake fd: WakeAll() may write to it until then.
  gw_->Unregister(this);
  if (wake_fd_ >= 0) close(wake_fd_);
}

void Connection::Wake() {
  uint64_t one = 1;
  if (wake_fd_ >= 0) {
    ssize_t n = write(wake_fd_, &one, sizeof one);
    (void)n;
  }
}

int Connection::OnWake(socket_t fd, int, void*) {
  uint64_t v;
  ssize_t n = read(fd, &v, sizeof v);
  (void)n;
  return 0;
}

void Connection::Run() {
  audit::ConnectionOpen open;
  open.client_addr = client_.address;
  open.client_port = client_.port;
  open.listen = client_.local;
  (void)gw_->audit().Record(id_, open);
  spdlog::info("conn={} accepted from {} on {}", id_, JoinHostPort(client_.address, client_.port),
               client_.local);
  if (KeyExchange()) Loop();
  Teardown(end_reason_.empty() ? "closed" : end_reason_);
}

bool Connection::KeyExchange() {
  ssh_session s = session_.get();
  int64_t left_ms = accepted_ms_ + ToMs(gw_->config().login_grace_time) - gw_->NowMs();
  if (left_ms <= 0) {
    end_reason_ = "login grace time exceeded";
    return false;
  }
  long secs = static_cast<long>(left_ms / 1000);
  long usecs = static_cast<long>((left_ms % 1000) * 1000);
  ssh_options_set(s, SSH_OPTIONS_TIMEOUT, &secs);
  ssh_options_set(s, SSH_OPTIONS_TIMEOUT_USEC, &usecs);

  ssh_callbacks_init(&server_cb_);
  server_cb_.userdata = this;
  server_cb_.auth_pubkey_function = &Connection::OnAuthPubkey;
  server_cb_.auth_password_function = &Connection::OnAuthPassword;
  server_cb_.auth_none_function = &Connection::OnAuthNone;
  server_cb_.channel_open_request_session_function = &Connection::OnSessionOpen;
  ssh_set_server_callbacks(s, &server_cb_);
  ssh_set_auth_methods(s, SSH_AUTH_METHOD_PUBLICKEY);
  ssh_set_message_callback(s, &Connection::OnMessage, this);

  if (ssh_handle_key_exchange(s) != SSH_OK) {
    if (gw_->NowMs() >= accepted_ms_ + ToMs(gw_->config().login_grace_time) - 50) {
      end_reason_ = "login grace time exceeded during key exchange";
    } else {
      end_reason_ = "key exchange failed: " + SessionError(s);
    }
    return false;
  }
  ssh_set_blocking(s, 0);
  event_.reset(ssh_event_new());
  if (!event_ || ssh_event_add_session(event_.get(), s) != SSH_OK ||
      (wake_fd_ >= 0 &&
       ssh_event_add_fd(event_.get(), wake_fd_, POLLIN, &Connection::OnWake, this) != SSH_OK)) {
    end_reason_ = "internal error: cannot create the event loop";
    return false;
  }
  return true;
}

void Connection::Loop() {
  ssh_session s = session_.get();
  while (end_reason_.empty()) {
    int64_t now = gw_->NowMs();
    if (gw_->stopping()) {
      end_reason_ = "gateway shutting down";
      break;
    }
    ReapChannels(now);
    ServeInfoSessions();
    CheckLimits(now);
    if (!end_reason_.empty()) break;

    // Sleep until the next deadline, or a minute at most.
    int64_t next = now + 60'000;
    if (!authenticated_) {
      next = std::min(next, accepted_ms_ + ToMs(gw_->config().login_grace_time));
    } else {
      if (max_session_) next = std::min(next, authenticated_ms_ + ToMs(*max_session_));
      if (idle_timeout_) next = std::min(next, last_activity_ms_ + ToMs(*idle_timeout_));
    }
    int timeout = static_cast<int>(std::max<int64_t>(0, next - now) + 1);
    ssh_event_dopoll(event_.get(), timeout);

    if ((ssh_get_status(s) & (SSH_CLOSED | SSH_CLOSED_ERROR)) || !ssh_is_connected(s)) {
      end_reason_ = authenticated_ ? "client disconnected"
                                   : "client disconnected before authenticating";
    }
  }
}

void Connection::CheckLimits(int64_t now) {
  if (!authenticated_) {
    if (now >= accepted_ms_ + ToMs(gw_->config().login_grace_time)) {
      end_reason_ = "login grace time exceeded";
    } else if (auth_failures_ >= gw_->config().max_auth_tries) {
      end_reason_ = "too many authentication failures";
    }
    return;
  }
  auto limit = [&](const char* what, int64_t seconds, const std::string& rule) {
    audit::SessionLimit e;
    e.user = user_;
    e.limit = what;
    e.seconds = seconds;
    e.rule = rule;
    (void)gw_->audit().Record(id_, e);
    spdlog::info("conn={} user={} {} of {} reached (rule {})", id_, user_, what,
                 FormatDuration(seconds), rule);
    std::string text = std::string("\r\nhopgate: ") + what + " of " + FormatDuration(seconds) +
                       " reached; closing the connection\r\n";
    for (auto& is : info_sessions_) {
      if (is->channel != nullptr && !is->closed) {
        ssh_channel_write_stderr(is->channel, text.data(), static_cast<uint32_t>(text.size()));
      }
    }
    end_reason_ = std::string(what) + " reached";
  };
  if (max_session_ && now >= authenticated_ms_ + ToMs(*max_session_)) {
    limit("max_session", *max_session_, max_session_rule_);
  } else if (idle_timeout_ && now >= last_activity_ms_ + ToMs(*idle_timeout_)) {
    limit("idle_timeout", *idle_timeout_, idle_timeout_rule_);
  }
}

// ---------------------------------------------------------------- auth

int Connection::OnAuthPubkey(ssh_session, const char* user, ssh_key_struct* key,
                             char signature_state, void* userdata) {
  return static_cast<Connection*>(userdata)->AuthPubkey(user ? user : "", key, signature_state);
}

int Connection::OnAuthPassword(ssh_session, const char* user, const char*, void* userdata) {
  // The password itself is never looked at, logged or kept.
  auto* self = static_cast<Connection*>(userdata);
  self->RecordAuthFailure(user ? user : "", "password", "", "",
                          "only public key authentication is accepted");
  return SSH_AUTH_DENIED;
}

int Connection::OnAuthNone(ssh_session, const char*, void*) { return SSH_AUTH_DENIED; }

void Connection::RecordAuthFailure(const std::string& user, const std::string& method,
                                   const std::string& key_type, const std::string& fingerprint,
                                   const std::string& reason) {
  ++auth_failures_;
  // A client offers each of its keys in turn; record each refusal once.
  if (!failures_logged_.insert(user + "\n" + method + "\n" + fingerprint + "\n" + reason).second) {
    return;
  }
  audit::Auth e;
  e.user = user;
  e.client_addr = client_.address;
  e.client_port = client_.port;
  e.method = method;
  e.key_type = key_type;
  e.fingerprint = fingerprint;
  e.success = false;
  e.reason = reason;
  (void)gw_->audit().Record(id_, e);
  spdlog::info("conn={} auth refused user={} method={} {} reason={}", id_, Quote(user), method,
               fingerprint, reason);
}

int Connection::AuthPubkey(const std::string& user, ssh_key key, char state) {
  if (authenticated_) return SSH_AUTH_DENIED;
  std::string type = KeyTypeName(key);
  auto blob = KeyBlob(key);
  if (!blob) {
    RecordAuthFailure(user, "publickey", type, "", blob.message());
    return SSH_AUTH_DENIED;
  }
  std::string fingerprint = Sha256Fingerprint(*blob);
  auto refuse = [&](const std::string& reason) {
    RecordAuthFailure(user, "publickey", type, fingerprint, reason);
    return SSH_AUTH_DENIED;
  };
  if (state == SSH_PUBLICKEY_STATE_WRONG) return refuse("bad signature");
  if (type.find("-cert-v01@openssh.com") != std::string::npos) {
    return refuse("certificates are not accepted (no trusted user CA configured)");
  }
  auto policy = gw_->policy().Get();
  const policy::AuthorizedKey* ak = policy->FindKey(user, *blob);
  if (ak == nullptr) {
    if (policy->users.count(user) == 0) return refuse("user " + Quote(user) + " is not in the policy");
    return refuse("key is not listed for user " + Quote(user));
  }
  const policy::Restrictions& r = ak->restrictions;
  if (r.from) {
    auto addr = IpAddress::Parse(client_.address);
    if (!addr || !r.from->Matches(*addr)) {
      return refuse("source address " + client_.address + " not allowed by from=\"" +
                    r.from->text + "\" (" + ak->location.ToString() + ")");
    }
  }
  if (r.expiry_time && gw_->NowMs() / 1000 >= *r.expiry_time) {
    return refuse("key expired at " + FormatRfc3339(*r.expiry_time) + " (expiry-time in " +
                  ak->location.ToString() + ")");
  }
  if (state == SSH_PUBLICKEY_STATE_NONE) return SSH_AUTH_SUCCESS;  // "key acceptable"
  if (state != SSH_PUBLICKEY_STATE_VALID) return refuse("signature not verified");

  if (!gw_->AcquireUserSlot(user)) {
    return refuse("too many concurrent connections for user " + Quote(user) + " (limit " +
                  std::to_string(gw_->config().max_sessions_per_user) + ")");
  }
  user_slot_ = true;
  authenticated_ = true;
  authenticated_ms_ = gw_->NowMs();
  last_activity_ms_ = authenticated_ms_;
  user_ = user;
  key_type_ = type;
  fingerprint_ = fingerprint;
  restrictions_ = {r};
  if (counted_unauthenticated_) {
    gw_->unauthenticated().fetch_sub(1);
    counted_unauthenticated_ = false;
  }
  audit::Auth e;
  e.user = user;
  e.client_addr = client_.address;
  e.client_port = client_.port;
  e.method = "publickey";
  e.key_type = type;
  e.fingerprint = fingerprint;
  e.success = true;
  (void)gw_->audit().Record(id_, e);
  spdlog::info("conn={} user={} authenticated with {} {}", id_, Quote(user), type, fingerprint);
  return SSH_AUTH_SUCCESS;
}

policy::Identity Connection::CurrentIdentity() const {
  policy::Identity id;
  id.user = user_;
  id.source = IpAddress::Parse(client_.address);
  id.restrictions = restrictions_;
  return id;
}

// ---------------------------------------------------------------- channels

int Connection::OnMessage(ssh_session, ssh_message msg, void* userdata) {
  auto* self = static_cast<Connection*>(userdata);
  int type = ssh_message_type(msg);
  int subtype = ssh_message_subtype(msg);
  if (type == SSH_REQUEST_CHANNEL_OPEN && subtype == SSH_CHANNEL_DIRECT_TCPIP) {
    self->HandleDirectTcpip(msg);
    return 0;
  }
  if (type == SSH_REQUEST_CHANNEL_OPEN) {
    const char* kind = subtype == SSH_CHANNEL_X11             ? "x11"
                       : subtype == SSH_CHANNEL_FORWARDED_TCPIP ? "forwarded-tcpip"
                                                              : "other";
    audit::ChannelOpen e;
    e.channel = self->next_channel_++;
    e.kind = kind;
    e.allow = false;
    e.reason = std::string(kind) + " channels are not supported by the gateway";
    (void)self->gw_->audit().Record(self->id_, e);
  }
  return 1;  // refuse with libssh's default reply
}

void Connection::HandleDirectTcpip(ssh_message msg) {
  const char* dest = ssh_message_channel_request_open_destination(msg);
  int port = ssh_message_channel_request_open_destination_port(msg);
  const char* orig = ssh_message_channel_request_open_originator(msg);
  int orig_port = ssh_message_channel_request_open_originator_port(msg);
  std::string host = dest ? dest : "";
  audit::ChannelOpen e;
  e.channel = next_channel_++;
  e.kind = "direct-tcpip";
  e.destination = JoinHostPort(host, static_cast<uint16_t>(port));
  if (orig) e.originator = JoinHostPort(orig, static_cast<uint16_t>(orig_port));
  auto policy = gw_->policy().Get();
  e.policy_version = policy->version;

  auto refuse = [&](const std::string& reason) {
    e.allow = false;
    e.reason = reason;
    (void)gw_->audit().Record(id_, e);
    spdlog::info("conn={} user={} direct-tcpip to {} denied: {}", id_, user_, e.destination,
                 reason);
    ssh_message_reply_default(msg);
  };
  if (host.empty() || port <= 0 || port > 65535) {
    refuse("malformed destination");
    return;
  }
  policy::Decision d = policy::Decide(*policy, CurrentIdentity(),
                                      policy::Request::Open(host, static_cast<uint16_t>(port)));
  e.rule = d.rule;
  if (!d.allow) {
    refuse(d.reason);
    return;
  }
  DialError derr;
  auto dialed = Dial(d.dial_host, d.dial_port, ToMs(gw_->config().connect_timeout), &derr);
  if (!dialed) {
    refuse("allowed by rule " + d.rule + ", but " + derr.message);
    return;
  }
  e.allow = true;
  e.dial = dialed->address;
  // Nothing is relayed unaudited: if the event cannot be written, refuse.
  Status st = gw_->audit().Record(id_, e);
  if (!st) {
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
  auto ch = std::make_unique<Channel>();
  ch->id = e.channel;
  ch->kind = e.kind;
  ch->destination = e.destination;
  int64_t now = gw_->NowMs();
  ch->relay = std::make_unique<TcpRelay>(event_.get(), channel, dialed->fd, now);
  channels_.push_back(std::move(ch));
  ++channels_total_;
  last_activity_ms_ = now;
  if (d.grants.max_session && (!max_session_ || *d.grants.max_session < *max_session_)) {
    max_session_ = d.grants.max_session;
    max_session_rule_ = d.rule;
  }
  if (d.grants.idle_timeout && (!idle_timeout_ || *d.grants.idle_timeout < *idle_timeout_)) {
    idle_timeout_ = d.grants.idle_timeout;
    idle_timeout_rule_ = d.rule;
  }
}

ssh_channel Connection::OnSessionOpen(ssh_session s, void* userdata) {
  auto* self = static_cast<Connection*>(userdata);
  auto is = std::make_unique<InfoSession>();
  is->conn = self;
  is->id = self->next_channel_++;
  is->channel = ssh_channel_new(s);
  if (is->channel == nullptr) return nullptr;
  ssh_callbacks_init(&is->cb);
  is->cb.userdata = is.get();
  is->cb.channel_pty_request_function = &InfoSession::OnPty;
  is->cb.channel_shell_request_function = &InfoSession::OnShell;
  is->cb.channel_exec_request_function = &InfoSession::OnExec;
  is->cb.channel_subsystem_request_function = &InfoSession::OnSubsystem;
  is->cb.channel_env_request_function = &InfoSession::OnEnv;
  is->cb.channel_pty_window_change_function = &InfoSession::OnWindowChange;
  is->cb.channel_data_function = &InfoSession::OnData;
  is->cb.channel_close_function = &InfoSession::OnClose;
  ssh_set_channel_callbacks(is->channel, &is->cb);
  audit::ChannelOpen e;
  e.channel = is->id;
  e.kind = "session";
  e.allow = true;
  e.reason = "gateway information session (no shell)";
  e.policy_version = self->gw_->policy().Get()->version;
  (void)self->gw_->audit().Record(self->id_, e);
  ssh_channel ch = is->channel;
  self->info_sessions_.push_back(std::move(is));
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
  for (auto it = info_sessions_.begin(); it != info_sessions_.end();) {
    InfoSession& is = **it;
    if (is.requested && !is.answered && !is.closed) {
      std::string text = InfoText(is.pty);
      ssh_channel_write(is.channel, text.data(), static_cast<uint32_t>(text.size()));
      ssh_channel_request_send_exit_status(is.channel, 0);
      ssh_channel_send_eof(is.channel);
      ssh_channel_close(is.channel);
      is.answered = true;
    }
    if (is.closed || is.answered) {
      if (is.closed) {
        audit::ChannelClose c;
        c.channel = is.id;
        c.kind = "session";
        c.reason = is.answered ? "information shown" : "client closed the channel";
        (void)gw_->audit().Record(id_, c);
        ssh_remove_channel_callbacks(is.channel, &is.cb);
        ssh_channel_free(is.channel);
        is.channel = nullptr;
        it = info_sessions_.erase(it);
        continue;
      }
    }
    ++it;
  }
}

void Connection::ReapChannels(int64_t now) {
  for (auto it = channels_.begin(); it != channels_.end();) {
    Channel& ch = **it;
    ch.relay->Sync(now);
    last_activity_ms_ = std::max(last_activity_ms_, ch.relay->last_activity_ms());
    if (ch.relay->finished()) {
      CloseChannel(ch, ch.relay->close_reason());
      it = channels_.erase(it);
    } else {
      ++it;
    }
  }
}

void Connection::CloseChannel(Channel& ch, const std::string& reason) {
  ch.relay->Abort(reason);
  audit::ChannelClose c;
  c.channel = ch.id;
  c.kind = ch.kind;
  c.destination = ch.destination;
  c.bytes_client_to_target = ch.relay->bytes_client_to_target();
  c.bytes_target_to_client = ch.relay->bytes_target_to_client();
  c.duration_ms = gw_->NowMs() - ch.relay->opened_ms();
  c.reason = ch.relay->close_reason();
  (void)gw_->audit().Record(id_, c);
  spdlog::info("conn={} channel {} to {} closed: {} ({} bytes up, {} down)", id_, ch.id,
               ch.destination, c.reason, c.bytes_client_to_target, c.bytes_target_to_client);
}

void Connection::Teardown(const std::string& reason) {
  for (auto& ch : channels_) CloseChannel(*ch, reason);
  channels_.clear();
  for (auto& is : info_sessions_) {
    if (is->channel != nullptr) {
      audit::ChannelClose c;
      c.channel = is->id;
      c.kind = "session";
      c.reason = reason;
      (void)gw_->audit().Record(id_, c);
    }
  }
  if (ssh_is_connected(session_.get())) ssh_disconnect(session_.get());
  if (counted_unauthenticated_) {
    gw_->unauthenticated().fetch_sub(1);
    counted_unauthenticated_ = false;
  }
  if (user_slot_) {
    gw_->ReleaseUserSlot(user_);
    user_slot_ = false;
  }
  audit::ConnectionClose e;
  e.user = user_;
  e.reason = reason;
  e.duration_ms = gw_->NowMs() - accepted_ms_;
  e.channels = channels_total_;
  (void)gw_->audit().Record(id_, e);
  spdlog::info("conn={} closed{}: {}", id_, user_.empty() ? "" : " user=" + user_, reason);
}

}  // namespace hopgate::proxy
