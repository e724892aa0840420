// The daemon: listening sockets, the accept loop, a thread per connection,
// signals (SIGTERM/SIGINT stop, SIGHUP reloads the policy) and orderly
// shutdown. Runs on the main thread; everything shared lives in Gateway.
#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>
#include <string>
#include <vector>

#include "common/result.h"
#include "proxy/config/config.h"
#include "proxy/daemon/file_watcher.h"
#include "proxy/gateway/gateway.h"
#include "proxy/ssh/host_keys.h"
#include "proxy/ssh/ssh_util.h"
#include "proxy/runtime/worker.h"

namespace hopgate::proxy {

class Server {
 public:
  // Loads keys, policy and audit log and binds every listen address; any
  // failure returns an error and leaves nothing running.
  static Result<std::unique_ptr<Server>> Start(Config config);
  ~Server();

  // Serves until SIGTERM or SIGINT; returns the process exit code.
  int Run();

 private:
  Server() = default;
  void Accept(int listen_fd, const std::string& local);
  void ShedAtDescriptorLimit(int listen_fd, const std::string& local, int err);
  // Reopens a renamed audit log and publishes its health to the metrics.
  void CheckAuditLog();
  // Reloads the policy (and everything it names), the trusted CA keys and
  // the revoked keys, all or nothing. `force`: record the outcome even if
  // nothing changed (SIGHUP); file-change reloads stay quiet when the
  // content is the same.
  void ReloadPolicy(const std::string& trigger, bool force);
  void WatchPolicyFiles();
  void Shutdown(const std::string& reason);
  // Resolves the names `p` compares addresses against (Policy::
  // NamesToResolve()), keeping earlier answers for names that fail now.
  PolicyStore::Names ResolvePolicyNames(const policy::Policy& p, const PolicyStore::Names& old);
  // Re-resolves them every kNamesRefreshMs on a thread of its own.
  void RefreshNamesLoop();

  std::unique_ptr<Gateway> gw_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::shared_ptr<Metrics> metrics_;
  std::shared_ptr<audit::FileSink> audit_sink_;
  std::vector<HostKey> host_keys_;
  BindPtr bind_;
  struct Listener {
    int fd;
    std::string local;
  };
  std::vector<Listener> listeners_;
  int signal_fd_ = -1;
  FileWatcher watcher_;
  std::string loaded_content_hash_;  // of every file the policy reads
  int64_t rejected_startups_ = 0;
  int spare_fd_ = -1;                 // reserve descriptor for shedding at EMFILE
  int64_t next_audit_check_ = 0;      // wall ms
  bool audit_ok_ = true;
  int64_t accept_paused_until_ = 0;   // wall ms; listeners not polled before
  int64_t shed_logged_ms_ = -1'000'000;
  int64_t shed_ = 0;                  // shed since the last log line
  std::thread names_thread_;
  std::mutex names_mu_;
  std::condition_variable names_cv_;
  bool names_stop_ = false;
};

}  // namespace hopgate::proxy
