// The daemon's configuration file (YAML, `version: 1`): typed, defaulted and
// checked in one pass, every error at FILE:LINE:COL. Parsing is from text so
// tests need no files; Load() reads the file. Immutable after loading.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/net.h"
#include "common/yaml_util.h"

namespace hopgate::proxy {

// limits.per_source_penalty: like OpenSSH's PerSourcePenalties, a source
// whose connections keep failing to log in is refused for a while.
struct PenaltyConfig {
  bool enabled = true;
  int64_t authfail_ms = 5'000;         // a connection that tried to log in and failed
  int64_t noauth_ms = 1'000;           // one that ended without trying
  int64_t grace_exceeded_ms = 10'000;  // one dropped at login_grace_time
  int64_t min_ms = 15'000;             // refused only once the penalty reaches this
  int64_t max_ms = 600'000;            // the longest a source is refused
  std::vector<Cidr> exempt;            // limits.per_source_penalty_exempt
};

// Bounds on what a recording holds in memory unwritten: recording.max_unflushed
// may be at most kMaxRecordingUnflushed, and no event waits longer than
// kRecordingFlushMs to be written.
inline constexpr int64_t kMaxRecordingUnflushed = 16 << 20;
inline constexpr int64_t kRecordingFlushMs = 1000;

// A `listen:` entry's PROXY protocol settings (its object form,
// {address: ..., proxy_protocol: true, proxy_from: [CIDR, ...]}).
struct ListenProxy {
  bool enabled = false;    // proxy_protocol: every connection starts with a header
  std::vector<Cidr> from;  // proxy_from: the balancers that may send one
};

struct Config {
  std::string file;  // where it was loaded from
  std::vector<HostPort> listen;
  std::vector<ListenProxy> listen_proxy;  // one per `listen` entry, in the same order
  std::vector<std::string> host_keys;  // private key files, absolute paths
  std::string policy;                  // policy file, absolute path
  std::string audit_log;               // JSON-lines audit log, absolute path
  // The tamper-evident log (see audit/sink.h): checkpoints signed with an
  // Ed25519 key (generated 0600 with its .pub if missing), the origin they
  // name, how often they are written, and rotation.
  std::string audit_signing_key;       // default <dir of the first host key>/audit_signing_ed25519
  std::string audit_origin;            // default hopgate/<hostname>
  int64_t audit_checkpoint_interval = 60;  // seconds
  int64_t audit_rotate_size = 0;       // bytes; 0: never by size
  int64_t audit_rotate_interval = 0;   // seconds; 0: never by age

  // limits
  int64_t login_grace_time = 30;    // seconds
  int64_t max_startups = 64;        // concurrent unauthenticated connections
  int64_t per_source_max_startups = 10;  // the same per source address (IPv6: per /64); 0: off
  PenaltyConfig per_source_penalty;
  int64_t max_sessions_per_user = 0;  // concurrent connections; 0 = unlimited
  int64_t max_auth_tries = 6;       // failed userauth requests per connection
  int64_t connect_timeout = 10;     // seconds, per upstream dial
  int64_t max_connections = 10000;  // all connections, authenticated or not
  int64_t max_channels_per_connection = 64;  // open channels of every kind, per connection
  // Like sshd's ClientAliveInterval/CountMax: after this long with nothing
  // from the client a keepalive@openssh.com request goes out; a client that
  // leaves count_max of them unanswered is disconnected. 0: off.
  int64_t client_alive_interval = 15;  // seconds
  int64_t client_alive_count_max = 3;
  // SIGTERM (or hopctl drain): how long open sessions may go on after the
  // gateway stops accepting; 0 closes them at once.
  int64_t drain_timeout = 600;      // seconds

  // authentication
  std::string trusted_user_ca_keys;  // CA public keys, one per line (optional)
  std::string revoked_keys;          // KRL or one public key per line (optional)
  bool close_revoked_sessions = true;  // end live connections a new KRL covers
  int64_t min_rsa_bits = 2048;         // RSA keys in the policy and CA files

  std::optional<HostPort> metrics_listen;  // /metrics and /healthz; absent = off

  // recorded sessions
  std::string recordings_dir;      // audit.recordings; default <audit log dir>/recordings
  // Interception host keys (recording.host_keys, or recording.host_key for
  // one). Empty: one per type of host_keys, next to the first of them
  // (RecordingHostKeyPaths below), generated if missing.
  std::vector<std::string> recording_host_keys;
  // Their private keys (OpenSSH base64 text), read at start-up while the
  // gateway may still read root-only files; recorded sessions use these.
  std::vector<std::string> recording_host_key_texts;
  int64_t recording_min_free_bytes = 100 << 20;  // refuse recorded sessions below this
  // recording.max_unflushed: at most this many bytes of a recording are held
  // in memory unwritten (and none for longer than kRecordingFlushMs).
  int64_t recording_max_unflushed = 64 << 10;
  // Shown to the user as the inner login's SSH banner; empty: none.
  std::string recording_notice = "This session is recorded by hopgate.";

  // upstream: how the gateway logs in to targets and jump hosts
  std::string upstream_user_ca_key;         // CA private key for minted certificates (optional)
  int64_t upstream_max_channels = 64;       // client channels per shared upstream connection
  int64_t upstream_idle_close = 60;         // seconds after its last channel
  // The longest validity the signer grants a minted certificate (seconds).
  int64_t upstream_max_cert_validity = 600;
  // The same liveness check for the gateway's own SSH connections to jump
  // hosts and recorded targets (upstream.alive_interval, alive_count_max).
  int64_t upstream_alive_interval = 15;  // seconds; 0: off
  int64_t upstream_alive_count_max = 3;

  // The unprivileged account hopgate switches to after start-up (as root:
  // listeners bound, files opened, the signer started). Empty: stay as is.
  std::string user;

  std::string log_level = "info";   // debug, info, warning, error

  // fleet: replicas sharing one PostgreSQL (audit/fleet). Empty database:
  // no fleet. In a fleet the audit origin is "hopgate/<fleet_node>".
  std::string fleet_database;  // libpq URI, postgresql://...
  std::string fleet_node;      // this replica's name; default the hostname
  // locks.file: hopctl lock's locks without a fleet database, watched by
  // the gateway (audit/fleet/locks_file.h). Default locks.json beside the
  // audit log; empty in a fleet (the locks are in the database).
  std::string locks_file;
  // Concurrent sessions per user across every replica (counted in the fleet
  // database); 0 = no fleet-wide limit. limits.max_sessions_per_user stays
  // the per-replica one, and the only one while the database is down.
  int64_t fleet_max_sessions_per_user = 0;
  // How often a replica tells the database it is alive (seconds); its live
  // sessions expire 3 intervals after its last heartbeat.
  int64_t fleet_heartbeat_interval = 5;

  // Where each path-valued key was written (for messages about the file it
  // names): "audit.log" -> hopgate.yaml:6:8.
  std::map<std::string, SourceLocation> where;
  // "FILE:LINE:COL: key", or "FILE: key (default)" when not written.
  std::string Where(const std::string& key) const;

  // Renders the effective configuration (defaults filled in), like sshd -T.
  std::string Dump() const;
};

struct ConfigLoad {
  std::optional<Config> config;  // set only when there are no errors
  Diagnostics diagnostics;
};

// The interception keys of recorded sessions: recording.host_keys, or, when
// not configured, one per type of the gateway's host keys (their wire type
// names, "ssh-ed25519", "ecdsa-sha2-nistp256", "ssh-rsa"): recording_host_
// ed25519, _ecdsa, _rsa next to the first host key, so every client that can
// log in to the gateway can also use a recorded host.
std::vector<std::string> RecordingHostKeyPaths(const Config& config,
                                               const std::vector<std::string>& host_key_types);

// Parses config text. Relative paths are resolved against `file`'s directory.
ConfigLoad ParseConfig(std::string_view text, const std::string& file);
// Reads and parses `path`.
ConfigLoad LoadConfig(const std::string& path);

}  // namespace hopgate::proxy
