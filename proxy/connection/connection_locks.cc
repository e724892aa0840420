// Locks (hopctl lock) on a connection: what a lock can name about a login,
// and closing a live connection a new lock covers.
#include <string>

#include "common/strings.h"
#include "proxy/base/logging.h"
#include "proxy/connection/connection.h"
#include "proxy/connection/connection_parts.h"

namespace hopgate::proxy {

audit::fleet::LockSubject Connection::LockSubjectOf(const AuthAttempt& a) const {
  audit::fleet::LockSubject s;
  s.user = a.user;
  s.key_fingerprint = a.fingerprint;  // a certificate's: of the certified key
  if (a.certificate) {
    s.ca_fingerprint = a.certificate->ca_fingerprint;
    s.cert_serial = a.certificate->serial;
  }
  s.source = IpAddress::Parse(client_.address);
  return s;
}

std::string Connection::LockedText(const audit::fleet::LockMatch& m) const {
  return m.what + " locked" + (gw_->config().fleet_database.empty() ? "" : " by the fleet") +
         " (lock " + std::to_string(m.lock.id) + (m.lock.reason.empty() ? "" : ": " + m.lock.reason) +
         ")";
}

bool Connection::CheckFleetLock() {
  auto lock = gw_->Locked(lock_subject_);
  if (!lock) return false;
  audit::LockApplied e;
  e.user = user_;
  e.lock_id = lock->lock.id;
  e.reason = lock->lock.reason;
  e.kind = lock->lock.kind;
  e.value = lock->lock.value;
  (void)gw_->audit().Record(id_, e);
  spdlog::warn("conn={} user={} {}: closing the connection", id_, Quote(user_), LockedText(*lock));
  std::string text = "\r\nhopgate: " + lock->what + " locked (" +
                     (lock->lock.reason.empty() ? "lock " + std::to_string(lock->lock.id)
                                                : lock->lock.reason) +
                     "); closing the connection\r\n";
  for (auto& is : info_sessions_) {
    if (is->channel != nullptr && !is->closed) {
      ssh_channel_write_stderr(is->channel.get(), text.data(), static_cast<uint32_t>(text.size()));
    }
  }
  end_reason_ = LockedText(*lock);
  return true;
}

}  // namespace hopgate::proxy
