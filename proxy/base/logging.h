// Process logging: one line per event on stderr, "TIME LEVEL message", via
// spdlog. Safe to call from any thread. Never pass key material, passwords or
// typed input to these functions.
#pragma once

#include <spdlog/spdlog.h>

#include <string>

namespace hopgate::proxy {

// Configures the default logger; `level` is debug, info, warning or error.
void InitLogging(const std::string& level);

}  // namespace hopgate::proxy
