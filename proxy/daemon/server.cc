#include "proxy/daemon/server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>

#include "common/net.h"
#include "proxy/connection/connection.h"
#include "proxy/net/bind.h"
#include "proxy/net/dialer.h"
#include "proxy/config/files.h"
#include "proxy/daemon/fleet.h"
#include "proxy/daemon/loader.h"
#include "proxy/base/clock.h"
#include "proxy/base/logging.h"
#include "proxy/base/version.h"

namespace hopgate::proxy {
namespace {

// How long the accept loop rests after running out of descriptors.
constexpr int64_t kAcceptBackoffMs = 100;

// A non-blocking listening socket on `hp` (an IP address or localhost).
Result<UniqueFd> Listen(const HostPort& hp) {
  auto fd = BindTcp(hp, SOCK_NONBLOCK);
  if (!fd) return Error{"listen " + fd.error().message};
  if (listen(fd->get(), 1024) != 0) return Error{"listen " + hp.ToString() + ": " + strerror(errno)};
  return std::move(*fd);
}

// The port a listening socket got (the configured one, or the free port
// the kernel picked for port 0).
uint16_t BoundPort(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return 0;
  if (ss.ss_family == AF_INET6) return ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
  return ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
}

// Every relayed connection holds two descriptors, so the open-files limit
// bounds how many connections the gateway can carry: take all the hard
// limit allows.
void RaiseOpenFilesLimit() {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
    spdlog::warn("cannot read the open-files limit: {}", strerror(errno));
    return;
  }
  rlim_t before = rl.rlim_cur;
  if (rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
      spdlog::warn("cannot raise the open-files limit from {} to {}: {}", before, rl.rlim_max,
                   strerror(errno));
      return;
    }
  }
  spdlog::info("open-files limit {} (was {}; hard limit {}): about {} relayed connections",
               rl.rlim_cur, before, rl.rlim_max, rl.rlim_cur / 2);
}

// Blocks the signals the accept loop reads from a signalfd (connection
// threads inherit the mask), ignores SIGPIPE and SIGXFSZ, and returns the
// signalfd.
int BlockSignals() {
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGTERM);
  sigaddset(&mask, SIGINT);
  sigaddset(&mask, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &mask, nullptr);  // inherited by connection threads
  signal(SIGPIPE, SIG_IGN);
  // A file size limit must fail writes (EFBIG, then fail closed), not kill us.
  signal(SIGXFSZ, SIG_IGN);
  return signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
}

}  // namespace

Result<std::unique_ptr<Server>> Server::Start(Config config,
                                              std::unique_ptr<signer::Client> signer) {
  std::unique_ptr<Server> s(new Server());
  s->signer_ = std::move(signer);
  RaiseOpenFilesLimit();
  if (Status st = s->PrepareForUser(config); !st) return st.error();

  // Everything --check checks, by the same code: nothing starts unless all
  // of it holds (the signing keys are the signer's: never read here).
  Loaded loaded = LoadAll(config, /*private_keys=*/false);
  for (const auto& w : loaded.warnings) spdlog::warn("{}", w);
  if (!loaded.ok()) {
    std::string all;
    for (const auto& e : loaded.errors) all += e + "\n";
    return Error{all};
  }
  auto policy_ptr = loaded.policy;
  auto trust = loaded.trust;

  s->metrics_ = Metrics::Create(kVersion);
  if (!s->metrics_) return Error{"internal error: cannot create the metrics registry"};
  s->signer_->set_metrics(s->metrics_.get());
  s->metrics_->WatchDiskFree(config.audit_log, config.recordings_dir);
  auto log = s->OpenAuditLog(config);
  if (!log) return Error{log.message()};
  if (Status st = s->LoadKeys(&config); !st) return st.error();
  if (Status st = s->SetUpBind(); !st) return st.error();
  if (Status st = s->OpenListeners(config.listen, config.listen_proxy); !st) return st.error();

  // One descriptor kept in reserve, to shed a connection cleanly at the
  // open-files limit (see ShedAtDescriptorLimit).
  s->spare_fd_.reset(open("/dev/null", O_RDONLY | O_CLOEXEC));
  s->signal_fd_.reset(BlockSignals());

  s->StartGateway(std::move(config), *log);
  s->gw_->policy().Set(policy_ptr, trust,
                       s->ResolvePolicyNames(*policy_ptr, std::make_shared<policy::AddressMap>()));
  s->loaded_content_hash_ = policy_ptr->version + trust->version;
  s->metrics_->PolicyVersion(policy_ptr->version);

  if (Status st = s->RecordStart(**log, policy_ptr->version); !st) return st.error();
  if (Status st = s->ServeMetrics(); !st) return st.error();
  for (const auto& l : s->listeners_) spdlog::info("listening on {}", l.local);
  spdlog::info("policy {} loaded from {} ({} rules)", policy_ptr->version,
               s->gw_->config().policy, policy_ptr->rules.size());
  if (!trust->user_cas.empty()) {
    spdlog::info("{} trusted user CA keys from {}", trust->user_cas.size(),
                 s->gw_->config().trusted_user_ca_keys);
  }
  if (Status st = s->SwitchUser(); !st) return st.error();
  s->fleet_copier_ = StartFleetCopy(s->gw_->config(), s->audit_sink_, s->metrics_);
  s->fleet_locks_ = StartFleetLocks(s->gw_->config(), s->gw_.get());
  auto file_locks = StartFileLocks(s->gw_->config(), s->gw_.get());
  if (!file_locks) return file_locks.error();
  s->file_locks_ = std::move(*file_locks);
  s->fleet_live_ = StartFleetLive(s->gw_->config(), s->gw_.get(), s->metrics_);
  return s;
}

Status Server::PrepareForUser(const Config& config) {
  if (config.user.empty()) return Status::Ok();
  auto account = LookupAccount(config.user);
  if (!account) return Error{config.Where("user") + ": " + account.message()};
  account_ = *account;
  size_t slash = config.audit_log.rfind('/');
  std::string log_dir = slash == std::string::npos ? "." : config.audit_log.substr(0, slash);
  for (const auto& [dir, key] : {std::pair{log_dir, "audit.log"},
                                 std::pair{config.recordings_dir, "audit.recordings"}}) {
    if (Status st = MakeDirectoriesOwnedBy(dir, *account_); !st) {
      return Error{config.Where(key) + ": " + st.message()};
    }
  }
  return Status::Ok();
}

Status Server::SwitchUser() {
  if (!account_) return Status::Ok();
  // Every thread switches (glibc applies set*id to all of a process's
  // threads); after this nothing in this process can regain root.
  if (Status st = DropPrivileges(*account_); !st) {
    return Error{gw_->config().Where("user") + ": cannot switch to " + account_->name + ": " +
                 st.message()};
  }
  spdlog::info("running as {} (uid {}, gid {}); signer pid {} (worker {})", account_->name,
               account_->uid, account_->gid, signer_->keeper_pid(), signer_->worker_pid());
  return Status::Ok();
}

Result<std::shared_ptr<audit::Log>> Server::OpenAuditLog(const Config& config) {
  audit::FileSinkOptions options;
  options.origin = config.audit_origin;
  options.rotate_size = static_cast<uint64_t>(config.audit_rotate_size);
  options.rotate_interval_ms = config.audit_rotate_interval * 1000;
  options.clock = &WallMs;
  // Checkpoints are signed by the signer process, which holds the key.
  signer::Signer* signer = signer_.get();
  options.signer = [signer](std::string_view text) { return signer->SignCheckpoint(text); };
  ScopedFsUser as_user(account_ ? &*account_ : nullptr);
  auto sink = audit::FileSink::Open(config.audit_log, options);
  if (!sink) return Error{sink.message()};
  audit_sink_ = std::move(*sink);
  for (const auto& note : audit_sink_->notes()) spdlog::warn("audit log: {}", note);
  spdlog::info("audit log {}: {} events; checkpoints for {} signed by the signer's key ({}) "
               "every {}s",
               config.audit_log, audit_sink_->size(), config.audit_origin,
               signer_->audit_public(), config.audit_checkpoint_interval);
  // The tree as this run found it, signed before anything new is added.
  if (Status st = audit_sink_->WriteCheckpoint("start"); !st) return st.error();
  auto log = std::make_shared<audit::Log>(audit_sink_, &WallMs);
  log->set_observer([m = metrics_](const char* type, bool ok) { m->AuditEvent(type, ok); });
  return log;
}

Status Server::LoadKeys(Config* config) {
  auto keys = LoadOrGenerateHostKeys(config->host_keys, /*generate_missing=*/true);
  if (!keys) return Error{keys.message()};
  host_keys_ = std::move(*keys);
  // The interception host keys recorded sessions answer with.
  std::vector<std::string> types;
  for (const auto& k : host_keys_) types.push_back(k.type);
  config->recording_host_keys = RecordingHostKeyPaths(*config, types);
  auto recording_key = LoadOrGenerateHostKeys(config->recording_host_keys, true);
  if (!recording_key) return Error{recording_key.message()};
  config->recording_host_key_texts.clear();
  for (const auto& k : *recording_key) {
    config->recording_host_key_texts.push_back(k.private_text);
    spdlog::info("recording host key {} {} {}{} (clients trust it via hopctl known-hosts)", k.path,
                 k.type, k.fingerprint, k.generated ? " (generated)" : "");
  }
  return Status::Ok();
}

Status Server::SetUpBind() {
  bind_.reset(ssh_bind_new());
  ssh_bind b = bind_.get();
  bool no_config = false;
  ssh_bind_options_set(b, SSH_BIND_OPTIONS_PROCESS_CONFIG, &no_config);
  // From memory, not by path: libssh would read the files at the first
  // accept, after the switch to `user:` (they stay root-only).
  for (const auto& k : host_keys_) {
    auto copy = ImportPrivateKey(k.private_text);
    if (!copy || ssh_bind_options_set(b, SSH_BIND_OPTIONS_IMPORT_KEY, copy->get()) != SSH_OK) {
      return Error{k.path + ": libssh refused the host key"};
    }
    (void)copy->release();  // the bind owns it now
  }
  ssh_bind_options_set(b, SSH_BIND_OPTIONS_PUBKEY_ACCEPTED_KEY_TYPES, kAcceptedKeyTypes);
  ssh_bind_options_set(b, SSH_BIND_OPTIONS_BANNER, "hopgate");
  return Status::Ok();
}

Status Server::OpenListeners(const std::vector<HostPort>& listen,
                             const std::vector<ListenProxy>& proxy) {
  for (size_t i = 0; i < listen.size(); ++i) {
    const HostPort& hp = listen[i];
    auto fd = Listen(hp);
    if (!fd) {
      listeners_.clear();  // closes those already open
      return Error{fd.message()};
    }
    HostPort bound = hp;
    bound.port = BoundPort(fd->get());
    listeners_.push_back({std::move(*fd), bound.ToString(),
                          i < proxy.size() ? proxy[i] : ListenProxy{}});
  }
  return Status::Ok();
}

void Server::StartGateway(Config config, std::shared_ptr<audit::Log> log) {
  UpstreamPool::Options upstream;
  upstream.connect_timeout_ms = config.connect_timeout * 1000;
  upstream.max_channels = config.upstream_max_channels;
  upstream.idle_close_ms = config.upstream_idle_close * 1000;
  upstream.alive = {config.upstream_alive_interval * 1000, config.upstream_alive_count_max};
  if (!config.upstream_user_ca_key.empty()) upstream.signer = signer_.get();
  upstream.max_cert_validity = config.upstream_max_cert_validity;
  gw_ = std::make_unique<Gateway>(std::move(config), log, metrics_, std::move(upstream));
  // Workers drive the client connections: as many as there are cores.
  size_t n = std::max<unsigned>(2, std::thread::hardware_concurrency());
  for (size_t i = 0; i < n; ++i) {
    workers_.push_back(std::make_unique<Worker>(static_cast<int>(i)));
    workers_.back()->Start();
  }
}

Status Server::RecordStart(audit::Log& log, const std::string& policy_version) {
  audit::ServerStart start;
  start.version = kVersion;
  for (const auto& l : listeners_) start.listen.push_back(l.local);
  start.policy_version = policy_version;
  for (const auto& k : host_keys_) {
    start.host_key_fingerprints.push_back(k.type + " " + k.fingerprint);
    spdlog::info("host key {} {} {}{}", k.path, k.type, k.fingerprint,
                 k.generated ? " (generated)" : "");
  }
  Status st = log.Record("", start);
  if (!st) return Error{st.message()};
  return Status::Ok();
}

Status Server::ServeMetrics() {
  const auto& ml = gw_->config().metrics_listen;
  if (!ml) return Status::Ok();
  Gateway* gw = gw_.get();
  audit::FileSink* audit_sink = audit_sink_.get();
  Metrics* metrics = metrics_.get();
  Status served = metrics_->Serve(*ml, [gw, audit_sink, metrics](std::string* why) {
    if (gw->stopping()) {
      *why = "shutting down";
      return false;
    }
    if (gw->draining()) {
      *why = "draining: not accepting new connections";
      return false;
    }
    // One state for /healthz and hopgate_audit_log_healthy.
    bool ok = audit_sink->Check(why);
    metrics->AuditHealthy(ok);
    if (!ok) return false;
    return true;
  });
  if (!served) return Error{served.message()};
  HostPort bound = *ml;
  bound.port = static_cast<uint16_t>(metrics_->ServingPort());
  spdlog::info("metrics on http://{}/metrics, health on /healthz (/healthz/ready, /healthz/live)",
               bound.ToString());
  return Status::Ok();
}

Server::~Server() {
  StopControl();
  // The listeners, signalfd and spare descriptor close with their members.
}

int Server::Run() {
  // Reloads, name lookups and audit-log checks run on the control thread:
  // a reload that lints thousands of rules never delays an accept.
  StartControl();
  std::vector<pollfd> fds;
  // The listeners were opened in Start: connections are accepted from now.
  std::string serving = "serving on";
  for (const auto& l : listeners_) serving += " " + l.local;
  notify_.Ready(serving);
  while (true) {
    notify_.FeedWatchdog(SteadyMs());
    const bool draining = !drain_reason_.empty();
    if (draining) {
      if (std::string over = DrainOver(); !over.empty()) {
        spdlog::info("drain over: {}", over);
        StopControl();
        Shutdown(drain_reason_);
        return 0;
      }
    }
    int64_t now = WallMs();
    int timeout = draining ? 200 : -1;  // a drain looks at the connections' count
    bool paused = now < accept_paused_until_;
    if (paused && !draining) timeout = static_cast<int>(accept_paused_until_ - now);
    if (int64_t wd = notify_.WatchdogDueInMs(SteadyMs()); wd >= 0) {
      timeout = timeout < 0 ? static_cast<int>(wd) : std::min(timeout, static_cast<int>(wd));
    }
    // PROXY headers still arriving: each polled, and dropped at its deadline.
    int64_t next_header = ExpirePendingHeaders(SteadyMs());
    if (next_header >= 0) {
      int wait = static_cast<int>(std::max<int64_t>(0, next_header - SteadyMs()));
      timeout = timeout < 0 ? wait : std::min(timeout, wait);
    }
    // During a drain the listeners and pending headers are gone (StartDrain).
    fds.clear();
    fds.push_back({signal_fd_.get(), POLLIN, 0});
    for (const auto& l : listeners_) fds.push_back({l.fd.get(), short(paused ? 0 : POLLIN), 0});
    for (const auto& p : pending_headers_) fds.push_back({p.fd.get(), POLLIN, 0});
    int n = poll(fds.data(), fds.size(), timeout);
    if (n < 0) {
      if (errno == EINTR) continue;
      spdlog::error("poll failed: {}", strerror(errno));
      StopControl();
      Shutdown("internal error");
      return 1;
    }
    if (fds[0].revents & POLLIN) {
      signalfd_siginfo si;
      while (read(signal_fd_.get(), &si, sizeof si) == sizeof si) {
        if (si.ssi_signo == SIGHUP) {
          RequestReload();
          continue;
        }
        std::string name = si.ssi_signo == SIGTERM ? "SIGTERM" : "SIGINT";
        if (drain_reason_.empty() && gw_->config().drain_timeout > 0) {
          StartDrain(name);
          break;  // fds changes: back to the top of the loop
        }
        // No drain configured, or a second signal during one: stop now.
        if (!drain_reason_.empty()) {
          spdlog::warn("{} during the drain: closing the {} remaining connections now", name,
                       gw_->active());
        }
        StopControl();
        Shutdown(drain_reason_.empty() ? name : drain_reason_);
        return 0;
      }
    }
    if (!drain_reason_.empty()) continue;
    // Pending headers first (by their poll slots), then new connections,
    // which may add to the pending list.
    size_t first_pending = 1 + listeners_.size();
    size_t polled_pending = fds.size() - first_pending;
    std::vector<bool> finished(polled_pending, false);
    for (size_t i = 0; i < polled_pending; ++i) {
      if (fds[first_pending + i].revents) finished[i] = ReadPendingHeader(pending_headers_[i]);
    }
    for (size_t i = polled_pending; i-- > 0;) {
      if (finished[i]) pending_headers_.erase(pending_headers_.begin() + static_cast<long>(i));
    }
    for (size_t i = 0; i < listeners_.size(); ++i) {
      if (fds[1 + i].revents & POLLIN) Accept(i);
    }
  }
}

void Server::ShedAtDescriptorLimit(int listen_fd, const std::string& local, int err) {
  // Out of descriptors: accept and close one pending connection with the
  // spare descriptor kept for this, so the client sees a clean close rather
  // than a hang, and stop accepting for a moment instead of spinning on a
  // listener that stays readable.
  int64_t now = WallMs();
  if (spare_fd_) {
    spare_fd_.reset();
    int fd = accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd >= 0) {
      close(fd);
      ++shed_;
      metrics_->Connection("rejected_no_descriptors");
    }
    spare_fd_.reset(open("/dev/null", O_RDONLY | O_CLOEXEC));
  }
  accept_paused_until_ = now + kAcceptBackoffMs;
  if (now - shed_logged_ms_ >= 1000) {
    spdlog::warn("accept on {} failed: {}; shed {} connections at the open-files limit, pausing "
                 "accepts for {} ms",
                 local, strerror(err), shed_, kAcceptBackoffMs);
    shed_logged_ms_ = now;
    shed_ = 0;
  }
}

Startups::Slot Server::Admit(const IpAddress& ip, const std::string& who) {
  const Config& cfg = gw_->config();
  Startups::Refusal why = Startups::Refusal::kNone;
  Startups::Slot slot;
  if (static_cast<int64_t>(gw_->active()) >= cfg.max_connections) {
    why = Startups::Refusal::kTotal;
  } else {
    slot = gw_->startups().Acquire(ip, cfg.max_startups, cfg.per_source_max_startups, SteadyMs(),
                                   &why);
    if (slot) return slot;
  }
  const char* result = "rejected_max_connections";
  std::string reason = "too many connections (max_connections " +
                       std::to_string(cfg.max_connections) + ")";
  if (why == Startups::Refusal::kPerSource) {
    result = "rejected_per_source_max_startups";
    reason = "too many unauthenticated connections from " + Startups::SourceOf(ip) +
             " (per_source_max_startups " + std::to_string(cfg.per_source_max_startups) + ")";
  } else if (why == Startups::Refusal::kPenalty) {
    result = "rejected_penalty";
    int64_t until = gw_->startups().PenalizedUntil(ip, SteadyMs());
    reason = "source " + Startups::SourceOf(ip) + " penalized for failed logins for " +
             std::to_string(std::max<int64_t>(1, (until - SteadyMs() + 999) / 1000)) + "s more";
  } else if (static_cast<int64_t>(gw_->active()) < cfg.max_connections) {
    result = "rejected_max_startups";
    reason = "too many unauthenticated connections (max_startups " +
             std::to_string(cfg.max_startups) + ")";
  }
  metrics_->Connection(result);
  // Refusals come in floods: log the first of every hundred.
  if (rejected_startups_++ % 100 == 0) {
    spdlog::warn("refused connection from {}: {}", who, reason);
  }
  return slot;
}

void Server::Accept(size_t listener) {
  int listen_fd = listeners_[listener].fd.get();
  const std::string& local = listeners_[listener].local;
  for (int burst = 0; burst < 64; ++burst) {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    // A raw fd: ssh_bind_accept_fd takes it on success; closed by hand otherwise.
    int fd = accept4(listen_fd, reinterpret_cast<sockaddr*>(&ss), &len,
                     SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0) {
      int err = errno;
      if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM) {
        ShedAtDescriptorLimit(listen_fd, local, err);
      } else if (err != EAGAIN && err != EWOULDBLOCK && err != EINTR &&
                 err != ECONNABORTED) {
        spdlog::warn("accept on {} failed: {}", local, strerror(err));
      }
      return;
    }
    ClientEndpoint client;
    client.local = local;
    char buf[INET6_ADDRSTRLEN] = "?";
    if (ss.ss_family == AF_INET) {
      auto* a = reinterpret_cast<sockaddr_in*>(&ss);
      inet_ntop(AF_INET, &a->sin_addr, buf, sizeof buf);
      client.port = ntohs(a->sin_port);
    } else if (ss.ss_family == AF_INET6) {
      auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
      inet_ntop(AF_INET6, &a->sin6_addr, buf, sizeof buf);
      client.port = ntohs(a->sin6_port);
    }
    auto ip = IpAddress::Parse(buf);
    client.address = ip ? ip->Unmapped().ToString() : buf;
    if (listeners_[listener].proxy.enabled) {
      AcceptProxied(UniqueFd(fd), listener, client, ip ? ip->Unmapped() : IpAddress{});
    } else {
      HandOff(fd, client, SteadyMs());
    }
  }
}

void Server::HandOff(int fd, const ClientEndpoint& client, int64_t accepted_ms) {
  auto ip = IpAddress::Parse(client.address);
  Startups::Slot slot = Admit(ip ? *ip : IpAddress{}, JoinHostPort(client.address, client.port));
  if (!slot) {
    close(fd);
    return;
  }
  TuneSocket(fd);
  SessionPtr session(ssh_new());
  if (!session || ssh_bind_accept_fd(bind_.get(), session.get(), fd) != SSH_OK) {
    spdlog::error("cannot set up a session for {}: {}", client.address,
                  ssh_get_error(bind_.get()));
    close(fd);
    return;
  }
  DisableCompression(session.get());
  metrics_->Connection("accepted");
  // The least loaded worker drives it from now on.
  Worker* w = workers_.front().get();
  for (auto& candidate : workers_) {
    if (candidate->load() < w->load()) w = candidate.get();
  }
  auto conn = std::make_shared<std::unique_ptr<Connection>>(std::make_unique<Connection>(
      gw_.get(), w, std::move(session), client, Gateway::NewConnectionId(), accepted_ms));
  (*conn)->HoldStartupSlot(std::move(slot));
  int64_t now = SteadyMs();
  w->Post([w, conn, now] { w->Adopt(std::move(*conn), now); });
}

void Server::Shutdown(const std::string& reason) {
  spdlog::info("{}: stopping; closing {} connections", reason, gw_->active());
  notify_.Stopping("stopping: closing " + std::to_string(gw_->active()) + " connections");
  listeners_.clear();  // closes them
  pending_headers_.clear();  // and the connections still sending a PROXY header
  fleet_locks_.reset();
  file_locks_.reset();
  int64_t open = static_cast<int64_t>(gw_->active());
  // Every connection learns the gateway stops at its next step; recorded
  // sessions end first (each is woken), then the connections carrying them.
  gw_->Stop();
  gw_->WakeAll();
  for (auto& w : workers_) w->Stop();
  for (auto& w : workers_) w->Join();
  if (!gw_->WaitForAll(10'000)) {
    spdlog::warn("recorded sessions did not end within 10s; waiting for them");
  }
  gw_->JoinTasks();
  // Every connection has ended: the replica withdraws from the live view.
  if (fleet_live_) fleet_live_->Stop();
  gw_->tasks().Stop();
  gw_->upstream().Shutdown();
  gw_->FlushSuppressed(/*all=*/true);  // audit floods still being counted
  audit::ServerStop e;
  e.reason = reason;
  e.connections_closed = open;
  (void)gw_->audit().Record("", e);
  // The last checkpoint covers server_stop.
  if (Status st = audit_sink_->WriteCheckpoint("shutdown"); !st) {
    spdlog::error("audit log: {}", st.message());
  }
  // What the database can take in 2 s goes now; the rest on the next start.
  if (fleet_copier_) fleet_copier_->Stop(2000);
  metrics_->StopServing();
  spdlog::info("stopped");
}

}  // namespace hopgate::proxy
