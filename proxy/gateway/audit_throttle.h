// Audit floods: repeated refusals (refused channels, failed logins) are
// written one by one only up to a limit; the rest are counted and written as
// one `audit_suppressed` summary, so one client cannot fill the audit disk.
// A RefusalWindow counts one kind of refusal for one key (a connection or a
// source) in fixed windows: the first `first` of a window are written, the
// rest counted; a window that ends with refusals counted yields a summary.
// RefusalWindow is not thread-safe (a connection owns its own);
// SourceThrottle is, for the sources shared by every connection.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "audit/events.h"

namespace hopgate::proxy {

struct ThrottleLimits {
  int64_t first = 10;           // written one by one per window
  int64_t window_ms = 60'000;   // how long a window lasts
};
// One connection's refusals of a kind: 10 a minute. A source's, across its
// connections: 50 a minute (several people behind one NAT address).
inline constexpr ThrottleLimits kConnectionRefusals{10, 60'000};
inline constexpr ThrottleLimits kSourceRefusals{50, 60'000};

class RefusalWindow {
 public:
  // True: write this refusal. False: counted for the summary. A summary of
  // the window that ended before `now_ms`, if any, is appended to `due`
  // (its scope and source are left to the caller).
  bool Admit(const ThrottleLimits& limits, const std::string& kind, const std::string& reason,
             int64_t now_ms, std::vector<audit::AuditSuppressed>* due);
  // Appends the summary of the current window (if anything was counted) and
  // starts afresh: at a connection's close, or when the window ended by
  // `now_ms` (pass 0 to flush regardless).
  void Flush(const ThrottleLimits& limits, int64_t now_ms,
             std::vector<audit::AuditSuppressed>* due);
  // True once nothing is counted and the window is over (may be dropped).
  bool Idle(const ThrottleLimits& limits, int64_t now_ms) const;
  bool empty() const { return by_kind_.empty(); }  // nothing ever admitted or counted

 private:
  struct Count {
    int64_t window_start_ms = -1;
    int64_t written = 0;
    audit::AuditSuppressed summary;  // count, first/last, sample reason
  };
  static void Close(Count& c, std::vector<audit::AuditSuppressed>* due);
  std::map<std::string, Count> by_kind_;
};

class SourceThrottle {
 public:
  explicit SourceThrottle(ThrottleLimits limits = kSourceRefusals) : limits_(limits) {}
  // As RefusalWindow::Admit, for the source `source`; summaries come with
  // scope "source" and the source filled in.
  bool Admit(const std::string& source, const std::string& kind, const std::string& reason,
             int64_t now_ms, std::vector<audit::AuditSuppressed>* due);
  // Summaries of every window that ended by `now_ms` (of every window at
  // all when `all`: at shutdown); idle sources are forgotten.
  std::vector<audit::AuditSuppressed> Due(int64_t now_ms, bool all);
  const ThrottleLimits& limits() const { return limits_; }

 private:
  const ThrottleLimits limits_;
  std::mutex mu_;
  std::map<std::string, RefusalWindow> sources_;
};

}  // namespace hopgate::proxy
