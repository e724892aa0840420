// Where `hopctl replay --database` finds a replica's recording: the copy
// under --recordings (dated layout, then the bare name), the logged path,
// or an error saying which replica has it and where.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "hopctl/replay_fleet.h"

using namespace hopgate::hopctl;

namespace {

std::string Fresh(const std::string& name) {
  const char* t = getenv("TEST_TMPDIR");
  std::string dir = std::string(t && *t ? t : "/tmp") + "/replay_fleet_test/" + name;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

void Touch(const std::string& path) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::ofstream(path) << "{}\n";
}

const std::string kLogged = "/nonexistent/recordings/2026/12/06/c1a2b3-0-0.cast";

}  // namespace

TEST_CASE("a copy under --recordings: dated layout first, then the bare name") {
  std::string dir = Fresh("copies");
  Touch(dir + "/c1a2b3-0-0.cast");
  auto bare = LocateRecording("c1a2b3-0-0", "gate-b", kLogged, dir);
  REQUIRE(bare);
  CHECK(*bare == dir + "/c1a2b3-0-0.cast");
  Touch(dir + "/2026/12/06/c1a2b3-0-0.cast");
  auto dated = LocateRecording("c1a2b3-0-0", "gate-b", kLogged, dir);
  REQUIRE(dated);
  CHECK(*dated == dir + "/2026/12/06/c1a2b3-0-0.cast");
}

TEST_CASE("the logged path, when this machine can read it (a shared directory)") {
  std::string dir = Fresh("shared");
  std::string logged = dir + "/2026/12/06/c1a2b3-0-0.cast";
  Touch(logged);
  auto here = LocateRecording("c1a2b3-0-0", "gate-b", logged, "");
  REQUIRE(here);
  CHECK(*here == logged);
  // A --recordings directory without the file falls back to it too.
  auto fallback = LocateRecording("c1a2b3-0-0", "gate-b", logged, Fresh("empty"));
  REQUIRE(fallback);
  CHECK(*fallback == logged);
}

TEST_CASE("nowhere here: the error says which replica has it and where") {
  auto missing = LocateRecording("c1a2b3-0-0", "gate-b", kLogged, "");
  REQUIRE_FALSE(missing);
  CHECK(missing.message() == "recording c1a2b3-0-0 is on replica gate-b at " + kLogged +
                                 "; copy it here or pass --recordings DIR");
  std::string dir = Fresh("elsewhere");
  auto not_there = LocateRecording("c1a2b3-0-0", "gate-b", kLogged, dir);
  REQUIRE_FALSE(not_there);
  CHECK(not_there.message().find("(not found at " + dir + "/2026/12/06/c1a2b3-0-0.cast or " +
                                 dir + "/c1a2b3-0-0.cast either)") != std::string::npos);
}
