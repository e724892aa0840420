// Recorded sessions, the channels the target opens back towards the client:
// auth-agent and X11 (after the client asked for them) and forwarded-tcpip
// for -R, which the target listens for inside the session. Each becomes a
// bridge whose client side is opened at the top of the loop (OpenInner).
#include <algorithm>
#include <memory>
#include <string>

#include "common/net.h"
#include "proxy/recorded/recorded_session_impl.h"

namespace hopgate::proxy {

RecordedSession::Bridge* RecordedSession::AddReverse(const std::string& kind, ChannelPtr up) {
  auto b = std::make_unique<Bridge>();
  b->rs = this;
  b->id = next_channel_++;
  b->kind = kind;
  b->opened_ms = gw_->NowMs();
  b->up = std::move(up);
  Bridge* raw = b.get();
  SetUpCallbacks(*raw);
  incoming_.push_back(std::move(b));
  return raw;
}

ssh_channel RecordedSession::OnUpAgentOpen(ssh_session s, void* userdata) {
  auto* self = static_cast<RecordedSession*>(userdata);
  if (!self->agent_requested_ || !self->Live().grants.agent_forwarding) return nullptr;
  ChannelPtr ch(ssh_channel_new(s));
  if (ch == nullptr) return nullptr;
  ssh_channel raw = ch.get();
  self->AddReverse("auth-agent", std::move(ch));
  return raw;
}

ssh_channel RecordedSession::OnUpX11Open(ssh_session s, const char* addr, int port,
                                         void* userdata) {
  auto* self = static_cast<RecordedSession*>(userdata);
  if (!self->x11_requested_ || !self->Live().grants.x11_forwarding) return nullptr;
  ChannelPtr ch(ssh_channel_new(s));
  if (ch == nullptr) return nullptr;
  ssh_channel raw = ch.get();
  Bridge* b = self->AddReverse("x11", std::move(ch));
  b->dest_host = addr ? addr : "127.0.0.1";
  b->dest_port = static_cast<uint16_t>(port);
  return raw;
}

// -R inside the recorded session: the target listens, decided by the
// policy's permit_listen like -R through the gateway.
void RecordedSession::HandleTcpipForward(ssh_message msg, bool cancel) {
  const char* addr = ssh_message_global_request_address(msg);
  int port = ssh_message_global_request_port(msg);
  std::string address = addr ? addr : "";
  audit::SessionRequest e = RequestEvent(0, cancel ? "cancel-tcpip-forward" : "tcpip-forward");
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
  if (std::string why = LiveRefusal(); !why.empty()) {
    e.reason = why;
    Audit(e);
    ssh_message_reply_default(msg);
    return;
  }
  policy::Decision d = policy::Decide(*gw_->policy().Get(), spec_.identity,
                                      policy::Request::Listen(address, static_cast<uint16_t>(port)));
  e.rule = d.rule;
  if (d.allow && !policy::AllowsRemote(Live().grants.tcp_forwarding)) {
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
  up_alive_.Settle();  // libssh holds one global request at a time
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
  forwards_.push_back(
      {address, static_cast<uint16_t>(port), static_cast<uint16_t>(bound > 0 ? bound : port)});
  ssh_message_global_request_reply_success(msg, static_cast<uint16_t>(bound));
}

// Connections to a -R port arrive as forwarded-tcpip channels from the
// target; libssh 0.10 queues them for ssh_channel_open_forward_port.
void RecordedSession::AcceptForwarded() {
  if (forwards_.empty()) return;
  while (true) {
    int dport = 0, oport = 0;
    char* origin_text = nullptr;
    ChannelPtr ch(ssh_channel_open_forward_port(up_.get(), 0, &dport, &origin_text, &oport));
    SshCharPtr origin(origin_text);
    if (ch == nullptr) return;
    std::string originator = origin ? origin.get() : "127.0.0.1";
    const RemoteForward* fwd = nullptr;
    for (const auto& f : forwards_) {
      if (f.bound == dport || f.port == dport) fwd = &f;
    }
    if (fwd == nullptr) {
      ssh_channel_close(ch.get());
      continue;  // `ch` frees the channel
    }
    Bridge* b = AddReverse("forwarded-tcpip", std::move(ch));
    b->dest_host = fwd->address;
    b->dest_port = fwd->port != 0 ? fwd->port : fwd->bound;
    b->origin_host = originator;
    b->origin_port = static_cast<uint16_t>(oport);
  }
}

void RecordedSession::OpenInner(Bridge& b) {
  busy_ = true;
  ssh_set_blocking(inner_.get(), 1);
  ChannelPtr ch(ssh_channel_new(inner_.get()));
  int rc = SSH_ERROR;
  if (ch != nullptr) {
    if (b.kind == "auth-agent") {
      rc = ssh_channel_open_auth_agent(ch.get());
    } else if (b.kind == "x11") {
      rc = ssh_channel_open_x11(ch.get(), b.dest_host.c_str(), b.dest_port);
    } else {
      rc = ssh_channel_open_reverse_forward(ch.get(), b.dest_host.c_str(), b.dest_port,
                                            b.origin_host.c_str(), b.origin_port);
    }
  }
  ssh_set_blocking(inner_.get(), 0);
  busy_ = false;
  audit::SessionRequest e = RequestEvent(b.id, b.kind);
  e.command = b.kind == "auth-agent" ? "" : JoinHostPort(b.dest_host, b.dest_port);
  e.allow = rc == SSH_OK;
  if (rc != SSH_OK) e.reason = "the client refused the channel: " + SessionError(inner_.get());
  Audit(e);
  if (rc != SSH_OK) {
    ch.reset();  // freed here, before the bridge is finished
    b.up_failed = true;
    Finish(b, e.reason);
    return;
  }
  b.in = std::move(ch);
  SetCallbacks(b);
  // What the target sent while the client's side was opening.
  b.up_pending = true;
}
}  // namespace hopgate::proxy
