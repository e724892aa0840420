// direct-tcpip without blocking: the request is kept (DeferredOpen) while
// its name is looked up, its route is opened on the task pool, or its TCP
// connect completes on the worker; the client gets its answer (confirmation
// or refusal) only then, as OpenSSH's sshd answers. Every other channel of
// the connection moves meanwhile.
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "proxy/connection/connection.h"
#include "proxy/connection/connection_parts.h"
#include "proxy/base/logging.h"

namespace hopgate::proxy {
namespace {

int64_t ToMs(int64_t seconds) { return seconds * 1000; }

// A non-blocking connect to `ip`:`port`. Returns the fd; `*done` when it
// connected at once; -1 with `*err` set when it failed at once.
int ConnectStart(const IpAddress& ip, uint16_t port, bool* done, int* err) {
  sockaddr_storage ss;
  socklen_t len = ip.FillSockaddr(port, &ss);
  int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    *err = errno;
    return -1;
  }
  *done = connect(fd, reinterpret_cast<sockaddr*>(&ss), len) == 0;
  if (!*done && errno != EINPROGRESS) {
    *err = errno;
    close(fd);
    return -1;
  }
  return fd;
}

DialFailure KindOf(int err) {
  return err == ECONNREFUSED                        ? DialFailure::kRefused
         : err == ETIMEDOUT                         ? DialFailure::kTimeout
         : err == ENETUNREACH || err == EHOSTUNREACH ? DialFailure::kUnreachable
                                                     : DialFailure::kOther;
}

}  // namespace

int64_t Connection::PendingDeadline(const PendingDirect& p) {
  return p.stage == PendingDirect::Stage::kNew ? 0 : p.deadline_ms;  // 0: at once
}

int Connection::OnDialReady(socket_t, int, void* userdata) {
  // Marked only: the fd leaves the event between polls.
  static_cast<PendingDirect*>(userdata)->writable = true;
  return 0;
}

void Connection::StartDirect(std::unique_ptr<PendingDirect> p) {
  p->id = next_pending_id_++;
  p->conn = this;
  incoming_direct_.push_back(std::move(p));  // started between polls
}

// kNew: look the name up if the decision needs it, else decide now.
void Connection::ContinueDirect(PendingDirect& p) {
  const Config& cfg = gw_->config();
  if (p.stage == PendingDirect::Stage::kNew && !p.resolved) {
    auto plan = policy::PlanOpen(*p.policy, p.host, p.port);
    if (plan && !plan->resolve.empty()) {
      StartResolve(p, plan->resolve);
      return;
    }
  }
  // Decide, on the name and every address it resolved to.
  policy::Request req =
      policy::Request::Open(p.host, p.port, {}, gw_->policy().GetNames());
  if (!p.looked_up.empty() && !p.addresses.empty()) req.dns[p.looked_up] = p.addresses;
  p.decision = policy::Decide(*p.policy, CurrentIdentity(), req);
  const policy::Decision& d = p.decision;
  audit::ChannelOpen& e = p.event;
  e.rule = d.rule;
  e.allow = d.allow;
  for (const auto& a : p.addresses) e.addresses.push_back(a.ToString());
  e.host = d.host_entry;
  if (!d.allow) {
    e.reason = d.reason;
    FailDirect(p);
    return;
  }
  e.route = d.route;
  if (d.unresolved && d.route.empty()) {
    e.error = "cannot resolve " + p.looked_up + ": " + p.resolve_error;
    gw_->metrics().UpstreamConnectFailure("resolve");
    FailDirect(p);
    return;
  }
  if (d.terminate) {
    DecidedOpen o;
    o.decision = d;
    o.looked_up = p.looked_up;
    o.addresses = p.addresses;
    StartRecorded(o, p.host, p.port, p.policy, &e,
                  [&] { return p.open.Accept(session_.get()); },
                  [&] { p.open.Refuse(session_.get()); });
    p.stage = PendingDirect::Stage::kDone;
    return;
  }
  if (!d.route.empty()) {
    StartRoute(p);
    return;
  }
  p.stage = PendingDirect::Stage::kDialing;
  p.deadline_ms = gw_->NowMs() + ToMs(cfg.connect_timeout);
  StartDial(p);
}

void Connection::StartResolve(PendingDirect& p, const std::string& name) {
  p.stage = PendingDirect::Stage::kResolving;
  p.looked_up = name;
  p.deadline_ms = gw_->NowMs() + ToMs(gw_->config().connect_timeout);
  uint64_t id = p.id;
  // Hop back to our worker with the answer; a late one finds the
  // request gone (timed out) and is dropped.
  Worker* w = worker_;
  std::string conn_id = id_;
  Connection* self = this;
  gw_->resolver().ResolveAsync(
      name, [w, self, conn_id, id](std::vector<IpAddress> a, ResolveError err) {
        w->Post([w, self, conn_id, id, a = std::move(a), err = std::move(err)]() mutable {
          if (w->Drives(self) && self->id_ == conn_id) {
            self->Resolved(id, std::move(a), err.message);
            w->Poke(self);
          }
        });
      });
}

// The route's SSH handshakes block: they run on the task pool.
void Connection::StartRoute(PendingDirect& p) {
  const policy::Decision& d = p.decision;
  p.stage = PendingDirect::Stage::kRouting;
  p.deadline_ms = gw_->NowMs() + ToMs(gw_->config().connect_timeout) *
                                     static_cast<int64_t>(d.route.size() + 1) + 1000;
  RouteRequest rr;
  rr.hops = HopsFor(*p.policy, d.route);
  rr.user = user_;
  rr.connection_id = id_;
  rr.host = d.dial_host;
  rr.port = d.dial_port;
  rr.originator = p.originator;
  rr.originator_port = p.originator_port;
  uint64_t id = p.id;
  Worker* w = worker_;
  std::string conn_id = id_;
  Connection* self = this;
  Gateway* gw = gw_;
  gw_->tasks().Run([gw, w, self, conn_id, id, rr = std::move(rr)] {
    RouteFailure failure;
    auto stream = gw->upstream().Open(rr, &failure);
    int fd = stream ? stream->fd : -1;
    std::string address = JoinHostPort(rr.host, rr.port);
    w->Post([w, self, conn_id, id, fd, address, failure] {
      if (w->Drives(self) && self->id_ == conn_id) {
        self->Routed(id, fd, address, failure);
        w->Poke(self);
      } else if (fd >= 0) {
        close(fd);  // the connection is gone
      }
    });
  });
}

void Connection::Resolved(uint64_t pending_id, std::vector<IpAddress> addresses,
                          std::string error) {
  for (auto& p : pending_direct_) {
    if (p->id != pending_id || p->stage != PendingDirect::Stage::kResolving) continue;
    p->addresses = std::move(addresses);
    p->resolve_error = std::move(error);
    p->resolved = true;
    p->stage = PendingDirect::Stage::kNew;  // decided between polls, on these answers
    return;
  }
}

void Connection::Routed(uint64_t pending_id, int fd, std::string address, RouteFailure failure) {
  for (auto& p : pending_direct_) {
    if (p->id != pending_id || p->stage != PendingDirect::Stage::kRouting) continue;
    if (fd < 0) {
      p->event.failed_hop = failure.hop;
      p->event.error = failure.message;
      FailDirect(*p);
    } else {
      FinishDirect(*p, fd, address);
    }
    return;
  }
  if (fd >= 0) close(fd);
}

void Connection::StartDial(PendingDirect& p) {
  const auto& addrs = p.decision.dial_addresses;
  while (p.next_address < addrs.size()) {
    const IpAddress& ip = addrs[p.next_address++];
    bool done = false;
    int err = 0;
    int fd = ConnectStart(ip, p.decision.dial_port, &done, &err);
    if (fd < 0) {
      p.dial_error = "connect to " + JoinHostPort(ip.ToString(), p.decision.dial_port) +
                     " failed: " + strerror(err);
      p.dial_failure = KindOf(err);
      continue;
    }
    if (done) {
      FinishDirect(p, fd, JoinHostPort(ip.ToString(), p.decision.dial_port));
      return;
    }
    p.fd = fd;
    p.writable = false;
    fds_->Set(fd, POLLOUT, &Connection::OnDialReady, &p);
    return;
  }
  if (p.dial_error.empty()) p.dial_error = "no addresses to dial";
  p.event.error = p.dial_error;
  gw_->metrics().UpstreamConnectFailure(DialFailureName(p.dial_failure));
  FailDirect(p);
}

void Connection::ServePendingDirect(int64_t now) {
  for (auto& p : incoming_direct_) pending_direct_.push_back(std::move(p));
  incoming_direct_.clear();
  for (auto& up : pending_direct_) {
    PendingDirect& p = *up;
    if (p.stage == PendingDirect::Stage::kNew) {
      ContinueDirect(p);
    } else if (p.stage == PendingDirect::Stage::kDialing && p.writable) {
      fds_->Remove(p.fd);
      int err = 0;
      socklen_t len = sizeof err;
      getsockopt(p.fd, SOL_SOCKET, SO_ERROR, &err, &len);
      int fd = p.fd;
      p.fd = -1;
      const IpAddress& ip = p.decision.dial_addresses[p.next_address - 1];
      std::string where = JoinHostPort(ip.ToString(), p.decision.dial_port);
      if (err == 0) {
        FinishDirect(p, fd, where);
      } else {
        close(fd);
        p.dial_error = "connect to " + where + " failed: " + strerror(err);
        p.dial_failure = KindOf(err);
        StartDial(p);
      }
    } else if (p.stage != PendingDirect::Stage::kDone && now >= p.deadline_ms) {
      if (p.fd >= 0) {
        fds_->Remove(p.fd);
        close(p.fd);
        p.fd = -1;
      }
      std::string after = " after " + std::to_string(gw_->config().connect_timeout) + "s";
      if (p.stage == PendingDirect::Stage::kResolving) {
        p.event.error = "cannot resolve " + p.looked_up + ": timed out" + after;
        gw_->metrics().UpstreamConnectFailure("resolve");
      } else if (p.stage == PendingDirect::Stage::kDialing) {
        const IpAddress& ip = p.decision.dial_addresses[p.next_address - 1];
        p.event.error = "connect to " + JoinHostPort(ip.ToString(), p.decision.dial_port) +
                        " failed: timed out" + after;
        gw_->metrics().UpstreamConnectFailure("timeout");
      } else {
        p.event.error = "the route did not open in time";
        gw_->metrics().UpstreamConnectFailure("timeout");
      }
      FailDirect(p);
    }
  }
  pending_direct_.erase(
      std::remove_if(pending_direct_.begin(), pending_direct_.end(),
                     [](const auto& p) { return p->stage == PendingDirect::Stage::kDone; }),
      pending_direct_.end());
}

void Connection::FinishDirect(PendingDirect& p, int fd, const std::string& dial_address) {
  p.stage = PendingDirect::Stage::kDone;
  TuneSocket(fd);
  p.event.dial = dial_address;
  RelayDialed(
      p.event, fd, p.decision, [&] { return p.open.Accept(session_.get()); },
      [&] { p.open.Refuse(session_.get()); });
}

void Connection::FailDirect(PendingDirect& p) {
  p.stage = PendingDirect::Stage::kDone;
  if (p.fd >= 0) {
    if (fds_) fds_->Remove(p.fd);
    close(p.fd);
    p.fd = -1;
  }
  (void)AuditChannelOpen(p.event);
  if (refusal_written_) {  // else a flood: counted, and not logged one by one either
    spdlog::info("conn={} user={} direct-tcpip to {} refused: {}{}", id_, user_,
                 p.event.destination, p.event.reason, p.event.error);
  }
  if (session_) p.open.Refuse(session_.get());
}

}  // namespace hopgate::proxy
