// Connection lifecycle: key exchange, authentication, the event loop,
// limits and teardown. Request handling is in connection_channels.cc,
// connection_direct.cc, connection_forward.cc and connection_info.cc.
#include "proxy/connection/connection.h"

#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <memory>
#include <utility>

#include "common/encoding.h"
#include "common/strings.h"
#include "common/time_util.h"
#include "proxy/connection/connection_parts.h"
#include "policy/credentials.h"
#include "proxy/connection/credentials.h"
#include "proxy/base/clock.h"
#include "proxy/base/logging.h"

namespace hopgate::proxy {

namespace {
int64_t ToMs(int64_t seconds) { return seconds * 1000; }
// At shutdown, how long recorded sessions get to close themselves.
constexpr int64_t kStopGraceMs = 3'000;
// ... and how long their clients then get to go away by themselves.
constexpr int64_t kSettleMs = 300;
}  // namespace

bool Connection::HasRecordedChannels() const {
  for (const auto* list : {&channels_, &incoming_channels_}) {
    for (const auto& ch : *list) {
      if (ch->recorded && !ch->relay->finished()) return true;
    }
  }
  return false;
}

Connection::Connection(Gateway* gw, Worker* worker, SessionPtr session, ClientEndpoint client,
                       std::string id, int64_t accepted_ms)
    : gw_(gw),
      worker_(worker),
      session_(std::move(session)),
      client_(std::move(client)),
      id_(std::move(id)),
      accepted_ms_(accepted_ms) {
  gw_->Register(this);
}

Connection::~Connection() {
  AdoptIncoming();
  channels_.clear();
  pending_opens_.clear();
  for (auto& p : pending_direct_) FailDirect(*p);  // nothing may wait on us
  pending_direct_.clear();
  forwards_.clear();
  info_sessions_.clear();
  if (fds_) fds_->UnwatchAll();
  event_.reset();
  alive_.Detach();
  session_.reset();
  gw_->Unregister(this);
}

void Connection::PenalizeSource() {
  auto ip = IpAddress::Parse(client_.address);
  if (!ip || gw_->stopping() || client_.proxy_local) return;
  Startups::Outcome outcome = Startups::Outcome::kNoAuth;
  if (drop_ == Drop::kLoginGrace) {
    outcome = Startups::Outcome::kGraceExceeded;
  } else if (auth_failures_ > 0 || drop_ == Drop::kAuthTries) {
    outcome = Startups::Outcome::kAuthFailed;
  }
  gw_->startups().Penalize(*ip, outcome, SteadyMs());
}

void Connection::Wake() { worker_->Poke(this); }

void Connection::PostBack(std::function<void(Connection*)> fn) {
  // The connection may be gone when the task runs: find it by its id.
  Worker* w = worker_;
  std::string id = id_;
  w->Post([w, self = this, id, fn = std::move(fn)] {
    if (w->Drives(self) && self->id_ == id) fn(self);
  });
}

bool Connection::Step(int64_t now) {
  ssh_session s = session_.get();
  if (phase_ == Phase::kStart) Begin(gw_->NowMs());
  if (phase_ == Phase::kKex && end_reason_.empty()) StepKex(gw_->NowMs());
  if (phase_ == Phase::kOpen && end_reason_.empty()) {
    // Poll this connection's few descriptors (never blocking), then do the
    // work between polls; again while libssh found something or callbacks
    // left work, within a budget so one busy connection cannot starve the
    // worker's others (level-triggered epoll calls it back).
    for (int round = 0; round < 16; ++round) {
      int rc = ssh_event_dopoll(event_.get(), 0);
      BetweenPolls(gw_->NowMs());
      if (NoteDisconnect(s)) break;
      if (rc != SSH_OK && !HasIncoming()) break;
    }
  }
  if (!end_reason_.empty()) {
    Teardown(end_reason_);
    if (fds_) fds_->UnwatchAll();
    return false;
  }
  // A flood's window that ended (the loop wakes at least once a minute).
  FlushRefusalSummaries(/*all=*/false);
  fds_->WatchSession(ssh_get_fd(s), (ssh_get_poll_flags(s) & SSH_WRITE_PENDING) != 0);
  // Deadlines are kept in the audit clock; the worker's timers in its own.
  int64_t wall = gw_->NowMs();
  worker_->SetTimer(this, now + (NextDeadline(wall) - wall));
  return true;
}

void Connection::Begin(int64_t now) {
  audit::ConnectionOpen open;
  open.client_addr = client_.address;
  open.client_port = client_.port;
  open.listen = client_.local;
  open.via_proxy = client_.via_proxy;
  (void)gw_->audit().Record(id_, open);
  spdlog::info("conn={} accepted from {} on {}{}", id_, JoinHostPort(client_.address, client_.port),
               client_.local, client_.via_proxy.empty() ? "" : " via proxy " + client_.via_proxy);
  gw_->metrics().ConnectionsActive(1);
  phase_ = Phase::kKex;

  ssh_session s = session_.get();
  ssh_callbacks_init(&server_cb_);
  server_cb_.userdata = this;
  server_cb_.auth_pubkey_function = &Connection::OnAuthPubkey;
  server_cb_.auth_password_function = &Connection::OnAuthPassword;
  server_cb_.auth_none_function = &Connection::OnAuthNone;
  server_cb_.channel_open_request_session_function = &Connection::OnSessionOpen;
  ssh_set_server_callbacks(s, &server_cb_);
  ssh_set_auth_methods(s, SSH_AUTH_METHOD_PUBLICKEY);
  ssh_set_message_callback(s, &Connection::OnMessage, this);
  // Non-blocking from the start: the first call sends our banner and
  // returns; the key exchange then goes on as the socket is ready.
  ssh_set_blocking(s, 0);
  int rc = ssh_handle_key_exchange(s);
  event_.reset(ssh_event_new());
  if (rc == SSH_ERROR || !event_ || ssh_event_add_session(event_.get(), s) != SSH_OK) {
    end_reason_ = rc == SSH_ERROR ? "key exchange failed: " + SessionError(s)
                                  : "internal error: cannot create the event loop";
    drop_ = Drop::kHandshake;
    return;
  }
  fds_ = std::make_unique<EventFds>(event_.get(), worker_, this);
  (void)now;
}

void Connection::StepKex(int64_t now) {
  ssh_session s = session_.get();
  int rc = ssh_handle_key_exchange(s);
  if (rc == SSH_OK) {
    phase_ = Phase::kOpen;
    return;
  }
  if (rc == SSH_AGAIN && now < accepted_ms_ + ToMs(gw_->config().login_grace_time)) return;
  end_reason_ = rc == SSH_AGAIN ? "login grace time exceeded during key exchange"
                                : "key exchange failed: " + SessionError(s);
  drop_ = rc == SSH_AGAIN ? Drop::kLoginGrace : Drop::kHandshake;
}

bool Connection::HasIncoming() const {
  return !incoming_channels_.empty() || !incoming_forwards_.empty() ||
         !incoming_pending_opens_.empty() || !incoming_info_sessions_.empty() ||
         !incoming_direct_.empty();
}

void Connection::BetweenPolls(int64_t now) {
  if (gw_->stopping()) {
    // Recorded sessions end themselves first, with their message on the
    // user's terminal and the right reason; then this connection goes.
    if (stop_deadline_ms_ == 0) stop_deadline_ms_ = now + kStopGraceMs;
    // After a recorded session ended, a moment for its client to show the
    // message and hang up before the gateway disconnects it.
    bool settling = recorded_ended_ms_ != 0 && now < recorded_ended_ms_ + kSettleMs;
    if ((!HasRecordedChannels() && !settling) || now >= stop_deadline_ms_) {
      end_reason_ = "gateway shutting down";
      return;
    }
  }
  AdoptIncoming();
  CheckRevocation();
  FinishTermination(now);
  if (!end_reason_.empty()) return;
  ServeForwards(now);
  ServePendingDirect(now);
  ReapChannels(now);
  ServeInfoSessions();
  CheckLimits(now);
}

int64_t Connection::NextDeadline(int64_t now) const {
  int64_t next = now + 60'000;
  if (phase_ != Phase::kOpen || !authenticated_) {
    next = std::min(next, accepted_ms_ + ToMs(gw_->config().login_grace_time));
  } else {
    if (max_session_) next = std::min(next, authenticated_ms_ + ToMs(*max_session_));
    if (idle_timeout_) next = std::min(next, last_activity_ms_ + ToMs(*idle_timeout_));
    next = std::min(next, alive_.NextDeadline());
  }
  for (const auto& f : forwards_) {
    if (!f->registered) next = std::min(next, std::max(now, f->paused_until_ms));
  }
  if (stop_deadline_ms_ != 0 || terminate_deadline_ms_ != 0) next = std::min(next, now + 50);
  if (!pending_opens_.empty()) next = std::min(next, now + 100);
  for (const auto& p : pending_direct_) next = std::min(next, PendingDeadline(*p));
  return std::max(next, now + 1);
}

bool Connection::NoteDisconnect(ssh_session s) {
  if (!end_reason_.empty()) return true;
  if ((ssh_get_status(s) & (SSH_CLOSED | SSH_CLOSED_ERROR)) || !ssh_is_connected(s)) {
    end_reason_ = authenticated_ ? "client disconnected"
                                 : "client disconnected before authenticating";
    return true;
  }
  return false;
}

void Connection::AdoptIncoming() {
  for (auto& c : incoming_channels_) channels_.push_back(std::move(c));
  incoming_channels_.clear();
  for (auto& i : incoming_info_sessions_) info_sessions_.push_back(std::move(i));
  incoming_info_sessions_.clear();
  for (auto& f : incoming_forwards_) forwards_.push_back(std::move(f));
  incoming_forwards_.clear();
  for (auto& p : incoming_pending_opens_) pending_opens_.push_back(std::move(p));
  incoming_pending_opens_.clear();
}

void Connection::CheckLimits(int64_t now) {
  if (!authenticated_) {
    if (now >= accepted_ms_ + ToMs(gw_->config().login_grace_time)) {
      end_reason_ = "login grace time exceeded";
      drop_ = Drop::kLoginGrace;
    } else if (auth_failures_ >= gw_->config().max_auth_tries) {
      end_reason_ = "too many authentication failures";
      drop_ = Drop::kAuthTries;
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
        ssh_channel_write_stderr(is->channel.get(), text.data(),
                                 static_cast<uint32_t>(text.size()));
      }
    }
    end_reason_ = std::string(what) + " reached";
  };
  if (!alive_.Check(now)) {
    // The client vanished without closing TCP (or froze): nobody is there
    // to read a message.
    end_reason_ = "client_alive timeout: " + alive_.reason();
    gw_->metrics().Connection("dropped_client_alive");
    spdlog::warn("conn={} user={} client stopped answering: {}", id_, user_, alive_.reason());
    return;
  }
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
  if (self->AuthTriesExhausted()) return SSH_AUTH_DENIED;
  AuthAttempt a{user ? user : "", "password", "", "", std::nullopt};
  return self->RefuseAuth(a, "only public key authentication is accepted", "method_refused");
}

int Connection::OnAuthNone(ssh_session, const char*, void*) { return SSH_AUTH_DENIED; }

namespace {

// Metrics reason for a certificate refusal from certs::ValidateCertificate.
const char* CertificateReasonCode(const Error& error) {
  switch (static_cast<certs::CertRefusal>(error.reason)) {
    case certs::CertRefusal::kRevoked: return "revoked";
    case certs::CertRefusal::kExpired: return "expired";
    case certs::CertRefusal::kNotYetValid: return "not_yet_valid";
    case certs::CertRefusal::kPrincipal: return "principal";
    case certs::CertRefusal::kSourceAddress: return "source_address";
    case certs::CertRefusal::kUntrustedCa: return "untrusted_ca";
    case certs::CertRefusal::kBadSignature: return "bad_signature";
    default: return "certificate_invalid";
  }
}

}  // namespace

audit::Auth Connection::AuthEvent(const AuthAttempt& a, bool success) const {
  audit::Auth e;
  e.user = a.user;
  e.client_addr = client_.address;
  e.client_port = client_.port;
  e.method = a.method;
  e.key_type = a.key_type;
  e.fingerprint = a.fingerprint;
  e.success = success;
  e.certificate = a.certificate;
  return e;
}

int Connection::RefuseAuth(const AuthAttempt& a, const std::string& reason, const char* code) {
  ++auth_failures_;
  gw_->metrics().Auth(a.method, false, code);
  // A client offers each of its keys in turn, twice each; record each
  // distinct refusal once.
  if (!failures_logged_.insert(a.user + "\n" + a.method + "\n" + a.fingerprint + "\n" + reason)
           .second) {
    return SSH_AUTH_DENIED;
  }
  if (!AdmitRefusal("auth_failure", reason)) return SSH_AUTH_DENIED;  // an audit flood
  audit::Auth e = AuthEvent(a, false);
  e.reason = reason;
  (void)gw_->audit().Record(id_, e);
  spdlog::info("conn={} auth refused user={} method={} {} reason={}", id_, Quote(a.user), a.method,
               a.fingerprint, reason);
  return SSH_AUTH_DENIED;
}

bool Connection::AuthTriesExhausted() {
  // Checked on every request, not once per poll: a client that pipelines a
  // burst of signed requests gets no more keys evaluated than the limit.
  if (auth_failures_ < gw_->config().max_auth_tries) return false;
  if (end_reason_.empty()) {
    end_reason_ = "too many authentication failures";
    drop_ = Drop::kAuthTries;
  }
  return true;
}

int Connection::AuthPubkey(const std::string& user, ssh_key key, char state) {
  AuthAttempt a{user, "publickey", KeyTypeName(key), "", std::nullopt};
  if (authenticated_ || AuthTriesExhausted()) return SSH_AUTH_DENIED;
  auto blob = KeyBlob(key);
  if (!blob) return RefuseAuth(a, blob.message(), "other");
  bool certificate = certs::IsCertificateTypeName(a.key_type);
  if (certificate) a.method = "certificate";
  a.fingerprint = Sha256Fingerprint(*blob);  // refined below once parsed
  if (state == SSH_PUBLICKEY_STATE_WRONG) return RefuseAuth(a, "bad signature", "bad_signature");
  if (state != SSH_PUBLICKEY_STATE_NONE && state != SSH_PUBLICKEY_STATE_VALID) {
    return RefuseAuth(a, "signature not verified", "bad_signature");
  }
  return certificate ? AuthCertificate(a, *blob, state) : AuthPlainKey(a, *blob, state);
}

int Connection::AuthCertificate(AuthAttempt& a, const std::string& blob, char state) {
  auto cert = certs::ParseCertificate(blob);
  if (!cert) return RefuseAuth(a, "malformed certificate: " + cert.message(), "certificate_invalid");
  a.fingerprint = cert->Fingerprint();  // of the certified key, as OpenSSH logs it
  a.certificate = DescribeCertificate(*cert);
  auto trust = gw_->policy().GetTrust();
  if (trust->user_cas.empty()) {
    return RefuseAuth(a, "certificates are not accepted (no authentication.trusted_user_ca_keys)",
                      "untrusted_ca");
  }
  certs::ValidationContext ctx;
  ctx.now = gw_->WallMs() / 1000;
  ctx.trusted_cas = trust->user_cas;
  ctx.expected_type = certs::CertType::kUser;
  ctx.principal = a.user;
  ctx.client_address = IpAddress::Parse(client_.address);
  ctx.revocations = &trust->revoked;
  auto grants = certs::ValidateCertificate(*cert, ctx);
  if (!grants) return RefuseAuth(a, grants.message(), CertificateReasonCode(grants.error()));
  if (state == SSH_PUBLICKEY_STATE_NONE) return SSH_AUTH_SUCCESS;  // "key acceptable"
  principals_ = cert->principals;
  restrictions_ = {policy::RestrictionsFromCertificate(*grants)};
  key_ = cert->key;
  cert_ = std::move(*cert);
  return AuthSucceeded(a);
}

int Connection::AuthPlainKey(AuthAttempt& a, const std::string& blob, char state) {
  auto key = certs::ParsePublicKeyBlob(blob);
  if (!key) return RefuseAuth(a, "unsupported key: " + key.message(), "other");
  auto trust = gw_->policy().GetTrust();
  if (auto reason = trust->revoked.RevokedKey(*key)) return RefuseAuth(a, *reason, "revoked");
  auto policy = gw_->policy().Get();
  const policy::AuthorizedKey* ak = policy->FindKey(a.user, blob);
  if (ak == nullptr) {
    if (policy->users.count(a.user) == 0) {
      return RefuseAuth(a, "user " + Quote(a.user) + " is not in the policy", "unknown_user");
    }
    return RefuseAuth(a, "key is not listed for user " + Quote(a.user), "unknown_key");
  }
  const policy::Restrictions& r = ak->restrictions;
  if (r.from) {
    auto addr = IpAddress::Parse(client_.address);
    if (!addr || !r.from->Matches(*addr)) {
      return RefuseAuth(a,
                        "source address " + client_.address + " not allowed by from=\"" +
                            r.from->text + "\" (" + ak->location.ToString() + ")",
                        "source_address");
    }
  }
  if (r.expiry_time && gw_->WallMs() / 1000 >= *r.expiry_time) {
    return RefuseAuth(a,
                      "key expired at " + FormatRfc3339(*r.expiry_time) + " (expiry-time in " +
                          ak->location.ToString() + ")",
                      "expired");
  }
  if (state == SSH_PUBLICKEY_STATE_NONE) return SSH_AUTH_SUCCESS;  // "key acceptable"
  principals_.clear();
  restrictions_ = {r};
  key_ = std::move(*key);
  cert_.reset();
  return AuthSucceeded(a);
}

int Connection::AuthSucceeded(const AuthAttempt& a) {
  audit::fleet::LockSubject subject = LockSubjectOf(a);
  if (auto lock = gw_->Locked(subject)) return RefuseAuth(a, LockedText(*lock), "locked");
  if (std::string why; !gw_->AcquireUserSlot(a.user, &why)) {
    return RefuseAuth(a, why, "too_many_sessions");
  }
  audit::Auth e = AuthEvent(a, true);
  if (Status st = gw_->audit().Record(id_, e); !st) {
    // Nobody gets in unaudited.
    gw_->ReleaseUserSlot(a.user);
    spdlog::error("conn={} refusing login of {}: the audit log cannot be written: {}", id_,
                  Quote(a.user), st.message());
    // Said to the client too (OpenSSH shows banners at its default LogLevel).
    static constexpr char kText[] =
        "hopgate: the audit log cannot be written; logins are refused until it can. "
        "Try again later or tell the gateway's operators.\r\n";
    std::unique_ptr<ssh_string_struct, decltype(&ssh_string_free)> banner(
        ssh_string_from_char(kText), &ssh_string_free);
    if (banner) (void)ssh_send_issue_banner(session_.get(), banner.get());
    return RefuseAuth(a, "audit log unavailable", "audit_failure");
  }
  gw_->metrics().Auth(a.method, true, "none");
  user_slot_ = true;
  authenticated_ = true;
  authenticated_ms_ = gw_->NowMs();
  last_activity_ms_ = authenticated_ms_;
  user_ = a.user;
  auth_method_ = a.method;
  key_type_ = a.key_type;
  fingerprint_ = a.fingerprint;
  lock_subject_ = std::move(subject);
  startup_slot_.Release();
  if (FleetSessions* fleet = gw_->fleet_sessions()) {
    bool v6 = client_.address.find(':') != std::string::npos;
    fleet->Opened(id_, user_,
                  (v6 ? "[" + client_.address + "]" : client_.address) + ":" +
                      std::to_string(client_.port),
                  gw_->WallMs());
  }
  alive_.Attach(session_.get(),
                {ToMs(gw_->config().client_alive_interval), gw_->config().client_alive_count_max},
                authenticated_ms_);
  spdlog::info("conn={} user={} authenticated with {} {}{}", id_, Quote(a.user), a.key_type,
               a.fingerprint,
               a.certificate ? " (certificate " + Quote(a.certificate->key_id) + " serial " +
                                   std::to_string(a.certificate->serial) + ")"
                             : "");
  return SSH_AUTH_SUCCESS;
}

void Connection::CheckRevocation() {
  if (!revocation_check_.exchange(false) || !authenticated_) return;
  if (CheckTermination() || CheckFleetLock() || !gw_->config().close_revoked_sessions) return;
  auto trust = gw_->policy().GetTrust();
  std::optional<std::string> reason =
      cert_ ? trust->revoked.RevokedCertificate(*cert_) : trust->revoked.RevokedKey(key_);
  if (!reason) return;
  audit::CredentialRevoked e;
  e.user = user_;
  e.fingerprint = fingerprint_;
  e.reason = *reason;
  (void)gw_->audit().Record(id_, e);
  spdlog::warn("conn={} user={} credential {}: closing the connection", id_, user_, *reason);
  std::string text = "\r\nhopgate: your " + std::string(cert_ ? "certificate" : "key") +
                     " was " + *reason + "; closing the connection\r\n";
  for (auto& is : info_sessions_) {
    if (is->channel != nullptr && !is->closed) {
      ssh_channel_write_stderr(is->channel.get(), text.data(), static_cast<uint32_t>(text.size()));
    }
  }
  end_reason_ = "credential " + *reason;
}

policy::Identity Connection::CurrentIdentity() const {
  policy::Identity id;
  id.user = user_;
  id.certificate = cert_.has_value();
  id.principals = principals_;
  id.source = IpAddress::Parse(client_.address);
  id.restrictions = restrictions_;
  return id;
}

// ---------------------------------------------------------------- teardown

void Connection::Teardown(const std::string& reason) {
  AdoptIncoming();
  if (cap_suppressed_ > 0) {
    // The count of over-cap refusals not yet written, so totals add up.
    audit::ChannelOpen e;
    e.channel = NextChannelId();
    e.kind = cap_last_kind_;
    e.reason = "too many open channels on this connection (limits.max_channels_per_connection " +
               std::to_string(gw_->config().max_channels_per_connection) + ")";
    e.suppressed = std::exchange(cap_suppressed_, 0) - 1;
    e.policy_version = gw_->policy().Get()->version;
    (void)gw_->audit().Record(id_, e);
  }
  FlushRefusalSummaries(/*all=*/true);  // refusals counted, not written, on this connection
  for (auto& p : pending_opens_) {
    audit::ChannelClose c;
    c.channel = p->id;
    c.kind = "forwarded-tcpip";
    c.destination = p->destination;
    c.reason = reason;
    (void)gw_->audit().Record(id_, c);
  }
  pending_opens_.clear();
  for (auto& ch : channels_) {
    ch->relay->Abort(reason);
    CloseChannel(*ch);
  }
  channels_.clear();
  for (auto& f : forwards_) CloseForward(*f, reason);
  forwards_.clear();
  for (auto& is : info_sessions_) {
    if (is->channel != nullptr) {
      audit::ChannelClose c;
      c.channel = is->id;
      c.kind = "session";
      c.reason = reason;
      (void)gw_->audit().Record(id_, c);
      gw_->metrics().ChannelsActive("session", -1);
    }
  }
  // Like every other channel, before ssh_disconnect: libssh 0.10 frees the
  // session's channels there, which would leave these pointing at freed ones.
  info_sessions_.clear();
  if (ssh_is_connected(session_.get())) ssh_disconnect(session_.get());
  if (!authenticated_) PenalizeSource();
  if (!authenticated_) {
    switch (drop_) {
      case Drop::kLoginGrace: gw_->metrics().Connection("dropped_login_grace"); break;
      case Drop::kAuthTries: gw_->metrics().Connection("dropped_auth_tries"); break;
      case Drop::kHandshake: gw_->metrics().Connection("handshake_failed"); break;
      case Drop::kNone: break;
    }
  }
  startup_slot_.Release();
  if (user_slot_) {
    gw_->ReleaseUserSlot(user_);
    user_slot_ = false;
    if (FleetSessions* fleet = gw_->fleet_sessions()) fleet->Closed(id_);
  }
  audit::ConnectionClose e;
  e.user = user_;
  e.reason = reason;
  e.duration_ms = gw_->NowMs() - accepted_ms_;
  e.channels = channels_total_;
  (void)gw_->audit().Record(id_, e);
  gw_->metrics().ConnectionsActive(-1);
  spdlog::info("conn={} closed{}: {}", id_, user_.empty() ? "" : " user=" + user_, reason);
}

}  // namespace hopgate::proxy
