// One client connection, from key exchange to disconnect: public-key
// authentication against the policy, the decision for every request
// (direct-tcpip, tcpip-forward, session), the relays for allowed channels,
// the gateway's own information session, limits and audit events.
//
// Driven by one Worker (proxy/worker.h), which calls Step() whenever one of
// its descriptors is ready or its timer is due; Step() never blocks. Work
// that waits (name lookups, routes through jump hosts) runs elsewhere and
// comes back as a task posted to the worker; TCP connects are non-blocking
// and watched like any other descriptor. Meanwhile the client's request
// waits, unanswered (proxy/deferred_open.h), and every other channel moves.
// Only Wake() and RequestRevocationCheck() may be called from other threads.
//
// libssh runs callbacks nested inside its own calls, including calls made
// from Step() (a channel write may process incoming packets). So callbacks
// only ever append to the `incoming_` lists or mark objects; objects are
// created into the main lists, registered with the event, and destroyed only
// between polls.
#pragma once

#include <libssh/callbacks.h>
#include <libssh/libssh.h>
#include <libssh/server.h>

#include <atomic>
#include <functional>
#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "audit/events.h"
#include "certs/certificate.h"
#include "certs/key.h"
#include "policy/decide.h"
#include "proxy/net/decide_open.h"
#include "proxy/net/dialer.h"
#include "proxy/gateway/gateway.h"
#include "proxy/ssh/alive.h"
#include "proxy/ssh/relay.h"
#include "proxy/ssh/ssh_util.h"
#include "proxy/upstream/upstream.h"
#include "proxy/runtime/worker.h"

namespace hopgate::proxy {

struct ClientEndpoint {
  std::string address;  // "127.0.0.1" or "::1" (IPv4-mapped addresses unmapped)
  uint16_t port = 0;
  std::string local;    // "127.0.0.1:2222", where it connected to
  // Behind a load balancer: its address:port ("10.0.0.2:40122"); address and
  // port above are then the client's, from the balancer's PROXY header.
  std::string via_proxy;
  // The balancer's own connection (a v2 LOCAL or v1 UNKNOWN header, as its
  // health checks send): address is the balancer's, and it is never
  // penalised, so failed checks cannot lock every client behind it out.
  bool proxy_local = false;
};

class Connection : public Driven, public LiveConnection {
 public:
  Connection(Gateway* gw, Worker* worker, SessionPtr session, ClientEndpoint client,
             std::string id, int64_t accepted_ms);
  ~Connection() override;
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // The start-up slot taken for it at accept; given back once it
  // authenticates or ends.
  void HoldStartupSlot(Startups::Slot slot) { startup_slot_ = std::move(slot); }

  // Worker thread: does what is ready. False once the connection has ended.
  bool Step(int64_t now_ms) override;
  // Steps the connection soon, so it re-checks the stop flag (any thread).
  void Wake() override;
  // Asks the connection to re-check its credential against the revocation
  // list now in force, and to end itself if it is covered (any thread).
  void RequestRevocationCheck() override {
    revocation_check_.store(true);
    Wake();
  }
  const std::string& id() const { return id_; }

 private:
  // Owns a libssh channel. Every list of channels is a member declared after
  // session_, so channels are freed before their session.
  struct ChannelDeleter {
    void operator()(ssh_channel c) const { ssh_channel_free(c); }
  };
  using ChannelPtr = std::unique_ptr<ssh_channel_struct, ChannelDeleter>;

  struct Channel;        // a relayed channel and what its audit events need
  struct InfoSession;    // a session channel on the gateway itself
  struct RemoteForward;  // a -R listener on the gateway
  struct PendingOpen;    // a forwarded-tcpip channel waiting for the client
  struct PendingDirect;  // a direct-tcpip waiting for a lookup, a route or a connect

  // libssh callbacks (run nested inside ssh_event_dopoll and other calls).
  static int OnAuthPubkey(ssh_session s, const char* user, ssh_key_struct* key,
                          char signature_state, void* userdata);
  static int OnAuthPassword(ssh_session s, const char* user, const char* password,
                            void* userdata);
  static int OnAuthNone(ssh_session s, const char* user, void* userdata);
  static ssh_channel OnSessionOpen(ssh_session s, void* userdata);
  static int OnMessage(ssh_session s, ssh_message msg, void* userdata);
  static int OnDialReady(socket_t fd, int revents, void* userdata);
  static int OnListener(socket_t fd, int revents, void* userdata);

  // Authentication (connection.cc).
  struct AuthAttempt {
    std::string user;
    std::string method;  // "publickey", "certificate", "password"
    std::string key_type;
    std::string fingerprint;
    std::optional<audit::CertificateInfo> certificate;
  };
  int AuthPubkey(const std::string& user, ssh_key key, char state);
  // limits.max_auth_tries reached: ends the connection; nothing more is
  // evaluated.
  bool AuthTriesExhausted();
  int AuthCertificate(AuthAttempt& a, const std::string& blob, char state);
  int AuthPlainKey(AuthAttempt& a, const std::string& blob, char state);
  int AuthSucceeded(const AuthAttempt& a);
  // Records a refusal (audit once per distinct attempt, metrics always) and
  // returns SSH_AUTH_DENIED. `code` is a metrics reason (Metrics::kAuthReasons).
  audit::Auth AuthEvent(const AuthAttempt& a, bool success) const;
  int RefuseAuth(const AuthAttempt& a, const std::string& reason, const char* code);
  void CheckRevocation();
  // What a lock (hopctl lock) can name about attempt `a`.
  audit::fleet::LockSubject LockSubjectOf(const AuthAttempt& a) const;
  // "user \"alice\" locked by the fleet (lock 7: left)", for logs and audit.
  std::string LockedText(const audit::fleet::LockMatch& m) const;
  // A lock (hopctl lock) covers this connection: audits lock_applied, tells
  // the user's terminals, and ends the connection. True if it did.
  bool CheckFleetLock();
  // hopctl terminate asked for this connection: audits session_terminated,
  // tells the user's terminals and ends the connection. True if it did.
  bool CheckTermination();
  // Ends a terminated connection once its recorded sessions have (or after
  // a grace).
  void FinishTermination(int64_t now);
  policy::Identity CurrentIdentity() const;

  // Requests: direct-tcpip (connection_channels.cc, connection_direct.cc),
  // -R (connection_forward.cc), the information session (connection_info.cc).
  void HandleDirectTcpip(ssh_message msg);
  // Answers a direct-tcpip request at once, blocking this connection until
  // decided and connected (libssh's message layout unknown to DeferredOpen).
  void DirectTcpipNow(ssh_message msg, audit::ChannelOpen& e,
                      const std::shared_ptr<const policy::Policy>& policy, const std::string& host,
                      uint16_t port, const char* orig, int orig_port);
  // Refuses a direct-tcpip request answered at once: audit, log, reply.
  void RefuseDirectNow(ssh_message msg, const audit::ChannelOpen& e);
  // The deferred path: decide, resolve, route or connect without blocking.
  void StartDirect(std::unique_ptr<PendingDirect> p);
  void ContinueDirect(PendingDirect& p);
  // Looks `name` up on the resolver; the answer comes back through Resolved().
  void StartResolve(PendingDirect& p, const std::string& name);
  // Opens the decided route on the task pool; it comes back through Routed().
  void StartRoute(PendingDirect& p);
  void Resolved(uint64_t pending_id, std::vector<IpAddress> addresses, std::string error);
  static int64_t PendingDeadline(const PendingDirect& p);
  void Routed(uint64_t pending_id, int fd, std::string address, RouteFailure failure);
  void StartDial(PendingDirect& p);
  void ServePendingDirect(int64_t now);
  void FinishDirect(PendingDirect& p, int fd, const std::string& dial_address);
  void FailDirect(PendingDirect& p);
  // Runs `fn(this)` on this connection's worker if it still exists then.
  void PostBack(std::function<void(Connection*)> fn);
  // A dialed direct-tcpip destination (`fd`, taken): audits `e` (refusing
  // with `refuse` when the event cannot be written), accepts the client's
  // channel with `accept` and relays it.
  void RelayDialed(const audit::ChannelOpen& e, int fd, const policy::Decision& d,
                   const std::function<ssh_channel()>& accept, const std::function<void()>& refuse);
  // Relays an accepted channel to `fd` (taken), from the top of the loop on.
  void AdoptRelay(const audit::ChannelOpen& e, ssh_channel channel, int fd);
  // A recorded target: accepts the client's channel (with `accept`, or
  // refuses it with `refuse`) and starts the recorded session on it.
  void StartRecorded(const DecidedOpen& o, const std::string& request_host,
                     uint16_t request_port, const std::shared_ptr<const policy::Policy>& policy,
                     audit::ChannelOpen* e, const std::function<ssh_channel()>& accept,
                     const std::function<void()>& refuse);
  std::optional<Dialed> DialDirect(const policy::Decision& d, audit::ChannelOpen* e);
  std::optional<Dialed> DialRoute(const policy::Policy& policy, const policy::Decision& d,
                                  const char* orig, int orig_port, audit::ChannelOpen* e);
  void HandleTcpipForward(ssh_message msg);
  void HandleCancelForward(ssh_message msg);
  void AcceptForwarded(RemoteForward& fwd);
  // A connection accepted on `fwd` under a reloaded policy: decided again.
  // False (with `fd` closed and the listener cancelled) when no longer allowed.
  bool RecheckForward(RemoteForward& fwd, int fd, const std::string& peer, uint16_t peer_port);
  // Audits the accepted connection `fd` (taken) and opens its forwarded-tcpip
  // channel to the client, confirmed at the top of the loop (PendingOpen).
  // A forwarded-tcpip channel's open event (a new channel id).
  audit::ChannelOpen ForwardedEvent(const RemoteForward& fwd, const std::string& peer,
                                    uint16_t peer_port, const std::string& version);
  void OpenForwarded(RemoteForward& fwd, int fd, const std::string& peer, uint16_t peer_port);
  void NoteLimits(const policy::Decision& d);
  // limits.max_channels_per_connection: open channels of every kind.
  bool ChannelSlotFree() const;
  // Refuses `e` for the cap; audited at most once a second per connection,
  // with the count of refusals since the last one.
  void RefuseOverCap(audit::ChannelOpen& e);
  Status AuditChannelOpen(const audit::ChannelOpen& e);  // audit + metrics
  // Audit floods: true if a refusal of `kind` ("channel_refused",
  // "auth_failure") is written one by one; else it is counted into an
  // audit_suppressed summary, per connection and per source (audit_throttle.h).
  bool AdmitRefusal(const std::string& kind, const std::string& reason);
  // Writes the summaries of this connection's flood windows that ended (of
  // all of them when `all`: at its close).
  void FlushRefusalSummaries(bool all);
  std::string InfoText(bool pty) const;

  // Key exchange and the work between polls (connection.cc).
  enum class Phase { kStart, kKex, kOpen };
  // An unauthenticated connection ends: its source earns a penalty.
  void PenalizeSource();
  void Begin(int64_t now);
  void StepKex(int64_t now);
  void BetweenPolls(int64_t now);
  int64_t NextDeadline(int64_t now) const;
  bool HasIncoming() const;
  bool HasRecordedChannels() const;
  // Sets end_reason_ when the client is gone; true when the loop must end.
  bool NoteDisconnect(ssh_session s);
  void AdoptIncoming();
  void ReapChannels(int64_t now);
  void ServeInfoSessions();
  void ServeForwards(int64_t now);
  void CheckLimits(int64_t now);
  void Teardown(const std::string& reason);
  void CloseChannel(Channel& ch);
  void CloseForward(RemoteForward& fwd, const std::string& reason);
  uint32_t NextChannelId() { return next_channel_++; }

  Gateway* gw_;
  Worker* worker_;
  SessionPtr session_;
  EventPtr event_;
  std::unique_ptr<EventFds> fds_;  // every fd of event_, mirrored to the worker
  ClientEndpoint client_;
  std::string id_;
  Phase phase_ = Phase::kStart;
  int64_t accepted_ms_;
  int64_t authenticated_ms_ = 0;
  ssh_server_callbacks_struct server_cb_{};

  // Authentication state.
  bool authenticated_ = false;
  Startups::Slot startup_slot_;  // held until authenticated
  bool user_slot_ = false;
  int auth_failures_ = 0;
  std::set<std::string> failures_logged_;
  std::string user_;
  std::string auth_method_;
  std::string key_type_;
  std::string fingerprint_;
  audit::fleet::LockSubject lock_subject_;  // what a lock can name (set at login)
  std::vector<std::string> principals_;              // certificate logins
  std::vector<policy::Restrictions> restrictions_;
  certs::PublicKey key_;                             // the (certified) key
  std::optional<certs::Certificate> cert_;
  std::atomic<bool> revocation_check_{false};

  // Channels, sessions and -R listeners, and their inboxes.
  std::vector<std::unique_ptr<Channel>> channels_, incoming_channels_;
  std::vector<std::unique_ptr<InfoSession>> info_sessions_, incoming_info_sessions_;
  std::vector<std::unique_ptr<RemoteForward>> forwards_, incoming_forwards_;
  std::vector<std::unique_ptr<PendingOpen>> pending_opens_, incoming_pending_opens_;
  std::vector<std::unique_ptr<PendingDirect>> pending_direct_, incoming_direct_;
  uint64_t next_pending_id_ = 1;
  uint32_t next_channel_ = 0;
  uint64_t channels_total_ = 0;
  int64_t cap_audit_ms_ = -1'000'000;  // last over-cap refusal written
  uint64_t cap_suppressed_ = 0;         // over-cap refusals not written since
  std::string cap_last_kind_;           // the kind of the last one
  RefusalWindow refusals_;              // refusals written / counted on this connection
  bool refusals_noted_ = false;         // the log said refusals are being counted
  bool refusal_written_ = true;         // the last refusal was written (so logged) one by one
  int64_t last_activity_ms_ = 0;
  std::optional<int64_t> max_session_;  // from the rules that decided requests
  std::string max_session_rule_;
  std::optional<int64_t> idle_timeout_;
  std::string idle_timeout_rule_;
  // limits.client_alive_*: probes a client that has gone silent.
  AliveCheck alive_;

  // hopctl terminate under way: the reason to end with, and by when.
  std::string terminate_reason_;
  int64_t terminate_deadline_ms_ = 0;
  std::string end_reason_;  // set when the loop must end
  // Why an unauthenticated connection was dropped, for the metrics.
  enum class Drop { kNone, kLoginGrace, kAuthTries, kHandshake } drop_ = Drop::kNone;
  int64_t stop_deadline_ms_ = 0;  // gateway stopping: recorded sessions end by then
  int64_t recorded_ended_ms_ = 0;  // when a recorded session's channel last ended
};

}  // namespace hopgate::proxy
