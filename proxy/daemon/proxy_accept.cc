// Listeners with `proxy_protocol: true` (a load balancer in front): only
// peers in the listener's proxy_from may connect; each connection first
// sends a PROXY v1/v2 header, read on the accept loop as it arrives (never
// blocking, never a byte past the header), and the client address in it
// becomes the connection's address for everything after: start-up limits
// and penalties, policy `from:`, certificate source-address, audit.
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "proxy/base/clock.h"
#include "proxy/base/logging.h"
#include "proxy/daemon/server.h"

namespace hopgate::proxy {
namespace {

// proxy_protocol_refused events written per second at most; the rest are
// counted in the next one's `suppressed` (one peer must not fill the disk).
constexpr int64_t kRefusalsAuditedPerSecond = 20;

bool FromAllowed(const ListenProxy& proxy, const IpAddress& peer) {
  return std::any_of(proxy.from.begin(), proxy.from.end(),
                     [&](const Cidr& c) { return c.Contains(peer); });
}

}  // namespace

void Server::AcceptProxied(UniqueFd fd, size_t listener, const ClientEndpoint& peer,
                           const IpAddress& peer_ip) {
  const Config& cfg = gw_->config();
  if (!FromAllowed(listeners_[listener].proxy, peer_ip)) {
    RefuseProxied("peer " + peer.address + " is not in proxy_from", peer);
    return;  // `fd` closes
  }
  // Only balancers get here; still, their unfinished headers are bounded
  // like unauthenticated connections.
  if (static_cast<int64_t>(pending_headers_.size()) >= cfg.max_startups) {
    RefuseProxied("too many connections waiting for a PROXY header (max_startups " +
                      std::to_string(cfg.max_startups) + ")",
                  peer);
    return;
  }
  PendingHeader p;
  p.fd = std::move(fd);
  p.peer = peer;
  p.accepted_ms = SteadyMs();
  // Usually the header is there already: read it now.
  if (ReadPendingHeader(p)) return;
  pending_headers_.push_back(std::move(p));
}

bool Server::ReadPendingHeader(PendingHeader& p) {
  char buf[kProxyV1MaxLength + 16 + kProxyV2MaxPayload];
  while (p.reader.state() == ProxyHeaderReader::State::kNeedMore) {
    size_t want = std::min(p.reader.WantBytes(), sizeof buf);
    ssize_t n = recv(p.fd.get(), buf, want, 0);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return false;
    if (n < 0 && errno == EINTR) continue;
    if (n == 0 && p.reader.size() == 0) {
      // A balancer's plain TCP health check: connected, sent nothing, left.
      // Not worth an audit event every few seconds.
      spdlog::debug("connection from {} on {} closed before sending anything (a health check?)",
                    JoinHostPort(p.peer.address, p.peer.port), p.peer.local);
      return true;
    }
    if (n <= 0) {
      RefuseProxied(n == 0 ? "connection closed before a complete PROXY header"
                           : std::string("reading the PROXY header: ") + strerror(errno),
                    p.peer);
      return true;
    }
    p.reader.Feed(std::string_view(buf, static_cast<size_t>(n)));
  }
  if (p.reader.state() == ProxyHeaderReader::State::kError) {
    RefuseProxied("malformed PROXY header: " + p.reader.error(), p.peer);
    return true;
  }
  const ProxyHeader& h = p.reader.header();
  ClientEndpoint client = p.peer;
  client.via_proxy = JoinHostPort(p.peer.address, p.peer.port);
  if (h.local) {  // LOCAL / UNKNOWN: the balancer's own connection
    client.proxy_local = true;
  } else {
    client.address = h.source.Unmapped().ToString();
    client.port = h.source_port;
  }
  HandOff(p.fd.release(), client, p.accepted_ms);
  return true;
}

int64_t Server::ExpirePendingHeaders(int64_t now) {
  int64_t grace = gw_->config().login_grace_time * 1000;
  int64_t next = -1;
  auto late = [&](PendingHeader& p) {
    int64_t deadline = p.accepted_ms + grace;
    if (now < deadline) {
      next = next < 0 ? deadline : std::min(next, deadline);
      return false;
    }
    RefuseProxied("no complete PROXY header within login_grace_time (" +
                      std::to_string(gw_->config().login_grace_time) + "s; " +
                      std::to_string(p.reader.size()) + " bytes received)",
                  p.peer);
    return true;
  };
  pending_headers_.erase(std::remove_if(pending_headers_.begin(), pending_headers_.end(), late),
                         pending_headers_.end());
  return next;
}

void Server::RefuseProxied(const std::string& reason, const ClientEndpoint& peer) {
  metrics_->Connection("rejected_proxy_protocol");
  int64_t now = SteadyMs();
  if (now - proxy_refusal_window_ms_ >= 1000) {
    proxy_refusal_window_ms_ = now;
    proxy_refusals_in_window_ = 0;
  }
  if (proxy_refusals_in_window_ >= kRefusalsAuditedPerSecond) {
    ++proxy_refusals_suppressed_;
    return;
  }
  ++proxy_refusals_in_window_;
  spdlog::warn("refused connection from {} on {} (PROXY protocol listener): {}{}",
               JoinHostPort(peer.address, peer.port), peer.local, reason,
               proxy_refusals_suppressed_ > 0
                   ? " (" + std::to_string(proxy_refusals_suppressed_) + " more not logged)"
                   : "");
  audit::ProxyProtocolRefused e;
  e.reason = reason;
  e.peer_addr = peer.address;
  e.peer_port = peer.port;
  e.listen = peer.local;
  e.suppressed = proxy_refusals_suppressed_;
  proxy_refusals_suppressed_ = 0;
  (void)gw_->audit().Record("", e);
}

}  // namespace hopgate::proxy
