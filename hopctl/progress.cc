#include "hopctl/progress.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>

#include "common/strings.h"

namespace hopgate::hopctl {
namespace {

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}


}  // namespace

Progress::Progress(std::string label, uint64_t total_bytes)
    : label_(std::move(label)), total_(total_bytes), enabled_(isatty(STDERR_FILENO) == 1),
      start_ms_(NowMs()) {}

Progress::~Progress() {
  if (enabled_ && drawn_) fprintf(stderr, "\r\033[K");
}

void Progress::Update(uint64_t done_bytes) {
  if (enabled_) Draw(done_bytes, false);
}

void Progress::Draw(uint64_t done, bool force) {
  int64_t now = NowMs();
  if (!force && now - last_draw_ms_ < 100) return;
  last_draw_ms_ = now;
  drawn_ = true;
  double secs = (now - start_ms_) / 1000.0;
  double rate = secs > 0 ? done / secs : 0;
  double frac = total_ > 0 ? static_cast<double>(done) / total_ : 0;
  if (frac > 1) frac = 1;
  constexpr int kWidth = 30;
  int filled = static_cast<int>(frac * kWidth);
  std::string bar(filled, '#');
  bar.append(kWidth - filled, '.');
  std::string left = "?";
  if (rate > 0 && total_ >= done) {
    int s = static_cast<int>((total_ - done) / rate);
    char buf[32];
    snprintf(buf, sizeof buf, "%d:%02d", s / 60, s % 60);
    left = buf;
  }
  fprintf(stderr, "\r\033[K%s [%s] %3.0f%% %s of %s, %s/s, %s left", label_.c_str(), bar.c_str(),
          frac * 100, HumanBytes(done).c_str(), HumanBytes(total_).c_str(), HumanBytes(rate).c_str(),
          left.c_str());
  fflush(stderr);
}

}  // namespace hopgate::hopctl
