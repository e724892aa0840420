// hopctl replay's command line: the options, the --from offset, and where
// the audit log and recordings are (--config or --audit). Plain values and
// functions; no state.
#pragma once

#include <optional>
#include <string>

#include "common/result.h"

namespace hopgate::hopctl {

struct ReplayOptions {
  std::string target;  // SESSION or FILE.cast
  double speed = 1;
  std::optional<double> idle_limit;
  std::string from;
  bool follow = false;
  bool no_verify = false;
  bool last = false;  // --last: the newest recorded session, instead of `target`
  std::string config, audit;
  std::string database;    // the fleet database: sessions of every replica
  std::string recordings;  // with database: where the recordings are copied
};

struct LogPaths {
  std::string log, recordings;
};

bool IsRegularFile(const std::string& path);

// "90", "90.5", "1:30", "1:02:03" -> seconds; anything else is an error.
Result<double> ParseOffset(const std::string& text);

// The audit log (and recordings directory) from --config or --audit; none
// when neither is given. A directory given to --audit must hold exactly one
// current log (*.jsonl that is not a rotated <stem>.<seq>.jsonl).
Result<std::optional<LogPaths>> FindLog(const ReplayOptions& o);

// The id of the newest recorded session that opened (a successful
// `session_open`) in the current audit log file; kNotFound if there is none.
Result<std::string> LastRecordedSession(const std::string& log);

}  // namespace hopgate::hopctl
