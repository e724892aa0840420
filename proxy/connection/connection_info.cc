// The gateway's own information session: a session channel that prints
// where the user may go and exits 0. No shell or command runs on the gateway.
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "proxy/connection/connection.h"
#include "proxy/connection/connection_parts.h"

namespace hopgate::proxy {

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
  is->channel.reset(ssh_channel_new(s));
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
  ssh_set_channel_callbacks(is->channel.get(), &is->cb);
  audit::ChannelOpen e;
  e.channel = is->id;
  e.kind = "session";
  e.allow = true;
  e.reason = "gateway information session (no shell)";
  e.policy_version = self->gw_->policy().Get()->version;
  (void)self->AuditChannelOpen(e);
  self->gw_->metrics().ChannelsActive("session", 1);
  ssh_channel ch = is->channel.get();
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
      ssh_channel_write(is.channel.get(), text.data(), static_cast<uint32_t>(text.size()));
      ssh_channel_request_send_exit_status(is.channel.get(), 0);
      ssh_channel_send_eof(is.channel.get());
      ssh_channel_close(is.channel.get());
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
