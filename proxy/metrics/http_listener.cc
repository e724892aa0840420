// CivetListener and the listen-address helpers of the metrics endpoint.

#include "proxy/metrics/http_listener.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>

#include <cstring>
#include <vector>

namespace hopgate::proxy {
namespace {

// civetweb reports why a start failed only through log_message, on the
// starting thread: collect the first message there.
thread_local std::string* civet_start_error = nullptr;

int CivetLogMessage(const mg_connection*, const char* message) {
  if (civet_start_error != nullptr && civet_start_error->empty() && message != nullptr) {
    *civet_start_error = message;
  }
  return 1;  // civetweb itself prints nothing
}

}  // namespace

CivetListener::CivetListener(const std::string& address, HttpRouter router, std::string* error)
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

bool CivetListener::Handler::Reply(mg_connection* conn, const char* method) {
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

}  // namespace hopgate::proxy
