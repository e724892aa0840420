// hopctl replay --database: a session served by any replica of a fleet. Its
// events are read back from the fleet database (the `line` column is the
// replica's own log line, byte for byte) into a private temporary log that
// ReplayLog reads as it reads a local one, so the recordings are checked
// against the digests their session_close events give, exactly as a local
// replay checks them. The recordings themselves stay where the replica
// wrote them: a shared directory, the same path here, or a copy under
// `--recordings DIR`; when none of these has the file, the error says which
// replica has it and where.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/result.h"

namespace hopgate::hopctl {

class FleetSessionLog {
 public:
  // The events of `connection` from the fleet database at `dsn`. kNotFound
  // when no replica's events name it.
  static Result<std::unique_ptr<FleetSessionLog>> Fetch(const std::string& dsn,
                                                        const std::string& connection);
  ~FleetSessionLog();
  FleetSessionLog(const FleetSessionLog&) = delete;
  FleetSessionLog& operator=(const FleetSessionLog&) = delete;

  const std::string& log_path() const { return log_path_; }  // the temporary log
  const std::string& node() const { return node_; }          // the replica that served it
  const std::string& origin() const { return origin_; }      // hopgate/<node>
  // `message` with every "<temporary log>:LINE" said as "hopgate/NODE seq
  // N (fleet database)", so messages name the event an operator can find.
  std::string Describe(const std::string& message) const;

 private:
  FleetSessionLog() = default;
  std::string dir_, log_path_, node_, origin_;
  std::vector<std::string> seqs_;  // line N (1-based) is seqs_[N-1]
};

// Where recording `id` (c…-N-M), written by replica `node` at `logged`, can
// be read from here: under `recordings_dir` when given (at the same
// YYYY/MM/DD/NAME.cast below it as below the replica's recordings
// directory, or as DIR/NAME.cast), else at `logged` itself. kNotFound:
// "recording ID is on replica NODE at PATH; copy it here or pass
// --recordings DIR".
Result<std::string> LocateRecording(const std::string& id, const std::string& node,
                                    const std::string& logged, const std::string& recordings_dir);

}  // namespace hopgate::hopctl
