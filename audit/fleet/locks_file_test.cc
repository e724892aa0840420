#include "audit/fleet/locks_file.h"

#include <stdlib.h>
#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

using namespace hopgate::audit::fleet;

namespace {

std::string TempDir() {
  const char* base = getenv("TEST_TMPDIR");
  std::string pattern = std::string(base ? base : "/tmp") + "/locks-XXXXXX";
  REQUIRE(mkdtemp(pattern.data()) != nullptr);
  return pattern;
}

void Write(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
}

std::string Read(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

constexpr int64_t kNow = 1'800'000'000;  // 2027-01-15T08:00:00Z

}  // namespace

TEST_CASE("hopctl's writes: ids only grow, unlock by id or by value, expired locks go") {
  std::string path = TempDir() + "/locks.json";
  CHECK(ReadLocksFile(path)->locks.empty());  // no file: no locks
  CHECK(*AddFileLock(path, "user", "alice", "left", 0, kNow) == 1);
  CHECK(*AddFileLock(path, "source", "10.0.0.0/8", "", 60, kNow) == 2);
  CHECK(*AddFileLock(path, "user", "alice", "again", 0, kNow) == 3);
  auto f = ReadLocksFile(path);
  REQUIRE(f);
  REQUIRE(f->locks.size() == 3);
  CHECK(f->next_id == 4);
  CHECK(f->locks[0].created == "2027-01-15T08:00:00Z");
  CHECK(f->locks[1].expires == "2027-01-15T08:01:00Z");
  CHECK(f->locks[1].expires_unix == kNow + 60);
  CHECK(f->locks[0].expires.empty());
  CHECK(ActiveFileLocks(*f, kNow + 60).size() == 2);  // the source lock expired

  CHECK(*RemoveFileLocks(path, 0, "user", "alice", kNow) == 2);
  CHECK(*RemoveFileLocks(path, 7, "", "", kNow) == 0);
  // Lock 2 has expired by now: lifting it lifts nothing, and it leaves the file.
  CHECK(*RemoveFileLocks(path, 2, "", "", kNow + 61) == 0);
  CHECK(ReadLocksFile(path)->locks.empty());
  CHECK(*AddFileLock(path, "key", "SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU", "", 0, kNow) == 4);
  // A reason that is not UTF-8 is stored, its bad bytes replaced.
  CHECK(*AddFileLock(path, "user", "dave", "bad \xff byte", 0, kNow) == 5);
  CHECK(ReadLocksFile(path)->locks.back().reason == "bad \xef\xbf\xbd byte");
  struct stat st {};
  REQUIRE(stat(path.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0640);
}

TEST_CASE("a malformed locks file is an error naming the file and place, and is never overwritten") {
  std::string path = TempDir() + "/locks.json";
  Write(path, "{\"version\": 1,\n \"next_id\": 2,\n \"locks\": [\n  {\"id\": 1 \"kind\": \"user\"}]}\n");
  auto f = ReadLocksFile(path);
  REQUIRE_FALSE(f);
  INFO(f.message());
  CHECK(f.message().find(path + ":4:17: ") == 0);
  std::string before = Read(path);
  auto add = AddFileLock(path, "user", "bob", "", 0, kNow);
  REQUIRE_FALSE(add);
  CHECK(add.message() == f.message());
  CHECK(Read(path) == before);

  struct Case {
    const char* text;
    const char* message;
  };
  for (const Case& c : {
           Case{"[]", ": not a JSON object"},
           Case{"{\"version\": 2, \"next_id\": 1, \"locks\": []}", ": version must be 1"},
           Case{"{\"version\": 1, \"next_id\": 1, \"locks\": [], \"extra\": 1}", ": unknown key \"extra\""},
           Case{"{\"version\": 1, \"next_id\": 2, \"locks\": [{\"id\": 1, \"kind\": \"host\", \"value\": \"x\"}]}",
                ": locks[0] (id 1): unknown lock kind \"host\" (user, key, cert-serial or source)"},
           Case{"{\"version\": 1, \"next_id\": 2, \"locks\": [{\"id\": 1, \"kind\": \"source\", \"value\": \"10.0.0.1/8\"}]}",
                ": locks[0] (id 1): not a CIDR block: \"10.0.0.1/8\""},
           Case{"{\"version\": 1, \"next_id\": 2, \"locks\": [{\"id\": 1, \"kind\": \"user\", \"value\": \"a\", "
                "\"expires\": \"tomorrow\"}]}",
                ": locks[0] (id 1): expires must be null or a UTC time like 2026-12-06T05:30:00Z"},
           Case{"{\"version\": 1, \"next_id\": 2, \"locks\": [{\"id\": 1, \"kind\": \"user\", \"value\": \"a\"},"
                " {\"id\": 1, \"kind\": \"user\", \"value\": \"b\"}]}",
                ": locks[1]: id 1 appears twice"},
           Case{"{\"version\": 1, \"next_id\": 1, \"locks\": [{\"id\": 1, \"kind\": \"user\", \"value\": \"a\"}]}",
                ": locks[0]: id 1 is not below next_id 1"},
       }) {
    auto r = ParseLocksFile(c.text, "locks.json");
    INFO(c.text);
    REQUIRE_FALSE(r);
    CHECK(r.message().rfind("locks.json" + std::string(c.message), 0) == 0);
  }
}

TEST_CASE("the watcher hands over each good version and keeps the last good one on errors") {
  std::string path = TempDir() + "/locks.json";
  std::mutex mu;
  std::vector<std::vector<FleetLock>> seen;
  std::vector<std::string> errors;
  LocksFileWatcher::Options o;
  o.path = path;
  o.poll_ms = 20;
  o.on_locks = [&](std::vector<FleetLock> locks) {
    std::lock_guard<std::mutex> lock(mu);
    seen.push_back(std::move(locks));
  };
  o.log = [&](bool error, const std::string& m) {
    std::lock_guard<std::mutex> lock(mu);
    if (error) errors.push_back(m);
  };
  auto wait_for = [&](const std::function<bool()>& cond) {
    for (int i = 0; i < 500; ++i) {
      {
        std::lock_guard<std::mutex> lock(mu);
        if (cond()) return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  };
  LocksFileWatcher w(o);
  w.Start();
  // Start() read the (missing) file before returning: no locks.
  {
    std::lock_guard<std::mutex> lock(mu);
    REQUIRE(seen.size() == 1);
    CHECK(seen[0].empty());
  }
  REQUIRE(AddFileLock(path, "user", "alice", "", 0, kNow));
  REQUIRE(wait_for([&] { return seen.size() == 2; }));
  Write(path, "{not json");
  REQUIRE(wait_for([&] { return errors.size() == 1; }));
  INFO(errors[0]);
  CHECK(errors[0].find("locks file " + path + ":1:3: ") == 0);
  CHECK(errors[0].find("the last good locks (1) stay in force") != std::string::npos);
  REQUIRE(wait_for([&] { return true; }));
  {
    std::lock_guard<std::mutex> lock(mu);
    CHECK(seen.size() == 2);  // nothing handed over for the bad file
    CHECK(seen[1].at(0).value == "alice");
  }
  w.Stop();
}
