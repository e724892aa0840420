#include "proxy/gateway/startups.h"

#include <algorithm>

namespace hopgate::proxy {
namespace {

// Sources with a penalty are forgotten once it has expired; at most this
// many are remembered (the oldest expiries go first beyond it), so a flood
// of addresses cannot grow the table without bound.
constexpr size_t kMaxPenalized = 65'536;
constexpr int64_t kSweepEveryMs = 10'000;

}  // namespace

Startups::Slot& Startups::Slot::operator=(Slot&& o) noexcept {
  if (this != &o) {
    Release();
    owner_ = o.owner_;
    source_ = std::move(o.source_);
    o.owner_ = nullptr;
  }
  return *this;
}

void Startups::Slot::Release() {
  if (owner_ == nullptr) return;
  owner_->Give(source_);
  owner_ = nullptr;
}

std::string Startups::SourceOf(const IpAddress& address) {
  IpAddress ip = address.Unmapped();
  if (!ip.v6) return ip.ToString();
  IpAddress net = ip;
  std::fill(net.bytes.begin() + 8, net.bytes.end(), 0);
  return net.ToString() + "/64";
}

Startups::Slot Startups::Acquire(const IpAddress& ip, int64_t total_limit, int64_t per_source,
                                 int64_t now_ms, Refusal* why) {
  std::string source = SourceOf(ip);
  std::lock_guard<std::mutex> lock(mu_);
  Slot slot;
  if (Refused(source, now_ms)) {
    *why = Refusal::kPenalty;
    return slot;
  }
  if (total_ >= total_limit) {
    *why = Refusal::kTotal;
    return slot;
  }
  int64_t& mine = per_source_[source];
  if (per_source > 0 && mine >= per_source) {
    *why = Refusal::kPerSource;
    return slot;
  }
  ++mine;
  ++total_;
  *why = Refusal::kNone;
  slot.owner_ = this;
  slot.source_ = std::move(source);
  return slot;
}

void Startups::Give(const std::string& source) {
  std::lock_guard<std::mutex> lock(mu_);
  --total_;
  auto it = per_source_.find(source);
  if (it != per_source_.end() && --it->second <= 0) per_source_.erase(it);
}

void Startups::Penalize(const IpAddress& ip, Outcome outcome, int64_t now_ms) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!penalties_.enabled) return;
  int64_t add = 0;
  switch (outcome) {
    case Outcome::kAuthenticated: return;
    case Outcome::kAuthFailed: add = penalties_.authfail_ms; break;
    case Outcome::kNoAuth: add = penalties_.noauth_ms; break;
    case Outcome::kGraceExceeded: add = penalties_.grace_exceeded_ms; break;
  }
  if (add <= 0) return;
  IpAddress unmapped = ip.Unmapped();
  for (const Cidr& c : penalties_.exempt) {
    if (c.Contains(unmapped)) return;
  }
  Sweep(now_ms);
  Penalty& p = penalized_[SourceOf(ip)];
  p.expiry_ms = std::min(std::max(p.expiry_ms, now_ms) + add, now_ms + penalties_.max_ms);
  if (p.expiry_ms - now_ms >= penalties_.min_ms) p.active = true;
}

bool Startups::Refused(const std::string& source, int64_t now_ms) {
  auto it = penalized_.find(source);
  if (it == penalized_.end()) return false;
  if (it->second.expiry_ms <= now_ms) {
    penalized_.erase(it);
    return false;
  }
  return it->second.active;
}

int64_t Startups::PenalizedUntil(const IpAddress& ip, int64_t now_ms) {
  std::lock_guard<std::mutex> lock(mu_);
  std::string source = SourceOf(ip);
  return Refused(source, now_ms) ? penalized_[source].expiry_ms : 0;
}

void Startups::Sweep(int64_t now_ms) {
  if (now_ms < next_sweep_ms_ && penalized_.size() < kMaxPenalized) return;
  next_sweep_ms_ = now_ms + kSweepEveryMs;
  std::erase_if(penalized_, [&](const auto& kv) { return kv.second.expiry_ms <= now_ms; });
  while (penalized_.size() >= kMaxPenalized) {
    auto oldest = std::min_element(penalized_.begin(), penalized_.end(), [](auto& a, auto& b) {
      return a.second.expiry_ms < b.second.expiry_ms;
    });
    penalized_.erase(oldest);
  }
}

void Startups::SetPenalties(const PenaltyConfig& config) {
  std::lock_guard<std::mutex> lock(mu_);
  penalties_ = config;
  if (!penalties_.enabled) penalized_.clear();
}

int64_t Startups::total() const {
  std::lock_guard<std::mutex> lock(mu_);
  return total_;
}

}  // namespace hopgate::proxy
