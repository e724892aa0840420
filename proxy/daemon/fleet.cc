#include "proxy/daemon/fleet.h"

#include "proxy/base/logging.h"

namespace hopgate::proxy {

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
  o.log = [](bool error, const std::string& message) {
    if (error) {
      spdlog::warn("{}", message);
    } else {
      spdlog::info("{}", message);
    }
  };
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
  o.on_locks = [gw](std::vector<audit::fleet::FleetLock> locks) {
    std::map<std::string, Gateway::UserLock> by_user;
    for (const auto& l : locks) {
      if (l.kind != "user") continue;
      auto it = by_user.find(l.value);
      if (it == by_user.end()) by_user[l.value] = Gateway::UserLock{l.id, l.reason};
    }
    gw->SetUserLocks(std::move(by_user));
  };
  o.log = [](bool error, const std::string& message) {
    if (error) {
      spdlog::warn("{}", message);
    } else {
      spdlog::info("{}", message);
    }
  };
  auto watcher = std::make_unique<audit::fleet::LockWatcher>(std::move(o));
  watcher->Start();
  return watcher;
}

}  // namespace hopgate::proxy
