#include <catch2/catch.hpp>

#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "audit/sftp.h"
#include "audit/sftp_testing.h"
#include "common/wire.h"

using namespace hopgate;
using namespace hopgate::audit;
using namespace hopgate::audit::sftp_testing;

namespace {

// One session as the relay would see it: packets fed whole unless a test
// splits them, recorded as runs of same-direction bytes in causal order, to
// replay with other splits or save as a fuzz seed.
struct Session {
  SftpObserver obs;
  std::vector<Chunk> runs;

  void C(const std::string& p) {
    Add(false, p);
    REQUIRE(obs.FromClient(p).ok());
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

std::string Show(const SftpOp& o) {
  return o.op + " " + o.path + " -> " + o.new_path + " [" + o.mode + "] r=" +
         std::to_string(o.bytes_read) + " w=" + std::to_string(o.bytes_written) + " " +
         o.status;
}

std::vector<std::string> Show(const std::vector<SftpOp>& ops) {
  std::vector<std::string> out;
  for (const auto& o : ops) out.push_back(Show(o));
  return out;
}

// A session exercising every reported operation, as (client, server) bytes.
Session Everything() {
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

const std::vector<std::string> kEverythingOps = {
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

}  // namespace

TEST_CASE("open, write, close: the close carries the bytes written") {
  Session s;
  s.Start();
  s.C(Open(1, "/home/alice/out.txt", kFxfWrite | kCreat | kTrunc));
  CHECK(s.obs.TakeOps().empty());  // not complete until the reply
  const std::string h("\0\0\0\1", 4);  // OpenSSH's handles: a big-endian int
  s.S(Handle(1, h));
  auto ops = s.obs.TakeOps();
  REQUIRE(ops.size() == 1);
  CHECK(Show(ops[0]) == "open /home/alice/out.txt ->  [write,create,truncate] r=0 w=0 ok");
  for (uint32_t i = 0; i < 3; ++i) {
    s.C(Write(10 + i, h, i * 1000, std::string(1000, 'x')));
    s.S(StatusPkt(10 + i, 0));
  }
  s.C(Close(20, h));
  CHECK(s.obs.TakeOps().empty());
  s.S(StatusPkt(20, 0));
  ops = s.obs.TakeOps();
  REQUIRE(ops.size() == 1);
  CHECK(Show(ops[0]) == "close /home/alice/out.txt ->  [write,create,truncate] r=0 w=3000 ok");
  s.Seed("open_write_close");
}

TEST_CASE("open, read to EOF, close: the close carries the bytes read") {
  Session s;
  s.Start();
  s.C(Open(1, "/etc/motd", kFxfRead));
  s.S(Handle(1, "H"));
  s.C(Read(2, "H", 0, 3000));
  s.C(Read(3, "H", 3000, 3000));
  s.C(Read(4, "H", 6000, 3000));
  s.S(Data(2, std::string(3000, 'm')));
  s.S(Data(3, std::string(100, 'm')));
  s.S(StatusPkt(4, 1));  // EOF
  // The client may close before the last data arrives: it still counts.
  s.C(Read(5, "H", 0, 10));
  s.C(Close(6, "H"));
  s.S(Data(5, "0123456789"));
  s.S(StatusPkt(6, 0));
  auto ops = Show(s.obs.TakeOps());
  CHECK(ops == std::vector<std::string>{
                   "open /etc/motd ->  [read] r=0 w=0 ok",
                   "close /etc/motd ->  [read] r=3110 w=0 ok",
               });
  s.Seed("open_read_close");
}

TEST_CASE("open modes and a failing open") {
  Session s;
  s.Start();
  s.C(Open(1, "/a", kFxfWrite | kAppend));
  s.C(Open(2, "/b", kFxfWrite | kCreat | kExcl));
  s.C(Open(3, "/c", 0));
  s.C(Open(4, "/root/secret", kFxfRead));
  s.S(Handle(1, "1"));
  s.S(Handle(2, "2"));
  s.S(StatusPkt(3, 4));
  s.S(StatusPkt(4, 3));
  CHECK(Show(s.obs.TakeOps()) == std::vector<std::string>{
                                     "open /a ->  [write,append] r=0 w=0 ok",
                                     "open /b ->  [write,create,excl] r=0 w=0 ok",
                                     "open /c ->  [none] r=0 w=0 failure",
                                     "open /root/secret ->  [read] r=0 w=0 permission denied",
                                 });
  s.C(Open(5, "/nope", kFxfRead));
  s.S(StatusPkt(5, 2));
  CHECK(Show(s.obs.TakeOps()) == std::vector<std::string>{"open /nope ->  [read] r=0 w=0 no such file"});
  s.Seed("open_modes");
}

TEST_CASE("rename, remove, mkdir, rmdir, setstat, symlink and their statuses") {
  Session s = Everything();
  CHECK(Show(s.obs.TakeOps()) == kEverythingOps);
  CHECK(s.obs.TakeOps().empty());  // taken once
  s.Seed("everything");
}

TEST_CASE("fsetstat and lsetstat report as setstat; uninteresting requests do not report") {
  Session s;
  s.Start();
  s.C(Open(1, "/f", kFxfWrite));
  s.S(Handle(1, "h"));
  s.C(HandleAttrs(kFsetstat, 2, "h", FullAttrs()));
  s.S(StatusPkt(2, 0));
  s.C(Extended(3, "lsetstat@openssh.com", Str("/l") + FullAttrs()));
  s.S(StatusPkt(3, 0));
  s.C(PathPkt(kStat, 4, "/f"));
  s.S(AttrsPkt(4, FullAttrs()));
  s.C(PathPkt(kOpendir, 5, "/"));
  s.S(Handle(5, "dir"));
  s.C(PathPkt(kReaddir, 6, "dir"));
  s.S(Name(6, {{"a", "-rw-r--r-- a"}, {"b", "drwxr-xr-x b"}}));
  s.C(Close(7, "dir"));  // a directory handle: not reported
  s.S(StatusPkt(7, 0));
  s.C(Extended(8, "statvfs@openssh.com", Str("/")));
  s.S(ExtendedReply(8, std::string(88, '\0')));
  s.C(Packet(99, "whatever"));  // unknown types are skipped
  s.S(Packet(150, ""));
  s.S(StatusPkt(12345, 0));  // an answer to nothing we track
  CHECK(Show(s.obs.TakeOps()) == std::vector<std::string>{
                                     "open /f ->  [write] r=0 w=0 ok",
                                     "setstat /f ->  [] r=0 w=0 ok",
                                     "setstat /l ->  [] r=0 w=0 ok",
                                 });
  s.Seed("misc");
}

TEST_CASE("a handle reused after close belongs to the new file") {
  Session s;
  s.Start();
  s.C(Open(1, "/one", kFxfWrite));
  s.S(Handle(1, "h"));
  s.C(Write(2, "h", 0, "11"));
  s.C(Close(3, "h"));
  s.C(Open(4, "/two", kFxfWrite));
  s.S(StatusPkt(2, 0));
  s.S(StatusPkt(3, 0));
  s.S(Handle(4, "h"));
  s.C(Write(5, "h", 0, "2222"));
  s.C(Close(6, "h"));
  s.S(StatusPkt(5, 0));
  s.S(StatusPkt(6, 0));
  CHECK(Show(s.obs.TakeOps()) == std::vector<std::string>{
                                     "open /one ->  [write] r=0 w=0 ok",
                                     "close /one ->  [write] r=0 w=2 ok",
                                     "open /two ->  [write] r=0 w=0 ok",
                                     "close /two ->  [write] r=0 w=4 ok",
                                 });
}

TEST_CASE("a STATUS without message and language tag is accepted") {
  Session s;
  s.Start();
  s.C(PathPkt(kRemove, 1, "/x"));
  s.S(Packet(kStatus, U32(1) + U32(2)));
  CHECK(Show(s.obs.TakeOps()) == std::vector<std::string>{"remove /x ->  [] r=0 w=0 no such file"});
}

TEST_CASE("bytes split anywhere, or many packets in one chunk, give the same ops") {
  Session whole = Everything();
  // Each run of same-direction bytes (often several packets) is fed in
  // n-byte pieces; n = 0 feeds every run as one chunk.
  for (size_t n : {0, 1, 2, 3, 5, 7, 13, 64, 1001}) {
    SftpObserver o;
    for (const auto& run : whole.runs) {
      size_t step = n == 0 ? run.bytes.size() : n;
      for (size_t i = 0; i < run.bytes.size(); i += step) {
        std::string_view piece = std::string_view(run.bytes).substr(i, step);
        REQUIRE((run.from_server ? o.FromServer(piece) : o.FromClient(piece)).ok());
      }
    }
    INFO("pieces of " << n);
    CHECK(Show(o.TakeOps()) == kEverythingOps);
  }
}

TEST_CASE("hundreds of requests in one chunk, their replies in another") {
  std::string requests = Init(), replies = Version();
  for (uint32_t i = 0; i < 500; ++i) {
    requests += PathAttrs(kMkdir, i, "/d" + std::to_string(i), NoAttrs());
    replies += StatusPkt(i, i % 2 == 0 ? 0 : 3);
  }
  SftpObserver o;
  REQUIRE(o.FromClient(requests).ok());
  REQUIRE(o.FromServer(replies).ok());
  auto ops = o.TakeOps();
  REQUIRE(ops.size() == 500);
  CHECK(Show(ops[0]) == "mkdir /d0 ->  [] r=0 w=0 ok");
  CHECK(Show(ops[499]) == "mkdir /d499 ->  [] r=0 w=0 permission denied");
}

namespace {

// Feeds a started session one bad client or server packet and returns the
// error, checking that the observer stays dead with the same error.
std::string Malformed(const std::string& bytes, bool from_client) {
  Session session;
  session.Start();
  static int seeds = 0;
  session.Add(!from_client, bytes);
  session.Seed("malformed_" + std::to_string(++seeds));
  SftpObserver& o = session.obs;
  Status s = from_client ? o.FromClient(bytes) : o.FromServer(bytes);
  REQUIRE_FALSE(s.ok());
  CHECK(o.FromClient(Init()).message() == s.message());
  CHECK(o.FromServer(StatusPkt(1, 0)).message() == s.message());
  return s.message();
}

}  // namespace

TEST_CASE("malformed streams kill the observer with a reason") {
  using Catch::Matchers::Contains;
  CHECK_THAT(Malformed(U32(0x00100000) + "\x03", true), Contains("packet length 1048576"));
  CHECK_THAT(Malformed(U32(0xFFFFFFFF), false), Contains("packet length"));
  CHECK_THAT(Malformed(U32(0), true), Contains("packet length 0"));
  // A string claiming 100 bytes inside a 20-byte OPEN.
  CHECK_THAT(Malformed(Packet(kOpen, U32(1) + U32(100) + "/short"), true),
             Contains("truncated string"));
  CHECK_THAT(Malformed(Packet(kOpen, U32(1) + Str("/f") + U32(kFxfRead) + U32(0) + "junk"), true),
             Contains("trailing"));
  CHECK_THAT(Malformed(Packet(kHandle, U32(1) + Str("h") + "x"), false), Contains("trailing"));
  CHECK_THAT(Malformed(Packet(kData, U32(1)), false), Contains("truncated"));
  CHECK_THAT(Malformed(Packet(kHandle, U32(1) + Str(std::string(300, 'h'))), false),
             Contains("exceeds limit"));
  // Attributes: flags announce fields that are not there; absurd counts.
  CHECK_THAT(Malformed(PathAttrs(kMkdir, 1, "/d", U32(kAttrSize) + U32(1)), true),
             Contains("truncated"));
  CHECK_THAT(Malformed(PathAttrs(kSetstat, 1, "/d", U32(kAttrExtended) + U32(1000000)), true),
             Contains("extended attribute count"));
  CHECK_THAT(Malformed(Packet(kName, U32(1) + U32(0x7FFFFFFF)), false), Contains("name count"));
  CHECK_THAT(Malformed(Init(), true), Contains("second INIT"));
  CHECK_THAT(Malformed(Version(), false), Contains("second VERSION"));
}

TEST_CASE("protocol misuse fails closed") {
  using Catch::Matchers::Contains;
  SECTION("requests before INIT, replies before VERSION") {
    SftpObserver a;
    CHECK_THAT(a.FromClient(Open(1, "/f", kFxfRead)).message(), Contains("before INIT"));
    SftpObserver b;
    CHECK_THAT(b.FromServer(StatusPkt(1, 0)).message(), Contains("before VERSION"));
  }
  SECTION("versions above 3 cannot be parsed, so they are refused") {
    SftpObserver o;
    REQUIRE(o.FromClient(Packet(kInit, U32(6))).ok());
    CHECK_THAT(o.FromServer(Packet(kVersion, U32(6))).message(), Contains("version 6"));
  }
  SECTION("an outstanding request id reused") {
    SftpObserver o;
    REQUIRE(o.FromClient(Init()).ok());
    REQUIRE(o.FromClient(Open(7, "/secret", kFxfRead)).ok());
    CHECK_THAT(o.FromClient(Open(7, "/decoy", kFxfRead)).message(), Contains("request id 7 reused"));
  }
  SECTION("too many outstanding requests") {
    SftpObserver o;
    REQUIRE(o.FromClient(Init()).ok());
    std::string many;
    for (uint32_t i = 0; i < SftpObserver::kMaxPending; ++i) many += PathPkt(kRemove, i, "/x");
    REQUIRE(o.FromClient(many).ok());
    CHECK_THAT(o.FromClient(PathPkt(kRemove, 99999999, "/x")).message(),
               Contains("too many outstanding"));
  }
  SECTION("too much request state") {
    SftpObserver o;
    REQUIRE(o.FromClient(Init()).ok());
    std::string big(200 * 1024, 'p');
    Status s;
    uint32_t id = 0;
    while (s.ok() && id < 1000) s = o.FromClient(PathPkt(kRemove, id++, big));
    CHECK_THAT(s.message(), Contains("too much request state"));
  }
}

TEST_CASE("unknown packet types are skipped, but still length-checked") {
  Session s;
  s.Start();
  s.C(Packet(250, std::string(1000, '\xff')));
  s.S(Packet(99, ""));
  s.C(PathPkt(kRmdir, 1, "/d"));
  s.S(StatusPkt(1, 0));
  CHECK(s.obs.TakeOps().size() == 1);
  CHECK_FALSE(s.obs.FromClient(U32(SftpObserver::kMaxPacket + 1) + "\xfa").ok());
}
