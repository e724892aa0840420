#include <catch2/catch.hpp>

#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "audit/sftp.h"
#include "audit/sftp_session_testing.h"
#include "audit/sftp_testing.h"
#include "common/wire.h"

using namespace hopgate;
using namespace hopgate::audit;
using namespace hopgate::audit::sftp_testing;


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
  s.S(Packet(150, ""));  // unknown reply types are skipped
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
    std::string forwarded, client;
    for (const auto& run : whole.runs) {
      size_t step = n == 0 ? run.bytes.size() : n;
      for (size_t i = 0; i < run.bytes.size(); i += step) {
        std::string_view piece = std::string_view(run.bytes).substr(i, step);
        REQUIRE((run.from_server ? o.FromServer(piece) : o.FromClient(piece, &forwarded)).ok());
      }
      if (!run.from_server) client += run.bytes;
    }
    INFO("pieces of " << n);
    CHECK(Show(o.TakeOps()) == kEverythingOps);
    CHECK(forwarded == client);
    CHECK(o.buffered_client_bytes() == 0);
  }
}

TEST_CASE("hundreds of requests in one chunk, their replies in another") {
  std::string requests = Init(), replies = Version();
  for (uint32_t i = 0; i < 500; ++i) {
    requests += PathAttrs(kMkdir, i, "/d" + std::to_string(i), NoAttrs());
    replies += StatusPkt(i, i % 2 == 0 ? 0 : 3);
  }
  SftpObserver o;
  Gated g = Gate(o, requests);
  REQUIRE(g.status.ok());
  CHECK(g.forwarded == requests);
  REQUIRE(o.FromServer(replies).ok());
  auto ops = o.TakeOps();
  REQUIRE(ops.size() == 500);
  CHECK(Show(ops[0]) == "mkdir /d0 ->  [] r=0 w=0 ok");
  CHECK(Show(ops[499]) == "mkdir /d499 ->  [] r=0 w=0 permission denied");
}

namespace {

// Feeds a started session one bad client or server packet and returns the
// error, checking that nothing more is forwarded, and that a bad reply also
// stops the observer while a refused request leaves it following replies.
std::string Malformed(const std::string& bytes, bool from_client) {
  Session session;
  session.Start();
  static int seeds = 0;
  session.Add(!from_client, bytes);
  session.Seed("malformed_" + std::to_string(++seeds));
  SftpObserver& o = session.obs;
  std::string forwarded;
  Status s = from_client ? o.FromClient(bytes, &forwarded) : o.FromServer(bytes);
  REQUIRE_FALSE(s.ok());
  CHECK(forwarded.empty());
  Gated later = Gate(o, PathPkt(kStat, 1, "/"));
  CHECK(later.status.message() == s.message());
  CHECK(later.forwarded.empty());
  if (from_client) {
    CHECK(o.FromServer(StatusPkt(1, 0)).ok());
  } else {
    CHECK(o.FromServer(StatusPkt(1, 0)).message() == s.message());
  }
  CHECK(o.buffered_client_bytes() == 0);
  return s.message();
}

}  // namespace

TEST_CASE("malformed packets are refused with a reason") {
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
  // Arguments OpenSSH's sftp-server would have skipped or died on.
  CHECK_THAT(Malformed(WithTrailing(PathPkt(kRemove, 1, "/f"), std::string(1, '\0')), true),
             Contains("sftp client packet type 13 (REMOVE): 1 trailing byte at offset"));
  CHECK_THAT(Malformed(WithTrailing(Read(1, "h", 0, 10), "xy"), true),
             Contains("(READ): 2 trailing bytes"));
  CHECK_THAT(Malformed(WithTrailing(PathPkt(kFstat, 1, "h"), "?"), true),
             Contains("(FSTAT): 1 trailing"));
  CHECK_THAT(Malformed(PathPkt(kRemove, 1, std::string("/ok\0/etc/passwd", 15)), true),
             Contains("path contains a NUL byte"));
  CHECK_THAT(Malformed(Close(1, std::string(257, 'h')), true), Contains("exceeds limit of 256"));
  CHECK_THAT(Malformed(Packet(kRemove, ""), true), Contains("truncated uint32"));
  CHECK_THAT(Malformed(Packet(99, "whatever"), true),
             Contains("packet type 99 (unknown): unknown request type, refused"));
  CHECK_THAT(Malformed(Version(), true), Contains("(VERSION): unknown request type"));
  CHECK_THAT(Malformed(Extended(1, "evil@example.com", Str("/x")), true),
             Contains("(EXTENDED \"evil@example.com\"): unknown extension, refused"));
  CHECK_THAT(Malformed(Extended(1, "users-groups-by-id@openssh.com", Str("12345") + Str("")), true),
             Contains("uid list of 5 bytes"));
  CHECK_THAT(Malformed(Version(), false), Contains("second VERSION"));
}

TEST_CASE("protocol misuse fails closed") {
  using Catch::Matchers::Contains;
  SECTION("requests before INIT, replies before VERSION") {
    SftpObserver a;
    CHECK_THAT(Gate(a, Open(1, "/f", kFxfRead)).status.message(), Contains("before INIT"));
    SftpObserver b;
    CHECK_THAT(b.FromServer(StatusPkt(1, 0)).message(), Contains("before VERSION"));
  }
  SECTION("versions above 3 cannot be parsed, so they are refused") {
    SftpObserver o;
    REQUIRE(Gate(o, Packet(kInit, U32(6))).status.ok());
    CHECK_THAT(o.FromServer(Packet(kVersion, U32(6))).message(), Contains("version 6"));
  }
  SECTION("an outstanding request id reused") {
    SftpObserver o;
    REQUIRE(Gate(o, Init()).status.ok());
    REQUIRE(Gate(o, Open(7, "/secret", kFxfRead)).status.ok());
    Gated g = Gate(o, Open(7, "/decoy", kFxfRead));
    CHECK_THAT(g.status.message(), Contains("request id 7 reused"));
    CHECK(g.forwarded.empty());
  }
  SECTION("too many outstanding requests, of any type") {
    SftpObserver o;
    REQUIRE(Gate(o, Init()).status.ok());
    std::string many;
    for (uint32_t i = 0; i < SftpObserver::kMaxPending; ++i) many += PathPkt(kStat, i, "/x");
    REQUIRE(Gate(o, many).status.ok());
    REQUIRE(o.FromServer(Version() + AttrsPkt(0, NoAttrs())).ok());  // frees one
    REQUIRE(Gate(o, PathPkt(kRemove, 99999998, "/x")).status.ok());
    CHECK_THAT(Gate(o, PathPkt(kRemove, 99999999, "/x")).status.message(),
               Contains("too many outstanding"));
  }
  SECTION("too much request state") {
    SftpObserver o;
    REQUIRE(Gate(o, Init()).status.ok());
    std::string big(200 * 1024, 'p');
    Status s;
    uint32_t id = 0;
    while (s.ok() && id < 1000) s = Gate(o, PathPkt(kRemove, id++, big)).status;
    CHECK_THAT(s.message(), Contains("too much request state"));
  }
}

TEST_CASE("unknown reply types are skipped; unknown request types are refused") {
  Session s;
  s.Start();
  s.S(Packet(99, ""));
  s.S(Packet(250, std::string(1000, '\xff')));
  s.C(PathPkt(kRmdir, 1, "/d"));
  s.S(StatusPkt(1, 0));
  CHECK(s.obs.TakeOps().size() == 1);
  for (uint8_t type : {0, 2, 21, 101, 199, 201, 250}) {
    SftpObserver o;
    REQUIRE(Gate(o, Init()).status.ok());
    Gated g = Gate(o, Packet(type, U32(1) + Str("/x")));
    INFO("type " << int{type});
    CHECK_THAT(g.status.message(), Catch::Matchers::Contains("unknown request type, refused"));
    CHECK(g.forwarded.empty());
  }
  SftpObserver o;
  CHECK_FALSE(Gate(o, U32(SftpObserver::kMaxPacket + 1) + "\xfa").status.ok());
}

// --- The client->server gate: only what was accounted for is forwarded. ---
