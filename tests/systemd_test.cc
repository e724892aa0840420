// hopgate under systemd's service protocol, without systemd: the test is the
// service manager. It binds a unix datagram socket, starts the gateway with
// NOTIFY_SOCKET (and WATCHDOG_USEC) naming it, and reads what arrives:
// READY=1 once the listener accepts, RELOADING=1 then READY=1 around a SIGHUP
// reload, WATCHDOG=1 while it serves, STOPPING=1 on SIGTERM.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "tests/support/harness.h"

using namespace hopgate::testing;

namespace {

// An abstract unix datagram socket (no path length limit, nothing to clean up).
class NotifySocket {
 public:
  NotifySocket() {
    name_ = "hopgate-test-notify-" + std::to_string(getpid());
    fd_ = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    memcpy(a.sun_path + 1, name_.data(), name_.size());
    socklen_t len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + name_.size());
    if (bind(fd_, reinterpret_cast<sockaddr*>(&a), len) != 0) {
      throw std::runtime_error(std::string("bind notify socket: ") + strerror(errno));
    }
  }
  ~NotifySocket() { close(fd_); }
  std::string env() const { return "@" + name_; }

  // Reads every datagram waiting; returns all received so far.
  const std::vector<std::string>& Messages() {
    char buf[4096];
    ssize_t n;
    while ((n = recv(fd_, buf, sizeof buf, 0)) > 0) messages_.emplace_back(buf, n);
    return messages_;
  }
  // The index of the first message from `from` on that contains `line`, or -1.
  int Find(const std::string& line, size_t from = 0) {
    const auto& m = Messages();
    for (size_t i = from; i < m.size(); ++i) {
      if (("\n" + m[i] + "\n").find("\n" + line + "\n") != std::string::npos) {
        return static_cast<int>(i);
      }
    }
    return -1;
  }
  int Count(const std::string& line) {
    int n = 0;
    for (const auto& m : Messages()) n += ("\n" + m + "\n").find("\n" + line + "\n") != std::string::npos;
    return n;
  }

 private:
  std::string name_;
  int fd_ = -1;
  std::vector<std::string> messages_;
};

bool Connects(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  close(fd);
  return ok;
}

}  // namespace

TEST_CASE("READY, RELOADING, WATCHDOG and STOPPING reach NOTIFY_SOCKET as systemd expects") {
  std::string dir = MakeTempDir("systemd");
  NotifySocket notify;
  Gate gate(dir, "version: 1\nrules: []\n", "", /*start=*/false);
  // The gateway (and only it) sees the manager's variables: 200 ms watchdog.
  setenv("NOTIFY_SOCKET", notify.env().c_str(), 1);
  setenv("WATCHDOG_USEC", "200000", 1);
  gate.Start();
  unsetenv("NOTIFY_SOCKET");
  unsetenv("WATCHDOG_USEC");

  REQUIRE(WaitUntil([&] { return notify.Find("READY=1") >= 0; }, 10'000));
  INFO(gate.Log());
  int ready = notify.Find("READY=1");
  CHECK(notify.Messages()[ready].find("STATUS=serving on 127.0.0.1:" + std::to_string(gate.port())) !=
        std::string::npos);
  // Ready means the listener accepts.
  CHECK(Connects(gate.port()));
  CHECK(notify.Find("RELOADING=1") < 0);
  CHECK(notify.Find("STOPPING=1") < 0);

  // The watchdog is fed from the accept loop while it idles.
  CHECK(WaitUntil([&] { return notify.Count("WATCHDOG=1") >= 5; }, 10'000));
  CHECK(gate.Log().find("systemd watchdog: WATCHDOG=1 every 100 ms") != std::string::npos);

  // SIGHUP: RELOADING=1 (with MONOTONIC_USEC), then READY=1 once the reload is done.
  size_t before = notify.Messages().size();
  gate.process().Signal(SIGHUP);
  REQUIRE(WaitUntil([&] { return !gate.AuditEvents("policy_reload").empty(); }, 10'000));
  REQUIRE(WaitUntil([&] {
    int r = notify.Find("RELOADING=1", before);
    return r >= 0 && notify.Find("READY=1", r + 1) >= 0;
  }, 10'000));
  int reloading = notify.Find("RELOADING=1", before);
  CHECK(notify.Messages()[reloading].find("MONOTONIC_USEC=") != std::string::npos);
  CHECK(notify.Messages()[notify.Find("READY=1", reloading + 1)].find("STATUS=serving; policy sha256:") !=
        std::string::npos);

  // SIGTERM: STOPPING=1, and a clean exit.
  before = notify.Messages().size();
  gate.process().Signal(SIGTERM);
  REQUIRE(gate.process().Wait(15'000) == 0);
  CHECK(notify.Find("STOPPING=1", before) >= 0);
}

TEST_CASE("without NOTIFY_SOCKET nothing is sent and nothing is logged about systemd") {
  std::string dir = MakeTempDir("no-notify");
  REQUIRE(getenv("NOTIFY_SOCKET") == nullptr);
  Gate gate(dir, "version: 1\nrules: []\n", "");
  gate.process().Signal(SIGHUP);
  REQUIRE(WaitUntil([&] { return !gate.AuditEvents("policy_reload").empty(); }, 10'000));
  gate.process().Signal(SIGTERM);
  REQUIRE(gate.process().Wait(15'000) == 0);
  CHECK(gate.Log().find("systemd watchdog") == std::string::npos);
  CHECK(gate.Log().find("systemd notify") == std::string::npos);
}
