// Times in the audit log and the TIME arguments of hopctl sessions.
#include <catch2/catch.hpp>

#include "audit/timestamps.h"

using namespace hopgate;
using namespace hopgate::audit;

TEST_CASE("RFC 3339 timestamps as the log writes them, and with offsets") {
  CHECK(*ParseRfc3339Ms("1970-01-01T00:00:00Z") == 0);
  CHECK(*ParseRfc3339Ms("2026-11-29T06:03:09.439Z") == 1795932189439);
  CHECK(*ParseRfc3339Ms("2026-11-29T07:03:09.439+01:00") == 1795932189439);
  CHECK(*ParseRfc3339Ms("2026-11-29T06:03:09.4391234Z") == 1795932189439);
  CHECK(*ParseRfc3339Ms("2024-02-29T00:00:00Z") == 1709164800000);
  for (const char* bad : {"", "2026-11-29", "2026-11-29T06:03Z", "2026-13-01T00:00:00Z",
                          "2026-02-29T00:00:00Z", "2026-11-29T24:00:00Z", "2026-11-29T06:03:09",
                          "2026-11-29T06:03:09Zjunk", "2026-11-29T06:03:09.Z"}) {
    INFO(bad);
    CHECK_FALSE(ParseRfc3339Ms(bad).ok());
  }
}

TEST_CASE("TIME arguments: RFC 3339, dates, durations ago, now") {
  const int64_t now = 1795932189439;
  CHECK(*ParseTimeArg("now", now) == now);
  CHECK(*ParseTimeArg("2h", now) == now - 7'200'000);
  CHECK(*ParseTimeArg("3d", now) == now - 3 * 86'400'000);
  CHECK(*ParseTimeArg("1h30m", now) == now - 5'400'000);
  CHECK(*ParseTimeArg("2026-11-29", now) == 1795910400000);
  CHECK(*ParseTimeArg("2026-11-29T06:03", now) == 1795932180000);
  CHECK(*ParseTimeArg("2026-11-29 06:03:09", now) == 1795932189000);
  CHECK(*ParseTimeArg("2026-11-29T06:03:09.439Z", now) == 1795932189439);
  CHECK(*ParseTimeArg("2026-11-29T08:03:09+02:00", now) == 1795932189000);
  for (const char* bad : {"", "yesterday", "2", "2x", "2026-11-31", "11/29/2026", "-2h"}) {
    INFO(bad);
    auto r = ParseTimeArg(bad, now);
    CHECK_FALSE(r.ok());
    if (!r.ok()) CHECK(r.message().find("invalid time") != std::string::npos);
  }
}
