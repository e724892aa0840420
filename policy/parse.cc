// YAML policy -> Policy, in one pass with every error at file:line:col.
// The rules: section is parsed in parse_rules.cc.
#include <algorithm>
#include <map>
#include <set>

#include "certs/private_key.h"
#include "common/encoding.h"
#include "common/host.h"
#include "common/strings.h"
#include "policy/lint.h"
#include "policy/parse_internal.h"
#include "policy/policy.h"

namespace hopgate::policy {

bool ValidName(std::string_view s) {
  if (s.empty() || s.size() > 64) return false;
  for (char c : s) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '-' || c == '_' || c == '@';
    if (!ok) return false;
  }
  return true;
}

namespace {

// hosts: names and aliases are what clients type after `ssh -J gate`: DNS-
// style names, never addresses (an address finds its entry by address).
std::optional<std::string> HostNameError(const std::string& name) {
  auto c = CanonicalHost::Parse(name);
  if (!c) return c.message();
  if (c->is_address()) return std::string("an address cannot be a host name (write it as address:)");
  if (c->name != ToLower(name)) return std::string("write it without the trailing dot");
  return std::nullopt;
}

std::string DirName(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

class Parser {
 public:
  Parser(const std::string& file, const FileReader& reader, const PolicyOptions& options,
         Diagnostics* diags)
      : file_(file), reader_(reader), options_(options), d_(diags) {}

  std::shared_ptr<Policy> Parse(std::string_view text) {
    auto root = ParseYaml(text, d_);
    if (!root) return nullptr;
    auto p = std::make_shared<Policy>();
    p->file = file_;
    hash_input_ = std::string(text);
    if (!CheckMap(*root, {"version", "users", "groups", "hosts", "rules"}, "the policy", d_)) {
      return nullptr;
    }
    const YAML::Node& root_node = *root;
    if (!root_node["version"]) {
      d_->Error(root_node, "missing \"version: 1\"");
    } else if (auto v = ReadInt(root_node["version"], "version", 1, 1, d_); !v) {
      // reported
    }
    if (auto n = root_node["users"]) ParseUsers(n, p.get());
    if (auto n = root_node["groups"]) ParseGroups(n, p.get());
    if (auto n = root_node["hosts"]) {
      ParseHosts(n, p.get());
      ResolveRoutes(p.get());
    }
    if (auto n = root_node["rules"]) {
      ParseRules(n, p.get(), d_);
    } else {
      d_->Warning(root_node, "no rules: every request will be denied");
    }
    p->version = "sha256:" + Sha256Hex(hash_input_).substr(0, 16);
    return p;
  }

 private:
  void ParseUsers(const YAML::Node& node, Policy* p) {
    if (!node.IsMap()) {
      d_->Error(node, "users must be a mapping of user name to keys");
      return;
    }
    CheckDuplicateKeys(node, "users", d_);
    for (const auto& kv : node) {
      std::string name = kv.first.Scalar();
      if (!ValidName(name)) {
        d_->Error(kv.first, "invalid user name " + Quote(name));
        continue;
      }
      User u;
      u.name = name;
      u.location = d_->Locate(kv.first);
      const YAML::Node& body = kv.second;
      if (!CheckMap(body, {"keys", "authorized_keys"}, "user " + Quote(name), d_)) continue;
      if (auto keys = body["keys"]) {
        if (!keys.IsSequence()) {
          d_->Error(keys, "keys must be a list of public key lines");
        } else {
          for (const auto& k : keys) {
            if (!k.IsScalar()) {
              d_->Error(k, "each key must be a string such as \"ssh-ed25519 AAAA... comment\"");
              continue;
            }
            SourceLocation loc = d_->Locate(k);
            auto key = ParseAuthorizedKeyLine(
                k.Scalar(), "key of user " + name + " at " + loc.ToString(), options_.min_rsa_bits);
            if (!key) {
              d_->Error(k, key.message());
              continue;
            }
            key->location = loc;
            u.keys.push_back(std::move(*key));
          }
        }
      }
      if (auto ak = body["authorized_keys"]) {
        if (auto path = ReadString(ak, "authorized_keys", d_)) {
          std::string resolved =
              !path->empty() && (*path)[0] == '/' ? *path : DirName(file_) + "/" + *path;
          u.authorized_keys_path = resolved;
          auto content = reader_(resolved);
          if (!content) {
            d_->Error(ak, "cannot read authorized_keys " + Quote(resolved) + ": " +
                              content.message());
          } else {
            hash_input_ += std::string(1, '\0') + resolved + std::string(1, '\0') + *content;
            Diagnostics file_diags(resolved);
            auto keys = ParseAuthorizedKeysFile(*content, &file_diags, options_.min_rsa_bits);
            d_->Append(file_diags);
            for (auto& k : keys) u.keys.push_back(std::move(k));
          }
        }
      }
      if (!body["keys"] && !body["authorized_keys"]) {
        d_->Warning(kv.first, "user " + Quote(name) +
                                  " has no keys: only certificate logins can authenticate");
      }
      p->users[name] = std::move(u);
    }
  }

  void ParseGroups(const YAML::Node& node, Policy* p) {
    if (!node.IsMap()) {
      d_->Error(node, "groups must be a mapping of group name to a list of users");
      return;
    }
    CheckDuplicateKeys(node, "groups", d_);
    for (const auto& kv : node) {
      std::string name = kv.first.Scalar();
      if (!ValidName(name)) {
        d_->Error(kv.first, "invalid group name " + Quote(name));
        continue;
      }
      auto members = ReadStringList(kv.second, "group " + Quote(name), d_);
      if (!members) continue;
      for (size_t i = 0; i < members->size(); ++i) {
        if (!ValidName((*members)[i])) {
          d_->Error(kv.second[i], "invalid user name " + Quote((*members)[i]));
        }
      }
      p->groups[name] = *members;
    }
  }

  void ParseHosts(const YAML::Node& node, Policy* p) {
    if (!node.IsMap()) {
      d_->Error(node, "hosts must be a mapping of host name to {address: host:port}");
      return;
    }
    CheckDuplicateKeys(node, "hosts", d_);
    std::map<std::string, SourceLocation> names;  // lower-cased name/alias -> where
    for (const auto& kv : node) {
      std::string name = kv.first.Scalar();
      if (auto why = HostNameError(name)) {
        d_->Error(kv.first, "invalid host name " + Quote(name) + ": " + *why);
        continue;
      }
      Host h;
      h.name = name;
      h.location = d_->Locate(kv.first);
      const YAML::Node& body = kv.second;
      if (!CheckMap(body,
                    {"address", "aliases", "login", "identity", "host_key", "known_hosts", "via",
                     "record"},
                    "host " + Quote(name), d_)) {
        continue;
      }
      if (auto a = body["address"]) {
        if (auto text = ReadString(a, "address", d_)) {
          auto hp = HostPort::Parse(*text);
          auto canonical = hp ? CanonicalHost::Parse(hp->host) : Result<CanonicalHost>(Error{});
          if (!hp) {
            d_->Error(a, "address: " + hp.message());
          } else if (!canonical) {
            d_->Error(a, "address: " + Quote(hp->host) + ": " + canonical.message());
          } else {
            // Kept canonical, so every comparison and dial sees one spelling.
            h.address = HostPort{canonical->ToString(), hp->port};
            if (canonical->is_address()) h.ip = canonical->address;
          }
        }
      } else {
        d_->Error(kv.first, "host " + Quote(name) + " needs an address (host:port)");
      }
      if (auto a = body["aliases"]) {
        if (auto list = ReadStringList(a, "aliases", d_)) {
          for (size_t i = 0; i < list->size(); ++i) {
            if (auto why = HostNameError((*list)[i])) {
              d_->Error(a[i], "invalid alias " + Quote((*list)[i]) + ": " + *why);
            } else {
              h.aliases.push_back((*list)[i]);
            }
          }
        }
      }
      ParseUpstreamLogin(body, &h);
      if (auto n = body["record"]) {
        if (auto b = ReadBool(n, "record", d_)) h.record = *b;
      }
      std::vector<std::pair<std::string, YAML::Node>> all = {{name, kv.first}};
      for (size_t i = 0; i < h.aliases.size(); ++i) all.push_back({h.aliases[i], body["aliases"][i]});
      for (const auto& [n, at] : all) {
        auto [it, inserted] = names.emplace(ToLower(n), d_->Locate(at));
        if (!inserted) {
          d_->Error(at, "host name or alias " + Quote(n) + " is already used at " +
                            it->second.ToString());
        }
      }
      p->hosts[name] = std::move(h);
    }
  }

  // login, identity, host_key, known_hosts and via: how the gateway itself
  // reaches and logs in to the host.
  void ParseUpstreamLogin(const YAML::Node& body, Host* h) {
    if (auto n = body["login"]) {
      if (auto s = ReadString(n, "login", d_)) {
        if (!ValidName(*s)) {
          d_->Error(n, "login: invalid login name " + Quote(*s));
        } else {
          h->login = *s;
        }
      }
    }
    if (auto n = body["identity"]) {
      if (auto path = ReadString(n, "identity", d_)) {
        std::string resolved = Resolve(*path);
        auto content = reader_(resolved);
        if (!content) {
          d_->Error(n, "identity: cannot read " + Quote(resolved) + ": " + content.message());
        } else if (auto key = certs::ParseOpenSshPrivateKey(*content); !key) {
          d_->Error(n, "identity: " + Quote(resolved) + ": " + key.message());
        } else {
          h->identity_path = resolved;
          h->identity_text = *content;
          hash_input_ += std::string(1, '\0') + resolved + std::string(1, '\0') + *content;
        }
      }
    }
    if (auto n = body["host_key"]) {
      if (auto text = ReadString(n, "host_key", d_)) {
        auto key = ParseAuthorizedKeyLine(*text, "host_key", options_.min_rsa_bits);
        if (!key) {
          d_->Error(n, "host_key: " + key.message());
        } else if (key->has_options) {
          d_->Error(n, "host_key: a host key line takes no options");
        } else {
          h->host_key_blob = key->blob;
          h->host_key_text = *text;
        }
      }
    }
    if (auto n = body["known_hosts"]) {
      if (auto path = ReadString(n, "known_hosts", d_)) {
        std::string resolved = Resolve(*path);
        auto content = reader_(resolved);
        if (!content) {
          d_->Error(n, "known_hosts: cannot read " + Quote(resolved) + ": " + content.message());
        } else {
          h->known_hosts_path = resolved;
          hash_input_ += std::string(1, '\0') + resolved + std::string(1, '\0') + *content;
        }
      }
    }
    if (auto n = body["via"]) {
      h->via_location = d_->Locate(n);
      if (auto list = ReadStringList(n, "via", d_)) {
        if (list->empty()) d_->Error(n, "via: an empty list (leave via out to dial directly)");
        h->via = *list;
      }
    }
  }

  std::string Resolve(const std::string& path) const {
    return !path.empty() && path[0] == '/' ? path : DirName(file_) + "/" + path;
  }

  // Resolves every host's route: the route of its first `via` entry, then
  // the `via` list. Unknown names, cycles and repeated hops are errors at
  // the `via` that causes them; hops need a login and a way to check their
  // host key (never trust on first use).
  void ResolveRoutes(Policy* p) {
    std::map<std::string, int> state;  // 0 new, 1 in progress, 2 done, 3 failed
    for (auto& [name, h] : p->hosts) ResolveRoute(h, p, &state);
    CheckJumpAndRecordedHosts(*p);
  }

  // Resolves `h`'s route, resolving its first hop's route first; `*state`
  // tracks each host as in ResolveRoutes. Returns false when `h` has no valid
  // route (reported).
  bool ResolveRoute(Host& h, Policy* p, std::map<std::string, int>* state) {
    int& st = (*state)[h.name];
    if (st == 2) return true;
    if (st == 3) return false;
    if (st == 1) return false;  // reported by the caller that closed the cycle
    if (h.via.empty()) {
      st = 2;
      return true;
    }
    st = 1;
    std::vector<std::string> route;
    bool ok = true;
    for (size_t i = 0; i < h.via.size() && ok; ++i) {
      auto it = p->hosts.find(h.via[i]);
      if (it == p->hosts.end()) {
        d_->Error(h.via_location, "host " + Quote(h.name) + ": via names " + Quote(h.via[i]) +
                                      ", which is not defined under hosts:");
        ok = false;
        break;
      }
      Host& hop = it->second;
      if (i == 0) {
        if ((*state)[hop.name] == 1) {
          d_->Error(h.via_location, "host " + Quote(h.name) + ": via " + Quote(hop.name) +
                                        " makes a cycle of jump hosts");
          ok = false;
          break;
        }
        if (!ResolveRoute(hop, p, state)) {
          ok = false;
          break;
        }
        route = hop.route;
      }
      route.push_back(hop.name);
    }
    if (ok) ok = RouteHasNoRepeats(h, route);
    st = ok ? 2 : 3;
    if (ok) h.route = std::move(route);
    return ok;
  }

  // Reports (and returns false) when `route` passes through `h` itself or
  // crosses a host twice.
  bool RouteHasNoRepeats(const Host& h, const std::vector<std::string>& route) {
    std::set<std::string> seen;
    for (const auto& r : route) {
      if (r == h.name) {
        d_->Error(h.via_location,
                  "host " + Quote(h.name) + ": its route passes through itself (a cycle)");
        return false;
      }
      if (!seen.insert(r).second) {
        d_->Error(h.via_location,
                  "host " + Quote(h.name) + ": its route crosses " + Quote(r) + " twice");
        return false;
      }
    }
    return true;
  }

  // Every host that serves as a hop must be reachable and checkable, and a
  // recorded host (which hopgate logs in to itself) checkable.
  void CheckJumpAndRecordedHosts(const Policy& p) {
    std::set<std::string> hops;
    for (const auto& [name, h] : p.hosts) hops.insert(h.route.begin(), h.route.end());
    for (const auto& name : hops) {
      const Host& hop = p.hosts.at(name);
      if (hop.login.empty()) {
        d_->Error(hop.location,
                  "host " + Quote(name) + " is a jump host (named in via:) and needs a login");
      }
      if (!hop.HasPinnedKey() && hop.known_hosts_path.empty()) {
        d_->Error(hop.location,
                  "host " + Quote(name) +
                      " is a jump host and needs host_key (a pinned public key line) or "
                      "known_hosts: hopgate never trusts a host key on first use");
      }
    }
    for (const auto& [name, h] : p.hosts) {
      if (h.record && !h.HasPinnedKey() && h.known_hosts_path.empty()) {
        d_->Error(h.location, "host " + Quote(name) +
                                  " has record: true, so hopgate logs in to it itself, and needs "
                                  "host_key (a pinned public key line) or known_hosts: hopgate "
                                  "never trusts a host key on first use");
      }
    }
  }

  const std::string& file_;
  const FileReader& reader_;
  const PolicyOptions& options_;
  Diagnostics* d_;
  std::string hash_input_;
};

}  // namespace

const char* TcpForwardingName(TcpForwarding f) {
  switch (f) {
    case TcpForwarding::kNo: return "no";
    case TcpForwarding::kLocal: return "local";
    case TcpForwarding::kRemote: return "remote";
    case TcpForwarding::kYes: return "yes";
  }
  return "?";
}

const AuthorizedKey* Policy::FindKey(std::string_view user, std::string_view blob) const {
  auto it = users.find(std::string(user));
  if (it == users.end()) return nullptr;
  for (const auto& k : it->second.keys) {
    if (k.blob == blob) return &k;
  }
  return nullptr;
}

std::vector<std::string> Policy::GroupsOf(std::string_view user) const {
  std::vector<std::string> out;
  for (const auto& [name, members] : groups) {
    if (std::find(members.begin(), members.end(), user) != members.end()) out.push_back(name);
  }
  return out;
}

const Host* Policy::FindHost(std::string_view name) const {
  std::string lower = ToLower(name);
  if (!lower.empty() && lower.back() == '.') lower.pop_back();
  for (const auto& [hname, h] : hosts) {
    if (ToLower(hname) == lower) return &h;
    for (const auto& a : h.aliases) {
      if (ToLower(a) == lower) return &h;
    }
  }
  return nullptr;
}

std::vector<std::string> Policy::NamesToResolve() const {
  std::set<std::string> names;
  for (const auto& [name, h] : hosts) {
    if (!h.ip && h.route.empty()) names.insert(h.address.host);
  }
  auto add = [&](const std::vector<OpenPattern>& pats) {
    for (const auto& p : pats) {
      // hosts: names are matched by name; their addresses are above.
      if (p.IsLiteralName() && !FindHost(p.glob)) names.insert(p.glob);
    }
  };
  for (const auto& r : rules) {
    add(r.destinations);
    add(r.permit_open);
  }
  for (const auto& [name, u] : users) {
    for (const auto& k : u.keys) {
      if (k.restrictions.permit_open) add(*k.restrictions.permit_open);
    }
  }
  return {names.begin(), names.end()};
}

LoadResult ParsePolicy(std::string_view text, const std::string& file,
                       const FileReader& read_file, const PolicyOptions& options) {
  LoadResult result{nullptr, Diagnostics(file)};
  Parser parser(file, read_file, options, &result.diagnostics);
  std::shared_ptr<Policy> p = parser.Parse(text);
  if (p && !result.diagnostics.has_errors()) {
    Lint(*p, &result.diagnostics);
  }
  if (p && !result.diagnostics.has_errors()) result.policy = std::move(p);
  return result;
}

}  // namespace hopgate::policy
