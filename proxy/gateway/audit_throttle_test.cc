#include "proxy/gateway/audit_throttle.h"

#include <catch2/catch.hpp>

using namespace hopgate::proxy;

TEST_CASE("the first refusals of a window are written, the rest summed into one summary") {
  ThrottleLimits limits{3, 60'000};
  RefusalWindow w;
  std::vector<hopgate::audit::AuditSuppressed> due;
  int written = 0;
  for (int i = 0; i < 10; ++i) {
    written += w.Admit(limits, "channel_refused", "reason " + std::to_string(i), 1000 + i, &due);
  }
  CHECK(written == 3);
  CHECK(due.empty());
  // Another kind has its own count.
  CHECK(w.Admit(limits, "auth_failure", "bad key", 1100, &due));
  // The window ends: the next refusal is written and the summary is due.
  CHECK(w.Admit(limits, "channel_refused", "later", 70'000, &due));
  REQUIRE(due.size() == 1);
  CHECK(due[0].kind == "channel_refused");
  CHECK(due[0].count == 7);
  CHECK(due[0].first_ms == 1003);
  CHECK(due[0].last_ms == 1009);
  CHECK(due[0].sample_reason == "reason 3");
  // A flush at close returns nothing more when nothing was counted since.
  due.clear();
  w.Flush(limits, 0, &due);
  CHECK(due.empty());
}

TEST_CASE("a clock stepped backwards starts a new window") {
  ThrottleLimits limits{1, 60'000};
  RefusalWindow w;
  std::vector<hopgate::audit::AuditSuppressed> due;
  CHECK(w.Admit(limits, "auth_failure", "a", 5'000'000, &due));
  CHECK(!w.Admit(limits, "auth_failure", "b", 5'000'001, &due));
  CHECK(w.Admit(limits, "auth_failure", "c", 1'000'000, &due));
  REQUIRE(due.size() == 1);
  CHECK(due[0].count == 1);
}

TEST_CASE("sources are counted apart; ended windows are flushed and forgotten") {
  SourceThrottle t(ThrottleLimits{2, 60'000});
  std::vector<hopgate::audit::AuditSuppressed> due;
  int a = 0, b = 0;
  for (int i = 0; i < 5; ++i) a += t.Admit("10.0.0.1", "auth_failure", "x", 1000, &due);
  for (int i = 0; i < 3; ++i) b += t.Admit("10.0.0.2", "auth_failure", "y", 1000, &due);
  CHECK(a == 2);
  CHECK(b == 2);
  CHECK(t.Due(30'000, false).empty());  // windows still open
  auto ended = t.Due(61'000, false);
  REQUIRE(ended.size() == 2);
  uint64_t total = 0;
  for (const auto& s : ended) {
    CHECK(s.scope == "source");
    total += s.count;
  }
  CHECK(total == 4);
  CHECK(t.Due(200'000, true).empty());
  // Shutdown flushes windows still open.
  for (int i = 0; i < 4; ++i) t.Admit("10.0.0.3", "channel_refused", "z", 300'000, &due);
  auto at_stop = t.Due(300'001, true);
  REQUIRE(at_stop.size() == 1);
  CHECK(at_stop[0].count == 2);
  CHECK(at_stop[0].source == "10.0.0.3");
}
