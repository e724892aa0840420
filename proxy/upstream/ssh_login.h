// The gateway's own SSH login to a server (a jump host of a route, or the
// target of a recorded session): key exchange over a given socket, the host
// key check (pinned or known_hosts; never trust on first use) and the login
// (an identity file, or a certificate minted for this session). Blocking.
// Thread-compatible: the session belongs to the calling thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/net.h"
#include "common/result.h"
#include "proxy/signer/signer.h"
#include "proxy/ssh/ssh_util.h"

namespace hopgate::proxy {

// How the gateway logs in to one SSH server: a jump host, or the target of
// a recorded session.
struct SshLogin {
  std::string name;  // the hosts: name, for messages
  HostPort address;  // HOST and PORT for libssh (known_hosts lookups)
  std::string login;
  std::string identity_text;  // OpenSSH private key; empty: a minted certificate
  std::string host_key_blob;  // pinned; else known_hosts_path
  std::string known_hosts_path;
  // The minted certificate, when there is no identity (principal = login),
  // asked of the signer process for (user, session) on (target kind,
  // target, port); the signer names it key_id (hopgate:<user>:<session>).
  std::string key_id;
  std::string mint_user;
  std::string mint_session;
  uint8_t mint_kind = 1;  // policy::MintTarget: 1 hop, 2 recorded target
  std::string mint_target;
  uint16_t mint_port = 22;
  std::vector<std::string> extensions = {"permit-port-forwarding"};
  std::optional<std::string> force_command;
  int64_t valid_seconds = 300;
};

// Runs SSH over `fd` (taken: libssh closes it): key exchange, the host key
// check (pinned key or known_hosts; never trust on first use) and the login.
// Blocking, at most about `timeout_ms` per step. On failure `*reason` is a
// metric reason (host_key, auth, other) and the error says what
// happened. `signer` mints certificates; null when upstream.user_ca_key is
// not configured.
Result<SessionPtr> ConnectSsh(int fd, const SshLogin& login, signer::Signer* signer,
                              int64_t timeout_ms, std::string* reason);

}  // namespace hopgate::proxy
