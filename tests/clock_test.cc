// The wall clock stepped back an hour under a running gateway (libfaketime,
// Debian's libfaketime, changes what the gateway's wall clock reads while
// its monotonic clock runs on): timeouts still fire on time, because every
// deadline is kept on the monotonic clock, and the audit log's timestamps
// follow the wall clock.
#include <catch2/catch.hpp>

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <ctime>
#include <thread>

#include "tests/support/harness.h"

using namespace hopgate::testing;

namespace {

const char* kFaketime = "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1";

}  // namespace

TEST_CASE("a wall clock stepped back an hour does not stretch login_grace_time") {
  REQUIRE(access(kFaketime, R_OK) == 0);  // Debian package libfaketime
  std::string dir = MakeTempDir("clock");
  KeyPair alice = GenerateKey(dir, "alice");
  std::string offset_file = dir + "/faketime";
  WriteFile(offset_file, "+0\n");
  std::string policy = "version: 1\nusers:\n  alice:\n    keys: [\"" + alice.public_line +
                       "\"]\nrules: []\n";
  Gate gate(dir, policy, "limits:\n  login_grace_time: 3s\n", false);
  // Under --config=asan the ASan runtime must come first among preloaded
  // libraries; libfaketime before it is harmless, so let ASan accept that.
  const char* asan = getenv("ASAN_OPTIONS");
  std::string asan_options = std::string(asan ? asan : "") + (asan && *asan ? ":" : "") +
                             "verify_asan_link_order=0";
  gate.set_launcher({"env", std::string("LD_PRELOAD=") + kFaketime,
                     "FAKETIME_TIMESTAMP_FILE=" + offset_file, "FAKETIME_NO_CACHE=1",
                     "FAKETIME_DONT_FAKE_MONOTONIC=1", "ASAN_OPTIONS=" + asan_options});
  gate.Start();

  int silent = ConnectRaw(gate.port());
  REQUIRE(silent >= 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  WriteFile(offset_file, "-3600\n");  // the clock steps back an hour
  double seconds = SecondsUntilClosed(silent, 20);
  close(silent);
  INFO(gate.Log());
  CHECK(seconds >= 2);
  CHECK(seconds < 10);  // at login_grace_time, not an hour later

  // The step did reach the gateway: the close is stamped an hour back.
  REQUIRE(WaitUntil([&] { return !gate.AuditEvents("connection_close").empty(); }, 5000));
  std::string ts = gate.AuditEvents("connection_close").back()["ts"];
  std::tm tm{};
  REQUIRE(strptime(ts.c_str(), "%Y-%m-%dT%H:%M:%S", &tm) != nullptr);
  int64_t stamped = timegm(&tm);
  int64_t now = time(nullptr);
  INFO(ts);
  CHECK(now - stamped > 3000);
  CHECK(now - stamped < 4200);
}
