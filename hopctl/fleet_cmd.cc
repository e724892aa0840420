// hopctl lock / locks / unlock: fleet-wide locks in the fleet database
// (--database DSN, or --config FILE with fleet.database). Every replica
// hears of a change at once (NOTIFY) and re-reads the locks every 5 s.
#include <cstdio>
#include <memory>
#include <string>

#include "audit/fleet/locks.h"
#include "audit/fleet/pg.h"
#include "common/strings.h"
#include "common/time_util.h"
#include "hopctl/command.h"
#include "hopctl/session_story.h"
#include "proxy/config/config.h"

namespace hopgate::hopctl {
namespace {

struct Target {
  std::string database, config;
};

void AddTargetOptions(CLI::App* cmd, Target* t) {
  cmd->add_option("--database", t->database, "the fleet database (postgresql://...)");
  cmd->add_option("--config", t->config, "a replica's configuration (its fleet.database)");
}

// The connection, or nullptr after printing why.
std::unique_ptr<audit::fleet::Pg> Open(const Target& t) {
  std::string dsn = t.database;
  if (dsn.empty() && !t.config.empty()) {
    proxy::ConfigLoad cl = proxy::LoadConfig(t.config);
    if (!cl.config) {
      fprintf(stderr, "%s", cl.diagnostics.ToString().c_str());
      return nullptr;
    }
    dsn = cl.config->fleet_database;
    if (dsn.empty()) {
      fprintf(stderr, "hopctl: %s has no fleet.database\n", t.config.c_str());
      return nullptr;
    }
  }
  if (dsn.empty()) {
    fprintf(stderr, "hopctl: give --database DSN or --config FILE (with fleet.database)\n");
    return nullptr;
  }
  auto db = audit::fleet::Pg::Connect(dsn);
  if (!db) {
    fprintf(stderr, "hopctl: fleet database: %s\n", Safe(db.message()).c_str());
    return nullptr;
  }
  return std::move(*db);
}

struct LockArgs {
  Target target;
  std::string user, reason, ttl;
};

int RunLock(const LockArgs& a) {
  int64_t ttl = 0;
  if (!a.ttl.empty()) {
    auto t = ParseDurationSeconds(a.ttl);
    if (!t || *t <= 0) {
      fprintf(stderr, "hopctl: --ttl: %s\n", t ? "must be positive" : t.message().c_str());
      return 2;
    }
    ttl = *t;
  }
  auto db = Open(a.target);
  if (!db) return 2;
  auto id = audit::fleet::AddLock(*db, "user", a.user, a.reason, ttl);
  if (!id) {
    fprintf(stderr, "hopctl: fleet database: %s\n", Safe(id.message()).c_str());
    return 2;
  }
  printf("%lld\n", static_cast<long long>(*id));
  return 0;
}

int RunLocks(const Target& t) {
  auto db = Open(t);
  if (!db) return 2;
  auto locks = audit::fleet::ActiveLocks(*db);
  if (!locks) {
    // A database no replica has set up yet has no locks.
    if (locks.message().find("fleet_locks") != std::string::npos) return 0;
    fprintf(stderr, "hopctl: fleet database: %s\n", Safe(locks.message()).c_str());
    return 2;
  }
  printf("ID  KIND  VALUE  CREATED  EXPIRES  REASON\n");
  for (const auto& l : *locks) {
    printf("%lld  %s  %s  %s  %s  %s\n", static_cast<long long>(l.id), l.kind.c_str(),
           Safe(l.value).c_str(), l.created.c_str(), l.expires.empty() ? "never" : l.expires.c_str(),
           l.reason.empty() ? "-" : Safe(l.reason).c_str());
  }
  return 0;
}

int RunUnlock(const Target& t, int64_t id, const std::string& user) {
  if ((id == 0) == user.empty()) {
    fprintf(stderr, "hopctl: give a lock ID or --user USER\n");
    return 2;
  }
  auto db = Open(t);
  if (!db) return 2;
  auto n = audit::fleet::RemoveLocks(*db, id, user);
  if (!n) {
    fprintf(stderr, "hopctl: fleet database: %s\n", Safe(n.message()).c_str());
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
      "lock", "lock a user out of every replica: new logins refused, live connections closed");
  lock->add_option("--user", a->user, "the gateway user to lock out")->required();
  lock->add_option("--reason", a->reason, "why (shown to the user and audited)");
  lock->add_option("--ttl", a->ttl, "lift the lock by itself after this long (1h, 30m, ...)");
  AddTargetOptions(lock, &a->target);
  out->push_back({lock, [a] { return RunLock(*a); }});

  auto t = std::make_shared<Target>();
  CLI::App* locks = app.add_subcommand("locks", "list the fleet-wide locks in force");
  AddTargetOptions(locks, t.get());
  out->push_back({locks, [t] { return RunLocks(*t); }});

  auto u = std::make_shared<Target>();
  auto id = std::make_shared<int64_t>(0);
  auto user = std::make_shared<std::string>();
  CLI::App* unlock = app.add_subcommand("unlock", "lift a fleet-wide lock, or all of a user's");
  unlock->add_option("ID", *id, "the lock's id (as hopctl lock printed it)");
  unlock->add_option("--user", *user, "lift every lock of this user");
  AddTargetOptions(unlock, u.get());
  out->push_back({unlock, [u, id, user] { return RunUnlock(*u, *id, *user); }});
}

}  // namespace hopgate::hopctl
