// hopctl lock / locks / unlock: locks on users, keys, certificate serials
// and source addresses. In a fleet (--database DSN, or --config FILE with
// fleet.database) they live in the fleet database and every replica hears
// of a change at once (NOTIFY) and re-reads them every 5 s; without one
// (--config FILE without fleet.database) in the gateway's locks file
// (locks.file), which the gateway checks every 250 ms.
#include <cstdio>
#include <ctime>
#include <memory>
#include <string>
#include <vector>

#include "audit/fleet/lock_rule.h"
#include "audit/fleet/locks.h"
#include "audit/fleet/locks_file.h"
#include "audit/fleet/pg.h"
#include "common/strings.h"
#include "common/time_util.h"
#include "hopctl/command.h"
#include "hopctl/session_story.h"
#include "proxy/config/config.h"

namespace hopgate::hopctl {
namespace {

namespace fleet = audit::fleet;

struct Target {
  std::string database, config;
};

void AddTargetOptions(CLI::App* cmd, Target* t) {
  cmd->add_option("--database", t->database, "the fleet database (postgresql://...)");
  cmd->add_option("--config", t->config,
                  "a gateway's configuration (its fleet.database, else its locks.file)");
}

// Where the locks are: the fleet database, or else a locks file.
struct Store {
  std::unique_ptr<fleet::Pg> db;
  std::string file;
  std::string Where() const { return db ? "fleet database" : "locks file"; }
};

// The store, or nullopt after printing why.
std::optional<Store> Open(const Target& t) {
  Store s;
  std::string dsn = t.database;
  if (dsn.empty() && !t.config.empty()) {
    proxy::ConfigLoad cl = proxy::LoadConfig(t.config);
    if (!cl.config) {
      fprintf(stderr, "%s", cl.diagnostics.ToString().c_str());
      return std::nullopt;
    }
    dsn = cl.config->fleet_database;
    s.file = cl.config->locks_file;
    if (dsn.empty() && s.file.empty()) {
      fprintf(stderr, "hopctl: %s has neither fleet.database nor locks.file\n", t.config.c_str());
      return std::nullopt;
    }
  }
  if (dsn.empty() && s.file.empty()) {
    fprintf(stderr, "hopctl: give --database DSN or --config FILE\n");
    return std::nullopt;
  }
  if (dsn.empty()) return s;
  auto db = fleet::Pg::Connect(dsn);
  if (!db) {
    fprintf(stderr, "hopctl: fleet database: %s\n", Safe(db.message()).c_str());
    return std::nullopt;
  }
  s.db = std::move(*db);
  return s;
}

int64_t NowUnix() { return static_cast<int64_t>(time(nullptr)); }

// What a lock or an unlock names: one of --user, --key, --cert-serial, --source.
struct Selector {
  std::string user, key, cert_serial, source;
  bool Empty() const { return user.empty() && key.empty() && cert_serial.empty() && source.empty(); }
};

void AddSelectorOptions(CLI::App* cmd, Selector* s, const std::string& verb) {
  cmd->add_option("--user", s->user, verb + " a gateway user");
  cmd->add_option("--key", s->key,
                  verb + " a key by its SHA256 fingerprint (ssh-keygen -l): the user's key, a "
                         "certificate's key, or a CA key (every certificate it signed)");
  cmd->add_option("--cert-serial", s->cert_serial,
                  verb + " certificates with this serial (from any trusted CA)");
  cmd->add_option("--source", s->source,
                  verb + " clients whose address is in this CIDR block (or one address)");
}

// (kind, canonical value), or exit code 2 after printing why.
std::optional<std::pair<std::string, std::string>> Selected(const Selector& s) {
  std::vector<std::pair<std::string, std::string>> given;
  if (!s.user.empty()) given.emplace_back("user", s.user);
  if (!s.key.empty()) given.emplace_back("key", s.key);
  if (!s.cert_serial.empty()) given.emplace_back("cert-serial", s.cert_serial);
  if (!s.source.empty()) given.emplace_back("source", s.source);
  if (given.size() != 1) {
    fprintf(stderr, "hopctl: give exactly one of --user, --key, --cert-serial, --source\n");
    return std::nullopt;
  }
  auto value = fleet::NormalizeLockValue(given[0].first, given[0].second);
  if (!value) {
    fprintf(stderr, "hopctl: --%s: %s\n", given[0].first.c_str(), Safe(value.message()).c_str());
    return std::nullopt;
  }
  return std::make_pair(given[0].first, *value);
}

struct LockArgs {
  Target target;
  Selector selector;
  std::string reason, ttl;
};

int RunLock(const LockArgs& a) {
  auto what = Selected(a.selector);
  if (!what) return 2;
  int64_t ttl = 0;
  if (!a.ttl.empty()) {
    auto t = ParseDurationSeconds(a.ttl);
    if (!t || *t <= 0) {
      fprintf(stderr, "hopctl: --ttl: %s\n", t ? "must be positive" : t.message().c_str());
      return 2;
    }
    ttl = *t;
  }
  auto store = Open(a.target);
  if (!store) return 2;
  auto id = store->db ? fleet::AddLock(*store->db, what->first, what->second, a.reason, ttl)
                      : fleet::AddFileLock(store->file, what->first, what->second, a.reason, ttl,
                                           NowUnix());
  if (!id) {
    fprintf(stderr, "hopctl: %s: %s\n", store->Where().c_str(), Safe(id.message()).c_str());
    return 2;
  }
  printf("%lld\n", static_cast<long long>(*id));
  return 0;
}

int RunLocks(const Target& t) {
  auto store = Open(t);
  if (!store) return 2;
  Result<std::vector<fleet::FleetLock>> locks = std::vector<fleet::FleetLock>{};
  if (store->db) {
    locks = fleet::ActiveLocks(*store->db);  // none in a database not set up yet
  } else if (auto file = fleet::ReadLocksFile(store->file); file) {
    locks = fleet::ActiveFileLocks(*file, NowUnix());
  } else {
    locks = file.error();
  }
  if (!locks) {
    fprintf(stderr, "hopctl: %s: %s\n", store->Where().c_str(), Safe(locks.message()).c_str());
    return 2;
  }
  printf("ID  KIND  VALUE  CREATED  EXPIRES  REASON\n");
  for (const auto& l : *locks) {
    printf("%lld  %s  %s  %s  %s  %s\n", static_cast<long long>(l.id), Safe(l.kind).c_str(),
           Safe(l.value).c_str(), l.created.empty() ? "-" : Safe(l.created).c_str(),
           l.expires.empty() ? "never" : Safe(l.expires).c_str(),
           l.reason.empty() ? "-" : Safe(l.reason).c_str());
  }
  return 0;
}

struct UnlockArgs {
  Target target;
  Selector selector;
  int64_t id = 0;
};

int RunUnlock(const UnlockArgs& a) {
  if ((a.id == 0) == a.selector.Empty()) {
    fprintf(stderr,
            "hopctl: give a lock ID or one of --user, --key, --cert-serial, --source\n");
    return 2;
  }
  std::pair<std::string, std::string> what;
  if (a.id == 0) {
    auto s = Selected(a.selector);
    if (!s) return 2;
    what = *s;
  }
  auto store = Open(a.target);
  if (!store) return 2;
  auto n = store->db ? fleet::RemoveLocks(*store->db, a.id, what.first, what.second)
                     : fleet::RemoveFileLocks(store->file, a.id, what.first, what.second, NowUnix());
  if (!n) {
    fprintf(stderr, "hopctl: %s: %s\n", store->Where().c_str(), Safe(n.message()).c_str());
    return 2;
  }
  if (*n == 0) {
    fprintf(stderr, "hopctl: no such lock\n");
    return 1;
  }
  printf("%lld lock%s lifted\n", static_cast<long long>(*n), *n == 1 ? "" : "s");
  return 0;
}

}  // namespace

void AddFleetCommands(CLI::App& app, Commands* out) {
  auto a = std::make_shared<LockArgs>();
  CLI::App* lock = app.add_subcommand(
      "lock", "lock out a user, key, certificate serial or source on every replica: new logins "
              "refused, live connections closed");
  AddSelectorOptions(lock, &a->selector, "lock out");
  lock->add_option("--reason", a->reason, "why (shown to the user and audited)");
  lock->add_option("--ttl", a->ttl, "lift the lock by itself after this long (1h, 30m, ...)");
  AddTargetOptions(lock, &a->target);
  out->push_back({lock, [a] { return RunLock(*a); }});

  auto t = std::make_shared<Target>();
  CLI::App* locks = app.add_subcommand("locks", "list the locks in force");
  AddTargetOptions(locks, t.get());
  out->push_back({locks, [t] { return RunLocks(*t); }});

  auto u = std::make_shared<UnlockArgs>();
  CLI::App* unlock =
      app.add_subcommand("unlock", "lift a lock by its id, or every lock on a user, key, serial or source");
  unlock->add_option("ID", u->id, "the lock's id (as hopctl lock printed it)");
  AddSelectorOptions(unlock, &u->selector, "lift every lock on");
  AddTargetOptions(unlock, &u->target);
  out->push_back({unlock, [u] { return RunUnlock(*u); }});
}

}  // namespace hopgate::hopctl
