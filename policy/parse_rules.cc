// The `rules:` section of a YAML policy -> Policy::rules, every error at
// file:line:col. Split from parse.cc, which parses the rest of the policy.
#include <map>

#include "common/strings.h"
#include "policy/parse_internal.h"

namespace hopgate::policy {
namespace {

// Reads a duration that must be longer than 0s.
std::optional<int64_t> ReadPositiveDuration(const YAML::Node& n, const char* what, Diagnostics* d) {
  auto dur = ReadDuration(n, what, d);
  if (dur && *dur <= 0) {
    d->Error(n, std::string(what) + " must be longer than 0s");
    return std::nullopt;
  }
  return dur;
}

// Reads the list of destination patterns under `key` (destinations,
// permit_open) into `*out`, when the rule has one.
void ParseOpenList(const YAML::Node& rn, const char* key, std::vector<OpenPattern>* out,
                   Diagnostics* d) {
  auto n = rn[key];
  if (!n) return;
  auto l = ReadStringList(n, key, d);
  if (!l) return;
  for (size_t i = 0; i < l->size(); ++i) {
    auto op = OpenPattern::Parse((*l)[i]);
    if (!op) {
      d->Error(n[i], std::string(key) + ": " + op.message());
    } else {
      out->push_back(*op);
    }
  }
}

// name: required, not empty and unique among the rules (`*seen`).
void ParseRuleName(const YAML::Node& rn, std::map<std::string, SourceLocation>* seen, Rule* r,
                   Diagnostics* d) {
  if (auto n = rn["name"]) {
    if (auto s = ReadString(n, "name", d)) r->name = *s;
    if (r->name.empty()) d->Error(n, "rule name must not be empty");
    auto [it, inserted] = seen->emplace(r->name, d->Locate(n));
    if (!inserted && !r->name.empty()) {
      d->Error(
          n, "duplicate rule name " + Quote(r->name) + " (first at " + it->second.ToString() + ")");
    }
  } else {
    d->Error(rn, "every rule needs a name (decisions and audit events cite it)");
  }
}

// effect, and the conditions: users, groups, principals and from.
void ParseRuleConditions(const YAML::Node& rn, Rule* r, Diagnostics* d) {
  if (auto n = rn["effect"]) {
    if (auto s = ReadString(n, "effect", d)) {
      if (*s == "allow") {
        r->effect = Effect::kAllow;
      } else if (*s == "deny") {
        r->effect = Effect::kDeny;
      } else {
        d->Error(n, "effect must be allow or deny");
      }
    }
  }
  if (auto n = rn["users"]) {
    if (auto l = ReadStringList(n, "users", d)) r->users = *l;
  }
  if (auto n = rn["groups"]) {
    if (auto l = ReadStringList(n, "groups", d)) r->groups = *l;
  }
  if (auto n = rn["principals"]) {
    if (auto l = ReadStringList(n, "principals", d)) r->principals = *l;
  }
  if (auto n = rn["from"]) {
    if (auto l = ReadStringList(n, "from", d)) {
      for (size_t i = 0; i < l->size(); ++i) {
        auto c = Cidr::Parse((*l)[i]);
        if (!c) {
          d->Error(n[i], "from: " + c.message());
        } else {
          r->from.push_back(*c);
        }
      }
    }
  }
}

// The forwarding grants: permit_listen and allow_tcp_forwarding.
void ParseRuleForwarding(const YAML::Node& rn, Rule* r, Diagnostics* d) {
  if (auto n = rn["permit_listen"]) {
    if (auto l = ReadStringList(n, "permit_listen", d)) {
      for (size_t i = 0; i < l->size(); ++i) {
        auto lp = ListenPattern::Parse((*l)[i]);
        if (!lp) {
          d->Error(n[i], "permit_listen: " + lp.message());
        } else {
          r->permit_listen.push_back(*lp);
        }
      }
    }
  }
  if (auto n = rn["allow_tcp_forwarding"]) {
    if (auto s = ReadString(n, "allow_tcp_forwarding", d)) {
      if (*s == "no" || *s == "false") {
        r->tcp_forwarding = TcpForwarding::kNo;
      } else if (*s == "local") {
        r->tcp_forwarding = TcpForwarding::kLocal;
      } else if (*s == "remote") {
        r->tcp_forwarding = TcpForwarding::kRemote;
      } else if (*s == "yes" || *s == "true" || *s == "all") {
        r->tcp_forwarding = TcpForwarding::kYes;
      } else {
        d->Error(n, "allow_tcp_forwarding must be no, local, remote or yes");
      }
    }
  }
}

// The session grants: force_command, pty, record, record_input, logins,
// agent_forwarding, x11_forwarding, max_session and idle_timeout.
void ParseRuleSession(const YAML::Node& rn, Rule* r, Diagnostics* d) {
  if (auto n = rn["force_command"]) {
    if (auto s = ReadString(n, "force_command", d)) {
      if (s->empty()) {
        d->Error(n, "force_command must not be empty");
      } else {
        r->force_command = *s;
      }
    }
  }
  if (auto n = rn["pty"]) {
    if (auto b = ReadBool(n, "pty", d)) r->pty = *b;
    r->pty_set = true;
  }
  if (auto n = rn["record"]) {
    if (auto b = ReadBool(n, "record", d)) r->record = *b;
  }
  if (auto n = rn["record_input"]) {
    if (auto b = ReadBool(n, "record_input", d)) r->record_input = *b;
  }
  if (auto n = rn["logins"]) {
    if (auto l = ReadStringList(n, "logins", d)) {
      for (size_t i = 0; i < l->size(); ++i) {
        if (!ValidName((*l)[i])) d->Error(n[i], "logins: invalid login " + Quote((*l)[i]));
      }
      r->logins = *l;
    }
  }
  if (auto n = rn["agent_forwarding"]) {
    if (auto b = ReadBool(n, "agent_forwarding", d)) r->agent_forwarding = *b;
  }
  if (auto n = rn["x11_forwarding"]) {
    if (auto b = ReadBool(n, "x11_forwarding", d)) r->x11_forwarding = *b;
  }
  if (auto n = rn["max_session"]) r->max_session = ReadPositiveDuration(n, "max_session", d);
  if (auto n = rn["idle_timeout"]) r->idle_timeout = ReadPositiveDuration(n, "idle_timeout", d);
}

// Deny rules only have conditions and destinations; allow rules have no
// destinations.
void CheckEffectKeys(const YAML::Node& rn, const Rule& r, Diagnostics* d) {
  if (r.effect == Effect::kDeny) {
    for (const char* key : {"allow_tcp_forwarding", "permit_open", "permit_listen", "force_command",
                            "pty", "agent_forwarding", "x11_forwarding", "max_session",
                            "idle_timeout", "record", "logins", "record_input"}) {
      if (rn[key]) {
        d->Error(KeyNode(rn, key), std::string("a deny rule cannot grant ") + key +
                                       " (deny rules only have conditions and destinations)");
      }
    }
  } else if (rn["destinations"]) {
    d->Error(KeyNode(rn, "destinations"),
             "destinations is for deny rules; allow rules use permit_open");
  }
}

}  // namespace

void ParseRules(const YAML::Node& node, Policy* p, Diagnostics* d) {
  if (!node.IsSequence()) {
    d->Error(node, "rules must be a list");
    return;
  }
  std::map<std::string, SourceLocation> seen;
  for (const auto& rn : node) {
    Rule r;
    r.location = d->Locate(rn);
    if (!CheckMap(rn,
                  {"name", "effect", "users", "groups", "principals", "from", "destinations",
                   "allow_tcp_forwarding", "permit_open", "permit_listen", "force_command", "pty",
                   "agent_forwarding", "x11_forwarding", "max_session", "idle_timeout", "record",
                   "logins", "record_input"},
                  "a rule", d)) {
      continue;
    }
    ParseRuleName(rn, &seen, &r, d);
    ParseRuleConditions(rn, &r, d);
    ParseOpenList(rn, "destinations", &r.destinations, d);
    ParseOpenList(rn, "permit_open", &r.permit_open, d);
    ParseRuleForwarding(rn, &r, d);
    ParseRuleSession(rn, &r, d);
    CheckEffectKeys(rn, r, d);
    p->rules.push_back(std::move(r));
  }
}

}  // namespace hopgate::policy
