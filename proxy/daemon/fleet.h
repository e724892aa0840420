// The daemon's part in a fleet (config `fleet:`): the background copy of the
// audit log to the fleet database (audit/fleet/copier.h), logging through
// spdlog and reporting to the metrics; and the locks (hopctl lock), from the
// fleet database or, without one, from the locks file.
#pragma once

#include <memory>

#include "audit/fleet/copier.h"
#include "audit/fleet/live.h"
#include "audit/fleet/locks.h"
#include "audit/fleet/locks_file.h"
#include "proxy/gateway/gateway.h"
#include "audit/sink.h"
#include "proxy/config/config.h"
#include "proxy/metrics/metrics.h"

namespace hopgate::proxy {

// Starts copying `sink`'s log to config.fleet_database; nullptr (nothing
// started) when no fleet is configured.
std::unique_ptr<audit::fleet::Copier> StartFleetCopy(const Config& config,
                                                     std::shared_ptr<audit::FileSink> sink,
                                                     std::shared_ptr<Metrics> metrics);

// Keeps `gw`'s fleet-wide locks current from config.fleet_database
// (LISTEN/NOTIFY plus a re-read every 5 s); nullptr without a fleet.
std::unique_ptr<audit::fleet::LockWatcher> StartFleetLocks(const Config& config, Gateway* gw);

// Without a fleet: keeps `gw`'s locks current from config.locks_file
// (checked every 250 ms; read once before this returns); nullptr in a fleet.
// A file that cannot be read or parsed at start is an error (there is no
// last good set to keep); later, the last good set stays in force.
Result<std::unique_ptr<audit::fleet::LocksFileWatcher>> StartFileLocks(const Config& config,
                                                                      Gateway* gw);
// Publishes `gw`'s live sessions to config.fleet_database (the live view:
// hopctl sessions --live, terminate, fleet.max_sessions_per_user) and hands
// it the fleet's counts and terminate requests; nullptr without a fleet.
std::shared_ptr<audit::fleet::LivePublisher> StartFleetLive(const Config& config, Gateway* gw,
                                                            std::shared_ptr<Metrics> metrics);

}  // namespace hopgate::proxy
