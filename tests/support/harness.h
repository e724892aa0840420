// Test harness for integration tests against real OpenSSH peers: temp dirs,
// free loopback ports, child processes with timeouts, a real sshd target, the
// hopgate daemon under test, ssh/scp client command lines and audit-log
// reading. Everything lives under $TEST_TMPDIR and 127.0.0.1. Not thread-safe
// except Run(), which tests call from several threads.
#pragma once

#include <sys/types.h>

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace hopgate::testing {

// A fresh directory under $TEST_TMPDIR (or /tmp).
std::string MakeTempDir(const std::string& prefix);
// A TCP port on 127.0.0.1 that was free a moment ago.
int FreePort();
bool WaitForPort(int port, int timeout_ms);
// For helpers started on port 0 that print {"listening": PORT} once bound
// (tests/support/hostile_client.py serve): waits for that line in `log` and
// returns the port; fails the test if `proc` exits first or 10 s pass.
class Process;
int ListeningPort(const std::string& log, Process& proc);
// True if process `pid` itself holds a socket listening on 127.0.0.1:`port`
// (read from /proc), so a port another process took is never mistaken for
// the one a test started.
bool ListensOn(pid_t pid, int port);

// A program that must be given a fixed port (ssh -L, sshd): starts
// `argv_for(port)` on a free port and waits until that process listens on
// it; if it exits first because the port was taken in the meantime (a lost
// race with a test running alongside), tries again with another port.
// Fails the test if it cannot start for any other reason.
struct OnPort {
  std::unique_ptr<Process> proc;
  int port = 0;
};
OnPort StartOnFreePort(const std::function<std::vector<std::string>(int port)>& argv_for,
                       const std::string& log, int timeout_ms = 15'000);

// python3 -m http.server on a port of its own (port 0), serving `dir`.
OnPort StartHttpServer(const std::string& dir, const std::string& log);
// Polls `condition` every 25 ms until it holds or `timeout_ms` passes.
bool WaitUntil(const std::function<bool()>& condition, int timeout_ms);

struct RunResult {
  int exit_code = -1;  // -1 when killed by a signal or timed out
  bool timed_out = false;
  std::string out;
  std::string err;
};
// Runs a command to completion (or kills it at `timeout_ms`).
RunResult Run(const std::vector<std::string>& argv, const std::string& input = "",
              int timeout_ms = 60'000);

class Process {
 public:
  // Starts `argv` with stdout and stderr appended to `log_path`.
  Process(const std::vector<std::string>& argv, const std::string& log_path);
  ~Process();  // SIGKILLs if still running
  pid_t pid() const { return pid_; }
  void Signal(int sig);
  // Waits for exit; returns the exit code (or 128+signal), nullopt on timeout.
  std::optional<int> Wait(int timeout_ms);
  bool Running();

 private:
  pid_t pid_ = -1;
  std::optional<int> status_;
};

void WriteFile(const std::string& path, const std::string& content, int mode = 0644);
std::string ReadFile(const std::string& path);
std::string Sha256OfFile(const std::string& path);
// Writes `size` random bytes.
void WriteRandomFile(const std::string& path, size_t size);

struct KeyPair {
  std::string private_path;
  std::string public_path;
  std::string public_line;  // "ssh-ed25519 AAAA... comment"
};

// "SHA256:..." as `ssh-keygen -l` prints it for a public key file.
std::string KeyFingerprint(const std::string& public_path);

KeyPair GenerateKey(const std::string& dir, const std::string& name,
                    const std::string& type = "ed25519");

// A real OpenSSH sshd on 127.0.0.1, accepting `authorized` keys for root.
class Sshd {
 public:
  Sshd(const std::string& dir, const std::vector<std::string>& authorized_keys,
       const std::string& extra_config = "");
  ~Sshd();
  int port() const { return port_; }
  const std::string& log_path() const { return log_; }
  const std::string& host_key_line() const { return host_key_line_; }
  // The listening sshd (its connections are its child processes).
  pid_t pid() const { return proc_->pid(); }

 private:
  int port_;
  std::string log_;
  std::string host_key_line_;
  std::unique_ptr<Process> proc_;
};

// hopgate under test, with a generated config around the given policy.
class Gate {
 public:
  // `extra_config` is appended to the generated YAML config.
  Gate(const std::string& dir, const std::string& policy_yaml,
       const std::string& extra_config = "", bool start = true);
  ~Gate();
  void Start();
  // Runs hopgate under a launcher, e.g. {"prlimit", "--fsize=4096", "--"};
  // call before Start() (construct with start=false).
  void set_launcher(std::vector<std::string> launcher) { launcher_ = std::move(launcher); }
  int port() const { return port_; }
  // The port metrics are served on, from the log (configure metrics.listen
  // with port 0); 0 if the gateway has not said.
  int MetricsPort() const;
  // A scrape of its /metrics (curl), and the value of one series in it
  // (the name with its labels, as printed), or -1 if absent.
  std::string ScrapeMetrics() const;
  static double MetricValue(const std::string& scrape, const std::string& series);
  const std::string& dir() const { return dir_; }
  const std::string& config_path() const { return config_; }
  const std::string& policy_path() const { return policy_; }
  const std::string& audit_path() const { return audit_; }
  const std::string& log_path() const { return log_; }
  Process& process() { return *proc_; }
  std::vector<nlohmann::json> Audit() const;
  // Events of `type` (and, if given, with field == value).
  std::vector<nlohmann::json> AuditEvents(const std::string& type) const;
  // Waits until an audit event of `type` satisfying `field == value` appears.
  bool WaitForAudit(const std::string& type, const std::string& field,
                    const std::string& value, int timeout_ms);
  std::string Log() const { return ReadFile(log_); }

  static std::string Binary();   // path of the hopgate binary under test
  static std::string HopctlBinary();

 private:
  std::string dir_, config_, policy_, audit_, log_;
  std::vector<std::string> launcher_;
  int port_;
  std::unique_ptr<Process> proc_;
};

// An OpenSSH client configuration in its own file: identity, no host-key
// prompts, batch mode. Command lines use `-F` so jump hosts see it too.
class Client {
 public:
  Client(const std::string& dir, const std::string& identity_path,
         const std::string& extra_config = "");
  // ssh -F cfg -J user@127.0.0.1:gate_port -p target_port root@127.0.0.1 cmd...
  std::vector<std::string> SshJ(const std::string& gate_user, int gate_port, int target_port,
                                const std::vector<std::string>& command,
                                const std::string& target_host = "127.0.0.1") const;
  std::vector<std::string> ScpJ(const std::string& gate_user, int gate_port, int target_port,
                                const std::string& from, const std::string& to) const;
  // ssh -F cfg -p gate_port user@127.0.0.1 cmd... (a session on the gateway)
  std::vector<std::string> SshGate(const std::string& gate_user, int gate_port,
                                   const std::vector<std::string>& command = {}) const;
  const std::string& config_path() const { return config_; }

 private:
  std::string config_;
};

// A plain TCP connection to 127.0.0.1:`port` (no SSH), or -1.
int ConnectRaw(int port);
// Reads `fd` until the peer closes it (or `max_seconds` pass); returns how
// long that took.
double SecondsUntilClosed(int fd, int max_seconds);
// The path of tests/support/hostile_client.py (run with /usr/bin/python3).
std::string HostileClient();
// The last JSON object a helper printed on a line of its own, or null.
nlohmann::json LastJson(const std::string& text);

}  // namespace hopgate::testing
