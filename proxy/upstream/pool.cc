#include "proxy/upstream/upstream.h"

#include <fcntl.h>
#include <openssl/rand.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <ctime>
#include <deque>
#include <thread>

#include "certs/key.h"
#include "certs/mint.h"
#include "common/encoding.h"
#include "proxy/net/dialer.h"
#include "proxy/ssh/relay.h"
#include "proxy/ssh/ssh_util.h"
#include "proxy/upstream/link.h"

namespace hopgate::proxy {

std::vector<Hop> HopsFor(const policy::Policy& policy, const std::vector<std::string>& route) {
  std::vector<Hop> hops;
  for (const auto& name : route) {
    const policy::Host& h = policy.hosts.at(name);
    hops.push_back(
        Hop{h.name, h.address, h.login, h.identity_text, h.host_key_blob, h.known_hosts_path});
  }
  return hops;
}

UpstreamPool::UpstreamPool(Options options, Metrics* metrics)
    : options_(std::move(options)), metrics_(metrics) {}

UpstreamPool::~UpstreamPool() { Shutdown(); }

size_t UpstreamPool::LinkCount() const {
  std::lock_guard<std::mutex> lock(mu_);
  size_t n = 0;
  for (const auto& [key, v] : links_) n += v.size();
  return n;
}

bool UpstreamPool::RetireIfIdle(Link* link) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!link->Idle(SteadyMs())) return false;
  link->Stop();
  EraseLocked(link);
  return true;
}

void UpstreamPool::Remove(Link* link) {
  std::lock_guard<std::mutex> lock(mu_);
  EraseLocked(link);
}

void UpstreamPool::EraseLocked(Link* link) {
  auto it = links_.find(link->key());
  if (it == links_.end()) return;
  auto& v = it->second;
  v.erase(std::remove_if(v.begin(), v.end(), [&](const auto& l) { return l.get() == link; }),
          v.end());
  if (v.empty()) links_.erase(it);
}

void UpstreamPool::Shutdown() {
  std::vector<std::shared_ptr<Link>> all;
  {
    std::lock_guard<std::mutex> lock(mu_);
    shut_down_ = true;
    for (auto& [key, v] : links_) all.insert(all.end(), v.begin(), v.end());
  }
  for (auto& l : all) l->Stop();
  // Each stopped link's loop wakes, tears down and returns: join them all.
  std::vector<std::thread> threads;
  {
    std::lock_guard<std::mutex> lock(threads_mu_);
    threads.swap(threads_);
    finished_.clear();
  }
  for (auto& t : threads) t.join();
}

void UpstreamPool::StartLinkThread(std::shared_ptr<Link> link) {
  std::vector<std::thread> done;
  std::lock_guard<std::mutex> lock(threads_mu_);
  // Reap the threads whose loops have returned (they are ending or gone).
  for (auto it = threads_.begin(); it != threads_.end();) {
    if (std::find(finished_.begin(), finished_.end(), it->get_id()) != finished_.end()) {
      std::erase(finished_, it->get_id());
      done.push_back(std::move(*it));
      it = threads_.erase(it);
    } else {
      ++it;
    }
  }
  threads_.emplace_back([this, link = std::move(link)]() mutable {
    link->Run();
    link.reset();  // the link may end here, with the pool still alive
    std::lock_guard<std::mutex> lock(threads_mu_);
    finished_.push_back(std::this_thread::get_id());
  });
  for (auto& t : done) t.join();  // returned already, or about to: does not wait
}

Result<std::vector<IpAddress>> UpstreamPool::ResolveHop(const std::string& host,
                                                        int64_t timeout_ms, DialError* error) {
  if (auto ip = IpAddress::Parse(host)) return std::vector<IpAddress>{ip->Unmapped()};
  if (!options_.resolver) {
    error->kind = DialFailure::kResolve;
    error->message = "cannot resolve " + host + ": no resolver";
    return Error{error->message};
  }
  ResolveError rerr;
  auto addrs = options_.resolver->Resolve(host, timeout_ms, &rerr);
  if (!addrs) {
    error->kind = DialFailure::kResolve;
    error->message = "cannot resolve " + host + ": " + rerr.message;
    return Error{error->message};
  }
  return addrs;
}

void UpstreamPool::Release(const std::shared_ptr<Link>& link) {
  if (!link) return;
  std::lock_guard<std::mutex> lock(mu_);
  --link->reserved;
}

Error UpstreamPool::Failed(const std::shared_ptr<Link>& link, const RouteFailure& failure) {
  Release(link);
  if (metrics_) metrics_->UpstreamConnectFailure(failure.reason);
  return Error{failure.message};
}

std::shared_ptr<Link> UpstreamPool::ReserveLink(const std::string& key, const Hop& hop,
                                                Link* prev, bool* create) {
  std::lock_guard<std::mutex> lock(mu_);
  if (shut_down_) {
    if (prev) --prev->reserved;
    return nullptr;
  }
  std::shared_ptr<Link> link;
  for (auto& l : links_[key]) {
    if (l->Usable(options_.max_channels)) {
      link = l;
      break;
    }
  }
  if (!link) {
    link = std::make_shared<Link>(this, key, hop.name, options_.idle_close_ms);
    links_[key].push_back(link);
    *create = true;
  }
  ++link->reserved;
  return link;
}

int UpstreamPool::DialFirstHop(const Hop& hop, RouteFailure* failure) {
  const int64_t timeout = options_.connect_timeout_ms;
  // The first jump host is the administrator's, not a client's
  // choice: its name is resolved here, once, and dialled as resolved.
  DialError derr;
  Result<Dialed> dialed = Error{""};
  auto addrs = ResolveHop(hop.address.host, timeout, &derr);
  if (addrs) dialed = Dial(*addrs, hop.address.port, timeout, &derr);
  if (!addrs || !dialed) {
    failure->hop = hop.name;
    failure->reason = DialFailureName(derr.kind);
    failure->message = "hop " + hop.name + ": " + derr.message;
    return -1;
  }
  if (metrics_) metrics_->UpstreamConnect(static_cast<double>(dialed->elapsed_ms) / 1000.0);
  return dialed->fd;
}

bool UpstreamPool::ConnectLink(Link& link, size_t i, const RouteRequest& req,
                               std::shared_ptr<Link> prev, RouteFailure* failure) {
  const Hop& hop = req.hops[i];
  const int64_t timeout = options_.connect_timeout_ms;
  int64_t started = SteadyMs();
  int fd = -1;
  if (i == 0) {
    fd = DialFirstHop(hop, failure);
  } else {
    auto stream = prev->OpenStream(hop.address.host, hop.address.port, "", 0, timeout);
    if (!stream) {
      failure->hop = hop.name;
      failure->reason = "open_refused";
      failure->message = "hop " + hop.name + ": cannot reach it from " + prev->name() + ": " +
                         stream.message();
    } else {
      fd = *stream;
    }
  }
  Release(prev);
  prev.reset();
  bool ok = false;
  if (fd >= 0) {
    ok = link.Establish(fd, hop, req, options_.signer, timeout, failure);
  } else {
    link.MarkFailed(*failure);  // waiters see the failure too
  }
  if (!ok) return false;
  if (metrics_) {
    metrics_->UpstreamHopConnect(static_cast<int>(i) + 1,
                                 static_cast<double>(SteadyMs() - started) / 1000.0);
  }
  spdlog::info("upstream {}: connected as {} (hop {} of {})", hop.name, hop.login, i + 1,
               req.hops.size());
  return true;
}

Result<RouteStream> UpstreamPool::Open(const RouteRequest& req, RouteFailure* failure) {
  if (req.hops.empty()) {
    failure->reason = "other";
    failure->message = "empty route";
    return Error{failure->message};
  }
  const int64_t timeout = options_.connect_timeout_ms;
  std::shared_ptr<Link> prev;
  std::string key;
  RouteStream out;
  for (size_t i = 0; i < req.hops.size(); ++i) {
    const Hop& hop = req.hops[i];
    key += (i ? ">" : "") + hop.name + "@" + JoinHostPort(hop.address.host, hop.address.port) +
           "[" + (hop.identity_text.empty() ? "cert:" + req.user : "identity") + "]";
    bool create = false;
    std::shared_ptr<Link> link = ReserveLink(key, hop, prev.get(), &create);
    if (!link) {
      failure->hop = hop.name;
      failure->reason = "other";
      failure->message = "the gateway is shutting down";
      return Error{failure->message};
    }
    if (create) {
      // Releases the reservation on prev once link's transport exists.
      if (!ConnectLink(*link, i, req, std::move(prev), failure)) {
        Remove(link.get());
        return Failed(link, *failure);
      }
    } else {
      Release(prev);
      prev.reset();
      if (!link->WaitReady(timeout * static_cast<int64_t>(req.hops.size()), failure)) {
        return Failed(link, *failure);
      }
      if (i == 0) out.first_hop_reused = true;
    }
    prev = link;
  }

  auto stream = prev->OpenStream(req.host, req.port, req.originator, req.originator_port, timeout);
  if (!stream) {
    failure->hop = prev->name();
    failure->reason = "open_refused";
    failure->message = "hop " + prev->name() + ": cannot reach " +
                       JoinHostPort(req.host, req.port) + ": " + stream.message();
    return Failed(prev, *failure);
  }
  Release(prev);
  out.fd = *stream;
  return out;
}

}  // namespace hopgate::proxy
