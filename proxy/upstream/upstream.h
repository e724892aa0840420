// Routes through jump hosts: the gateway's own SSH client connections to the
// hops of a route (policy hosts: `via`), shared between client channels.
//
// Each upstream SSH connection (a Link) runs on its own thread with its own
// ssh_event: it opens direct-tcpip channels on request and pumps each one to
// one end of a socketpair, whose other end goes to the caller. The first hop
// rides a TCP socket; hop i+1 rides such a stream of hop i. A client
// connection relays its channel to the stream it gets exactly as it would to
// a TCP socket.
//
// Sharing: a request reuses a live link with the same route prefix and the
// same way of authenticating, while it carries fewer than
// `max_channels` streams. Links that log in with a certificate minted for
// one user are keyed by that user, so identities never mix. A link closes
// `idle_close_ms` after its last stream ended.
//
// Thread-safe: Open() is called from any connection thread and blocks it for
// at most about the connect timeout per hop.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "certs/private_key.h"
#include "common/net.h"
#include "common/result.h"
#include "proxy/signer/signer.h"
#include "policy/policy.h"
#include "proxy/net/dialer.h"
#include "proxy/metrics/metrics.h"
#include "proxy/net/resolver.h"
#include "proxy/ssh/alive.h"
#include "proxy/ssh/ssh_util.h"
#include "proxy/upstream/ssh_login.h"

namespace hopgate::proxy {

// One jump host, as the policy describes it.
struct Hop {
  std::string name;
  HostPort address;
  std::string login;
  std::string identity_text;     // OpenSSH private key; empty: minted certificate
  std::string host_key_blob;     // pinned key; else known_hosts_path is used
  std::string known_hosts_path;
};

// The hops of `route` (hosts: names, as in policy::Decision::route).
std::vector<Hop> HopsFor(const policy::Policy& policy, const std::vector<std::string>& route);

struct RouteRequest {
  std::vector<Hop> hops;        // in order, at least one
  std::string user;             // the gateway user, for sharing and minted key ids
  std::string connection_id;    // for minted key ids
  std::string host;             // final destination, dialled by the last hop
  uint16_t port = 0;
  std::string originator;       // reported to the last hop
  uint16_t originator_port = 0;
};

struct RouteFailure {
  std::string hop;     // the hop that failed (its hosts: name)
  std::string reason;  // metric reason: resolve, refused, timeout, unreachable,
                       // host_key, auth, open_refused, other
  std::string message; // for people: "hop jump2: host key mismatch: ..."
};

struct RouteStream {
  int fd = -1;             // non-blocking stream socket carrying the channel
  bool first_hop_reused = false;
};

class Link;

class UpstreamPool {
 public:
  struct Options {
    int64_t connect_timeout_ms = 10'000;
    int64_t max_channels = 64;
    int64_t idle_close_ms = 60'000;
    // Mints certificates (the signer process); null without upstream.user_ca_key.
    signer::Signer* signer = nullptr;
    int64_t max_cert_validity = 600;  // seconds asked for (upstream.max_cert_validity)
    Resolver* resolver = nullptr;              // for jump hosts' names; outlives the pool
    // upstream.alive_interval / alive_count_max: a link whose hop stops
    // answering keepalives is closed (its streams end).
    AliveSettings alive;
  };
  UpstreamPool(Options options, Metrics* metrics);
  ~UpstreamPool();  // Shutdown()
  UpstreamPool(const UpstreamPool&) = delete;
  UpstreamPool& operator=(const UpstreamPool&) = delete;

  // Opens a stream to request.host:port through the hops, reusing live
  // links where it can. Blocking. On failure fills `*failure`.
  Result<RouteStream> Open(const RouteRequest& request, RouteFailure* failure);
  // Closes every link (their streams end) and waits for their threads.
  void Shutdown();
  // Live links (connected or connecting), for tests and metrics.
  size_t LinkCount() const;
  signer::Signer* signer() const { return options_.signer; }
  int64_t max_cert_validity() const { return options_.max_cert_validity; }
  int64_t connect_timeout_ms() const { return options_.connect_timeout_ms; }

 private:
  friend class Link;
  // Called by a link's thread: removes it if it is idle (no streams, no
  // reservations) and returns true, so the thread may end.
  bool RetireIfIdle(Link* link);
  Result<std::vector<IpAddress>> ResolveHop(const std::string& host, int64_t timeout_ms,
                                           DialError* error);
  void Remove(Link* link);
  void EraseLocked(Link* link);  // mu_ held
  // Open's steps. ReserveLink finds a usable link for `key` or makes one
  // (`*create`) and reserves a stream on it; null once shut down (then it
  // drops prev's reservation too).
  std::shared_ptr<Link> ReserveLink(const std::string& key, const Hop& hop, Link* prev,
                                    bool* create);
  // A TCP connection to the route's first hop (its fd), or -1 with `*failure`.
  int DialFirstHop(const Hop& hop, RouteFailure* failure);
  // Reaches hop `i` (dialled, or a stream through `prev`, whose reservation
  // it then drops) and logs `link` in to it; false with `*failure`.
  bool ConnectLink(Link& link, size_t i, const RouteRequest& req, std::shared_ptr<Link> prev,
                   RouteFailure* failure);
  void Release(const std::shared_ptr<Link>& link);  // drops a reservation
  // Runs a link's loop on a thread the pool owns: joined once it ends (by
  // the next StartLinkThread) or by Shutdown, never detached.
  void StartLinkThread(std::shared_ptr<Link> link);
  // Drops the reservation on `link`, counts the failure; the error to return.
  Error Failed(const std::shared_ptr<Link>& link, const RouteFailure& failure);

  Options options_;
  Metrics* metrics_;
  mutable std::mutex mu_;
  std::map<std::string, std::vector<std::shared_ptr<Link>>> links_;
  bool shut_down_ = false;
  std::mutex threads_mu_;
  std::vector<std::thread> threads_;            // every link thread not yet joined
  std::vector<std::thread::id> finished_;       // of those, the ones whose loop returned
};

}  // namespace hopgate::proxy
