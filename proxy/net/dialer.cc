#include "proxy/net/dialer.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

#include "common/net.h"
#include "proxy/base/clock.h"

namespace hopgate::proxy {
namespace {


std::string AddrText(const sockaddr* sa) {
  char buf[INET6_ADDRSTRLEN] = "?";
  uint16_t port = 0;
  if (sa->sa_family == AF_INET) {
    auto* in = reinterpret_cast<const sockaddr_in*>(sa);
    inet_ntop(AF_INET, &in->sin_addr, buf, sizeof buf);
    port = ntohs(in->sin_port);
  } else if (sa->sa_family == AF_INET6) {
    auto* in6 = reinterpret_cast<const sockaddr_in6*>(sa);
    inet_ntop(AF_INET6, &in6->sin6_addr, buf, sizeof buf);
    port = ntohs(in6->sin6_port);
  }
  return JoinHostPort(buf, port);
}

}  // namespace

const char* DialFailureName(DialFailure f) {
  switch (f) {
    case DialFailure::kResolve: return "resolve";
    case DialFailure::kRefused: return "refused";
    case DialFailure::kTimeout: return "timeout";
    case DialFailure::kUnreachable: return "unreachable";
    case DialFailure::kOther: return "other";
  }
  return "other";
}

void TuneSocket(int fd) {
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
}

Result<Dialed> Dial(const std::vector<IpAddress>& addresses, uint16_t port,
                    int64_t timeout_ms, DialError* error) {
  int64_t start = SteadyMs();
  std::string last_error = "no addresses to dial";
  DialFailure last_kind = DialFailure::kOther;
  for (const IpAddress& ip : addresses) {
    int64_t left = timeout_ms - (SteadyMs() - start);
    if (left <= 0) {
      last_kind = DialFailure::kTimeout;
      last_error = "timed out";
      break;
    }
    sockaddr_storage ss;
    socklen_t len = ip.FillSockaddr(port, &ss);
    std::string target = AddrText(reinterpret_cast<sockaddr*>(&ss));
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      last_error = "connect to " + target + " failed: " + strerror(errno);
      continue;
    }
    int rc = connect(fd, reinterpret_cast<sockaddr*>(&ss), len);
    int err = rc == 0 ? 0 : errno;
    if (rc != 0 && err == EINPROGRESS) {
      pollfd p{fd, POLLOUT, 0};
      int pr;
      do {
        left = timeout_ms - (SteadyMs() - start);
        pr = poll(&p, 1, static_cast<int>(left > 0 ? left : 0));
      } while (pr < 0 && errno == EINTR);
      if (pr == 0) {
        err = ETIMEDOUT;
      } else {
        socklen_t elen = sizeof err;
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen);
      }
    }
    if (err == 0) {
      TuneSocket(fd);
      return Dialed{fd, target, SteadyMs() - start};
    }
    close(fd);
    last_error = "connect to " + target + " failed: " +
                 (err == ETIMEDOUT ? "timed out after " + std::to_string(timeout_ms / 1000) + "s"
                                   : std::string(strerror(err)));
    last_kind = err == ECONNREFUSED                        ? DialFailure::kRefused
                : err == ETIMEDOUT                         ? DialFailure::kTimeout
                : err == ENETUNREACH || err == EHOSTUNREACH ? DialFailure::kUnreachable
                                                            : DialFailure::kOther;
  }
  error->kind = last_kind;
  error->message = last_error;
  return MakeError(last_kind == DialFailure::kTimeout ? Code::kDeadlineExceeded : Code::kUnavailable,
                   last_error, static_cast<int>(last_kind));
}

}  // namespace hopgate::proxy
