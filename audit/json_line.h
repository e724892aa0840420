// Parsing one JSON line someone else wrote (an audit log line, a cast
// header) without trusting it: no exceptions, nesting bounded so a hostile
// line cannot exhaust the stack, and a short reason on failure. Pure;
// thread-safe.
#pragma once

#include <string_view>

#include <nlohmann/json.hpp>

#include "common/result.h"

namespace hopgate::audit {

inline constexpr int kMaxJsonDepth = 16;

Result<nlohmann::json> ParseJsonLine(std::string_view line);

}  // namespace hopgate::audit
