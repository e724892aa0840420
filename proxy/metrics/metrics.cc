// Metrics: a prometheus-cpp registry whose label children are all created in
// the constructor, raw child pointers for the hot path, a /proc/self process
// collector, and the HTTP front end (civetweb).

#include "proxy/metrics/metrics.h"

#include <CivetServer.h>
#include <arpa/inet.h>
#include <dirent.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstring>
#include <exception>
#include <fstream>
#include <iterator>
#include <mutex>
#include <span>
#include <sstream>
#include <string_view>
#include <thread>
#include <vector>

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
    "rejected_max_connections",
    "rejected_no_descriptors",
    "dropped_login_grace",
    "dropped_auth_tries",
    "handshake_failed",
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
    "session_open", "session_request", "session_close", "sftp", "recording_failed", "other",
};

constexpr size_t kNumConnectionResults = std::size(kConnectionResults);
constexpr size_t kNumAuthMethods = std::size(kAuthMethods);
constexpr size_t kNumAuthReasons = std::size(Metrics::kAuthReasons) - 1;  // minus nullptr
constexpr size_t kNumChannelKinds = std::size(kChannelKinds);
constexpr size_t kNumUpstreamFailureReasons = std::size(kUpstreamFailureReasons);
constexpr size_t kNumAuditTypes = std::size(kAuditTypes);
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

// ---------------------------------------------------------------------------
// Process metrics from /proc/self, read at scrape time.

prometheus::MetricFamily OneValue(const char* name, const char* help, prometheus::MetricType type,
                                  double value) {
  prometheus::MetricFamily family;
  family.name = name;
  family.help = help;
  family.type = type;
  prometheus::ClientMetric metric;
  if (type == prometheus::MetricType::Counter) {
    metric.counter.value = value;
  } else {
    metric.gauge.value = value;
  }
  family.metric.push_back(metric);
  return family;
}

class ProcessCollector : public prometheus::Collectable {
 public:
  std::vector<prometheus::MetricFamily> Collect() const override {
    std::vector<prometheus::MetricFamily> out;
    const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
    const double page = static_cast<double>(sysconf(_SC_PAGESIZE));
    std::vector<std::string> stat = StatFields();
    // Fields after "(comm)": index 0 is field 3 (state) of proc(5), so
    // utime (14) is 11, stime (15) is 12, starttime (22) is 19, vsize (23)
    // is 20 and rss (24) is 21.
    if (stat.size() > 21 && ticks > 0) {
      double utime = std::strtod(stat[11].c_str(), nullptr);
      double stime = std::strtod(stat[12].c_str(), nullptr);
      out.push_back(OneValue("process_cpu_seconds_total",
                             "Total user and system CPU time spent in seconds.",
                             prometheus::MetricType::Counter, (utime + stime) / ticks));
      out.push_back(OneValue("process_virtual_memory_bytes", "Virtual memory size in bytes.",
                             prometheus::MetricType::Gauge,
                             std::strtod(stat[20].c_str(), nullptr)));
      out.push_back(OneValue("process_resident_memory_bytes", "Resident memory size in bytes.",
                             prometheus::MetricType::Gauge,
                             std::strtod(stat[21].c_str(), nullptr) * page));
      double boot = BootTime();
      if (boot > 0) {
        out.push_back(OneValue(
            "process_start_time_seconds", "Start time of the process since unix epoch in seconds.",
            prometheus::MetricType::Gauge, boot + std::strtod(stat[19].c_str(), nullptr) / ticks));
      }
    }
    if (int fds = OpenFds(); fds >= 0) {
      out.push_back(OneValue("process_open_fds", "Number of open file descriptors.",
                             prometheus::MetricType::Gauge, fds));
    }
    struct rlimit limit {};
    if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY) {
      out.push_back(OneValue("process_max_fds", "Maximum number of open file descriptors.",
                             prometheus::MetricType::Gauge, static_cast<double>(limit.rlim_cur)));
    }
    return out;
  }

 private:
  // The space-separated fields of /proc/self/stat after "(comm)", which may
  // itself contain spaces and parentheses: split after the last ')'.
  static std::vector<std::string> StatFields() {
    std::ifstream in("/proc/self/stat");
    std::string line;
    if (!std::getline(in, line)) return {};
    size_t close = line.rfind(')');
    if (close == std::string::npos) return {};
    std::istringstream rest(line.substr(close + 1));
    std::vector<std::string> fields;
    for (std::string field; rest >> field;) fields.push_back(field);
    return fields;
  }

  static double BootTime() {
    std::ifstream in("/proc/stat");
    for (std::string line; std::getline(in, line);) {
      if (line.rfind("btime ", 0) == 0) return std::strtod(line.c_str() + 6, nullptr);
    }
    return 0;
  }

  static int OpenFds() {
    DIR* dir = opendir("/proc/self/fd");
    if (dir == nullptr) return -1;
    int own = dirfd(dir);
    int count = 0;
    while (struct dirent* entry = readdir(dir)) {
      if (entry->d_name[0] == '.') continue;
      if (std::atoi(entry->d_name) == own) continue;  // the fd reading the directory
      ++count;
    }
    closedir(dir);
    return count;
  }
};

// ---------------------------------------------------------------------------
// HTTP: one routing function, called by the civetweb listener.

struct HttpReply {
  int status = 200;
  std::string content_type;
  std::string body;
  bool allow_header = false;  // 405: "Allow: GET, HEAD"
};

using Router = std::function<HttpReply(std::string_view method, std::string_view path)>;

// civetweb reports why a start failed only through log_message, on the
// starting thread: collect the first message there.
thread_local std::string* civet_start_error = nullptr;

int CivetLogMessage(const mg_connection*, const char* message) {
  if (civet_start_error != nullptr && civet_start_error->empty() && message != nullptr) {
    *civet_start_error = message;
  }
  return 1;  // civetweb itself prints nothing
}

class CivetListener {
 public:
  // Throws CivetException if the address cannot be bound.
  CivetListener(const std::string& address, Router router, std::string* error)
      : handler_(std::move(router)) {
    CivetCallbacks callbacks;
    callbacks.log_message = CivetLogMessage;
    civet_start_error = error;
    struct Reset {
      ~Reset() { civet_start_error = nullptr; }
    } reset;
    server_ = std::make_unique<CivetServer>(
        std::vector<std::string>{
            "listening_ports",
            address,
            "num_threads",
            "2",
            "request_timeout_ms",
            "10000",
            "enable_keep_alive",
            "no",
            "enable_directory_listing",
            "no",
        },
        &callbacks);
    // Every path goes to the router, which answers 404 itself: civetweb
    // matches handler URIs by prefix ("/metricsx" would reach "/metrics").
    server_->addHandler("/", handler_);
    for (const mg_server_port& p : server_->getListeningPortsFull()) {
      port_ = static_cast<uint16_t>(p.port);
    }
  }
  ~CivetListener() { server_.reset(); }  // joins civetweb's threads first

  uint16_t port() const { return port_; }

 private:
  class Handler : public CivetHandler {
   public:
    explicit Handler(Router router) : router_(std::move(router)) {}
    bool handleGet(CivetServer*, mg_connection* conn) override { return Reply(conn, "GET"); }
    bool handleHead(CivetServer*, mg_connection* conn) override { return Reply(conn, "HEAD"); }
    bool handlePost(CivetServer*, mg_connection* conn) override { return Reply(conn, "POST"); }
    bool handlePut(CivetServer*, mg_connection* conn) override { return Reply(conn, "PUT"); }
    bool handleDelete(CivetServer*, mg_connection* conn) override { return Reply(conn, "DELETE"); }
    bool handleOptions(CivetServer*, mg_connection* conn) override {
      return Reply(conn, "OPTIONS");
    }
    bool handlePatch(CivetServer*, mg_connection* conn) override { return Reply(conn, "PATCH"); }

   private:
    bool Reply(mg_connection* conn, const char* method) {
      const mg_request_info* info = mg_get_request_info(conn);
      std::string_view path = info != nullptr && info->local_uri != nullptr ? info->local_uri : "";
      HttpReply reply = router_(method, path);
      std::string length = std::to_string(reply.body.size());
      mg_response_header_start(conn, reply.status);
      mg_response_header_add(conn, "Content-Type", reply.content_type.c_str(), -1);
      mg_response_header_add(conn, "Content-Length", length.c_str(), -1);
      mg_response_header_add(conn, "Cache-Control", "no-store", -1);
      if (reply.allow_header) mg_response_header_add(conn, "Allow", "GET, HEAD", -1);
      mg_response_header_send(conn);
      if (std::strcmp(method, "HEAD") != 0) {
        mg_write(conn, reply.body.data(), reply.body.size());
      }
      return true;
    }

    Router router_;
  };

  Handler handler_;
  std::unique_ptr<CivetServer> server_;
  uint16_t port_ = 0;
};

// The numeric address to bind for `host`: literals as given, a name resolved
// once (first address).
Result<sockaddr_storage> ResolveListen(const HostPort& listen, socklen_t* len) {
  sockaddr_storage addr{};
  auto* v4 = reinterpret_cast<sockaddr_in*>(&addr);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&addr);
  if (inet_pton(AF_INET, listen.host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(listen.port);
    *len = sizeof(sockaddr_in);
    return addr;
  }
  if (inet_pton(AF_INET6, listen.host.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(listen.port);
    *len = sizeof(sockaddr_in6);
    return addr;
  }
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  int rc = getaddrinfo(listen.host.c_str(), nullptr, &hints, &found);
  if (rc != 0 || found == nullptr) {
    return Error{"cannot resolve \"" + listen.host + "\": " + gai_strerror(rc)};
  }
  std::memcpy(&addr, found->ai_addr, found->ai_addrlen);
  *len = found->ai_addrlen;
  freeaddrinfo(found);
  if (addr.ss_family == AF_INET) {
    v4->sin_port = htons(listen.port);
  } else {
    v6->sin6_port = htons(listen.port);
  }
  return addr;
}

std::string NumericHost(const sockaddr_storage& addr) {
  char text[INET6_ADDRSTRLEN] = {0};
  if (addr.ss_family == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&addr)->sin_addr, text, sizeof text);
  } else {
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&addr)->sin6_addr, text,
              sizeof text);
  }
  return text;
}

// ---------------------------------------------------------------------------

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

  HttpReply Route(std::string_view method, std::string_view path);
  std::string Scrape() const;

  prometheus::Registry registry_;
  ProcessCollector process_;

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
  Gauge* audit_healthy_ = nullptr;

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
  auto& failures = prometheus::BuildCounter()
                       .Name("hopgate_upstream_connect_failures_total")
                       .Help("Failed upstream connections, by reason.")
                       .Register(registry_);
  for (size_t i = 0; i < kNumUpstreamFailureReasons; ++i) {
    upstream_failures_[i] = &failures.Add({{"reason", kUpstreamFailureReasons[i]}});
  }

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
  audit_healthy_ = &prometheus::BuildGauge()
                        .Name("hopgate_audit_log_healthy")
                        .Help("1 while the audit log can be written (what /healthz reports), "
                              "else 0.")
                        .Register(registry_)
                        .Add({});
  audit_healthy_->Set(1);
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
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, families);
  return out.str();
}

HttpReply MetricsImpl::Route(std::string_view method, std::string_view path) {
  const char* kText = "text/plain; charset=utf-8";
  if (path != "/metrics" && path != "/healthz") return {404, kText, "not found\n"};
  if (method != "GET" && method != "HEAD") return {405, kText, "method not allowed\n", true};
  try {
    if (path == "/metrics") {
      return {200, "text/plain; version=0.0.4; charset=utf-8", Scrape()};
    }
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
  Router router = [this](std::string_view method, std::string_view path) {
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
