// The daemon's two clocks (common/clock.h): steady milliseconds for timeouts
// and deadlines, wall-clock Unix milliseconds for timestamps people read.
#pragma once

#include "common/clock.h"

namespace hopgate::proxy {

using hopgate::SteadyMs;
using hopgate::WallMs;

}  // namespace hopgate::proxy
