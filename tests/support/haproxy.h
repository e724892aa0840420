// Debian's real haproxy for integration tests: in the foreground (-db), tcp
// mode, in front of one or more gateway listeners on 127.0.0.1, sending the
// PROXY protocol (`send_proxy`: "send-proxy-v2" or "send-proxy"), balancing
// round-robin when there are several. haproxy cannot bind port 0, so it
// gets a free port (another on a lost race, as sshd does).
#pragma once

#include <signal.h>

#include <string>
#include <vector>

#include "tests/support/harness.h"

namespace hopgate::testing {

class Haproxy {
 public:
  Haproxy(const std::string& dir, std::vector<int> backends, const std::string& send_proxy) {
    on_ = StartOnFreePort(
        [&](int port) {
          std::string cfg = dir + "/haproxy-" + std::to_string(port) + ".cfg";
          std::string text =
              "global\n"
              "  maxconn 256\n"
              "defaults\n"
              "  mode tcp\n"
              "  timeout connect 5s\n"
              "  timeout client 60s\n"
              "  timeout server 60s\n"
              "listen ssh\n"
              "  bind 127.0.0.1:" + std::to_string(port) + "\n"
              "  balance roundrobin\n";
          for (size_t i = 0; i < backends.size(); ++i) {
            text += "  server gate" + std::to_string(i) + " 127.0.0.1:" +
                    std::to_string(backends[i]) + " source 127.0.0.1 " + send_proxy + "\n";
          }
          WriteFile(cfg, text);
          return std::vector<std::string>{"haproxy", "-db", "-f", cfg};
        },
        dir + "/haproxy.log");
  }
  Haproxy(const std::string& dir, int backend, const std::string& send_proxy)
      : Haproxy(dir, std::vector<int>{backend}, send_proxy) {}
  ~Haproxy() {
    if (!on_.proc) return;
    on_.proc->Signal(SIGTERM);
    if (!on_.proc->Wait(5'000)) on_.proc->Signal(SIGKILL);
  }
  Haproxy(const Haproxy&) = delete;
  Haproxy& operator=(const Haproxy&) = delete;
  int port() const { return on_.port; }

 private:
  OnPort on_;
};

// Makes the generated config's plain `listen: ["127.0.0.1:0"]` the object
// form that requires the PROXY protocol, balancers only from 127.0.0.1.
// False when the config has no such line.
inline bool RequireProxyProtocol(const std::string& config_path) {
  std::string cfg = ReadFile(config_path);
  const std::string plain = "listen: [\"127.0.0.1:0\"]";
  size_t at = cfg.find(plain);
  if (at == std::string::npos) return false;
  cfg.replace(at, plain.size(),
              "listen:\n  - {address: \"127.0.0.1:0\", proxy_protocol: true, "
              "proxy_from: [\"127.0.0.1/32\"]}");
  WriteFile(config_path, cfg, 0600);
  return true;
}

}  // namespace hopgate::testing
