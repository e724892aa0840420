// Sessions across the fleet, for hopctl: each replica's events are read
// back from the fleet database into a mirror of its audit log (the `line`
// column is the log's own text) in a cache directory (fleet_cache.h), and
// indexed by the same SessionIndex as a local log, so a row is built exactly
// as `hopctl sessions` builds it from a replica's own files. Both the mirror
// and its index are brought up to date incrementally: a call reads only the
// events copied to the database since the last one.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "audit/index.h"
#include "common/result.h"

namespace hopgate::audit::fleet {

class CacheLock;  // fleet_cache.h

struct Replica {
  std::string origin;  // hopgate/<node>
  std::string node;    // the origin without "hopgate/"
  std::unique_ptr<SessionIndex> index;
};

struct FleetRow {
  std::string node;
  SessionSummary session;
};

struct FleetIndexOptions {
  std::string dsn;
  std::string cache_dir;       // default: DefaultCacheDir(dsn), or a temporary one
  std::string recordings_dir;  // where recordings are, when not where the replicas logged them
  bool rebuild = false;        // start the cache afresh
  std::string only_connection;  // only the replicas that served this connection
  // Problems that do not stop reading, prefixed with the replica's node.
  std::function<void(const std::string&)> warn;
};

// What one Open() read: for measuring the cache's worth.
struct FleetUpdateStats {
  uint64_t events_copied = 0;   // events read from the database into mirrors
  uint64_t events_indexed = 0;  // mirror lines the indexes read
  std::vector<std::string> rebuilt;  // origins whose mirror no longer matched
};

class FleetIndex {
 public:
  // Brings the cache up to date with every replica's events in the
  // database (or only_connection's replicas') and opens their indexes.
  static Result<std::unique_ptr<FleetIndex>> Open(const FleetIndexOptions& options);
  ~FleetIndex();
  FleetIndex(const FleetIndex&) = delete;
  FleetIndex& operator=(const FleetIndex&) = delete;

  // Every replica's sessions the filter admits, by start time.
  Result<std::vector<FleetRow>> Sessions(const SessionFilter& filter);
  std::vector<Replica>& replicas() { return replicas_; }
  const FleetUpdateStats& stats() const { return stats_; }
  const std::string& cache_dir() const { return cache_dir_; }

 private:
  FleetIndex() = default;
  std::string cache_dir_;
  bool temporary_ = false;  // no cache directory known: removed when done
  std::vector<Replica> replicas_;
  FleetUpdateStats stats_;
  std::unique_ptr<CacheLock> lock_;  // held while the indexes are in use
};

// "hopgate/gate1" -> "gate1"; other origins as they are.
std::string NodeOfOrigin(const std::string& origin);

}  // namespace hopgate::audit::fleet
