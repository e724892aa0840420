#include "proxy/base/logging.h"

#include <spdlog/sinks/sink.h>
#include <spdlog/sinks/stdout_sinks.h>

#include "common/strings.h"

namespace hopgate::proxy {
namespace {

// Every message passes through here on its way to stderr or the journal:
// control characters and invalid UTF-8 from client-supplied text (user
// names, destinations, commands, paths) are escaped as \xNN, so no client
// can forge or split a log line, whichever call site logged it.
class EscapingSink final : public spdlog::sinks::sink {
 public:
  explicit EscapingSink(std::shared_ptr<spdlog::sinks::sink> inner) : inner_(std::move(inner)) {}

  void log(const spdlog::details::log_msg& msg) override {
    std::string_view payload(msg.payload.data(), msg.payload.size());
    std::string escaped = EscapeControl(payload);
    if (escaped == payload) {
      inner_->log(msg);
      return;
    }
    spdlog::details::log_msg copy = msg;
    copy.payload = spdlog::string_view_t(escaped.data(), escaped.size());
    inner_->log(copy);
  }
  void flush() override { inner_->flush(); }
  void set_pattern(const std::string& pattern) override { inner_->set_pattern(pattern); }
  void set_formatter(std::unique_ptr<spdlog::formatter> f) override {
    inner_->set_formatter(std::move(f));
  }

 private:
  std::shared_ptr<spdlog::sinks::sink> inner_;
};

}  // namespace

void InitLogging(const std::string& level) {
  auto sink = std::make_shared<EscapingSink>(std::make_shared<spdlog::sinks::stderr_sink_mt>());
  auto logger = std::make_shared<spdlog::logger>("hopgate", sink);
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
