// hopctl replay: play a recorded session in the terminal, checked against
// the audit log first. A SESSION is found in the log (--config or --audit);
// its channels are played in order, each after a one-line separator; a
// FILE.cast is played as it is, and checked too when a log is given and
// names it. The keys and timing are the player's (replay_player.h), the
// checks the sources' (replay_source.h). Exit: 0 played (or quit), 1 a
// recording refused or damaged, 2 usage, an unknown session or an unreadable
// log; 128+N after signal N.
#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "audit/cast_reader.h"
#include "common/strings.h"
#include "common/time_util.h"
#include "hopctl/command.h"
#include "hopctl/replay_log.h"
#include "hopctl/replay_player.h"
#include "hopctl/replay_source.h"
#include "hopctl/replay_terminal.h"
#include "proxy/config/config.h"

namespace hopgate::hopctl {
namespace {

struct ReplayOptions {
  std::string target;  // SESSION or FILE.cast
  double speed = 1;
  std::optional<double> idle_limit;
  std::string from;
  bool follow = false;
  bool no_verify = false;
  std::string config, audit;
};

struct LogPaths {
  std::string log, recordings;
};

std::string DirName(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

bool IsRegularFile(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

// "90", "90.5", "1:30", "1:02:03" -> seconds.
Result<double> ParseOffset(const std::string& text) {
  auto bad = [&] {
    return MakeError(Code::kInvalidArgument,
                     "--from " + Quote(EscapeControl(text)) + ": give seconds (90) or mm:ss (1:30)");
  };
  std::vector<std::string> parts = Split(text, ':');
  if (text.empty() || parts.size() > 3) return bad();
  double total = 0;
  for (size_t i = 0; i < parts.size(); ++i) {
    const std::string& p = parts[i];
    if (p.empty() || p.size() > 12 || p.find_first_not_of("0123456789.") != std::string::npos ||
        std::count(p.begin(), p.end(), '.') > (i + 1 == parts.size() ? 1 : 0)) {
      return bad();
    }
    double v = std::stod(p);
    if (i > 0 && v >= 60) return bad();
    total = total * 60 + v;
  }
  return total;
}

// The audit log (and recordings directory) from --config or --audit.
Result<std::optional<LogPaths>> FindLog(const ReplayOptions& o) {
  if (!o.config.empty()) {
    proxy::ConfigLoad cl = proxy::LoadConfig(o.config);
    if (!cl.config) return MakeError(Code::kInvalidArgument, cl.diagnostics.ToString());
    return std::optional<LogPaths>(LogPaths{cl.config->audit_log, cl.config->recordings_dir});
  }
  if (o.audit.empty()) return std::optional<LogPaths>();
  std::string log = o.audit;
  struct stat st;
  if (stat(log.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
    // A directory: the one current log in it (not a rotated <stem>.<seq>.jsonl).
    std::vector<std::string> found;
    if (DIR* d = opendir(log.c_str())) {
      while (dirent* e = readdir(d)) {
        std::string n = e->d_name;
        if (n.size() <= 6 || n.compare(n.size() - 6, 6, ".jsonl") != 0) continue;
        std::string stem = n.substr(0, n.size() - 6);
        size_t dot = stem.rfind('.');
        if (dot != std::string::npos &&
            stem.find_first_not_of("0123456789", dot + 1) == std::string::npos) {
          continue;
        }
        found.push_back(log + "/" + n);
      }
      closedir(d);
    }
    if (found.size() != 1) {
      return MakeError(Code::kInvalidArgument,
                       o.audit + ": " + std::to_string(found.size()) +
                           " current audit logs (*.jsonl) in this directory: name the file");
    }
    log = found[0];
  }
  return std::optional<LogPaths>(LogPaths{log, DirName(log) + "/recordings"});
}

std::string Utc(int64_t ms) { return ms > 0 ? FormatRfc3339(ms / 1000) : std::string("?"); }

// At most `cols` characters (code points), cut at a character boundary.
std::string Fit(const std::string& s, size_t cols) {
  size_t chars = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    if ((static_cast<unsigned char>(s[i]) & 0xC0) == 0x80) continue;
    if (++chars > cols) return s.substr(0, i >= 3 ? i - 3 : 0) + "...";
  }
  return s;
}

// What a channel ran, for its separator: "shell", "exec: CMD", "sftp: 6
// file operations", "exec (forced): CMD (asked: X)".
std::string Describe(const ReplayChannel& c) {
  std::string what;
  if (!c.forced_command.empty()) {
    what = "exec (forced): " + c.forced_command + " (asked: " +
           (c.request == "shell" ? std::string("a shell") : c.command) + ")";
  } else if (c.IsSftp()) {
    what = "sftp: " + std::to_string(c.sftp_ops.size()) + " file operation" +
           (c.sftp_ops.size() == 1 ? "" : "s");
  } else if (c.request == "exec") {
    what = "exec: " + c.command;
  } else if (c.request == "subsystem") {
    what = "subsystem: " + c.command;
  } else {
    what = c.request.empty() ? std::string("channel") : c.request;
  }
  std::string s = c.Id() + ": " + what;
  if (!c.user.empty()) s += " | " + c.user + " as " + c.login + " on " + c.target;
  s += " | " + Utc(c.start_ms);
  if (c.exit_status) s += " | exit " + std::to_string(*c.exit_status);
  return EscapeControl(s);
}

// The same from a recording's own header, for a bare FILE.cast.
std::string DescribeFile(const std::string& path, const audit::CastInfo& h) {
  auto get = [&](const char* k) {
    auto it = h.hopgate.find(k);
    return it == h.hopgate.end() ? std::string() : it->second;
  };
  std::string s = path + ": ";
  if (get("request") == "exec" || !h.command.empty()) {
    s += "exec: " + h.command;
  } else if (!get("request").empty()) {
    s += get("request");
  } else {
    s += h.title.empty() ? std::string("recording") : h.title;
  }
  if (!get("user").empty()) s += " | " + get("user") + " as " + get("login") + " on " + get("target");
  if (h.timestamp > 0) s += " | " + FormatRfc3339(h.timestamp);
  return EscapeControl(s);
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

 private:
  Status Check(const ReplayChannel& c, std::string* banner);
  void Start();
  int PlayChannel(const ReplayChannel& c, size_t index, size_t total, std::string* error);
  int PlaySftp(const ReplayChannel& c, std::string* error);
  int PlayLive(const ReplayChannel& c, std::string* error);
  int Finish(int outcome, const std::string& error);
  int OutcomeCode(Player::Outcome o, const std::string& what, std::string* error);
  Result<std::string> LivePath(const ReplayChannel& c, int* stop_code, std::string* error);
  void Separator(const std::string& text, const audit::CastInfo* h);
  void Note(const std::string& text);

  const ReplayOptions& o_;
  double from_;
  std::unique_ptr<ReplayLog> log_;
  std::string recordings_;
  std::unique_ptr<Terminal> term_;
  std::unique_ptr<Player> player_;
  bool first_separator_ = true;
  std::vector<std::string> banners_;  // per channel index, for --no-verify
};

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
  player_->Show((term_->output_is_terminal() ? "\x1b[0m\r\n[" : "\n[") + EscapeControl(text) +
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
  if (!error.empty()) fprintf(stderr, "hopctl replay: %s\n", error.c_str());
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
  if (!c.closed && o_.follow) {
    if (c.has_progress) {
      s = VerifyPrefix(c.progress_path, c.progress_bytes, c.progress_sha256, c.progress_where);
    }
  } else if (!c.closed) {
    s = MakeError(Code::kFailedPrecondition,
                  c.Id() + ": still being written (no session_close in the audit log yet): "
                           "--follow plays it live");
  } else {
    s = VerifyRecording(c);
  }
  if (s.ok() || !o_.no_verify) return s;
  *banner = "NOT VERIFIED: " + c.Id() + " " +
            (s.code() == Code::kDataLoss ? "does not match the audit log"
                                         : s.code() == Code::kFailedPrecondition
                                               ? "is still being written"
                                               : "could not be checked") +
            " (--no-verify)";
  fprintf(stderr, "hopctl replay: warning: %s (played anyway: --no-verify)\n", s.message().c_str());
  return Status::Ok();
}

int Replay::PlayFile(const std::optional<LogPaths>& paths) {
  std::optional<FileSource::Expect> expect;
  std::string banner, error;
  if (paths) {
    log_ = std::make_unique<ReplayLog>(paths->log, o_.target);
    if (Status s = log_->Refresh(); !s.ok()) return Finish(kExitUsage, s.message());
    if (!log_->channels().empty() && log_->channels()[0].closed) {
      const ReplayChannel& c = log_->channels()[0];
      ReplayChannel here = c;
      here.recording = o_.target;  // the file given, wherever the log saw it
      Status s = Check(here, &banner);
      if (!s.ok()) return Finish(kExitRefused, s.message() + "; refusing to play it");
      if (banner.empty()) expect = FileSource::Expect{c.size, c.sha256};
    } else {
      fprintf(stderr, "hopctl replay: note: %s is not named in the audit log %s: not checked\n",
              o_.target.c_str(), paths->log.c_str());
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
  Start();
  player_->set_banner(banner);
  if (!header_text.empty()) Separator(header_text, source->header());
  int code = OutcomeCode(player_->Play(*source), o_.target, &error);
  if (auto* f = dynamic_cast<FileSource*>(source.get()); f && !f->note().empty()) Note(f->note());
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
      player_->Show(std::string("  ") + offset + op.text +
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
  std::string count = "[" + std::to_string(index + 1) +
                      (total > 0 ? "/" + std::to_string(total) : std::string()) + "] ";
  if (c.IsSftp()) {
    Separator(count + Describe(c), nullptr);
    return PlaySftp(c, error);
  }
  if (RecordingFailed(c)) {
    Separator(count + Describe(c), nullptr);
    Note(c.Id() + ": recording failed: " + c.failed);
    return -1;
  }
  player_->set_banner(index < banners_.size() ? banners_[index] : std::string());
  if (!c.closed && o_.follow) {
    Separator(count + Describe(c) + " | live", nullptr);
    return PlayLive(c, error);
  }
  std::optional<FileSource::Expect> expect;
  if (c.closed && c.has_digest && (index >= banners_.size() || banners_[index].empty())) {
    expect = FileSource::Expect{c.size, c.sha256};
  }
  std::string path = c.recording;
  if (path.empty()) {  // --no-verify on a channel still being written
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
  Separator(count + Describe(c), (*file)->header());
  if (o_.follow && from_ == 0) (*file)->ShowAtOnce();
  int code = OutcomeCode(player_->Play(**file), c.Id(), error);
  if (code >= 0) return code;
  if (!(*file)->note().empty()) Note((*file)->note());
  return -1;
}

int Replay::PlaySession(const SessionSelector& sel, const LogPaths& paths) {
  recordings_ = paths.recordings;
  log_ = std::make_unique<ReplayLog>(paths.log, sel);
  if (Status s = log_->Refresh(); !s.ok()) return Finish(kExitUsage, s.message());
  for (const auto& w : log_->TakeWarnings()) fprintf(stderr, "hopctl replay: warning: %s\n", w.c_str());
  if (!log_->found()) {
    return Finish(kExitUsage, "no session " + sel.ToString() + " in the audit log " + paths.log);
  }
  if (log_->channels().empty() && !o_.follow) {
    return Finish(kExitRefused, "session " + sel.ToString() +
                                    " has no recorded channel (shell, exec or subsystem) in " +
                                    paths.log);
  }
  std::vector<std::string> refused;
  for (const auto& c : log_->channels()) {
    banners_.emplace_back();
    if (Status s = Check(c, &banners_.back()); !s.ok()) refused.push_back(s.message());
  }
  if (!refused.empty()) {
    for (size_t i = 0; i + 1 < refused.size(); ++i) fprintf(stderr, "hopctl replay: %s\n", refused[i].c_str());
    return Finish(kExitRefused, refused.back() + "\nhopctl replay: refusing to play " +
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
      fprintf(stderr, "hopctl replay: %s\n", f.message().c_str());
      return kExitUsage;
    }
    from = *f;
  }
  auto paths = FindLog(o);
  if (!paths) {
    fprintf(stderr, "hopctl replay: %s\n", paths.message().c_str());
    return kExitUsage;
  }
  Replay replay(o, from);
  bool looks_like_file = IsRegularFile(o.target) || o.target.find('/') != std::string::npos ||
                         (o.target.size() > 5 && o.target.compare(o.target.size() - 5, 5, ".cast") == 0);
  if (looks_like_file) return replay.PlayFile(*paths);
  auto sel = ParseSessionId(o.target);
  if (!sel) {
    fprintf(stderr, "hopctl replay: %s\n", sel.message().c_str());
    return kExitUsage;
  }
  if (!*paths) {
    fprintf(stderr,
            "hopctl replay: a session id needs the audit log: give --config FILE or --audit PATH\n");
    return kExitUsage;
  }
  return replay.PlaySession(*sel, **paths);
}

}  // namespace

void AddReplayCommand(CLI::App& app, Commands* out) {
  auto o = std::make_shared<ReplayOptions>();
  CLI::App* cmd = app.add_subcommand(
      "replay",
      "play a recorded session in the terminal (space pause, +/- speed, . step, q quit), "
      "checked against the audit log first");
  cmd->add_option("target", o->target, "SESSION (c<hex>, c<hex>-N, c<hex>-N-M) or FILE.cast")
      ->required();
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
  out->push_back({cmd, [o] { return RunReplay(*o); }});
}

}  // namespace hopgate::hopctl
