#include "policy/lint.h"

#include <algorithm>
#include <map>
#include <set>

#include "common/strings.h"

namespace hopgate::policy {
namespace {

bool Contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

// True if every user `narrow` names is also named by `wide` (conservative).
bool WhoCovers(const Policy& p, const Rule& wide, const Rule& narrow) {
  if (!wide.HasWho()) return true;
  if (!narrow.HasWho()) return false;
  for (const auto& u : narrow.users) {
    bool covered = Contains(wide.users, u);
    for (const auto& g : wide.groups) {
      auto it = p.groups.find(g);
      covered |= it != p.groups.end() && Contains(it->second, u);
    }
    if (!covered) return false;
  }
  for (const auto& g : narrow.groups) {
    if (!Contains(wide.groups, g)) return false;
  }
  return true;
}

bool ConditionsCover(const Policy& p, const Rule& wide, const Rule& narrow) {
  if (!WhoCovers(p, wide, narrow)) return false;
  if (!wide.principals.empty()) {
    if (narrow.principals.empty()) return false;
    for (const auto& pr : narrow.principals) {
      if (!Contains(wide.principals, pr)) return false;
    }
  }
  if (!wide.from.empty()) {
    if (narrow.from.empty()) return false;
    for (const auto& c : narrow.from) {
      bool covered = false;
      for (const auto& w : wide.from) {
        covered |= w.base.v6 == c.base.v6 && w.prefix <= c.prefix && w.Contains(c.base);
      }
      if (!covered) return false;
    }
  }
  return true;
}

bool OpensCovered(const Rule& wide, const Rule& narrow) {
  if (!AllowsLocal(narrow.tcp_forwarding) || narrow.permit_open.empty()) return true;
  if (!AllowsLocal(wide.tcp_forwarding)) return false;
  for (const auto& n : narrow.permit_open) {
    bool covered = false;
    for (const auto& w : wide.permit_open) covered |= n.CoveredBy(w);
    if (!covered) return false;
  }
  return true;
}

bool ListensCovered(const Rule& wide, const Rule& narrow) {
  if (!AllowsRemote(narrow.tcp_forwarding) || narrow.permit_listen.empty()) return true;
  if (!AllowsRemote(wide.tcp_forwarding)) return false;
  for (const auto& n : narrow.permit_listen) {
    bool covered = false;
    for (const auto& w : wide.permit_listen) covered |= n.CoveredBy(w);
    if (!covered) return false;
  }
  return true;
}

bool LooksLikeHostName(const std::string& pattern) {
  // A bare word (no dots, no wildcards, not an address) is meant as a hosts:
  // entry; anything else is a DNS name or address pattern.
  return !pattern.empty() && pattern.find_first_of(".*?:") == std::string::npos &&
         !IpAddress::Parse(pattern).has_value();
}

// How the gateway treats a host: two entries at one endpoint that differ
// here are one server described twice, inconsistently.
std::string Settings(const Host& h) {
  std::string out = std::string(h.record ? "record" : "no record") + ", login " +
                    (h.login.empty() ? "-" : h.login) + ", identity " +
                    (h.identity_path.empty() ? "-" : h.identity_path) + ", host_key " +
                    (h.host_key_blob.empty() ? "-" : "pinned") + ", via [";
  for (size_t i = 0; i < h.via.size(); ++i) out += (i ? ", " : "") + h.via[i];
  return out + "]";
}

void LintSharedEndpoints(const Policy& p, Diagnostics* d) {
  std::map<std::string, const Host*> first;  // canonical address:port -> first entry
  for (const auto& [name, h] : p.hosts) {
    std::string endpoint = JoinHostPort(h.address.host, h.address.port);
    auto [it, inserted] = first.emplace(endpoint, &h);
    if (inserted) continue;
    const Host& other = *it->second;
    if (Settings(other) != Settings(h) || other.host_key_blob != h.host_key_blob ||
        other.known_hosts_path != h.known_hosts_path) {
      d->Warning(h.location, "hosts " + Quote(other.name) + " and " + Quote(h.name) +
                                 " share the endpoint " + endpoint +
                                 " with different settings (" + Settings(other) + " vs " +
                                 Settings(h) +
                                 "): a request for either is treated as the recorded one if "
                                 "one is recorded, else by the settings of the name asked for");
    }
  }
}

}  // namespace

void Lint(const Policy& p, Diagnostics* d) {
  LintSharedEndpoints(p, d);
  for (size_t i = 0; i < p.rules.size(); ++i) {
    const Rule& r = p.rules[i];
    for (const auto& g : r.groups) {
      if (!p.groups.count(g)) {
        d->Warning(r.location, "rule " + Quote(r.name) + " names group " + Quote(g) +
                                   ", which is not defined under groups:");
      }
    }
    auto check_hosts = [&](const std::vector<OpenPattern>& pats, const char* key) {
      for (const auto& pat : pats) {
        if (pat.IsAnything()) {
          d->Warning(r.location, "rule " + Quote(r.name) + " " + key + " " + Quote(pat.text) +
                                     " matches every host and port");
        } else if (pat.IsNamePattern() && LooksLikeHostName(pat.glob) && !p.FindHost(pat.glob)) {
          d->Warning(r.location, "rule " + Quote(r.name) + " " + key + " names host " +
                                     Quote(pat.glob) +
                                     ", which is not defined under hosts: (it will be "
                                     "looked up in DNS)");
        }
      }
    };
    check_hosts(r.permit_open, "permit_open");
    check_hosts(r.destinations, "destinations");
    if (r.effect == Effect::kAllow && AllowsRemote(r.tcp_forwarding)) {
      for (const auto& lp : r.permit_listen) {
        if (!lp.port && lp.address && *lp.address == "*") {
          d->Warning(r.location, "rule " + Quote(r.name) + " permit_listen " + Quote(lp.text) +
                                     " lets users listen on every address and port");
        }
      }
    }
    if (r.effect != Effect::kAllow) continue;
    if (std::string why = r.TerminationReason(); !why.empty() && !r.record) {
      d->Warning(r.location, "rule " + Quote(r.name) + " has " + why +
                                 ", which only a recorded session can enforce: SSH to the SSH "
                                 "port of what it permits is terminated and recorded");
    }
    if (AllowsLocal(r.tcp_forwarding) && r.permit_open.empty() && r.tcp_forwarding != TcpForwarding::kYes &&
        !r.force_command) {
      d->Warning(r.location, "rule " + Quote(r.name) +
                                 " allows local forwarding but has no permit_open entries");
    }
    // Shadowed by a deny rule that covers everything it could match.
    bool reported = false;
    for (const auto& other : p.rules) {
      if (other.effect == Effect::kDeny && other.destinations.empty() &&
          ConditionsCover(p, other, r)) {
        d->Warning(r.location, "rule " + Quote(r.name) + " can never match: deny rule " +
                                   Quote(other.name) + " (" + other.location.ToString() +
                                   ") matches everyone it names");
        reported = true;
        break;
      }
    }
    if (reported) continue;
    for (size_t j = 0; j < i; ++j) {
      const Rule& earlier = p.rules[j];
      if (earlier.effect != Effect::kAllow) continue;
      if (ConditionsCover(p, earlier, r) && OpensCovered(earlier, r) && ListensCovered(earlier, r)) {
        d->Warning(r.location, "rule " + Quote(r.name) + " can never match: earlier rule " +
                                   Quote(earlier.name) + " (" + earlier.location.ToString() +
                                   ") matches every request it would");
        break;
      }
    }
  }
}

}  // namespace hopgate::policy
