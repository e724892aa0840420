// Plays recordings into the terminal with their real timing, under the
// viewer's keys: space pauses and resumes, + and - double and halve the
// speed, . steps one event while paused, q quits. Output events are written
// as recorded; input, marker, resize and unknown events are not shown.
// Pauses are capped by --idle-limit (or the recording's idle_time_limit),
// --from fast-forwards (output written without delays, so the screen is
// right when timing starts), and a live recording's output already written
// is shown at once, then each new event as it arrives. Single-threaded: the
// player waits in poll(2) on the keys, the signal pipe and its source.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "audit/cast_reader.h"
#include "common/result.h"
#include "hopctl/replay_terminal.h"

namespace hopgate::hopctl {

// What a player plays: the events of one recording, which may still be
// being written.
class EventSource {
 public:
  virtual ~EventSource() = default;
  enum class Step { kEvent, kWait, kEnd };
  // kWait: nothing now, more may come; the player waits on wait_fd() (or
  // 200 ms) and asks again.
  virtual Result<Step> Next(audit::CastEvent* out) = 0;
  virtual const audit::CastInfo* header() const = 0;
  virtual int wait_fd() const { return -1; }
  // Events ending within the first backlog_bytes() are shown at once (a
  // live recording's past, when following it).
  virtual uint64_t backlog_bytes() const { return 0; }
};

struct PlayerOptions {
  double speed = 1;
  std::optional<double> idle_limit;  // seconds; else the header's, else none
  double from = 0;                   // seconds into the playlist
  std::string banner;                // kept on screen while playing ("": none)
};

class Player {
 public:
  Player(Terminal& term, PlayerOptions options);

  enum class Outcome { kFinished, kQuit, kStopped, kFailed };
  // Plays `source` to its end, or until q, a stop signal or an error.
  // Speed, pause and the --from offset carry over from one call to the next
  // (the channels of a session are played back to back).
  Outcome Play(EventSource& source);

  // The warning kept on screen from now on ("" for none).
  void set_banner(std::string banner) { opt_.banner = std::move(banner); }
  // Writes `text` now (separators, notes).
  bool Show(std::string_view text);
  // Waits up to `timeout_ms` (or until `fd` is readable) while handling
  // keys and signals: kQuit or kStopped if the viewer left, else nullopt.
  std::optional<Outcome> Idle(int timeout_ms, int fd);

  int stop_signal() const { return stop_signal_; }
  const std::string& error() const { return error_; }
  double speed() const { return speed_; }
  bool paused() const { return paused_; }

 private:
  std::optional<Outcome> Wait(int timeout_ms, int fd);
  std::optional<Outcome> HandleKeys();
  void Emit(const std::string& data);
  bool Flush();
  void DrawBanner();
  void UpdateRestore();
  double VPos(int64_t now_ms) const;
  void Rebase(int64_t now_ms, double vpos);
  double Gap(double seconds, const audit::CastInfo* header) const;

  Terminal& term_;
  PlayerOptions opt_;
  double speed_;
  bool paused_ = false;
  bool step_ = false;
  double from_left_;
  // The playing clock: virtual (idle-capped) seconds into the recording.
  int64_t base_real_ms_ = 0;
  double base_vpos_ = 0, frozen_vpos_ = 0;
  std::string out_;
  bool alt_screen_ = false;
  int64_t banner_ms_ = 0;
  int stop_signal_ = 0;
  std::string error_;
};

// Monotonic milliseconds.
int64_t NowMs();

}  // namespace hopgate::hopctl
