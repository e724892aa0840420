#include "proxy/config/config.h"

#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstring>
#include <algorithm>
#include <fstream>
#include <map>
#include <sstream>

#include "common/strings.h"
#include "common/time_util.h"
#include "proxy/config/config_listen.h"

namespace hopgate::proxy {
namespace {

std::string LocalHostname() {
  char name[256] = {};
  if (gethostname(name, sizeof name - 1) != 0 || name[0] == '\0') return "localhost";
  return name;
}

std::string DirOf(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

std::string DirName(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

std::string Resolve(const std::string& base_file, const std::string& path) {
  if (!path.empty() && path[0] == '/') return path;
  return DirName(base_file) + "/" + path;
}

std::optional<std::string> ReadPath(const YAML::Node& n, std::string_view what,
                                    const std::string& file, Diagnostics* d,
                                    std::map<std::string, SourceLocation>* where) {
  (*where)[std::string(what)] = d->Locate(n);
  auto s = ReadString(n, what, d);
  if (!s) return std::nullopt;
  if (s->empty()) {
    d->Error(n, std::string(what) + " must not be empty");
    return std::nullopt;
  }
  return Resolve(file, *s);
}

// Top-level `host_keys`: the gateway's private key files (required).
void ParseHostKeys(const YAML::Node& r, Config* c, Diagnostics* d) {
  if (auto n = r["host_keys"]) {
    c->where["host_keys"] = d->Locate(n);
    if (auto list = ReadStringList(n, "host_keys", d)) {
      if (list->empty()) d->Error(n, "host_keys must name at least one key file");
      for (const auto& k : *list) c->host_keys.push_back(Resolve(c->file, k));
    }
  } else {
    d->Error(r, "missing host_keys (private key files; missing ones are generated)");
  }
}

// Top-level `policy` and `audit` (both required): the policy file, the audit
// log and the recordings directory.
// Reads a duration of at least 1s at `v` into `*out`; errors name `what`.
void ReadPositiveDuration(const YAML::Node& v, const std::string& what, int64_t* out,
                          Diagnostics* d) {
  if (auto s = ReadDuration(v, what, d)) {
    if (*s < 1) {
      d->Error(v, what + " must be at least 1s");
    } else {
      *out = *s;
    }
  }
}

// A liveness interval: a duration, or 0 / off to disable.
void ReadAliveInterval(const YAML::Node& v, const std::string& what, int64_t* out,
                       Diagnostics* d) {
  if (v.IsScalar() && (v.Scalar() == "0" || v.Scalar() == "off")) {
    *out = 0;
  } else if (auto s = ReadDuration(v, what, d)) {
    *out = *s;
  }
}

// audit.signing_key, origin, checkpoint_interval, rotate_size, rotate_interval.
void ParseAuditTree(const YAML::Node& n, Config* c, Diagnostics* d) {
  if (auto l = n["signing_key"]) {
    if (auto p = ReadPath(l, "audit.signing_key", c->file, d, &c->where)) c->audit_signing_key = *p;
  }
  if (auto v = n["origin"]) {
    if (auto o = ReadString(v, "audit.origin", d)) {
      bool clean = !o->empty() && std::none_of(o->begin(), o->end(), [](unsigned char ch) {
        return ch < 0x20 || ch == 0x7f;
      });
      if (!clean) {
        d->Error(v, "audit.origin must be a non-empty line of text (e.g. hopgate/gate1)");
      } else {
        c->audit_origin = *o;
      }
    }
  }
  if (auto v = n["checkpoint_interval"]) {
    ReadPositiveDuration(v, "audit.checkpoint_interval", &c->audit_checkpoint_interval, d);
  }
  if (auto v = n["rotate_size"]) {
    if (auto b = ReadByteSize(v, "audit.rotate_size", d)) {
      if (*b != 0 && *b < 4096) {
        d->Error(v, "audit.rotate_size must be 0 (never) or at least 4KiB");
      } else {
        c->audit_rotate_size = *b;
      }
    }
  }
  if (auto v = n["rotate_interval"]) {
    if (auto t = ReadDuration(v, "audit.rotate_interval", d)) {
      if (*t != 0 && *t < 60) {
        d->Error(v, "audit.rotate_interval must be 0 (never) or at least 1m");
      } else {
        c->audit_rotate_interval = *t;
      }
    }
  }
}

void ParsePolicyAndAudit(const YAML::Node& r, Config* c, Diagnostics* d) {
  const std::string& file = c->file;
  if (auto n = r["policy"]) {
    if (auto p = ReadPath(n, "policy", file, d, &c->where)) c->policy = *p;
  } else {
    d->Error(r, "missing policy (path of the policy file)");
  }

  if (auto n = r["audit"]) {
    if (CheckMap(n, {"log", "recordings", "signing_key", "origin", "checkpoint_interval",
                     "rotate_size", "rotate_interval"},
                 "audit", d)) {
      if (auto l = n["log"]) {
        if (auto p = ReadPath(l, "audit.log", file, d, &c->where)) c->audit_log = *p;
      } else {
        d->Error(n, "missing audit.log (path of the JSON-lines audit log)");
      }
      if (auto l = n["recordings"]) {
        if (auto p = ReadPath(l, "audit.recordings", file, d, &c->where)) c->recordings_dir = *p;
      }
      ParseAuditTree(n, c, d);
    }
  } else {
    d->Error(r, "missing audit (audit: {log: /var/log/hopgate/audit.jsonl})");
  }
}


// limits.per_source_penalty: `off`/`false`, or a map of durations
// {authfail, noauth, grace_exceeded, min, max}; absent keys keep defaults.
void ParsePenalty(const YAML::Node& v, PenaltyConfig* p, Diagnostics* d) {
  if (v.IsScalar()) {
    if (auto b = ReadBool(v, "limits.per_source_penalty", d)) p->enabled = *b;
    return;
  }
  if (!CheckMap(v, {"authfail", "noauth", "grace_exceeded", "min", "max"},
                "limits.per_source_penalty", d)) {
    return;
  }
  auto read = [&](const char* key, int64_t* out) {
    if (auto n = v[key]) {
      if (auto s = ReadDuration(n, std::string("limits.per_source_penalty.") + key, d)) {
        *out = *s * 1000;
      }
    }
  };
  read("authfail", &p->authfail_ms);
  read("noauth", &p->noauth_ms);
  read("grace_exceeded", &p->grace_exceeded_ms);
  read("min", &p->min_ms);
  read("max", &p->max_ms);
  if (p->max_ms < p->min_ms) {
    d->Error(v, "limits.per_source_penalty: max must not be below min");
  }
}

// Optional `limits` section: timeouts and connection/session/channel caps.
void ParseLimits(const YAML::Node& r, Config* c, Diagnostics* d) {
  auto n = r["limits"];
  if (!n) return;
  if (!CheckMap(n, {"login_grace_time", "max_startups", "max_sessions_per_user",
                    "max_auth_tries", "connect_timeout", "max_connections",
                    "max_channels_per_connection", "per_source_max_startups",
                    "per_source_penalty", "per_source_penalty_exempt",
                    "client_alive_interval", "client_alive_count_max", "drain_timeout"},
                "limits", d)) {
    return;
  }
  if (auto v = n["login_grace_time"]) {
    ReadPositiveDuration(v, "limits.login_grace_time", &c->login_grace_time, d);
  }
  if (auto v = n["connect_timeout"]) {
    ReadPositiveDuration(v, "limits.connect_timeout", &c->connect_timeout, d);
  }
  if (auto v = n["drain_timeout"]) {
    if (auto s = ReadDuration(v, "limits.drain_timeout", d)) c->drain_timeout = *s;
  }
  if (auto v = n["max_startups"]) {
    if (auto i = ReadInt(v, "limits.max_startups", 1, 100000, d)) c->max_startups = *i;
  }
  if (auto v = n["per_source_max_startups"]) {
    if (auto i = ReadInt(v, "limits.per_source_max_startups", 0, 100000, d)) {
      c->per_source_max_startups = *i;
    }
  }
  if (auto v = n["per_source_penalty"]) ParsePenalty(v, &c->per_source_penalty, d);
  if (auto v = n["per_source_penalty_exempt"]) {
    if (auto list = ReadStringList(v, "limits.per_source_penalty_exempt", d)) {
      for (size_t i = 0; i < list->size(); ++i) {
        auto cidr = Cidr::Parse((*list)[i]);
        if (!cidr) {
          d->Error(v[i], "limits.per_source_penalty_exempt: " + cidr.error().message);
        } else {
          c->per_source_penalty.exempt.push_back(*cidr);
        }
      }
    }
  }
  if (auto v = n["max_sessions_per_user"]) {
    if (auto i = ReadInt(v, "limits.max_sessions_per_user", 0, 1000000, d)) {
      c->max_sessions_per_user = *i;
    }
  }
  if (auto v = n["max_auth_tries"]) {
    if (auto i = ReadInt(v, "limits.max_auth_tries", 1, 100, d)) c->max_auth_tries = *i;
  }
  if (auto v = n["max_channels_per_connection"]) {
    if (auto i = ReadInt(v, "limits.max_channels_per_connection", 1, 100000, d)) {
      c->max_channels_per_connection = *i;
    }
  }
  if (auto v = n["max_connections"]) {
    if (auto i = ReadInt(v, "limits.max_connections", 1, 1000000, d)) c->max_connections = *i;
  }
  if (auto v = n["client_alive_interval"]) {
    ReadAliveInterval(v, "limits.client_alive_interval", &c->client_alive_interval, d);
  }
  if (auto v = n["client_alive_count_max"]) {
    if (auto i = ReadInt(v, "limits.client_alive_count_max", 1, 1000, d)) {
      c->client_alive_count_max = *i;
    }
  }
}

// Optional `authentication` section: user CA keys, revocations, RSA size.
void ParseAuthentication(const YAML::Node& r, Config* c, Diagnostics* d) {
  auto n = r["authentication"];
  if (!n) return;
  if (!CheckMap(n, {"trusted_user_ca_keys", "revoked_keys", "close_revoked_sessions",
                    "min_rsa_bits"},
                "authentication", d)) {
    return;
  }
  const std::string& file = c->file;
  if (auto v = n["min_rsa_bits"]) {
    if (auto i = ReadInt(v, "authentication.min_rsa_bits", 1024, 16384, d)) c->min_rsa_bits = *i;
  }
  if (auto v = n["trusted_user_ca_keys"]) {
    if (auto p = ReadPath(v, "authentication.trusted_user_ca_keys", file, d, &c->where)) {
      c->trusted_user_ca_keys = *p;
    }
  }
  if (auto v = n["revoked_keys"]) {
    if (auto p = ReadPath(v, "authentication.revoked_keys", file, d, &c->where)) {
      c->revoked_keys = *p;
    }
  }
  if (auto v = n["close_revoked_sessions"]) {
    if (auto b = ReadBool(v, "authentication.close_revoked_sessions", d)) {
      c->close_revoked_sessions = *b;
    }
  }
}

// Optional `metrics` section: the IPv4 address /metrics is served on.
void ParseMetrics(const YAML::Node& r, Config* c, Diagnostics* d) {
  auto n = r["metrics"];
  if (!n) return;
  if (!CheckMap(n, {"listen"}, "metrics", d)) return;
  auto v = n["listen"];
  if (!v) {
    d->Error(n, "missing metrics.listen (e.g. metrics: {listen: \"127.0.0.1:9642\"})");
    return;
  }
  c->where["metrics.listen"] = d->Locate(v);
  if (auto text = ReadString(v, "metrics.listen", d)) {
    auto hp = HostPort::Parse(*text, /*allow_zero_port=*/true);
    if (!hp) {
      d->Error(v, "metrics.listen: " + hp.message());
    } else if (!IpAddress::Parse(hp->host)) {
      d->Error(v, "metrics.listen: " + Quote(hp->host) + " must be an IP address");
    } else if (IpAddress::Parse(hp->host)->v6) {
      d->Error(v, "metrics.listen: IPv6 is not supported (Debian's civetweb has no IPv6); "
                  "use an IPv4 address");
    } else {
      c->metrics_listen = *hp;
    }
  }
}

// Optional `recording` section: interception host keys, disk floor, notice.
void ParseRecording(const YAML::Node& r, Config* c, Diagnostics* d) {
  auto n = r["recording"];
  if (!n) return;
  if (!CheckMap(n, {"host_key", "host_keys", "max_unflushed", "min_free_bytes", "notice"},
                "recording", d)) {
    return;
  }
  const std::string& file = c->file;
  if (auto v = n["notice"]) {
    if (auto t = ReadString(v, "recording.notice", d)) c->recording_notice = *t;
  }
  if (n["host_key"] && n["host_keys"]) {
    d->Error(n["host_keys"], "recording: give host_key or host_keys, not both");
  }
  if (auto v = n["host_key"]) {
    if (auto p = ReadPath(v, "recording.host_key", file, d, &c->where)) {
      c->recording_host_keys = {*p};
    }
  }
  if (auto v = n["host_keys"]) {
    if (auto list = ReadStringList(v, "recording.host_keys", d)) {
      if (list->empty()) d->Error(v, "recording.host_keys must name at least one key file");
      for (size_t i = 0; i < list->size(); ++i) {
        if (auto p = ReadPath(v[i], "recording.host_keys", file, d, &c->where)) {
          c->recording_host_keys.push_back(*p);
        }
      }
    }
  }
  if (auto v = n["min_free_bytes"]) {
    if (auto i = ReadInt(v, "recording.min_free_bytes", 0, int64_t{1} << 50, d)) {
      c->recording_min_free_bytes = *i;
    }
  }
  if (auto v = n["max_unflushed"]) {
    if (auto b = ReadByteSize(v, "recording.max_unflushed", d)) {
      if (*b > kMaxRecordingUnflushed) {
        d->Error(v, "recording.max_unflushed must be at most 16MiB (0: every event written at once)");
      } else {
        c->recording_max_unflushed = *b;
      }
    }
  }
}

// Optional `upstream` section: how the gateway logs in to targets.
void ParseUpstream(const YAML::Node& r, Config* c, Diagnostics* d) {
  auto n = r["upstream"];
  if (!n) return;
  if (!CheckMap(n, {"user_ca_key", "max_channels_per_connection", "idle_close", "max_cert_validity",
                    "alive_interval", "alive_count_max"},
                "upstream", d)) {
    return;
  }
  if (auto v = n["user_ca_key"]) {
    if (auto p = ReadPath(v, "upstream.user_ca_key", c->file, d, &c->where)) {
      c->upstream_user_ca_key = *p;
    }
  }
  if (auto v = n["max_channels_per_connection"]) {
    if (auto i = ReadInt(v, "upstream.max_channels_per_connection", 1, 10000, d)) {
      c->upstream_max_channels = *i;
    }
  }
  if (auto v = n["idle_close"]) {
    if (auto s = ReadDuration(v, "upstream.idle_close", d)) c->upstream_idle_close = *s;
  }
  if (auto v = n["alive_interval"]) {
    ReadAliveInterval(v, "upstream.alive_interval", &c->upstream_alive_interval, d);
  }
  if (auto v = n["alive_count_max"]) {
    if (auto i = ReadInt(v, "upstream.alive_count_max", 1, 1000, d)) {
      c->upstream_alive_count_max = *i;
    }
  }
  if (auto v = n["max_cert_validity"]) {
    if (auto s = ReadDuration(v, "upstream.max_cert_validity", d)) {
      if (*s < 60 || *s > 24 * 3600) {
        d->Error(v, "upstream.max_cert_validity must be between 1m and 24h");
      } else {
        c->upstream_max_cert_validity = *s;
      }
    }
  }
}

// Optional top-level `user`: the account hopgate switches to after start-up.
void ParseUser(const YAML::Node& r, Config* c, Diagnostics* d) {
  auto n = r["user"];
  if (!n) return;
  if (auto s = ReadString(n, "user", d)) {
    if (s->empty() || *s == "root") {
      d->Error(n, "user must name an unprivileged account (not root)");
    } else {
      c->user = *s;
      c->where["user"] = d->Locate(n);
    }
  }
}

// Optional top-level `log_level`.
void ParseLogLevel(const YAML::Node& r, Config* c, Diagnostics* d) {
  auto n = r["log_level"];
  if (!n) return;
  if (auto s = ReadString(n, "log_level", d)) {
    if (*s == "debug" || *s == "info" || *s == "warning" || *s == "error") {
      c->log_level = *s;
    } else {
      d->Error(n, "log_level must be debug, info, warning or error");
    }
  }
}

// Optional `fleet` section: the shared PostgreSQL and this replica's name.
void ParseFleet(const YAML::Node& r, Config* c, Diagnostics* d) {
  auto n = r["fleet"];
  if (!n) return;
  if (!CheckMap(n, {"database", "node", "max_sessions_per_user", "heartbeat_interval"}, "fleet", d)) {
    return;
  }
  if (auto v = n["max_sessions_per_user"]) {
    if (auto i = ReadInt(v, "fleet.max_sessions_per_user", 0, 1000000, d)) {
      c->fleet_max_sessions_per_user = *i;
    }
  }
  if (auto v = n["heartbeat_interval"]) {
    ReadPositiveDuration(v, "fleet.heartbeat_interval", &c->fleet_heartbeat_interval, d);
  }
  if (auto v = n["database"]) {
    c->where["fleet.database"] = d->Locate(v);
    if (auto s = ReadString(v, "fleet.database", d)) {
      if (s->rfind("postgresql://", 0) != 0 && s->rfind("postgres://", 0) != 0) {
        d->Error(v, "fleet.database must be a PostgreSQL URI (postgresql://user@host:5432/db)");
      } else {
        c->fleet_database = *s;
      }
    }
  } else {
    d->Error(n, "missing fleet.database (fleet: {database: \"postgresql://...\"})");
  }
  if (auto v = n["node"]) {
    if (auto s = ReadString(v, "fleet.node", d)) {
      bool clean = !s->empty() && s->size() <= 64 &&
                   std::all_of(s->begin(), s->end(), [](unsigned char ch) {
                     return isalnum(ch) || ch == '-' || ch == '_' || ch == '.';
                   });
      if (!clean) {
        d->Error(v, "fleet.node must be 1-64 letters, digits, '-', '_' or '.' (e.g. gate1)");
      } else {
        c->fleet_node = *s;
      }
    }
  }
}

// Optional `locks` section: the locks file used without fleet.database
// (default locks.json beside the audit log, filled in below).
void ParseLocks(const YAML::Node& r, Config* c, Diagnostics* d) {
  auto n = r["locks"];
  if (!n || !CheckMap(n, {"file"}, "locks", d)) return;
  if (auto v = n["file"]) {
    if (auto p = ReadPath(v, "locks.file", c->file, d, &c->where)) c->locks_file = *p;
    if (!c->fleet_database.empty()) {
      d->Error(v, "locks.file has no effect with fleet.database (the fleet's locks are in the "
                  "database): leave it out");
    }
  }
}

// In a fleet the audit origin names the replica: hopgate/<fleet.node>.
void ApplyFleetOrigin(const YAML::Node& r, Config* c, Diagnostics* d) {
  if (c->fleet_database.empty()) return;
  if (c->fleet_node.empty()) c->fleet_node = LocalHostname();
  std::string origin = "hopgate/" + c->fleet_node;
  if (!c->audit_origin.empty() && c->audit_origin != origin) {
    auto o = r["audit"]["origin"];
    d->Error(o, "audit.origin must be " + Quote(origin) +
                    " in a fleet (hopgate/<fleet.node>), or be left out");
    return;
  }
  c->audit_origin = origin;
}

}  // namespace

ConfigLoad ParseConfig(std::string_view text, const std::string& file) {
  ConfigLoad out{std::nullopt, Diagnostics(file)};
  Diagnostics* d = &out.diagnostics;
  auto root = ParseYaml(text, d);
  if (!root) return out;
  Config c;
  c.file = file;
  const YAML::Node& r = *root;
  if (!CheckMap(r,
                {"version", "listen", "host_keys", "policy", "audit", "limits", "authentication",
                 "metrics", "recording", "upstream", "log_level", "user", "fleet", "locks"},
                "the config", d)) {
    return out;
  }
  if (!r["version"]) {
    d->Error(r, "missing \"version: 1\"");
  } else {
    (void)ReadInt(r["version"], "version", 1, 1, d);
  }
  // Sections in file-format order, so diagnostics keep their order.
  ParseListen(r, &c, d);
  ParseHostKeys(r, &c, d);
  ParsePolicyAndAudit(r, &c, d);
  ParseLimits(r, &c, d);
  ParseAuthentication(r, &c, d);
  ParseMetrics(r, &c, d);
  ParseRecording(r, &c, d);
  ParseUpstream(r, &c, d);
  ParseLogLevel(r, &c, d);
  ParseUser(r, &c, d);
  ParseFleet(r, &c, d);
  ApplyFleetOrigin(r, &c, d);
  ParseLocks(r, &c, d);

  if (c.recordings_dir.empty()) {
    c.recordings_dir = c.audit_log.empty() ? "" : DirOf(c.audit_log) + "/recordings";
  }
  if (c.locks_file.empty() && c.fleet_database.empty() && !c.audit_log.empty()) {
    c.locks_file = DirOf(c.audit_log) + "/locks.json";
  }
  if (c.audit_signing_key.empty() && !c.host_keys.empty()) {
    c.audit_signing_key = DirOf(c.host_keys[0]) + "/audit_signing_ed25519";
  }
  if (c.audit_origin.empty()) c.audit_origin = "hopgate/" + LocalHostname();
  if (!d->has_errors()) out.config = std::move(c);
  return out;
}

ConfigLoad LoadConfig(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    ConfigLoad out{std::nullopt, Diagnostics(path)};
    out.diagnostics.ErrorAtFile(std::string("cannot read config: ") + strerror(errno));
    return out;
  }
  std::stringstream ss;
  ss << in.rdbuf();
  return ParseConfig(ss.str(), path);
}

std::vector<std::string> RecordingHostKeyPaths(const Config& config,
                                               const std::vector<std::string>& types) {
  if (!config.recording_host_keys.empty()) return config.recording_host_keys;
  std::string dir = config.host_keys.empty() ? "." : DirName(config.host_keys[0]);
  std::vector<std::string> out;
  auto add = [&](const char* suffix) {
    std::string p = dir + "/recording_host_" + suffix;
    if (std::find(out.begin(), out.end(), p) == out.end()) out.push_back(p);
  };
  for (const auto& t : types) {
    add(t == "ssh-rsa" ? "rsa" : t.rfind("ecdsa-", 0) == 0 ? "ecdsa" : "ed25519");
  }
  if (out.empty()) add("ed25519");
  return out;
}

std::string Config::Where(const std::string& key) const {
  auto it = where.find(key);
  if (it == where.end()) return file + ": " + key + " (default)";
  return it->second.ToString() + ": " + key;
}

}  // namespace hopgate::proxy
