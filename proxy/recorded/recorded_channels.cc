// Recorded sessions, channel side: the client's channels and requests, each
// decided under the live policy. The channels the target opens back are in
// recorded_reverse.cc, the data pumps with recording in recorded_relay.cc,
// the loop and set-up in recorded_session.cc.
#include <fcntl.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <ctime>

#include "common/encoding.h"
#include "common/net.h"
#include "common/strings.h"
#include "common/host.h"
#include "proxy/net/decide_open.h"
#include "proxy/net/dialer.h"
#include "proxy/recorded/recorded_session_impl.h"
#include "proxy/upstream/upstream.h"

namespace hopgate::proxy {
namespace {

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

// ------------------------------------------------------------------ inner channels

ssh_channel RecordedSession::OnSessionOpen(ssh_session s, void* userdata) {
  auto* self = static_cast<RecordedSession*>(userdata);
  if (!self->authenticated_) return nullptr;
  std::string refusal = self->LiveRefusal();
  if (refusal.empty() && !self->ChannelSlotFree()) {
    refusal = "too many open channels (limits.max_channels_per_connection " +
              std::to_string(self->gw_->config().max_channels_per_connection) + ")";
  }
  if (!refusal.empty()) {
    audit::SessionRequest e = self->RequestEvent(self->next_channel_, "session");
    e.reason = refusal;
    self->Audit(e);
    return nullptr;
  }
  auto b = std::make_unique<Bridge>();
  b->rs = self;
  b->id = self->next_channel_++;
  b->kind = "session";
  b->opened_ms = self->gw_->NowMs();
  b->in.reset(ssh_channel_new(s));
  if (b->in == nullptr) return nullptr;
  self->SetCallbacks(*b);
  ssh_channel ch = b->in.get();
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
  audit::SessionRequest e =
      self->RequestEvent(0, type == SSH_REQUEST_GLOBAL ? "global request" : "channel open");
  e.allow = false;
  e.reason = "not supported in recorded sessions";
  self->Audit(e);
  return 1;  // libssh's default refusal
}

const policy::Decision& RecordedSession::Live() {
  auto p = gw_->policy().Get();
  if (!live_policy_) {
    live_policy_ = spec_.policy;
    live_ = spec_.decision;
  }
  if (p != live_policy_) {
    live_policy_ = p;
    live_ = policy::Decide(*p, spec_.identity,
                           policy::Request::Open(spec_.request_host, spec_.request_port, spec_.dns,
                                                 gw_->policy().GetNames()));
    spdlog::info("conn={} recorded session {}: policy {} {} it{}", spec_.connection_id,
                 spec_.session_id, p->version, live_.allow ? "allows" : "no longer allows",
                 live_.allow ? " (rule " + live_.rule + ")" : ": " + live_.reason);
  }
  return live_;
}

std::string RecordedSession::LiveRefusal() {
  const policy::Decision& d = Live();
  if (d.allow) return "";
  return "the policy in force (" + d.policy_version + ") no longer allows this session: " +
         d.reason;
}

bool RecordedSession::ChannelSlotFree() const {
  size_t open = 0;
  for (const auto* list : {&bridges_, &incoming_}) {
    for (const auto& b : *list) open += b->done ? 0 : 1;
  }
  return static_cast<int64_t>(open) < gw_->config().max_channels_per_connection;
}

std::optional<std::string> RecordedSession::DecideNested(const std::string& host, uint16_t port,
                                                         std::string* open_host,
                                                         audit::SessionRequest* e,
                                                         std::string* note) {
  auto canonical = CanonicalHost::Parse(host);
  if (!canonical) return "malformed destination: " + canonical.message();
  auto policy = gw_->policy().Get();
  int64_t timeout = gw_->config().connect_timeout * 1000;
  DecidedOpen o = DecideOpen(gw_->resolver(), timeout, *policy, gw_->policy().GetNames(),
                             spec_.identity, host, port);
  // The target's loopback is the target itself: decide it as the target's
  // own address (its hosts: name when it has one), and let the target dial
  // the loopback address it was asked for.
  std::optional<IpAddress> loopback;
  if (canonical->is_address() && canonical->address.IsLoopback()) loopback = canonical->address;
  if (!o.addresses.empty() &&
      std::all_of(o.addresses.begin(), o.addresses.end(),
                  [](const IpAddress& a) { return a.IsLoopback(); })) {
    loopback = o.addresses[0];
  }
  if (loopback) {
    const policy::Decision& s = spec_.decision;
    std::string self = !s.host_entry.empty()      ? s.host_entry
                       : !s.dial_addresses.empty() ? s.dial_addresses[0].ToString()
                                                   : s.dial_host;
    o = DecideOpen(gw_->resolver(), timeout, *policy, gw_->policy().GetNames(), spec_.identity,
                   self, port);
    *note = " (" + loopback->ToString() + " is " + spec_.target + " itself: decided as " +
            JoinHostPort(self, port) + ")";
  }
  const policy::Decision& d = o.decision;
  e->rule = d.rule;
  if (!d.allow) return d.reason + *note;
  if (d.terminate) {
    return "a hop through a recorded session to a recorded endpoint is refused (" +
           d.terminate_reason + "): connect to it through the gateway, where it is recorded";
  }
  if (o.Unreachable()) return "cannot resolve " + o.looked_up + " at the gateway: " + o.resolve_error;
  if (loopback) {
    *open_host = loopback->ToString();
  } else if (!d.dial_addresses.empty()) {
    *open_host = d.dial_addresses[0].ToString();
  } else if (auto ip = IpAddress::Parse(d.dial_host)) {
    *open_host = ip->ToString();
  } else {
    return "destination " + d.dial_host + " is reached through jump hosts, not from " +
           spec_.target;
  }
  return std::nullopt;
}

void RecordedSession::HandleDirectTcpip(ssh_message msg) {
  const char* dest = ssh_message_channel_request_open_destination(msg);
  int port = ssh_message_channel_request_open_destination_port(msg);
  std::string host = dest ? dest : "";
  audit::SessionRequest e = RequestEvent(next_channel_, "direct-tcpip");
  e.command = JoinHostPort(host, static_cast<uint16_t>(port));
  auto refuse = [&](const std::string& why) {
    e.allow = false;
    e.reason = why;
    Audit(e);
    spdlog::info("conn={} recorded session {}: direct-tcpip to {} refused: {}",
                 spec_.connection_id, spec_.session_id, e.command, why);
    ssh_message_reply_default(msg);
  };
  if (std::string why = LiveRefusal(); !why.empty()) return refuse(why);
  if (!ChannelSlotFree()) {
    return refuse("too many open channels (limits.max_channels_per_connection " +
                  std::to_string(gw_->config().max_channels_per_connection) + ")");
  }
  if (host.empty() || port <= 0 || port > 65535) return refuse("malformed destination");
  // Forwarding needs the session's own grant (the minted certificate carries
  // permit-port-forwarding only then) and a decision of its own.
  if (Live().grants.tcp_forwarding == policy::TcpForwarding::kNo) {
    return refuse("port forwarding is not granted in this recorded session");
  }
  std::string open_host, note;
  if (auto why = DecideNested(host, static_cast<uint16_t>(port), &open_host, &e, &note)) {
    return refuse(*why);
  }
  e.allow = true;
  e.reason = "rule " + e.rule + note;
  Audit(e);
  ssh_channel ch = ssh_message_channel_request_open_reply_accept(msg);
  if (ch == nullptr) return;
  auto b = std::make_unique<Bridge>();
  b->rs = this;
  b->id = next_channel_++;
  b->kind = "direct-tcpip";
  b->opened_ms = gw_->NowMs();
  b->in.reset(ch);
  b->dest_host = open_host;
  b->dest_port = static_cast<uint16_t>(port);
  SetCallbacks(*b);
  incoming_.push_back(std::move(b));
}

bool RecordedSession::SniffSsh(Bridge& b, std::string* seen, const char* data, size_t len) {
  if (b.kind != "direct-tcpip" || seen->size() >= 4) return false;
  seen->append(data, std::min(len, 4 - seen->size()));
  if (seen->size() < 4 || *seen != "SSH-") return false;
  audit::SessionRequest e = RequestEvent(b.id, "direct-tcpip");
  e.command = JoinHostPort(b.dest_host, b.dest_port);
  e.allow = false;
  e.reason = "the channel carries SSH: a hop through a recorded session is refused";
  e.policy_version = Live().policy_version;
  Audit(e);
  spdlog::warn("conn={} recorded session {}: closing direct-tcpip to {}: {}", spec_.connection_id,
               spec_.session_id, e.command, e.reason);
  b.close_reason = e.reason;
  Finish(b, e.reason);
  return true;
}

void RecordedSession::SetCallbacks(Bridge& b) {
  ssh_callbacks_init(&b.in_cb);
  b.in_cb.userdata = &b;
  b.in_cb.channel_data_function = &RecordedSession::OnInData;
  b.in_cb.channel_eof_function = &RecordedSession::OnInEof;
  b.in_cb.channel_close_function = &RecordedSession::OnInClose;
  if (b.kind != "session") {
    // Data only: session requests on other channels are refused by libssh.
    ssh_set_channel_callbacks(b.in.get(), &b.in_cb);
    return;
  }
  b.in_cb.channel_pty_request_function = &RecordedSession::OnPty;
  b.in_cb.channel_shell_request_function = &RecordedSession::OnShell;
  b.in_cb.channel_exec_request_function = &RecordedSession::OnExec;
  b.in_cb.channel_subsystem_request_function = &RecordedSession::OnSubsystem;
  b.in_cb.channel_env_request_function = &RecordedSession::OnEnv;
  b.in_cb.channel_pty_window_change_function = &RecordedSession::OnWindowChange;
  b.in_cb.channel_signal_function = &RecordedSession::OnSignal;
  b.in_cb.channel_auth_agent_req_function = &RecordedSession::OnAgentReq;
  b.in_cb.channel_x11_req_function = &RecordedSession::OnX11Req;
  ssh_set_channel_callbacks(b.in.get(), &b.in_cb);
}

int RecordedSession::OnPty(ssh_session, ssh_channel, const char* term, int w, int h, int, int,
                           void* u) {
  auto& b = *static_cast<Bridge*>(u);
  RecordedSession* rs = b.rs;
  audit::SessionRequest e = rs->RequestEvent(b.id, "pty-req");
  e.command = term ? term : "";
  e.allow = rs->Live().grants.pty && !b.started;
  if (!rs->Live().grants.pty) e.reason = "pty not granted (rule or credential)";
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
  audit::SessionRequest e = RequestEvent(b.id, request);
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
    std::string path =
        CastPath(gw_->config().recordings_dir, spec_.session_id, b.id, gw_->WallMs());
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
    audit::FileCastOutput* cast = b.cast_out.get();
    audit::RecordingProgress progress;
    progress.session = spec_.session_id;
    progress.channel = b.id;
    progress.path = path;
    b.listed = OpenRecording(gw_, gw_->AddRecording([cast, progress]() mutable {
      cast->Progress(&progress.bytes, &progress.sha256);
      return progress;
    }));
    audit::CastHeader h;
    h.width = b.width;
    h.height = b.height;
    h.timestamp = gw_->WallMs() / 1000;
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
                 {"policy_version", Live().policy_version},
                 {"rule", Live().rule}};
    if (!spec_.certificate_key_id.empty()) h.hopgate["key_id"] = spec_.certificate_key_id;
    if (forced) h.hopgate["requested_command"] = command;
    b.cast = std::make_unique<audit::CastWriter>(
        b.cast_out.get(), std::move(h), now,
        static_cast<size_t>(gw_->config().recording_max_unflushed));
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
  audit::SessionRequest e = rs->RequestEvent(b.id, "auth-agent-req");
  e.allow = rs->Live().grants.agent_forwarding;
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
  audit::SessionRequest e = rs->RequestEvent(b.id, "x11-req");
  e.allow = rs->Live().grants.x11_forwarding;
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

// ------------------------------------------------------------------ audit

audit::SessionRequest RecordedSession::RequestEvent(uint32_t channel,
                                                    const std::string& request) const {
  // The version of the policy the request is decided under (Live()).
  audit::SessionRequest e;
  e.session = spec_.session_id;
  e.channel = channel;
  e.request = request;
  e.policy_version = gw_->policy().Get()->version;
  return e;
}

}  // namespace hopgate::proxy
