// Draining (SIGTERM, hopctl drain): the replica stops accepting, reports
// not-ready on /healthz/ready so a load balancer sends new users elsewhere,
// and lets the open connections go on until limits.drain_timeout; then
// Run's Shutdown closes what is left and the process exits 0.
#include "common/time_util.h"
#include "proxy/base/clock.h"
#include "proxy/base/logging.h"
#include "proxy/daemon/server.h"

namespace hopgate::proxy {

void Server::StartDrain(const std::string& reason) {
  const int64_t timeout_s = gw_->config().drain_timeout;
  drain_reason_ = reason;
  listeners_.clear();  // new connections are refused from now on
  gw_->StartDrain(SteadyMs() + timeout_s * 1000);
  // Recorded sessions tell their terminals at their next step.
  gw_->WakeAll();
  audit::DrainStart e;
  e.reason = reason;
  e.connections_open = static_cast<int64_t>(gw_->active());
  e.recordings_open = static_cast<int64_t>(gw_->OpenRecordings().size());
  e.drain_timeout_s = timeout_s;
  (void)gw_->audit().Record("", e);
  notify_.Stopping("draining: " + std::to_string(e.connections_open) +
                   " connections open, closed at the latest in " + FormatDuration(timeout_s));
  spdlog::info("{}: draining: listeners closed, /healthz/ready reports not ready; {} open "
               "connections may go on for up to {} (limits.drain_timeout); a second SIGTERM or "
               "SIGINT closes them at once",
               reason, e.connections_open, FormatDuration(timeout_s));
}

std::string Server::DrainOver() const {
  if (gw_->active() == 0) return "every connection has ended";
  if (SteadyMs() >= gw_->drain_deadline_ms()) {
    return "limits.drain_timeout (" + FormatDuration(gw_->config().drain_timeout) +
           ") passed with " + std::to_string(gw_->active()) + " connections open";
  }
  return "";
}

}  // namespace hopgate::proxy
