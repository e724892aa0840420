#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "common/wire.h"
#include "proxy/base/logging.h"
#include "proxy/metrics/metrics.h"
#include "proxy/signer/channel.h"
#include "proxy/signer/signer.h"

namespace hopgate::proxy::signer {
namespace {

// How long a request waits for the signer's answer, and a new worker for
// its announcement (the keeper starts one at once; loading keys at first
// start may take a moment).
constexpr int kReplyTimeoutMs = 10'000;
constexpr int kFirstWorkerTimeoutMs = 30'000;
constexpr int kNewWorkerTimeoutMs = 5'000;

struct Hello {
  uint32_t worker = 0;
  std::string ca_public, audit_public, error;
};

Result<Hello> ParseHello(std::string_view packet) {
  WireReader r(packet);
  Hello h;
  r.ReadU32(&h.worker) && r.ReadString(&h.ca_public, 16384) &&
      r.ReadString(&h.audit_public, 16384) && r.ReadString(&h.error, 65536);
  r.ExpectEnd();
  if (r.failed()) return Error{"malformed announcement from the signer: " + r.error()};
  return h;
}

}  // namespace

Result<std::unique_ptr<Client>> Client::Start(const std::string& exe,
                                              const std::string& config_path) {
  std::unique_ptr<Client> c(new Client());
  c->exe_ = exe;
  c->config_path_ = config_path;
  std::lock_guard<std::mutex> lock(c->mu_);
  if (Status st = c->SpawnKeeper(); !st) return st.error();
  if (Status st = c->AwaitWorker(kFirstWorkerTimeoutMs); !st) return st.error();
  return c;
}

Client::~Client() {
  control_.reset();  // the keeper sees EOF, kills its worker and exits
  worker_.reset();
  if (keeper_pid_ > 0) waitpid(keeper_pid_, nullptr, 0);
}

Status Client::SpawnKeeper() {
  if (keeper_pid_ > 0) {
    kill(keeper_pid_, SIGKILL);
    waitpid(keeper_pid_, nullptr, 0);
  }
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
    return Error{std::string("signer: socketpair: ") + strerror(errno)};
  }
  // Built before fork: the child only calls async-signal-safe functions.
  // The control socket becomes fd 3 and every other descriptor is closed,
  // so a keeper restarted later inherits none of the gateway's sockets.
  constexpr int kControlFd = 3;
  std::string fd_text = std::to_string(kControlFd);
  const char* argv[] = {"hopgate-signer", "--signer-fd", fd_text.c_str(), "--config",
                        config_path_.c_str(), nullptr};
  pid_t pid = fork();
  if (pid < 0) {
    close(sv[0]);
    close(sv[1]);
    return Error{std::string("signer: fork: ") + strerror(errno)};
  }
  if (pid == 0) {
    if (sv[1] == kControlFd) {
      fcntl(kControlFd, F_SETFD, 0);
    } else if (dup2(sv[1], kControlFd) != kControlFd) {  // dup2 clears FD_CLOEXEC
      _exit(127);
    }
    syscall(SYS_close_range, kControlFd + 1, ~0U, 0);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    execv(exe_.c_str(), const_cast<char* const*>(argv));
    _exit(127);
  }
  close(sv[1]);
  control_.reset(sv[0]);
  keeper_pid_ = pid;
  worker_.reset();
  worker_pid_ = -1;
  return Status::Ok();
}

Status Client::AwaitWorker(int timeout_ms) {
  UniqueFd fd;
  auto packet = ReceivePacket(control_.get(), timeout_ms, 65536, &fd);
  if (!packet) {
    std::string why = packet.code() == Code::kUnavailable ? "the signer keeper exited"
                                                          : packet.message();
    return MakeError(Code::kUnavailable, "signer: " + why);
  }
  auto hello = ParseHello(*packet);
  if (!hello) return MakeError(Code::kUnavailable, "signer: " + hello.message());
  if (!hello->error.empty() || !fd) {
    return MakeError(Code::kUnavailable, "signer: " + (hello->error.empty() ? "no worker" : hello->error));
  }
  if (!hello->ca_public.empty()) ca_public_ = hello->ca_public;
  if (!hello->audit_public.empty()) audit_public_ = hello->audit_public;
  worker_ = std::move(fd);
  worker_pid_ = static_cast<pid_t>(hello->worker);
  return Status::Ok();
}

pid_t Client::worker_pid() const {
  std::lock_guard<std::mutex> lock(mu_);
  return worker_pid_;
}

Result<Reply> Client::Call(Request request, const char* kind) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!worker_) {
    // The last worker died: take the one the keeper started since (and
    // restart the keeper itself if it is gone).
    Status st = AwaitWorker(kNewWorkerTimeoutMs);
    if (!st && st.code() == Code::kUnavailable) {
      spdlog::error("{}; starting the signer again", st.message());
      st = SpawnKeeper();
      if (st) st = AwaitWorker(kFirstWorkerTimeoutMs);
    }
    if (!st) {
      if (metrics_) metrics_->SignerFailure("unavailable");
      return MakeError(Code::kUnavailable, "the signer is not running: " + st.message());
    }
    // A new worker starts from the policy the keeper loaded at start-up.
    Request reload{next_id_++, Kind::kReloadPolicy, {}, {}};
    if (SendPacket(worker_.get(), EncodeRequest(reload))) {
      (void)ReceivePacket(worker_.get(), kReplyTimeoutMs, kMaxPacket);
    }
  }
  request.id = next_id_++;
  Status sent = SendPacket(worker_.get(), EncodeRequest(request));
  Result<std::string> packet = sent ? ReceivePacket(worker_.get(), kReplyTimeoutMs, kMaxPacket)
                                    : Result<std::string>(sent.error());
  Result<Reply> reply = packet ? DecodeReply(*packet) : Result<Reply>(packet.error());
  if (!reply || reply->id != request.id) {
    std::string why = reply ? "an answer to another request" : reply.message();
    spdlog::error("signer: worker pid {} failed ({}); refused this {} request; the signer is "
                  "being restarted",
                  worker_pid_, why, kind);
    worker_.reset();
    worker_pid_ = -1;
    if (metrics_) metrics_->SignerFailure("unavailable");
    return MakeError(Code::kUnavailable,
                     "the signer process died (" + why + "); it is being restarted, try again");
  }
  if (!reply->ok) {
    if (metrics_) metrics_->SignerFailure("refused");
    return MakeError(Code::kPermissionDenied, "the signer refused: " + reply->payload);
  }
  return reply;
}

Result<std::string> Client::MintUserCertificate(const MintRequest& mint) {
  Request q;
  q.kind = Kind::kMintUserCertificate;
  q.mint = mint;
  auto reply = Call(std::move(q), "user_certificate");
  if (!reply) return reply.error();
  if (metrics_) metrics_->SignerSignature("user_certificate");
  return std::move(reply->payload);
}

Result<std::string> Client::SignCheckpoint(std::string_view text) {
  Request q;
  q.kind = Kind::kSignCheckpoint;
  q.checkpoint = std::string(text);
  auto reply = Call(std::move(q), "audit_checkpoint");
  if (!reply) return reply.error();
  if (metrics_) metrics_->SignerSignature("audit_checkpoint");
  return std::move(reply->payload);
}

Result<std::string> Client::ReloadPolicy() {
  Request q;
  q.kind = Kind::kReloadPolicy;
  auto reply = Call(std::move(q), "policy reload");
  if (!reply) return reply.error();
  return std::move(reply->payload);
}

}  // namespace hopgate::proxy::signer
