#include "proxy/logging.h"

#include <spdlog/sinks/stdout_sinks.h>

namespace hopgate::proxy {

void InitLogging(const std::string& level) {
  auto logger = spdlog::stderr_logger_mt("hopgate");
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %-5l %v", spdlog::pattern_time_type::utc);
  spdlog::level::level_enum lvl = spdlog::level::info;
  if (level == "debug") lvl = spdlog::level::debug;
  if (level == "warning") lvl = spdlog::level::warn;
  if (level == "error") lvl = spdlog::level::err;
  logger->set_level(lvl);
  logger->flush_on(spdlog::level::trace);
  spdlog::set_default_logger(logger);
}

}  // namespace hopgate::proxy
