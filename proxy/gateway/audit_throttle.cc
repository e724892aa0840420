#include "proxy/gateway/audit_throttle.h"

#include <utility>

namespace hopgate::proxy {

void RefusalWindow::Close(Count& c, std::vector<audit::AuditSuppressed>* due) {
  if (c.summary.count > 0) due->push_back(c.summary);
  std::string kind = c.summary.kind;
  c = Count{};
  c.summary.kind = std::move(kind);
}

bool RefusalWindow::Admit(const ThrottleLimits& limits, const std::string& kind,
                          const std::string& reason, int64_t now_ms,
                          std::vector<audit::AuditSuppressed>* due) {
  Count& c = by_kind_[kind];
  c.summary.kind = kind;
  // A clock stepped backwards ends the window too.
  if (c.window_start_ms >= 0 &&
      (now_ms - c.window_start_ms >= limits.window_ms || now_ms < c.window_start_ms)) {
    Close(c, due);
  }
  if (c.window_start_ms < 0) c.window_start_ms = now_ms;
  if (c.written < limits.first) {
    ++c.written;
    return true;
  }
  if (c.summary.count++ == 0) {
    c.summary.first_ms = now_ms;
    c.summary.sample_reason = reason;
  }
  c.summary.last_ms = now_ms;
  return false;
}

void RefusalWindow::Flush(const ThrottleLimits& limits, int64_t now_ms,
                          std::vector<audit::AuditSuppressed>* due) {
  for (auto& [kind, c] : by_kind_) {
    bool ended = c.window_start_ms >= 0 && now_ms - c.window_start_ms >= limits.window_ms;
    if (now_ms == 0 || ended) Close(c, due);
  }
}

bool RefusalWindow::Idle(const ThrottleLimits& limits, int64_t now_ms) const {
  for (const auto& [kind, c] : by_kind_) {
    if (c.summary.count > 0) return false;
    if (c.window_start_ms >= 0 && now_ms - c.window_start_ms < limits.window_ms) return false;
  }
  return true;
}

bool SourceThrottle::Admit(const std::string& source, const std::string& kind,
                           const std::string& reason, int64_t now_ms,
                           std::vector<audit::AuditSuppressed>* due) {
  std::vector<audit::AuditSuppressed> ended;
  bool admit;
  {
    std::lock_guard<std::mutex> lock(mu_);
    admit = sources_[source].Admit(limits_, kind, reason, now_ms, &ended);
  }
  for (auto& s : ended) {
    s.scope = "source";
    s.source = source;
    due->push_back(std::move(s));
  }
  return admit;
}

std::vector<audit::AuditSuppressed> SourceThrottle::Due(int64_t now_ms, bool all) {
  std::vector<audit::AuditSuppressed> out;
  std::lock_guard<std::mutex> lock(mu_);
  for (auto it = sources_.begin(); it != sources_.end();) {
    size_t before = out.size();
    it->second.Flush(limits_, all ? 0 : now_ms, &out);
    for (size_t i = before; i < out.size(); ++i) {
      out[i].scope = "source";
      out[i].source = it->first;
    }
    if (all || it->second.Idle(limits_, now_ms)) {
      it = sources_.erase(it);
    } else {
      ++it;
    }
  }
  return out;
}

}  // namespace hopgate::proxy
