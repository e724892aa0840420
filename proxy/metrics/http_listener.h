// The metrics HTTP front end: a civetweb listener that hands every request to
// one routing function, and the address helpers Serve uses. Private to the
// metrics package. The router is called from civetweb's threads.
#pragma once

#include <CivetServer.h>
#include <sys/socket.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "common/net.h"
#include "common/result.h"

namespace hopgate::proxy {

struct HttpReply {
  int status = 200;
  std::string content_type;
  std::string body;
  bool allow_header = false;  // 405: "Allow: GET, HEAD"
};

using HttpRouter = std::function<HttpReply(std::string_view method, std::string_view path)>;

class CivetListener {
 public:
  // Throws CivetException if the address cannot be bound; `*error` then
  // holds civetweb's reason, when it gave one.
  CivetListener(const std::string& address, HttpRouter router, std::string* error);
  ~CivetListener() { server_.reset(); }  // joins civetweb's threads first

  uint16_t port() const { return port_; }

 private:
  class Handler : public CivetHandler {
   public:
    explicit Handler(HttpRouter router) : router_(std::move(router)) {}
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
    // Routes one request and writes the reply (no body for HEAD).
    bool Reply(mg_connection* conn, const char* method);

    HttpRouter router_;
  };

  Handler handler_;
  std::unique_ptr<CivetServer> server_;
  uint16_t port_ = 0;
};

// The numeric address to bind for `host`: literals as given, a name resolved
// once (first address).
Result<sockaddr_storage> ResolveListen(const HostPort& listen, socklen_t* len);

// The address part of `addr` as text (no port, no brackets).
std::string NumericHost(const sockaddr_storage& addr);

}  // namespace hopgate::proxy
