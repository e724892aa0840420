#include "proxy/ssh/alive.h"

#include <libssh/server.h>

#include "common/time_util.h"

namespace hopgate::proxy {

void AliveCheck::Attach(ssh_session s, AliveSettings settings, int64_t now_ms) {
  session_ = s;
  settings_ = settings;
  counter_ = {};
  seen_packets_ = 0;
  last_heard_ms_ = now_ms;
  sent_ = 0;
  in_flight_ = false;
  if (!settings_.enabled() || s == nullptr) {
    next_ms_ = kNever;
    return;
  }
  ssh_set_counters(s, nullptr, &counter_);
  next_ms_ = now_ms + settings_.interval_ms;
}

void AliveCheck::Detach() {
  if (session_ != nullptr && settings_.enabled()) ssh_set_counters(session_, nullptr, nullptr);
  session_ = nullptr;
  next_ms_ = kNever;
}

bool AliveCheck::Check(int64_t now_ms) {
  if (session_ == nullptr || !settings_.enabled()) return true;
  if (counter_.in_packets != seen_packets_) {
    seen_packets_ = counter_.in_packets;
    last_heard_ms_ = now_ms;
    sent_ = 0;
    next_ms_ = now_ms + settings_.interval_ms;
  }
  if (now_ms < next_ms_) return true;
  if (sent_ >= settings_.count_max) return false;
  SendProbe();
  ++sent_;
  next_ms_ = now_ms + settings_.interval_ms;
  return true;
}

void AliveCheck::SendProbe() {
  // ssh_send_keepalive() is libssh 0.10's ssh_global_request(session,
  // "keepalive@openssh.com", want-reply), which tracks one global request
  // per session: a call while one is in flight only looks for its reply
  // (none yet: nothing is sent), and the first call after the reply came
  // only consumes that reply. Two calls therefore send exactly when no probe
  // is unanswered (or, harmlessly, twice when a reply came at once).
  // Non-blocking, so neither waits for the reply.
  bool blocking = ssh_is_blocking(session_) != 0;
  if (blocking) ssh_set_blocking(session_, 0);
  (void)ssh_send_keepalive(session_);
  (void)ssh_send_keepalive(session_);
  if (blocking) ssh_set_blocking(session_, 1);
  in_flight_ = true;
}

void AliveCheck::Settle() {
  // Waits for an outstanding probe's reply and consumes it, so the caller's
  // own global request gets its own reply. (When the reply was consumed
  // already, this sends one more probe and waits for its answer.)
  if (session_ == nullptr || !in_flight_) return;
  bool blocking = ssh_is_blocking(session_) != 0;
  if (!blocking) ssh_set_blocking(session_, 1);
  (void)ssh_send_keepalive(session_);
  if (!blocking) ssh_set_blocking(session_, 0);
  in_flight_ = false;
}

int64_t AliveCheck::NextDeadline() const { return next_ms_; }

std::string AliveCheck::reason() const {
  int64_t silent_s = settings_.interval_ms * settings_.count_max / 1000;
  return "no answer to " + std::to_string(sent_) + " keepalive" + (sent_ == 1 ? "" : "s") +
         " over " + FormatDuration(silent_s);
}

}  // namespace hopgate::proxy
