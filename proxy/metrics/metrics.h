// Prometheus metrics and the /metrics + /healthz HTTP endpoint.
// Every recording method is thread-safe and cheap enough for the data path:
// no lock is taken per call (prometheus-cpp counters are atomics; label
// children are created once, up front, from small fixed label sets), except
// UpstreamConnect (prometheus-cpp's histogram has its own mutex, taken once
// per dial) and PolicyVersion (rare). Labels are bounded: never a user,
// client address or destination. Scrapes also report the standard process_*
// metrics, read from /proc/self at scrape time.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "common/net.h"
#include "common/result.h"

namespace hopgate::proxy {

class Metrics {
 public:
  // Builds the registry with every metric family and its label children;
  // hopgate_build_info{version} is 1. Returns null only if prometheus-cpp
  // rejects the built-in names (a programming error).
  static std::unique_ptr<Metrics> Create(const std::string& version);
  virtual ~Metrics() = default;

  // Serves GET /metrics (text exposition format 0.0.4) and GET /healthz
  // (200 "ok" while `healthy()` returns true, else 503 with the reason;
  // GET /healthz/ready is the same check, for load balancers and readiness
  // probes; GET /healthz/live answers 200 "ok" while the process serves) on
  // `listen`, from background threads (civetweb with 2 threads); any other
  // path gets 404. IPv6 addresses are refused when the installed civetweb
  // lacks IPv6, as Debian 12's does. `healthy` is called from those
  // threads (it must be thread-safe); an empty one means always healthy. A
  // host name is resolved once and its first address bound; port 0 binds a
  // free port (see ServingPort). Fails, naming the address, if it cannot be
  // bound or if already serving.
  virtual Status Serve(const HostPort& listen,
                       std::function<bool(std::string* why_not)> healthy) = 0;
  // Stops the listener and waits for in-flight requests (civetweb may take
  // up to ~2 s to notice). Idempotent; also done by the destructor.
  virtual void StopServing() = 0;
  // The port Serve bound, or 0 while not serving.
  virtual uint16_t ServingPort() const = 0;

  // hopgate_connections_total{result}: "accepted", "rejected_max_startups",
  // "rejected_per_source_max_startups", "rejected_penalty" (a source refused
  // for failed logins), "rejected_max_connections", "rejected_no_descriptors" (shed at the
  // open-files limit), "dropped_login_grace", "dropped_auth_tries",
  // "handshake_failed", "dropped_client_alive" (no answer to
  // limits.client_alive_count_max keepalives), "rejected_proxy_protocol" (a
  // PROXY protocol header refused). Unknown values count as "other".
  virtual void Connection(const std::string& result) = 0;
  // hopgate_connections_active (+1 when a connection thread starts, -1 at its end).
  virtual void ConnectionsActive(int delta) = 0;
  // hopgate_auth_total{method="publickey|certificate|password|keyboard-interactive",
  // result="success|failure", reason}: reason is one of kAuthReasons ("none"
  // on success); anything else counts as "other". Any other method counts as
  // method="other". A success is always reason="none"; a failure with reason
  // "none" or an unknown reason counts as "other".
  virtual void Auth(const std::string& method, bool success, const std::string& reason) = 0;
  // hopgate_channels_total{kind, decision="allow|deny"} with kind one of
  // direct-tcpip, session, tcpip-forward, forwarded-tcpip (else "other").
  virtual void Channel(const std::string& kind, bool allow) = 0;
  // hopgate_channels_active{kind}.
  virtual void ChannelsActive(const std::string& kind, int delta) = 0;
  // hopgate_relay_bytes_total{direction="client_to_target|target_to_client"}.
  virtual void RelayBytes(uint64_t client_to_target, uint64_t target_to_client) = 0;
  // hopgate_upstream_connect_seconds (histogram of the dial time of each
  // successful dial: Dialed::elapsed_ms / 1000.0) and
  // hopgate_upstream_connect_failures_total{reason="resolve|refused|timeout|
  // unreachable|host_key|auth|open_refused|other"}.
  virtual void UpstreamConnect(double seconds) = 0;
  virtual void UpstreamConnectFailure(const std::string& reason) = 0;
  // hopgate_upstream_hop_connect_seconds{hop="1".."8"|"9+"}: SSH set-up time
  // of a new connection to the hop at that position of a route.
  virtual void UpstreamHopConnect(int hop, double seconds) = 0;
  // hopgate_policy_reloads_total{result="success|failure"}; hopgate_policy_info{version}
  // is a single series set to 1 (the old series is removed on change; absent
  // until the first PolicyVersion call).
  virtual void PolicyReload(bool success) = 0;
  virtual void PolicyVersion(const std::string& version) = 0;
  // hopgate_audit_events_total{type} counts every event recorded, written or
  // not; hopgate_audit_write_errors_total counts those not written. type is
  // an audit event type (server_start, server_stop, connection_open, auth,
  // channel_open, channel_close, session_limit, connection_close,
  // policy_reload), else "other". Matches audit::Log::Observer.
  virtual void AuditEvent(const std::string& type, bool written) = 0;
  // hopgate_audit_suppressed_total{kind="channel_refused|auth_failure"}:
  // refusals counted into an audit_suppressed summary instead of being
  // written one by one (a flood); any other kind counts as "other".
  virtual void AuditSuppressed(const std::string& kind) = 0;
  // hopgate_audit_log_healthy: 1 while the audit log can be written (the
  // same state /healthz reports), else 0.
  virtual void AuditHealthy(bool healthy) = 0;
  // hopgate_audit_disk_free_bytes and hopgate_recordings_disk_free_bytes:
  // free bytes (statvfs f_bavail * f_frsize) on the file systems holding
  // `audit_log` and `recordings_dir`, read at every scrape. Absent until
  // called; an empty path is not reported.
  virtual void WatchDiskFree(const std::string& audit_log, const std::string& recordings_dir) = 0;
  // hopgate_signer_signatures_total{kind="user_certificate|audit_checkpoint"}:
  // every signature the signer process made (it logs each one too).
  virtual void SignerSignature(const std::string& kind) = 0;
  // hopgate_signer_failures_total{reason="refused|unavailable"}.
  virtual void SignerFailure(const std::string& reason) = 0;

  // In a fleet (fleet.database), the audit copy to PostgreSQL:
  // hopgate_fleet_copy_lag_events (events in the local audit log not yet in
  // the database) and hopgate_fleet_database_up (1 while it is reachable).
  // Registered on the first call, so a gateway without a fleet has neither.
  virtual void FleetCopy(uint64_t lag_events, bool database_up) = 0;
  // hopgate_fleet_live_sessions: sessions open across the fleet as this
  // replica last read them (the live view); registered on the first call.
  virtual void FleetLiveSessions(int64_t sessions) = 0;

  static const char* const kAuthReasons[];  // null-terminated; "other" last
};

}  // namespace hopgate::proxy
