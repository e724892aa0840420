// The access policy: users and their keys, groups, named hosts and ordered
// rules, parsed from the administrators' YAML. A Policy is immutable once
// built and shared by pointer, so a reload swaps it atomically while
// in-flight decisions keep the old one. Pure: files referenced by the policy
// are read through the FileReader the caller passes in.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/net.h"
#include "common/result.h"
#include "common/yaml_util.h"
#include "policy/authorized_keys.h"
#include "policy/patterns.h"

namespace hopgate::policy {

enum class Effect { kAllow, kDeny };
// sshd's AllowTcpForwarding: local = direct-tcpip (-J, -W, -L, -D), remote =
// tcpip-forward (-R).
enum class TcpForwarding { kNo, kLocal, kRemote, kYes };
const char* TcpForwardingName(TcpForwarding f);
inline bool AllowsLocal(TcpForwarding f) {
  return f == TcpForwarding::kLocal || f == TcpForwarding::kYes;
}
inline bool AllowsRemote(TcpForwarding f) {
  return f == TcpForwarding::kRemote || f == TcpForwarding::kYes;
}

struct User {
  std::string name;
  std::vector<AuthorizedKey> keys;   // from `keys:` and `authorized_keys:`
  std::string authorized_keys_path;  // resolved path, empty when not given
  SourceLocation location;
};

struct Host {
  std::string name;
  std::vector<std::string> aliases;
  HostPort address;  // where the gateway dials; its port is the SSH port. The
                     // host is canonical (common/host.h): an address or a
                     // lower-case name.
  std::optional<IpAddress> ip;  // address.host when it is an IP address
  SourceLocation location;

  // How the gateway itself logs in to this host over SSH (as a jump host in
  // a route; later also for recorded sessions).
  std::string login;
  std::string identity_path;  // private key file, resolved; empty: minted certificate
  std::string identity_text;  // its content (an OpenSSH private key), read with the policy
  std::string host_key_blob;  // pinned host key, wire blob; empty when not pinned
  std::string host_key_text;  // as written, for messages
  std::string known_hosts_path;  // OpenSSH known_hosts file, resolved; may be empty
  // The jump hosts as written under `via:`, and the resolved route: every
  // hop from the gateway's side to this host, in order (the route of the
  // first `via` entry, then the `via` list). Empty: dialled directly.
  std::vector<std::string> via;
  SourceLocation via_location;
  std::vector<std::string> route;

  // Sessions to this host's SSH port are terminated and recorded.
  bool record = false;

  bool HasPinnedKey() const { return !host_key_blob.empty(); }
};

struct Rule {
  std::string name;
  SourceLocation location;
  Effect effect = Effect::kAllow;
  // Conditions; every one given must hold. users and groups together form one
  // condition ("who"): the user is listed, or is a member of a listed group.
  std::vector<std::string> users;
  std::vector<std::string> groups;
  std::vector<std::string> principals;  // any certificate principal listed
  std::vector<Cidr> from;               // client source address
  // Deny rules only: limit the deny to these direct-tcpip destinations.
  std::vector<OpenPattern> destinations;
  // Allow rules only: what the rule grants.
  TcpForwarding tcp_forwarding = TcpForwarding::kLocal;
  std::vector<OpenPattern> permit_open;
  std::vector<ListenPattern> permit_listen;
  std::optional<std::string> force_command;
  bool pty = true;
  bool agent_forwarding = false;
  bool x11_forwarding = false;
  std::optional<int64_t> max_session;   // seconds
  std::optional<int64_t> idle_timeout;  // seconds
  // Recorded sessions: terminate and record SSH to the destination's SSH
  // port; the logins allowed on the target (empty: the gateway user name);
  // keystrokes in the recording.
  bool record = false;
  std::vector<std::string> logins;
  bool record_input = false;
  bool pty_set = false;  // `pty:` was written (pty: false implies recording)

  // Grants that only a terminated session can enforce: they make SSH to the
  // SSH port a recorded session even without `record: true`.
  std::string TerminationReason() const {
    if (record) return "record: true";
    if (force_command) return "force_command";
    if (!logins.empty()) return "logins";
    if (pty_set && !pty) return "pty: false";
    if (agent_forwarding) return "agent_forwarding";
    if (x11_forwarding) return "x11_forwarding";
    if (record_input) return "record_input";
    return "";
  }

  bool HasWho() const { return !users.empty() || !groups.empty(); }
};

struct Policy {
  std::string file;
  std::string version;  // "sha256:<16 hex>" of the policy and the files it names
  std::map<std::string, User> users;
  std::map<std::string, std::vector<std::string>> groups;
  std::map<std::string, Host> hosts;
  std::vector<Rule> rules;

  // The listed key of `user` whose wire blob is `blob`, or nullptr.
  const AuthorizedKey* FindKey(std::string_view user, std::string_view blob) const;
  // Groups that list `user`, in name order.
  std::vector<std::string> GroupsOf(std::string_view user) const;
  // The host entry named `name` (canonical, or any case with a trailing
  // dot) by its name or an alias, or nullptr. Never by address: see
  // decide.h for how a destination's address finds its entries.
  const Host* FindHost(std::string_view name) const;
  // The DNS names the decisions compare addresses against: the address names
  // of hosts: entries the gateway dials itself, and the literal (wildcard-
  // free) names in rules and authorized_keys permitopen. The daemon resolves
  // them and keeps the answers fresh (Request::names).
  std::vector<std::string> NamesToResolve() const;
};

using FileReader = std::function<Result<std::string>(const std::string& path)>;

struct LoadResult {
  std::shared_ptr<const Policy> policy;  // null when there are errors
  Diagnostics diagnostics;               // errors and warnings, file:line:col
  bool unreadable = false;               // the file itself could not be read
};

struct PolicyOptions {
  int min_rsa_bits = kDefaultMinRsaBits;  // authentication.min_rsa_bits
};

// Parses and checks a policy. `file` names it in diagnostics; relative
// authorized_keys paths are resolved against its directory.
LoadResult ParsePolicy(std::string_view text, const std::string& file,
                       const FileReader& read_file, const PolicyOptions& options = {});

}  // namespace hopgate::policy
