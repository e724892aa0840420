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
namespace detail {

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

[[noreturn]] void Fatal(const std::string& what) {
  throw std::runtime_error("test harness: " + what);
}

std::vector<char*> Argv(const std::vector<std::string>& argv) {
  std::vector<char*> out;
  for (const auto& a : argv) out.push_back(const_cast<char*>(a.c_str()));
  out.push_back(nullptr);
  return out;
}

std::string Absolute(const std::string& path) {
  char buf[PATH_MAX];
  if (realpath(path.c_str(), buf) == nullptr) Fatal("cannot resolve " + path);
  return buf;
}

std::string RunfilePath(const char* env_name, const char* fallback) {
  const char* p = getenv(env_name);
  return Absolute(p != nullptr ? p : fallback);
}

}  // namespace detail

using namespace detail;

std::string MakeTempDir(const std::string& prefix) {
  static std::atomic<int> counter{0};
  const char* base = getenv("TEST_TMPDIR");
  std::string root = base != nullptr ? base : "/tmp";
  std::string path = root + "/" + prefix + "-" + std::to_string(getpid()) + "-" +
                     std::to_string(counter++);
  if (mkdir(path.c_str(), 0700) != 0 && errno != EEXIST) Fatal("mkdir " + path);
  return path;
}

int FreePort() {
  // Random ports from a high range, checked by binding, so parallel test
  // binaries rarely collide.
  static std::mt19937 rng(static_cast<unsigned>(getpid() ^ NowMs()));
  for (int attempt = 0; attempt < 200; ++attempt) {
    int port = 20000 + static_cast<int>(rng() % 30000);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool ok = bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    close(fd);
    if (ok) return port;
  }
  Fatal("no free port");
}

bool WaitForPort(int port, int timeout_ms) {
  int64_t deadline = NowMs() + timeout_ms;
  while (NowMs() < deadline) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool ok = connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    close(fd);
    if (ok) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

int ListeningPort(const std::string& log, Process& proc) {
  static const std::regex kListening(R"(\{"listening": (\d+)\})");
  int64_t deadline = NowMs() + 10'000;
  std::smatch m;
  std::string text;
  while (!std::regex_search(text = ReadFile(log), m, kListening)) {
    if (NowMs() > deadline || !proc.Running()) Fatal("server did not start: " + text);
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return std::stoi(m[1].str());
}

bool ListensOn(pid_t pid, int port) {
  // /proc/net/tcp: "sl local_address rem_address st ... inode"; 0A = LISTEN.
  char local[32];
  snprintf(local, sizeof local, "0100007F:%04X", port);
  std::istringstream tcp(ReadFile("/proc/net/tcp"));
  std::string line, inode;
  while (std::getline(tcp, line)) {
    std::istringstream f(line);
    std::string sl, loc, rem, st, skip;
    if (!(f >> sl >> loc >> rem >> st)) continue;
    if (loc != local || st != "0A") continue;
    for (int i = 0; i < 5; ++i) f >> skip;  // tx:rx tr:when retrnsmt uid timeout
    f >> inode;
    break;
  }
  if (inode.empty()) return false;
  std::string want = "socket:[" + inode + "]";
  std::string fds = "/proc/" + std::to_string(pid) + "/fd";
  DIR* d = opendir(fds.c_str());
  if (d == nullptr) return false;
  bool found = false;
  while (dirent* e = readdir(d)) {
    char target[128];
    ssize_t n = readlink((fds + "/" + e->d_name).c_str(), target, sizeof target - 1);
    if (n > 0 && std::string(target, n) == want) {
      found = true;
      break;
    }
  }
  closedir(d);
  return found;
}

OnPort StartOnFreePort(const std::function<std::vector<std::string>(int port)>& argv_for,
                       const std::string& log, int timeout_ms) {
  for (int attempt = 0;; ++attempt) {
    OnPort out;
    out.port = FreePort();
    WriteFile(log, "");
    out.proc = std::make_unique<Process>(argv_for(out.port), log);
    Process& p = *out.proc;
    int port = out.port;
    WaitUntil([&] { return !p.Running() || ListensOn(p.pid(), port); }, timeout_ms);
    if (p.Running() && ListensOn(p.pid(), port)) return out;
    std::string why = ReadFile(log);
    if (why.find("Address already in use") == std::string::npos || attempt >= 5) {
      Fatal("could not start on port " + std::to_string(port) + ": " + why);
    }
  }
}

OnPort StartHttpServer(const std::string& dir, const std::string& log) {
  OnPort out;
  out.proc = std::make_unique<Process>(
      std::vector<std::string>{"python3", "-u", "-m", "http.server", "0", "--bind", "127.0.0.1",
                               "--directory", dir},
      log);
  static const std::regex kServing(R"(Serving HTTP on 127\.0\.0\.1 port (\d+))");
  int64_t deadline = NowMs() + 10'000;
  std::smatch m;
  std::string text;
  while (!std::regex_search(text = ReadFile(log), m, kServing)) {
    if (NowMs() > deadline || !out.proc->Running()) Fatal("http.server did not start: " + text);
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  out.port = std::stoi(m[1].str());
  return out;
}

bool WaitUntil(const std::function<bool()>& condition, int timeout_ms) {
  int64_t deadline = NowMs() + timeout_ms;
  while (!condition()) {
    if (NowMs() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  return true;
}

RunResult Run(const std::vector<std::string>& argv, const std::string& input, int timeout_ms) {
  int in_pipe[2], out_pipe[2], err_pipe[2];
  if (pipe2(in_pipe, O_CLOEXEC) || pipe2(out_pipe, O_CLOEXEC) || pipe2(err_pipe, O_CLOEXEC)) {
    Fatal("pipe");
  }
  auto args = Argv(argv);
  pid_t pid = fork();
  if (pid < 0) Fatal("fork");
  if (pid == 0) {
    dup2(in_pipe[0], 0);
    dup2(out_pipe[1], 1);
    dup2(err_pipe[1], 2);
    setpgid(0, 0);
    execvp(args[0], args.data());
    _exit(127);
  }
  close(in_pipe[0]);
  close(out_pipe[1]);
  close(err_pipe[1]);
  RunResult r;
  size_t written = 0;
  int in_fd = in_pipe[1];
  if (input.empty()) {
    close(in_fd);
    in_fd = -1;
  } else {
    fcntl(in_fd, F_SETFL, O_NONBLOCK);
  }
  int64_t deadline = NowMs() + timeout_ms;
  bool out_open = true, err_open = true;
  while (out_open || err_open) {
    pollfd fds[3];
    int n = 0;
    int out_i = -1, err_i = -1, in_i = -1;
    if (out_open) { fds[n] = {out_pipe[0], POLLIN, 0}; out_i = n++; }
    if (err_open) { fds[n] = {err_pipe[0], POLLIN, 0}; err_i = n++; }
    if (in_fd >= 0) { fds[n] = {in_fd, POLLOUT, 0}; in_i = n++; }
    int64_t left = deadline - NowMs();
    if (left <= 0) {
      r.timed_out = true;
      kill(-pid, SIGKILL);
      kill(pid, SIGKILL);
      break;
    }
    if (poll(fds, n, static_cast<int>(left)) < 0 && errno != EINTR) break;
    char buf[65536];
    auto drain = [&](int idx, int fd, std::string* dst, bool* open) {
      if (idx >= 0 && (fds[idx].revents & (POLLIN | POLLHUP | POLLERR))) {
        ssize_t k = read(fd, buf, sizeof buf);
        if (k <= 0) {
          *open = false;
        } else {
          dst->append(buf, static_cast<size_t>(k));
        }
      }
    };
    drain(out_i, out_pipe[0], &r.out, &out_open);
    drain(err_i, err_pipe[0], &r.err, &err_open);
    if (in_i >= 0 && (fds[in_i].revents & (POLLOUT | POLLERR | POLLHUP))) {
      ssize_t k = write(in_fd, input.data() + written, input.size() - written);
      if (k > 0) written += static_cast<size_t>(k);
      if (k < 0 || written == input.size()) {
        close(in_fd);
        in_fd = -1;
      }
    }
  }
  if (in_fd >= 0) close(in_fd);
  close(out_pipe[0]);
  close(err_pipe[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!r.timed_out && WIFEXITED(status)) r.exit_code = WEXITSTATUS(status);
  return r;
}

Process::Process(const std::vector<std::string>& argv, const std::string& log_path) {
  auto args = Argv(argv);
  int log = open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log < 0) Fatal("open " + log_path);
  pid_ = fork();
  if (pid_ < 0) Fatal("fork");
  if (pid_ == 0) {
    int devnull = open("/dev/null", O_RDONLY);
    dup2(devnull, 0);
    dup2(log, 1);
    dup2(log, 2);
    execvp(args[0], args.data());
    _exit(127);
  }
  close(log);
}

Process::~Process() {
  if (Running()) {
    kill(pid_, SIGKILL);
    Wait(5000);
  }
}

void Process::Signal(int sig) {
  if (Running()) kill(pid_, sig);
}

bool Process::Running() {
  if (status_) return false;
  int status;
  pid_t r = waitpid(pid_, &status, WNOHANG);
  if (r == pid_) {
    status_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return false;
  }
  return r == 0;
}

std::optional<int> Process::Wait(int timeout_ms) {
  int64_t deadline = NowMs() + timeout_ms;
  while (Running()) {
    if (NowMs() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return status_;
}

void WriteFile(const std::string& path, const std::string& content, int mode) {
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) Fatal("write " + path + ": " + strerror(errno));
  size_t off = 0;
  while (off < content.size()) {
    ssize_t n = write(fd, content.data() + off, content.size() - off);
    if (n <= 0) Fatal("write " + path);
    off += static_cast<size_t>(n);
  }
  fchmod(fd, static_cast<mode_t>(mode));
  close(fd);
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string Sha256OfFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return "missing:" + path;
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr);
  std::vector<char> buf(1 << 20);
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    EVP_DigestUpdate(ctx, buf.data(), static_cast<size_t>(in.gcount()));
  }
  unsigned char md[32];
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx, md, &len);
  EVP_MD_CTX_free(ctx);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned i = 0; i < len; ++i) {
    out.push_back(kHex[md[i] >> 4]);
    out.push_back(kHex[md[i] & 15]);
  }
  return out;
}

void WriteRandomFile(const std::string& path, size_t size) {
  std::ofstream out(path, std::ios::binary);
  std::mt19937_64 rng(static_cast<uint64_t>(NowMs()));
  std::vector<uint64_t> block(1 << 17);
  size_t left = size;
  while (left > 0) {
    for (auto& w : block) w = rng();
    size_t n = std::min(left, block.size() * sizeof(uint64_t));
    out.write(reinterpret_cast<const char*>(block.data()), static_cast<std::streamsize>(n));
    left -= n;
  }
}

std::string KeyFingerprint(const std::string& public_path) {
  RunResult r = Run({"ssh-keygen", "-l", "-E", "sha256", "-f", public_path});
  if (r.exit_code != 0) Fatal("ssh-keygen -l " + public_path + ": " + r.err);
  std::istringstream in(r.out);
  std::string bits, fp;
  in >> bits >> fp;
  return fp;
}

KeyPair GenerateKey(const std::string& dir, const std::string& name, const std::string& type) {
  KeyPair k;
  k.private_path = dir + "/" + name;
  k.public_path = k.private_path + ".pub";
  std::vector<std::string> argv = {"ssh-keygen", "-q", "-t", type, "-N", "", "-C", name,
                                   "-f", k.private_path};
  if (type == "rsa") {
    argv.push_back("-b");
    argv.push_back("2048");
  }
  RunResult r = Run(argv);
  if (r.exit_code != 0) Fatal("ssh-keygen failed: " + r.err);
  k.public_line = ReadFile(k.public_path);
  while (!k.public_line.empty() && k.public_line.back() == '\n') k.public_line.pop_back();
  return k;
}

}  // namespace hopgate::testing
