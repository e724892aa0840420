// The SFTP gate: what the recorded-session relay forwards to the target is
// exactly what the observer accounted for (trailing bytes, reused request
// ids, every OpenSSH extension parsed to its last byte, cut points), and
// what it forwarded but never saw answered is still reported.
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

TEST_CASE("a REMOVE with one trailing byte is not forwarded") {
  SftpObserver o;
  REQUIRE(Gate(o, Init()).status.ok());
  const std::string good = PathPkt(kRemove, 1, "/keep");
  const std::string bad = WithTrailing(PathPkt(kRemove, 2, "/victim"), "x");
  Gated g = Gate(o, good + bad + PathPkt(kRemove, 3, "/after"));
  CHECK(g.status.message() ==
        "sftp client packet type 13 (REMOVE): 1 trailing byte at offset 16");
  CHECK(g.forwarded == good);  // the packet before the bad one was valid
  // The gate stays shut: nothing more passes.
  Gated later = Gate(o, PathPkt(kRemove, 4, "/later"));
  CHECK(later.status.message() == g.status.message());
  CHECK(later.forwarded.empty());
  // The REMOVE that was forwarded is still audited when its reply comes.
  REQUIRE(o.FromServer(Version() + StatusPkt(1, 0)).ok());
  CHECK(Show(o.TakeOps()) == std::vector<std::string>{"remove /keep ->  [] r=0 w=0 ok"});
  CHECK(Gate(o, PathPkt(kStat, 5, "/")).status.message() == g.status.message());
}

TEST_CASE("a request id still outstanding is refused for every request type") {
  SECTION("two REMOVEs with one id in one feed: the first is forwarded, the second not") {
    SftpObserver o;
    REQUIRE(Gate(o, Init()).status.ok());
    const std::string first = PathPkt(kRemove, 5, "/a");
    Gated g = Gate(o, first + PathPkt(kRemove, 5, "/b"));
    CHECK_THAT(g.status.message(),
               Catch::Matchers::Contains("(REMOVE): request id 5 reused while outstanding"));
    CHECK(g.forwarded == first);
  }
  // Requests that are never reported still hold their id until answered.
  const std::vector<std::string> requests = {
      Open(5, "/f", kFxfRead), Close(5, "h"), Read(5, "h", 0, 1), Write(5, "h", 0, "d"),
      PathPkt(kLstat, 5, "/"), PathPkt(kFstat, 5, "h"), PathAttrs(kSetstat, 5, "/", NoAttrs()),
      HandleAttrs(kFsetstat, 5, "h", NoAttrs()), PathPkt(kOpendir, 5, "/"),
      PathPkt(kReaddir, 5, "h"), PathPkt(kRemove, 5, "/"), PathAttrs(kMkdir, 5, "/", NoAttrs()),
      PathPkt(kRmdir, 5, "/"), PathPkt(kRealpath, 5, "."), PathPkt(kStat, 5, "/"),
      Rename(5, "/a", "/b"), PathPkt(kReadlink, 5, "/l"), Symlink(5, "/t", "/l"),
      Extended(5, "limits@openssh.com", ""), Hardlink(5, "/a", "/b"),
  };
  for (const auto& first : requests) {
    for (const auto& second :
         {PathPkt(kStat, 5, "/"), Extended(5, "statvfs@openssh.com", Str("/"))}) {
      SftpObserver o;
      REQUIRE(Gate(o, Init()).status.ok());
      REQUIRE(Gate(o, first).status.ok());
      Gated g = Gate(o, second);
      INFO("first request of type " << int{static_cast<uint8_t>(first[4])});
      CHECK_THAT(g.status.message(), Catch::Matchers::Contains("request id 5 reused"));
      CHECK(g.forwarded.empty());
    }
    // Once answered (whatever the reply type), the id is free again.
    for (const auto& reply : {StatusPkt(5, 0), ExtendedReply(5, std::string(88, '\0'))}) {
      SftpObserver o;
      REQUIRE(Gate(o, Init()).status.ok());
      REQUIRE(Gate(o, first).status.ok());
      REQUIRE(o.FromServer(Version() + reply).ok());
      CHECK(Gate(o, PathPkt(kStat, 5, "/")).status.ok());
    }
  }
}

namespace {

// Every extension OpenSSH 9.2's sftp-server implements, well formed.
std::vector<std::pair<std::string, std::string>> ExtensionCases() {
  return {
      {"posix-rename@openssh.com", Str("/a") + Str("/b")},
      {"statvfs@openssh.com", Str("/")},
      {"fstatvfs@openssh.com", Str("h")},
      {"hardlink@openssh.com", Str("/old") + Str("/new")},
      {"fsync@openssh.com", Str("h")},
      {"lsetstat@openssh.com", Str("/l") + FullAttrs()},
      {"limits@openssh.com", ""},
      {"expand-path@openssh.com", Str("~/x")},
      {"copy-data", Str("r") + U64(0) + U64(100) + Str("w") + U64(7)},
      {"home-directory", Str("alice")},
      {"users-groups-by-id@openssh.com", Str(U32(0) + U32(1000)) + Str(U32(0))},
  };
}

}  // namespace

TEST_CASE("each OpenSSH extension is parsed to its last byte and forwarded byte-exactly") {
  using Catch::Matchers::Contains;
  Session s;
  s.Start();
  uint32_t id = 1;
  for (const auto& [name, args] : ExtensionCases()) {
    INFO(name);
    s.C(Extended(id, name, args));  // forwarded unchanged
    s.S(StatusPkt(id++, 0));
    // One byte more or one byte less is refused, and not forwarded.
    SftpObserver o;
    REQUIRE(Gate(o, Init()).status.ok());
    Gated longer = Gate(o, WithTrailing(Extended(1, name, args), "x"));
    CHECK_THAT(longer.status.message(), Contains("(EXTENDED \"" + name + "\"): 1 trailing byte"));
    CHECK(longer.forwarded.empty());
    if (!args.empty()) {
      SftpObserver p;
      REQUIRE(Gate(p, Init()).status.ok());
      std::string shorter = Extended(1, name, args.substr(0, args.size() - 1));
      Gated g = Gate(p, shorter);
      CHECK_THAT(g.status.message(), Contains("truncated"));
      CHECK(g.forwarded.empty());
    }
  }
  s.Seed("extensions");
}

TEST_CASE("hardlink and copy-data are reported after the server's STATUS") {
  Session s;
  s.Start();
  s.C(Open(1, "/src", kFxfRead));
  s.C(Open(2, "/dst", kFxfWrite | kCreat));
  s.S(Handle(1, "r"));
  s.S(Handle(2, "w"));
  s.C(Hardlink(3, "/src", "/src.link"));
  s.C(CopyData(4, "r", 0, 0, "w", 0));       // until end of file
  s.C(CopyData(5, "r", 10, 4096, "nope", 0));  // an unknown write handle
  CHECK(s.obs.TakeOps().size() == 2);  // the opens; the rest await replies
  s.S(StatusPkt(3, 0));
  s.S(StatusPkt(4, 0));
  s.S(StatusPkt(5, 4));
  CHECK(Show(s.obs.TakeOps()) == std::vector<std::string>{
                                     "hardlink /src.link -> /src [] r=0 w=0 ok",
                                     "copy-data /src -> /dst [] r=0 w=0 ok",
                                     "copy-data /src ->  [] r=0 w=4096 failure",
                                 });
  s.C(Close(6, "w"));
  s.S(StatusPkt(6, 0));
  // Close totals count READ and WRITE traffic only; copy-data is its own op.
  CHECK(Show(s.obs.TakeOps()) ==
        std::vector<std::string>{"close /dst ->  [write,create] r=0 w=0 ok"});
  s.Seed("hardlink_copy_data");
}

TEST_CASE("a reply of another kind still answers a reported request") {
  Session s;
  s.Start();
  s.C(Extended(1, "posix-rename@openssh.com", Str("/a") + Str("/b")));
  s.S(ExtendedReply(1, "odd"));
  CHECK(Show(s.obs.TakeOps()) ==
        std::vector<std::string>{"rename /a -> /b [] r=0 w=0 unexpected reply 201"});
  s.C(PathPkt(kRemove, 1, "/a"));  // id 1 is free again
}

TEST_CASE("client bytes cut at every boundary are forwarded exactly") {
  // Client bytes alone: ids are unique, so no reply is needed to free one.
  std::string stream;
  for (const auto& run : Everything().runs) {
    if (!run.from_server) stream += run.bytes;
  }
  uint32_t id = 100;
  for (const auto& [name, args] : ExtensionCases()) stream += Extended(id++, name, args);
  for (size_t cut = 0; cut <= stream.size(); ++cut) {
    SftpObserver o;
    std::string forwarded;
    REQUIRE(o.FromClient(std::string_view(stream).substr(0, cut), &forwarded).ok());
    // Only whole packets go out; the rest waits, and is counted.
    CHECK(forwarded.size() + o.buffered_client_bytes() == cut);
    REQUIRE(o.FromClient(std::string_view(stream).substr(cut), &forwarded).ok());
    REQUIRE(forwarded == stream);
    REQUIRE(o.buffered_client_bytes() == 0);
  }
}

TEST_CASE("requests forwarded but never answered are still reported when the channel closes") {
  SftpObserver obs;
  std::string fwd;
  REQUIRE(obs.FromClient(Init(), &fwd).ok());
  REQUIRE(obs.FromServer(Version()).ok());
  REQUIRE(obs.FromClient(PathPkt(kRemove, 7, "/srv/gone"), &fwd).ok());
  REQUIRE(obs.FromClient(PathPkt(kStat, 8, "/srv"), &fwd).ok());
  CHECK(obs.TakeOps().empty());
  auto left = obs.TakeUnanswered();
  REQUIRE(left.size() == 1);
  CHECK(left[0].op == "remove");
  CHECK(left[0].path == "/srv/gone");
  CHECK(left[0].status == "no reply (channel closed first)");
  CHECK(obs.TakeUnanswered().empty());
}
