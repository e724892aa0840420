// A live connection ended from the fleet: a fleet-wide lock covering its
// user (hopctl lock), or an administrator's hopctl terminate. Both are
// noticed through RequestRevocationCheck() and run on the worker.
#include <string>

#include "proxy/base/logging.h"
#include "proxy/connection/connection.h"
#include "proxy/connection/connection_parts.h"

namespace hopgate::proxy {

bool Connection::CheckFleetLock() {
  auto lock = gw_->UserLocked(user_);
  if (!lock) return false;
  audit::LockApplied e;
  e.user = user_;
  e.lock_id = lock->id;
  e.reason = lock->reason;
  (void)gw_->audit().Record(id_, e);
  spdlog::warn("conn={} user={} locked by the fleet (lock {}): closing the connection", id_, user_,
               lock->id);
  std::string text = "\r\nhopgate: user " + user_ + " locked (" +
                     (lock->reason.empty() ? "lock " + std::to_string(lock->id) : lock->reason) +
                     "); closing the connection\r\n";
  for (auto& is : info_sessions_) {
    if (is->channel != nullptr && !is->closed) {
      ssh_channel_write_stderr(is->channel.get(), text.data(), static_cast<uint32_t>(text.size()));
    }
  }
  end_reason_ = "locked by the fleet (lock " + std::to_string(lock->id) + ")";
  return true;
}

bool Connection::CheckTermination() {
  auto t = gw_->TakeTermination(id_);
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
  // The reason the client prints ("Received disconnect from ...: <notice>"),
  // also for ssh -J, whose terminal the gateway cannot write to.
  ssh_session_set_disconnect_message(session_.get(), notice.c_str());
  end_reason_ = "terminated by an administrator: " + t->reason;
  return true;
}

}  // namespace hopgate::proxy
