#include "audit/events.h"

#include "common/time_util.h"

namespace hopgate::audit {
namespace {

using nlohmann::json;

void Fill(json& j, const ServerStart& e) {
  j["version"] = e.version;
  j["listen"] = e.listen;
  j["policy_version"] = e.policy_version;
  j["host_keys"] = e.host_key_fingerprints;
}

void Fill(json& j, const ServerStop& e) {
  j["reason"] = e.reason;
  j["connections_closed"] = e.connections_closed;
}

void Fill(json& j, const DrainStart& e) {
  j["reason"] = e.reason;
  j["connections_open"] = e.connections_open;
  j["recordings_open"] = e.recordings_open;
  j["drain_timeout"] = e.drain_timeout_s;
}

void Fill(json& j, const ConnectionOpen& e) {
  j["client_addr"] = e.client_addr;
  j["client_port"] = e.client_port;
  j["listen"] = e.listen;
  if (!e.via_proxy.empty()) j["via_proxy"] = e.via_proxy;
}

void Fill(json& j, const ProxyProtocolRefused& e) {
  j["reason"] = e.reason;
  j["peer_addr"] = e.peer_addr;
  j["peer_port"] = e.peer_port;
  j["listen"] = e.listen;
  if (e.suppressed > 0) j["suppressed"] = e.suppressed;
}

void Fill(json& j, const Auth& e) {
  j["user"] = e.user;
  j["client_addr"] = e.client_addr;
  j["client_port"] = e.client_port;
  j["method"] = e.method;
  if (!e.key_type.empty()) j["key_type"] = e.key_type;
  if (!e.fingerprint.empty()) j["fingerprint"] = e.fingerprint;
  j["result"] = e.success ? "success" : "failure";
  if (!e.reason.empty()) j["reason"] = e.reason;
  if (e.certificate) {
    const CertificateInfo& c = *e.certificate;
    j["certificate"] = {{"key_id", c.key_id},
                        {"serial", c.serial},
                        {"principals", c.principals},
                        {"ca_fingerprint", c.ca_fingerprint},
                        {"valid_after", c.valid_after},
                        {"valid_before", c.valid_before}};
  }
}

void Fill(json& j, const ChannelOpen& e) {
  j["channel"] = e.channel;
  j["kind"] = e.kind;
  if (!e.destination.empty()) j["destination"] = e.destination;
  if (!e.addresses.empty()) j["addresses"] = e.addresses;
  if (!e.dial.empty()) j["dial"] = e.dial;
  if (!e.originator.empty()) j["originator"] = e.originator;
  j["decision"] = e.allow ? "allow" : "deny";
  j["rule"] = e.rule;
  if (!e.reason.empty()) j["reason"] = e.reason;
  if (!e.error.empty()) j["error"] = e.error;
  j["policy_version"] = e.policy_version;
  if (!e.route.empty()) j["route"] = e.route;
  if (!e.failed_hop.empty()) j["failed_hop"] = e.failed_hop;
  if (e.recorded) j["recorded"] = true;
  if (!e.host.empty()) j["host"] = e.host;
  if (e.suppressed != 0) j["suppressed"] = e.suppressed;
}

void Fill(json& j, const ChannelClose& e) {
  j["channel"] = e.channel;
  j["kind"] = e.kind;
  if (!e.destination.empty()) j["destination"] = e.destination;
  j["bytes_client_to_target"] = e.bytes_client_to_target;
  j["bytes_target_to_client"] = e.bytes_target_to_client;
  j["duration_ms"] = e.duration_ms;
  if (!e.reason.empty()) j["reason"] = e.reason;
}

void Fill(json& j, const ConnectionClose& e) {
  if (!e.user.empty()) j["user"] = e.user;
  j["reason"] = e.reason;
  j["duration_ms"] = e.duration_ms;
  j["channels"] = e.channels;
}

void Fill(json& j, const SessionLimit& e) {
  j["user"] = e.user;
  j["limit"] = e.limit;
  j["seconds"] = e.seconds;
  if (!e.rule.empty()) j["rule"] = e.rule;
}

void Fill(json& j, const CredentialRevoked& e) {
  j["user"] = e.user;
  j["fingerprint"] = e.fingerprint;
  j["reason"] = e.reason;
}

void Fill(json& j, const SessionOpen& e) {
  j["session"] = e.session;
  j["channel"] = e.channel;
  j["user"] = e.user;
  if (!e.login.empty()) j["login"] = e.login;
  j["target"] = e.target;
  if (!e.dial.empty()) j["dial"] = e.dial;
  if (!e.route.empty()) j["route"] = e.route;
  j["rule"] = e.rule;
  if (!e.key_id.empty()) j["upstream_key_id"] = e.key_id;
  if (!e.key_type.empty()) j["key_type"] = e.key_type;
  if (!e.fingerprint.empty()) j["fingerprint"] = e.fingerprint;
  j["result"] = e.success ? "success" : "failure";
  if (!e.reason.empty()) j["reason"] = e.reason;
  if (e.notice_shown) j["notice_shown"] = true;
}

void Fill(json& j, const SessionRequest& e) {
  j["session"] = e.session;
  j["channel"] = e.channel;
  j["request"] = e.request;
  if (!e.command.empty()) j["command"] = e.command;
  if (!e.forced_command.empty()) j["forced_command"] = e.forced_command;
  j["decision"] = e.allow ? "allow" : "deny";
  if (!e.reason.empty()) j["reason"] = e.reason;
  if (!e.rule.empty()) j["rule"] = e.rule;
  if (!e.policy_version.empty()) j["policy_version"] = e.policy_version;
}

void Fill(json& j, const SessionClose& e) {
  j["session"] = e.session;
  j["channel"] = e.channel;
  j["kind"] = e.kind;
  if (!e.recording.empty()) {
    j["recording"] = e.recording;
    j["recording_sha256"] = e.recording_sha256;
    j["recording_size"] = e.recording_size;
  }
  if (e.exit_status) j["exit_status"] = *e.exit_status;
  if (!e.exit_signal.empty()) j["exit_signal"] = e.exit_signal;
  j["bytes_client_to_target"] = e.bytes_client_to_target;
  j["bytes_target_to_client"] = e.bytes_target_to_client;
  j["duration_ms"] = e.duration_ms;
  if (!e.reason.empty()) j["reason"] = e.reason;
}

void Fill(json& j, const SftpOperation& e) {
  j["session"] = e.session;
  j["channel"] = e.channel;
  j["op"] = e.op;
  j["path"] = e.path;
  if (!e.new_path.empty()) j["new_path"] = e.new_path;
  if (!e.mode.empty()) j["mode"] = e.mode;
  if (e.op == "close") {
    j["bytes_read"] = e.bytes_read;
    j["bytes_written"] = e.bytes_written;
  }
  if (!e.status.empty()) j["status"] = e.status;
}

void Fill(json& j, const RecordingFailed& e) {
  j["session"] = e.session;
  j["channel"] = e.channel;
  j["recording"] = e.recording;
  j["error"] = e.error;
}

void Fill(json& j, const Checkpoint& e) {
  j["tree_size"] = e.tree_size;
  j["root"] = e.root;
  j["checkpoint"] = e.checkpoint;
  j["signature"] = e.signature;
  j["reason"] = e.reason;
}

void Fill(json& j, const LockApplied& e) {
  j["user"] = e.user;
  j["lock_id"] = e.lock_id;
  j["reason"] = e.reason;
  j["kind"] = e.kind;
  j["value"] = e.value;
}

void Fill(json& j, const SessionTerminated& e) {
  j["user"] = e.user;
  j["reason"] = e.reason;
  j["requested_by"] = e.requested_by;
  j["request_id"] = e.request_id;
  if (!e.node.empty()) j["node"] = e.node;
}

void Fill(json& j, const RecordingProgress& e) {
  j["session"] = e.session;
  j["channel"] = e.channel;
  j["path"] = e.path;
  j["bytes"] = e.bytes;
  j["sha256"] = e.sha256;
}

void Fill(json& j, const PolicyReload& e) {
  j["result"] = e.success ? "success" : "failure";
  j["trigger"] = e.trigger;
  j["policy_version"] = e.policy_version;
  if (!e.previous_version.empty()) j["previous_version"] = e.previous_version;
  j["errors"] = e.errors;
  j["warnings"] = e.warnings;
  if (!e.messages.empty()) j["messages"] = e.messages;
}

void Fill(json& j, const AuditSuppressed& e) {
  j["scope"] = e.scope;
  j["source"] = e.source;
  j["kind"] = e.kind;
  j["count"] = e.count;
  j["first"] = FormatRfc3339Millis(e.first_ms);
  j["last"] = FormatRfc3339Millis(e.last_ms);
  j["sample_reason"] = e.sample_reason;
}

}  // namespace

const char* Event::type() const {
  return std::visit([](const auto& b) { return std::decay_t<decltype(b)>::kType; }, body);
}

nlohmann::json Event::ToJson() const {
  json j;
  j["ts"] = FormatRfc3339Millis(time_ms);
  j["type"] = type();
  if (!connection.empty()) j["connection"] = connection;
  std::visit([&](const auto& b) { Fill(j, b); }, body);
  return j;
}

}  // namespace hopgate::audit
