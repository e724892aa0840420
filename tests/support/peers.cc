// The peers every integration test starts: a real OpenSSH sshd (retried on
// a lost port race, with root's dotfiles hidden), hopgate itself (Gate: its
// config, log, audit log and a clean exit checked at teardown) and the
// OpenSSH client's config (Client).
#include "tests/support/harness.h"
#include "tests/support/harness_detail.h"

#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <thread>


namespace hopgate::testing {

using namespace detail;

Sshd::Sshd(const std::string& dir, const std::vector<std::string>& authorized_keys,
           const std::string& extra_config) {
  struct stat st;
  if (stat("/run/sshd", &st) != 0) {
    Fatal("/run/sshd is missing: sshd needs it (create it with: mkdir -p /run/sshd)");
  }
  log_ = dir + "/sshd.log";
  KeyPair host = GenerateKey(dir, "sshd_host_key");
  host_key_line_ = host.public_line;
  std::string ak;
  for (const auto& k : authorized_keys) ak += k + "\n";
  WriteFile(dir + "/authorized_keys", ak, 0600);
  // Logging in as root (the only user every machine has) needs root, and
  // so does the mount namespace that hides root's shell start-up files.
  std::vector<std::string> dotfiles;
  if (geteuid() == 0) {
    if (const struct passwd* pw = getpwuid(0); pw != nullptr && pw->pw_dir[0] == '/') {
      for (const char* f : {".bashrc", ".profile", ".bash_profile", ".bash_login", ".bash_logout"}) {
        std::string path = std::string(pw->pw_dir) + "/" + f;
        if (access(path.c_str(), F_OK) == 0) dotfiles.push_back(path);
      }
    }
  }
  // sshd needs a fixed Port: StartOnFreePort retries on a lost race.
  OnPort started = StartOnFreePort(
      [&](int port) {
        WriteFile(dir + "/sshd_config",
                  "Port " + std::to_string(port) +
                      "\nListenAddress 127.0.0.1\n"
                      "HostKey " + host.private_path +
                      "\nAuthorizedKeysFile " + dir + "/authorized_keys\n"
                      "PidFile none\nStrictModes no\nUsePAM no\n"
                      "PasswordAuthentication no\nKbdInteractiveAuthentication no\n"
                      "PermitRootLogin prohibit-password\nLogLevel VERBOSE\n"
                      "MaxStartups 100:30:200\nMaxSessions 100\n"
                      "Subsystem sftp internal-sftp\n" + extra_config);
        std::vector<std::string> sshd = {"/usr/sbin/sshd", "-D", "-e", "-f", dir + "/sshd_config"};
        if (dotfiles.empty()) return sshd;
        // The sessions this sshd starts must not run the machine's dotfiles:
        // a login user's ~/.bashrc can do anything (on CI machines root's runs
        // `pyenv rehash`, which waits up to 60 s on a lock a killed session
        // left behind). sshd runs in its own mount namespace where they are
        // empty.
        std::string script;
        for (const auto& f : dotfiles) script += "mount --bind /dev/null '" + f + "' && ";
        script += "exec";
        for (const auto& a : sshd) script += " '" + a + "'";
        return std::vector<std::string>{"unshare", "--mount", "--propagation", "private",
                                        "--",      "sh",      "-c",            script};
      },
      log_, 10'000);
  proc_ = std::move(started.proc);
  port_ = started.port;
}

Sshd::~Sshd() {
  proc_->Signal(SIGTERM);
  proc_->Wait(5000);
}

std::string Gate::Binary() { return RunfilePath("HOPGATE_BIN", "proxy/daemon/hopgate"); }
std::string Gate::HopctlBinary() { return RunfilePath("HOPCTL_BIN", "hopctl/hopctl"); }

Gate::Gate(const std::string& dir, const std::string& policy_yaml,
           const std::string& extra_config, bool start)
    : dir_(dir) {
  port_ = 0;  // hopgate picks a free port and logs it (see Start)
  config_ = dir + "/hopgate.yaml";
  policy_ = dir + "/policy.yaml";
  audit_ = dir + "/audit.jsonl";
  log_ = dir + "/hopgate.log";
  WriteFile(policy_, policy_yaml, 0600);
  // Tests stop their gateway with SIGTERM and expect it gone at once: no
  // drain (limits.drain_timeout 0s) unless the test sets one.
  std::string extra = extra_config;
  if (!extra.empty() && extra.back() != '\n') extra += '\n';
  if (extra.find("drain_timeout") == std::string::npos) {
    size_t at = extra.rfind("limits:\n", 0) == 0 ? 0 : extra.find("\nlimits:\n");
    if (at == std::string::npos) {
      extra += "limits:\n  drain_timeout: 0s\n";
    } else {
      at = extra.find('\n', at + 1) + 1;
      extra.insert(at, "  drain_timeout: 0s\n");
    }
  }
  std::string cfg = "version: 1\nlisten: [\"127.0.0.1:0\"]\nhost_keys: [" + dir + "/host_ed25519]\npolicy: " + policy_ +
                    "\naudit:\n  log: " + audit_ + "\n" + extra;
  WriteFile(config_, cfg, 0600);
  if (start) Start();
}

void Gate::Start() {
  std::vector<std::string> argv = launcher_;
  for (const auto& a : {Binary(), std::string("--config"), config_}) argv.push_back(a);
  const size_t before = ReadFile(log_).size();
  proc_ = std::make_unique<Process>(argv, log_);
  // The port comes from the log line: the config asks for port 0, so no
  // other test can take it between choosing and binding. Waiting for the
  // line rather than probing the port also keeps probes out of the audit log.
  int64_t deadline = NowMs() + 10'000;
  static const std::regex kListening(R"(listening on 127\.0\.0\.1:(\d+))");
  std::smatch m;
  std::string log;
  // A restarted gateway appends to the same log: read only this run's part.
  auto this_run = [&] {
    std::string all = ReadFile(log_);
    return all.size() >= before ? all.substr(before) : all;
  };
  while (!std::regex_search(log = this_run(), m, kListening)) {
    if (NowMs() > deadline || !proc_->Running()) Fatal("hopgate did not start: " + ReadFile(log_));
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  port_ = std::stoi(m[1].str());
}

int Gate::MetricsPort() const {
  static const std::regex kMetrics(R"(metrics on http://127\.0\.0\.1:(\d+)/metrics)");
  std::string log = ReadFile(log_);
  int port = 0;  // the last run's, if the gateway was restarted
  for (std::sregex_iterator i(log.begin(), log.end(), kMetrics), end; i != end; ++i) {
    port = std::stoi((*i)[1].str());
  }
  return port;
}

std::string Gate::ScrapeMetrics() const {
  return Run({"curl", "-s", "http://127.0.0.1:" + std::to_string(MetricsPort()) + "/metrics"}).out;
}

double Gate::MetricValue(const std::string& scrape, const std::string& series) {
  std::istringstream in(scrape);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(series + " ", 0) == 0) return std::stod(line.substr(series.size() + 1));
  }
  return -1;
}

Gate::~Gate() {
  if (!proc_) return;
  bool was_running = proc_->Running();
  proc_->Signal(SIGTERM);
  std::optional<int> status = proc_->Wait(15'000);
  // Every test is also a check of orderly shutdown, and under
  // --config=asan/tsan of memory and thread safety: a sanitizer report
  // fails the test even if everything it asserted held.
  std::string log = ReadFile(log_);
  for (const char* report : {"ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                             "WARNING: ThreadSanitizer", "runtime error:"}) {
    size_t at = log.find(report);
    if (at != std::string::npos) {
      FAIL_CHECK("hopgate " << report << " (" << log_ << "):\n" << log.substr(at, 6000));
      return;
    }
  }
  if (was_running && status != 0) {
    FAIL_CHECK("hopgate did not exit cleanly on SIGTERM ("
               << (status ? "exit status " + std::to_string(*status) : std::string("still running"))
               << "):\n" << log.substr(log.size() > 4000 ? log.size() - 4000 : 0));
  }
}

std::vector<nlohmann::json> Gate::Audit() const {
  std::vector<nlohmann::json> out;
  std::string text = ReadFile(audit_);
  // A line still being written (read between the kernel's page copies) has
  // no newline yet: only whole lines count.
  text.erase(text.rfind('\n') == std::string::npos ? 0 : text.rfind('\n') + 1);
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    out.push_back(nlohmann::json::parse(line));  // throws on a malformed line
  }
  return out;
}

std::vector<nlohmann::json> Gate::AuditEvents(const std::string& type) const {
  std::vector<nlohmann::json> out;
  for (auto& e : Audit()) {
    if (e.value("type", "") == type) out.push_back(e);
  }
  return out;
}

bool Gate::WaitForAudit(const std::string& type, const std::string& field,
                        const std::string& value, int timeout_ms) {
  int64_t deadline = NowMs() + timeout_ms;
  while (NowMs() < deadline) {
    for (const auto& e : AuditEvents(type)) {
      if (field.empty()) return true;
      if (e.contains(field) && e[field].is_string() && e[field] == value) return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  return false;
}

Client::Client(const std::string& dir, const std::string& identity_path,
               const std::string& extra_config) {
  config_ = dir + "/ssh_config";
  WriteFile(config_,
            "Host *\n"
            "  IdentityFile " + identity_path + "\n"
            "  IdentitiesOnly yes\n"
            "  IdentityAgent none\n"
            "  StrictHostKeyChecking no\n"
            "  UserKnownHostsFile /dev/null\n"
            "  GlobalKnownHostsFile /dev/null\n"
            "  LogLevel ERROR\n"
            "  BatchMode yes\n"
            "  ConnectTimeout 20\n" +
                extra_config,
            0600);
}

std::vector<std::string> Client::SshJ(const std::string& gate_user, int gate_port,
                                      int target_port, const std::vector<std::string>& command,
                                      const std::string& target_host) const {
  std::vector<std::string> argv = {"ssh", "-F", config_, "-J",
                                   gate_user + "@127.0.0.1:" + std::to_string(gate_port),
                                   "-p", std::to_string(target_port), "root@" + target_host};
  argv.insert(argv.end(), command.begin(), command.end());
  return argv;
}

std::vector<std::string> Client::ScpJ(const std::string& gate_user, int gate_port,
                                      int target_port, const std::string& from,
                                      const std::string& to) const {
  return {"scp", "-q", "-F", config_, "-J",
          gate_user + "@127.0.0.1:" + std::to_string(gate_port), "-P",
          std::to_string(target_port), from, to};
}

std::vector<std::string> Client::SshGate(const std::string& gate_user, int gate_port,
                                         const std::vector<std::string>& command) const {
  std::vector<std::string> argv = {"ssh", "-F", config_, "-p", std::to_string(gate_port),
                                   gate_user + "@127.0.0.1"};
  argv.insert(argv.end(), command.begin(), command.end());
  return argv;
}

int ConnectRaw(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

double SecondsUntilClosed(int fd, int max_seconds) {
  auto start = std::chrono::steady_clock::now();
  char buf[4096];
  for (;;) {
    double spent = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (spent >= max_seconds) return spent;
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 200) > 0 && read(fd, buf, sizeof buf) <= 0) {
      return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    }
  }
}

std::string HostileClient() {
  const char* src = getenv("TEST_SRCDIR");
  std::string rel = "tests/support/hostile_client.py";
  if (src != nullptr) {
    std::string p = std::string(src) + "/hopgate/" + rel;
    if (access(p.c_str(), R_OK) == 0) return p;
  }
  return rel;
}

nlohmann::json LastJson(const std::string& text) {
  std::istringstream in(text);
  std::string line, last;
  while (std::getline(in, line)) {
    if (!line.empty() && line[0] == '{') last = line;
  }
  return last.empty() ? nlohmann::json() : nlohmann::json::parse(last);
}

}  // namespace hopgate::testing
