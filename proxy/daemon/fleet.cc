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

}  // namespace hopgate::proxy
