// Recorded sessions: the set-up (the inner server session, its key exchange
// and login, the upstream login) and the loop with its session limits. The
// channels are in recorded_channels.cc, recorded_reverse.cc and
// recorded_relay.cc.
#include "proxy/recorded/recorded_session.h"

#include "policy/credentials.h"

#include <fcntl.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/eventfd.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <ctime>
#include <thread>

#include "common/encoding.h"
#include "common/net.h"
#include "common/strings.h"
#include "proxy/net/dialer.h"
#include "proxy/recorded/recorded_session_impl.h"
#include "proxy/upstream/upstream.h"

namespace hopgate::proxy {
namespace {

// AES-GCM first (the cheapest second layer of encryption with AES-NI), then
// what every other client speaks: paramiko and Dropbear have no GCM.
constexpr const char* kInnerCiphers =
    "aes128-gcm@openssh.com,aes256-gcm@openssh.com,chacha20-poly1305@openssh.com,"
    "aes128-ctr,aes192-ctr,aes256-ctr";
constexpr const char* kInnerMacs =
    "hmac-sha2-256-etm@openssh.com,hmac-sha2-512-etm@openssh.com,hmac-sha2-256,hmac-sha2-512";
constexpr const char* kRecordingFailed = "\r\nhopgate: recording failed, session closed\r\n";

std::string JoinComma(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ", ") + s;
  return out;
}

// libssh reports a failed negotiation only as text ("kex error : no match
// for method encryption client->server: server [...], client [...]"): say
// it the way an administrator looks for it, keeping libssh's lists. Only the
// message is built from it; nothing is decided on it.
std::string InnerKexFailure(const std::string& libssh_error) {
  static const std::pair<const char*, const char*> kMethods[] = {
      {"no match for method encryption", "no common cipher"},
      {"no match for method mac", "no common MAC"},
      {"no match for method kex algos", "no common key exchange"},
      {"no match for method server host key algo", "no common host key type"},
  };
  for (const auto& [needle, what] : kMethods) {
    size_t at = libssh_error.find(needle);
    if (at == std::string::npos) continue;
    size_t client = libssh_error.find("client [", at);
    size_t server = libssh_error.find("server [", at);
    std::string out = std::string("inner key exchange failed: ") + what;
    if (client != std::string::npos) {
      size_t end = libssh_error.find(']', client);
      out += ": client offered " + libssh_error.substr(client + 8, end - client - 8);
    }
    if (server != std::string::npos) {
      size_t end = libssh_error.find(']', server);
      out += "; hopgate offers " + libssh_error.substr(server + 8, end - server - 8);
    }
    return out;
  }
  return "inner key exchange failed: " + libssh_error;
}

}  // namespace

int64_t FreeBytesUnder(const std::string& dir) {
  std::string p = dir;
  while (!p.empty()) {
    struct statvfs st;
    if (statvfs(p.c_str(), &st) == 0) {
      return static_cast<int64_t>(st.f_bavail) * static_cast<int64_t>(st.f_frsize);
    }
    size_t slash = p.rfind('/');
    if (slash == std::string::npos || slash == 0) {
      p = slash == 0 && p != "/" ? "/" : "";
    } else {
      p = p.substr(0, slash);
    }
  }
  return -1;
}

int RecordedSession::OnWake(socket_t fd, int, void*) {
  uint64_t v;
  ssize_t n = read(fd, &v, sizeof v);
  (void)n;
  return 0;
}

RecordedSession::~RecordedSession() {
  if (wake_fd_ >= 0) {
    gw_->RemoveWakeFd(wake_fd_);
    if (event_) ssh_event_remove_fd(event_.get(), wake_fd_);
    close(wake_fd_);
  }
  // Every channel (freed by ~Bridge) before the sessions it belongs to.
  for (auto* list : {&bridges_, &incoming_}) list->clear();
  if (event_) {
    if (inner_) ssh_event_remove_session(event_.get(), inner_.get());
    if (up_) ssh_event_remove_session(event_.get(), up_.get());
  }
  event_.reset();
  if (up_) ssh_disconnect(up_.get());
  if (inner_) ssh_disconnect(inner_.get());
}

void RecordedSession::Audit(const audit::Body& body) {
  (void)gw_->audit().Record(spec_.connection_id, body);
}

void RecordedSession::Run() {
  started_ms_ = gw_->NowMs();
  last_activity_ms_ = started_ms_;
  if (Handshake()) {
    Loop();
  } else if (!open_audited_) {
    // A session that never got as far as a login decision (key exchange,
    // a client that left) is still a failed session_open, with the reason.
    Audit(OpenEvent(false, end_reason_));
    spdlog::info("conn={} recorded session {} failed: {}", spec_.connection_id,
                 spec_.session_id, end_reason_);
  }
  for (auto& b : bridges_) {
    if (!b->done) Finish(*b, end_reason_.empty() ? "session ended" : end_reason_);
  }
  spdlog::info("conn={} recorded session {} ended: {}", spec_.connection_id, spec_.session_id,
               end_reason_);
}

// ------------------------------------------------------------------ set-up

bool RecordedSession::AcceptInner() {
  const Config& cfg = gw_->config();
  bind_.reset(ssh_bind_new());
  inner_.reset(ssh_new());
  if (!bind_ || !inner_) {
    close(fd_);
    end_reason_ = "out of memory";
    return false;
  }
  bool no = false;
  ssh_bind_options_set(bind_.get(), SSH_BIND_OPTIONS_PROCESS_CONFIG, &no);
  for (size_t i = 0; i < cfg.recording_host_key_texts.size(); ++i) {
    ssh_key key = nullptr;
    if (ssh_pki_import_privkey_base64(cfg.recording_host_key_texts[i].c_str(), nullptr, nullptr,
                                      nullptr, &key) != SSH_OK ||
        ssh_bind_options_set(bind_.get(), SSH_BIND_OPTIONS_IMPORT_KEY, key) != SSH_OK) {
      ssh_key_free(key);
      close(fd_);
      end_reason_ = "cannot load the interception host key " + cfg.recording_host_keys[i];
      return false;
    }
  }
  ssh_bind_options_set(bind_.get(), SSH_BIND_OPTIONS_PUBKEY_ACCEPTED_KEY_TYPES, kAcceptedKeyTypes);
  // The server's order decides nothing (the client's does), so clients that
  // prefer AES-GCM get it and the others get what they speak.
  ssh_bind_options_set(bind_.get(), SSH_BIND_OPTIONS_CIPHERS_C_S, kInnerCiphers);
  ssh_bind_options_set(bind_.get(), SSH_BIND_OPTIONS_CIPHERS_S_C, kInnerCiphers);
  ssh_bind_options_set(bind_.get(), SSH_BIND_OPTIONS_HMAC_C_S, kInnerMacs);
  ssh_bind_options_set(bind_.get(), SSH_BIND_OPTIONS_HMAC_S_C, kInnerMacs);
  if (ssh_bind_accept_fd(bind_.get(), inner_.get(), fd_) != SSH_OK) {
    close(fd_);
    end_reason_ = "cannot start the inner SSH session: " + SessionError(inner_.get());
    return false;
  }
  long timeout = std::max<int64_t>(1, cfg.login_grace_time);
  ssh_options_set(inner_.get(), SSH_OPTIONS_TIMEOUT, &timeout);
  DisableCompression(inner_.get());

  ssh_callbacks_init(&server_cb_);
  server_cb_.userdata = this;
  server_cb_.auth_pubkey_function = &RecordedSession::OnAuthPubkey;
  server_cb_.auth_none_function = &RecordedSession::OnAuthNone;
  server_cb_.auth_password_function = &RecordedSession::OnAuthPassword;
  server_cb_.channel_open_request_session_function = &RecordedSession::OnSessionOpen;
  ssh_set_server_callbacks(inner_.get(), &server_cb_);
  ssh_set_auth_methods(inner_.get(), SSH_AUTH_METHOD_PUBLICKEY);
  ssh_set_message_callback(inner_.get(), &RecordedSession::OnMessage, this);
  return true;
}

bool RecordedSession::Handshake() {
  const Config& cfg = gw_->config();
  if (!AcceptInner()) return false;
  if (ssh_handle_key_exchange(inner_.get()) != SSH_OK) {
    end_reason_ = InnerKexFailure(SessionError(inner_.get()));
    return false;
  }
  event_.reset(ssh_event_new());
  if (!event_ || ssh_event_add_session(event_.get(), inner_.get()) != SSH_OK) {
    end_reason_ = "cannot set up the event loop";
    return false;
  }
  // The gateway wakes us when it stops, so the session ends with its message
  // at once rather than at the next timeout.
  wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_fd_ >= 0) {
    ssh_event_add_fd(event_.get(), wake_fd_, POLLIN, &RecordedSession::OnWake, nullptr);
    gw_->AddWakeFd(wake_fd_);
  }
  // Authentication happens inside the loop's polls (callbacks).
  int64_t deadline = started_ms_ + cfg.login_grace_time * 1000;
  while (!authenticated_ && end_reason_.empty()) {
    int64_t now = gw_->NowMs();
    if (now >= deadline) {
      end_reason_ = "inner login not completed within login_grace_time";
      break;
    }
    if (gw_->stopping()) {
      end_reason_ = "gateway shutting down";
      break;
    }
    ssh_event_dopoll(event_.get(), static_cast<int>(std::min<int64_t>(deadline - now, 500)));
    ssh_session s = inner_.get();
    if ((ssh_get_status(s) & (SSH_CLOSED | SSH_CLOSED_ERROR)) || !ssh_is_connected(s)) {
      if (end_reason_.empty()) end_reason_ = "client left before the inner login";
      break;
    }
  }
  return authenticated_ && end_reason_.empty();
}

int RecordedSession::OnAuthPubkey(ssh_session, const char* user, ssh_key_struct* key, char state,
                                  void* userdata) {
  return static_cast<RecordedSession*>(userdata)->AuthPubkey(user ? user : "", key, state);
}

audit::SessionOpen RecordedSession::OpenEvent(bool success, const std::string& reason) {
  open_audited_ = true;
  audit::SessionOpen e;
  e.session = spec_.session_id;
  e.channel = spec_.outer_channel;
  e.user = spec_.user;
  e.login = login_;
  e.target = spec_.target;
  e.rule = spec_.decision.rule;
  e.route = spec_.decision.route;
  e.key_type = spec_.key_type;
  e.fingerprint = spec_.fingerprint;
  e.success = success;
  e.reason = reason;
  e.notice_shown = notice_shown_;
  return e;
}

void RecordedSession::Refuse(const std::string& why) {
  Audit(OpenEvent(false, why));
  spdlog::info("conn={} recorded session {} refused: {}", spec_.connection_id, spec_.session_id,
               why);
  // A banner is the one place an OpenSSH client shows the reason before
  // "Permission denied".
  std::string text = "hopgate: " + why + "\n";
  SshStringPtr banner(ssh_string_from_char(text.c_str()));
  if (banner) ssh_send_issue_banner(inner_.get(), banner.get());
}

void RecordedSession::ShowNotice() {
  const std::string& notice = gw_->config().recording_notice;
  if (notice_sent_ || notice.empty()) return;
  notice_sent_ = true;
  std::string text = notice + "\n";
  SshStringPtr banner(ssh_string_from_char(text.c_str()));
  if (banner == nullptr) return;
  notice_shown_ = ssh_send_issue_banner(inner_.get(), banner.get()) == SSH_OK;
}

int RecordedSession::AuthPubkey(const std::string& user, ssh_key key, char state) {
  if (authenticated_ || upstream_failed_) return SSH_AUTH_DENIED;
  // Before anything else the user sees: the session is recorded.
  ShowNotice();
  auto blob = KeyBlob(key);
  if (!blob) return SSH_AUTH_DENIED;
  std::string type = KeyTypeName(key);
  std::string certified = *blob;
  if (certs::IsCertificateTypeName(type)) {
    auto cert = certs::ParseCertificate(*blob);
    if (!cert) return SSH_AUTH_DENIED;
    certified = cert->key.blob;
  }
  if (certified != spec_.key_blob) {
    if (state == SSH_PUBLICKEY_STATE_VALID || ++auth_failures_ <= 1) {
      login_ = user;
      Refuse("the inner login must use the same key as the login to the gateway (" +
             spec_.fingerprint + "); it offered " + Sha256Fingerprint(certified));
    }
    return SSH_AUTH_DENIED;
  }
  if (state == SSH_PUBLICKEY_STATE_NONE) return SSH_AUTH_SUCCESS;  // "key acceptable"
  if (state != SSH_PUBLICKEY_STATE_VALID) return SSH_AUTH_DENIED;
  login_ = user;
  const auto& logins = spec_.decision.grants.logins;
  bool allowed = logins.empty() ? user == spec_.user
                                : std::find(logins.begin(), logins.end(), user) != logins.end();
  if (!allowed) {
    Refuse("login " + Quote(user) + " is not allowed on " + spec_.target + " by rule " +
           spec_.decision.rule + " (logins: " + (logins.empty() ? spec_.user : JoinComma(logins)) +
           ")");
    upstream_failed_ = true;
    end_reason_ = "login not allowed";
    return SSH_AUTH_DENIED;
  }
  std::string why;
  if (!ConnectUpstream(user, &why)) {
    Refuse("cannot open the session on " + spec_.target + ": " + why);
    upstream_failed_ = true;
    end_reason_ = "upstream failed: " + why;
    return SSH_AUTH_DENIED;
  }
  authenticated_ = true;
  audit::SessionOpen e = OpenEvent(true, spec_.decision.terminate_reason);
  e.dial = spec_.decision.dial_addresses.empty()
               ? JoinHostPort(spec_.decision.dial_host, spec_.decision.dial_port)
               : JoinHostPort(spec_.decision.dial_addresses[0].ToString(),
                              spec_.decision.dial_port);
  e.key_id = upstream_key_id_;
  Audit(e);
  spdlog::info("conn={} recorded session {}: {} as {} on {}", spec_.connection_id, spec_.session_id,
               spec_.user, login_, spec_.target);
  return SSH_AUTH_SUCCESS;
}

bool RecordedSession::ConnectUpstream(const std::string& login, std::string* why) {
  const policy::Decision& d = spec_.decision;
  const policy::Host* host = d.host_entry.empty() ? nullptr : &spec_.policy->hosts.at(d.host_entry);
  SshLogin l;
  l.name = host ? host->name : d.dial_host;
  l.address = HostPort{d.dial_host, d.dial_port};
  l.login = login;
  if (host) {
    l.identity_text = host->identity_text;
    l.host_key_blob = host->host_key_blob;
    l.known_hosts_path = host->known_hosts_path;
  }
  if (l.host_key_blob.empty() && l.known_hosts_path.empty()) {
    *why = "no host_key or known_hosts for " + l.name +
           " in the policy: hopgate never trusts a host key on first use";
    return false;
  }
  const auto& g = d.grants;
  l.key_id = "hopgate:" + spec_.user + ":" + spec_.session_id;
  upstream_key_id_ = l.identity_text.empty() ? l.key_id : "";
  l.mint_user = spec_.user;
  l.mint_session = spec_.session_id;
  l.mint_kind = 2;  // a recorded target
  l.mint_target = host ? host->name : d.dial_host;
  l.mint_port = d.dial_port;
  l.extensions = policy::ExtensionsForGrants(g);
  l.force_command = g.force_command;
  // A certificate only has to hold at login (sshd checks it then): the
  // signer's limit, or less.
  l.valid_seconds = gw_->upstream().max_cert_validity();

  int64_t timeout = gw_->upstream().connect_timeout_ms();
  int fd = -1;
  if (d.route.empty()) {
    DialError derr;
    auto dialed = Dial(d.dial_addresses, d.dial_port, timeout, &derr);
    if (!dialed) {
      gw_->metrics().UpstreamConnectFailure(DialFailureName(derr.kind));
      *why = derr.message;
      return false;
    }
    gw_->metrics().UpstreamConnect(static_cast<double>(dialed->elapsed_ms) / 1000.0);
    fd = dialed->fd;
  } else {
    RouteRequest req;
    req.hops = HopsFor(*spec_.policy, d.route);
    req.user = spec_.user;
    req.connection_id = spec_.connection_id;
    req.host = d.dial_host;
    req.port = d.dial_port;
    RouteFailure failure;
    auto stream = gw_->upstream().Open(req, &failure);
    if (!stream) {
      *why = failure.message;
      return false;
    }
    fd = stream->fd;
  }
  std::string reason;
  auto session = ConnectSsh(fd, l, gw_->upstream().signer(), timeout, &reason);
  if (!session) {
    gw_->metrics().UpstreamConnectFailure(reason);
    *why = session.message();
    return false;
  }
  up_ = std::move(*session);
  ssh_callbacks_init(&up_session_cb_);
  up_session_cb_.userdata = this;
  up_session_cb_.channel_open_request_auth_agent_function = &RecordedSession::OnUpAgentOpen;
  up_session_cb_.channel_open_request_x11_function = &RecordedSession::OnUpX11Open;
  ssh_set_callbacks(up_.get(), &up_session_cb_);
  ssh_set_blocking(up_.get(), 0);
  if (ssh_event_add_session(event_.get(), up_.get()) != SSH_OK) {
    *why = "cannot add the upstream session to the event loop";
    return false;
  }
  return true;
}

// ------------------------------------------------------------------ the loop

void RecordedSession::EndAll(const std::string& message, const std::string& reason) {
  for (auto& b : bridges_) {
    if (b->done) continue;
    if (b->kind == "session" && b->in) {
      ssh_channel_write_stderr(b->in.get(), message.data(), static_cast<uint32_t>(message.size()));
      ssh_channel_request_send_exit_status(b->in.get(), 255);
    }
    Finish(*b, reason);
  }
}

void RecordedSession::NoticeDrain(int64_t now) {
  int64_t left_s = std::max<int64_t>(0, (gw_->drain_deadline_ms() - now + 999) / 1000);
  std::string msg = "\r\nhopgate: this gateway is draining for maintenance; it will close this "
                    "session in " + std::to_string(left_s) +
                    "s. Open new sessions through the gateway again to reach another one.\r\n";
  for (auto& b : bridges_) {
    if (b->done || b->drain_noticed || b->kind != "session" || !b->in) continue;
    b->drain_noticed = true;
    ssh_channel_write_stderr(b->in.get(), msg.data(), static_cast<uint32_t>(msg.size()));
  }
}

void RecordedSession::EndForLimit(const char* limit, int64_t seconds, const std::string& message) {
  end_reason_ = limit;
  audit::SessionLimit e;
  e.user = spec_.user;
  e.limit = limit;
  e.seconds = seconds;
  e.rule = spec_.decision.rule;
  Audit(e);
  EndAll("\r\nhopgate: " + message + "\r\n", limit);
}

int64_t RecordedSession::FlushRecordings(int64_t now) {
  int64_t next = -1;
  for (auto& b : bridges_) {
    if (!b->cast || b->done) continue;
    int64_t oldest = b->cast->oldest_unwritten_ms();
    if (oldest < 0) continue;
    if (now - oldest >= kRecordingFlushMs) {
      if (Status st = b->cast->Flush(); !st) RecordFailed(*b, st.message());
    } else {
      int64_t due = oldest + kRecordingFlushMs;
      next = next < 0 ? due : std::min(next, due);
    }
  }
  return next;
}

void RecordedSession::Loop() {
  const auto& g = spec_.decision.grants;
  up_alive_.Attach(up_.get(),
                   {gw_->config().upstream_alive_interval * 1000,
                    gw_->config().upstream_alive_count_max},
                   gw_->NowMs());
  while (true) {
    int64_t now = gw_->NowMs();
    if (end_reason_.empty() && !up_alive_.Check(now)) {
      end_reason_ = "the target stopped answering (" + up_alive_.reason() + ")";
      spdlog::warn("conn={} recorded session {}: {}", spec_.connection_id, spec_.session_id,
                   end_reason_);
    }
    AcceptForwarded();
    for (auto& b : incoming_) bridges_.push_back(std::move(b));
    incoming_.clear();
    if (gw_->stopping() && end_reason_.empty()) end_reason_ = "gateway shutting down";
    if (gw_->draining() && end_reason_.empty()) NoticeDrain(now);
    if (end_reason_.empty() && g.max_session && now >= started_ms_ + *g.max_session * 1000) {
      EndForLimit("max_session", *g.max_session,
                  "session time limit reached (max_session " + std::to_string(*g.max_session) +
                      "s, rule " + spec_.decision.rule + ")");
    }
    if (end_reason_.empty() && g.idle_timeout &&
        now >= last_activity_ms_ + *g.idle_timeout * 1000) {
      EndForLimit("idle_timeout", *g.idle_timeout,
                  "idle timeout (" + std::to_string(*g.idle_timeout) + "s, rule " +
                      spec_.decision.rule + ")");
    }
    if (end_reason_.empty()) {
      if (auto t = gw_->PeekTermination(spec_.connection_id)) {  // hopctl terminate
        end_reason_ = "terminated by an administrator: " + t->reason;
        EndAll("\r\nhopgate: session terminated by an administrator: " + t->reason + "\r\n",
               end_reason_);
        break;
      }
    }
    if (!end_reason_.empty()) {
      std::string msg = recording_failed_
                            ? std::string(kRecordingFailed)
                            : "\r\nhopgate: session closed (" + end_reason_ + ")\r\n";
      EndAll(msg, end_reason_);
      break;
    }
    for (auto& b : bridges_) Service(*b);
    // Recordings are written in batches: by the writer itself when more
    // than recording.max_unflushed bytes wait, and here when the oldest
    // waiting event is kRecordingFlushMs old.
    int64_t flush_at = FlushRecordings(now);
    if (!end_reason_.empty()) continue;
    for (size_t i = 0; i < bridges_.size();) {
      if (bridges_[i]->done) {
        // libssh frees a closed channel once the peer's CLOSE arrived; freeing
        // here (~Bridge) is the documented way to let go of it.
        bridges_.erase(bridges_.begin() + static_cast<long>(i));
      } else {
        ++i;
      }
    }
    int64_t next = now + 1000;
    if (g.max_session) next = std::min(next, started_ms_ + *g.max_session * 1000);
    if (g.idle_timeout) next = std::min(next, last_activity_ms_ + *g.idle_timeout * 1000);
    bool pending = false;
    for (auto& b : bridges_) {
      pending |= !b->reqs.empty() || !b->up || !b->in ||
                 (b->in_pending && b->Ready() && ssh_channel_window_size(b->up.get()) > 0) ||
                 (!b->sftp_out.empty() && b->up && ssh_channel_window_size(b->up.get()) > 0);
    }
    if (flush_at >= 0) next = std::min(next, flush_at);
    next = std::min(next, up_alive_.NextDeadline());
    if (pending || !incoming_.empty()) next = std::min(next, now + 5);
    ssh_event_dopoll(event_.get(), static_cast<int>(std::max<int64_t>(0, next - now) + 1));
    // The target first: when both ends are gone at once, the client most
    // likely left because the target did.
    ssh_session in = inner_.get();
    if ((ssh_get_status(up_.get()) & (SSH_CLOSED | SSH_CLOSED_ERROR)) ||
        !ssh_is_connected(up_.get())) {
      end_reason_ = "the target " + spec_.target + " closed the connection";
    } else if ((ssh_get_status(in) & (SSH_CLOSED | SSH_CLOSED_ERROR)) || !ssh_is_connected(in)) {
      end_reason_ = "client disconnected";
    }
    if (!end_reason_.empty()) {
      // Whatever the target sent before it left still reaches the recording.
      for (auto& b : bridges_) {
        if (b->cast && !b->done) (void)b->cast->Flush();
      }
    }
  }
}

void StartRecordedSession(Gateway* gw, RecordedSessionSpec spec, int fd) {
  auto shared = std::make_shared<RecordedSessionSpec>(std::move(spec));
  gw->SpawnTask([gw, shared, fd] {
    RecordedSession rs(gw, std::move(*shared), fd);
    rs.Run();
  });
}

}  // namespace hopgate::proxy
