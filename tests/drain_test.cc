// Draining on SIGTERM (limits.drain_timeout): the gateway stops accepting
// and reports not ready on /healthz/ready while open sessions go on; at the
// deadline it closes what is left and exits 0. Real ssh -J through the
// gateway to a real sshd; health endpoints read with curl.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tests/support/recorded_world.h"

using namespace hopgate::testing;

namespace {

struct World {
  std::string dir = MakeTempDir("drain");
  KeyPair alice = GenerateKey(dir, "alice");
  Sshd target{dir, {alice.public_line}};
  std::unique_ptr<Gate> gate;
  Client client{dir, alice.private_path};

  explicit World(const std::string& drain_timeout) {
    std::string policy = "version: 1\n"
                         "users:\n"
                         "  alice:\n"
                         "    keys: [\"" + alice.public_line + "\"]\n"
                         "rules:\n"
                         "  - name: alice-to-target\n"
                         "    users: [alice]\n"
                         "    permit_open: [\"127.0.0.1:" + std::to_string(target.port()) + "\"]\n";
    gate = std::make_unique<Gate>(dir, policy,
                                  "metrics:\n  listen: \"127.0.0.1:0\"\n"
                                  "limits:\n  drain_timeout: " + drain_timeout + "\n");
  }

  // The HTTP status of GET `path` on the metrics listener ("000": no answer).
  std::string Status(const std::string& path) const {
    std::string url = "http://127.0.0.1:" + std::to_string(gate->MetricsPort()) + path;
    return Run({"curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "10", url}).out;
  }

  std::vector<std::string> Ticker() const {
    return client.SshJ("alice", gate->port(), target.port(),
                       {"for i in $(seq 1 600); do echo tick-$i; sleep 0.1; done"});
  }
};

// How many tick lines the client has printed.
int Ticks(const std::string& log) {
  std::string text = ReadFile(log);
  int n = 0;
  for (size_t at = text.find("tick-"); at != std::string::npos; at = text.find("tick-", at + 1)) {
    ++n;
  }
  return n;
}

// Whether a TCP connection to 127.0.0.1:`port` is refused.
bool Refused(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool refused = connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 &&
                 errno == ECONNREFUSED;
  close(fd);
  return refused;
}

bool Draining(const Gate& gate) {
  return gate.Log().find("draining: listeners closed") != std::string::npos;
}

}  // namespace

TEST_CASE("SIGTERM drains: the open ssh -J session goes on, new users are refused, then it closes") {
  World w("6s");
  REQUIRE(w.Status("/healthz/ready") == "200");
  REQUIRE(w.Status("/healthz/live") == "200");
  std::string log = w.dir + "/ticker.log";
  Process ticker(w.Ticker(), log);
  REQUIRE(WaitUntil([&] { return Ticks(log) >= 3; }, 30'000));

  w.gate->process().Signal(SIGTERM);
  REQUIRE(WaitUntil([&] { return Draining(*w.gate); }, 10'000));
  // The session keeps working: its command goes on printing through the gateway.
  int at_drain = Ticks(log);
  CHECK(WaitUntil([&] { return Ticks(log) >= at_drain + 5; }, 5'000));
  // The balancer sees not-ready; the process is still alive.
  CHECK(w.Status("/healthz/ready") == "503");
  CHECK(w.Status("/healthz") == "503");
  CHECK(w.Status("/healthz/live") == "200");
  // New users cannot connect.
  CHECK(Refused(w.gate->port()));
  RunResult fresh = Run(w.client.SshJ("alice", w.gate->port(), w.target.port(), {"echo", "no"}));
  CHECK(fresh.exit_code != 0);
  CHECK(fresh.out.find("no") == std::string::npos);

  // At drain_timeout the gateway closes the session and exits 0.
  auto code = w.gate->process().Wait(30'000);
  INFO(w.gate->Log());
  REQUIRE(code.has_value());
  CHECK(*code == 0);
  auto client_code = ticker.Wait(15'000);
  REQUIRE(client_code.has_value());
  CHECK(*client_code != 0);  // cut, not finished
  CHECK(Ticks(log) < 600);

  auto drains = w.gate->AuditEvents("drain_start");
  REQUIRE(drains.size() == 1);
  CHECK(drains[0]["reason"] == "SIGTERM");
  CHECK(drains[0]["connections_open"] == 1);
  CHECK(drains[0]["drain_timeout"] == 6);
  auto stops = w.gate->AuditEvents("server_stop");
  REQUIRE(stops.size() == 1);
  CHECK(stops[0]["reason"] == "SIGTERM");
  CHECK(stops[0]["connections_closed"] == 1);
  CHECK(w.gate->Log().find("drain over: limits.drain_timeout (6s) passed with 1 connections open") !=
        std::string::npos);
}

TEST_CASE("a drain with no sessions open exits at once") {
  World w("10m");
  w.gate->process().Signal(SIGTERM);
  auto code = w.gate->process().Wait(20'000);  // far less than 10 minutes
  INFO(w.gate->Log());
  REQUIRE(code.has_value());
  CHECK(*code == 0);
  CHECK(w.gate->Log().find("drain over: every connection has ended") != std::string::npos);
  auto drains = w.gate->AuditEvents("drain_start");
  REQUIRE(drains.size() == 1);
  CHECK(drains[0]["connections_open"] == 0);
  CHECK(drains[0]["drain_timeout"] == 600);
}

TEST_CASE("a session that ends during the drain lets the gateway exit before the deadline") {
  World w("10m");
  std::string log = w.dir + "/short.log";
  Process shortlived(w.client.SshJ("alice", w.gate->port(), w.target.port(),
                                   {"echo started; sleep 3; echo finished"}),
                     log);
  REQUIRE(WaitUntil([&] { return ReadFile(log).find("started") != std::string::npos; }, 30'000));
  w.gate->process().Signal(SIGTERM);
  auto code = w.gate->process().Wait(60'000);
  INFO(w.gate->Log());
  REQUIRE(code.has_value());
  CHECK(*code == 0);
  // The session finished on its own, whole.
  CHECK(shortlived.Wait(15'000) == 0);
  CHECK(ReadFile(log).find("finished") != std::string::npos);
  auto stops = w.gate->AuditEvents("server_stop");
  REQUIRE(stops.size() == 1);
  CHECK(stops[0]["connections_closed"] == 0);
}

TEST_CASE("a second SIGTERM during a drain closes the sessions at once") {
  World w("10m");
  std::string log = w.dir + "/ticker.log";
  Process ticker(w.Ticker(), log);
  REQUIRE(WaitUntil([&] { return Ticks(log) >= 3; }, 30'000));
  w.gate->process().Signal(SIGTERM);
  REQUIRE(WaitUntil([&] { return Draining(*w.gate); }, 10'000));
  w.gate->process().Signal(SIGTERM);
  auto code = w.gate->process().Wait(20'000);
  INFO(w.gate->Log());
  REQUIRE(code.has_value());
  CHECK(*code == 0);
  CHECK(ticker.Wait(15'000).has_value());
  CHECK(w.gate->Log().find("SIGTERM during the drain: closing the 1 remaining connections now") !=
        std::string::npos);
  auto stops = w.gate->AuditEvents("server_stop");
  REQUIRE(stops.size() == 1);
  CHECK(stops[0]["connections_closed"] == 1);
}

TEST_CASE("a recorded session is told on its terminal that the gateway drains") {
  RecordedWorld w("", "", "", {}, "limits:\n  drain_timeout: 4s\n");
  std::string log = w.dir + "/client.log";
  Process client(w.Ssh({"echo started; sleep 60"}), log);
  REQUIRE(WaitUntil([&] { return ReadFile(log).find("started") != std::string::npos; }, 30'000));
  w.gate->process().Signal(SIGTERM);
  REQUIRE(w.gate->process().Wait(30'000) == 0);
  REQUIRE(client.Wait(15'000).has_value());
  std::string out = ReadFile(log);
  INFO(out << w.gate->Log());
  size_t notice = out.find("hopgate: this gateway is draining for maintenance; it will close this "
                           "session in ");
  size_t closed = out.find("hopgate: session closed (gateway shutting down)");
  CHECK(notice != std::string::npos);
  CHECK(closed != std::string::npos);
  CHECK(notice < closed);
  auto closes = w.Closes();
  REQUIRE(closes.size() == 1);
  CHECK(closes[0]["reason"] == "gateway shutting down");
  CHECK(closes[0].contains("recording_sha256"));
  auto drains = w.gate->AuditEvents("drain_start");
  REQUIRE(drains.size() == 1);
  CHECK(drains[0]["recordings_open"] == 1);
}

TEST_CASE("hopctl drain finds the gateway by its config and drains it") {
  World w("10m");
  RunResult r = Run({Gate::HopctlBinary(), "drain", "--config", w.gate->config_path(), "--wait"});
  INFO(r.out << r.err << w.gate->Log());
  CHECK(r.exit_code == 0);
  CHECK(r.out.find("hopgate pid " + std::to_string(w.gate->process().pid()) + " is draining") !=
        std::string::npos);
  CHECK(r.out.find("has exited") != std::string::npos);
  CHECK(w.gate->process().Wait(10'000) == 0);
  REQUIRE(w.gate->AuditEvents("drain_start").size() == 1);

  // Nothing serves that config now: said, and a negative answer.
  RunResult none = Run({Gate::HopctlBinary(), "drain", "--config", w.gate->config_path()});
  CHECK(none.exit_code == 1);
  CHECK(none.err.find("no running hopgate was started with --config") != std::string::npos);
  RunResult usage = Run({Gate::HopctlBinary(), "drain"});
  CHECK(usage.exit_code == 2);
}
