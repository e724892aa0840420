// Typed audit events. Every event has a timestamp, a type and a connection
// id; the body is one of the structs below. Serialisation goes through
// nlohmann::json, never hand-built strings. Value types; thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

namespace hopgate::audit {

struct ServerStart {
  static constexpr const char* kType = "server_start";
  std::string version;
  std::vector<std::string> listen;
  std::string policy_version;
  std::vector<std::string> host_key_fingerprints;
};

struct ServerStop {
  static constexpr const char* kType = "server_stop";
  std::string reason;
  int64_t connections_closed = 0;
};

// SIGTERM or hopctl drain: the gateway stopped accepting and gives the open
// connections until limits.drain_timeout; server_stop follows.
struct DrainStart {
  static constexpr const char* kType = "drain_start";
  std::string reason;               // "SIGTERM", "SIGINT"
  int64_t connections_open = 0;     // every client connection at the start
  int64_t recordings_open = 0;      // recorded channels (their terminals are told)
  int64_t drain_timeout_s = 0;      // limits.drain_timeout
};

struct ConnectionOpen {
  static constexpr const char* kType = "connection_open";
  std::string client_addr;
  uint16_t client_port = 0;
  std::string listen;  // the local address:port it arrived on
  // Behind a load balancer (a `listen:` entry with proxy_protocol): the
  // balancer's address:port; client_addr/port come from its PROXY header.
  std::string via_proxy;
};

struct CertificateInfo {
  std::string key_id;
  uint64_t serial = 0;
  std::vector<std::string> principals;
  std::string ca_fingerprint;
  std::string valid_after;   // RFC 3339, or "always"
  std::string valid_before;  // RFC 3339, or "forever"
};

struct Auth {
  static constexpr const char* kType = "auth";
  std::string user;
  std::string client_addr;
  uint16_t client_port = 0;
  std::string method;    // "publickey" or "certificate" (or the refused method)
  std::string key_type;  // e.g. "ssh-ed25519", "ssh-ed25519-cert-v01@openssh.com"
  std::string fingerprint;  // SHA256:... of the (certified) key, as OpenSSH prints it
  bool success = false;
  std::string reason;  // why refused
  std::optional<CertificateInfo> certificate;
};

struct ChannelOpen {
  static constexpr const char* kType = "channel_open";
  uint32_t channel = 0;
  std::string kind;         // direct-tcpip, session, tcpip-forward, forwarded-tcpip
  std::string destination;  // host:port as requested
  std::vector<std::string> addresses;  // what a requested name resolved to, as decided on
  std::string dial;         // address actually dialled/listened on, when allowed
  std::string originator;   // originator host:port the client reported
  bool allow = false;
  std::string rule;    // deciding rule; empty for the default deny
  std::string reason;  // why denied
  std::string error;   // why an allowed request could not be carried out
  std::string policy_version;
  std::vector<std::string> route;  // jump hosts crossed, in order (hosts: names)
  std::string failed_hop;          // the hop that failed, when one did
  bool recorded = false;           // terminated by the gateway and recorded
  std::string host;                // the hosts: entry whose settings applied
  uint64_t suppressed = 0;         // like refusals not written since the last one (rate limit)
};

struct ChannelClose {
  static constexpr const char* kType = "channel_close";
  uint32_t channel = 0;
  std::string kind;
  std::string destination;
  uint64_t bytes_client_to_target = 0;
  uint64_t bytes_target_to_client = 0;
  int64_t duration_ms = 0;
  std::string reason;  // "eof", "client closed", "target error: ...", ...
};

struct ConnectionClose {
  static constexpr const char* kType = "connection_close";
  std::string user;  // empty if never authenticated
  std::string reason;
  int64_t duration_ms = 0;
  uint64_t channels = 0;
};

struct SessionLimit {
  static constexpr const char* kType = "session_limit";
  std::string user;
  std::string limit;  // "max_session" or "idle_timeout"
  int64_t seconds = 0;
  std::string rule;
};

struct CredentialRevoked {
  static constexpr const char* kType = "credential_revoked";
  std::string user;
  std::string fingerprint;
  std::string reason;  // "revoked (serial 7)", ...
};

// A live connection closed because a lock (hopctl lock) covers it: its
// user, key, certificate serial or source address (`kind`, `value`).
struct LockApplied {
  static constexpr const char* kType = "lock_applied";
  std::string user;
  int64_t lock_id = 0;
  std::string reason;
  std::string kind;   // "user", "key", "cert-serial", "source"
  std::string value;  // as the lock names it
};

// A live connection ended by an administrator (hopctl terminate), on the
// replica (`node`, empty outside a fleet) that served it.
struct SessionTerminated {
  static constexpr const char* kType = "session_terminated";
  std::string user;
  std::string reason;
  std::string requested_by;  // "hopctl (root@admin1)"
  int64_t request_id = 0;
  std::string node;
};

struct PolicyReload {
  static constexpr const char* kType = "policy_reload";
  bool success = false;
  std::string trigger;  // "SIGHUP", "file change"
  std::string policy_version;     // the policy in force afterwards
  std::string previous_version;
  int errors = 0;
  int warnings = 0;
  std::vector<std::string> messages;  // first few diagnostics
};

// Recorded sessions: the gateway terminated the inner SSH session of a
// direct-tcpip channel and logs in to the target itself.
struct SessionOpen {
  static constexpr const char* kType = "session_open";
  std::string session;  // session id (also in the target's logs: key id hopgate:<user>:<session>)
  uint32_t channel = 0;  // the outer direct-tcpip channel it rides
  std::string user, login, target, dial, rule, reason;
  std::vector<std::string> route;
  std::string key_id;       // of the upstream certificate minted for it
  std::string key_type, fingerprint;  // the inner login's key
  bool success = false;
  bool notice_shown = false;  // recording.notice was sent to the client
};

struct SessionRequest {
  static constexpr const char* kType = "session_request";
  std::string session;
  uint32_t channel = 0;    // inner channel number
  std::string request;     // shell, exec, subsystem, pty-req, env, x11-req, auth-agent-req, direct-tcpip
  std::string command;     // as the client asked (exec command, subsystem name, destination)
  std::string forced_command;  // what runs instead, when forced
  bool allow = false;
  std::string reason;
  std::string rule;            // the rule that decided it, where a rule did
  std::string policy_version;  // the policy in force when it was decided
};

struct SessionClose {
  static constexpr const char* kType = "session_close";
  std::string session;
  uint32_t channel = 0;
  std::string kind;        // session, direct-tcpip
  std::string recording;   // .cast path ("" when none)
  std::string recording_sha256;
  uint64_t recording_size = 0;
  std::optional<int> exit_status;
  std::string exit_signal;
  uint64_t bytes_client_to_target = 0, bytes_target_to_client = 0;
  int64_t duration_ms = 0;
  std::string reason;
};

struct SftpOperation {
  static constexpr const char* kType = "sftp";
  std::string session;
  uint32_t channel = 0;
  std::string op, path, new_path, mode, status;
  uint64_t bytes_read = 0, bytes_written = 0;
};

struct RecordingFailed {
  static constexpr const char* kType = "recording_failed";
  std::string session;
  uint32_t channel = 0;
  std::string recording;
  std::string error;
};

// A signed checkpoint of the log's Merkle tree: the tree of every line
// before this one (see audit/checkpoint.h). Written by the sink itself.
struct Checkpoint {
  static constexpr const char* kType = "checkpoint";
  uint64_t tree_size = 0;
  std::string root;        // base64 of the 32-byte root hash
  std::string checkpoint;  // the signed text
  std::string signature;   // armored SSHSIG over `checkpoint` ("" if unsigned)
  std::string reason;      // interval, events, start, rotation, shutdown
};

// How far an open recording has been written, so a checkpoint covers its
// prefix: written just before each checkpoint while the recording is open.
struct RecordingProgress {
  static constexpr const char* kType = "recording_progress";
  std::string session;
  uint32_t channel = 0;
  std::string path;
  uint64_t bytes = 0;
  std::string sha256;  // hex, of the first `bytes` bytes
};

// A connection on a proxy_protocol listener dropped before SSH: a header
// from a peer not in proxy_from, a missing or malformed header, or one not
// complete within login_grace_time. Server-level (no connection id).
struct ProxyProtocolRefused {
  static constexpr const char* kType = "proxy_protocol_refused";
  std::string reason;
  std::string peer_addr;  // the address the TCP connection came from
  uint16_t peer_port = 0;
  std::string listen;     // the listener's address:port
  int64_t suppressed = 0;  // refusals not written since the last one (flood limit)
};

// Refusals not written one by one (a flood from one connection or source):
// how many, when, and one of their reasons. On a connection's line (scope
// "connection") or a server line (scope "source").
struct AuditSuppressed {
  static constexpr const char* kType = "audit_suppressed";
  std::string scope;   // "connection" or "source"
  std::string source;  // the client address (an IPv6 /64 for scope "source")
  std::string kind;    // "channel_refused" or "auth_failure"
  uint64_t count = 0;
  int64_t first_ms = 0, last_ms = 0;  // Unix ms of the first and last not written
  std::string sample_reason;
};

using Body = std::variant<ServerStart, ServerStop, ConnectionOpen, Auth, ChannelOpen,
                          ChannelClose, ConnectionClose, SessionLimit, CredentialRevoked,
                          PolicyReload, SessionOpen, SessionRequest, SessionClose, SftpOperation,
                          RecordingFailed, Checkpoint, RecordingProgress, DrainStart,
                          ProxyProtocolRefused, AuditSuppressed, LockApplied,
                          SessionTerminated>;

struct Event {
  int64_t time_ms = 0;          // Unix milliseconds
  std::string connection;       // connection id; empty for server events
  Body body;

  const char* type() const;
  nlohmann::json ToJson() const;
};

}  // namespace hopgate::audit
