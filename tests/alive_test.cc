// Dead peers and clients that stop reading (issue 15, part 3), against real
// OpenSSH peers: a client frozen with SIGSTOP keeps its TCP connection open
// but answers nothing, so only the gateway's keepalives
// (limits.client_alive_*) notice it; a frozen jump host is noticed the same
// way (upstream.alive_*); a client that stops reading while the target
// sends without end costs the gateway a bounded amount of memory, slows no
// one else, and is ended at its rule's idle_timeout.
#include <catch2/catch.hpp>

#include <signal.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <sstream>
#include <thread>

#include "tests/support/harness.h"
#include "tests/support/recorded_world.h"

using namespace hopgate::testing;

namespace {

std::string Sub(const std::string& dir, const std::string& name) {
  std::string d = dir + "/" + name;
  Run({"mkdir", "-p", d});
  return d;
}

// Every process below `root` (children, their children, ...), from /proc.
std::vector<pid_t> Descendants(pid_t root) {
  std::multimap<pid_t, pid_t> children;
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    std::string name = entry.path().filename();
    if (name.empty() || !std::all_of(name.begin(), name.end(), ::isdigit)) continue;
    std::string stat = ReadFile(entry.path().string() + "/stat");
    size_t paren = stat.rfind(')');
    if (paren == std::string::npos) continue;
    std::istringstream rest(stat.substr(paren + 1));
    std::string state;
    pid_t ppid = 0;
    rest >> state >> ppid;
    children.emplace(ppid, static_cast<pid_t>(std::stoi(name)));
  }
  std::vector<pid_t> out;
  std::vector<pid_t> todo = {root};
  while (!todo.empty()) {
    pid_t p = todo.back();
    todo.pop_back();
    auto [b, e] = children.equal_range(p);
    for (auto it = b; it != e; ++it) {
      out.push_back(it->second);
      todo.push_back(it->second);
    }
  }
  return out;
}

// Freezes (SIGSTOP) a process tree; ~Frozen kills what it froze.
class Frozen {
 public:
  explicit Frozen(std::vector<pid_t> pids) : pids_(std::move(pids)) {
    for (pid_t p : pids_) kill(p, SIGSTOP);
  }
  ~Frozen() {
    for (pid_t p : pids_) kill(p, SIGKILL);
    for (pid_t p : pids_) kill(p, SIGCONT);
  }
  size_t size() const { return pids_.size(); }

 private:
  std::vector<pid_t> pids_;
};

// VmRSS of `pid` in KiB (0 if unreadable).
int64_t RssKb(pid_t pid) {
  std::istringstream in(ReadFile("/proc/" + std::to_string(pid) + "/status"));
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stoll(line.substr(6));
  }
  return 0;
}

struct World {
  std::string dir = MakeTempDir("alive");
  KeyPair alice = GenerateKey(dir, "alice");
  KeyPair bob = GenerateKey(dir, "bob");
  Sshd target{Sub(dir, "target"), {alice.public_line, bob.public_line}};
  std::unique_ptr<Gate> gate;
  Client alice_client{Sub(dir, "alice-client"), alice.private_path};
  Client bob_client{Sub(dir, "bob-client"), bob.private_path};

  // `alice_rule` is appended to alice's rule (idle_timeout: ...).
  explicit World(const std::string& config, const std::string& alice_rule = "") {
    std::string dest = "\"127.0.0.1:" + std::to_string(target.port()) + "\"";
    std::string policy = "version: 1\n"
                         "users:\n"
                         "  alice:\n"
                         "    keys: [\"" + alice.public_line + "\"]\n"
                         "  bob:\n"
                         "    keys: [\"" + bob.public_line + "\"]\n"
                         "rules:\n"
                         "  - name: alice-to-target\n"
                         "    users: [alice]\n"
                         "    permit_open: [" + dest + "]\n" + alice_rule +
                         "  - name: bob-to-target\n"
                         "    users: [bob]\n"
                         "    permit_open: [" + dest + "]\n";
    gate = std::make_unique<Gate>(dir, policy, config);
  }
  std::vector<std::string> Alice(const std::vector<std::string>& command) const {
    return alice_client.SshJ("alice", gate->port(), target.port(), command);
  }
  std::vector<std::string> Bob(const std::vector<std::string>& command) const {
    return bob_client.SshJ("bob", gate->port(), target.port(), command);
  }
  // Waits for alice's channel to the target to be open.
  bool AliceConnected() const {
    return WaitUntil([&] {
      for (const auto& e : gate->AuditEvents("channel_open")) {
        if (e.value("rule", "") == "alice-to-target" && e.value("decision", "") == "allow") {
          return true;
        }
      }
      return false;
    }, 20'000);
  }
  // alice's connection_close event, if any.
  std::optional<nlohmann::json> AliceClose() const {
    for (const auto& e : gate->AuditEvents("connection_close")) {
      if (e.value("user", "") == "alice") return e;
    }
    return std::nullopt;
  }
};

const char* kAliveConfig =
    "limits:\n"
    "  client_alive_interval: 1s\n"
    "  client_alive_count_max: 2\n";

}  // namespace

TEST_CASE("a client frozen with SIGSTOP is disconnected after its keepalives go unanswered") {
  World w(kAliveConfig);
  Process ssh(w.Alice({"sleep", "120"}), w.dir + "/frozen.log");
  REQUIRE(w.AliceConnected());
  // ssh -J runs the hop to the gateway as a child ssh: freeze both. TCP stays
  // open (the kernel still acknowledges), but nothing answers.
  std::vector<pid_t> tree = Descendants(ssh.pid());
  tree.push_back(ssh.pid());
  Frozen frozen(tree);
  REQUIRE(WaitUntil([&] { return w.AliceClose().has_value(); }, 30'000));
  auto close = *w.AliceClose();
  INFO(close.dump() << "\n" << w.gate->Log());
  // Probes after 1 s and 2 s of silence, the verdict at 3 s: over 2 s.
  CHECK(close["reason"] == "client_alive timeout: no answer to 2 keepalives over 2s");
  CHECK(close["channels"] == 1);
  // The relayed channel is closed with the same reason in the audit log.
  bool channel_closed = false;
  for (const auto& e : w.gate->AuditEvents("channel_close")) {
    channel_closed |= e.value("reason", "").find("client_alive timeout") != std::string::npos;
  }
  CHECK(channel_closed);
  CHECK(w.gate->Log().find("client stopped answering: no answer to 2 keepalives over 2s") !=
        std::string::npos);
}

TEST_CASE("an idle client that is alive answers the keepalives and stays connected") {
  World w(kAliveConfig);
  // 6 s of silence both ways: 6 intervals, each answered by OpenSSH.
  RunResult r = Run(
      [&] {
        auto argv = w.Alice({"sleep 6; echo still-here"});
        argv.insert(argv.begin() + 1, "-v");
        return argv;
      }(),
      "", 60'000);
  INFO(r.err << w.gate->Log());
  CHECK(r.exit_code == 0);
  CHECK(r.out == "still-here\n");
  // The gateway did probe it (ssh -v, also in the -J hop, logs each request).
  CHECK(r.err.find("client_input_global_request: rtype keepalive@openssh.com want_reply 1") !=
        std::string::npos);
  REQUIRE(WaitUntil([&] { return w.AliceClose().has_value(); }, 10'000));
  CHECK(w.AliceClose()->value("reason", "") == "client disconnected");
}

TEST_CASE("client_alive_interval 0 turns the probes off") {
  World w("limits:\n  client_alive_interval: 0\n");
  RunResult r = Run(
      [&] {
        auto argv = w.Alice({"sleep 3; echo done"});
        argv.insert(argv.begin() + 1, "-v");
        return argv;
      }(),
      "", 60'000);
  INFO(r.err);
  CHECK(r.exit_code == 0);
  CHECK(r.out == "done\n");
  CHECK(r.err.find("keepalive@openssh.com") == std::string::npos);
  // hopgate -T shows the effective value.
  RunResult dump = Run({Gate::Binary(), "--config", w.gate->config_path(), "--print-config"});
  INFO(dump.err);
  CHECK(dump.exit_code == 0);
  CHECK(dump.out.find("  client_alive_interval: 0s\n  client_alive_count_max: 3\n") !=
        std::string::npos);
  CHECK(dump.out.find("  alive_interval: 15s\n  alive_count_max: 3\n") != std::string::npos);
}

TEST_CASE("a frozen jump host: the gateway's upstream link ends and the client is told") {
  std::string dir = MakeTempDir("alive-jump");
  KeyPair alice = GenerateKey(dir, "alice");
  KeyPair hop_id = GenerateKey(dir, "hop_identity");
  Sshd jump(Sub(dir, "jump"), {hop_id.public_line});
  Sshd target(Sub(dir, "target"), {alice.public_line});
  std::string policy =
      "version: 1\n"
      "users:\n"
      "  alice:\n"
      "    keys: [\"" + alice.public_line + "\"]\n"
      "hosts:\n"
      "  jump1:\n"
      "    address: \"127.0.0.1:" + std::to_string(jump.port()) + "\"\n"
      "    login: root\n"
      "    identity: " + hop_id.private_path + "\n"
      "    host_key: \"" + jump.host_key_line() + "\"\n"
      "  target:\n"
      "    address: \"127.0.0.1:" + std::to_string(target.port()) + "\"\n"
      "    via: [jump1]\n"
      "rules:\n"
      "  - name: alice-to-target\n"
      "    users: [alice]\n"
      "    permit_open: [\"target:22\"]\n";
  Gate gate(dir, policy, "upstream:\n  alive_interval: 1s\n  alive_count_max: 2\n");
  Client client(dir, alice.private_path);
  Process ssh(client.SshJ("alice", gate.port(), 22, {"sleep", "120"}, "target"),
              dir + "/client.log");
  REQUIRE(WaitUntil([&] { return ReadFile(jump.log_path()).find("Accepted publickey") !=
                                 std::string::npos &&
                             !gate.AuditEvents("channel_open").empty(); },
                    20'000));
  // The jump host's processes for the gateway's connection (the listener
  // itself stays up): frozen, they answer nothing.
  Frozen frozen(Descendants(jump.pid()));
  REQUIRE(frozen.size() > 0);
  // The link ends; the client's stream through it ends with it.
  std::optional<int> status = ssh.Wait(30'000);
  INFO(gate.Log() << ReadFile(dir + "/client.log"));
  CHECK(status.has_value());
  CHECK(gate.Log().find("upstream jump1: the hop stopped answering: no answer to 2 keepalives "
                        "over 2s") != std::string::npos);
  CHECK(gate.Log().find("upstream jump1: connection closed (keepalive timeout: ") !=
        std::string::npos);
  REQUIRE(WaitUntil([&] { return !gate.AuditEvents("channel_close").empty(); }, 10'000));
}

TEST_CASE("a client that stops reading: bounded gateway memory, others unaffected, idle_timeout") {
#if defined(__SANITIZE_ADDRESS__)
  // Under AddressSanitizer freed memory waits in a quarantine (256 MB by
  // default) before reuse, which RSS would count: keep it small.
  std::string asan = getenv("ASAN_OPTIONS") != nullptr ? getenv("ASAN_OPTIONS") : "";
  setenv("ASAN_OPTIONS", (asan + ":quarantine_size_mb=1:thread_local_quarantine_size_kb=64").c_str(),
         1);
#endif
  // The alive probes are off so that idle_timeout is what ends it.
  World w("limits:\n  client_alive_interval: 0\n", "    idle_timeout: 14s\n");
  pid_t gate_pid = w.gate->process().pid();
  // The target sends without end; alice's ssh writes it to /dev/null.
  Process ssh(w.Alice({"yes", "0123456789abcdef0123456789abcdef0123456789abcdef"}), "/dev/null");
  REQUIRE(w.AliceConnected());
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // bytes flowing
  std::vector<pid_t> tree = Descendants(ssh.pid());
  tree.push_back(ssh.pid());
  Frozen frozen(tree);
  int64_t before_kb = RssKb(gate_pid);
  REQUIRE(before_kb > 0);

  // Meanwhile bob downloads 32 MiB through the same gateway, intact.
  std::string file = w.dir + "/bob.bin";
  WriteRandomFile(file, 32 << 20);
  auto bob = std::async(std::launch::async, [&] {
    return Run(w.Bob({"cat", file}), "", 120'000);
  });
  int64_t peak_kb = before_kb;
  for (int i = 0; i < 40; ++i) {  // 10 s
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
    peak_kb = std::max(peak_kb, RssKb(gate_pid));
  }
  RunResult b = bob.get();
  INFO("gateway RSS before " << before_kb << " KiB, peak " << peak_kb << " KiB");
  CHECK(peak_kb - before_kb <= 16 * 1024);
  CHECK(b.exit_code == 0);
  CHECK(b.out.size() == (32u << 20));
  CHECK(b.out == ReadFile(file));

  // Nothing moves on alice's connection: it ends at the rule's idle_timeout.
  REQUIRE(WaitUntil([&] { return w.AliceClose().has_value(); }, 40'000));
  INFO(w.gate->Log());
  CHECK(w.AliceClose()->value("reason", "") == "idle_timeout reached");
  auto limits = w.gate->AuditEvents("session_limit");
  REQUIRE(limits.size() == 1);
  CHECK(limits[0]["limit"] == "idle_timeout");
  CHECK(limits[0]["seconds"] == 14);
}

TEST_CASE("a frozen recorded target: the recorded session ends with the reason") {
  // The launcher adds the alive keys to RecordedWorld's upstream: section
  // before hopgate starts.
  std::vector<std::string> launcher = {
      "sh", "-c",
      "sed -i 's/^upstream:$/upstream:\\n  alive_interval: 1s\\n  alive_count_max: 2/' \"$3\" && "
      "exec \"$@\"",
      "sh"};
  RecordedWorld w("", "", "", launcher);
  Process ssh(w.Ssh({"sleep", "120"}), w.dir + "/client.log");
  REQUIRE(w.gate->WaitForAudit("session_open", "", "", 20'000));
  // The command runs on the target: then freeze the target's processes.
  REQUIRE(WaitUntil([&] {
    for (pid_t p : Descendants(w.target->pid())) {
      if (ReadFile("/proc/" + std::to_string(p) + "/comm") == "sleep\n") return true;
    }
    return false;
  }, 20'000));
  Frozen frozen(Descendants(w.target->pid()));
  std::optional<int> status = ssh.Wait(30'000);
  INFO(w.gate->Log() << ReadFile(w.dir + "/client.log"));
  CHECK(status.has_value());
  REQUIRE(WaitUntil([&] { return !w.Closes().empty(); }, 10'000));
  CHECK(w.Closes()[0].dump().find(
            "the target stopped answering (no answer to 2 keepalives over 2s)") !=
        std::string::npos);
  // The user was told why on their terminal.
  CHECK(ReadFile(w.dir + "/client.log").find("hopgate: session closed (the target stopped "
                                             "answering") != std::string::npos);
}
