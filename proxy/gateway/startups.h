// Admission of new connections by source: how many unauthenticated
// connections there are in total and per source address (an IPv4 address or
// an IPv6 /64, so one host cannot take every start-up slot by cycling its
// addresses), and per-source penalties for connections that failed to log
// in, like OpenSSH's PerSourcePenalties. Thread-safe: the accept loop takes
// slots and workers give them back.
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/net.h"
#include "proxy/config/config.h"

namespace hopgate::proxy {

class Startups {
 public:
  enum class Refusal { kNone, kTotal, kPerSource, kPenalty };
  enum class Outcome { kAuthenticated, kAuthFailed, kNoAuth, kGraceExceeded };

  // One unauthenticated connection's claim; given back by Release() (when
  // the connection authenticates) or when destroyed.
  class Slot {
   public:
    Slot() = default;
    Slot(Slot&& o) noexcept { *this = std::move(o); }
    Slot& operator=(Slot&& o) noexcept;
    ~Slot() { Release(); }
    explicit operator bool() const { return owner_ != nullptr; }
    void Release();

   private:
    friend class Startups;
    Startups* owner_ = nullptr;
    std::string source_;
  };

  // The source a client address counts against: the address itself, or the
  // /64 of an IPv6 address ("2001:db8:1:2::/64").
  static std::string SourceOf(const IpAddress& ip);

  // A slot for a connection from `ip`, or an empty one with `*why` set.
  // `per_source` 0: no per-source limit.
  Slot Acquire(const IpAddress& ip, int64_t total_limit, int64_t per_source, int64_t now_ms,
               Refusal* why);
  // Counts a finished unauthenticated connection against its source.
  void Penalize(const IpAddress& ip, Outcome outcome, int64_t now_ms);
  // Until when `ip`'s source is refused (0: it is not).
  int64_t PenalizedUntil(const IpAddress& ip, int64_t now_ms);
  void SetPenalties(const PenaltyConfig& config);
  int64_t total() const;

 private:
  struct Penalty {
    int64_t expiry_ms = 0;
    bool active = false;  // reached min_ms: refusing until expiry_ms
  };
  void Give(const std::string& source);
  bool Refused(const std::string& source, int64_t now_ms);  // mu_ held
  void Sweep(int64_t now_ms);                               // mu_ held

  mutable std::mutex mu_;
  int64_t total_ = 0;
  std::unordered_map<std::string, int64_t> per_source_;
  PenaltyConfig penalties_;
  std::unordered_map<std::string, Penalty> penalized_;
  int64_t next_sweep_ms_ = 0;
};

}  // namespace hopgate::proxy
