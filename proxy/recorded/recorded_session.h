// Recorded sessions: for targets the policy says to record, the gateway
// terminates the inner SSH session that `ssh -J` runs over the client's
// direct-tcpip channel. It answers as the target with the interception host
// key, checks that the inner login uses the same key as the outer one and an
// allowed login name, logs in to the target itself (a certificate minted for
// this session, or the host's identity), relays session channels request by
// request, enforces forced commands and session grants, and writes an
// asciicast v2 recording per session channel plus audit events (SFTP file
// operations included).
//
// Each recorded session runs on its own thread with its own ssh_event holding
// both the inner server session and the upstream client session. It ends when
// the client or the target goes away, at a session limit, when its recording
// fails (fail closed), or when the gateway stops.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "policy/decide.h"
#include "policy/policy.h"
#include "proxy/gateway/gateway.h"

namespace hopgate::proxy {

struct RecordedSessionSpec {
  std::string connection_id;
  uint32_t outer_channel = 0;
  std::string session_id;       // "<connection id>-<channel>"
  std::string user;             // the gateway user
  std::string client_addr;
  uint16_t client_port = 0;
  std::string key_blob;         // the outer login's (certified) public key blob
  std::string key_type;
  std::string fingerprint;
  std::string certificate_key_id;  // when the outer login used a certificate
  std::shared_ptr<const policy::Policy> policy;
  policy::Identity identity;    // for decisions on forwarding inside the session
  policy::Decision decision;    // the direct-tcpip decision that terminated it
  std::string target;           // what the client asked for, "db1:22"
  // The request as decided, to decide it again under a reloaded policy
  // (with the same addresses: nothing is looked up twice).
  std::string request_host;
  uint16_t request_port = 0;
  policy::AddressMap dns;
};

// Starts the recorded session on a thread of its own, speaking SSH to the
// client over `fd` (one end of a socketpair whose other end carries the
// client's channel). Takes `fd`. Returns at once.
void StartRecordedSession(Gateway* gw, RecordedSessionSpec spec, int fd);

// Free space under `dir` (or its nearest existing parent), in bytes; -1 if
// it cannot be determined.
int64_t FreeBytesUnder(const std::string& dir);

}  // namespace hopgate::proxy
