// Where hopctl's auditor commands find the log, the recordings and the
// checkpoint key: the `audit:` section of the gateway's config file. Only
// that section is read (an auditor may hold a copy of the config without the
// policy or keys it names); paths are resolved like the gateway does.
#pragma once

#include <string>

#include "common/result.h"

namespace hopgate::hopctl {

struct AuditPaths {
  std::string log;          // audit.log
  std::string recordings;   // audit.recordings, default <log dir>/recordings
  // audit.signing_key, or the gateway's default beside the first host key;
  // "" when the config names neither.
  std::string signing_key;
};

// Errors name FILE:LINE:COL (or FILE) and say what is missing.
Result<AuditPaths> LoadAuditPaths(const std::string& config_file);

}  // namespace hopgate::hopctl
