// Privilege separation for the signing keys, like OpenSSH's monitor: the
// upstream CA key (upstream.user_ca_key) and the audit signing key
// (audit.signing_key) live only in the signer, a separate process started
// before any network input is read. The network-facing process asks it over
// a SOCK_SEQPACKET socketpair (protocol.h) and never holds either key.
//
// Processes: the gateway fork+execs its own binary as the signer keeper
// (`hopgate --signer-fd N --config FILE`). fork+exec rather than a bare
// fork: the gateway restarts a dead keeper later, when it has threads, and
// after fork() in a threaded process only async-signal-safe calls are
// allowed until exec; exec also gives the keeper a fresh address space (no
// copy of the gateway's memory) and fresh ASLR. The keeper reads the keys
// as root, drops privileges (config `user:`), and forks the worker that
// answers requests; it hands the worker's end of a fresh socketpair to the
// gateway over the control socket (SCM_RIGHTS), and forks a new worker
// whenever one dies. A request that finds its worker dead is refused; the
// next one uses the new worker.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "common/result.h"
#include "common/unique_fd.h"
#include "proxy/signer/protocol.h"

namespace hopgate::proxy {
class Metrics;
}

namespace hopgate::proxy::signer {

// What the network-facing process may ask; implemented by Client.
class Signer {
 public:
  virtual ~Signer() = default;
  // A certificate blob, or why the signer refused (or is not running).
  virtual Result<std::string> MintUserCertificate(const MintRequest& request) = 0;
  // An armored SSHSIG over a checkpoint text.
  virtual Result<std::string> SignCheckpoint(std::string_view text) = 0;
  // Asks the signer to read the policy again; its version.
  virtual Result<std::string> ReloadPolicy() = 0;
};

// The network-facing process's end. Thread-safe: one request at a time.
class Client : public Signer {
 public:
  // Starts the keeper (fork+exec of `exe`, normally /proc/self/exe) and
  // waits for its first worker. Call before any network input is read.
  static Result<std::unique_ptr<Client>> Start(const std::string& exe,
                                               const std::string& config_path);
  ~Client() override;

  Result<std::string> MintUserCertificate(const MintRequest& request) override;
  Result<std::string> SignCheckpoint(std::string_view text) override;
  Result<std::string> ReloadPolicy() override;

  // Counts signatures and failures from now on (hopgate_signer_*).
  void set_metrics(Metrics* metrics) { metrics_ = metrics; }
  pid_t keeper_pid() const { return keeper_pid_; }
  pid_t worker_pid() const;
  // Public halves of the keys, as OpenSSH lines ("" when not configured).
  const std::string& ca_public() const { return ca_public_; }
  const std::string& audit_public() const { return audit_public_; }

 private:
  Client() = default;
  Status SpawnKeeper();  // mu_ held (or before sharing)
  // Takes a worker the keeper announced; waits up to `timeout_ms`.
  Status AwaitWorker(int timeout_ms);  // mu_ held
  Result<Reply> Call(Request request, const char* kind);

  std::string exe_;
  std::string config_path_;
  mutable std::mutex mu_;
  UniqueFd control_;
  UniqueFd worker_;
  pid_t keeper_pid_ = -1;
  pid_t worker_pid_ = -1;
  uint32_t next_id_ = 1;
  std::string ca_public_;
  std::string audit_public_;
  Metrics* metrics_ = nullptr;
};

// The keeper's main (hopgate --signer-fd): never returns normally.
int RunKeeper(const std::string& config_path, int control_fd);

}  // namespace hopgate::proxy::signer
