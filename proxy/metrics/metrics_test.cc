// Metrics over real HTTP: every series present at zero, exact values after a
// known set of events, promtool's verdict on the exposition, /healthz
// flipping, 404s, the policy_info swap, and bind failures.

#include "proxy/metrics/metrics.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <civetweb.h>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "common/unique_fd.h"

namespace hopgate::proxy {
namespace {

struct HttpResponse {
  int status = 0;       // 0: no answer
  std::string headers;  // lower-cased
  std::string body;
};

// One request over a fresh TCP connection; reads until the server closes.
HttpResponse Http(const std::string& host, uint16_t port, const std::string& method,
                  const std::string& path) {
  HttpResponse out;
  sockaddr_storage addr{};
  socklen_t len = 0;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&addr);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&addr);
  if (inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    len = sizeof *v4;
  } else if (inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    len = sizeof *v6;
  } else {
    return out;
  }
  UniqueFd fd(socket(addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return out;
  timeval timeout{10, 0};
  setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  if (connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), len) != 0) return out;
  std::string request =
      method + " " + path + " HTTP/1.1\r\nHost: metrics\r\n" + "Connection: close\r\n\r\n";
  if (send(fd.get(), request.data(), request.size(), MSG_NOSIGNAL) !=
      static_cast<ssize_t>(request.size())) {
    return out;
  }
  std::string raw;
  char buf[4096];
  for (ssize_t n; (n = recv(fd.get(), buf, sizeof buf, 0)) > 0;) raw.append(buf, n);
  size_t end = raw.find("\r\n\r\n");
  if (raw.rfind("HTTP/1.", 0) != 0 || end == std::string::npos) return out;
  out.status = std::atoi(raw.c_str() + raw.find(' ') + 1);
  out.headers = raw.substr(0, end);
  std::transform(out.headers.begin(), out.headers.end(), out.headers.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  out.body = raw.substr(end + 4);
  return out;
}

// True if `text` has `line` as a whole line.
bool HasLine(const std::string& text, const std::string& line) {
  return ("\n" + text).find("\n" + line + "\n") != std::string::npos;
}

// The value of the series whose line starts with `series` + " ", or -1.
double Value(const std::string& text, const std::string& series) {
  std::string wanted = "\n" + series + " ";
  size_t at = ("\n" + text).find(wanted);
  if (at == std::string::npos) return -1;
  return std::strtod(text.c_str() + at + wanted.size() - 1, nullptr);
}

int CountLinesStartingWith(const std::string& text, const std::string& prefix) {
  int count = 0;
  std::string all = "\n" + text;
  for (size_t at = all.find("\n" + prefix); at != std::string::npos;
       at = all.find("\n" + prefix, at + 1)) {
    ++count;
  }
  return count;
}

std::unique_ptr<Metrics> NewMetrics() {
  std::unique_ptr<Metrics> m = Metrics::Create("1.2.3-test");
  REQUIRE(m != nullptr);
  return m;
}

// Serves on 127.0.0.1 with a port the kernel picks.
uint16_t ServeLoopback(Metrics& m, std::function<bool(std::string*)> healthy = nullptr) {
  Status s = m.Serve(HostPort{"127.0.0.1", 0}, std::move(healthy));
  INFO(s.message());
  REQUIRE(s.ok());
  REQUIRE(m.ServingPort() != 0);
  return m.ServingPort();
}

std::string Scrape(uint16_t port, const std::string& host = "127.0.0.1") {
  HttpResponse r = Http(host, port, "GET", "/metrics");
  REQUIRE(r.status == 200);
  return r.body;
}

// Runs promtool on `exposition`; returns its exit status and output.
int Promtool(const std::string& exposition, std::string* output) {
  const char* dir = std::getenv("TEST_TMPDIR");
  std::string file = std::string(dir != nullptr ? dir : "/tmp") + "/metrics_test_scrape.txt";
  std::ofstream(file) << exposition;
  std::string command = "/usr/bin/promtool check metrics < '" + file + "' 2>&1";
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return -1;
  char buf[512];
  for (size_t n; (n = fread(buf, 1, sizeof buf, pipe)) > 0;) output->append(buf, n);
  int status = pclose(pipe);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

struct Family {
  const char* name;
  const char* type;
};
constexpr Family kFamilies[] = {
    {"hopgate_build_info", "gauge"},
    {"hopgate_connections_total", "counter"},
    {"hopgate_connections_active", "gauge"},
    {"hopgate_auth_total", "counter"},
    {"hopgate_channels_total", "counter"},
    {"hopgate_channels_active", "gauge"},
    {"hopgate_relay_bytes_total", "counter"},
    {"hopgate_upstream_connect_seconds", "histogram"},
    {"hopgate_upstream_connect_failures_total", "counter"},
    {"hopgate_policy_reloads_total", "counter"},
    {"hopgate_policy_info", "gauge"},
    {"hopgate_audit_events_total", "counter"},
    {"hopgate_audit_write_errors_total", "counter"},
    {"hopgate_audit_suppressed_total", "counter"},
    {"hopgate_audit_disk_free_bytes", "gauge"},
    {"hopgate_recordings_disk_free_bytes", "gauge"},
    {"process_cpu_seconds_total", "counter"},
    {"process_resident_memory_bytes", "gauge"},
    {"process_virtual_memory_bytes", "gauge"},
    {"process_open_fds", "gauge"},
    {"process_max_fds", "gauge"},
    {"process_start_time_seconds", "gauge"},
};

// A known set of events; the expected exposition lines follow in the test.
void RecordEvents(Metrics& m) {
  for (int i = 0; i < 3; ++i) m.Connection("accepted");
  m.Connection("handshake_failed");
  m.Connection("no-such-result");
  for (int i = 0; i < 3; ++i) m.ConnectionsActive(1);
  m.ConnectionsActive(-1);
  m.Auth("publickey", false, "unknown_key");
  m.Auth("publickey", false, "unknown_key");
  m.Auth("publickey", true, "none");
  m.Auth("certificate", false, "expired");
  m.Auth("password", false, "method_refused");
  m.Auth("gssapi-with-mic", false, "no-such-reason");
  m.Auth("publickey", false, "none");
  m.Channel("direct-tcpip", true);
  m.Channel("direct-tcpip", true);
  m.Channel("direct-tcpip", false);
  m.Channel("x11", false);
  m.ChannelsActive("direct-tcpip", 1);
  m.ChannelsActive("direct-tcpip", 1);
  m.ChannelsActive("direct-tcpip", -1);
  m.ChannelsActive("session", 1);
  m.RelayBytes(1000, 250000);
  m.RelayBytes(24, 0);
  m.UpstreamConnect(0.00390625);  // binary fractions print exactly
  m.UpstreamConnect(0.25);
  m.UpstreamConnect(16);
  m.UpstreamConnectFailure("refused");
  m.UpstreamConnectFailure("timeout");
  m.UpstreamConnectFailure("timeout");
  m.UpstreamConnectFailure("no-such-reason");
  m.PolicyReload(true);
  m.PolicyReload(true);
  m.PolicyReload(false);
  m.PolicyVersion("sha256:10c22bdd0273f078");
  m.AuditEvent("auth", true);
  m.AuditEvent("auth", true);
  m.AuditEvent("channel_open", false);
  m.AuditEvent("no-such-type", true);
  m.AuditSuppressed("channel_refused");
  m.AuditSuppressed("channel_refused");
  m.AuditSuppressed("no-such-kind");
  m.WatchDiskFree("/tmp/no-such-dir/audit.jsonl", "/");
}

TEST_CASE("kAuthReasons is the documented null-terminated list ending in other") {
  std::vector<std::string> reasons;
  for (const char* const* r = Metrics::kAuthReasons; *r != nullptr; ++r) reasons.push_back(*r);
  CHECK(reasons == std::vector<std::string>{"none", "unknown_user", "unknown_key", "bad_signature",
                                            "source_address", "expired", "not_yet_valid", "revoked",
                                            "untrusted_ca", "principal", "certificate_invalid",
                                            "too_many_sessions", "method_refused", "audit_failure",
                                            "locked", "other"});
}

TEST_CASE("every series exists at zero before any traffic") {
  auto m = NewMetrics();
  std::string text = Scrape(ServeLoopback(*m));

  CHECK(HasLine(text, "hopgate_build_info{version=\"1.2.3-test\"} 1"));
  CHECK(HasLine(text, "hopgate_connections_total{result=\"accepted\"} 0"));
  CHECK(HasLine(text, "hopgate_connections_total{result=\"other\"} 0"));
  CHECK(CountLinesStartingWith(text, "hopgate_connections_total{") == 12);
  CHECK(HasLine(text, "hopgate_connections_active 0"));
  // 5 methods x (1 success + 15 failure reasons).
  CHECK(CountLinesStartingWith(text, "hopgate_auth_total{") == 80);
  CHECK(HasLine(text,
                "hopgate_auth_total{method=\"publickey\",reason=\"none\",result=\"success\"} 0"));
  CHECK(HasLine(
      text,
      "hopgate_auth_total{method=\"certificate\",reason=\"untrusted_ca\",result=\"failure\"} 0"));
  CHECK_FALSE(HasLine(
      text, "hopgate_auth_total{method=\"publickey\",reason=\"none\",result=\"failure\"} 0"));
  CHECK(CountLinesStartingWith(text, "hopgate_channels_total{") == 10);
  CHECK(CountLinesStartingWith(text, "hopgate_channels_active{") == 5);
  CHECK(HasLine(text, "hopgate_relay_bytes_total{direction=\"client_to_target\"} 0"));
  CHECK(HasLine(text, "hopgate_relay_bytes_total{direction=\"target_to_client\"} 0"));
  CHECK(CountLinesStartingWith(text, "hopgate_upstream_connect_seconds_bucket{") == 14);
  CHECK(HasLine(text, "hopgate_upstream_connect_seconds_count 0"));
  CHECK(CountLinesStartingWith(text, "hopgate_upstream_connect_failures_total{") == 8);
  CHECK(CountLinesStartingWith(text, "hopgate_policy_reloads_total{") == 2);
  CHECK(CountLinesStartingWith(text, "hopgate_policy_info") == 0);  // until PolicyVersion
  CHECK(CountLinesStartingWith(text, "hopgate_audit_events_total{") == 21);
  // The fleet gauges appear only in a fleet (the first FleetCopy).
  CHECK(CountLinesStartingWith(text, "hopgate_fleet_") == 0);
  CHECK(HasLine(text, "hopgate_audit_write_errors_total 0"));
  CHECK(CountLinesStartingWith(text, "hopgate_audit_suppressed_total{") == 3);
  CHECK(HasLine(text, "hopgate_audit_suppressed_total{kind=\"auth_failure\"} 0"));
  // Absent until the gateway says where its files are.
  CHECK(CountLinesStartingWith(text, "hopgate_audit_disk_free_bytes") == 0);
}

// The exposition lines RecordEvents leads to (a sample of the zeros too).
const char* const kRecordedEventLines[] = {
    "hopgate_connections_total{result=\"accepted\"} 3",
    "hopgate_connections_total{result=\"handshake_failed\"} 1",
    "hopgate_connections_total{result=\"other\"} 1",
    "hopgate_connections_total{result=\"rejected_max_startups\"} 0",
    "hopgate_connections_total{result=\"rejected_per_source_max_startups\"} 0",
    "hopgate_connections_total{result=\"rejected_penalty\"} 0",
    "hopgate_connections_active 2",
    "hopgate_auth_total{method=\"publickey\",reason=\"unknown_key\",result=\"failure\"} 2",
    "hopgate_auth_total{method=\"publickey\",reason=\"none\",result=\"success\"} 1",
    "hopgate_auth_total{method=\"certificate\",reason=\"expired\",result=\"failure\"} 1",
    "hopgate_auth_total{method=\"password\",reason=\"method_refused\",result=\"failure\"} 1",
    "hopgate_auth_total{method=\"other\",reason=\"other\",result=\"failure\"} 1",
    "hopgate_auth_total{method=\"publickey\",reason=\"other\",result=\"failure\"} 1",
    "hopgate_auth_total{method=\"publickey\",reason=\"expired\",result=\"failure\"} 0",
    "hopgate_channels_total{decision=\"allow\",kind=\"direct-tcpip\"} 2",
    "hopgate_channels_total{decision=\"deny\",kind=\"direct-tcpip\"} 1",
    "hopgate_channels_total{decision=\"deny\",kind=\"other\"} 1",
    "hopgate_channels_total{decision=\"allow\",kind=\"session\"} 0",
    "hopgate_channels_active{kind=\"direct-tcpip\"} 1",
    "hopgate_channels_active{kind=\"session\"} 1",
    "hopgate_channels_active{kind=\"tcpip-forward\"} 0",
    "hopgate_relay_bytes_total{direction=\"client_to_target\"} 1024",
    "hopgate_relay_bytes_total{direction=\"target_to_client\"} 250000",
    "hopgate_upstream_connect_seconds_bucket{le=\"0.001\"} 0",
    "hopgate_upstream_connect_seconds_bucket{le=\"0.0025\"} 0",
    "hopgate_upstream_connect_seconds_bucket{le=\"0.005\"} 1",
    "hopgate_upstream_connect_seconds_bucket{le=\"0.1\"} 1",
    "hopgate_upstream_connect_seconds_bucket{le=\"0.25\"} 2",
    "hopgate_upstream_connect_seconds_bucket{le=\"10\"} 2",
    "hopgate_upstream_connect_seconds_bucket{le=\"+Inf\"} 3",
    "hopgate_upstream_connect_seconds_count 3",
    "hopgate_upstream_connect_seconds_sum 16.25390625",
    "hopgate_upstream_connect_failures_total{reason=\"refused\"} 1",
    "hopgate_upstream_connect_failures_total{reason=\"timeout\"} 2",
    "hopgate_upstream_connect_failures_total{reason=\"other\"} 1",
    "hopgate_upstream_connect_failures_total{reason=\"resolve\"} 0",
    "hopgate_policy_reloads_total{result=\"success\"} 2",
    "hopgate_policy_reloads_total{result=\"failure\"} 1",
    "hopgate_policy_info{version=\"sha256:10c22bdd0273f078\"} 1",
    "hopgate_audit_events_total{type=\"auth\"} 2",
    "hopgate_audit_events_total{type=\"channel_open\"} 1",
    "hopgate_audit_events_total{type=\"other\"} 1",
    "hopgate_audit_events_total{type=\"server_start\"} 0",
    "hopgate_audit_write_errors_total 1",
};

TEST_CASE("recorded events scrape as exact values") {
  auto m = NewMetrics();
  uint16_t port = ServeLoopback(*m);
  RecordEvents(*m);
  HttpResponse r = Http("127.0.0.1", port, "GET", "/metrics");
  REQUIRE(r.status == 200);
  CHECK(r.headers.find("\r\ncontent-type: text/plain; version=0.0.4; charset=utf-8") !=
        std::string::npos);
  const std::string& text = r.body;
  INFO(text);

  for (const char* line : kRecordedEventLines) {
    CHECK(HasLine(text, line));
  }
  // The 13 configured buckets and +Inf.
  CHECK(CountLinesStartingWith(text, "hopgate_upstream_connect_seconds_bucket{") == 14);
  // Failures with an unknown reason and successes never add label values.
  CHECK(CountLinesStartingWith(text, "hopgate_auth_total{") == 80);

  SECTION("every family has HELP and TYPE lines") {
    for (const Family& f : kFamilies) {
      INFO(f.name);
      CHECK(CountLinesStartingWith(text, std::string("# HELP ") + f.name + " ") == 1);
      CHECK(HasLine(text, std::string("# TYPE ") + f.name + " " + f.type));
    }
  }

  SECTION("audit floods and disk space") {
    CHECK(HasLine(text, "hopgate_audit_suppressed_total{kind=\"channel_refused\"} 2"));
    CHECK(HasLine(text, "hopgate_audit_suppressed_total{kind=\"other\"} 1"));
    // statvfs of the nearest existing directory (/tmp for a missing one).
    CHECK(Value(text, "hopgate_audit_disk_free_bytes") > 0);
    CHECK(Value(text, "hopgate_recordings_disk_free_bytes") > 0);
  }

  SECTION("process metrics come from /proc/self") {
    double now =
        std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
    double start = Value(text, "process_start_time_seconds");
    CHECK(start > now - 3600);
    CHECK(start < now + 5);
    CHECK(Value(text, "process_open_fds") >= 3);
    CHECK(Value(text, "process_resident_memory_bytes") > 1e6);
    CHECK(Value(text, "process_cpu_seconds_total") >= 0);
    CHECK(Value(text, "process_max_fds") >= Value(text, "process_open_fds"));
  }

  SECTION("promtool check metrics accepts the exposition") {
    std::string output;
    int status = Promtool(text, &output);
    INFO(output);
    CHECK(status == 0);
    CHECK(output.empty());
  }
}

TEST_CASE("RelayBytes from many threads adds up exactly") {
  auto m = NewMetrics();
  uint16_t port = ServeLoopback(*m);
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&m] {
      for (int i = 0; i < 10000; ++i) m->RelayBytes(3, 5);
    });
  }
  for (auto& t : threads) t.join();
  std::string text = Scrape(port);
  CHECK(HasLine(text, "hopgate_relay_bytes_total{direction=\"client_to_target\"} 240000"));
  CHECK(HasLine(text, "hopgate_relay_bytes_total{direction=\"target_to_client\"} 400000"));
}

TEST_CASE("healthz follows the health callback; other paths are 404") {
  auto m = NewMetrics();
  std::atomic<bool> healthy{true};
  uint16_t port = ServeLoopback(*m, [&healthy](std::string* why_not) {
    if (healthy) return true;
    *why_not = "audit log not writable";
    return false;
  });

  HttpResponse ok = Http("127.0.0.1", port, "GET", "/healthz");
  CHECK(ok.status == 200);
  CHECK(ok.body == "ok\n");

  healthy = false;
  HttpResponse down = Http("127.0.0.1", port, "GET", "/healthz");
  CHECK(down.status == 503);
  CHECK(down.body == "audit log not writable\n");

  healthy = true;
  CHECK(Http("127.0.0.1", port, "GET", "/healthz").status == 200);

  for (const char* path : {"/", "/metricsx", "/metrics/extra", "/healthz/x", "/favicon.ico"}) {
    INFO(path);
    CHECK(Http("127.0.0.1", port, "GET", path).status == 404);
  }
  HttpResponse head = Http("127.0.0.1", port, "HEAD", "/metrics");
  CHECK(head.status == 200);
  CHECK(head.body.empty());
  CHECK(Http("127.0.0.1", port, "POST", "/metrics").status == 405);
  CHECK(Http("127.0.0.1", port, "GET", "/metrics?name[]=x").status == 200);
}

TEST_CASE("a health callback that is empty means healthy") {
  auto m = NewMetrics();
  uint16_t port = ServeLoopback(*m);
  CHECK(Http("127.0.0.1", port, "GET", "/healthz").body == "ok\n");
}

TEST_CASE("PolicyVersion replaces the single policy_info series") {
  auto m = NewMetrics();
  uint16_t port = ServeLoopback(*m);
  m->PolicyVersion("sha256:aaaa");
  std::string first = Scrape(port);
  CHECK(HasLine(first, "hopgate_policy_info{version=\"sha256:aaaa\"} 1"));
  CHECK(CountLinesStartingWith(first, "hopgate_policy_info{") == 1);

  m->PolicyVersion("sha256:bbbb");
  m->PolicyVersion("sha256:bbbb");  // same version: no change
  std::string second = Scrape(port);
  CHECK(HasLine(second, "hopgate_policy_info{version=\"sha256:bbbb\"} 1"));
  CHECK(CountLinesStartingWith(second, "hopgate_policy_info{") == 1);
  CHECK(second.find("sha256:aaaa") == std::string::npos);
}

TEST_CASE("Serve fails, naming the address, when the port is taken") {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(fd >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  REQUIRE(bind(fd, reinterpret_cast<sockaddr*>(&addr), len) == 0);
  REQUIRE(listen(fd, 1) == 0);
  REQUIRE(getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
  uint16_t port = ntohs(addr.sin_port);

  auto m = NewMetrics();
  Status s = m->Serve(HostPort{"127.0.0.1", port}, nullptr);
  CHECK_FALSE(s.ok());
  CHECK(s.message().find("127.0.0.1:" + std::to_string(port)) != std::string::npos);
  CHECK(m->ServingPort() == 0);
  close(fd);

  // Nothing was left half-started: the same object can serve afterwards.
  Status again = m->Serve(HostPort{"127.0.0.1", 0}, nullptr);
  INFO(again.message());
  CHECK(again.ok());
}

TEST_CASE("Serve twice is an error; StopServing closes the port and allows a restart") {
  auto m = NewMetrics();
  uint16_t port = ServeLoopback(*m);
  CHECK_FALSE(m->Serve(HostPort{"127.0.0.1", 0}, nullptr).ok());
  m->StopServing();
  CHECK(m->ServingPort() == 0);
  CHECK(Http("127.0.0.1", port, "GET", "/metrics").status == 0);
  m->StopServing();  // idempotent
  uint16_t again = ServeLoopback(*m);
  CHECK(Http("127.0.0.1", again, "GET", "/healthz").status == 200);
}

TEST_CASE("Serve rejects a host name that does not resolve") {
  auto m = NewMetrics();
  Status s = m->Serve(HostPort{"no-such-host.invalid", 9}, nullptr);
  CHECK_FALSE(s.ok());
  CHECK(s.message().find("no-such-host.invalid:9") != std::string::npos);
}

bool HaveIpv6Loopback() {
  int fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in6 addr{};
  addr.sin6_family = AF_INET6;
  addr.sin6_addr = in6addr_loopback;
  bool ok = bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  close(fd);
  return ok;
}

TEST_CASE("IPv6 listen addresses are served, or refused with the reason") {
  if (!HaveIpv6Loopback()) {
    WARN("no IPv6 loopback here; skipped");
    return;
  }
  auto m = NewMetrics();
  Status s = m->Serve(HostPort{"::1", 0}, nullptr);
  if (mg_check_feature(MG_FEATURES_IPV6) == 0) {
    CHECK_FALSE(s.ok());
    CHECK(s.message().find("cannot serve metrics on [::1]:0: IPv6 addresses are not supported") ==
          0);
    return;
  }
  REQUIRE(s.ok());
  CHECK(Http("::1", m->ServingPort(), "GET", "/healthz").status == 200);
}

}  // namespace

TEST_CASE("the fleet copy gauges appear with the first report and follow it") {
  auto m = NewMetrics();
  m->FleetCopy(12, false);
  uint16_t port = ServeLoopback(*m);
  std::string text = Scrape(port);
  CHECK(HasLine(text, "hopgate_fleet_copy_lag_events 12"));
  CHECK(HasLine(text, "hopgate_fleet_database_up 0"));
  m->FleetCopy(0, true);
  text = Scrape(port);
  CHECK(HasLine(text, "hopgate_fleet_copy_lag_events 0"));
  CHECK(HasLine(text, "hopgate_fleet_database_up 1"));
  CHECK(text.find("hopgate_fleet_live_sessions") == std::string::npos);
  m->FleetLiveSessions(3);
  CHECK(HasLine(Scrape(port), "hopgate_fleet_live_sessions 3"));
}

}  // namespace hopgate::proxy
