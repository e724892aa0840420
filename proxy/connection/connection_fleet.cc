// A live connection ended by an administrator's hopctl terminate (locks:
// connection_locks.cc), noticed through RequestRevocationCheck() and run on
// the worker.
#include <string>

#include "proxy/base/logging.h"
#include "proxy/connection/connection.h"
#include "proxy/connection/connection_parts.h"

namespace hopgate::proxy {
namespace {

// How long recorded sessions get to end themselves after hopctl terminate,
// and the moment left to the client after the last one ended.
constexpr int64_t kTerminateGraceMs = 1'500;
constexpr int64_t kTerminateSettleMs = 300;

}  // namespace

bool Connection::CheckTermination() {
  if (terminate_deadline_ms_ != 0) return true;  // under way
  auto t = gw_->PeekTermination(id_);
  if (!t) return false;
  audit::SessionTerminated e;
  e.user = user_;
  e.reason = t->reason;
  e.requested_by = t->requested_by;
  e.request_id = t->request_id;
  e.node = gw_->config().fleet_node;
  (void)gw_->audit().Record(id_, e);
  spdlog::warn("conn={} user={} terminated by an administrator ({}, request {}): {}", id_, user_,
               t->requested_by, t->request_id, t->reason);
  std::string notice = "hopgate: session terminated by an administrator: " + t->reason;
  std::string text = "\r\n" + notice + "\r\n";
  for (auto& is : info_sessions_) {
    if (is->channel != nullptr && !is->closed) {
      ssh_channel_write_stderr(is->channel.get(), text.data(), static_cast<uint32_t>(text.size()));
    }
  }
  // The reason an OpenSSH client prints ("Received disconnect from ...:
  // <notice>") when it reads the disconnect before its channels' close.
  ssh_session_set_disconnect_message(session_.get(), notice.c_str());
  terminate_reason_ = "terminated by an administrator: " + t->reason;
  terminate_deadline_ms_ = gw_->NowMs() + kTerminateGraceMs;
  FinishTermination(gw_->NowMs());
  return true;
}

void Connection::FinishTermination(int64_t now) {
  if (terminate_deadline_ms_ == 0 || !end_reason_.empty()) return;
  // Recorded sessions end themselves first, with the notice on the user's
  // terminal; a moment for the client to show it before the disconnect.
  bool settling = recorded_ended_ms_ != 0 && now < recorded_ended_ms_ + kTerminateSettleMs;
  if ((!HasRecordedChannels() && !settling) || now >= terminate_deadline_ms_) {
    end_reason_ = terminate_reason_;
    gw_->ForgetTermination(id_);
  }
}

}  // namespace hopgate::proxy
