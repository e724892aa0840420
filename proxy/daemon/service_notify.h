// systemd's service protocol (Type=notify): READY=1 once the listeners are
// open, RELOADING=1 / READY=1 around a SIGHUP reload, STOPPING=1 when a drain
// or shutdown starts, STATUS= lines, and WATCHDOG=1 at half the WatchdogSec
// interval, fed from the accept loop. Every call is a no-op when
// NOTIFY_SOCKET is unset (not started by systemd). The state messages may be
// sent from any thread; the watchdog calls belong to the accept loop.
#pragma once

#include <cstdint>
#include <string>

namespace hopgate::proxy {

class ServiceNotifier {
 public:
  // Reads WATCHDOG_USEC (and WATCHDOG_PID) from the environment once.
  ServiceNotifier();

  void Ready(const std::string& status);
  void Reloading();
  void Stopping(const std::string& status);
  void Status(const std::string& status);

  // The steady milliseconds until the next WATCHDOG=1 is due (for a poll
  // timeout), or -1 when systemd asked for no watchdog.
  int64_t WatchdogDueInMs(int64_t now_ms) const;
  // Sends WATCHDOG=1 if it is due at `now_ms`.
  void FeedWatchdog(int64_t now_ms);

 private:
  void Send(const std::string& state);

  int64_t watchdog_interval_ms_ = 0;  // half of WATCHDOG_USEC; 0: none
  int64_t next_watchdog_ms_ = 0;
};

}  // namespace hopgate::proxy
