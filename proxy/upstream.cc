#include "proxy/upstream.h"

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
#include "proxy/dialer.h"
#include "proxy/relay.h"
#include "proxy/ssh_util.h"

namespace hopgate::proxy {
namespace {

int64_t SteadyMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Host key algorithms to ask for when a key is pinned, so the hop presents
// the key we hold rather than another of its keys.
std::string HostKeyAlgorithmsFor(const std::string& blob) {
  auto key = certs::ParsePublicKeyBlob(blob);
  if (!key) return "";
  std::string type(certs::KeyTypeName(key->type));
  if (type == "ssh-rsa") return "rsa-sha2-512,rsa-sha2-256";
  return type;
}

constexpr const char* kUpstreamCiphers =
    "aes128-gcm@openssh.com,aes256-gcm@openssh.com,chacha20-poly1305@openssh.com,"
    "aes256-ctr,aes192-ctr,aes128-ctr";

}  // namespace

std::vector<Hop> HopsFor(const policy::Policy& policy, const std::vector<std::string>& route) {
  std::vector<Hop> hops;
  for (const auto& name : route) {
    const policy::Host& h = policy.hosts.at(name);
    hops.push_back(
        Hop{h.name, h.address, h.login, h.identity_text, h.host_key_blob, h.known_hosts_path});
  }
  return hops;
}

Result<SessionPtr> ConnectSsh(int fd, const SshLogin& hop,
                              const std::optional<certs::PrivateKey>& ca, int64_t timeout_ms,
                              std::string* reason) {
  auto fail = [&](const char* r, const std::string& m) -> Result<SessionPtr> {
    *reason = r;
    return Error{m};
  };
  SessionPtr session(ssh_new());
  if (!session) {
    close(fd);
    return fail("other", "cannot create an SSH session");
  }
  ssh_session s = session.get();
  long timeout_s = std::max<int64_t>(1, timeout_ms / 1000);
  int port = hop.address.port;
  int no = 0;
  const char* known = hop.known_hosts_path.empty() ? "/dev/null" : hop.known_hosts_path.c_str();
  socket_t sock = fd;
  ssh_options_set(s, SSH_OPTIONS_FD, &sock);
  bool opts_ok = ssh_options_set(s, SSH_OPTIONS_PROCESS_CONFIG, &no) == SSH_OK &&
                 ssh_options_set(s, SSH_OPTIONS_HOST, hop.address.host.c_str()) == SSH_OK &&
                 ssh_options_set(s, SSH_OPTIONS_PORT, &port) == SSH_OK &&
                 ssh_options_set(s, SSH_OPTIONS_USER, hop.login.c_str()) == SSH_OK &&
                 ssh_options_set(s, SSH_OPTIONS_TIMEOUT, &timeout_s) == SSH_OK &&
                 ssh_options_set(s, SSH_OPTIONS_KNOWNHOSTS, known) == SSH_OK &&
                 ssh_options_set(s, SSH_OPTIONS_GLOBAL_KNOWNHOSTS, "/dev/null") == SSH_OK;
  if (opts_ok && !hop.host_key_blob.empty()) {
    std::string algos = HostKeyAlgorithmsFor(hop.host_key_blob);
    if (!algos.empty()) opts_ok = ssh_options_set(s, SSH_OPTIONS_HOSTKEYS, algos.c_str()) == SSH_OK;
  }
  // AES-GCM first: with AES-NI it is the cheapest AEAD on the relay path
  // (chacha20-poly1305 costs about 40% more CPU per byte here).
  if (opts_ok) {
    opts_ok = ssh_options_set(s, SSH_OPTIONS_CIPHERS_C_S, kUpstreamCiphers) == SSH_OK &&
              ssh_options_set(s, SSH_OPTIONS_CIPHERS_S_C, kUpstreamCiphers) == SSH_OK;
  }
  DisableCompression(s);
  if (!opts_ok) return fail("other", "cannot set SSH options: " + SessionError(s));
  if (ssh_connect(s) != SSH_OK) {
    return fail("other", "SSH connection failed: " + SessionError(s));
  }

  // The hop's host key: pinned, or in its known_hosts file. Never trusted
  // on first use.
  ssh_key raw = nullptr;
  if (ssh_get_server_publickey(s, &raw) != SSH_OK || raw == nullptr) {
    return fail("host_key", "no host key received");
  }
  KeyPtr server_key(raw);
  auto blob = KeyBlob(server_key.get());
  if (!blob) return fail("host_key", "cannot read its host key: " + blob.message());
  std::string presented = Sha256Fingerprint(*blob);
  if (!hop.host_key_blob.empty()) {
    if (*blob != hop.host_key_blob) {
      return fail("host_key", "host key mismatch: it presented " + KeyTypeName(server_key.get()) +
                                  " " + presented + ", the policy pins " +
                                  Sha256Fingerprint(hop.host_key_blob));
    }
  } else {
    switch (ssh_session_is_known_server(s)) {
      case SSH_KNOWN_HOSTS_OK:
        break;
      case SSH_KNOWN_HOSTS_CHANGED:
        return fail("host_key", "host key changed: it presented " + presented +
                                    ", which does not match " + hop.known_hosts_path);
      case SSH_KNOWN_HOSTS_OTHER:
        return fail("host_key", "it presented a key of another type than " + hop.known_hosts_path +
                                    " lists (" + presented + ")");
      default:
        return fail("host_key", "host key " + presented + " is not in " + hop.known_hosts_path);
    }
  }

  // Log in: a static identity, or a certificate minted for this user.
  if (!hop.identity_text.empty()) {
    ssh_key priv = nullptr;
    if (ssh_pki_import_privkey_base64(hop.identity_text.c_str(), nullptr, nullptr, nullptr,
                                      &priv) != SSH_OK) {
      return fail("auth", "cannot load its identity key");
    }
    KeyPtr key(priv);
    if (ssh_userauth_publickey(s, nullptr, key.get()) != SSH_AUTH_SUCCESS) {
      return fail("auth", "login as " + hop.login + " with its identity key was refused");
    }
  } else {
    if (!ca) {
      return fail("auth", "no identity and no upstream.user_ca_key to mint a certificate");
    }
    ssh_key priv = nullptr;
    if (ssh_pki_generate(SSH_KEYTYPE_ED25519, 0, &priv) != SSH_OK) {
      return fail("auth", "cannot generate a key");
    }
    KeyPtr key(priv);
    ssh_key pub = nullptr;
    if (ssh_pki_export_privkey_to_pubkey(key.get(), &pub) != SSH_OK) {
      return fail("auth", "cannot derive the public key");
    }
    KeyPtr pubkey(pub);
    auto pub_blob = KeyBlob(pubkey.get());
    if (!pub_blob) return fail("auth", "cannot encode the public key");
    auto parsed = certs::ParsePublicKeyBlob(*pub_blob);
    if (!parsed) return fail("auth", "cannot parse the public key: " + parsed.message());
    certs::CertificateSpec spec;
    spec.key = *parsed;
    RAND_bytes(reinterpret_cast<unsigned char*>(&spec.serial), sizeof spec.serial);
    spec.key_id = hop.key_id;
    spec.principals = {hop.login};
    uint64_t now = static_cast<uint64_t>(time(nullptr));
    spec.valid_after = now - 60;
    spec.valid_before = now + static_cast<uint64_t>(std::max<int64_t>(60, hop.valid_seconds));
    spec.extensions = hop.extensions;
    spec.force_command = hop.force_command;
    auto cert = certs::MintUserCertificate(spec, *ca);
    if (!cert) return fail("auth", "cannot mint a certificate: " + cert.message());
    ssh_key cert_key = nullptr;
    std::string b64 = Base64Encode(*cert);
    if (ssh_pki_import_cert_base64(b64.c_str(), SSH_KEYTYPE_ED25519_CERT01, &cert_key) != SSH_OK) {
      return fail("auth", "libssh cannot load the minted certificate");
    }
    KeyPtr certk(cert_key);
    if (ssh_pki_copy_cert_to_privkey(certk.get(), key.get()) != SSH_OK) {
      return fail("auth", "libssh cannot attach the minted certificate");
    }
    if (ssh_userauth_try_publickey(s, nullptr, certk.get()) != SSH_AUTH_SUCCESS ||
        ssh_userauth_publickey(s, nullptr, key.get()) != SSH_AUTH_SUCCESS) {
      return fail("auth", "login as " + hop.login + " with a certificate minted by " +
                              "upstream.user_ca_key was refused");
    }
  }
  return session;
}

// One stream requested from a link: a direct-tcpip channel opened by the
// link's thread and pumped to a socketpair whose other end is `fd`.
struct StreamRequest {
  std::string host;
  uint16_t port = 0;
  std::string originator;
  uint16_t originator_port = 0;
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  bool abandoned = false;  // the requester gave up waiting: close what arrives
  int fd = -1;
  std::string error;
  ssh_channel channel = nullptr;  // link thread only
};

class Link : public std::enable_shared_from_this<Link> {
 public:
  enum class State { kConnecting, kReady, kClosed };

  Link(UpstreamPool* pool, std::string key, std::string name, int64_t idle_close_ms)
      : pool_(pool), key_(std::move(key)), name_(std::move(name)), idle_close_ms_(idle_close_ms) {}
  ~Link() {
    if (wake_[0] >= 0) close(wake_[0]);
    if (wake_[1] >= 0) close(wake_[1]);
  }

  const std::string& key() const { return key_; }
  const std::string& name() const { return name_; }

  // Pool bookkeeping, under the pool's lock.
  int reserved = 0;

  // Is this link usable for one more stream? (pool lock held)
  bool Usable(int64_t max_channels) {
    std::lock_guard<std::mutex> lock(mu_);
    if (state_ == State::kClosed || stopping_) return false;
    return streams_ + reserved < max_channels;
  }
  bool Idle(int64_t now) {
    std::lock_guard<std::mutex> lock(mu_);
    return reserved == 0 && streams_ == 0 && queue_.empty() &&
           now - idle_since_ms_ >= idle_close_ms_;
  }

  // Connects over `fd` (taken: libssh closes it), checks the host key and
  // logs in; on success starts the link's thread. Runs on the caller's
  // thread; other callers wait in WaitReady().
  bool Establish(int fd, const Hop& hop, const RouteRequest& req,
                 const std::optional<certs::PrivateKey>& ca, int64_t timeout_ms,
                 RouteFailure* failure) {
    std::string reason, message;
    bool ok = Handshake(fd, hop, req, ca, timeout_ms, &reason, &message);
    if (ok) {
      if (pipe2(wake_, O_NONBLOCK | O_CLOEXEC) != 0) {
        ok = false;
        reason = "other";
        message = "hop " + hop.name + ": cannot create a pipe";
      }
    }
    if (ok) {
      event_.reset(ssh_event_new());
      if (event_) fds_ = std::make_unique<EventFds>(event_.get(), nullptr, nullptr);
      ssh_set_blocking(session_.get(), 0);
      if (!event_ || ssh_event_add_session(event_.get(), session_.get()) != SSH_OK ||
          ssh_event_add_fd(event_.get(), wake_[0], POLLIN, &Link::OnWake, this) != SSH_OK) {
        ok = false;
        reason = "other";
        message = "hop " + hop.name + ": cannot set up the event loop";
      }
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (ok) {
        state_ = State::kReady;
        idle_since_ms_ = SteadyMs();
      } else {
        state_ = State::kClosed;
        fail_reason_ = reason;
        fail_message_ = message;
      }
    }
    cv_.notify_all();
    if (!ok) {
      if (event_ && session_) ssh_event_remove_session(event_.get(), session_.get());
      event_.reset();
      session_.reset();
      failure->hop = hop.name;
      failure->reason = reason;
      failure->message = message;
      return false;
    }
    std::thread([self = shared_from_this()] { self->Run(); }).detach();
    return true;
  }

  // The transport to the hop could not be made: fail the link and its waiters.
  void MarkFailed(const RouteFailure& failure) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      state_ = State::kClosed;
      fail_reason_ = failure.reason;
      fail_message_ = failure.message;
    }
    cv_.notify_all();
  }

  // Waits for a link another caller is establishing. False (with the
  // failure) if it failed or did not finish in time.
  bool WaitReady(int64_t timeout_ms, RouteFailure* failure) {
    std::unique_lock<std::mutex> lock(mu_);
    bool done = cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms),
                             [&] { return state_ != State::kConnecting; });
    if (done && state_ == State::kReady) return true;
    failure->hop = name_;
    failure->reason = done ? fail_reason_ : "timeout";
    failure->message = done ? fail_message_ : "hop " + name_ + ": SSH set-up timed out";
    return false;
  }

  // Asks the link's thread for a stream to host:port; blocks until it is
  // open, refused, or `timeout_ms` passed.
  Result<int> OpenStream(const std::string& host, uint16_t port, const std::string& originator,
                         uint16_t originator_port, int64_t timeout_ms) {
    auto req = std::make_shared<StreamRequest>();
    req->host = host;
    req->port = port;
    req->originator = originator.empty() ? "127.0.0.1" : originator;
    req->originator_port = originator_port;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (state_ != State::kReady || stopping_) return Error{"the connection to it is closed"};
      queue_.push_back(req);
    }
    Wake();
    std::unique_lock<std::mutex> lock(req->mu);
    if (!req->cv.wait_for(lock, std::chrono::milliseconds(timeout_ms), [&] { return req->done; })) {
      req->abandoned = true;
      return Error{"no answer to the channel open in time"};
    }
    if (req->fd < 0) return Error{req->error};
    return req->fd;
  }

  void Stop() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
    }
    Wake();
  }

 private:
  bool Handshake(int fd, const Hop& hop, const RouteRequest& req,
                 const std::optional<certs::PrivateKey>& ca, int64_t timeout_ms,
                 std::string* reason, std::string* message) {
    SshLogin login;
    login.name = hop.name;
    login.address = hop.address;
    login.login = hop.login;
    login.identity_text = hop.identity_text;
    login.host_key_blob = hop.host_key_blob;
    login.known_hosts_path = hop.known_hosts_path;
    login.key_id = "hopgate:" + req.user + ":" + req.connection_id;
    login.extensions = {"permit-port-forwarding"};
    auto session = ConnectSsh(fd, login, ca, timeout_ms, reason);
    if (!session) {
      *message = "hop " + hop.name + ": " + session.message();
      return false;
    }
    session_ = std::move(*session);
    return true;
  }

  static int OnWake(socket_t fd, int revents, void* userdata) {
    char buf[64];
    while (read(fd, buf, sizeof buf) > 0) {
    }
    return 0;
  }
  void Wake() {
    if (wake_[1] >= 0) {
      char c = 1;
      (void)!write(wake_[1], &c, 1);
    }
  }

  static void Complete(StreamRequest& req, int fd, const std::string& error) {
    std::lock_guard<std::mutex> lock(req.mu);
    if (req.abandoned) {
      if (fd >= 0) close(fd);
      fd = -1;
    }
    req.fd = fd;
    req.error = error;
    req.done = true;
    req.cv.notify_all();
  }

  // The link's thread: opens requested channels, pumps every stream, and
  // ends when the hop goes away, the pool shuts down, or it was idle long
  // enough.
  void Run() {
    ssh_session s = session_.get();
    std::string end;
    while (true) {
      int64_t now = SteadyMs();
      std::deque<std::shared_ptr<StreamRequest>> fresh;
      bool stopping;
      {
        std::lock_guard<std::mutex> lock(mu_);
        fresh.swap(queue_);
        stopping = stopping_;
      }
      if (stopping) {
        end = "gateway shutting down";
        for (auto& r : fresh) Complete(*r, -1, "the gateway is shutting down");
        break;
      }
      for (auto& r : fresh) {
        r->channel = ssh_channel_new(s);
        if (r->channel == nullptr) {
          Complete(*r, -1, "cannot create a channel: " + SessionError(s));
          continue;
        }
        opening_.push_back(r);
      }
      // Channel opens are non-blocking: each call moves the open on or
      // reports its outcome.
      for (size_t i = 0; i < opening_.size();) {
        StreamRequest& r = *opening_[i];
        int rc = ssh_channel_open_forward(r.channel, r.host.c_str(), r.port, r.originator.c_str(),
                                          r.originator_port);
        if (rc == SSH_AGAIN) {
          ++i;
          continue;
        }
        if (rc == SSH_OK) {
          int sp[2];
          if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sp) != 0) {
            ssh_channel_close(r.channel);
            ssh_channel_free(r.channel);
            Complete(r, -1, "cannot create a socket pair");
          } else {
            relays_.push_back(std::make_unique<TcpRelay>(fds_.get(), r.channel, sp[0], now));
            Complete(r, sp[1], "");
          }
        } else {
          std::string why = SessionError(s);
          ssh_channel_free(r.channel);
          Complete(r, -1,
                   "it refused to open a channel to " + JoinHostPort(r.host, r.port) + ": " + why);
        }
        r.channel = nullptr;
        opening_.erase(opening_.begin() + static_cast<long>(i));
      }
      for (auto& relay : relays_) relay->Sync(now);
      for (size_t i = 0; i < relays_.size();) {
        if (relays_[i]->finished()) {
          relays_.erase(relays_.begin() + static_cast<long>(i));
        } else {
          ++i;
        }
      }
      {
        std::lock_guard<std::mutex> lock(mu_);
        int streams = static_cast<int>(relays_.size() + opening_.size());
        if (streams > 0) idle_since_ms_ = now;
        streams_ = streams;
      }
      if (relays_.empty() && opening_.empty() && pool_->RetireIfIdle(this)) {
        end = "idle";
        break;
      }
      int64_t timeout = opening_.empty() ? std::min<int64_t>(idle_close_ms_ + 10, 60'000) : 1000;
      // Nested polls above may have seen the hop go: do not sleep on it.
      if ((ssh_get_status(s) & (SSH_CLOSED | SSH_CLOSED_ERROR)) || !ssh_is_connected(s)) {
        end = "the hop closed the connection";
        break;
      }
      ssh_event_dopoll(event_.get(), static_cast<int>(timeout));
      if ((ssh_get_status(s) & (SSH_CLOSED | SSH_CLOSED_ERROR)) || !ssh_is_connected(s)) {
        end = "the hop closed the connection";
        break;
      }
    }
    // Ending: refuse what waits, abort every stream, then leave the pool.
    pool_->Remove(this);
    std::deque<std::shared_ptr<StreamRequest>> rest;
    {
      std::lock_guard<std::mutex> lock(mu_);
      state_ = State::kClosed;
      rest.swap(queue_);
    }
    for (auto& r : rest) Complete(*r, -1, "the connection to it closed");
    for (auto& r : opening_) {
      if (r->channel) ssh_channel_free(r->channel);
      r->channel = nullptr;
      Complete(*r, -1, "the connection to it closed");
    }
    opening_.clear();
    for (auto& relay : relays_) relay->Abort(end);
    relays_.clear();
    spdlog::info("upstream {}: connection closed ({})", name_, end);
    ssh_event_remove_fd(event_.get(), wake_[0]);
    ssh_event_remove_session(event_.get(), s);
    ssh_disconnect(s);
    fds_.reset();
    event_.reset();
    session_.reset();
  }

  UpstreamPool* pool_;
  std::string key_;
  std::string name_;
  int64_t idle_close_ms_;
  SessionPtr session_;
  EventPtr event_;
  std::unique_ptr<EventFds> fds_;  // the relays' sockets in event_ (this thread's own loop)
  int wake_[2] = {-1, -1};

  std::mutex mu_;
  std::condition_variable cv_;
  State state_ = State::kConnecting;
  bool stopping_ = false;
  std::string fail_reason_, fail_message_;
  std::deque<std::shared_ptr<StreamRequest>> queue_;
  int streams_ = 0;
  int64_t idle_since_ms_ = 0;

  // The link's thread only.
  std::vector<std::shared_ptr<StreamRequest>> opening_;
  std::vector<std::unique_ptr<TcpRelay>> relays_;
};

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
  // Threads hold their own reference; wait (bounded) until they left the pool.
  for (int i = 0; i < 200 && LinkCount() > 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
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
  auto release = [&](const std::shared_ptr<Link>& l) {
    if (!l) return;
    std::lock_guard<std::mutex> lock(mu_);
    --l->reserved;
  };
  auto failed = [&](const std::shared_ptr<Link>& l) -> Result<RouteStream> {
    release(l);
    if (metrics_) metrics_->UpstreamConnectFailure(failure->reason);
    return Error{failure->message};
  };

  for (size_t i = 0; i < req.hops.size(); ++i) {
    const Hop& hop = req.hops[i];
    key += (i ? ">" : "") + hop.name + "@" + JoinHostPort(hop.address.host, hop.address.port) +
           "[" + (hop.identity_text.empty() ? "cert:" + req.user : "identity") + "]";
    std::shared_ptr<Link> link;
    bool create = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (shut_down_) {
        failure->hop = hop.name;
        failure->reason = "other";
        failure->message = "the gateway is shutting down";
        if (prev) --prev->reserved;
        return Error{failure->message};
      }
      for (auto& l : links_[key]) {
        if (l->Usable(options_.max_channels)) {
          link = l;
          break;
        }
      }
      if (!link) {
        link = std::make_shared<Link>(this, key, hop.name, options_.idle_close_ms);
        links_[key].push_back(link);
        create = true;
      }
      ++link->reserved;
    }
    if (create) {
      int64_t started = SteadyMs();
      int fd = -1;
      if (i == 0) {
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
        } else {
          fd = dialed->fd;
          if (metrics_) metrics_->UpstreamConnect(static_cast<double>(dialed->elapsed_ms) / 1000.0);
        }
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
      release(prev);
      prev.reset();
      bool ok = false;
      if (fd >= 0) {
        ok = link->Establish(fd, hop, req, options_.user_ca, timeout, failure);
      } else {
        link->MarkFailed(*failure);  // waiters see the failure too
      }
      if (!ok) {
        Remove(link.get());
        return failed(link);
      }
      if (metrics_) {
        metrics_->UpstreamHopConnect(static_cast<int>(i) + 1,
                                     static_cast<double>(SteadyMs() - started) / 1000.0);
      }
      spdlog::info("upstream {}: connected as {} (hop {} of {})", hop.name, hop.login, i + 1,
                   req.hops.size());
    } else {
      release(prev);
      prev.reset();
      if (!link->WaitReady(timeout * static_cast<int64_t>(req.hops.size()), failure)) {
        return failed(link);
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
    return failed(prev);
  }
  release(prev);
  out.fd = *stream;
  return out;
}

}  // namespace hopgate::proxy
