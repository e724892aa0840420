// Config::Dump: the effective configuration as YAML that loads back to the
// same Config (what `hopgate -T` prints), with secrets redacted.
#include <string>

#include "common/strings.h"
#include "common/time_util.h"
#include "proxy/config/config.h"

namespace hopgate::proxy {

namespace {
// postgresql://user:secret@host/db -> postgresql://user:REDACTED@host/db
std::string RedactPassword(const std::string& uri) {
  size_t scheme = uri.find("://");
  if (scheme == std::string::npos) return uri;
  size_t at = uri.find('@', scheme + 3);
  size_t slash = uri.find('/', scheme + 3);
  if (at == std::string::npos || (slash != std::string::npos && slash < at)) return uri;
  size_t colon = uri.find(':', scheme + 3);
  if (colon == std::string::npos || colon > at) return uri;
  return uri.substr(0, colon + 1) + "REDACTED" + uri.substr(at);
}
}  // namespace

std::string Config::Dump() const {
  std::string out = "version: 1\nlisten:\n";
  for (size_t i = 0; i < listen.size(); ++i) {
    const ListenProxy* proxy = i < listen_proxy.size() ? &listen_proxy[i] : nullptr;
    if (!proxy || !proxy->enabled) {
      out += "  - " + Quote(listen[i].ToString()) + "\n";
      continue;
    }
    out += "  - {address: " + Quote(listen[i].ToString()) + ", proxy_protocol: true, proxy_from: [";
    for (size_t j = 0; j < proxy->from.size(); ++j) {
      out += (j ? ", " : "") + Quote(proxy->from[j].ToString());
    }
    out += "]}\n";
  }
  out += "host_keys:\n";
  for (const auto& k : host_keys) out += "  - " + Quote(k) + "\n";
  out += "policy: " + Quote(policy) + "\n";
  out += "audit:\n  log: " + Quote(audit_log) + "\n";
  out += "limits:\n";
  out += "  login_grace_time: " + FormatDuration(login_grace_time) + "\n";
  out += "  max_startups: " + std::to_string(max_startups) + "\n";
  out += "  drain_timeout: " + FormatDuration(drain_timeout) + "\n";
  out += "  per_source_max_startups: " + std::to_string(per_source_max_startups) + "\n";
  if (!per_source_penalty.enabled) {
    out += "  per_source_penalty: off\n";
  } else {
    const PenaltyConfig& p = per_source_penalty;
    out += "  per_source_penalty: {authfail: " + FormatDuration(p.authfail_ms / 1000) +
           ", noauth: " + FormatDuration(p.noauth_ms / 1000) +
           ", grace_exceeded: " + FormatDuration(p.grace_exceeded_ms / 1000) +
           ", min: " + FormatDuration(p.min_ms / 1000) + ", max: " + FormatDuration(p.max_ms / 1000) +
           "}\n";
  }
  if (!per_source_penalty.exempt.empty()) {
    out += "  per_source_penalty_exempt:\n";
    for (const Cidr& c : per_source_penalty.exempt) out += "    - " + Quote(c.ToString()) + "\n";
  }
  out += "  max_sessions_per_user: " + std::to_string(max_sessions_per_user) + "\n";
  out += "  max_auth_tries: " + std::to_string(max_auth_tries) + "\n";
  out += "  connect_timeout: " + FormatDuration(connect_timeout) + "\n";
  out += "  max_connections: " + std::to_string(max_connections) + "\n";
  out += "  max_channels_per_connection: " + std::to_string(max_channels_per_connection) + "\n";
  out += "  client_alive_interval: " + FormatDuration(client_alive_interval) + "\n";
  out += "  client_alive_count_max: " + std::to_string(client_alive_count_max) + "\n";
  // Optional paths appear only when set, so the output loads back as is.
  out += "authentication:\n";
  if (!trusted_user_ca_keys.empty()) {
    out += "  trusted_user_ca_keys: " + Quote(trusted_user_ca_keys) + "\n";
  }
  if (!revoked_keys.empty()) out += "  revoked_keys: " + Quote(revoked_keys) + "\n";
  out += std::string("  close_revoked_sessions: ") + (close_revoked_sessions ? "true" : "false") +
         "\n";
  out += "  min_rsa_bits: " + std::to_string(min_rsa_bits) + "\n";
  if (metrics_listen) out += "metrics:\n  listen: " + Quote(metrics_listen->ToString()) + "\n";
  std::string tree = "  recordings: " + Quote(recordings_dir) + "\n";
  if (!audit_signing_key.empty()) tree += "  signing_key: " + Quote(audit_signing_key) + "\n";
  tree += "  origin: " + Quote(audit_origin) + "\n";
  tree += "  checkpoint_interval: " + FormatDuration(audit_checkpoint_interval) + "\n";
  if (audit_rotate_size != 0) tree += "  rotate_size: " + std::to_string(audit_rotate_size) + "\n";
  if (audit_rotate_interval != 0) {
    tree += "  rotate_interval: " + FormatDuration(audit_rotate_interval) + "\n";
  }
  out.insert(out.find("limits:\n"), tree);
  out += "recording:\n";
  if (!recording_host_keys.empty()) {
    out += "  host_keys:\n";
    for (const auto& k : recording_host_keys) out += "    - " + Quote(k) + "\n";
  }
  out += "  max_unflushed: " + std::to_string(recording_max_unflushed) + "\n";
  out += "  min_free_bytes: " + std::to_string(recording_min_free_bytes) + "\n";
  out += "  notice: " + Quote(recording_notice) + "\n";
  out += "upstream:\n";
  if (!upstream_user_ca_key.empty()) {
    out += "  user_ca_key: " + Quote(upstream_user_ca_key) + "\n";
  }
  out += "  max_channels_per_connection: " + std::to_string(upstream_max_channels) + "\n";
  out += "  idle_close: " + FormatDuration(upstream_idle_close) + "\n";
  out += "  max_cert_validity: " + FormatDuration(upstream_max_cert_validity) + "\n";
  out += "  alive_interval: " + FormatDuration(upstream_alive_interval) + "\n";
  out += "  alive_count_max: " + std::to_string(upstream_alive_count_max) + "\n";
  out += "log_level: " + log_level + "\n";
  if (!user.empty()) out += "user: " + Quote(user) + "\n";
  if (!fleet_database.empty()) {
    out += "fleet:\n  database: " + Quote(RedactPassword(fleet_database)) + "\n";
    out += "  node: " + Quote(fleet_node) + "\n";
    out += "  max_sessions_per_user: " + std::to_string(fleet_max_sessions_per_user) + "\n";
    out += "  heartbeat_interval: " + FormatDuration(fleet_heartbeat_interval) + "\n";
  }
  if (!locks_file.empty()) out += "locks:\n  file: " + Quote(locks_file) + "\n";
  return out;
}

}  // namespace hopgate::proxy
