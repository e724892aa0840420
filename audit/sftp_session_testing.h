// Test-only: one SFTP session as the recorded-session relay would see it,
// fed to an SftpObserver and kept as runs of bytes (to replay with other
// splits or to save as a fuzz seed), and a sample session exercising every
// reported operation. Shared by the SFTP observer's and gate's unit tests.
#pragma once

#include <catch2/catch.hpp>

#include <cstdlib>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include "audit/sftp.h"
#include "audit/sftp_testing.h"

namespace hopgate::audit::sftp_testing {


// One session as the relay would see it: packets fed whole unless a test
// splits them, recorded as runs of same-direction bytes in causal order, to
// replay with other splits or save as a fuzz seed.
struct Session {
  SftpObserver obs;
  std::vector<Chunk> runs;

  // A valid client packet passes the gate unchanged.
  void C(const std::string& p) {
    Add(false, p);
    std::string forwarded;
    REQUIRE(obs.FromClient(p, &forwarded).ok());
    REQUIRE(forwarded == p);
  }
  void S(const std::string& p) {
    Add(true, p);
    REQUIRE(obs.FromServer(p).ok());
  }
  void Add(bool from_server, const std::string& p) {
    if (runs.empty() || runs.back().from_server != from_server) runs.push_back({from_server, ""});
    runs.back().bytes += p;
  }
  void Start() {
    C(Init());
    S(Version());
  }
  // SFTP_SEED_DIR=dir writes fuzz seeds (see the sftp_test target in BUILD).
  void Seed(const std::string& name) const {
    if (const char* dir = getenv("SFTP_SEED_DIR")) {
      std::ofstream(std::string(dir) + "/" + name + ".bin", std::ios::binary) << FuzzInput(runs);
    }
  }
};

// What one FromClient call returned and forwarded.
struct Gated {
  Status status;
  std::string forwarded;
};
inline Gated Gate(SftpObserver& o, std::string_view bytes) {
  Gated g;
  g.status = o.FromClient(bytes, &g.forwarded);
  return g;
}

inline std::string Show(const SftpOp& o) {
  return o.op + " " + o.path + " -> " + o.new_path + " [" + o.mode + "] r=" +
         std::to_string(o.bytes_read) + " w=" + std::to_string(o.bytes_written) + " " +
         o.status;
}

inline std::vector<std::string> Show(const std::vector<SftpOp>& ops) {
  std::vector<std::string> out;
  for (const auto& o : ops) out.push_back(Show(o));
  return out;
}

// A session exercising every reported operation, as (client, server) bytes.
inline Session Everything() {
  Session s;
  s.Start();
  s.C(Open(1, "/srv/up.bin", kFxfRead | kFxfWrite | kCreat | kTrunc));
  s.S(Handle(1, "h0"));
  s.C(Write(2, "h0", 0, std::string(1000, 'a')));
  s.C(Write(3, "h0", 1000, std::string(24, 'b')));
  s.S(StatusPkt(2, 0));
  s.S(StatusPkt(3, 0));
  s.C(Read(4, "h0", 0, 4096));
  s.S(Data(4, std::string(700, 'r')));
  s.C(Close(5, "h0"));
  s.S(StatusPkt(5, 0));
  s.C(Open(6, "/nope", kFxfRead));
  s.S(StatusPkt(6, 2));
  s.C(Rename(7, "/a", "/b"));
  s.S(StatusPkt(7, 0));
  s.C(Extended(8, "posix-rename@openssh.com", Str("/b") + Str("/c")));
  s.S(StatusPkt(8, 3));
  s.C(PathPkt(kRemove, 9, "/c"));
  s.S(StatusPkt(9, 0));
  s.C(PathAttrs(kMkdir, 10, "/d", FullAttrs()));
  s.S(StatusPkt(10, 0));
  s.C(PathPkt(kRmdir, 11, "/d"));
  s.S(StatusPkt(11, 4));
  s.C(PathAttrs(kSetstat, 12, "/e", FullAttrs()));
  s.S(StatusPkt(12, 0));
  s.C(Symlink(13, "/target", "/link"));
  s.S(StatusPkt(13, 0));
  return s;
}

inline const std::vector<std::string> kEverythingOps = {
    "open /srv/up.bin ->  [read+write,create,truncate] r=0 w=0 ok",
    "close /srv/up.bin ->  [read+write,create,truncate] r=700 w=1024 ok",
    "open /nope ->  [read] r=0 w=0 no such file",
    "rename /a -> /b [] r=0 w=0 ok",
    "rename /b -> /c [] r=0 w=0 permission denied",
    "remove /c ->  [] r=0 w=0 ok",
    "mkdir /d ->  [] r=0 w=0 ok",
    "rmdir /d ->  [] r=0 w=0 failure",
    "setstat /e ->  [] r=0 w=0 ok",
    "symlink /link -> /target [] r=0 w=0 ok",
};


}  // namespace hopgate::audit::sftp_testing
