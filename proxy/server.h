// The daemon: listening sockets, the accept loop, a thread per connection,
// signals (SIGTERM/SIGINT stop, SIGHUP reloads the policy) and orderly
// shutdown. Runs on the main thread; everything shared lives in Gateway.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/result.h"
#include "proxy/config.h"
#include "proxy/file_watcher.h"
#include "proxy/gateway.h"
#include "proxy/host_keys.h"
#include "proxy/ssh_util.h"

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
  // Reloads the policy (and everything it names), the trusted CA keys and
  // the revoked keys, all or nothing. `force`: record the outcome even if
  // nothing changed (SIGHUP); file-change reloads stay quiet when the
  // content is the same.
  void ReloadPolicy(const std::string& trigger, bool force);
  void WatchPolicyFiles();
  void Shutdown(const std::string& reason);

  std::unique_ptr<Gateway> gw_;
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
};

}  // namespace hopgate::proxy
