#include "proxy/recorded_session.h"

#include <fcntl.h>
#include <libssh/callbacks.h>
#include <libssh/libssh.h>
#include <libssh/server.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <ctime>
#include <deque>
#include <optional>
#include <thread>
#include <vector>

#include "audit/asciicast.h"
#include "audit/events.h"
#include "audit/sftp.h"
#include "common/encoding.h"
#include "common/net.h"
#include "common/strings.h"
#include "proxy/dialer.h"
#include "proxy/ssh_util.h"
#include "proxy/upstream.h"

namespace hopgate::proxy {
namespace {

constexpr size_t kChunk = 64 * 1024;
constexpr int64_t kFlushMs = 100;
constexpr const char* kInnerCiphers = "aes128-gcm@openssh.com,aes256-gcm@openssh.com";
constexpr const char* kRecordingFailed = "\r\nhopgate: recording failed, session closed\r\n";

std::string JoinComma(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ", ") + s;
  return out;
}

bool EnvAllowed(const std::string& name) {
  return name == "TERM" || name == "LANG" || name.rfind("LC_", 0) == 0;
}

std::string CastPath(const std::string& dir, const std::string& session, uint32_t channel,
                     int64_t now_ms) {
  time_t t = static_cast<time_t>(now_ms / 1000);
  struct tm tm;
  gmtime_r(&t, &tm);
  char day[32];
  strftime(day, sizeof day, "%Y/%m/%d", &tm);
  return dir + "/" + day + "/" + session + "-" + std::to_string(channel) + ".cast";
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

class RecordedSession {
 public:
  RecordedSession(Gateway* gw, RecordedSessionSpec spec, int fd)
      : gw_(gw), spec_(std::move(spec)), fd_(fd) {}
  ~RecordedSession();
  void Run();

 private:
  // One inner channel and its upstream twin.
  struct Bridge {
    RecordedSession* rs = nullptr;
    uint32_t id = 0;
    std::string kind;  // "session" or "direct-tcpip"
    ssh_channel in = nullptr;
    ssh_channel up = nullptr;
    ssh_channel_callbacks_struct in_cb{}, up_cb{};
    int64_t opened_ms = 0;
    // Requests from the client, applied upstream in order at the top of
    // the loop.
    struct Req {
      std::string type;  // pty, env, shell, exec, subsystem, resize, signal
      std::string a, b;
      int w = 0, h = 0;
    };
    std::deque<Req> reqs;
    bool up_failed = false;
    bool started = false;  // shell/exec/subsystem requested
    bool sftp_mode = false;
    std::string dest_host;  // direct-tcpip; the -R address for forwarded-tcpip; x11 originator
    uint16_t dest_port = 0;
    int width = 80, height = 24;
    std::string term;
    // Data and state.
    bool in_pending = false, up_pending = false, up_err_pending = false;
    bool in_eof = false, in_closed = false, up_eof = false, up_closed = false;
    bool eof_to_up = false, eof_to_in = false;
    std::optional<int> exit_status;
    std::string exit_signal;
    bool done = false;
    std::string close_reason;
    uint64_t c2t = 0, t2c = 0;
    // Recording.
    std::unique_ptr<audit::FileCastOutput> cast_out;
    std::unique_ptr<audit::CastWriter> cast;
    std::unique_ptr<audit::SftpObserver> sftp;
    // Channels the target opens (auth-agent, x11, forwarded-tcpip) start with
    // `up` and get `in` opened to the client at the top of the loop.
    bool Reverse() const { return kind == "auth-agent" || kind == "x11" || kind == "forwarded-tcpip"; }
    bool Ready() const {
      return up != nullptr && in != nullptr && (kind != "session" || started);
    }
  };

  // Setup.
  bool Handshake();
  static int OnAuthPubkey(ssh_session s, const char* user, ssh_key_struct* key, char state,
                          void* userdata);
  static int OnAuthNone(ssh_session, const char*, void*) { return SSH_AUTH_DENIED; }
  static int OnAuthPassword(ssh_session, const char*, const char*, void*) {
    return SSH_AUTH_DENIED;
  }
  int AuthPubkey(const std::string& user, ssh_key key, char state);
  bool ConnectUpstream(const std::string& login, std::string* why);
  void Refuse(const std::string& why);

  // Inner channels.
  static ssh_channel OnSessionOpen(ssh_session s, void* userdata);
  static int OnMessage(ssh_session s, ssh_message msg, void* userdata);
  void HandleDirectTcpip(ssh_message msg);
  void SetCallbacks(Bridge& b);
  static int OnInData(ssh_session, ssh_channel, void* data, uint32_t len, int is_stderr, void* u);
  static void OnInEof(ssh_session, ssh_channel, void* u) { static_cast<Bridge*>(u)->in_eof = true; }
  static void OnInClose(ssh_session, ssh_channel, void* u) {
    static_cast<Bridge*>(u)->in_closed = true;
  }
  static int OnPty(ssh_session, ssh_channel, const char* term, int w, int h, int, int, void* u);
  static int OnShell(ssh_session, ssh_channel, void* u);
  static int OnExec(ssh_session, ssh_channel, const char* command, void* u);
  static int OnSubsystem(ssh_session, ssh_channel, const char* name, void* u);
  static int OnEnv(ssh_session, ssh_channel, const char* name, const char* value, void* u);
  static int OnWindowChange(ssh_session, ssh_channel, int w, int h, int, int, void* u);
  static void OnSignal(ssh_session, ssh_channel, const char* sig, void* u);
  static void OnAgentReq(ssh_session, ssh_channel, void* u);
  static void OnX11Req(ssh_session, ssh_channel, int, const char*, const char*, uint32_t, void* u);
  // Channels the target opens towards the client.
  static ssh_channel OnUpAgentOpen(ssh_session s, void* userdata);
  static ssh_channel OnUpX11Open(ssh_session s, const char* addr, int port, void* userdata);
  Bridge* AddReverse(const std::string& kind, ssh_channel up);
  void OpenInner(Bridge& b);
  void HandleTcpipForward(ssh_message msg, bool cancel);
  void AcceptForwarded();
  void SetUpCallbacks(Bridge& b);
  struct RemoteForward {
    std::string address;  // as the client asked
    uint16_t port = 0;    // as the client asked
    uint16_t bound = 0;   // what the target bound
  };
  std::vector<RemoteForward> forwards_;
  bool agent_requested_ = false;
  bool x11_requested_ = false;
  ssh_callbacks_struct up_session_cb_{};
  int Start(Bridge& b, const std::string& request, const std::string& command);

  // Upstream channels.
  static int OnUpData(ssh_session, ssh_channel, void* data, uint32_t len, int is_stderr, void* u);
  static void OnUpEof(ssh_session, ssh_channel, void* u) { static_cast<Bridge*>(u)->up_eof = true; }
  static void OnUpClose(ssh_session, ssh_channel, void* u) {
    static_cast<Bridge*>(u)->up_closed = true;
  }
  static void OnUpExitStatus(ssh_session, ssh_channel, int status, void* u) {
    static_cast<Bridge*>(u)->exit_status = status;
  }
  static void OnUpExitSignal(ssh_session, ssh_channel, const char* sig, int, const char*,
                             const char*, void* u) {
    static_cast<Bridge*>(u)->exit_signal = sig ? sig : "";
  }

  // The loop.
  void Loop();
  void Service(Bridge& b, int64_t now);
  void OpenUpstream(Bridge& b);
  void ApplyRequests(Bridge& b);
  size_t MoveToUp(Bridge& b, const char* data, size_t len);
  size_t MoveToIn(Bridge& b, const char* data, size_t len, bool is_stderr);
  void Record(Bridge& b, bool output, const char* data, size_t len);
  void RecordFailed(Bridge& b, const std::string& error);
  void Finish(Bridge& b, const std::string& reason);
  void EndAll(const std::string& message, const std::string& reason);
  void Audit(const audit::Body& body);
  std::optional<std::string> ForcedCommand() const { return spec_.decision.grants.force_command; }

  Gateway* gw_;
  RecordedSessionSpec spec_;
  int fd_;
  BindPtr bind_;
  SessionPtr inner_;
  SessionPtr up_;
  EventPtr event_;
  ssh_server_callbacks_struct server_cb_{};
  bool authenticated_ = false;
  bool upstream_failed_ = false;
  int auth_failures_ = 0;
  std::string login_;
  std::string upstream_key_id_;
  int64_t started_ms_ = 0;
  int64_t last_activity_ms_ = 0;
  uint32_t next_channel_ = 0;
  bool busy_ = false;  // a blocking upstream call runs: callbacks leave data in libssh
  std::vector<std::unique_ptr<Bridge>> bridges_, incoming_;
  std::string end_reason_;
};

RecordedSession::~RecordedSession() {
  for (auto* list : {&bridges_, &incoming_}) {
    for (auto& b : *list) {
      if (b->in) ssh_channel_free(b->in);
      if (b->up) ssh_channel_free(b->up);
    }
    list->clear();
  }
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
  if (Handshake()) Loop();
  for (auto& b : bridges_) {
    if (!b->done) Finish(*b, end_reason_.empty() ? "session ended" : end_reason_);
  }
  spdlog::info("conn={} recorded session {} ended: {}", spec_.connection_id, spec_.session_id,
               end_reason_);
}

// ------------------------------------------------------------------ set-up

bool RecordedSession::Handshake() {
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
  if (ssh_bind_options_set(bind_.get(), SSH_BIND_OPTIONS_HOSTKEY, cfg.recording_host_key.c_str()) !=
      SSH_OK) {
    close(fd_);
    end_reason_ = "cannot load the interception host key " + cfg.recording_host_key;
    return false;
  }
  ssh_bind_options_set(bind_.get(), SSH_BIND_OPTIONS_PUBKEY_ACCEPTED_KEY_TYPES, kAcceptedKeyTypes);
  // The inner session is a second layer of encryption on the gateway: offer
  // only AES-GCM, which OpenSSH clients (6.2+) all speak and which costs the
  // least CPU per byte with AES-NI. The client's own preference would pick
  // chacha20-poly1305 or aes-ctr with a MAC otherwise.
  ssh_bind_options_set(bind_.get(), SSH_BIND_OPTIONS_CIPHERS_C_S, kInnerCiphers);
  ssh_bind_options_set(bind_.get(), SSH_BIND_OPTIONS_CIPHERS_S_C, kInnerCiphers);
  if (ssh_bind_accept_fd(bind_.get(), inner_.get(), fd_) != SSH_OK) {
    close(fd_);
    end_reason_ = "cannot start the inner SSH session: " + SessionError(inner_.get());
    return false;
  }
  long timeout = std::max<int64_t>(1, cfg.login_grace_time);
  ssh_options_set(inner_.get(), SSH_OPTIONS_TIMEOUT, &timeout);

  ssh_callbacks_init(&server_cb_);
  server_cb_.userdata = this;
  server_cb_.auth_pubkey_function = &RecordedSession::OnAuthPubkey;
  server_cb_.auth_none_function = &RecordedSession::OnAuthNone;
  server_cb_.auth_password_function = &RecordedSession::OnAuthPassword;
  server_cb_.channel_open_request_session_function = &RecordedSession::OnSessionOpen;
  ssh_set_server_callbacks(inner_.get(), &server_cb_);
  ssh_set_auth_methods(inner_.get(), SSH_AUTH_METHOD_PUBLICKEY);
  ssh_set_message_callback(inner_.get(), &RecordedSession::OnMessage, this);

  if (ssh_handle_key_exchange(inner_.get()) != SSH_OK) {
    end_reason_ = "inner key exchange failed: " + SessionError(inner_.get());
    return false;
  }
  event_.reset(ssh_event_new());
  if (!event_ || ssh_event_add_session(event_.get(), inner_.get()) != SSH_OK) {
    end_reason_ = "cannot set up the event loop";
    return false;
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

void RecordedSession::Refuse(const std::string& why) {
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
  e.success = false;
  e.reason = why;
  Audit(e);
  spdlog::info("conn={} recorded session {} refused: {}", spec_.connection_id, spec_.session_id,
               why);
  // A banner is the one place an OpenSSH client shows the reason before
  // "Permission denied".
  std::string text = "hopgate: " + why + "\n";
  ssh_string banner = ssh_string_from_char(text.c_str());
  if (banner) {
    ssh_send_issue_banner(inner_.get(), banner);
    ssh_string_free(banner);
  }
}

int RecordedSession::AuthPubkey(const std::string& user, ssh_key key, char state) {
  if (authenticated_ || upstream_failed_) return SSH_AUTH_DENIED;
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
  audit::SessionOpen e;
  e.session = spec_.session_id;
  e.channel = spec_.outer_channel;
  e.user = spec_.user;
  e.login = login_;
  e.target = spec_.target;
  e.dial = JoinHostPort(spec_.decision.dial_host, spec_.decision.dial_port);
  e.rule = spec_.decision.rule;
  e.route = spec_.decision.route;
  e.key_id = upstream_key_id_;
  e.key_type = spec_.key_type;
  e.fingerprint = spec_.fingerprint;
  e.success = true;
  e.reason = spec_.decision.terminate_reason;
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
  upstream_key_id_ =
      l.identity_text.empty() ? "hopgate:" + spec_.user + ":" + spec_.session_id : "";
  l.key_id = "hopgate:" + spec_.user + ":" + spec_.session_id;
  l.extensions.clear();
  if (g.agent_forwarding) l.extensions.push_back("permit-agent-forwarding");
  if (g.tcp_forwarding != policy::TcpForwarding::kNo)
    l.extensions.push_back("permit-port-forwarding");
  if (g.pty) l.extensions.push_back("permit-pty");
  if (g.x11_forwarding) l.extensions.push_back("permit-X11-forwarding");
  l.force_command = g.force_command;
  l.valid_seconds = g.max_session ? *g.max_session + 60 : 12 * 3600;

  int64_t timeout = gw_->upstream().connect_timeout_ms();
  int fd = -1;
  if (d.route.empty()) {
    DialError derr;
    auto dialed = Dial(d.dial_host, d.dial_port, timeout, &derr);
    if (!dialed) {
      gw_->metrics().UpstreamConnectFailure(DialFailureName(derr.kind));
      *why = derr.message;
      return false;
    }
    gw_->metrics().UpstreamConnect(static_cast<double>(dialed->elapsed_ms) / 1000.0);
    fd = dialed->fd;
  } else {
    RouteRequest req;
    for (const auto& name : d.route) {
      const policy::Host& h = spec_.policy->hosts.at(name);
      req.hops.push_back(
          Hop{h.name, h.address, h.login, h.identity_text, h.host_key_blob, h.known_hosts_path});
    }
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
  auto session = ConnectSsh(fd, l, gw_->upstream().user_ca(), timeout, &reason);
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

// ------------------------------------------------------------------ inner channels

ssh_channel RecordedSession::OnSessionOpen(ssh_session s, void* userdata) {
  auto* self = static_cast<RecordedSession*>(userdata);
  if (!self->authenticated_) return nullptr;
  auto b = std::make_unique<Bridge>();
  b->rs = self;
  b->id = self->next_channel_++;
  b->kind = "session";
  b->opened_ms = self->gw_->NowMs();
  b->in = ssh_channel_new(s);
  if (b->in == nullptr) return nullptr;
  self->SetCallbacks(*b);
  ssh_channel ch = b->in;
  self->incoming_.push_back(std::move(b));
  return ch;
}

int RecordedSession::OnMessage(ssh_session, ssh_message msg, void* userdata) {
  auto* self = static_cast<RecordedSession*>(userdata);
  int type = ssh_message_type(msg);
  int subtype = ssh_message_subtype(msg);
  if (!self->authenticated_) return 1;
  if (type == SSH_REQUEST_GLOBAL && (subtype == SSH_GLOBAL_REQUEST_TCPIP_FORWARD ||
                                     subtype == SSH_GLOBAL_REQUEST_CANCEL_TCPIP_FORWARD)) {
    self->HandleTcpipForward(msg, subtype == SSH_GLOBAL_REQUEST_CANCEL_TCPIP_FORWARD);
    return 0;
  }
  if (type == SSH_REQUEST_CHANNEL_OPEN && subtype == SSH_CHANNEL_DIRECT_TCPIP) {
    self->HandleDirectTcpip(msg);
    return 0;
  }
  audit::SessionRequest e;
  e.session = self->spec_.session_id;
  e.request = type == SSH_REQUEST_GLOBAL ? "global request" : "channel open";
  if (type == SSH_REQUEST_GLOBAL && subtype == SSH_GLOBAL_REQUEST_TCPIP_FORWARD) {
    e.request = "tcpip-forward";
  }
  e.allow = false;
  e.reason = "not supported in recorded sessions";
  self->Audit(e);
  return 1;  // libssh's default refusal
}

void RecordedSession::HandleDirectTcpip(ssh_message msg) {
  const char* dest = ssh_message_channel_request_open_destination(msg);
  int port = ssh_message_channel_request_open_destination_port(msg);
  std::string host = dest ? dest : "";
  audit::SessionRequest e;
  e.session = spec_.session_id;
  e.channel = next_channel_;
  e.request = "direct-tcpip";
  e.command = JoinHostPort(host, static_cast<uint16_t>(port));
  if (host.empty() || port <= 0 || port > 65535) {
    e.reason = "malformed destination";
    Audit(e);
    ssh_message_reply_default(msg);
    return;
  }
  // What the target is asked to open is decided like a direct-tcpip through
  // the gateway, and needs forwarding granted by both the rule and the
  // credential (the minted certificate carries permit-port-forwarding only
  // then).
  policy::Decision d = policy::Decide(*spec_.policy, spec_.identity,
                                      policy::Request::Open(host, static_cast<uint16_t>(port)));
  if (d.allow && spec_.decision.grants.tcp_forwarding == policy::TcpForwarding::kNo) {
    d.allow = false;
    d.reason = "port forwarding is not granted in this recorded session";
  }
  e.allow = d.allow;
  e.reason = d.allow ? "rule " + d.rule : d.reason;
  Audit(e);
  if (!d.allow) {
    ssh_message_reply_default(msg);
    return;
  }
  ssh_channel ch = ssh_message_channel_request_open_reply_accept(msg);
  if (ch == nullptr) return;
  auto b = std::make_unique<Bridge>();
  b->rs = this;
  b->id = next_channel_++;
  b->kind = "direct-tcpip";
  b->opened_ms = gw_->NowMs();
  b->in = ch;
  b->dest_host = d.dial_host;
  b->dest_port = d.dial_port;
  SetCallbacks(*b);
  incoming_.push_back(std::move(b));
}

void RecordedSession::SetCallbacks(Bridge& b) {
  ssh_callbacks_init(&b.in_cb);
  b.in_cb.userdata = &b;
  b.in_cb.channel_data_function = &RecordedSession::OnInData;
  b.in_cb.channel_eof_function = &RecordedSession::OnInEof;
  b.in_cb.channel_close_function = &RecordedSession::OnInClose;
  b.in_cb.channel_pty_request_function = &RecordedSession::OnPty;
  b.in_cb.channel_shell_request_function = &RecordedSession::OnShell;
  b.in_cb.channel_exec_request_function = &RecordedSession::OnExec;
  b.in_cb.channel_subsystem_request_function = &RecordedSession::OnSubsystem;
  b.in_cb.channel_env_request_function = &RecordedSession::OnEnv;
  b.in_cb.channel_pty_window_change_function = &RecordedSession::OnWindowChange;
  b.in_cb.channel_signal_function = &RecordedSession::OnSignal;
  b.in_cb.channel_auth_agent_req_function = &RecordedSession::OnAgentReq;
  b.in_cb.channel_x11_req_function = &RecordedSession::OnX11Req;
  ssh_set_channel_callbacks(b.in, &b.in_cb);
}

int RecordedSession::OnPty(ssh_session, ssh_channel, const char* term, int w, int h, int, int,
                           void* u) {
  auto& b = *static_cast<Bridge*>(u);
  RecordedSession* rs = b.rs;
  audit::SessionRequest e;
  e.session = rs->spec_.session_id;
  e.channel = b.id;
  e.request = "pty-req";
  e.command = term ? term : "";
  e.allow = rs->spec_.decision.grants.pty && !b.started;
  if (!rs->spec_.decision.grants.pty) e.reason = "pty not granted (rule or credential)";
  rs->Audit(e);
  if (!e.allow) return -1;
  b.term = term ? term : "";
  b.width = w > 0 ? w : 80;
  b.height = h > 0 ? h : 24;
  b.reqs.push_back({"pty", b.term, "", b.width, b.height});
  return 0;
}

int RecordedSession::OnEnv(ssh_session, ssh_channel, const char* name, const char* value, void* u) {
  auto& b = *static_cast<Bridge*>(u);
  std::string n = name ? name : "";
  if (!EnvAllowed(n) || b.started) return -1;
  b.reqs.push_back({"env", n, value ? value : ""});
  if (n == "TERM" && b.term.empty()) b.term = value ? value : "";
  return 0;
}

int RecordedSession::OnShell(ssh_session, ssh_channel, void* u) {
  auto& b = *static_cast<Bridge*>(u);
  return b.rs->Start(b, "shell", "");
}

int RecordedSession::OnExec(ssh_session, ssh_channel, const char* command, void* u) {
  auto& b = *static_cast<Bridge*>(u);
  return b.rs->Start(b, "exec", command ? command : "");
}

int RecordedSession::OnSubsystem(ssh_session, ssh_channel, const char* name, void* u) {
  auto& b = *static_cast<Bridge*>(u);
  return b.rs->Start(b, "subsystem", name ? name : "");
}

int RecordedSession::Start(Bridge& b, const std::string& request, const std::string& command) {
  audit::SessionRequest e;
  e.session = spec_.session_id;
  e.channel = b.id;
  e.request = request;
  e.command = command;
  if (b.started) {
    e.reason = "the channel already runs a command";
    Audit(e);
    return -1;
  }
  std::optional<std::string> forced = ForcedCommand();
  Bridge::Req r;
  if (forced) {
    e.forced_command = *forced;
    r = {"exec", *forced, ""};
  } else if (request == "subsystem") {
    r = {"subsystem", command, ""};
    b.sftp_mode = command == "sftp";
  } else {
    r = {request, command, ""};
  }
  e.allow = true;
  Audit(e);
  // Recording: one asciicast per session channel; SFTP is recorded as file
  // operations instead.
  int64_t now = gw_->NowMs();
  if (b.sftp_mode) {
    b.sftp = std::make_unique<audit::SftpObserver>();
  } else {
    std::string path = CastPath(gw_->config().recordings_dir, spec_.session_id, b.id, now);
    auto out = audit::FileCastOutput::Create(path);
    if (!out) {
      audit::RecordingFailed f;
      f.session = spec_.session_id;
      f.channel = b.id;
      f.recording = path;
      f.error = out.message();
      Audit(f);
      spdlog::error("conn={} recording {} cannot be created: {}", spec_.connection_id, path,
                    out.message());
      return -1;  // nothing runs unrecorded
    }
    b.cast_out = std::move(*out);
    audit::CastHeader h;
    h.width = b.width;
    h.height = b.height;
    h.timestamp = now / 1000;
    h.command = forced ? *forced : (request == "exec" ? command : "");
    h.title = spec_.user + " as " + login_ + " on " + spec_.target;
    if (!b.term.empty()) h.env["TERM"] = b.term;
    h.hopgate = {{"user", spec_.user},
                 {"login", login_},
                 {"target", spec_.target},
                 {"client_addr", JoinHostPort(spec_.client_addr, spec_.client_port)},
                 {"session_id", spec_.session_id},
                 {"connection", spec_.connection_id},
                 {"channel", std::to_string(b.id)},
                 {"request", request},
                 {"policy_version", spec_.policy->version},
                 {"rule", spec_.decision.rule}};
    if (!spec_.certificate_key_id.empty()) h.hopgate["key_id"] = spec_.certificate_key_id;
    if (forced) h.hopgate["requested_command"] = command;
    b.cast = std::make_unique<audit::CastWriter>(b.cast_out.get(), std::move(h), now);
    if (Status st = b.cast->Start(); !st) {
      RecordFailed(b, st.message());
      return -1;
    }
  }
  b.started = true;
  b.reqs.push_back(std::move(r));
  return 0;
}

int RecordedSession::OnWindowChange(ssh_session, ssh_channel, int w, int h, int, int, void* u) {
  auto& b = *static_cast<Bridge*>(u);
  b.width = w;
  b.height = h;
  b.reqs.push_back({"resize", "", "", w, h});
  if (b.cast) {
    if (Status st = b.cast->Resize(b.rs->gw_->NowMs(), w, h); !st)
      b.rs->RecordFailed(b, st.message());
  }
  return 0;
}

void RecordedSession::OnSignal(ssh_session, ssh_channel, const char* sig, void* u) {
  auto& b = *static_cast<Bridge*>(u);
  if (sig) b.reqs.push_back({"signal", sig, ""});
}

void RecordedSession::OnAgentReq(ssh_session, ssh_channel, void* u) {
  auto& b = *static_cast<Bridge*>(u);
  RecordedSession* rs = b.rs;
  audit::SessionRequest e;
  e.session = rs->spec_.session_id;
  e.channel = b.id;
  e.request = "auth-agent-req";
  e.allow = rs->spec_.decision.grants.agent_forwarding;
  if (!e.allow) e.reason = "agent forwarding not granted (rule or credential)";
  rs->Audit(e);
  if (!e.allow) return;
  rs->agent_requested_ = true;
  b.reqs.push_back({"agent", "", ""});
}

void RecordedSession::OnX11Req(ssh_session, ssh_channel, int single, const char* protocol,
                               const char* cookie, uint32_t screen, void* u) {
  auto& b = *static_cast<Bridge*>(u);
  RecordedSession* rs = b.rs;
  audit::SessionRequest e;
  e.session = rs->spec_.session_id;
  e.channel = b.id;
  e.request = "x11-req";
  e.allow = rs->spec_.decision.grants.x11_forwarding;
  if (!e.allow) e.reason = "X11 forwarding not granted (rule or credential)";
  rs->Audit(e);
  if (!e.allow) return;
  rs->x11_requested_ = true;
  // The client's (fake) cookie goes to the target unchanged: the client
  // checks it on every X11 channel that comes back.
  Bridge::Req r{"x11", protocol ? protocol : "", cookie ? cookie : ""};
  r.w = single;
  r.h = static_cast<int>(screen);
  b.reqs.push_back(std::move(r));
}

RecordedSession::Bridge* RecordedSession::AddReverse(const std::string& kind, ssh_channel up) {
  auto b = std::make_unique<Bridge>();
  b->rs = this;
  b->id = next_channel_++;
  b->kind = kind;
  b->opened_ms = gw_->NowMs();
  b->up = up;
  Bridge* raw = b.get();
  SetUpCallbacks(*raw);
  incoming_.push_back(std::move(b));
  return raw;
}

ssh_channel RecordedSession::OnUpAgentOpen(ssh_session s, void* userdata) {
  auto* self = static_cast<RecordedSession*>(userdata);
  if (!self->agent_requested_ || !self->spec_.decision.grants.agent_forwarding) return nullptr;
  ssh_channel ch = ssh_channel_new(s);
  if (ch == nullptr) return nullptr;
  self->AddReverse("auth-agent", ch);
  return ch;
}

ssh_channel RecordedSession::OnUpX11Open(ssh_session s, const char* addr, int port,
                                         void* userdata) {
  auto* self = static_cast<RecordedSession*>(userdata);
  if (!self->x11_requested_ || !self->spec_.decision.grants.x11_forwarding) return nullptr;
  ssh_channel ch = ssh_channel_new(s);
  if (ch == nullptr) return nullptr;
  Bridge* b = self->AddReverse("x11", ch);
  b->dest_host = addr ? addr : "127.0.0.1";
  b->dest_port = static_cast<uint16_t>(port);
  return ch;
}

// -R inside the recorded session: the target listens, decided by the
// policy's permit_listen like -R through the gateway.
void RecordedSession::HandleTcpipForward(ssh_message msg, bool cancel) {
  const char* addr = ssh_message_global_request_address(msg);
  int port = ssh_message_global_request_port(msg);
  std::string address = addr ? addr : "";
  audit::SessionRequest e;
  e.session = spec_.session_id;
  e.request = cancel ? "cancel-tcpip-forward" : "tcpip-forward";
  e.command = JoinHostPort(address.empty() ? "*" : address, static_cast<uint16_t>(port));
  if (port < 0 || port > 65535) {
    e.reason = "malformed port";
    Audit(e);
    ssh_message_reply_default(msg);
    return;
  }
  if (cancel) {
    busy_ = true;
    ssh_set_blocking(up_.get(), 1);
    int rc = ssh_channel_cancel_forward(up_.get(), address.c_str(), port);
    ssh_set_blocking(up_.get(), 0);
    busy_ = false;
    forwards_.erase(std::remove_if(forwards_.begin(), forwards_.end(),
                                   [&](const RemoteForward& f) {
                                     return f.address == address && f.port == port;
                                   }),
                    forwards_.end());
    e.allow = rc == SSH_OK;
    Audit(e);
    if (rc == SSH_OK) {
      ssh_message_global_request_reply_success(msg, 0);
    } else {
      ssh_message_reply_default(msg);
    }
    return;
  }
  policy::Decision d = policy::Decide(*spec_.policy, spec_.identity,
                                      policy::Request::Listen(address, static_cast<uint16_t>(port)));
  if (d.allow && !policy::AllowsRemote(spec_.decision.grants.tcp_forwarding)) {
    d.allow = false;
    d.reason = "remote forwarding is not granted in this recorded session";
  }
  e.allow = d.allow;
  e.reason = d.allow ? "rule " + d.rule : d.reason;
  if (!d.allow) {
    Audit(e);
    ssh_message_reply_default(msg);
    return;
  }
  int bound = 0;
  busy_ = true;
  ssh_set_blocking(up_.get(), 1);
  int rc = ssh_channel_listen_forward(up_.get(), address.c_str(), port, &bound);
  ssh_set_blocking(up_.get(), 0);
  busy_ = false;
  if (rc != SSH_OK) {
    e.allow = false;
    e.reason = "the target refused to listen: " + SessionError(up_.get());
    Audit(e);
    ssh_message_reply_default(msg);
    return;
  }
  Audit(e);
  forwards_.push_back({address, static_cast<uint16_t>(port),
                       static_cast<uint16_t>(bound > 0 ? bound : port)});
  ssh_message_global_request_reply_success(msg, static_cast<uint16_t>(bound));
}

// Connections to a -R port arrive as forwarded-tcpip channels from the
// target; libssh 0.10 queues them for ssh_channel_accept_forward.
void RecordedSession::AcceptForwarded() {
  if (forwards_.empty()) return;
  while (true) {
    int dport = 0;
    ssh_channel ch = ssh_channel_accept_forward(up_.get(), 0, &dport);
    if (ch == nullptr) return;
    const RemoteForward* fwd = nullptr;
    for (const auto& f : forwards_) {
      if (f.bound == dport || f.port == dport) fwd = &f;
    }
    if (fwd == nullptr) {
      ssh_channel_close(ch);
      ssh_channel_free(ch);
      continue;
    }
    Bridge* b = AddReverse("forwarded-tcpip", ch);
    b->dest_host = fwd->address;
    b->dest_port = fwd->port != 0 ? fwd->port : fwd->bound;
  }
}

void RecordedSession::OpenInner(Bridge& b) {
  busy_ = true;
  ssh_set_blocking(inner_.get(), 1);
  ssh_channel ch = ssh_channel_new(inner_.get());
  int rc = SSH_ERROR;
  if (ch != nullptr) {
    if (b.kind == "auth-agent") {
      rc = ssh_channel_open_auth_agent(ch);
    } else if (b.kind == "x11") {
      rc = ssh_channel_open_x11(ch, b.dest_host.c_str(), b.dest_port);
    } else {
      rc = ssh_channel_open_reverse_forward(ch, b.dest_host.c_str(), b.dest_port, "127.0.0.1", 0);
    }
  }
  ssh_set_blocking(inner_.get(), 0);
  busy_ = false;
  audit::SessionRequest e;
  e.session = spec_.session_id;
  e.channel = b.id;
  e.request = b.kind;
  e.command = b.kind == "auth-agent" ? "" : JoinHostPort(b.dest_host, b.dest_port);
  e.allow = rc == SSH_OK;
  if (rc != SSH_OK) e.reason = "the client refused the channel: " + SessionError(inner_.get());
  Audit(e);
  if (rc != SSH_OK) {
    if (ch) ssh_channel_free(ch);
    b.up_failed = true;
    Finish(b, e.reason);
    return;
  }
  b.in = ch;
  ssh_callbacks_init(&b.in_cb);
  b.in_cb.userdata = &b;
  b.in_cb.channel_data_function = &RecordedSession::OnInData;
  b.in_cb.channel_eof_function = &RecordedSession::OnInEof;
  b.in_cb.channel_close_function = &RecordedSession::OnInClose;
  ssh_set_channel_callbacks(b.in, &b.in_cb);
  // What the target sent while the client's side was opening.
  b.up_pending = true;
}

// ------------------------------------------------------------------ data

void RecordedSession::Record(Bridge& b, bool output, const char* data, size_t len) {
  if (b.sftp) {
    Status st = output ? b.sftp->FromServer(std::string_view(data, len))
                       : b.sftp->FromClient(std::string_view(data, len));
    for (auto& op : b.sftp->TakeOps()) {
      audit::SftpOperation e;
      e.session = spec_.session_id;
      e.channel = b.id;
      e.op = op.op;
      e.path = op.path;
      e.new_path = op.new_path;
      e.mode = op.mode;
      e.status = op.status;
      e.bytes_read = op.bytes_read;
      e.bytes_written = op.bytes_written;
      Audit(e);
    }
    if (!st && !b.done) {
      b.close_reason = "malformed SFTP stream: " + st.message();
      b.in_closed = true;  // ends the channel, not the gateway
    }
    return;
  }
  if (!b.cast) return;
  int64_t now = gw_->NowMs();
  Status st =
      output ? b.cast->Output(now, std::string_view(data, len))
             : (spec_.decision.grants.record_input ? b.cast->Input(now, std::string_view(data, len))
                                                   : Status::Ok());
  if (!st) RecordFailed(b, st.message());
}

void RecordedSession::RecordFailed(Bridge& b, const std::string& error) {
  if (!end_reason_.empty()) return;
  audit::RecordingFailed f;
  f.session = spec_.session_id;
  f.channel = b.id;
  f.recording = b.cast_out ? b.cast_out->path() : "";
  f.error = error;
  Audit(f);
  spdlog::error("conn={} recording of session {} failed ({}): closing it", spec_.connection_id,
                spec_.session_id, error);
  end_reason_ = "recording failed: " + error;
}

size_t RecordedSession::MoveToUp(Bridge& b, const char* data, size_t len) {
  uint32_t window = ssh_channel_window_size(b.up);
  size_t n = std::min<size_t>(len, window);
  if (n == 0) return 0;
  Record(b, false, data, n);
  int w = ssh_channel_write(b.up, data, static_cast<uint32_t>(n));
  if (w <= 0) return 0;
  b.c2t += static_cast<uint64_t>(w);
  last_activity_ms_ = gw_->NowMs();
  return static_cast<size_t>(w);
}

size_t RecordedSession::MoveToIn(Bridge& b, const char* data, size_t len, bool is_stderr) {
  uint32_t window = ssh_channel_window_size(b.in);
  size_t n = std::min<size_t>(len, window);
  if (n == 0) return 0;
  // Recorded before the client sees it.
  Record(b, true, data, n);
  if (!end_reason_.empty()) return 0;
  int w = is_stderr ? ssh_channel_write_stderr(b.in, data, static_cast<uint32_t>(n))
                    : ssh_channel_write(b.in, data, static_cast<uint32_t>(n));
  if (w <= 0) return 0;
  b.t2c += static_cast<uint64_t>(w);
  last_activity_ms_ = gw_->NowMs();
  return static_cast<size_t>(w);
}

int RecordedSession::OnInData(ssh_session, ssh_channel, void* data, uint32_t len, int, void* u) {
  auto& b = *static_cast<Bridge*>(u);
  RecordedSession* rs = b.rs;
  if (rs->busy_ || !b.Ready() || b.done || !b.reqs.empty()) {
    b.in_pending = true;
    return 0;
  }
  size_t n = rs->MoveToUp(b, static_cast<const char*>(data), len);
  if (n < len) b.in_pending = true;
  return static_cast<int>(n);
}

int RecordedSession::OnUpData(ssh_session, ssh_channel, void* data, uint32_t len, int is_stderr,
                              void* u) {
  auto& b = *static_cast<Bridge*>(u);
  RecordedSession* rs = b.rs;
  if (rs->busy_ || b.done || !b.Ready() || !rs->end_reason_.empty()) {
    (is_stderr ? b.up_err_pending : b.up_pending) = true;
    return 0;
  }
  size_t n = rs->MoveToIn(b, static_cast<const char*>(data), len, is_stderr != 0);
  if (n < len) (is_stderr ? b.up_err_pending : b.up_pending) = true;
  return static_cast<int>(n);
}

// ------------------------------------------------------------------ the loop

void RecordedSession::OpenUpstream(Bridge& b) {
  busy_ = true;
  ssh_set_blocking(up_.get(), 1);
  ssh_channel ch = ssh_channel_new(up_.get());
  int rc = SSH_ERROR;
  if (ch != nullptr) {
    rc = b.kind == "session"
             ? ssh_channel_open_session(ch)
             : ssh_channel_open_forward(ch, b.dest_host.c_str(), b.dest_port, "127.0.0.1", 0);
  }
  ssh_set_blocking(up_.get(), 0);
  busy_ = false;
  if (rc != SSH_OK) {
    std::string why = SessionError(up_.get());
    if (ch) ssh_channel_free(ch);
    b.up_failed = true;
    b.close_reason = "the target refused the channel: " + why;
    if (b.kind == "session") {
      std::string msg =
          "hopgate: " + spec_.target + " refused the session channel: " + why + "\r\n";
      ssh_channel_write_stderr(b.in, msg.data(), static_cast<uint32_t>(msg.size()));
      ssh_channel_request_send_exit_status(b.in, 255);
    }
    ssh_channel_send_eof(b.in);
    ssh_channel_close(b.in);
    b.done = true;
    return;
  }
  b.up = ch;
  SetUpCallbacks(b);
}

void RecordedSession::SetUpCallbacks(Bridge& b) {
  ssh_callbacks_init(&b.up_cb);
  b.up_cb.userdata = &b;
  b.up_cb.channel_data_function = &RecordedSession::OnUpData;
  b.up_cb.channel_eof_function = &RecordedSession::OnUpEof;
  b.up_cb.channel_close_function = &RecordedSession::OnUpClose;
  b.up_cb.channel_exit_status_function = &RecordedSession::OnUpExitStatus;
  b.up_cb.channel_exit_signal_function = &RecordedSession::OnUpExitSignal;
  ssh_set_channel_callbacks(b.up, &b.up_cb);
}

void RecordedSession::ApplyRequests(Bridge& b) {
  while (!b.reqs.empty() && !b.done) {
    Bridge::Req r = std::move(b.reqs.front());
    b.reqs.pop_front();
    int rc = SSH_OK;
    busy_ = true;
    if (r.type == "resize") {
      rc = ssh_channel_change_pty_size(b.up, r.w, r.h);  // no reply awaited
    } else if (r.type == "signal") {
      rc = ssh_channel_request_send_signal(b.up, r.a.c_str());
    } else {
      ssh_set_blocking(up_.get(), 1);
      if (r.type == "pty") {
        rc = ssh_channel_request_pty_size(b.up, r.a.empty() ? "xterm" : r.a.c_str(), r.w, r.h);
      } else if (r.type == "env") {
        (void)ssh_channel_request_env(b.up, r.a.c_str(), r.b.c_str());  // the target may refuse
      } else if (r.type == "shell") {
        rc = ssh_channel_request_shell(b.up);
      } else if (r.type == "exec") {
        rc = ssh_channel_request_exec(b.up, r.a.c_str());
      } else if (r.type == "subsystem") {
        rc = ssh_channel_request_subsystem(b.up, r.a.c_str());
      } else if (r.type == "agent") {
        (void)ssh_channel_request_auth_agent(b.up);  // no reply is awaited
      } else if (r.type == "x11") {
        if (ssh_channel_request_x11(b.up, r.w, r.a.c_str(), r.b.c_str(), r.h) != SSH_OK) {
          spdlog::info("conn={} session {}: the target refused X11 forwarding",
                       spec_.connection_id, spec_.session_id);
        }
      }
      ssh_set_blocking(up_.get(), 0);
    }
    busy_ = false;
    if (rc != SSH_OK && r.type != "resize" && r.type != "signal") {
      std::string msg = "hopgate: " + spec_.target + " refused " + r.type + ": " +
                        SessionError(up_.get()) + "\r\n";
      ssh_channel_write_stderr(b.in, msg.data(), static_cast<uint32_t>(msg.size()));
      ssh_channel_request_send_exit_status(b.in, 255);
      Finish(b, "the target refused " + r.type);
      return;
    }
  }
}

void RecordedSession::Service(Bridge& b, int64_t now) {
  if (b.done) return;
  if (!b.up && !b.up_failed) OpenUpstream(b);
  if (!b.in && !b.up_failed && !b.done) OpenInner(b);
  if (b.done) return;
  if (b.in_closed && !b.up_closed) {
    Finish(b, b.close_reason.empty() ? "client closed the channel" : b.close_reason);
    return;
  }
  ApplyRequests(b);
  if (b.done || !b.Ready()) return;
  char buf[kChunk];
  // Client -> target: what libssh still holds.
  while (b.in_pending && end_reason_.empty()) {
    uint32_t window = ssh_channel_window_size(b.up);
    if (window == 0) break;
    int n = ssh_channel_read_nonblocking(b.in, buf, std::min<uint32_t>(window, kChunk), 0);
    if (n <= 0) {
      b.in_pending = false;
      break;
    }
    size_t moved = MoveToUp(b, buf, static_cast<size_t>(n));
    if (moved < static_cast<size_t>(n)) {
      // Cannot happen: we read no more than the window. Keep it loud.
      b.close_reason = "internal error: relay lost data";
      Finish(b, b.close_reason);
      return;
    }
  }
  // Target -> client, stdout then stderr.
  for (int err = 0; err <= 1; ++err) {
    bool& pending = err ? b.up_err_pending : b.up_pending;
    while (pending && end_reason_.empty()) {
      uint32_t window = ssh_channel_window_size(b.in);
      if (window == 0) break;
      int n = ssh_channel_read_nonblocking(b.up, buf, std::min<uint32_t>(window, kChunk), err);
      if (n <= 0) {
        pending = false;
        break;
      }
      size_t moved = MoveToIn(b, buf, static_cast<size_t>(n), err != 0);
      if (moved < static_cast<size_t>(n)) {
        Finish(b, "internal error: relay lost data");
        return;
      }
    }
  }
  if (b.in_eof && !b.in_pending && !b.eof_to_up) {
    ssh_channel_send_eof(b.up);
    b.eof_to_up = true;
  }
  bool up_drained = !b.up_pending && !b.up_err_pending;
  if (b.up_eof && up_drained && !b.eof_to_in) {
    ssh_channel_send_eof(b.in);
    b.eof_to_in = true;
  }
  if (b.up_closed && up_drained) {
    if (b.exit_status) ssh_channel_request_send_exit_status(b.in, *b.exit_status);
    if (!b.exit_signal.empty()) {
      ssh_channel_request_send_exit_signal(b.in, b.exit_signal.c_str(), 0, "", "");
    }
    Finish(b, "closed by the target");
  }
  (void)now;
}

void RecordedSession::Finish(Bridge& b, const std::string& reason) {
  if (b.done && b.close_reason == "finished") return;
  int64_t now = gw_->NowMs();
  audit::SessionClose c;
  c.session = spec_.session_id;
  c.channel = b.id;
  c.kind = b.kind;
  if (b.cast) {
    Status st = b.cast->Close(now);
    if (!st) RecordFailed(b, st.message());
  }
  if (b.cast_out) {
    c.recording = b.cast_out->path();
    c.recording_sha256 = b.cast_out->Sha256Hex();
    c.recording_size = b.cast_out->size();
    (void)b.cast_out->Close();
  }
  if (b.sftp) {
    for (auto& op : b.sftp->TakeOps()) {
      audit::SftpOperation e;
      e.session = spec_.session_id;
      e.channel = b.id;
      e.op = op.op;
      e.path = op.path;
      e.new_path = op.new_path;
      e.mode = op.mode;
      e.status = op.status;
      e.bytes_read = op.bytes_read;
      e.bytes_written = op.bytes_written;
      Audit(e);
    }
  }
  c.exit_status = b.exit_status;
  c.exit_signal = b.exit_signal;
  c.bytes_client_to_target = b.c2t;
  c.bytes_target_to_client = b.t2c;
  c.duration_ms = now - b.opened_ms;
  c.reason = reason;
  Audit(c);
  if (b.up) {
    ssh_remove_channel_callbacks(b.up, &b.up_cb);
    ssh_channel_close(b.up);
  }
  if (b.in) {
    ssh_remove_channel_callbacks(b.in, &b.in_cb);
    if (!b.eof_to_in) ssh_channel_send_eof(b.in);
    ssh_channel_close(b.in);
  }
  b.done = true;
  b.close_reason = "finished";
}

void RecordedSession::EndAll(const std::string& message, const std::string& reason) {
  for (auto& b : bridges_) {
    if (b->done) continue;
    if (b->kind == "session" && b->in) {
      ssh_channel_write_stderr(b->in, message.data(), static_cast<uint32_t>(message.size()));
      ssh_channel_request_send_exit_status(b->in, 255);
    }
    Finish(*b, reason);
  }
}

void RecordedSession::Loop() {
  const auto& g = spec_.decision.grants;
  while (true) {
    int64_t now = gw_->NowMs();
    for (auto& b : incoming_) bridges_.push_back(std::move(b));
    incoming_.clear();
    if (gw_->stopping() && end_reason_.empty()) end_reason_ = "gateway shutting down";
    if (end_reason_.empty() && g.max_session && now >= started_ms_ + *g.max_session * 1000) {
      end_reason_ = "max_session";
      audit::SessionLimit e;
      e.user = spec_.user;
      e.limit = "max_session";
      e.seconds = *g.max_session;
      e.rule = spec_.decision.rule;
      Audit(e);
      EndAll("\r\nhopgate: session time limit reached (max_session " +
                 std::to_string(*g.max_session) + "s, rule " + spec_.decision.rule + ")\r\n",
             "max_session");
    }
    if (end_reason_.empty() && g.idle_timeout &&
        now >= last_activity_ms_ + *g.idle_timeout * 1000) {
      end_reason_ = "idle_timeout";
      audit::SessionLimit e;
      e.user = spec_.user;
      e.limit = "idle_timeout";
      e.seconds = *g.idle_timeout;
      e.rule = spec_.decision.rule;
      Audit(e);
      EndAll("\r\nhopgate: idle timeout (" + std::to_string(*g.idle_timeout) + "s, rule " +
                 spec_.decision.rule + ")\r\n",
             "idle_timeout");
    }
    if (!end_reason_.empty()) {
      std::string msg = end_reason_.rfind("recording failed", 0) == 0
                            ? std::string(kRecordingFailed)
                            : "\r\nhopgate: session closed (" + end_reason_ + ")\r\n";
      EndAll(msg, end_reason_);
      break;
    }
    AcceptForwarded();
    for (auto& b : incoming_) bridges_.push_back(std::move(b));
    incoming_.clear();
    for (auto& b : bridges_) Service(*b, now);
    // Recordings reach the disk at least every 100 ms.
    bool buffered = false;
    for (auto& b : bridges_) {
      if (b->cast && !b->done) {
        if (Status st = b->cast->Flush(); !st) RecordFailed(*b, st.message());
        buffered |= b->cast->bytes_buffered() > 0;
      }
    }
    if (!end_reason_.empty()) continue;
    for (size_t i = 0; i < bridges_.size();) {
      if (bridges_[i]->done) {
        // libssh frees a closed channel once the peer's CLOSE arrived; freeing
        // here is the documented way to let go of it.
        if (bridges_[i]->in) ssh_channel_free(bridges_[i]->in);
        if (bridges_[i]->up) ssh_channel_free(bridges_[i]->up);
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
                 (b->in_pending && b->Ready() && ssh_channel_window_size(b->up) > 0);
    }
    if (buffered) next = std::min(next, now + kFlushMs);
    if (pending || !incoming_.empty()) next = std::min(next, now + 5);
    ssh_event_dopoll(event_.get(), static_cast<int>(std::max<int64_t>(0, next - now) + 1));
    ssh_session in = inner_.get();
    if ((ssh_get_status(in) & (SSH_CLOSED | SSH_CLOSED_ERROR)) || !ssh_is_connected(in)) {
      end_reason_ = "client disconnected";
    } else if ((ssh_get_status(up_.get()) & (SSH_CLOSED | SSH_CLOSED_ERROR)) ||
               !ssh_is_connected(up_.get())) {
      end_reason_ = "the target closed the connection";
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
  gw->TaskStarted();
  std::thread([gw, spec = std::move(spec), fd]() mutable {
    {
      RecordedSession rs(gw, std::move(spec), fd);
      rs.Run();
    }
    gw->TaskEnded();
  }).detach();
}

}  // namespace hopgate::proxy
