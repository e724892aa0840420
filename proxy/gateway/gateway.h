// State shared by every connection thread: the configuration, the policy in
// force (swapped atomically on reload), the audit log, connection and
// per-user accounting, and the stop flag. Thread-safe.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "audit/fleet/lock_rule.h"
#include "audit/sink.h"
#include "policy/policy.h"
#include "proxy/base/clock.h"
#include "proxy/config/config.h"
#include "proxy/gateway/audit_throttle.h"
#include "proxy/gateway/startups.h"
#include "proxy/metrics/metrics.h"
#include "proxy/net/resolver.h"
#include "proxy/runtime/task_pool.h"
#include "proxy/config/trust.h"
#include "proxy/upstream/upstream.h"

namespace hopgate::proxy {

// What the gateway asks of a live client connection, from any thread. The
// connection layer implements it; the gateway knows nothing else of it.
class LiveConnection {
 public:
  virtual ~LiveConnection() = default;
  // Look at the stop flag soon.
  virtual void Wake() = 0;
  // Re-check the credential against the revocation list now in force.
  virtual void RequestRevocationCheck() = 0;
};

// The fleet's live view (fleet.database, audit/fleet/live.h), as the
// gateway sees it: connections report their lifecycle (never blocking), and
// logins ask how many sessions a user has on the other replicas.
class FleetSessions {
 public:
  virtual ~FleetSessions() = default;
  virtual void Opened(const std::string& connection, const std::string& user,
                      const std::string& source, int64_t started_ms) = 0;
  virtual void TargetAdded(const std::string& connection, const std::string& target) = 0;
  virtual void Closed(const std::string& connection) = 0;
  // The user's live sessions on the other replicas; nullopt while the
  // database is unavailable.
  virtual std::optional<int64_t> OthersOf(const std::string& user) const = 0;
};

// The policy and the trust snapshot in force, swapped together on reload,
// and the addresses of the policy's names (Policy::NamesToResolve()),
// resolved before the policy takes effect and refreshed while it is in force.
class PolicyStore {
 public:
  using Names = std::shared_ptr<const policy::AddressMap>;
  std::shared_ptr<const policy::Policy> Get() const {
    std::lock_guard<std::mutex> lock(mu_);
    return policy_;
  }
  std::shared_ptr<const Trust> GetTrust() const {
    std::lock_guard<std::mutex> lock(mu_);
    return trust_;
  }
  Names GetNames() const {
    std::lock_guard<std::mutex> lock(mu_);
    return names_;
  }
  void Set(std::shared_ptr<const policy::Policy> p, std::shared_ptr<const Trust> t, Names names) {
    std::lock_guard<std::mutex> lock(mu_);
    policy_ = std::move(p);
    trust_ = std::move(t);
    names_ = std::move(names);
  }
  // Replaces the names of `for_policy` if it is still the one in force.
  void RefreshNames(const policy::Policy* for_policy, Names names) {
    std::lock_guard<std::mutex> lock(mu_);
    if (policy_.get() == for_policy) names_ = std::move(names);
  }

 private:
  mutable std::mutex mu_;
  std::shared_ptr<const policy::Policy> policy_;
  std::shared_ptr<const Trust> trust_;
  Names names_ = std::make_shared<policy::AddressMap>();
};

class Gateway {
 public:
  Gateway(Config config, std::shared_ptr<audit::Log> audit, std::shared_ptr<Metrics> metrics,
          UpstreamPool::Options upstream = {});

  const Config& config() const { return config_; }
  PolicyStore& policy() { return policy_; }
  audit::Log& audit() { return *audit_; }
  Metrics& metrics() { return *metrics_; }
  // Shared SSH connections to jump hosts (routes).
  UpstreamPool& upstream() { return *upstream_; }
  // Name lookups for decisions (with a timeout; never on a dial).
  Resolver& resolver() { return *resolver_; }
  // Threads for work that blocks (routes through jump hosts).
  TaskPool& tasks() { return *task_pool_; }
  // Steady milliseconds for deadlines and durations: a wall clock stepped
  // back or forward does not stretch or cut a timeout.
  int64_t NowMs() const { return SteadyMs(); }
  // Wall-clock Unix milliseconds (the audit log's clock) for what people
  // read: certificate validity, recordings' start times and file names.
  int64_t WallMs() const { return audit_->Now(); }

  // Connection bookkeeping.
  void Register(LiveConnection* c);
  void Unregister(LiveConnection* c);
  // Recorded sessions run on threads of their own, owned here: a thread that
  // ended is joined when the next one starts, and JoinTasks() joins them all
  // (at shutdown, after the stop flag is set and everyone woken).
  void SpawnTask(std::function<void()> fn);
  void JoinTasks();
  size_t active() const;
  // Waits until every connection has ended or `timeout_ms` passed.
  bool WaitForAll(int64_t timeout_ms);
  // Wakes every connection and every registered eventfd (recorded sessions).
  void WakeAll();

  // Open recordings, so each audit checkpoint covers their prefix: a
  // recording registers a probe (called on the control thread; it must be
  // thread-safe) and removes it when it closes.
  using RecordingProbe = std::function<audit::RecordingProgress()>;
  uint64_t AddRecording(RecordingProbe probe);
  void RemoveRecording(uint64_t id);
  std::vector<audit::RecordingProgress> OpenRecordings();
  void AddWakeFd(int fd);
  void RemoveWakeFd(int fd);
  // Asks every connection to re-check its key or certificate against the
  // revocation list now in force (after a reload).
  void RecheckRevocations();
  // Locks in force (hopctl lock), from the fleet database or the locks
  // file: set by their watcher; when new locks arrive every connection
  // re-checks itself (like a revocation).
  void SetLocks(audit::fleet::LockSet locks);
  // The lock covering `who` now (WallMs), if any.
  std::optional<audit::fleet::LockMatch> Locked(const audit::fleet::LockSubject& who) const;
  // The fleet's live view; null without a fleet. Set once by the daemon
  // before any connection is accepted.
  void SetFleetSessions(std::shared_ptr<FleetSessions> f) { fleet_sessions_ = std::move(f); }
  FleetSessions* fleet_sessions() const { return fleet_sessions_.get(); }
  // hopctl terminate: asks connection `connection`, if it is here, to end
  // with `reason` (audited as session_terminated); it looks at once.
  struct Termination {
    std::string reason;
    std::string requested_by;
    int64_t request_id = 0;
  };
  // Recorded sessions riding the connection end first, with the notice on
  // their terminals (they read it with PeekTermination too).
  void Terminate(const std::string& connection, Termination t);
  std::optional<Termination> PeekTermination(const std::string& connection) const;
  void ForgetTermination(const std::string& connection);
  // Unauthenticated connections and per-source penalties (limits.max_startups,
  // per_source_max_startups, per_source_penalty).
  Startups& startups() { return startups_; }

  // Audit floods: refusals per source address, across connections
  // (audit_throttle.h). Windows run on the audit clock (WallMs).
  SourceThrottle& audit_throttle() { return audit_throttle_; }
  // Writes `summaries` as audit_suppressed events on `connection`'s lines
  // ("" for server lines), and logs each.
  void RecordSuppressed(const std::string& connection,
                        const std::vector<audit::AuditSuppressed>& summaries);
  // Writes the summaries of per-source windows that have ended (of all of
  // them when `all`: at shutdown). Called by the control thread.
  void FlushSuppressed(bool all);

  // Per-user concurrent connection slots (limits.max_sessions_per_user, and
  // fleet.max_sessions_per_user counted with the other replicas' sessions
  // while the fleet database is reachable). False with `*why` set when full.
  bool AcquireUserSlot(const std::string& user, std::string* why = nullptr);
  void ReleaseUserSlot(const std::string& user);

  bool stopping() const { return stopping_.load(); }
  void Stop() { stopping_.store(true); }
  // Draining (SIGTERM, hopctl drain): no new connections are accepted and
  // open sessions may go on until `deadline_ms` (steady clock), when the
  // gateway stops. Recorded sessions tell their terminals once.
  void StartDrain(int64_t deadline_ms) {
    drain_deadline_ms_.store(deadline_ms);
    draining_.store(true);
  }
  bool draining() const { return draining_.load(); }
  int64_t drain_deadline_ms() const { return drain_deadline_ms_.load(); }

  static std::string NewConnectionId();

 private:
  Config config_;
  PolicyStore policy_;
  std::shared_ptr<audit::Log> audit_;
  std::shared_ptr<Metrics> metrics_;
  std::unique_ptr<Resolver> resolver_;
  std::unique_ptr<UpstreamPool> upstream_;
  std::unique_ptr<TaskPool> task_pool_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::set<LiveConnection*> connections_;
  std::set<int> wake_fds_;
  struct Task {
    std::thread thread;
    std::shared_ptr<std::atomic<bool>> done;
  };
  std::vector<Task> tasks_;
  std::map<std::string, int64_t> user_slots_;
  std::mutex recordings_mu_;  // apart from mu_: probes may take their own locks
  std::map<uint64_t, RecordingProbe> recordings_;
  uint64_t next_recording_ = 1;
  Startups startups_;
  SourceThrottle audit_throttle_;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> draining_{false};
  std::atomic<int64_t> drain_deadline_ms_{0};
  mutable std::mutex locks_mu_;
  audit::fleet::LockSet locks_;  // guarded by locks_mu_
  // Asked for, not yet taken, with when (steady ms): guarded by locks_mu_.
  std::map<std::string, std::pair<Termination, int64_t>> terminations_;
  std::shared_ptr<FleetSessions> fleet_sessions_;
};

}  // namespace hopgate::proxy
