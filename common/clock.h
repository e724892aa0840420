// Two clocks: steady milliseconds for timeouts and deadlines (never stepped:
// a clock set back an hour does not stretch a timeout), and wall-clock Unix
// milliseconds for timestamps people read.
#pragma once

#include <chrono>
#include <cstdint>

namespace hopgate {

inline int64_t SteadyMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

inline int64_t WallMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace hopgate
