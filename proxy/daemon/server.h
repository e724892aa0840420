// The daemon: listening sockets and the accept loop (main thread), which
// hands each connection to the least loaded Worker; signals (SIGTERM/SIGINT
// stop, SIGHUP reloads the policy) and orderly shutdown. Reloads, policy name
// lookups and audit-log checks run on a control thread (control.cc) so they
// never delay an accept. Everything shared lives in Gateway.
#pragma once

#include <atomic>
#include <memory>
#include <thread>
#include <string>
#include <vector>

#include "audit/fleet/copier.h"
#include "audit/fleet/live.h"
#include "audit/fleet/locks.h"
#include "audit/fleet/locks_file.h"
#include "common/proxy_protocol.h"
#include "common/result.h"
#include "common/unique_fd.h"
#include "proxy/base/privileges.h"
#include "proxy/config/config.h"
#include "proxy/connection/connection.h"
#include "proxy/signer/signer.h"
#include "proxy/daemon/file_watcher.h"
#include "proxy/daemon/service_notify.h"
#include "proxy/gateway/gateway.h"
#include "proxy/ssh/host_keys.h"
#include "proxy/ssh/ssh_util.h"
#include "proxy/runtime/worker.h"

namespace hopgate::proxy {

class Server {
 public:
  // Loads keys, policy and audit log and binds every listen address; any
  // failure returns an error and leaves nothing running.
  // `signer` is the signer process, started before anything else (see
  // proxy/signer/signer.h); the server owns it from now on.
  static Result<std::unique_ptr<Server>> Start(Config config,
                                               std::unique_ptr<signer::Client> signer);
  ~Server();

  // Serves until SIGTERM or SIGINT; returns the process exit code.
  int Run();

 private:
  Server() = default;
  // Start's steps (server.cc), each filling in its part of the server.
  // The tamper-evident audit log, its signing key, and a first checkpoint.
  Result<std::shared_ptr<audit::Log>> OpenAuditLog(const Config& config);
  // The host keys, and the recording keys (their paths into `config`).
  Status LoadKeys(Config* config);
  Status SetUpBind();  // the ssh_bind that accepts with the host keys
  Status OpenListeners(const std::vector<HostPort>& listen,
                       const std::vector<ListenProxy>& proxy);
  // The gateway (which takes the config) and its workers.
  void StartGateway(Config config, std::shared_ptr<audit::Log> log);
  // config `user:`: directories the gateway writes, created with that
  // owner, and checked writable by it (before anything is opened).
  Status PrepareForUser(const Config& config);
  // config `user:`: switches this process to it (after everything that
  // needs root: listeners, files, the signer).
  Status SwitchUser();
  Status RecordStart(audit::Log& log, const std::string& policy_version);
  Status ServeMetrics();  // when metrics.listen is set
  void Accept(size_t listener);
  // Admits a connection whose client is known (from the socket, or from a
  // PROXY header) and hands it to a worker; closes `fd` if refused.
  void HandOff(int fd, const ClientEndpoint& client, int64_t accepted_ms);
  // PROXY protocol listeners (proxy_accept.cc): a new connection from
  // `peer` waits for its header, read as it arrives, between accepts.
  struct PendingHeader;
  void AcceptProxied(UniqueFd fd, size_t listener, const ClientEndpoint& peer,
                     const IpAddress& peer_ip);
  // Reads what has arrived of a pending header; true when it is finished
  // with (handed off or refused) and can be dropped from the list.
  bool ReadPendingHeader(PendingHeader& p);
  // Refuses the pending headers past login_grace_time; the next deadline
  // (steady ms), or -1 when none waits.
  int64_t ExpirePendingHeaders(int64_t now);
  // Closes nothing: logs, counts and audits a refused PROXY connection.
  void RefuseProxied(const std::string& reason, const ClientEndpoint& peer);
  // A start-up slot for a new connection from `who` (address:port), or none (counted and logged).
  Startups::Slot Admit(const IpAddress& ip, const std::string& who);
  void ShedAtDescriptorLimit(int listen_fd, const std::string& local, int err);
  // The control thread (control.cc): reloads on SIGHUP and on file
  // changes, refreshes the policy's names, checks the audit log.
  void StartControl();
  void StopControl();  // idempotent; joins the thread
  void RequestReload();  // SIGHUP: reopen the audit log, reload (forced)
  void ControlLoop();
  // Reopens a renamed audit log and publishes its health to the metrics.
  void CheckAuditLog();
  // A signed checkpoint (with the open recordings' progress) and rotation.
  void CheckpointAuditLog();
  // Reloads the policy (and everything it names), the trusted CA keys and
  // the revoked keys, all or nothing. `force`: record the outcome even if
  // nothing changed (SIGHUP); file-change reloads stay quiet when the
  // content is the same.
  void ReloadPolicy(const std::string& trigger, bool force);
  void WatchPolicyFiles();
  void Shutdown(const std::string& reason);
  // SIGTERM/SIGINT with limits.drain_timeout > 0 (drain.cc): closes the
  // listeners, marks the gateway not ready, tells recorded sessions' terminals,
  // audits drain_start; Run stops when the last connection ends or at the
  // deadline.
  void StartDrain(const std::string& reason);
  // While draining: the reason to stop now (every connection ended, or the
  // deadline passed), or empty to wait on.
  std::string DrainOver() const;
  // Resolves the names `p` compares addresses against (Policy::
  // NamesToResolve()), keeping earlier answers for names that fail now.
  PolicyStore::Names ResolvePolicyNames(const policy::Policy& p, const PolicyStore::Names& old);

  std::unique_ptr<signer::Client> signer_;
  std::optional<Account> account_;  // config `user:`
  std::unique_ptr<Gateway> gw_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::shared_ptr<Metrics> metrics_;
  std::shared_ptr<audit::FileSink> audit_sink_;
  std::vector<HostKey> host_keys_;
  BindPtr bind_;
  struct Listener {
    UniqueFd fd;
    std::string local;
    ListenProxy proxy;  // PROXY protocol settings of its `listen:` entry
  };
  std::vector<Listener> listeners_;
  struct PendingHeader {
    UniqueFd fd;
    ClientEndpoint peer;  // the balancer (address, port, local)
    ProxyHeaderReader reader;
    int64_t accepted_ms = 0;  // steady
  };
  std::vector<PendingHeader> pending_headers_;  // main thread only
  int64_t proxy_refusal_window_ms_ = 0;  // flood limit on proxy_protocol_refused
  int64_t proxy_refusals_in_window_ = 0;
  int64_t proxy_refusals_suppressed_ = 0;
  UniqueFd signal_fd_;
  FileWatcher watcher_;               // control thread only
  std::string loaded_content_hash_;  // of every file the policy reads; control thread only
  int64_t rejected_startups_ = 0;
  UniqueFd spare_fd_;                 // reserve descriptor for shedding at EMFILE
  bool audit_ok_ = true;              // control thread only
  int64_t accept_paused_until_ = 0;   // wall ms; listeners not polled before
  int64_t shed_logged_ms_ = -1'000'000;
  int64_t shed_ = 0;                  // shed since the last log line
  std::thread control_thread_;
  UniqueFd control_wake_;             // eventfd: a request is waiting
  std::atomic<bool> control_stop_{false};
  std::atomic<bool> reload_requested_{false};
  ServiceNotifier notify_;            // systemd Type=notify (no-op without NOTIFY_SOCKET)
  std::string drain_reason_;          // the signal that started a drain; main thread only
  std::unique_ptr<audit::fleet::Copier> fleet_copier_;  // config fleet: (else null)
  std::unique_ptr<audit::fleet::LockWatcher> fleet_locks_;  // config fleet: (else null)
  std::unique_ptr<audit::fleet::LocksFileWatcher> file_locks_;  // locks.file, no fleet (else null)
  std::shared_ptr<audit::fleet::LivePublisher> fleet_live_;  // config fleet: (else null)
};

}  // namespace hopgate::proxy
