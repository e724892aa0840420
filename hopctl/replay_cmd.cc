// hopctl replay: play a recorded session in the terminal, checked against
// the audit log first. A SESSION is found in the log (--config or --audit);
// its channels are played in order, each after a one-line separator; a
// FILE.cast is played as it is, and checked too when a log is given and
// names it. The keys and timing are the player's (replay_player.h), the
// checks the sources' (replay_source.h). Exit: 0 played (or quit), 1 a
// recording refused or damaged, 2 usage, an unknown session or an unreadable
// log; 128+N after signal N.
#include <sys/stat.h>

#include <cmath>
#include <cstdio>
#include <ctime>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "audit/cast_reader.h"
#include "common/strings.h"
#include "hopctl/command.h"
#include "hopctl/replay_fleet.h"
#include "hopctl/replay_log.h"
#include "hopctl/replay_options.h"
#include "hopctl/replay_player.h"
#include "hopctl/replay_source.h"
#include "hopctl/replay_terminal.h"
#include "hopctl/replay_text.h"

namespace hopgate::hopctl {
namespace {

// Says `message` on standard error, one "hopctl replay: " line per line of
// it, escaped: messages quote paths and text from the log and recordings.
void Say(const std::string& message, const char* kind = "") {
  for (const std::string& line : Split(message, '\n')) {
    fprintf(stderr, "hopctl replay: %s%s\n", kind, ForTerminal(line).c_str());
  }
}

// The size of the file at `path` (0 if it cannot be read).
uint64_t FileSize(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
}

// After the verified prefix of a recording the log never closed: what was
// played and what was not.
std::string PrefixNote(const ReplayChannel& c, const std::string& path) {
  uint64_t size = FileSize(path);
  std::string s = path + ": not closed in the audit log (the session is still running, or the "
                         "gateway stopped before closing it): played the first " +
                  std::to_string(c.progress_bytes) + " bytes, which its recording_progress (" +
                  c.progress_where + ") vouches for";
  if (size > c.progress_bytes) {
    s += "; the " + std::to_string(size - c.progress_bytes) +
         " bytes after them are not verified and were not played (--no-verify plays them, "
         "--follow follows a live session)";
  }
  return s;
}


// A channel whose recording failed and whose close vouches for no bytes:
// there is nothing to play (a recording that failed part-way still has the
// digest of what reached the file, and plays).
bool RecordingFailed(const ReplayChannel& c) {
  return !c.failed.empty() && c.closed && !c.has_digest;
}

class Replay {
 public:
  Replay(const ReplayOptions& o, double from) : o_(o), from_(from) {}
  int PlayFile(const std::optional<LogPaths>& paths);
  int PlaySession(const SessionSelector& sel, const LogPaths& paths);
  // --database: the session's events are `fleet`'s, its recordings where
  // the replica wrote them (or under --recordings).
  void set_fleet(const FleetSessionLog* fleet) { fleet_ = fleet; }

 private:
  Status Check(const ReplayChannel& c, std::string* banner);
  Status CheckFile(const LogPaths& paths, std::optional<FileSource::Expect>* expect,
                   std::string* banner, std::string* after);
  int PlayRecording(const ReplayChannel& c, const std::string& title, std::string* error);
  void Start();
  int PlayChannel(const ReplayChannel& c, size_t index, size_t total, std::string* error);
  int PlaySftp(const ReplayChannel& c, std::string* error);
  int PlayLive(const ReplayChannel& c, std::string* error);
  int Finish(int outcome, const std::string& error);
  int OutcomeCode(Player::Outcome o, const std::string& what, std::string* error);
  Result<std::string> LivePath(const ReplayChannel& c, int* stop_code, std::string* error);
  void Separator(const std::string& text, const audit::CastInfo* h);
  void Note(const std::string& text);
  void Tell(const std::string& message, const char* kind = "");
  Status Locate(ReplayChannel* c) const;

  const ReplayOptions& o_;
  double from_;
  std::unique_ptr<ReplayLog> log_;
  std::string recordings_;
  std::unique_ptr<Terminal> term_;
  std::unique_ptr<Player> player_;
  bool first_separator_ = true;
  std::vector<std::string> banners_;  // per channel index, for --no-verify
  bool verified_ = true;              // the channel being played was checked
  const FleetSessionLog* fleet_ = nullptr;
};

// Say(), with a fleet's temporary log named as the events it holds.
void Replay::Tell(const std::string& message, const char* kind) {
  Say(fleet_ != nullptr ? fleet_->Describe(message) : message, kind);
}

// A fleet's recording: where it can be read from here (the path the replica
// logged, or its copy under --recordings), or where it is if not here.
Status Replay::Locate(ReplayChannel* c) const {
  if (fleet_ == nullptr || c->IsSftp() || RecordingFailed(*c)) return Status::Ok();
  std::string* path = c->closed || c->progress_path.empty() ? &c->recording : &c->progress_path;
  if (path->empty()) return Status::Ok();  // not named in the log yet
  auto found = LocateRecording(c->Id(), fleet_->node(), *path, o_.recordings);
  if (!found) return found.error();
  *path = *found;
  return Status::Ok();
}

void Replay::Separator(const std::string& text, const audit::CastInfo* h) {
  std::string line = "=== " + text;
  if (h != nullptr && term_->output_is_terminal() &&
      (h->width > term_->Columns() || h->height > term_->Rows())) {
    line += " | recorded at " + std::to_string(h->width) + "x" + std::to_string(h->height) +
            ", this terminal is " + std::to_string(term_->Columns()) + "x" +
            std::to_string(term_->Rows());
  }
  line += " ===";
  std::string out = first_separator_ ? "" : "\x1b[0m\r\n";
  first_separator_ = false;
  if (term_->output_is_terminal()) {
    out += "\x1b[0;7m" + Fit(line, static_cast<size_t>(term_->Columns()) - 1) + "\x1b[0m\r\n";
  } else {
    out += line + "\n";
  }
  player_->Show(out);
}

void Replay::Note(const std::string& text) {
  player_->Show((term_->output_is_terminal() ? "\x1b[0m\r\n[" : "\n[") + ForTerminal(text) +
                (term_->output_is_terminal() ? "]\r\n" : "]\n"));
}

void Replay::Start() {
  term_ = std::make_unique<Terminal>();
  PlayerOptions po;
  po.speed = o_.speed;
  po.idle_limit = o_.idle_limit;
  po.from = from_;
  player_ = std::make_unique<Player>(*term_, po);
}

int Replay::OutcomeCode(Player::Outcome o, const std::string& what, std::string* error) {
  switch (o) {
    case Player::Outcome::kFinished: return -1;  // go on
    case Player::Outcome::kQuit: return kExitOk;
    case Player::Outcome::kStopped: return 128 + player_->stop_signal();
    case Player::Outcome::kFailed:
      *error = player_->error().empty() ? what + ": playback failed" : player_->error();
      return kExitRefused;
  }
  return kExitRefused;
}

// Gives the terminal back before anything is said on it.
int Replay::Finish(int code, const std::string& error) {
  player_.reset();
  term_.reset();
  if (!error.empty()) Tell(error);
  return code;
}

// Verification of one channel before it plays: OK, or refused (the error),
// or with --no-verify the reason kept for its banner.
Status Replay::Check(const ReplayChannel& c, std::string* banner) {
  banner->clear();
  // SFTP: file operations, from the log itself. A recording that could not
  // be made: nothing to check, the separator says so.
  if (c.IsSftp() || RecordingFailed(c)) return Status::Ok();
  Status s;
  if (c.closed) {
    s = VerifyRecording(c);
  } else if (c.has_progress) {
    // Not closed (live, or the gateway died): the prefix the log vouches for.
    s = VerifyPrefix(c.progress_path, c.progress_bytes, c.progress_sha256, c.progress_where);
    if (s.ok() && o_.no_verify && !o_.follow) {
      // --no-verify plays it all: what follows the prefix is not vouched for.
      *banner = "NOT VERIFIED: " + c.Id() + " after its first " +
                std::to_string(c.progress_bytes) + " bytes (--no-verify)";
    }
  } else if (!o_.follow) {
    s = MakeError(Code::kFailedPrecondition,
                  c.Id() + ": no session_close in the audit log (the session is still running, "
                           "or the gateway stopped before closing it), and no recording_progress "
                           "vouching for a part of it: nothing of it can be checked (--follow "
                           "plays a live session; --no-verify plays it as written)");
  }
  if (s.ok() || !o_.no_verify) return s;
  *banner = "NOT VERIFIED: " + c.Id() + " " +
            (s.code() == Code::kDataLoss ? "does not match the audit log"
             : s.code() == Code::kFailedPrecondition ? "is not closed in the audit log"
                                                     : "could not be checked") +
            " (--no-verify)";
  Tell(s.message() + " (played anyway: --no-verify)", "warning: ");
  return Status::Ok();
}

// A FILE.cast checked against the log that names it: the size and digest
// to play it against (none: not named, or --no-verify), the banner, and the
// note to show after it (a prefix of a recording the log never closed).
Status Replay::CheckFile(const LogPaths& paths, std::optional<FileSource::Expect>* expect,
                         std::string* banner, std::string* after) {
  log_ = std::make_unique<ReplayLog>(paths.log, o_.target);
  if (Status s = log_->Refresh(); !s.ok()) return s;
  for (const auto& w : log_->TakeWarnings()) Say(w, "warning: ");
  if (log_->channels().empty()) {
    Say(o_.target + " is not named in the audit log " + paths.log + ": not checked", "note: ");
    return Status::Ok();
  }
  ReplayChannel here = log_->channels()[0];
  here.recording = o_.target;  // the file given, wherever the log saw it
  if (!here.closed) here.progress_path = o_.target;
  if (Status s = Check(here, banner); !s.ok()) {
    return MakeError(Code::kDataLoss, s.message() + "\nrefusing to play it (--no-verify plays it "
                                                    "anyway)");
  }
  if (!banner->empty()) return Status::Ok();
  if (here.closed) {
    *expect = FileSource::Expect{here.size, here.sha256};
  } else if (here.has_progress && !o_.follow) {
    *expect = FileSource::Expect{here.progress_bytes, here.progress_sha256};
    *after = PrefixNote(here, o_.target);
  }
  return Status::Ok();
}

int Replay::PlayFile(const std::optional<LogPaths>& paths) {
  std::optional<FileSource::Expect> expect;
  std::string banner, after, error;
  if (paths) {
    if (Status s = CheckFile(*paths, &expect, &banner, &after); !s.ok()) {
      return Finish(s.code() == Code::kDataLoss ? kExitRefused : kExitUsage, s.message());
    }
  }
  if (!o_.follow && !expect && !o_.no_verify) {
    // Not vouched for by the log: at least every line must be well formed
    // before anything plays (a damaged line is named, FILE:LINE:COLUMN).
    if (auto scan = audit::ScanCast(o_.target); !scan) {
      return Finish(scan.code() == Code::kInvalidArgument ? kExitRefused : kExitUsage,
                    scan.message());
    }
  }
  std::unique_ptr<EventSource> source;
  std::string header_text;
  if (o_.follow && !expect) {
    auto live = LiveSource::Open(o_.target, nullptr, "", 0, from_ == 0);
    if (!live) return Finish(kExitUsage, live.message());
    source = std::move(*live);
  } else {
    auto file = FileSource::Open(o_.target, expect);
    if (!file) return Finish(kExitUsage, file.message());
    if (Status s = (*file)->ReadHeader(); !s.ok()) return Finish(kExitRefused, s.message());
    header_text = DescribeFile(o_.target, *(*file)->header());
    source = std::move(*file);
  }
  if (!paths) {
    Say(o_.target + ": not checked against an audit log (give --config or --audit)", "note: ");
  }
  Start();
  player_->set_banner(banner);
  if (!header_text.empty()) Separator(header_text, source->header());
  int code = OutcomeCode(player_->Play(*source), o_.target, &error);
  if (auto* f = dynamic_cast<FileSource*>(source.get()); f && !f->note().empty()) Note(f->note());
  if (code < 0 && !after.empty()) Note(after);
  return Finish(code < 0 ? kExitOk : code, error);
}

// Where a live channel's recording is; *stop_code >= 0 if the viewer left
// while it was looked for.
Result<std::string> Replay::LivePath(const ReplayChannel& c, int* stop_code, std::string* error) {
  if (!c.recording.empty()) return c.recording;
  if (!c.progress_path.empty()) return c.progress_path;
  // Not named in the log yet: where the gateway puts it, under the UTC date
  // the channel started (or the day before or after, around midnight).
  int64_t deadline = NowMs() + 3000;
  while (true) {
    for (int64_t day : {0, -1, 1}) {
      time_t t = static_cast<time_t>(c.start_ms / 1000 + day * 86400);
      struct tm tm;
      char date[32];
      if (gmtime_r(&t, &tm) == nullptr || strftime(date, sizeof date, "%Y/%m/%d", &tm) == 0) {
        continue;
      }
      std::string path = recordings_ + "/" + date + "/" + c.Id() + ".cast";
      if (IsRegularFile(path)) return path;
    }
    if (NowMs() > deadline) break;
    if (auto o = player_->Idle(100, -1)) {
      *stop_code = OutcomeCode(*o, c.Id(), error);
      return MakeError(Code::kFailedPrecondition, "stopped");
    }
  }
  return MakeError(Code::kNotFound, c.Id() + ": its recording is not under " + recordings_ +
                                        " (give --config, or --audit with the recordings "
                                        "beside the log)");
}

int Replay::PlayLive(const ReplayChannel& c, std::string* error) {
  int stop = -1;
  auto path = LivePath(c, &stop, error);
  if (stop >= 0) return stop;
  if (!path) {
    *error = path.message();
    return kExitRefused;
  }
  auto live = LiveSource::Open(*path, log_.get(), c.session, c.channel, from_ == 0);
  if (!live) {
    *error = live.message();
    return kExitRefused;
  }
  int code = OutcomeCode(player_->Play(**live), c.Id(), error);
  if (code >= 0) return code;
  if (!(*live)->note().empty()) Note((*live)->note());
  return -1;
}

int Replay::PlaySftp(const ReplayChannel& first, std::string* error) {
  // File operations come from the log; a live channel's as they arrive.
  size_t shown = 0;
  const ReplayChannel* c = &first;
  while (true) {
    for (; shown < c->sftp_ops.size(); ++shown) {
      const SftpOpLine& op = c->sftp_ops[shown];
      char offset[32];
      snprintf(offset, sizeof offset, "%+7.1fs ",
               static_cast<double>(op.time_ms - c->start_ms) / 1000.0);
      player_->Show(std::string("  ") + offset + ForTerminal(op.text) +
                    (term_->output_is_terminal() ? "\r\n" : "\n"));
    }
    if (c->closed || !o_.follow || log_->ended()) return -1;
    if (auto o = player_->Idle(200, -1)) return OutcomeCode(*o, first.Id(), error);
    if (Status s = log_->Refresh(); !s.ok()) {
      *error = s.message();
      return kExitUsage;
    }
    c = log_->Find(first.session, first.channel);
    if (c == nullptr) return -1;
  }
}

int Replay::PlayChannel(const ReplayChannel& c, size_t index, size_t total, std::string* error) {
  std::string title = "[" + std::to_string(index + 1) +
                      (total > 0 ? "/" + std::to_string(total) : std::string()) + "] " +
                      Describe(c);
  if (c.IsSftp()) {
    Separator(title, nullptr);
    return PlaySftp(c, error);
  }
  if (RecordingFailed(c)) {
    Separator(title, nullptr);
    Note(c.Id() + ": recording failed: " + c.failed);
    return -1;
  }
  player_->set_banner(index < banners_.size() ? banners_[index] : std::string());
  if (!c.closed && o_.follow) {
    Separator(title + " | live", nullptr);
    return PlayLive(c, error);
  }
  verified_ = index >= banners_.size() || banners_[index].empty();
  return PlayRecording(c, title, error);
}

// A recording from its file: a closed one up to the size its close gives,
// one the log never closed up to the prefix its recording_progress vouches
// for (with a note saying so), either one as written with --no-verify.
int Replay::PlayRecording(const ReplayChannel& c, const std::string& title, std::string* error) {
  std::optional<FileSource::Expect> expect;
  std::string path = c.closed || c.progress_path.empty() ? c.recording : c.progress_path;
  std::string after, suffix;
  if (c.closed && c.has_digest && verified_) {
    expect = FileSource::Expect{c.size, c.sha256};
  } else if (!c.closed) {
    suffix = " | not closed in the audit log";
    if (c.has_progress && verified_) {
      expect = FileSource::Expect{c.progress_bytes, c.progress_sha256};
      after = PrefixNote(c, path);
    }
  }
  if (path.empty()) {  // --no-verify on a channel the log names no file for yet
    int stop = -1;
    auto live = LivePath(c, &stop, error);
    if (stop >= 0) return stop;
    if (!live) {
      *error = live.message();
      return kExitRefused;
    }
    path = *live;
  }
  auto file = FileSource::Open(path, expect);
  if (!file) {
    *error = file.message();
    return kExitRefused;
  }
  if (Status s = (*file)->ReadHeader(); !s.ok()) {
    *error = s.message();
    return kExitRefused;
  }
  Separator(title + suffix, (*file)->header());
  if (o_.follow && from_ == 0) (*file)->ShowAtOnce();
  int code = OutcomeCode(player_->Play(**file), c.Id(), error);
  if (code >= 0) return code;
  if (!(*file)->note().empty()) Note((*file)->note());
  if (!after.empty()) Note(after);
  return -1;
}

int Replay::PlaySession(const SessionSelector& sel, const LogPaths& paths) {
  recordings_ = paths.recordings;
  log_ = std::make_unique<ReplayLog>(paths.log, sel);
  if (Status s = log_->Refresh(); !s.ok()) return Finish(kExitUsage, s.message());
  for (const auto& w : log_->TakeWarnings()) Tell(w, "warning: ");
  if (!log_->found()) {
    return Finish(kExitUsage, "no session " + sel.ToString() + " in the audit log " + paths.log);
  }
  if (log_->channels().empty() && !o_.follow) {
    return Finish(kExitRefused, "session " + sel.ToString() +
                                    " has no recorded channel (shell, exec or subsystem) in " +
                                    paths.log);
  }
  std::vector<std::string> refused;
  for (ReplayChannel c : log_->channels()) {
    banners_.emplace_back();
    if (Status s = Locate(&c); !s.ok()) return Finish(kExitRefused, s.message());
    if (Status s = Check(c, &banners_.back()); !s.ok()) refused.push_back(s.message());
  }
  if (!refused.empty()) {
    for (size_t i = 0; i + 1 < refused.size(); ++i) Tell(refused[i]);
    return Finish(kExitRefused, refused.back() + "\nrefusing to play " +
                                    sel.ToString() + " (--no-verify plays it anyway)");
  }
  std::string error;
  Start();
  size_t total = o_.follow ? 0 : log_->channels().size();
  size_t next = 0;
  bool waiting_said = false;
  while (true) {
    if (next < log_->channels().size()) {
      ReplayChannel c = log_->channels()[next];
      if (Status s = Locate(&c); !s.ok()) return Finish(kExitRefused, s.message());
      if (next >= banners_.size()) {  // appeared while following
        banners_.emplace_back();
        if (Status s = Check(c, &banners_.back()); !s.ok()) return Finish(kExitRefused, s.message());
      }
      int code = PlayChannel(c, next++, total, &error);
      if (code >= 0) return Finish(code, error);
      continue;
    }
    if (!o_.follow || log_->ended()) break;
    if (!waiting_said && next == 0) {
      Note("waiting for " + sel.ToString() + " to start a recorded channel (q quits)");
      waiting_said = true;
    }
    if (auto o = player_->Idle(200, -1)) return Finish(OutcomeCode(*o, sel.ToString(), &error), error);
    if (Status s = log_->Refresh(); !s.ok()) return Finish(kExitUsage, s.message());
  }
  if (o_.follow) Note(sel.ToString() + ": " + log_->ended_because());
  return Finish(kExitOk, error);
}

int PlayTarget(const ReplayOptions& o, double from, const std::optional<LogPaths>& paths);

// --database: a session of any replica, from the fleet database's events.
int ReplayFromFleet(const ReplayOptions& o, double from) {
  if (!o.config.empty() || !o.audit.empty() || o.follow || o.last) {
    fprintf(stderr, "hopctl replay: --database replays a finished session by its id: give it "
                    "without --config, --audit, --follow or --last (those read a replica's own "
                    "log)\n");
    return kExitUsage;
  }
  auto sel = ParseSessionId(o.target);
  if (!sel) {
    Say(sel.message() + " (--database takes a session id, not a file)");
    return kExitUsage;
  }
  auto fleet = FleetSessionLog::Fetch(o.database, sel->connection);
  if (!fleet) {
    Say((fleet.code() == Code::kNotFound ? "" : "fleet database: ") + fleet.message());
    return kExitUsage;
  }
  Replay replay(o, from);
  replay.set_fleet(fleet->get());
  return replay.PlaySession(*sel, LogPaths{(*fleet)->log_path(), o.recordings});
}

int RunReplay(const ReplayOptions& o) {
  if (!(o.speed >= 1.0 / 64 && o.speed <= 64)) {
    fprintf(stderr, "hopctl replay: --speed must be between 0.015625 and 64\n");
    return kExitUsage;
  }
  if (o.idle_limit && !(*o.idle_limit >= 0 && std::isfinite(*o.idle_limit))) {
    fprintf(stderr, "hopctl replay: --idle-limit must be 0 or more seconds\n");
    return kExitUsage;
  }
  double from = 0;
  if (!o.from.empty()) {
    auto f = ParseOffset(o.from);
    if (!f) {
      Say(f.message());
      return kExitUsage;
    }
    from = *f;
  }
  if (!o.database.empty()) return ReplayFromFleet(o, from);
  if (!o.recordings.empty()) {
    fprintf(stderr, "hopctl replay: --recordings goes with --database (a fleet's recordings)\n");
    return kExitUsage;
  }
  auto paths = FindLog(o);
  if (!paths) {
    Say(paths.message());
    return kExitUsage;
  }
  ReplayOptions chosen = o;
  if (o.last) {
    if (!*paths) {
      Say("--last needs the audit log: give --config FILE or --audit PATH");
      return kExitUsage;
    }
    auto id = LastRecordedSession((*paths)->log);
    if (!id) {
      Say(id.message());
      return 1;
    }
    chosen.target = *id;
  } else if (o.target.empty()) {
    Say("give SESSION, FILE.cast or --last");
    return kExitUsage;
  }
  return PlayTarget(chosen, from, *paths);
}

int PlayTarget(const ReplayOptions& o, double from, const std::optional<LogPaths>& paths) {
  Replay replay(o, from);
  bool looks_like_file = IsRegularFile(o.target) || o.target.find('/') != std::string::npos ||
                         (o.target.size() > 5 && o.target.compare(o.target.size() - 5, 5, ".cast") == 0);
  if (looks_like_file) return replay.PlayFile(paths);
  auto sel = ParseSessionId(o.target);
  if (!sel) {
    Say(sel.message());
    return kExitUsage;
  }
  if (!paths) {
    fprintf(stderr,
            "hopctl replay: a session id needs the audit log: give --config FILE or --audit PATH\n");
    return kExitUsage;
  }
  return replay.PlaySession(*sel, *paths);
}

}  // namespace

void AddReplayCommand(CLI::App& app, Commands* out) {
  auto o = std::make_shared<ReplayOptions>();
  CLI::App* cmd = app.add_subcommand(
      "replay",
      "play a recorded session in the terminal (space pause, +/- speed, . step, q quit), "
      "checked against the audit log first");
  auto* target =
      cmd->add_option("target", o->target, "SESSION (c<hex>, c<hex>-N, c<hex>-N-M) or FILE.cast");
  cmd->add_flag("--last", o->last, "the newest recorded session in the audit log")
      ->excludes(target);
  cmd->add_option("--speed", o->speed, "playback speed factor (default 1)");
  cmd->add_option_function<double>(
      "--idle-limit", [o](double v) { o->idle_limit = v; }, "cap every pause at SECONDS");
  cmd->add_option("--from", o->from, "start at this offset: seconds, or mm:ss");
  cmd->add_flag("--follow", o->follow, "play a live session as it is written, until it ends");
  cmd->add_flag("--no-verify", o->no_verify,
                "play recordings that do not match the audit log, with a warning on screen");
  auto* config = cmd->add_option("--config", o->config, "hopgate configuration (finds the log)");
  auto* audit = cmd->add_option("--audit", o->audit, "the audit log file (or its directory)");
  config->excludes(audit);
  cmd->add_option("--database", o->database,
                  "the fleet database (postgresql://...): replay a session of any replica");
  cmd->add_option("--recordings", o->recordings,
                  "with --database: a directory holding the replicas' recordings (YYYY/MM/DD/"
                  "NAME.cast or NAME.cast), when they are not at the paths the replicas logged");
  out->push_back({cmd, [o] { return RunReplay(*o); }});
}

}  // namespace hopgate::hopctl
