// A real PostgreSQL server for fleet tests (Debian's postgresql: initdb and
// pg_ctl in a temporary directory under /tmp, on a loopback port, run as the
// `postgres` user). The same fixture as tests/fleet_test.cc's, shared here
// for the tests written after it.
#pragma once

#include <dirent.h>
#include <pwd.h>
#include <unistd.h>

#include <sstream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "tests/support/harness.h"

namespace hopgate::testing {

// The newest PostgreSQL server installed (/usr/lib/postgresql/<v>/bin).
inline std::string PgBin() {
  std::string best;
  if (DIR* d = opendir("/usr/lib/postgresql")) {
    while (dirent* e = readdir(d)) {
      std::string v = e->d_name;
      if (v[0] >= '0' && v[0] <= '9' && (best.empty() || std::stoi(v) > std::stoi(best))) best = v;
    }
    closedir(d);
  }
  if (best.empty()) FAIL("PostgreSQL is not installed (Debian package postgresql)");
  return "/usr/lib/postgresql/" + best + "/bin/";
}

// A PostgreSQL server of its own, run as the `postgres` user (initdb refuses
// root) in a directory under /tmp it can enter ($TEST_TMPDIR is under /root).
class Postgres {
 public:
  Postgres() : bin_(PgBin()) {
    char pattern[] = "/tmp/hopgate-fleet-pg-XXXXXX";
    REQUIRE(mkdtemp(pattern) != nullptr);
    dir_ = pattern;
    struct passwd* pw = getpwnam("postgres");
    REQUIRE(pw != nullptr);
    REQUIRE(chown(dir_.c_str(), pw->pw_uid, pw->pw_gid) == 0);
    RunResult init = AsPostgres({bin_ + "initdb", "-D", dir_ + "/data", "--auth=trust", "-U",
                                 "hopgate", "--no-sync"});
    INFO(init.out << init.err);
    REQUIRE(init.exit_code == 0);
    for (int attempt = 0; attempt < 5 && port_ == 0; ++attempt) {
      int port = FreePort();
      if (StartOn(port)) port_ = port;  // else another test took the port first
    }
    INFO(ReadFile(dir_ + "/log"));
    REQUIRE(port_ != 0);
  }
  ~Postgres() {
    Stop();
    Run({"rm", "-rf", dir_});
  }
  void Stop() {
    AsPostgres({bin_ + "pg_ctl", "-D", dir_ + "/data", "-m", "fast", "-w", "stop"});
  }
  void Start() {
    INFO(ReadFile(dir_ + "/log"));
    REQUIRE(StartOn(port_));
  }
  std::string dsn() const {
    return "postgresql://hopgate@127.0.0.1:" + std::to_string(port_) + "/postgres";
  }
  // psql's unaligned output of `sql`, one row a line.
  std::vector<std::string> Query(const std::string& sql) {
    RunResult r = Run({bin_ + "psql", "-X", "-At", "-d", dsn(), "-c", sql});
    INFO(sql << ": " << r.err);
    REQUIRE(r.exit_code == 0);
    std::vector<std::string> rows;
    std::istringstream in(r.out);
    for (std::string line; std::getline(in, line);) rows.push_back(line);
    return rows;
  }

 private:
  RunResult AsPostgres(std::vector<std::string> argv) {
    argv.insert(argv.begin(), {"runuser", "-u", "postgres", "--"});
    return Run(argv, "", 120'000);
  }
  bool StartOn(int port) {
    std::string options = "-k " + dir_ + " -p " + std::to_string(port) +
                          " -c listen_addresses=127.0.0.1 -c fsync=off";
    return AsPostgres({bin_ + "pg_ctl", "-D", dir_ + "/data", "-l", dir_ + "/log", "-o", options,
                       "-w", "-t", "60", "start"})
               .exit_code == 0;
  }

  std::string bin_, dir_;
  int port_ = 0;
};

}  // namespace hopgate::testing
