// The fleet's live view from hopctl: `sessions --live` (the listing, called
// from sessions_cmd.cc) and `terminate` (ends a session wherever it runs).
// Both read the fleet database (--database DSN, or --config FILE with
// fleet.database); see audit/fleet/live.h.
#include "hopctl/live_cmd.h"

#include <pwd.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "audit/fleet/live.h"
#include "audit/fleet/pg.h"
#include "common/time_util.h"
#include "hopctl/command.h"
#include "hopctl/session_story.h"
#include "hopctl/table.h"
#include "proxy/config/config.h"

namespace hopgate::hopctl {
namespace {

std::string Joined(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ",") + Safe(s);
  return out.empty() ? "-" : out;
}

// "hopctl (root@admin1)": who asked, for the audit event.
std::string Requester() {
  std::string user = "uid " + std::to_string(geteuid());
  if (struct passwd* pw = getpwuid(geteuid())) user = pw->pw_name;
  char host[256] = {0};
  if (gethostname(host, sizeof host - 1) != 0) host[0] = '\0';
  return "hopctl (" + user + "@" + (host[0] ? host : "?") + ")";
}

// The fleet database from --database or --config's fleet.database; empty
// after printing why.
std::string ResolveDsn(const std::string& database, const std::string& config) {
  if (!database.empty()) return database;
  if (config.empty()) {
    fprintf(stderr,
            "hopctl: terminate needs the fleet database: give --database DSN or --config FILE "
            "(with fleet.database)\n");
    return "";
  }
  proxy::ConfigLoad cl = proxy::LoadConfig(config);
  if (!cl.config) {
    fprintf(stderr, "%s", cl.diagnostics.ToString().c_str());
    return "";
  }
  if (cl.config->fleet_database.empty()) {
    fprintf(stderr,
            "hopctl: %s has no fleet.database: terminate needs the fleet database (a single "
            "gateway without one: hopctl lock's local file, or drain)\n",
            config.c_str());
  }
  return cl.config->fleet_database;
}

std::unique_ptr<audit::fleet::Pg> Connect(const std::string& dsn) {
  auto db = audit::fleet::Pg::Connect(dsn);
  if (!db) {
    fprintf(stderr, "hopctl: fleet database: %s\n", Safe(db.message()).c_str());
    return nullptr;
  }
  return std::move(*db);
}

void PrintLive(const std::vector<audit::fleet::LiveSession>& list) {
  std::vector<std::vector<std::string>> rows = {
      {"ID", "NODE", "USER", "SOURCE", "TARGETS", "START", "DURATION"}};
  for (const auto& s : list) {
    rows.push_back({Safe(s.conn), Safe(s.node), Safe(s.user), Safe(s.source), Joined(s.targets),
                    FormatRfc3339(s.started_ms / 1000), HumanDuration(s.duration_ms)});
  }
  PrintTable(rows);
}

struct TerminateArgs {
  std::string session, reason, database, config;
  int wait_s = 5;
};

int RunTerminate(const TerminateArgs& a) {
  if (a.reason.empty()) {
    fprintf(stderr, "hopctl: --reason must not be empty (it is shown to the user and audited)\n");
    return 2;
  }
  std::string dsn = ResolveDsn(a.database, a.config);
  if (dsn.empty()) return 2;
  auto db = Connect(dsn);
  if (!db) return 2;
  auto req = audit::fleet::RequestTermination(*db, a.session, a.reason, Requester());
  if (!req) {
    fprintf(stderr, "hopctl: fleet database: %s\n", Safe(req.message()).c_str());
    return 2;
  }
  if (!req->has_value()) {
    fprintf(stderr,
            "hopctl: no live session %s in the fleet (hopctl sessions --live lists them)\n",
            Safe(a.session).c_str());
    return 1;
  }
  const auto& r = **req;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(a.wait_s);
  while (std::chrono::steady_clock::now() < deadline) {
    auto done = audit::fleet::TerminationDone(*db, r.id, a.session);
    if (!done) {
      fprintf(stderr, "hopctl: fleet database: %s\n", Safe(done.message()).c_str());
      return 2;
    }
    if (*done) {
      printf("session %s on %s terminated\n", Safe(a.session).c_str(), Safe(r.node).c_str());
      return 0;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  printf("session %s on %s: termination requested (request %lld); the replica has not "
         "confirmed within %ds\n",
         Safe(a.session).c_str(), Safe(r.node).c_str(), static_cast<long long>(r.id), a.wait_s);
  return 0;
}

}  // namespace

int RunLiveSessions(const std::string& dsn, const std::string& user, bool json) {
  auto db = Connect(dsn);
  if (!db) return 2;
  auto list = audit::fleet::ListLiveSessions(*db);
  if (!list) {
    fprintf(stderr, "hopctl: fleet database: %s\n", Safe(list.message()).c_str());
    return 2;
  }
  std::vector<audit::fleet::LiveSession> mine;
  for (auto& s : *list) {
    if (user.empty() || s.user == user) mine.push_back(std::move(s));
  }
  if (json) {
    nlohmann::json arr = nlohmann::json::array();
    for (const auto& s : mine) {
      arr.push_back({{"id", s.conn}, {"node", s.node}, {"user", s.user}, {"source", s.source},
                     {"targets", s.targets}, {"start", FormatRfc3339(s.started_ms / 1000)},
                     {"duration_ms", s.duration_ms}});
    }
    printf("%s\n", arr.dump(2, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
    return 0;
  }
  PrintLive(mine);
  return 0;
}

void AddTerminateCommand(CLI::App& app, Commands* out) {
  auto a = std::make_shared<TerminateArgs>();
  CLI::App* t = app.add_subcommand(
      "terminate", "end a live session on whichever replica serves it (the fleet database)");
  t->add_option("SESSION", a->session, "the connection id (c…), as hopctl sessions --live shows it")
      ->required();
  t->add_option("--reason", a->reason, "why (shown to the user and audited)")->required();
  t->add_option("--database", a->database, "the fleet database (postgresql://...)");
  t->add_option("--config", a->config, "a replica's configuration (its fleet.database)");
  t->add_option("--wait", a->wait_s, "seconds to wait for the replica to confirm (default 5)");
  out->push_back({t, [a] { return RunTerminate(*a); }});
}

}  // namespace hopgate::hopctl
