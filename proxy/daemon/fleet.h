// The daemon's part in a fleet (config `fleet:`): the background copy of the
// audit log to the fleet database (audit/fleet/copier.h), logging through
// spdlog and reporting to the metrics.
#pragma once

#include <memory>

#include "audit/fleet/copier.h"
#include "audit/sink.h"
#include "proxy/config/config.h"
#include "proxy/metrics/metrics.h"

namespace hopgate::proxy {

// Starts copying `sink`'s log to config.fleet_database; nullptr (nothing
// started) when no fleet is configured.
std::unique_ptr<audit::fleet::Copier> StartFleetCopy(const Config& config,
                                                     std::shared_ptr<audit::FileSink> sink,
                                                     std::shared_ptr<Metrics> metrics);

}  // namespace hopgate::proxy
