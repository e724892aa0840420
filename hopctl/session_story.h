// `hopctl show`: one session's whole story, in time order, as text for a
// person (login, decisions with their rules and policy versions, channels
// with bytes, exec commands with exit statuses, SFTP operations, forwards,
// recordings with digests, limits, the end), rendered from the session's
// audit events. Pure formatting; every string from the log is escaped
// before it reaches the terminal.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "audit/index.h"
#include "common/strings.h"  // HumanBytes

namespace hopgate::hopctl {

// Which part of a session to tell: all of it (`c…`), one recorded session
// (`c…-N`, the outer channel N) or one channel inside it (`c…-N-M`).
struct StoryScope {
  std::string connection;
  std::string session;          // "c…-N", or empty for all
  std::optional<int64_t> inner;  // M, for "c…-N-M"
};
StoryScope ParseScope(const std::string& id);
bool InScope(const StoryScope& scope, const nlohmann::json& event);

// The story as lines of text (no trailing newline on each).
std::vector<std::string> TellStory(const audit::SessionSummary& summary,
                                   const std::vector<nlohmann::json>& events,
                                   const std::vector<audit::RecordingInfo>& recordings);

// Shared with `hopctl sessions`: "1.2s"/"12m34s", escaped text.
std::string HumanDuration(int64_t ms);
std::string Safe(const std::string& text);
// A string member of an event, "" when absent or not a string.
std::string Field(const nlohmann::json& event, const char* key);

}  // namespace hopgate::hopctl
