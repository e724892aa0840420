#include "proxy/daemon/service_notify.h"

#include <systemd/sd-daemon.h>
#include <time.h>

#include <algorithm>
#include <cstring>

#include "proxy/base/logging.h"

namespace hopgate::proxy {

ServiceNotifier::ServiceNotifier() {
  uint64_t usec = 0;
  // > 0 only when WATCHDOG_USEC is set (and WATCHDOG_PID, if set, is us).
  if (sd_watchdog_enabled(/*unset_environment=*/0, &usec) > 0 && usec > 0) {
    // systemd's advice: notify at half the interval.
    watchdog_interval_ms_ = std::max<int64_t>(1, static_cast<int64_t>(usec / 2000));
    spdlog::info("systemd watchdog: WATCHDOG=1 every {} ms", watchdog_interval_ms_);
  }
}

void ServiceNotifier::Send(const std::string& state) {
  int rc = sd_notify(/*unset_environment=*/0, state.c_str());
  if (rc < 0) spdlog::warn("systemd notify ({}): {}", state.substr(0, state.find('\n')), strerror(-rc));
}

void ServiceNotifier::Ready(const std::string& status) { Send("READY=1\nSTATUS=" + status); }

void ServiceNotifier::Reloading() {
  // MONOTONIC_USEC: what Type=notify-reload (systemd 253+) asks for; older
  // managers ignore it.
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  uint64_t usec = static_cast<uint64_t>(ts.tv_sec) * 1'000'000 + ts.tv_nsec / 1000;
  Send("RELOADING=1\nMONOTONIC_USEC=" + std::to_string(usec) + "\nSTATUS=reloading the policy");
}

void ServiceNotifier::Stopping(const std::string& status) { Send("STOPPING=1\nSTATUS=" + status); }

void ServiceNotifier::Status(const std::string& status) { Send("STATUS=" + status); }

int64_t ServiceNotifier::WatchdogDueInMs(int64_t now_ms) const {
  if (watchdog_interval_ms_ == 0) return -1;
  return std::max<int64_t>(0, next_watchdog_ms_ - now_ms);
}

void ServiceNotifier::FeedWatchdog(int64_t now_ms) {
  if (watchdog_interval_ms_ == 0 || now_ms < next_watchdog_ms_) return;
  Send("WATCHDOG=1");
  next_watchdog_ms_ = now_ms + watchdog_interval_ms_;
}

}  // namespace hopgate::proxy
