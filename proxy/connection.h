// One client connection, from key exchange to disconnect, on its own thread:
// public-key authentication against the policy, the decision for every
// channel request, the relays for allowed direct-tcpip channels, the
// gateway's own information session, limits and audit events.
// Owned and run by the thread the server starts for it; only Wake() may be
// called from other threads.
#pragma once

#include <libssh/callbacks.h>
#include <libssh/libssh.h>
#include <libssh/server.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "policy/decide.h"
#include "proxy/gateway.h"
#include "proxy/relay.h"
#include "proxy/ssh_util.h"

namespace hopgate::proxy {

struct ClientEndpoint {
  std::string address;  // "127.0.0.1" or "::1" (IPv4-mapped addresses unmapped)
  uint16_t port = 0;
  std::string local;    // "127.0.0.1:2222", where it connected to
};

class Connection {
 public:
  Connection(Gateway* gw, SessionPtr session, ClientEndpoint client, std::string id,
             int64_t accepted_ms);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Runs the connection to its end. Called once, on the connection's thread.
  void Run();
  // Wakes the connection's loop so it re-checks the stop flag (any thread).
  void Wake();
  const std::string& id() const { return id_; }

 private:
  struct Channel;  // a relayed direct-tcpip channel and what the audit needs
  struct InfoSession;

  // libssh callbacks (run nested inside ssh_event_dopoll).
  static int OnAuthPubkey(ssh_session s, const char* user, ssh_key_struct* key,
                          char signature_state, void* userdata);
  static int OnAuthPassword(ssh_session s, const char* user, const char* password,
                            void* userdata);
  static int OnAuthNone(ssh_session s, const char* user, void* userdata);
  static ssh_channel OnSessionOpen(ssh_session s, void* userdata);
  static int OnMessage(ssh_session s, ssh_message msg, void* userdata);
  static int OnWake(socket_t fd, int revents, void* userdata);

  int AuthPubkey(const std::string& user, ssh_key key, char state);
  void RecordAuthFailure(const std::string& user, const std::string& method,
                         const std::string& key_type, const std::string& fingerprint,
                         const std::string& reason);
  void HandleDirectTcpip(ssh_message msg);
  policy::Identity CurrentIdentity() const;

  bool KeyExchange();
  void Loop();
  void ReapChannels(int64_t now);
  void ServeInfoSessions();
  void CheckLimits(int64_t now);
  void Teardown(const std::string& reason);
  void CloseChannel(Channel& ch, const std::string& reason);
  std::string InfoText(bool pty) const;

  Gateway* gw_;
  SessionPtr session_;
  EventPtr event_;
  ClientEndpoint client_;
  std::string id_;
  int wake_fd_ = -1;
  int64_t accepted_ms_;
  int64_t authenticated_ms_ = 0;
  ssh_server_callbacks_struct server_cb_{};

  // Authentication state.
  bool authenticated_ = false;
  bool counted_unauthenticated_ = true;
  bool user_slot_ = false;
  int auth_failures_ = 0;
  std::set<std::string> failures_logged_;
  std::string user_;
  std::string key_type_;
  std::string fingerprint_;
  std::vector<policy::Restrictions> restrictions_;

  // Channels.
  std::vector<std::unique_ptr<Channel>> channels_;
  std::vector<std::unique_ptr<InfoSession>> info_sessions_;
  uint32_t next_channel_ = 0;
  uint64_t channels_total_ = 0;
  int64_t last_activity_ms_ = 0;
  std::optional<int64_t> max_session_;   // from the rules that decided channels
  std::string max_session_rule_;
  std::optional<int64_t> idle_timeout_;
  std::string idle_timeout_rule_;

  std::string end_reason_;  // set when the loop must end
};

}  // namespace hopgate::proxy
