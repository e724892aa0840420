// The signer keeper and its worker (see signer.h): the only code that holds
// the upstream CA key and the audit signing key.
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

#include "common/wire.h"
#include "proxy/base/logging.h"
#include "proxy/base/privileges.h"
#include "proxy/config/files.h"
#include "proxy/signer/signing_key.h"
#include "proxy/signer/channel.h"
#include "proxy/signer/handler.h"
#include "proxy/signer/signer.h"

namespace hopgate::proxy::signer {
namespace {

// The keeper's announcement of a worker (or of why there is none).
std::string Hello(pid_t worker, const std::string& ca_public, const std::string& audit_public,
                  const std::string& error) {
  WireWriter w;
  w.PutU32(static_cast<uint32_t>(worker));
  w.PutString(ca_public);
  w.PutString(audit_public);
  w.PutString(error);
  return w.Take();
}

// Reads the config, the keys (as root: they stay 0600 root) and the policy.
Status LoadAll(const std::string& config_path, HandlerOptions* o,
               std::shared_ptr<const policy::Policy>* policy, std::string* user) {
  ConfigLoad loaded = LoadConfig(config_path);
  if (!loaded.config) return Error{loaded.diagnostics.ToString()};
  const Config config = *loaded.config;
  *user = config.user;
  auto ca = LoadUpstreamCa(config);
  if (!ca) return Error{ca.message()};
  o->user_ca = std::move(*ca);
  if (!config.audit_signing_key.empty()) {
    bool generated = false;
    auto key = LoadOrGenerateSigningKey(config.audit_signing_key, &generated);
    if (!key) return Error{config.Where("audit.signing_key") + ": " + key.message()};
    o->audit_key = std::move(*key);
    if (generated) spdlog::info("signer: generated {}", config.audit_signing_key);
  }
  o->max_validity_seconds = config.upstream_max_cert_validity;
  o->audit_origin = config.audit_origin;
  o->now_seconds = [] { return static_cast<int64_t>(time(nullptr)); };
  o->load_policy = [config]() -> Result<std::shared_ptr<const policy::Policy>> {
    policy::LoadResult r = LoadPolicyFor(config);
    if (!r.policy) return Error{r.diagnostics.ToString()};
    return r.policy;
  };
  auto p = o->load_policy();
  if (!p) return Error{p.message()};
  *policy = *p;
  return Status::Ok();
}

// The worker: answers requests on `fd` until the gateway closes it.
[[noreturn]] void ServeWorker(int fd, Handler& handler) {
  while (true) {
    auto packet = ReceivePacket(fd, -1, kMaxPacket);
    if (!packet) {
      if (packet.code() == Code::kUnavailable) _exit(0);
      // Oversized: refuse it and carry on.
      if (!SendPacket(fd, EncodeReply(Reply{0, false, packet.message()}))) _exit(1);
      spdlog::warn("signer: refused: {}", packet.message());
      continue;
    }
    if (!SendPacket(fd, handler.Handle(*packet))) _exit(0);
  }
}

// Forks a worker on a fresh socketpair; returns its pid and the gateway's end.
pid_t ForkWorker(int control_fd, Handler& handler, UniqueFd* gateway_end) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) return -1;
  pid_t pid = fork();
  if (pid == 0) {
    close(sv[0]);
    close(control_fd);
    prctl(PR_SET_PDEATHSIG, SIGKILL);  // the keeper is single-threaded
    ServeWorker(sv[1], handler);
  }
  close(sv[1]);
  gateway_end->reset(sv[0]);
  return pid;
}

// Waits until the worker ends (true) or the gateway closed the control
// socket (false).
bool WaitForWorker(pid_t worker, int control_fd, std::string* how) {
  int pidfd = static_cast<int>(syscall(SYS_pidfd_open, worker, 0));
  UniqueFd holder(pidfd);
  pollfd fds[2] = {{control_fd, POLLIN, 0}, {pidfd, POLLIN, 0}};
  while (true) {
    int n = poll(fds, pidfd >= 0 ? 2 : 1, -1);
    if (n < 0 && errno == EINTR) continue;
    if (fds[0].revents) return false;  // the gateway went away (or wrote to us: not allowed)
    if (pidfd < 0 || fds[1].revents) break;
  }
  int status = 0;
  waitpid(worker, &status, 0);
  *how = WIFSIGNALED(status) ? std::string("killed by signal ") + strsignal(WTERMSIG(status))
                             : "exit " + std::to_string(WEXITSTATUS(status));
  return true;
}

}  // namespace

int RunKeeper(const std::string& config_path, int control_fd) {
  signal(SIGPIPE, SIG_IGN);
  HandlerOptions options;
  std::shared_ptr<const policy::Policy> policy;
  std::string user;
  Status loaded = LoadAll(config_path, &options, &policy, &user);
  if (loaded && !user.empty()) {
    auto account = LookupAccount(user);
    loaded = account ? DropPrivileges(*account) : Status(account.error());
    if (loaded) spdlog::info("signer: running as {} (uid {})", user, account->uid);
  }
  if (!loaded) {
    spdlog::error("signer: {}", loaded.message());
    (void)SendPacket(control_fd, Hello(0, "", "", loaded.message()));
    return 1;
  }
  const std::string ca_public = options.user_ca ? options.user_ca->PublicLine() : "";
  const std::string audit_public = options.audit_key ? options.audit_key->PublicLine() : "";
  Handler handler(std::move(options), policy);
  int64_t last_start = 0;
  while (true) {
    // A worker that dies at once is not restarted in a tight loop.
    int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::steady_clock::now().time_since_epoch()).count();
    if (now - last_start < 200) usleep(static_cast<useconds_t>((200 - (now - last_start)) * 1000));
    last_start = now;
    UniqueFd gateway_end;
    pid_t worker = ForkWorker(control_fd, handler, &gateway_end);
    if (worker < 0) {
      spdlog::error("signer: cannot start a worker: {}", strerror(errno));
      return 1;
    }
    spdlog::info("signer: worker pid {} started (keeper pid {})", worker, getpid());
    if (!SendPacket(control_fd, Hello(worker, ca_public, audit_public, ""), gateway_end.get())) {
      kill(worker, SIGKILL);
      return 0;
    }
    gateway_end.reset();
    std::string how;
    if (!WaitForWorker(worker, control_fd, &how)) {
      kill(worker, SIGKILL);
      waitpid(worker, nullptr, 0);
      return 0;
    }
    spdlog::error("signer: worker pid {} ended ({}); starting a new one", worker, how);
  }
}

}  // namespace hopgate::proxy::signer
