#include "proxy/daemon/fleet.h"

#include "proxy/base/logging.h"

namespace hopgate::proxy {
namespace {

void LogLine(bool error, const std::string& message) {
  if (error) {
    spdlog::warn("{}", message);
  } else {
    spdlog::info("{}", message);
  }
}

// The one path from a store's locks to the gateway, database or file: a
// lock the gateway cannot understand is logged (once, while it stays) and
// left out.
std::function<void(std::vector<audit::fleet::FleetLock>)> LocksApplier(Gateway* gw) {
  auto reported = std::make_shared<std::vector<std::string>>();
  return [gw, reported](std::vector<audit::fleet::FleetLock> locks) {
    audit::fleet::LockSet set(std::move(locks));
    if (set.problems() != *reported) {
      for (const auto& p : set.problems()) spdlog::warn("locks: ignoring {}", p);
      *reported = set.problems();
    }
    gw->SetLocks(std::move(set));
  };
}
// The gateway's view of the publisher.
class PublishedSessions : public FleetSessions {
 public:
  explicit PublishedSessions(std::shared_ptr<audit::fleet::LivePublisher> p) : p_(std::move(p)) {}
  void Opened(const std::string& connection, const std::string& user, const std::string& source,
              int64_t started_ms) override {
    audit::fleet::LiveSession s;
    s.conn = connection;
    s.user = user;
    s.source = source;
    s.started_ms = started_ms;
    p_->Opened(std::move(s));
  }
  void TargetAdded(const std::string& connection, const std::string& target) override {
    p_->TargetAdded(connection, target);
  }
  void Closed(const std::string& connection) override { p_->Closed(connection); }
  std::optional<int64_t> OthersOf(const std::string& user) const override {
    return p_->OthersOf(user);
  }

 private:
  std::shared_ptr<audit::fleet::LivePublisher> p_;
};

}  // namespace

std::unique_ptr<audit::fleet::Copier> StartFleetCopy(const Config& config,
                                                     std::shared_ptr<audit::FileSink> sink,
                                                     std::shared_ptr<Metrics> metrics) {
  if (config.fleet_database.empty()) return nullptr;
  audit::fleet::CopierOptions o;
  o.dsn = config.fleet_database;
  o.origin = config.audit_origin;
  o.log_path = config.audit_log;
  o.local_size = [sink] { return sink->size(); };
  o.status = [metrics](uint64_t lag, bool up) { metrics->FleetCopy(lag, up); };
  o.log = LogLine;
  metrics->FleetCopy(sink->size(), false);
  auto copier = std::make_unique<audit::fleet::Copier>(std::move(o));
  copier->Start();
  spdlog::info("fleet node {}: copying the audit log to the fleet database in the background",
               config.fleet_node);
  return copier;
}

std::unique_ptr<audit::fleet::LockWatcher> StartFleetLocks(const Config& config, Gateway* gw) {
  if (config.fleet_database.empty()) return nullptr;
  audit::fleet::LockWatcher::Options o;
  o.dsn = config.fleet_database;
  o.on_locks = LocksApplier(gw);
  o.log = LogLine;
  auto watcher = std::make_unique<audit::fleet::LockWatcher>(std::move(o));
  watcher->Start();
  return watcher;
}

Result<std::unique_ptr<audit::fleet::LocksFileWatcher>> StartFileLocks(const Config& config,
                                                                      Gateway* gw) {
  if (!config.fleet_database.empty() || config.locks_file.empty()) {
    return std::unique_ptr<audit::fleet::LocksFileWatcher>();
  }
  // Fail safe: with no last good set to keep, a damaged file stops the start.
  if (auto first = audit::fleet::ReadLocksFile(config.locks_file); !first) {
    return MakeError(first.error().code, "locks file " + first.message() +
                                             " (locks.file): fix it or move it away");
  }
  audit::fleet::LocksFileWatcher::Options o;
  o.path = config.locks_file;
  o.on_locks = LocksApplier(gw);
  o.log = LogLine;
  auto watcher = std::make_unique<audit::fleet::LocksFileWatcher>(std::move(o));
  watcher->Start();
  return std::move(watcher);
}

std::shared_ptr<audit::fleet::LivePublisher> StartFleetLive(const Config& config, Gateway* gw,
                                                            std::shared_ptr<Metrics> metrics) {
  if (config.fleet_database.empty()) return nullptr;
  audit::fleet::LivePublisher::Options o;
  o.dsn = config.fleet_database;
  o.node = config.fleet_node;
  o.heartbeat_ms = static_cast<int>(config.fleet_heartbeat_interval * 1000);
  o.on_terminate = [gw](std::vector<audit::fleet::Termination> requests) {
    for (auto& t : requests) {
      spdlog::info("fleet: terminate request {} for conn={} from {}", t.id, t.conn,
                   t.requested_by);
      gw->Terminate(t.conn, Gateway::Termination{t.reason, t.requested_by, t.id});
    }
  };
  o.status = [metrics](int64_t sessions, bool) {
    if (sessions >= 0) metrics->FleetLiveSessions(sessions);
  };
  o.log = LogLine;
  auto publisher = std::make_shared<audit::fleet::LivePublisher>(std::move(o));
  gw->SetFleetSessions(std::make_shared<PublishedSessions>(publisher));
  publisher->Start();
  return publisher;
}

}  // namespace hopgate::proxy
