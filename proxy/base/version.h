// hopgate's version, reported by --version, the audit log and metrics.
#pragma once

namespace hopgate::proxy {
inline constexpr const char* kVersion = "0.1.0";
}  // namespace hopgate::proxy
