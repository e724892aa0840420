// Failing environments: a target sshd killed mid-transfer, the audit log's
// file system full (a small tmpfs, mounted by the test: it runs as root).
// Real OpenSSH peers on 127.0.0.1; every wait is bounded.
#include <catch2/catch.hpp>

#include <dirent.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <sstream>
#include <thread>

#include "tests/support/harness.h"
#include "tests/support/recorded_world.h"

using namespace hopgate::testing;

namespace {

std::string Port(int p) { return std::to_string(p); }

// pid -> parent pid, for every process.
std::map<pid_t, pid_t> Parents() {
  std::map<pid_t, pid_t> out;
  DIR* d = opendir("/proc");
  if (d == nullptr) return out;
  while (dirent* e = readdir(d)) {
    pid_t pid = static_cast<pid_t>(atoi(e->d_name));
    if (pid <= 0) continue;
    std::string stat = ReadFile("/proc/" + std::to_string(pid) + "/stat");
    size_t close = stat.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream f(stat.substr(close + 2));
    std::string state;
    pid_t ppid = 0;
    if (f >> state >> ppid) out[pid] = ppid;
  }
  closedir(d);
  return out;
}

// The sshd listening on `port` (the one a test started), or -1.
pid_t SshdListener(int port) {
  for (const auto& [pid, ppid] : Parents()) {
    if (ReadFile("/proc/" + std::to_string(pid) + "/comm") != "sshd\n") continue;
    if (ListensOn(pid, port)) return pid;
  }
  return -1;
}

// SIGKILLs the sshd processes below the sshd listening on `port`: each
// connection's privileged monitor and its session process (what they run is
// left to die of the lost connection, as when sshd crashes). Returns how many.
int KillTargetSessions(int port) {
  pid_t listener = SshdListener(port);
  REQUIRE(listener > 0);
  auto parents = Parents();
  std::vector<pid_t> below;
  std::vector<pid_t> frontier = {listener};
  while (!frontier.empty()) {
    pid_t p = frontier.back();
    frontier.pop_back();
    for (const auto& [pid, ppid] : parents) {
      if (ppid == p) {
        below.push_back(pid);
        frontier.push_back(pid);
      }
    }
  }
  int killed = 0;
  for (pid_t pid : below) {
    if (ReadFile("/proc/" + std::to_string(pid) + "/comm") != "sshd\n") continue;
    killed += kill(pid, SIGKILL) == 0;
  }
  return killed;
}

off_t FileSize(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 ? st.st_size : 0;
}

// Runs `argv` with stdout to `out` and stderr to `err`, its exit code to `rc`.
std::unique_ptr<Process> Background(const std::vector<std::string>& argv, const std::string& dir) {
  std::string cmd;
  for (const auto& a : argv) cmd += "'" + a + "' ";
  cmd += ">'" + dir + "/out' 2>'" + dir + "/err'; echo $? >'" + dir + "/rc'";
  return std::make_unique<Process>(std::vector<std::string>{"sh", "-c", cmd}, dir + "/sh.log");
}

struct Outcome {
  int exit_code = -1;
  std::string err;
};

// Streams until `dir`/out holds 16 MB, kills the target's sshd sessions,
// and waits (bounded) for the client to end.
Outcome KillMidTransfer(Process& client, const std::string& dir, int target_port) {
  REQUIRE(WaitUntil([&] { return FileSize(dir + "/out") > (16 << 20) || !client.Running(); },
                    30'000));
  REQUIRE(client.Running());  // still streaming: 1 GiB takes longer
  CHECK(KillTargetSessions(target_port) > 0);
  std::optional<int> done = client.Wait(30'000);
  INFO("the client did not end within 30 s of the target's death");
  REQUIRE(done.has_value());
  Outcome o;
  o.exit_code = std::stoi("0" + ReadFile(dir + "/rc"));
  o.err = ReadFile(dir + "/err");
  unlink((dir + "/out").c_str());
  return o;
}

// The channel_close of the one channel that carried the stream.
nlohmann::json StreamClose(Gate& gate) {
  nlohmann::json found;
  REQUIRE(WaitUntil(
      [&] {
        for (const auto& e : gate.AuditEvents("channel_close")) {
          if (e.value("bytes_target_to_client", 0ull) > (16ull << 20)) found = e;
        }
        return found.is_object();
      },
      15'000));
  return found;
}

}  // namespace

TEST_CASE("a target sshd killed mid-transfer through ssh -J: a clean close, bytes audited") {
  std::string dir = MakeTempDir("faults_kill");
  KeyPair alice = GenerateKey(dir, "alice");
  Sshd target{dir, {alice.public_line}};
  Gate gate(dir,
            "version: 1\nusers:\n  alice:\n    keys: [\"" + alice.public_line + "\"]\n"
            "rules:\n  - name: alice-to-target\n    users: [alice]\n"
            "    permit_open: [\"127.0.0.1:" + Port(target.port()) + "\"]\n");
  Client client(dir, alice.private_path);
  std::vector<std::string> argv =
      client.SshJ("alice", gate.port(), target.port(), {"head", "-c", "1073741824", "/dev/zero"});
  // OpenSSH's default LogLevel (the harness's config says ERROR): what a
  // user sees when the connection drops.
  argv.insert(argv.begin() + 1, {"-o", "LogLevel=INFO"});
  auto proc = Background(argv, dir);
  Outcome o = KillMidTransfer(*proc, dir, target.port());
  INFO(o.err << gate.Log());
  // ssh says the connection is gone and fails; it does not hang.
  CHECK(o.exit_code == 255);
  // OpenSSH's words for its transport (the jump's stdio) going away:
  // "Connection closed by UNKNOWN port 65535", "Connection to 127.0.0.1
  // closed by remote host.", or when it was writing "Connection to UNKNOWN
  // port 65535: Broken pipe" or "client_loop: send disconnect: Broken pipe".
  CHECK((o.err.find("closed") != std::string::npos ||
         o.err.find("Broken pipe") != std::string::npos));
  nlohmann::json close = StreamClose(gate);
  INFO(close.dump());
  CHECK(close["kind"] == "direct-tcpip");
  CHECK(close["destination"] == "127.0.0.1:" + Port(target.port()));
  CHECK(close["bytes_target_to_client"].get<uint64_t>() < (1ull << 30));
  CHECK(close["bytes_client_to_target"].get<uint64_t>() > 0);  // the client's half of SSH
  // The target's end went first: a FIN ("closed by both sides, the target
  // first") or a reset ("target read failed: Connection reset by peer").
  CHECK(close["reason"].get<std::string>().find("target") != std::string::npos);
  // The gateway itself is unharmed: the next login works.
  RunResult again = Run(client.SshJ("alice", gate.port(), target.port(), {"echo", "ok"}));
  CHECK(again.out == "ok\n");
}

TEST_CASE("a recorded target's sshd killed mid-transfer: a clean close with a reason") {
  RecordedWorld w;
  auto proc = Background(w.Ssh({"head -c 1073741824 /dev/zero"}), w.dir);
  Outcome o = KillMidTransfer(*proc, w.dir, w.target->port());
  INFO(o.err << w.gate->Log());
  CHECK(o.exit_code != 0);
  // The gateway tells the client why its session ended when the notice
  // fits: with the client's window full of the transfer, the inner session
  // can close before it goes out, and ssh says the connection was closed.
  // Either way the client ends with a reason on its terminal.
  CHECK((o.err.find("hopgate: session closed (the target db1:22") != std::string::npos ||
         o.err.find("closed by remote host") != std::string::npos ||
         o.err.find("Broken pipe") != std::string::npos));  // the gateway closed first
  nlohmann::json close = StreamClose(*w.gate);
  INFO(close.dump());
  CHECK(close["kind"] == "direct-tcpip");
  CHECK(close["bytes_target_to_client"].get<uint64_t>() < (1ull << 30) + (64ull << 20));
  CHECK(!close["reason"].get<std::string>().empty());
  // The recorded session's own close says the target went away.
  REQUIRE(w.gate->WaitForAudit("session_close", "kind", "session", 15'000));
  auto sessions = w.Closes();
  REQUIRE(!sessions.empty());
  INFO(sessions.back().dump());
  CHECK(sessions.back()["bytes_target_to_client"].get<uint64_t>() > (16ull << 20));
  CHECK(!sessions.back()["reason"].get<std::string>().empty());
}

namespace {

// A small tmpfs mounted for one test, unmounted when it ends (even when
// the test fails). Mounting needs root: without it the test fails, saying so.
class Tmpfs {
 public:
  Tmpfs(const std::string& dir, const std::string& size) : dir_(dir) {
    Run({"mkdir", "-p", dir});
    RunResult r = Run({"mount", "-t", "tmpfs", "-o", "size=" + size + ",mode=0700", "tmpfs", dir});
    INFO("this test mounts a tmpfs (as root) to fill the audit log's file system; mount said: "
         << r.err);
    REQUIRE(r.exit_code == 0);
    mounted_ = true;
  }
  ~Tmpfs() {
    if (mounted_) Run({"umount", "-l", dir_});
  }
  Tmpfs(const Tmpfs&) = delete;
  Tmpfs& operator=(const Tmpfs&) = delete;

 private:
  std::string dir_;
  bool mounted_ = false;
};

std::vector<nlohmann::json> JsonLines(const std::string& path) {
  std::vector<nlohmann::json> out;
  std::istringstream in(ReadFile(path));
  std::string line;
  while (std::getline(in, line)) {
    auto j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (!j.is_discarded()) out.push_back(j);
  }
  return out;
}

std::string Metric(int port, const std::string& name) {
  std::string text = Run({"curl", "-s", "--max-time", "5",
                          "http://127.0.0.1:" + Port(port) + "/metrics"}).out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(name + " ", 0) == 0) return line.substr(name.size() + 1);
  }
  return "";
}

// Can `client` still reach the target through an established -L forward
// on `port`? (The target's sshd greets with its version line.)
bool ForwardWorks(int port) {
  RunResult r = Run({"bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/" + Port(port) +
                                      " && timeout 10 head -c 8 <&3"},
                    "", 15'000);
  return r.out == "SSH-2.0-";
}

}  // namespace

TEST_CASE("the audit log's file system full: logins refused loudly, service resumes by itself") {
  std::string dir = MakeTempDir("faults_full");
  std::string fs = dir + "/auditfs";
  Tmpfs tmpfs(fs, "2m");
  KeyPair alice = GenerateKey(dir, "alice");
  Sshd target{dir, {alice.public_line}};
  std::string audit = fs + "/audit.jsonl";
  Gate gate(dir,
            "version: 1\nusers:\n  alice:\n    keys: [\"" + alice.public_line + "\"]\n"
            "rules:\n  - name: alice-to-target\n    users: [alice]\n"
            "    permit_open: [\"127.0.0.1:" + Port(target.port()) + "\"]\n",
            "  recordings: " + fs + "/recordings\nmetrics:\n  listen: \"127.0.0.1:0\"\n",
            /*start=*/false);
  // The audit log itself lives on the tmpfs.
  std::string cfg = ReadFile(gate.config_path());
  size_t at = cfg.find("log: " + gate.audit_path());
  REQUIRE(at != std::string::npos);
  cfg.replace(at, 5 + gate.audit_path().size(), "log: " + audit);
  WriteFile(gate.config_path(), cfg, 0600);
  gate.Start();
  Client client(dir, alice.private_path);
  int metrics = gate.MetricsPort();
  REQUIRE(metrics > 0);
  auto login = [&] {
    std::vector<std::string> argv = client.SshGate("alice", gate.port(), {"true"});
    argv.insert(argv.begin() + 1, {"-o", "LogLevel=INFO"});
    return Run(argv, "", 30'000);
  };

  // Before: a login works, and a forward is established.
  RunResult ok = Run(client.SshJ("alice", gate.port(), target.port(), {"echo", "ok"}));
  INFO(ok.err << gate.Log());
  REQUIRE(ok.out == "ok\n");
  OnPort fwd = StartOnFreePort(
      [&](int port) {
        return std::vector<std::string>{"ssh", "-F", client.config_path(), "-N", "-L",
                                        "127.0.0.1:" + Port(port) + ":127.0.0.1:" + Port(target.port()),
                                        "-p", Port(gate.port()), "alice@127.0.0.1"};
      },
      dir + "/forward.log");
  REQUIRE(ForwardWorks(fwd.port));
  CHECK(Metric(metrics, "hopgate_audit_log_healthy") == "1");

  // The file system fills up.
  Run({"sh", "-c", "dd if=/dev/zero of='" + fs + "/filler' bs=64k 2>/dev/null; true"});
  size_t allowed_full = 0;
  for (const auto& e : JsonLines(audit)) {
    allowed_full += e.value("type", "") == "channel_open" && e.value("decision", "") == "allow";
  }
  RunResult refused = login();
  INFO(refused.err << gate.Log());
  CHECK(refused.exit_code != 0);
  CHECK(refused.err.find("audit log") != std::string::npos);  // the client is told why
  CHECK(gate.Log().find("the audit log cannot be written") != std::string::npos);
  CHECK(gate.Log().find("No space left on device") != std::string::npos);
  // Nothing is relayed unaudited: new logins fail and so do new channels of
  // a connection that was already in.
  RunResult jump = Run(client.SshJ("alice", gate.port(), target.port(), {"echo", "ok"}));
  CHECK(jump.out.empty());
  CHECK(!ForwardWorks(fwd.port));
  // Nothing allowed got in after the disk filled. (A short line may still
  // fit in the slack of the log file's last page, so lines are not counted.)
  auto allowed = [&] {
    size_t n = 0;
    for (const auto& e : JsonLines(audit)) {
      n += e.value("type", "") == "channel_open" && e.value("decision", "") == "allow";
    }
    return n;
  };
  CHECK(allowed() == allowed_full);
  REQUIRE(WaitUntil([&] { return Metric(metrics, "hopgate_audit_log_healthy") == "0"; }, 10'000));
  CHECK(std::stod("0" + Metric(metrics, "hopgate_audit_disk_free_bytes")) == 0);

  // Space returns: service resumes by itself, without a restart.
  REQUIRE(unlink((fs + "/filler").c_str()) == 0);
  REQUIRE(WaitUntil([&] { return Metric(metrics, "hopgate_audit_log_healthy") == "1"; }, 15'000));
  RunResult back = Run(client.SshJ("alice", gate.port(), target.port(), {"echo", "ok"}));
  INFO(back.err);
  CHECK(back.out == "ok\n");
  CHECK(ForwardWorks(fwd.port));
  CHECK(gate.Log().find("audit log is writable again") != std::string::npos);
  CHECK(std::stod("0" + Metric(metrics, "hopgate_audit_disk_free_bytes")) > 1'000'000);
  // Every line of the log is whole and the chain is intact.
  RunResult verify =
      Run({Gate::HopctlBinary(), "audit", "verify", "--config", gate.config_path(), audit});
  INFO(verify.out << verify.err);
  CHECK(verify.exit_code == 0);
}

namespace {

const char* const kPython = "/usr/bin/python3";

// A gateway for flood tests: alice may reach nothing but an echo target
// that is never dialled; failed logins bring no per-source penalty.
struct FloodWorld {
  std::string dir = MakeTempDir("faults_flood");
  KeyPair alice = GenerateKey(dir, "alice");
  KeyPair mallory = GenerateKey(dir, "mallory");
  std::unique_ptr<Gate> gate;

  FloodWorld() {
    gate = std::make_unique<Gate>(
        dir,
        "version: 1\nusers:\n  alice:\n    keys: [\"" + alice.public_line + "\"]\n"
        "rules:\n  - name: alice-nowhere\n    users: [alice]\n"
        "    permit_open: [\"127.0.0.1:1\"]\n",
        "metrics:\n  listen: \"127.0.0.1:0\"\nlimits:\n  per_source_penalty: off\n");
  }

  // Stops the gateway (SIGTERM), so every summary still being counted is
  // written, and returns its audit log.
  std::vector<nlohmann::json> StopAndRead() {
    gate->process().Signal(SIGTERM);
    std::optional<int> status = gate->process().Wait(20'000);
    INFO(gate->Log());
    CHECK(status == 0);
    return gate->Audit();
  }
};

struct Tally {
  size_t written = 0;     // refusals written one by one
  uint64_t counted = 0;   // in audit_suppressed summaries
  size_t summaries = 0;
  nlohmann::json last_summary;
};

Tally Count(const std::vector<nlohmann::json>& events, const std::string& kind,
            const std::function<bool(const nlohmann::json&)>& is_refusal) {
  Tally t;
  for (const auto& e : events) {
    if (is_refusal(e)) ++t.written;
    if (e.value("type", "") == "audit_suppressed" && e.value("kind", "") == kind) {
      ++t.summaries;
      t.counted += e.value("count", 0ull);
      t.last_summary = e;
    }
  }
  return t;
}

}  // namespace

TEST_CASE("1000 refused channels on one connection: 10 written, the rest in one summary") {
  FloodWorld w;
  int metrics = w.gate->MetricsPort();
  RunResult r = Run({kPython, HostileClient(), "open", "--port", Port(w.gate->port()), "--user",
                     "alice", "--key", w.alice.private_path, "--dest", "127.0.0.1:9", "--count",
                     "1000"},
                    "", 50'000);
  INFO(r.out << w.gate->Log());  // (paramiko's stderr has a line per refusal)
  auto result = LastJson(r.out);
  REQUIRE(result.is_object());
  CHECK(result["refused"] == 1000);
  CHECK(Metric(metrics, "hopgate_audit_suppressed_total{kind=\"channel_refused\"}") == "990");
  REQUIRE(w.gate->WaitForAudit("connection_close", "user", "alice", 10'000));
  auto events = w.StopAndRead();
  // The log grew by a bounded number of lines, not one per refusal.
  CHECK(events.size() < 40);
  Tally t = Count(events, "channel_refused", [](const nlohmann::json& e) {
    return e.value("type", "") == "channel_open" && e.value("decision", "") == "deny";
  });
  INFO(t.last_summary.dump());
  CHECK(t.written == 10);
  CHECK(t.written + t.counted == 1000);
  REQUIRE(t.summaries == 1);
  const auto& s = t.last_summary;
  CHECK(s["scope"] == "connection");
  CHECK(s["source"] == "127.0.0.1");
  CHECK(!s.value("connection", "").empty());
  CHECK(!s.value("sample_reason", "").empty());
  CHECK(s.value("first", "") <= s.value("last", ""));
  std::string log = w.gate->Log();
  CHECK(log.find("counted in audit_suppressed events") != std::string::npos);
  // The process log is spared too: a line per refusal written, not per refusal.
  size_t lines = 0;
  for (size_t at = log.find("127.0.0.1:9 refused"); at != std::string::npos;
       at = log.find("127.0.0.1:9 refused", at + 1)) {
    ++lines;
  }
  CHECK(lines == 10);
}

TEST_CASE("a failed-login flood from one source: 50 written, the rest summed per source") {
  FloodWorld w;
  int metrics = w.gate->MetricsPort();
  RunResult r = Run({kPython, HostileClient(), "logins", "--port", Port(w.gate->port()), "--user",
                     "alice", "--key", w.mallory.private_path, "--count", "80"},
                    "", 50'000);
  INFO(r.out << r.err << w.gate->Log());
  auto result = LastJson(r.out);
  REQUIRE(result.is_object());
  CHECK(result["refused"] == 80);
  CHECK(Metric(metrics, "hopgate_audit_suppressed_total{kind=\"auth_failure\"}") == "30");
  auto events = w.StopAndRead();
  Tally t = Count(events, "auth_failure", [](const nlohmann::json& e) {
    return e.value("type", "") == "auth" && e.value("result", "") == "failure";
  });
  INFO(t.last_summary.dump());
  CHECK(t.written == 50);
  CHECK(t.written + t.counted == 80);
  REQUIRE(t.summaries >= 1);
  CHECK(t.last_summary["scope"] == "source");
  CHECK(t.last_summary["source"] == "127.0.0.1");
  CHECK(!t.last_summary.value("sample_reason", "").empty());
}
