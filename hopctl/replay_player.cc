#include "hopctl/replay_player.h"

#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>

namespace hopgate::hopctl {
namespace {

constexpr double kMinSpeed = 1.0 / 64, kMaxSpeed = 64;
constexpr int kWaitTickMs = 200;        // how often a waiting source is asked again
constexpr int64_t kBannerEveryMs = 2000;
constexpr size_t kFlushBytes = 64 * 1024;

// Sequences after which the screen may be blank: the banner is drawn again.
bool ClearsScreen(std::string_view d) {
  for (std::string_view s : {"\x1b[2J", "\x1b[J", "\x1b[0J", "\x1b[3J", "\x1b" "c", "\x1b[?1049h",
                             "\x1b[?1049l", "\x1b[?1047h", "\x1b[?47h"}) {
    if (d.find(s) != std::string_view::npos) return true;
  }
  return false;
}

// Whether the recording leaves the terminal on the alternate screen: the
// last switch in `d` wins; `state` unchanged when `d` has none.
void TrackAltScreen(std::string_view d, bool* state) {
  size_t best = std::string_view::npos;
  bool on = *state;
  for (auto [seq, value] : {std::pair<std::string_view, bool>{"\x1b[?1049h", true},
                            {"\x1b[?1049l", false}, {"\x1b[?1047h", true},
                            {"\x1b[?1047l", false}, {"\x1b[?47h", true}, {"\x1b[?47l", false}}) {
    size_t at = d.rfind(seq);
    if (at != std::string_view::npos && (best == std::string_view::npos || at > best)) {
      best = at;
      on = value;
    }
  }
  *state = on;
}

}  // namespace

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

Player::Player(Terminal& term, PlayerOptions options)
    : term_(term), opt_(std::move(options)), speed_(opt_.speed), from_left_(opt_.from) {
  UpdateRestore();
}

double Player::VPos(int64_t now_ms) const {
  if (paused_) return frozen_vpos_;
  return base_vpos_ + static_cast<double>(now_ms - base_real_ms_) / 1000.0 * speed_;
}

void Player::Rebase(int64_t now_ms, double vpos) {
  base_real_ms_ = now_ms;
  base_vpos_ = vpos;
  frozen_vpos_ = vpos;
}

double Player::Gap(double seconds, const audit::CastInfo* header) const {
  seconds = std::max(0.0, seconds);
  if (opt_.idle_limit) return std::min(seconds, *opt_.idle_limit);
  if (header != nullptr && header->idle_time_limit) {
    return std::min(seconds, *header->idle_time_limit);
  }
  return seconds;
}

void Player::UpdateRestore() {
  if (!term_.output_is_terminal()) return;
  // Attributes, cursor shown, mouse reporting, bracketed paste, cursor-key
  // and keypad modes back to normal; off the alternate screen if the
  // recording left it there.
  std::string s = "\x1b[0m";
  if (alt_screen_) s += "\x1b[?1049l";
  s += "\x1b[?25h\x1b[?1000l\x1b[?1002l\x1b[?1003l\x1b[?1006l\x1b[?2004l\x1b[?1l\x1b>\r\n";
  term_.set_restore_sequence(s);
}

bool Player::Flush() {
  if (out_.empty()) return true;
  bool ok = term_.Write(out_);
  out_.clear();
  if (!ok && error_.empty() && term_.TakeSignal() == 0) error_ = "cannot write to the terminal";
  return ok;
}

void Player::Emit(const std::string& data) {
  bool was_alt = alt_screen_;
  TrackAltScreen(data, &alt_screen_);
  if (alt_screen_ != was_alt) UpdateRestore();
  out_ += data;
  if (!opt_.banner.empty() && term_.output_is_terminal() &&
      (ClearsScreen(data) || NowMs() - banner_ms_ >= kBannerEveryMs)) {
    DrawBanner();
  }
  if (out_.size() >= kFlushBytes) Flush();
}

void Player::DrawBanner() {
  if (opt_.banner.empty() || !term_.output_is_terminal()) return;
  std::string text = " " + opt_.banner + " ";
  size_t cols = static_cast<size_t>(term_.Columns());
  if (text.size() > cols) text.resize(cols);
  // Saved cursor and attributes; white on red at the right end of the top
  // line, where it hides the least of the recording; restored.
  size_t col = cols - text.size() + 1;
  out_ += "\x1b" "7\x1b[1;" + std::to_string(col) + "H\x1b[0;1;97;41m" + text + "\x1b[0m\x1b" "8";
  banner_ms_ = NowMs();
}

bool Player::Show(std::string_view text) {
  out_.append(text);
  return Flush();
}

std::optional<Player::Outcome> Player::HandleKeys() {
  char keys[64];
  ssize_t n = read(term_.key_fd(), keys, sizeof keys);
  if (n <= 0) return std::nullopt;
  for (ssize_t i = 0; i < n; ++i) {
    int64_t now = NowMs();
    switch (keys[i]) {
      case 'q':
      case 'Q':
        return Outcome::kQuit;
      case ' ':
        if (paused_) {
          paused_ = false;
          Rebase(now, frozen_vpos_);
        } else {
          frozen_vpos_ = VPos(now);
          paused_ = true;
        }
        break;
      case '+':
      case '=':
      case '-':
      case '_': {
        double v = VPos(now);
        bool faster = keys[i] == '+' || keys[i] == '=';
        speed_ = std::clamp(faster ? speed_ * 2 : speed_ / 2, kMinSpeed, kMaxSpeed);
        if (!paused_) Rebase(now, v);
        break;
      }
      case '.':
        if (paused_) step_ = true;
        break;
      default:
        break;  // other keys (and the rest of escape sequences) do nothing
    }
  }
  return std::nullopt;
}

std::optional<Player::Outcome> Player::Wait(int timeout_ms, int fd) {
  if (!Flush()) {
    stop_signal_ = term_.TakeSignal();
    return stop_signal_ != 0 && stop_signal_ != SIGTSTP ? Outcome::kStopped : Outcome::kFailed;
  }
  struct pollfd fds[3];
  int n = 0;
  fds[n++] = {term_.signal_fd(), POLLIN, 0};
  if (term_.key_fd() >= 0) fds[n++] = {term_.key_fd(), POLLIN, 0};
  if (fd >= 0) fds[n++] = {fd, POLLIN, 0};
  double before = VPos(NowMs());
  poll(fds, static_cast<nfds_t>(n), timeout_ms);
  if (int sig = term_.TakeSignal(); sig == SIGTSTP) {
    if (!paused_) Rebase(NowMs(), before);  // the time stopped does not count
  } else if (sig != 0) {
    stop_signal_ = sig;
    return Outcome::kStopped;
  }
  if (term_.key_fd() >= 0 && (fds[1].revents & POLLIN)) return HandleKeys();
  return std::nullopt;
}

std::optional<Player::Outcome> Player::Idle(int timeout_ms, int fd) {
  return Wait(timeout_ms, fd);
}

Player::Outcome Player::Play(EventSource& source) {
  const double from_here = from_left_;
  double last_time = 0, last_vpos = 0, channel_end = 0, next_vpos = 0;
  bool have = false;
  // After events written without delay, the clock restarts: at the next
  // event (the live edge, a followed recording's past) or at the --from
  // offset, so the pause from there to the next event is still played.
  enum class Restart { kNo, kAtNextEvent, kAtOffset } restart = Restart::kNo;
  audit::CastEvent ev;
  Rebase(NowMs(), 0);
  if (paused_) frozen_vpos_ = 0;
  DrawBanner();
  auto done = [&](Outcome o) {
    Flush();
    from_left_ = std::max(0.0, from_left_ - channel_end);
    return o;
  };
  while (true) {
    if (!have) {
      auto r = source.Next(&ev);
      if (!r) {
        error_ = r.message();
        return done(Outcome::kFailed);
      }
      if (*r == EventSource::Step::kEnd) return done(Outcome::kFinished);
      if (*r == EventSource::Step::kWait) {
        restart = Restart::kAtNextEvent;  // at the live edge: it shows at once
        if (auto o = Wait(kWaitTickMs, source.wait_fd())) return done(*o);
        continue;
      }
      channel_end = ev.time;
      if (ev.code != "o") continue;  // input, markers, resizes: not shown
      if (ev.time < from_here || ev.end_offset <= source.backlog_bytes()) {
        Emit(ev.data);  // fast-forward: no delay
        last_time = ev.time;
        restart = ev.end_offset <= source.backlog_bytes() ? Restart::kAtNextEvent
                                                          : Restart::kAtOffset;
        continue;
      }
      have = true;
      next_vpos = last_vpos + Gap(ev.time - std::max(last_time, from_here), source.header());
      if (restart != Restart::kNo) {
        double at = restart == Restart::kAtNextEvent ? next_vpos : last_vpos;
        Rebase(NowMs(), at);
        if (paused_) frozen_vpos_ = at;
        restart = Restart::kNo;
      }
    }
    if (paused_ && !step_) {
      if (auto o = Wait(-1, -1)) return done(*o);
      continue;
    }
    double wait_s = (next_vpos - VPos(NowMs())) / speed_;
    if (!step_ && wait_s > 0.001) {
      int ms = static_cast<int>(std::ceil(std::min(wait_s, 3600.0) * 1000));
      if (auto o = Wait(ms, -1)) return done(*o);
      continue;
    }
    Emit(ev.data);
    if (step_) {
      Flush();
      frozen_vpos_ = next_vpos;
      step_ = false;
    }
    last_time = ev.time;
    last_vpos = next_vpos;
    have = false;
  }
}

}  // namespace hopgate::hopctl
