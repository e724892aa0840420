#include "proxy/gateway/startups.h"

#include <catch2/catch.hpp>

namespace hopgate::proxy {
namespace {

IpAddress Ip(const char* text) { return *IpAddress::Parse(text); }

}  // namespace

TEST_CASE("start-up slots are limited in total and per source") {
  Startups s;
  Startups::Refusal why;
  std::vector<Startups::Slot> held;
  for (int i = 0; i < 3; ++i) {
    held.push_back(s.Acquire(Ip("127.0.0.2"), 64, 3, 0, &why));
    REQUIRE(held.back());
  }
  // A fourth from the same source is refused; another source still gets in.
  CHECK_FALSE(s.Acquire(Ip("127.0.0.2"), 64, 3, 0, &why));
  CHECK(why == Startups::Refusal::kPerSource);
  Startups::Slot other = s.Acquire(Ip("127.0.0.1"), 64, 3, 0, &why);
  CHECK(other);
  CHECK(s.total() == 4);
  // Given back when the connection authenticates (Release) or ends.
  held[0].Release();
  held.pop_back();
  CHECK(s.total() == 2);
  CHECK(s.Acquire(Ip("127.0.0.2"), 64, 3, 0, &why));
  // The total limit applies to every source together.
  CHECK_FALSE(s.Acquire(Ip("127.0.0.9"), 2, 3, 0, &why));
  CHECK(why == Startups::Refusal::kTotal);
}

TEST_CASE("IPv6 clients count per /64; IPv4-mapped ones as IPv4") {
  CHECK(Startups::SourceOf(Ip("2001:db8:1:2:aaaa::1")) == "2001:db8:1:2::/64");
  CHECK(Startups::SourceOf(Ip("::ffff:10.1.2.3")) == "10.1.2.3");
  Startups s;
  Startups::Refusal why;
  Startups::Slot a = s.Acquire(Ip("2001:db8:1:2::1"), 64, 1, 0, &why);
  CHECK(a);
  CHECK_FALSE(s.Acquire(Ip("2001:db8:1:2:ffff::9"), 64, 1, 0, &why));
  CHECK(s.Acquire(Ip("2001:db8:1:3::1"), 64, 1, 0, &why));
}

TEST_CASE("failed logins earn a source a penalty once it reaches min") {
  Startups s;
  PenaltyConfig p;  // authfail 5s, noauth 1s, grace 10s, min 15s, max 10m
  s.SetPenalties(p);
  Startups::Refusal why;
  IpAddress bad = Ip("192.0.2.7");
  s.Penalize(bad, Startups::Outcome::kAuthFailed, 0);
  s.Penalize(bad, Startups::Outcome::kAuthFailed, 0);
  CHECK(s.Acquire(bad, 64, 10, 0, &why));  // 10s: below min, still admitted
  s.Penalize(bad, Startups::Outcome::kAuthFailed, 0);
  CHECK_FALSE(s.Acquire(bad, 64, 10, 1'000, &why));
  CHECK(why == Startups::Refusal::kPenalty);
  CHECK(s.PenalizedUntil(bad, 1'000) == 15'000);
  // Others are not affected; the penalty expires.
  CHECK(s.Acquire(Ip("192.0.2.8"), 64, 10, 1'000, &why));
  CHECK(s.Acquire(bad, 64, 10, 15'000, &why));
  // A successful login costs nothing; max caps the penalty.
  for (int i = 0; i < 1000; ++i) s.Penalize(bad, Startups::Outcome::kGraceExceeded, 20'000);
  CHECK(s.PenalizedUntil(bad, 20'000) == 620'000);
}

TEST_CASE("exempt sources and disabled penalties are never refused") {
  Startups s;
  PenaltyConfig p;
  p.exempt.push_back(*Cidr::Parse("10.0.0.0/8"));
  s.SetPenalties(p);
  Startups::Refusal why;
  for (int i = 0; i < 10; ++i) s.Penalize(Ip("10.1.1.1"), Startups::Outcome::kAuthFailed, 0);
  CHECK(s.Acquire(Ip("10.1.1.1"), 64, 10, 0, &why));
  p.enabled = false;
  s.SetPenalties(p);
  for (int i = 0; i < 10; ++i) s.Penalize(Ip("192.0.2.1"), Startups::Outcome::kAuthFailed, 0);
  CHECK(s.Acquire(Ip("192.0.2.1"), 64, 10, 0, &why));
}

}  // namespace hopgate::proxy
