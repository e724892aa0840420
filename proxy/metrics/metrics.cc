// Metrics: a prometheus-cpp registry whose label children are all created in
// the constructor, and raw child pointers for the hot path. The /proc/self
// process collector is in process_collector.cc, the HTTP front end
// (civetweb) in http_listener.cc.

#include "proxy/metrics/metrics.h"

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>
#include <sys/socket.h>

#include <atomic>
#include <cmath>
#include <exception>
#include <iterator>
#include <mutex>
#include <span>
#include <sstream>
#include <string_view>
#include <vector>

#include "proxy/metrics/disk_collector.h"
#include "proxy/metrics/http_listener.h"
#include "proxy/metrics/process_collector.h"

namespace hopgate::proxy {

const char* const Metrics::kAuthReasons[] = {
    "none",
    "unknown_user",
    "unknown_key",
    "bad_signature",
    "source_address",
    "expired",
    "not_yet_valid",
    "revoked",
    "untrusted_ca",
    "principal",
    "certificate_invalid",
    "too_many_sessions",
    "method_refused",
    "audit_failure",
    "locked",
    "other",
    nullptr,
};

namespace {

using prometheus::Counter;
using prometheus::Gauge;

// Fixed label sets. Each ends with "other", where unknown values go.
constexpr const char* kConnectionResults[] = {
    "accepted",
    "rejected_max_startups",
    "rejected_per_source_max_startups",
    "rejected_penalty",
    "rejected_max_connections",
    "rejected_no_descriptors",
    "dropped_login_grace",
    "dropped_auth_tries",
    "handshake_failed",
    "dropped_client_alive",
    "rejected_proxy_protocol",
    "other",
};
constexpr const char* kAuthMethods[] = {
    "publickey", "certificate", "password", "keyboard-interactive", "other",
};
constexpr const char* kChannelKinds[] = {
    "direct-tcpip", "session", "tcpip-forward", "forwarded-tcpip", "other",
};
constexpr const char* kUpstreamFailureReasons[] = {
    "resolve", "refused", "timeout", "unreachable", "host_key", "auth", "open_refused", "other",
};
constexpr const char* kAuditTypes[] = {
    "server_start",  "server_stop",   "connection_open",  "auth",          "channel_open",
    "channel_close", "session_limit", "connection_close", "policy_reload", "credential_revoked",
    "session_open", "session_request", "session_close", "sftp", "recording_failed",
    "proxy_protocol_refused", "audit_suppressed", "lock_applied", "drain_start",
    "session_terminated", "other",
};

constexpr size_t kNumConnectionResults = std::size(kConnectionResults);
constexpr size_t kNumAuthMethods = std::size(kAuthMethods);
constexpr size_t kNumAuthReasons = std::size(Metrics::kAuthReasons) - 1;  // minus nullptr
constexpr size_t kNumChannelKinds = std::size(kChannelKinds);
constexpr size_t kNumUpstreamFailureReasons = std::size(kUpstreamFailureReasons);
constexpr size_t kNumAuditTypes = std::size(kAuditTypes);
constexpr const char* kSuppressedKinds[] = {"channel_refused", "auth_failure", "other"};
constexpr size_t kNumSuppressedKinds = std::size(kSuppressedKinds);
constexpr size_t kAuthReasonNone = 0;
constexpr size_t kAuthReasonOther = kNumAuthReasons - 1;

const std::vector<double> kUpstreamConnectBuckets = {
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
};

// Index of `value` in a fixed label set; the last entry ("other") if absent.
// A linear scan over a handful of short strings: no lock, no allocation.
size_t LabelIndex(std::span<const char* const> values, std::string_view value) {
  for (size_t i = 0; i + 1 < values.size(); ++i) {
    if (value == values[i]) return i;
  }
  return values.size() - 1;
}

class MetricsImpl final : public Metrics {
 public:
  explicit MetricsImpl(const std::string& version);
  ~MetricsImpl() override { StopServing(); }

  Status Serve(const HostPort& listen, std::function<bool(std::string*)> healthy) override;
  void StopServing() override;
  uint16_t ServingPort() const override { return serving_port_.load(); }

  void Connection(const std::string& result) override {
    connections_[LabelIndex(kConnectionResults, result)]->Increment();
  }
  void ConnectionsActive(int delta) override { Add(connections_active_, delta); }
  void Auth(const std::string& method, bool success, const std::string& reason) override;
  void Channel(const std::string& kind, bool allow) override {
    channels_[LabelIndex(kChannelKinds, kind)][allow ? 0 : 1]->Increment();
  }
  void ChannelsActive(const std::string& kind, int delta) override {
    Add(channels_active_[LabelIndex(kChannelKinds, kind)], delta);
  }
  void RelayBytes(uint64_t client_to_target, uint64_t target_to_client) override {
    if (client_to_target != 0) relay_c2t_->Increment(static_cast<double>(client_to_target));
    if (target_to_client != 0) relay_t2c_->Increment(static_cast<double>(target_to_client));
  }
  void UpstreamConnect(double seconds) override {
    if (std::isnan(seconds)) return;
    upstream_connect_->Observe(seconds < 0 ? 0 : seconds);
  }
  void UpstreamHopConnect(int hop, double seconds) override {
    if (std::isnan(seconds) || hop < 1) return;
    std::string label = hop <= 8 ? std::to_string(hop) : "9+";
    // Created on first use (Family::Add locks): routes are rare next to
    // relayed bytes, and only the depths in use appear.
    hop_connect_->Add({{"hop", label}}, kUpstreamConnectBuckets).Observe(seconds < 0 ? 0 : seconds);
  }
  void UpstreamConnectFailure(const std::string& reason) override {
    upstream_failures_[LabelIndex(kUpstreamFailureReasons, reason)]->Increment();
  }
  void PolicyReload(bool success) override { policy_reloads_[success ? 0 : 1]->Increment(); }
  void PolicyVersion(const std::string& version) override;
  void AuditHealthy(bool healthy) override { audit_healthy_->Set(healthy ? 1 : 0); }
  void AuditSuppressed(const std::string& kind) override {
    audit_suppressed_[LabelIndex(kSuppressedKinds, kind)]->Increment();
  }
  void WatchDiskFree(const std::string& audit_log, const std::string& recordings_dir) override {
    disk_.Watch(audit_log, recordings_dir);
  }
  void FleetCopy(uint64_t lag_events, bool database_up) override {
    std::lock_guard<std::mutex> lock(fleet_mu_);
    if (fleet_lag_ == nullptr) {
      fleet_lag_ = &prometheus::BuildGauge()
                        .Name("hopgate_fleet_copy_lag_events")
                        .Help("Audit events written to the local log but not yet copied to the "
                              "fleet database.")
                        .Register(registry_)
                        .Add({});
      fleet_up_ = &prometheus::BuildGauge()
                       .Name("hopgate_fleet_database_up")
                       .Help("1 while the fleet database (fleet.database) is reachable, else 0.")
                       .Register(registry_)
                       .Add({});
    }
    fleet_lag_->Set(static_cast<double>(lag_events));
    fleet_up_->Set(database_up ? 1 : 0);
  }
  void FleetLiveSessions(int64_t sessions) override {
    std::lock_guard<std::mutex> lock(fleet_mu_);
    if (fleet_live_ == nullptr) {
      fleet_live_ = &prometheus::BuildGauge()
                         .Name("hopgate_fleet_live_sessions")
                         .Help("Sessions open across the fleet (every live replica), as this "
                               "replica last read them from the fleet database.")
                         .Register(registry_)
                         .Add({});
    }
    fleet_live_->Set(static_cast<double>(sessions));
  }
  void SignerSignature(const std::string& kind) override {
    signer_signatures_[kind == "audit_checkpoint" ? 1 : 0]->Increment();
  }
  void SignerFailure(const std::string& reason) override {
    signer_failures_[reason == "refused" ? 0 : 1]->Increment();
  }
  void AuditEvent(const std::string& type, bool written) override {
    audit_events_[LabelIndex(kAuditTypes, type)]->Increment();
    if (!written) audit_write_errors_->Increment();
  }

 private:
  static void Add(Gauge* gauge, int delta) {
    if (delta >= 0) {
      gauge->Increment(delta);
    } else {
      gauge->Decrement(-static_cast<double>(delta));
    }
  }

  // Label children are created up front, one family group at a time.
  void RegisterConnectionMetrics();  // connections_*, connections_active_, auth_
  void RegisterChannelMetrics();     // channels_*, relay_*
  void RegisterUpstreamMetrics();    // upstream_connect_, hop_connect_, upstream_failures_
  void RegisterPolicyAndAuditMetrics();  // policy_*, audit_*

  HttpReply Route(std::string_view method, std::string_view path);
  std::string Scrape() const;

  prometheus::Registry registry_;
  ProcessCollector process_;
  DiskCollector disk_;

  Counter* connections_[kNumConnectionResults] = {};
  Gauge* connections_active_ = nullptr;
  // [method][reason][0 success, 1 failure]; null where never used (a success
  // is always reason "none", a failure never is).
  Counter* auth_[kNumAuthMethods][kNumAuthReasons][2] = {};
  Counter* channels_[kNumChannelKinds][2] = {};  // [kind][0 allow, 1 deny]
  Gauge* channels_active_[kNumChannelKinds] = {};
  Counter* relay_c2t_ = nullptr;
  Counter* relay_t2c_ = nullptr;
  prometheus::Histogram* upstream_connect_ = nullptr;
  prometheus::Family<prometheus::Histogram>* hop_connect_ = nullptr;
  Counter* upstream_failures_[kNumUpstreamFailureReasons] = {};
  Counter* policy_reloads_[2] = {};  // [0 success, 1 failure]
  Counter* audit_events_[kNumAuditTypes] = {};
  Counter* audit_write_errors_ = nullptr;
  Counter* audit_suppressed_[kNumSuppressedKinds] = {};
  Gauge* audit_healthy_ = nullptr;
  Counter* signer_signatures_[2] = {};  // [0 user_certificate, 1 audit_checkpoint]
  Counter* signer_failures_[2] = {};    // [0 refused, 1 unavailable]

  std::mutex fleet_mu_;
  Gauge* fleet_lag_ = nullptr;  // guarded by fleet_mu_
  Gauge* fleet_up_ = nullptr;   // guarded by fleet_mu_
  Gauge* fleet_live_ = nullptr;  // guarded by fleet_mu_

  std::mutex policy_mu_;
  prometheus::Family<Gauge>* policy_info_ = nullptr;
  Gauge* policy_current_ = nullptr;  // guarded by policy_mu_
  std::string policy_version_;       // guarded by policy_mu_

  std::mutex serve_mu_;
  std::function<bool(std::string*)> healthy_;  // set before the listener starts
  std::unique_ptr<CivetListener> listener_;     // guarded by serve_mu_
  std::atomic<uint16_t> serving_port_{0};
};

MetricsImpl::MetricsImpl(const std::string& version) {
  prometheus::BuildGauge()
      .Name("hopgate_build_info")
      .Help("Always 1; the version label is the running hopgate version.")
      .Register(registry_)
      .Add({{"version", version}})
      .Set(1);
  RegisterConnectionMetrics();
  RegisterChannelMetrics();
  RegisterUpstreamMetrics();
  RegisterPolicyAndAuditMetrics();
}

void MetricsImpl::RegisterConnectionMetrics() {
  auto& connections = prometheus::BuildCounter()
                          .Name("hopgate_connections_total")
                          .Help("Client TCP connections, by what became of them.")
                          .Register(registry_);
  for (size_t i = 0; i < kNumConnectionResults; ++i) {
    connections_[i] = &connections.Add({{"result", kConnectionResults[i]}});
  }
  connections_active_ = &prometheus::BuildGauge()
                             .Name("hopgate_connections_active")
                             .Help("Client connections currently open.")
                             .Register(registry_)
                             .Add({});

  auto& auth = prometheus::BuildCounter()
                   .Name("hopgate_auth_total")
                   .Help("Authentication attempts, by method, result and failure reason.")
                   .Register(registry_);
  for (size_t m = 0; m < kNumAuthMethods; ++m) {
    auth_[m][kAuthReasonNone][0] = &auth.Add(
        {{"method", kAuthMethods[m]}, {"result", "success"}, {"reason", kAuthReasons[0]}});
    for (size_t r = kAuthReasonNone + 1; r < kNumAuthReasons; ++r) {
      auth_[m][r][1] = &auth.Add(
          {{"method", kAuthMethods[m]}, {"result", "failure"}, {"reason", kAuthReasons[r]}});
    }
  }
}

void MetricsImpl::RegisterChannelMetrics() {
  auto& channels = prometheus::BuildCounter()
                       .Name("hopgate_channels_total")
                       .Help("SSH channel requests, by kind and policy decision.")
                       .Register(registry_);
  auto& channels_active = prometheus::BuildGauge()
                              .Name("hopgate_channels_active")
                              .Help("SSH channels currently open, by kind.")
                              .Register(registry_);
  for (size_t k = 0; k < kNumChannelKinds; ++k) {
    channels_[k][0] = &channels.Add({{"kind", kChannelKinds[k]}, {"decision", "allow"}});
    channels_[k][1] = &channels.Add({{"kind", kChannelKinds[k]}, {"decision", "deny"}});
    channels_active_[k] = &channels_active.Add({{"kind", kChannelKinds[k]}});
  }

  auto& relay = prometheus::BuildCounter()
                    .Name("hopgate_relay_bytes_total")
                    .Help("Bytes relayed between clients and targets, by direction.")
                    .Register(registry_);
  relay_c2t_ = &relay.Add({{"direction", "client_to_target"}});
  relay_t2c_ = &relay.Add({{"direction", "target_to_client"}});
}

void MetricsImpl::RegisterUpstreamMetrics() {
  upstream_connect_ = &prometheus::BuildHistogram()
                           .Name("hopgate_upstream_connect_seconds")
                           .Help(
                               "Time taken by successful dials to targets (resolve and "
                               "TCP connect), in seconds.")
                           .Register(registry_)
                           .Add({}, kUpstreamConnectBuckets);
  hop_connect_ = &prometheus::BuildHistogram()
                      .Name("hopgate_upstream_hop_connect_seconds")
                      .Help(
                          "Time to set up the gateway's SSH connection to a jump host (reach it, "
                          "key exchange, host key check, login), by the hop's position in its "
                          "route, in seconds.")
                      .Register(registry_);
  // The first hop's series exists from the start, so dashboards and alerts
  // find the metric before any route is used; deeper hops appear with use.
  hop_connect_->Add({{"hop", "1"}}, kUpstreamConnectBuckets);
  auto& failures = prometheus::BuildCounter()
                       .Name("hopgate_upstream_connect_failures_total")
                       .Help("Failed upstream connections, by reason.")
                       .Register(registry_);
  for (size_t i = 0; i < kNumUpstreamFailureReasons; ++i) {
    upstream_failures_[i] = &failures.Add({{"reason", kUpstreamFailureReasons[i]}});
  }
}

void MetricsImpl::RegisterPolicyAndAuditMetrics() {
  auto& reloads = prometheus::BuildCounter()
                      .Name("hopgate_policy_reloads_total")
                      .Help("Policy reloads, by result (a failed reload keeps the old policy).")
                      .Register(registry_);
  policy_reloads_[0] = &reloads.Add({{"result", "success"}});
  policy_reloads_[1] = &reloads.Add({{"result", "failure"}});
  policy_info_ = &prometheus::BuildGauge()
                      .Name("hopgate_policy_info")
                      .Help("Always 1; the version label is the policy in force.")
                      .Register(registry_);

  auto& audit = prometheus::BuildCounter()
                    .Name("hopgate_audit_events_total")
                    .Help("Audit events recorded (written or not), by type.")
                    .Register(registry_);
  for (size_t i = 0; i < kNumAuditTypes; ++i) {
    audit_events_[i] = &audit.Add({{"type", kAuditTypes[i]}});
  }
  audit_write_errors_ = &prometheus::BuildCounter()
                             .Name("hopgate_audit_write_errors_total")
                             .Help("Audit events that could not be written to the audit log.")
                             .Register(registry_)
                             .Add({});
  auto& suppressed = prometheus::BuildCounter()
                         .Name("hopgate_audit_suppressed_total")
                         .Help("Refusals counted into an audit_suppressed summary instead of "
                               "being written one by one, by kind.")
                         .Register(registry_);
  for (size_t i = 0; i < kNumSuppressedKinds; ++i) {
    audit_suppressed_[i] = &suppressed.Add({{"kind", kSuppressedKinds[i]}});
  }
  audit_healthy_ = &prometheus::BuildGauge()
                        .Name("hopgate_audit_log_healthy")
                        .Help("1 while the audit log can be written (what /healthz reports), "
                              "else 0.")
                        .Register(registry_)
                        .Add({});
  audit_healthy_->Set(1);
  auto& signatures = prometheus::BuildCounter()
                         .Name("hopgate_signer_signatures_total")
                         .Help("Signatures the signer process made, by kind.")
                         .Register(registry_);
  signer_signatures_[0] = &signatures.Add({{"kind", "user_certificate"}});
  signer_signatures_[1] = &signatures.Add({{"kind", "audit_checkpoint"}});
  auto& failures = prometheus::BuildCounter()
                       .Name("hopgate_signer_failures_total")
                       .Help("Requests to the signer that got no signature: refused by its "
                             "limits, or the signer was not running.")
                       .Register(registry_);
  signer_failures_[0] = &failures.Add({{"reason", "refused"}});
  signer_failures_[1] = &failures.Add({{"reason", "unavailable"}});
}

void MetricsImpl::Auth(const std::string& method, bool success, const std::string& reason) {
  size_t m = LabelIndex(kAuthMethods, method);
  if (success) {
    auth_[m][kAuthReasonNone][0]->Increment();
    return;
  }
  size_t r = LabelIndex(std::span(kAuthReasons, kNumAuthReasons), reason);
  if (r == kAuthReasonNone) r = kAuthReasonOther;
  auth_[m][r][1]->Increment();
}

void MetricsImpl::PolicyVersion(const std::string& version) {
  std::lock_guard<std::mutex> lock(policy_mu_);
  if (policy_current_ != nullptr && version == policy_version_) return;
  try {
    if (policy_current_ != nullptr) policy_info_->Remove(policy_current_);
    policy_current_ = &policy_info_->Add({{"version", version}});
    policy_current_->Set(1);
    policy_version_ = version;
  } catch (const std::exception&) {
    // Only an invalid label name throws, and "version" is valid.
    policy_current_ = nullptr;
  }
}

std::string MetricsImpl::Scrape() const {
  std::vector<prometheus::MetricFamily> families = registry_.Collect();
  std::vector<prometheus::MetricFamily> process = process_.Collect();
  families.insert(families.end(), std::make_move_iterator(process.begin()),
                  std::make_move_iterator(process.end()));
  std::vector<prometheus::MetricFamily> disk = disk_.Collect();
  families.insert(families.end(), std::make_move_iterator(disk.begin()),
                  std::make_move_iterator(disk.end()));
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, families);
  return out.str();
}

HttpReply MetricsImpl::Route(std::string_view method, std::string_view path) {
  const char* kText = "text/plain; charset=utf-8";
  if (path != "/metrics" && path != "/healthz" && path != "/healthz/ready" &&
      path != "/healthz/live") {
    return {404, kText, "not found\n"};
  }
  if (method != "GET" && method != "HEAD") return {405, kText, "method not allowed\n", true};
  try {
    if (path == "/metrics") {
      return {200, "text/plain; version=0.0.4; charset=utf-8", Scrape()};
    }
    // Liveness: the process answers. Readiness (/healthz/ready, and /healthz
    // as before): the health callback (audit log writable, not draining).
    if (path == "/healthz/live") return {200, kText, "ok\n"};
    std::string why_not;
    if (!healthy_ || healthy_(&why_not)) return {200, kText, "ok\n"};
    if (why_not.empty()) why_not = "unhealthy";
    return {503, kText, why_not + "\n"};
  } catch (const std::exception& e) {
    return {500, kText, std::string("error: ") + e.what() + "\n"};
  }
}

Status MetricsImpl::Serve(const HostPort& listen, std::function<bool(std::string*)> healthy) {
  std::lock_guard<std::mutex> lock(serve_mu_);
  const std::string failed = "cannot serve metrics on " + listen.ToString() + ": ";
  if (listener_ != nullptr) return Error{failed + "already serving"};
  socklen_t len = 0;
  Result<sockaddr_storage> addr = ResolveListen(listen, &len);
  if (!addr.ok()) return Error{failed + addr.message()};
  healthy_ = std::move(healthy);
  HttpRouter router = [this](std::string_view method, std::string_view path) {
    return Route(method, path);
  };
  std::string why;
  try {
    if (addr->ss_family == AF_INET6 && mg_check_feature(MG_FEATURES_IPV6) == 0) {
      // Debian 12's civetweb is built without IPv6; rather than a second,
      // hand-written HTTP server, say so.
      why = "IPv6 addresses are not supported by the installed civetweb (built without "
            "IPv6); use an IPv4 address such as 127.0.0.1 or 0.0.0.0";
    } else {
      listener_ = std::make_unique<CivetListener>(JoinHostPort(NumericHost(*addr), listen.port),
                                                  std::move(router), &why);
    }
  } catch (const std::exception& e) {
    if (why.empty()) why = e.what();
    listener_.reset();
  }
  if (listener_ == nullptr) {
    healthy_ = nullptr;
    return Error{failed + (why.empty() ? "unknown error" : why)};
  }
  serving_port_ = listener_->port();
  return Status::Ok();
}

void MetricsImpl::StopServing() {
  std::lock_guard<std::mutex> lock(serve_mu_);
  listener_.reset();  // joins the listener's threads; no request runs after this
  serving_port_ = 0;
  healthy_ = nullptr;
}

}  // namespace

std::unique_ptr<Metrics> Metrics::Create(const std::string& version) {
  try {
    return std::make_unique<MetricsImpl>(version);
  } catch (const std::exception&) {
    return nullptr;
  }
}

}  // namespace hopgate::proxy
