// Sessions across the fleet, for hopctl: each replica's events are read back
// from the fleet database into a private temporary copy of its audit log
// (the `line` column is the log's own text) and indexed by the same
// SessionIndex as a local log, so a row is built exactly as `hopctl
// sessions` builds it from a replica's own files. The copy is removed when
// the FleetIndex goes.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "audit/index.h"
#include "common/result.h"

namespace hopgate::audit::fleet {

struct Replica {
  std::string origin;  // hopgate/<node>
  std::string node;    // the origin without "hopgate/"
  std::unique_ptr<SessionIndex> index;
};

struct FleetRow {
  std::string node;
  SessionSummary session;
};

class FleetIndex {
 public:
  // Reads every replica's events from `dsn`; with `only_connection`, only
  // the replicas that served that connection. `warn` gets problems that do
  // not stop reading, prefixed with the replica's node.
  static Result<std::unique_ptr<FleetIndex>> Open(const std::string& dsn,
                                                  std::function<void(const std::string&)> warn,
                                                  const std::string& only_connection = "");
  ~FleetIndex();
  FleetIndex(const FleetIndex&) = delete;
  FleetIndex& operator=(const FleetIndex&) = delete;

  // Every replica's sessions the filter admits, by start time.
  Result<std::vector<FleetRow>> Sessions(const SessionFilter& filter);
  std::vector<Replica>& replicas() { return replicas_; }

 private:
  FleetIndex() = default;
  std::string dir_;  // the temporary copy
  std::vector<Replica> replicas_;
};

// "hopgate/gate1" -> "gate1"; other origins as they are.
std::string NodeOfOrigin(const std::string& origin);

}  // namespace hopgate::audit::fleet
