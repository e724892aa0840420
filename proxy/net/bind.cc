#include "proxy/net/bind.h"

#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

namespace hopgate::proxy {

Result<UniqueFd> BindTcp(const HostPort& hp, int socket_flags, int* errno_out) {
  if (errno_out) *errno_out = 0;
  std::string host = hp.host == "localhost" ? "127.0.0.1" : hp.host;
  auto ip = IpAddress::Parse(host);
  if (!ip) return Error{hp.ToString() + ": not an IP address"};
  sockaddr_storage ss;
  socklen_t len = ip->FillSockaddr(hp.port, &ss);
  auto failed = [&](int err) {
    if (errno_out) *errno_out = err;
    return Error{hp.ToString() + ": " + strerror(err)};
  };
  UniqueFd fd(socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | socket_flags, 0));
  if (!fd) return failed(errno);
  int one = 1;
  setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (ip->v6) setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  if (bind(fd.get(), reinterpret_cast<sockaddr*>(&ss), len) != 0) return failed(errno);
  return fd;
}

}  // namespace hopgate::proxy
