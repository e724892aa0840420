#include "proxy/upstream/ssh_login.h"

#include <unistd.h>

#include <algorithm>

#include "certs/key.h"
#include "common/encoding.h"

namespace hopgate::proxy {
namespace {

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

// Sets `*reason` (a metric reason) and returns the error `message`.
Error Fail(std::string* reason, const char* r, const std::string& message) {
  *reason = r;
  return Error{message};
}

// Client options: SSH over `fd`, no ssh_config files, the hop's known_hosts,
// host key and cipher preferences, no compression. False if libssh refused
// one.
bool SetClientOptions(ssh_session s, int fd, const SshLogin& hop, int64_t timeout_ms) {
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
  return opts_ok;
}

// The hop's host key: pinned, or in its known_hosts file. Never trusted on
// first use.
Status CheckHostKey(ssh_session s, const SshLogin& hop, std::string* reason) {
  ssh_key raw = nullptr;
  if (ssh_get_server_publickey(s, &raw) != SSH_OK || raw == nullptr) {
    return Fail(reason, "host_key", "no host key received");
  }
  KeyPtr server_key(raw);
  auto blob = KeyBlob(server_key.get());
  if (!blob) return Fail(reason, "host_key", "cannot read its host key: " + blob.message());
  std::string presented = Sha256Fingerprint(*blob);
  if (!hop.host_key_blob.empty()) {
    if (*blob != hop.host_key_blob) {
      return Fail(reason, "host_key",
                  "host key mismatch: it presented " + KeyTypeName(server_key.get()) + " " +
                      presented + ", the policy pins " + Sha256Fingerprint(hop.host_key_blob));
    }
    return Status::Ok();
  }
  switch (ssh_session_is_known_server(s)) {
    case SSH_KNOWN_HOSTS_OK:
      return Status::Ok();
    case SSH_KNOWN_HOSTS_CHANGED:
      return Fail(reason, "host_key", "host key changed: it presented " + presented +
                                          ", which does not match " + hop.known_hosts_path);
    case SSH_KNOWN_HOSTS_OTHER:
      return Fail(reason, "host_key", "it presented a key of another type than " +
                                          hop.known_hosts_path + " lists (" + presented + ")");
    default:
      return Fail(reason, "host_key",
                  "host key " + presented + " is not in " + hop.known_hosts_path);
  }
}

// Logs in with the hop's static identity (an OpenSSH private key).
Status LoginWithIdentity(ssh_session s, const SshLogin& hop, std::string* reason) {
  ssh_key priv = nullptr;
  if (ssh_pki_import_privkey_base64(hop.identity_text.c_str(), nullptr, nullptr, nullptr,
                                    &priv) != SSH_OK) {
    return Fail(reason, "auth", "cannot load its identity key");
  }
  KeyPtr key(priv);
  if (ssh_userauth_publickey(s, nullptr, key.get()) != SSH_AUTH_SUCCESS) {
    return Fail(reason, "auth", "login as " + hop.login + " with its identity key was refused");
  }
  return Status::Ok();
}

// Logs in with a fresh Ed25519 key and a short-lived certificate for it,
// minted by the signer process for hop.login.
Status LoginWithMintedCertificate(ssh_session s, const SshLogin& hop, signer::Signer& signer,
                                  std::string* reason) {
  ssh_key priv = nullptr;
  if (ssh_pki_generate(SSH_KEYTYPE_ED25519, 0, &priv) != SSH_OK) {
    return Fail(reason, "auth", "cannot generate a key");
  }
  KeyPtr key(priv);
  ssh_key pub = nullptr;
  if (ssh_pki_export_privkey_to_pubkey(key.get(), &pub) != SSH_OK) {
    return Fail(reason, "auth", "cannot derive the public key");
  }
  KeyPtr pubkey(pub);
  auto pub_blob = KeyBlob(pubkey.get());
  if (!pub_blob) return Fail(reason, "auth", "cannot encode the public key");
  signer::MintRequest mint;
  mint.session_id = hop.mint_session;
  mint.user = hop.mint_user;
  mint.target_kind = hop.mint_kind;
  mint.target = hop.mint_target;
  mint.port = hop.mint_port;
  mint.public_key = *pub_blob;
  mint.principals = {hop.login};
  mint.validity_seconds = static_cast<uint64_t>(std::max<int64_t>(60, hop.valid_seconds));
  mint.extensions = hop.extensions;
  mint.force_command = hop.force_command;
  auto cert = signer.MintUserCertificate(mint);
  if (!cert) return Fail(reason, "other", "no certificate to log in with: " + cert.message());
  ssh_key cert_key = nullptr;
  std::string b64 = Base64Encode(*cert);
  if (ssh_pki_import_cert_base64(b64.c_str(), SSH_KEYTYPE_ED25519_CERT01, &cert_key) != SSH_OK) {
    return Fail(reason, "auth", "libssh cannot load the minted certificate");
  }
  KeyPtr certk(cert_key);
  if (ssh_pki_copy_cert_to_privkey(certk.get(), key.get()) != SSH_OK) {
    return Fail(reason, "auth", "libssh cannot attach the minted certificate");
  }
  if (ssh_userauth_try_publickey(s, nullptr, certk.get()) != SSH_AUTH_SUCCESS ||
      ssh_userauth_publickey(s, nullptr, key.get()) != SSH_AUTH_SUCCESS) {
    return Fail(reason, "auth", "login as " + hop.login + " with a certificate minted by " +
                                    "upstream.user_ca_key was refused");
  }
  return Status::Ok();
}

}  // namespace

Result<SessionPtr> ConnectSsh(int fd, const SshLogin& hop, signer::Signer* signer,
                              int64_t timeout_ms, std::string* reason) {
  SessionPtr session(ssh_new());
  if (!session) {
    close(fd);  // not handed to libssh yet, and the caller gave it up
    return Fail(reason, "other", "cannot create an SSH session");
  }
  ssh_session s = session.get();
  if (!SetClientOptions(s, fd, hop, timeout_ms)) {
    return Fail(reason, "other", "cannot set SSH options: " + SessionError(s));
  }
  if (ssh_connect(s) != SSH_OK) {
    return Fail(reason, "other", "SSH connection failed: " + SessionError(s));
  }
  if (Status st = CheckHostKey(s, hop, reason); !st) return st.error();

  // Log in: a static identity, or a certificate minted for this user.
  Status login = Status::Ok();
  if (!hop.identity_text.empty()) {
    login = LoginWithIdentity(s, hop, reason);
  } else if (!signer) {
    login = Fail(reason, "auth", "no identity and no upstream.user_ca_key to mint a certificate");
  } else {
    login = LoginWithMintedCertificate(s, hop, *signer, reason);
  }
  if (!login) return login.error();
  return session;
}

}  // namespace hopgate::proxy
