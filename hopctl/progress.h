// A progress bar for long hopctl operations (audit verify of a large log,
// sessions --reindex): bytes done, rate and time left, redrawn at most ten
// times a second on standard error, and only when standard error is a
// terminal; quiet otherwise (pipes, CI, cron).
#pragma once

#include <cstdint>
#include <string>

namespace hopgate::hopctl {

class Progress {
 public:
  Progress(std::string label, uint64_t total_bytes);
  ~Progress();  // clears the bar
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  void Update(uint64_t done_bytes);
  bool enabled() const { return enabled_; }

 private:
  void Draw(uint64_t done, bool force);

  std::string label_;
  uint64_t total_;
  bool enabled_;
  int64_t start_ms_;
  int64_t last_draw_ms_ = 0;
  bool drawn_ = false;
};

}  // namespace hopgate::hopctl
