// hopctl sessions / show: find sessions in the audit log (through the SQLite
// index beside it, brought up to date on every call) and print one
// session's whole story.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "audit/fleet/fleet_index.h"
#include "audit/index.h"
#include "audit/timestamps.h"
#include "common/time_util.h"
#include "hopctl/table.h"
#include "hopctl/command.h"
#include "hopctl/live_cmd.h"
#include "hopctl/progress.h"
#include "hopctl/session_story.h"
#include "proxy/config/config.h"

namespace hopgate::hopctl {
namespace {

// Where the log and recordings are, and how to index them.
struct Source {
  std::string config, audit, index, recordings;
  std::string database;  // the fleet database: every replica's sessions
  bool reindex = false;
};

void AddSourceOptions(CLI::App* cmd, Source* src) {
  cmd->add_option("--config", src->config, "the gateway's configuration (names the audit log and recordings)");
  cmd->add_option("--audit", src->audit,
                  "the audit log file, or a directory holding one log (instead of --config)");
  cmd->add_option("--index", src->index,
                  "the index file (default: <audit log>.index.sqlite); with --database, the cache "
                  "directory (default: $XDG_CACHE_HOME/hopgate/fleet/<database>)");
  cmd->add_option("--recordings", src->recordings,
                  "where the recordings are, when moved with the log (default: from --config, or "
                  "recordings/ beside the log)");
  cmd->add_flag("--reindex", src->reindex,
                "rebuild the index from the log and recordings (with --database: the cache)");
  cmd->add_option("--database", src->database,
                  "the fleet database (postgresql://...): sessions of every replica (default: "
                  "fleet.database of --config)");
}

// The fleet database to read, from --database or --config's fleet.database;
// empty for a local log. `*failed` after printing why the config is bad.
std::string FleetDsn(const Source& src, bool* failed) {
  *failed = false;
  if (!src.database.empty()) {
    if (!src.audit.empty()) {
      fprintf(stderr, "hopctl: give --database or --audit, not both\n");
      *failed = true;
    }
    return src.database;
  }
  if (src.config.empty() || !src.audit.empty()) return "";
  proxy::ConfigLoad cl = proxy::LoadConfig(src.config);
  if (!cl.config) {
    fprintf(stderr, "%s", cl.diagnostics.ToString().c_str());
    *failed = true;
    return "";
  }
  return cl.config->fleet_database;
}

// Every replica's events, the cache brought up to date from the fleet
// database; nullptr after printing why. `connection`: only the replicas
// that served it.
std::unique_ptr<audit::fleet::FleetIndex> OpenFleet(const Source& src, const std::string& dsn,
                                                    const std::string& connection = "") {
  audit::fleet::FleetIndexOptions o;
  o.dsn = dsn;
  o.cache_dir = src.index;
  o.recordings_dir = src.recordings;
  o.rebuild = src.reindex;
  o.only_connection = connection;
  o.warn = [](const std::string& w) { fprintf(stderr, "hopctl: warning: %s\n", Safe(w).c_str()); };
  auto fleet = audit::fleet::FleetIndex::Open(o);
  if (!fleet) {
    fprintf(stderr, "hopctl: fleet database: %s\n", Safe(fleet.message()).c_str());
    return nullptr;
  }
  return std::move(*fleet);
}

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Opens the index and brings it up to date; nullptr after printing why.
std::unique_ptr<audit::SessionIndex> OpenIndex(const Source& src) {
  audit::IndexOptions o;
  if (!src.config.empty() && !src.audit.empty()) {
    fprintf(stderr, "hopctl: give --config or --audit, not both\n");
    return nullptr;
  }
  if (!src.config.empty()) {
    proxy::ConfigLoad cl = proxy::LoadConfig(src.config);
    if (!cl.config) {
      fprintf(stderr, "%s", cl.diagnostics.ToString().c_str());
      return nullptr;
    }
    o.log_path = cl.config->audit_log;
    o.recordings_dir = cl.config->recordings_dir;
  } else if (!src.audit.empty()) {
    o.log_path = src.audit;
    struct stat sb;
    if (stat(src.audit.c_str(), &sb) == 0 && S_ISDIR(sb.st_mode)) {
      auto log = audit::LogInDirectory(src.audit);
      if (!log) {
        fprintf(stderr, "hopctl: --audit %s\n", Safe(log.message()).c_str());
        return nullptr;
      }
      o.log_path = *log;
    }
  } else {
    fprintf(stderr, "hopctl: give --config FILE (the gateway's) or --audit PATH (its audit log)\n");
    return nullptr;
  }
  if (!src.recordings.empty()) o.recordings_dir = src.recordings;
  o.index_path = src.index;
  o.warn = [](const std::string& w) { fprintf(stderr, "hopctl: warning: %s\n", Safe(w).c_str()); };
  auto bar = std::make_shared<std::unique_ptr<Progress>>();
  auto phase = std::make_shared<std::string>();
  o.progress = [bar, phase](const char* name, uint64_t done, uint64_t total) {
    if (total < (8u << 20)) return;  // quick: no bar
    if (!*bar || *phase != name) {
      bar->reset();
      *phase = name;
      *bar = std::make_unique<Progress>(std::string("indexing ") + name, total);
    }
    (*bar)->Update(done);
  };
  auto ix = src.reindex ? audit::SessionIndex::Recreate(o) : audit::SessionIndex::Open(o);
  if (!ix) {
    fprintf(stderr, "hopctl: %s%s\n", Safe(ix.message()).c_str(),
            ix.code() == Code::kPermissionDenied ? " (--index FILE keeps the index elsewhere)" : "");
    return nullptr;
  }
  auto stats = (*ix)->Update();
  bar->reset();
  if (!stats) {
    fprintf(stderr, "hopctl: %s\n", Safe(stats.message()).c_str());
    return nullptr;
  }
  return std::move(*ix);
}

std::string Joined(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ",") + Safe(s);
  return out.empty() ? "-" : out;
}

std::string ExitText(const audit::SessionSummary& s) {
  std::vector<std::string> v;
  for (int64_t e : s.exit_statuses) v.push_back(std::to_string(e));
  for (const auto& sig : s.exit_signals) v.push_back("SIG" + sig);
  return Joined(v);
}

std::string StartText(const audit::SessionSummary& s) {
  return s.start_ms ? FormatRfc3339(*s.start_ms / 1000) : "-";
}

std::string DurationText(const audit::SessionSummary& s) {
  if (!s.end_ms) return s.end_reason.empty() ? "open" : "?";
  if (!s.start_ms) return "?";
  return HumanDuration(*s.end_ms - *s.start_ms);
}

// `nodes` (a fleet): each row's replica, in a NODE column after the id.
void PrintSessions(const std::vector<audit::SessionSummary>& list,
                   const std::vector<std::string>* nodes = nullptr) {
  std::vector<std::vector<std::string>> rows = {{"ID", "START", "DURATION", "USER", "SOURCE",
                                                 "TARGETS", "LOGINS", "RECORDED", "UP", "DOWN",
                                                 "EXIT", "END"}};
  if (nodes) rows[0].insert(rows[0].begin() + 1, "NODE");
  for (size_t i = 0; i < list.size(); ++i) {
    const audit::SessionSummary& s = list[i];
    std::string end = s.end_reason.empty() ? (s.end_ms ? "-" : "(open)") : Safe(s.end_reason);
    rows.push_back({Safe(s.id), StartText(s), DurationText(s), s.user.empty() ? "-" : Safe(s.user),
                    s.Source().empty() ? "-" : Safe(s.Source()), Joined(s.targets), Joined(s.logins),
                    s.recorded ? "yes" : "no", HumanBytes(s.bytes_up), HumanBytes(s.bytes_down),
                    ExitText(s), end});
    if (nodes) rows.back().insert(rows.back().begin() + 1, Safe((*nodes)[i]));
  }
  PrintTable(rows);
}

struct SessionsArgs {
  Source src;
  audit::SessionFilter filter;
  std::string since, until, grep;
  bool json = false;
  bool live = false;
  size_t limit = 0;
};

// sessions --live without a fleet database: this gateway's sessions still
// open in its audit log (no connection_close yet).
int RunLocalLive(const SessionsArgs& a) {
  auto ix = OpenIndex(a.src);
  if (!ix) return 2;
  auto list = ix->Sessions(a.filter);
  if (!list) {
    fprintf(stderr, "hopctl: %s\n", Safe(list.message()).c_str());
    return 2;
  }
  std::vector<audit::SessionSummary> open;
  for (auto& s : *list) {
    if (!s.end_ms && s.end_reason.empty()) open.push_back(std::move(s));
  }
  if (a.json) {
    nlohmann::json arr = nlohmann::json::array();
    for (const auto& s : open) arr.push_back(s.ToJson());
    printf("%s\n", arr.dump(2, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
  } else {
    PrintSessions(open);
  }
  return 0;
}

// --grep over one index, or over every replica's (a fleet): one listing.
int RunGrep(const std::vector<audit::SessionIndex*>& indexes, const SessionsArgs& a) {
  size_t n = 0;
  if (a.json) printf("[");
  for (audit::SessionIndex* ix : indexes) {
    size_t limit = a.limit == 0 ? 0 : a.limit - std::min(a.limit, n);
    if (a.limit != 0 && limit == 0) break;
    Status st = ix->Grep(a.grep, a.filter, limit, [&](const audit::TextMatch& m) {
      if (a.json) {
        printf("%s\n  %s", n == 0 ? "" : ",", m.ToJson().dump(-1, ' ', false,
                                                              nlohmann::json::error_handler_t::replace).c_str());
      } else {
        printf("%s +%.3fs %s: %s\n", Safe(m.part).c_str(), m.offset, m.kind.c_str(), Safe(m.text).c_str());
      }
      ++n;
    });
    if (!st) {
      if (a.json) printf("]\n");
      fprintf(stderr, "hopctl: %s\n", Safe(st.message()).c_str());
      return 2;
    }
  }
  if (a.json) printf(n == 0 ? "]\n" : "\n]\n");
  return n > 0 ? 0 : 1;
}

// sessions --database: every replica's sessions, each with its node.
int RunFleetSessions(const std::string& dsn, const SessionsArgs& a) {
  auto fleet = OpenFleet(a.src, dsn);
  if (!fleet) return 2;
  if (!a.grep.empty()) {
    std::vector<audit::SessionIndex*> indexes;
    for (auto& r : fleet->replicas()) indexes.push_back(r.index.get());
    return RunGrep(indexes, a);
  }
  auto rows = fleet->Sessions(a.filter);
  if (!rows) {
    fprintf(stderr, "hopctl: fleet database: %s\n", Safe(rows.message()).c_str());
    return 2;
  }
  if (a.json) {
    nlohmann::json arr = nlohmann::json::array();
    for (const auto& r : *rows) {
      nlohmann::json j = r.session.ToJson();
      j["node"] = r.node;
      arr.push_back(std::move(j));
    }
    printf("%s\n", arr.dump(2, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
    return 0;
  }
  std::vector<audit::SessionSummary> list;
  std::vector<std::string> nodes;
  for (auto& r : *rows) {
    list.push_back(std::move(r.session));
    nodes.push_back(r.node);
  }
  PrintSessions(list, &nodes);
  return 0;
}

int RunSessions(SessionsArgs a) {
  int64_t now = NowMs();
  for (auto [text, out] : {std::pair{&a.since, &a.filter.since_ms}, std::pair{&a.until, &a.filter.until_ms}}) {
    if (text->empty()) continue;
    auto t = audit::ParseTimeArg(*text, now);
    if (!t) {
      fprintf(stderr, "hopctl: %s\n", t.message().c_str());
      return 2;
    }
    *out = *t;
  }
  if (Status st = a.filter.Check(); !st) {
    fprintf(stderr, "hopctl: %s\n", st.message().c_str());
    return 2;
  }
  bool bad_config = false;
  std::string dsn = FleetDsn(a.src, &bad_config);
  if (bad_config) return 2;
  if (a.live && !a.grep.empty()) {
    fprintf(stderr, "hopctl: --live lists open sessions; --grep searches recordings: not both\n");
    return 2;
  }
  if (a.live) return dsn.empty() ? RunLocalLive(a) : RunLiveSessions(dsn, a.filter.user, a.json);
  if (!dsn.empty()) return RunFleetSessions(dsn, a);
  auto ix = OpenIndex(a.src);
  if (!ix) return 2;
  if (!a.grep.empty()) return RunGrep({ix.get()}, a);
  auto list = ix->Sessions(a.filter);
  if (!list) {
    fprintf(stderr, "hopctl: %s\n", Safe(list.message()).c_str());
    return 2;
  }
  if (a.json) {
    nlohmann::json arr = nlohmann::json::array();
    for (const auto& s : *list) arr.push_back(s.ToJson());
    printf("%s\n", arr.dump(2, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
  } else {
    PrintSessions(*list);
  }
  return 0;
}

int ShowFrom(audit::SessionIndex* ix, const std::string& id, bool json, const std::string& node);

int RunShow(const Source& src, const std::string& id, bool json) {
  bool bad_config = false;
  std::string dsn = FleetDsn(src, &bad_config);
  if (bad_config) return 2;
  if (dsn.empty()) {
    auto ix = OpenIndex(src);
    if (!ix) return 2;
    return ShowFrom(ix.get(), id, json, "");
  }
  auto fleet = OpenFleet(src, dsn, ParseScope(id).connection);
  if (!fleet) return 2;
  if (fleet->replicas().empty()) {
    fprintf(stderr, "hopctl: no session %s in the fleet database\n", Safe(id).c_str());
    return 1;
  }
  auto& replica = fleet->replicas().front();
  return ShowFrom(replica.index.get(), id, json, replica.node);
}

// One session's story from `ix`; `node`: the replica that served it (fleet).
int ShowFrom(audit::SessionIndex* ix, const std::string& id, bool json, const std::string& node) {
  StoryScope scope = ParseScope(id);
  auto summary = ix->Session(scope.connection);
  if (!summary) {
    fprintf(stderr, "hopctl: %s\n", Safe(summary.message()).c_str());
    return 2;
  }
  if (!summary->has_value()) {
    fprintf(stderr, "hopctl: no session %s in the audit log\n", Safe(id).c_str());
    return 1;
  }
  auto events = ix->Events(scope.connection);
  auto recordings = ix->Recordings(scope.connection);
  if (!events || !recordings) {
    fprintf(stderr, "hopctl: %s\n", Safe(!events ? events.message() : recordings.message()).c_str());
    return 2;
  }
  std::vector<nlohmann::json> mine;
  for (auto& e : *events) {
    if (InScope(scope, e)) mine.push_back(std::move(e));
  }
  // c…-N names channel N: a recorded session, or a channel relayed end to end.
  auto names_part = [&](const nlohmann::json& e) {
    if (Field(e, "type") != "channel_open") return Field(e, "session") == scope.session;
    return e.contains("channel") && scope.connection + "-" + e["channel"].dump() == scope.session;
  };
  if (!scope.session.empty() && std::none_of(mine.begin(), mine.end(), names_part)) {
    fprintf(stderr, "hopctl: no session %s in the audit log\n", Safe(id).c_str());
    return 1;
  }
  if (json) {
    nlohmann::json out;
    out["session"] = (*summary)->ToJson();
    if (!node.empty()) out["node"] = node;
    out["events"] = mine;
    out["recordings"] = nlohmann::json::array();
    for (const auto& r : *recordings) {
      out["recordings"].push_back({{"part", r.part}, {"path", r.path}, {"sha256", r.sha256},
                                   {"size", r.size ? nlohmann::json(*r.size) : nlohmann::json(nullptr)},
                                   {"closed", r.closed}, {"indexed_lines", r.indexed_lines}});
    }
    printf("%s\n", out.dump(2, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
    return 0;
  }
  if (!node.empty()) printf("node: %s\n", Safe(node).c_str());
  for (const auto& line : TellStory(**summary, mine, *recordings)) printf("%s\n", line.c_str());
  return 0;
}

}  // namespace

void AddSessionCommands(CLI::App& app, Commands* out) {
  auto a = std::make_shared<SessionsArgs>();
  CLI::App* s = app.add_subcommand("sessions", "list sessions from the audit log, or search what recorded terminals showed");
  s->add_option("--user", a->filter.user, "only this gateway user's sessions");
  s->add_option("--target", a->filter.target, "only sessions that opened this destination (db1:22) or host (db1), as requested");
  s->add_option("--from", a->filter.from, "only sessions from this address, address:port or CIDR block");
  s->add_option("--since", a->since, "only sessions active at or after TIME (RFC 3339, 2026-11-29, or 2h / 3d ago)");
  s->add_option("--until", a->until, "only sessions active at or before TIME");
  s->add_flag("--recorded", a->filter.recorded_only, "only recorded sessions");
  s->add_option("--grep", a->grep, "print the recorded lines (terminal output, typed input, exec commands) containing TEXT");
  s->add_option("--limit", a->limit, "--grep: at most N lines");
  s->add_flag("--json", a->json, "JSON output");
  s->add_flag("--live", a->live,
              "only sessions open right now: on every replica (with --database or --config's "
              "fleet.database), else this gateway's open ones in its audit log");
  AddSourceOptions(s, &a->src);
  out->push_back({s, [a] { return RunSessions(*a); }});

  auto src = std::make_shared<Source>();
  auto id = std::make_shared<std::string>();
  auto json = std::make_shared<bool>(false);
  CLI::App* show = app.add_subcommand("show", "print one session's whole story, in time order");
  show->add_option("SESSION", *id, "a connection id (c…), or c…-N for one recorded session in it")->required();
  show->add_flag("--json", *json, "JSON output: the session, its events and recordings");
  AddSourceOptions(show, src.get());
  out->push_back({show, [src, id, json] { return RunShow(*src, *id, *json); }});
}

}  // namespace hopgate::hopctl
