#include <catch2/catch.hpp>

#include <cstdlib>
#include <fstream>
#include <sys/stat.h>

#include "audit/sink.h"

using namespace hopgate;
using namespace hopgate::audit;

TEST_CASE("file sink writes one JSON object per line with timestamp and connection") {
  std::string path = std::string(getenv("TEST_TMPDIR") ? getenv("TEST_TMPDIR") : "/tmp") +
                     "/audit-test.jsonl";
  remove(path.c_str());
  auto sink = FileSink::Open(path);
  REQUIRE(sink.ok());
  std::shared_ptr<Sink> s = std::move(*sink);
  Log log(s, [] { return int64_t{1795168800123}; });
  Auth a;
  a.user = "alice";
  a.client_addr = "127.0.0.1";
  a.client_port = 40000;
  a.method = "publickey";
  a.key_type = "ssh-ed25519";
  a.fingerprint = "SHA256:abc";
  a.success = false;
  a.reason = "key not listed for user \"alice\"\nwith newline";
  REQUIRE(log.Record("c-1", a).ok());
  ChannelOpen o;
  o.channel = 3;
  o.kind = "direct-tcpip";
  o.destination = "db1:22";
  o.allow = false;
  o.reason = "no rule permits direct-tcpip to db1:22 for user alice";
  REQUIRE(log.Record("c-1", o).ok());

  struct stat st;
  REQUIRE(stat(path.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  std::ifstream in(path);
  std::string l1, l2, l3;
  REQUIRE(std::getline(in, l1));
  REQUIRE(std::getline(in, l2));
  CHECK_FALSE(std::getline(in, l3));
  auto j1 = nlohmann::json::parse(l1);
  CHECK(j1["ts"] == "2026-11-20T10:00:00.123Z");
  CHECK(j1["type"] == "auth");
  CHECK(j1["connection"] == "c-1");
  CHECK(j1["result"] == "failure");
  CHECK(j1["reason"] == "key not listed for user \"alice\"\nwith newline");
  auto j2 = nlohmann::json::parse(l2);
  CHECK(j2["type"] == "channel_open");
  CHECK(j2["decision"] == "deny");
  CHECK(j2["destination"] == "db1:22");
}

TEST_CASE("a write failure is reported and marks the sink unhealthy") {
  auto sink = FileSink::Open("/dev/full");
  REQUIRE(sink.ok());
  Log log(std::move(*sink), [] { return int64_t{0}; });
  ConnectionClose c;
  c.reason = "test";
  Status st = log.Record("c-2", c);
  CHECK_FALSE(st.ok());
  CHECK(st.message().find("No space left") != std::string::npos);
  CHECK_FALSE(log.Healthy());
}
