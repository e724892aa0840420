// Hostile clients against the real gateway: a channel flood held at the cap
// while another user works, the open-files limit survived without spinning,
// a burst of pipelined signed login attempts held at max_auth_tries, and
// control characters in client text kept out of the log's line structure.
// The clients are paramiko (tests/support/hostile_client.py) and OpenSSH.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <thread>

#include "tests/support/harness.h"

using namespace hopgate::testing;

namespace {

const char* kPython = "/usr/bin/python3";

std::string Port(int p) { return std::to_string(p); }

struct World {
  std::string dir = MakeTempDir("hostile");
  KeyPair alice = GenerateKey(dir, "alice");
  KeyPair bob = GenerateKey(dir, "bob");
  Sshd target{dir, {bob.public_line}};
  int banner_port = 0;
  std::unique_ptr<Process> banner;
  std::unique_ptr<Gate> gate;
  Client bob_client{dir, bob.private_path};

  explicit World(const std::string& extra_config = "", std::vector<std::string> launcher = {}) {
    banner = std::make_unique<Process>(
        std::vector<std::string>{kPython, HostileClient(), "serve", "--port", "0", "--banner",
                                 "hello"},
        dir + "/banner.log");
    banner_port = ListeningPort(dir + "/banner.log", *banner);
    std::string policy = "version: 1\nusers:\n  alice:\n    keys: [\"" + alice.public_line +
                         "\"]\n  bob:\n    keys: [\"" + bob.public_line +
                         "\"]\nrules:\n  - name: anything\n    users: [alice, bob]\n"
                         "    permit_open: [\"*:*\"]\n";
    gate = std::make_unique<Gate>(dir, policy, extra_config, false);
    if (!launcher.empty()) gate->set_launcher(launcher);
    gate->Start();
  }

  std::vector<std::string> Open(const std::string& dest, int count, double hold,
                                const std::string& kinds = "direct-tcpip") const {
    return {kPython, HostileClient(), "open", "--port", Port(gate->port()), "--user", "alice",
            "--key", alice.private_path, "--dest", dest, "--count", std::to_string(count),
            "--hold", std::to_string(hold), "--kinds", kinds};
  }

  RunResult BobEcho() const {
    return Run(bob_client.SshJ("bob", gate->port(), target.port(), {"echo", "bob-ok"}), "",
               30'000);
  }
};

// utime + stime of a process, in clock ticks.
long CpuTicks(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::istringstream fields(stat.substr(stat.rfind(')') + 2));
  std::string f;
  long utime = 0, stime = 0;
  for (int i = 3; fields >> f; ++i) {
    if (i == 14) utime = std::stol(f);
    if (i == 15) {
      stime = std::stol(f);
      break;
    }
  }
  return utime + stime;
}

}  // namespace

TEST_CASE("a channel flood is held at max_channels_per_connection while others work") {
  World w;
  Process flood(w.Open("127.0.0.1:" + Port(w.banner_port), 100, 6), w.dir + "/flood.log");
  // While alice holds her channels, bob logs in and works normally.
  REQUIRE(WaitUntil([&] { return LastJson(ReadFile(w.dir + "/flood.log")).is_object(); }, 60'000));
  RunResult bob = w.BobEcho();
  INFO(bob.err << w.gate->Log());
  CHECK(bob.out == "bob-ok\n");
  auto result = LastJson(ReadFile(w.dir + "/flood.log"));
  INFO(result.dump());
  CHECK(result["opened"] == 64);
  CHECK(result["refused"] == 36);
  CHECK(result["first_bytes"] == "hello\n");
  CHECK(result["reasons"][0].get<std::string>().find("Administratively prohibited") !=
        std::string::npos);
  flood.Wait(30'000);
  // Refusals are audited at most once a second per connection, and the
  // counts add up.
  REQUIRE(w.gate->WaitForAudit("connection_close", "user", "alice", 10'000));
  int events = 0;
  uint64_t total = 0;
  for (const auto& e : w.gate->AuditEvents("channel_open")) {
    if (e.value("reason", "").find("max_channels_per_connection 64") == std::string::npos) continue;
    ++events;
    total += 1 + e.value("suppressed", 0);
  }
  CHECK(events <= 4);
  CHECK(total == 36);
}

TEST_CASE("session channels count toward max_channels_per_connection too") {
  World w("limits:\n  max_channels_per_connection: 10\n");
  RunResult r = Run(w.Open("127.0.0.1:" + Port(w.banner_port), 16, 0, "mixed"), "", 60'000);
  INFO(r.out << r.err << w.gate->Log());
  auto result = LastJson(r.out);
  REQUIRE(result.is_object());
  CHECK(result["opened"] == 10);  // 5 session + 5 direct-tcpip: the cap counts both
  CHECK(result["refused"] == 6);
  CHECK(result["first_bytes"] == "hello\n");
}

TEST_CASE("at the open-files limit the gateway sheds connections instead of spinning") {
  World w("", {"prlimit", "--nofile=40", "--"});
  // Alice takes every descriptor the gateway has left.
  Process hog(w.Open("127.0.0.1:" + Port(w.banner_port), 60, 8), w.dir + "/hog.log");
  REQUIRE(WaitUntil([&] { return LastJson(ReadFile(w.dir + "/hog.log")).is_object(); }, 60'000));
  auto hog_result = LastJson(ReadFile(w.dir + "/hog.log"));
  INFO(hog_result.dump() << w.gate->Log());
  CHECK(hog_result["refused"].get<int>() > 0);
  // New connections now arrive at a gateway without descriptors.
  long before = CpuTicks(w.gate->process().pid());
  for (int i = 0; i < 5; ++i) {
    RunResult r = Run({"ssh", "-F", w.bob_client.config_path(), "-p", Port(w.gate->port()),
                       "-o", "ConnectTimeout=5", "bob@127.0.0.1", "true"},
                      "", 10'000);
    CHECK(r.exit_code != 0);
  }
  std::this_thread::sleep_for(std::chrono::seconds(2));
  long used = CpuTicks(w.gate->process().pid()) - before;
  long hz = sysconf(_SC_CLK_TCK);
  CHECK(used < hz);  // well under a second of CPU in ~3 s: no accept loop spinning
  std::string log = w.gate->Log();
  size_t lines = 0;
  for (size_t at = log.find("accept on"); at != std::string::npos; at = log.find("accept on", at + 1)) {
    ++lines;
  }
  CHECK(lines >= 1);
  CHECK(lines <= 5);
  // Once alice lets go, service resumes by itself.
  hog.Wait(30'000);
  REQUIRE(w.gate->WaitForAudit("connection_close", "user", "alice", 10'000));
  RunResult bob = w.BobEcho();
  CHECK(bob.out == "bob-ok\n");
}

TEST_CASE("a burst of pipelined signed login attempts is held at max_auth_tries") {
  World w("limits:\n  max_auth_tries: 3\n");
  std::string keys;
  for (int i = 0; i < 8; ++i) keys += GenerateKey(w.dir, "stranger" + std::to_string(i)).private_path + ",";
  keys += w.alice.private_path;  // the right key, after too many wrong ones
  RunResult r = Run({kPython, HostileClient(), "burst", "--port", Port(w.gate->port()), "--user",
                     "alice", "--keys", keys},
                    "", 60'000);
  INFO(r.out << r.err << w.gate->Log());
  // paramiko itself cannot tell (it has no auth handler for a hand-made
  // burst): the gateway's audit log is the judge.
  int failures = 0, successes = 0;
  for (const auto& e : w.gate->AuditEvents("auth")) {
    (e["result"] == "success" ? successes : failures)++;
  }
  CHECK(successes == 0);
  CHECK(failures <= 3);
  REQUIRE(WaitUntil([&] { return !w.gate->AuditEvents("connection_close").empty(); }, 10'000));
  CHECK(w.gate->AuditEvents("connection_close")[0]["reason"] == "too many authentication failures");
}

TEST_CASE("client text cannot forge lines in the gateway's log") {
  World w;
  RunResult r = Run(w.Open("evil\\nFAKE-INJECTED-LINE 2026 info  conn=x:22", 1, 0));
  INFO(r.out << r.err);
  auto result = LastJson(r.out);
  CHECK(result["opened"] == 0);
  RunResult u = Run({kPython, "-c",
                     "import paramiko,socket\n"
                     "t=paramiko.Transport(socket.create_connection(('127.0.0.1'," +
                         Port(w.gate->port()) +
                         ")))\n"
                         "t.start_client()\n"
                         "k=paramiko.Ed25519Key.from_private_key_file('" + w.alice.private_path +
                         "')\n"
                         "try:\n  t.auth_publickey('x\\nFAKE-USER-LINE', k)\n"
                         "except Exception: pass\n"});
  REQUIRE(WaitUntil([&] { return w.gate->AuditEvents("connection_close").size() >= 2; }, 10'000));
  std::string log = w.gate->Log();
  INFO(log);
  std::istringstream in(log);
  std::string line;
  while (std::getline(in, line)) {
    CHECK(line.rfind("FAKE-", 0) != 0);
  }
  CHECK(log.find("evil\\x0aFAKE-INJECTED-LINE") != std::string::npos);
  CHECK(log.find("x\\x0aFAKE-USER-LINE") != std::string::npos);
  // The audit log keeps the exact bytes, JSON-escaped.
  bool found = false;
  for (const auto& e : w.gate->AuditEvents("channel_open")) {
    found |= e.value("destination", "").find("evil\nFAKE-INJECTED-LINE") == 0;
  }
  CHECK(found);
}

namespace {

// A listener whose accept queue is full: connects to it never complete (the
// kernel drops their SYNs), like a destination behind a silent firewall.
struct Blackhole {
  int port = 0;
  int listen_fd = -1;
  std::vector<int> fillers;
  Blackhole() {
    listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(listen_fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    listen(listen_fd, 0);
    socklen_t len = sizeof a;
    getsockname(listen_fd, reinterpret_cast<sockaddr*>(&a), &len);
    port = ntohs(a.sin_port);
    // Fill the queue (backlog 0 still takes one); later SYNs are dropped.
    for (int i = 0; i < 3; ++i) {
      int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
      connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
      fillers.push_back(fd);
    }
  }
  ~Blackhole() {
    for (int fd : fillers) close(fd);
    close(listen_fd);
  }
};

}  // namespace

TEST_CASE("a destination that never answers stalls no other channel and no other user") {
  World w("limits:\n  connect_timeout: 5s\n");
  Blackhole hole;
  Process echo({kPython, HostileClient(), "serve", "--port", "0", "--banner", "hi", "--echo"},
               w.dir + "/echo.log");
  int echo_port = ListeningPort(w.dir + "/echo.log", echo);
  Process stall({kPython, HostileClient(), "stall", "--port", Port(w.gate->port()), "--user",
                 "alice", "--key", w.alice.private_path, "--blackhole",
                 "127.0.0.1:" + Port(hole.port), "--echo", "127.0.0.1:" + Port(echo_port)},
                w.dir + "/stall.log");
  // While alice's first request waits on its connect, bob works normally.
  std::this_thread::sleep_for(std::chrono::milliseconds(800));
  auto bob_start = std::chrono::steady_clock::now();
  RunResult bob = w.BobEcho();
  double bob_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - bob_start).count();
  CHECK(bob.out == "bob-ok\n");
  CHECK(bob_s < 4.0);  // well before alice's connect times out
  REQUIRE(stall.Wait(30'000).has_value());
  auto result = LastJson(ReadFile(w.dir + "/stall.log"));
  INFO(ReadFile(w.dir + "/stall.log") << w.gate->Log());
  REQUIRE(result.is_object());
  // The second channel relayed at once, not after the first one's 5 s.
  CHECK(result["echo_ms"].get<int>() < 500);
  CHECK(result["blackhole"].get<std::string>().rfind("refused", 0) == 0);
  CHECK(result["blackhole_ms"].get<int>() >= 4500);
  bool timed_out = false;
  for (const auto& e : w.gate->AuditEvents("channel_open")) {
    timed_out |= e.value("error", "").find("timed out after 5s") != std::string::npos;
  }
  CHECK(timed_out);
}
