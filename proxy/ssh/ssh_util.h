// Thin RAII and helper layer over libssh 0.10, so the rest of proxy/ never
// frees libssh objects by hand. Objects belong to one thread at a time, as
// libssh requires.
#pragma once

#include <libssh/libssh.h>
#include <libssh/server.h>

#include <memory>
#include <string>

#include "common/result.h"

namespace hopgate::proxy {

// Accepted key types: every certificate type and plain type OpenSSH offers,
// without SHA-1 "ssh-rsa" signatures. The plain names must be listed too:
// libssh checks the signature algorithm, not the certificate type.
inline constexpr const char* kAcceptedKeyTypes =
    "ssh-ed25519-cert-v01@openssh.com,"
    "ecdsa-sha2-nistp256-cert-v01@openssh.com,"
    "ecdsa-sha2-nistp384-cert-v01@openssh.com,"
    "ecdsa-sha2-nistp521-cert-v01@openssh.com,"
    "rsa-sha2-512-cert-v01@openssh.com,"
    "rsa-sha2-256-cert-v01@openssh.com,"
    "ssh-ed25519,"
    "ecdsa-sha2-nistp256,ecdsa-sha2-nistp384,ecdsa-sha2-nistp521,"
    "rsa-sha2-512,rsa-sha2-256";

struct SessionDeleter {
  void operator()(ssh_session s) const { ssh_free(s); }
};
struct KeyDeleter {
  void operator()(ssh_key k) const { ssh_key_free(k); }
};
struct EventDeleter {
  void operator()(ssh_event e) const { ssh_event_free(e); }
};
struct BindDeleter {
  void operator()(ssh_bind b) const { ssh_bind_free(b); }
};

using SessionPtr = std::unique_ptr<ssh_session_struct, SessionDeleter>;
using KeyPtr = std::unique_ptr<ssh_key_struct, KeyDeleter>;
using EventPtr = std::unique_ptr<ssh_event_struct, EventDeleter>;
using BindPtr = std::unique_ptr<ssh_bind_struct, BindDeleter>;

// The key's wire blob. For a certificate key this is the whole certificate
// (what libssh hands the auth callback).
Result<std::string> KeyBlob(ssh_key key);
// The key's type name as it appears on the wire, e.g. "ssh-ed25519" or
// "ssh-ed25519-cert-v01@openssh.com".
std::string KeyTypeName(ssh_key key);
// A private key from the text of its file (OpenSSH or PEM format,
// unencrypted). Importing the same text again makes an independent copy
// (libssh 0.10 has no key copy, and cannot export every key it imports).
Result<KeyPtr> ImportPrivateKey(const std::string& text);
// The last libssh error of a session, never empty.
std::string SessionError(ssh_session s);
// No compression either way. A bastion relays what is mostly encrypted
// already, and a zlib stream costs about 256 KiB of memory per connection
// and CPU per byte; clients that prefer it (asyncssh) get none.
void DisableCompression(ssh_session s);

}  // namespace hopgate::proxy
