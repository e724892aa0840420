#include <catch2/catch.hpp>

#include "common/encoding.h"
#include "common/net.h"
#include "common/strings.h"
#include "common/time_util.h"
#include "common/wire.h"
#include "common/yaml_util.h"

using namespace hopgate;

TEST_CASE("wire reader reads all-or-nothing and rejects trailing bytes") {
  WireWriter w;
  w.PutU32(7);
  w.PutString("abc");
  w.PutU64(0x0102030405060708ULL);
  std::string data = w.Take();
  WireReader r(data);
  uint32_t a;
  std::string_view s;
  uint64_t b;
  REQUIRE(r.ReadU32(&a));
  REQUIRE(r.ReadString(&s));
  REQUIRE(r.ReadU64(&b));
  CHECK(a == 7);
  CHECK(s == "abc");
  CHECK(b == 0x0102030405060708ULL);
  CHECK(r.ExpectEnd());

  std::string with_extra = data + "x";
  WireReader trailing(with_extra);
  trailing.ReadU32(&a);
  trailing.ReadString(&s);
  trailing.ReadU64(&b);
  CHECK_FALSE(trailing.ExpectEnd());
  CHECK(trailing.error().find("trailing") != std::string::npos);

  // A length that runs past the end fails and leaves the output alone.
  std::string bad("\x00\x00\x00\x09" "abc", 7);
  WireReader short_reader(bad);
  s = "untouched";
  CHECK_FALSE(short_reader.ReadString(&s));
  CHECK(s == "untouched");
  CHECK(short_reader.error().find("truncated") != std::string::npos);
  // Once failed, every read fails.
  CHECK_FALSE(short_reader.ReadU8(reinterpret_cast<uint8_t*>(&a)));
}

TEST_CASE("wire reader caps string lengths and rejects bad mpints") {
  WireWriter w;
  w.PutString(std::string(100, 'x'));
  WireReader r(w.data());
  std::string_view s;
  CHECK_FALSE(r.ReadString(&s, 50));
  CHECK(r.error().find("exceeds limit") != std::string::npos);

  WireWriter m;
  m.PutMpint(std::string("\x80\x01", 2));
  WireReader mr(m.data());
  std::string_view mag;
  REQUIRE(mr.ReadMpint(&mag));
  CHECK(mag == std::string("\x80\x01", 2));

  std::string negative("\x00\x00\x00\x01\x80", 5);
  WireReader nr(negative);
  CHECK_FALSE(nr.ReadMpint(&mag));
  std::string padded("\x00\x00\x00\x02\x00\x01", 6);
  WireReader pr(padded);
  CHECK_FALSE(pr.ReadMpint(&mag));
}

TEST_CASE("base64 is strict") {
  CHECK(Base64Encode("hello") == "aGVsbG8=");
  CHECK(Base64Encode("hello", false) == "aGVsbG8");
  CHECK(*Base64Decode("aGVsbG8=") == "hello");
  CHECK(*Base64Decode("aGVsbG8") == "hello");
  CHECK_FALSE(Base64Decode("aGVs bG8=").ok());
  CHECK_FALSE(Base64Decode("aGVsbG9=").ok());  // non-zero leftover bits
  CHECK_FALSE(Base64Decode("a").ok());
  CHECK(Sha256Fingerprint("") == "SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU");
}

TEST_CASE("durations and timestamps") {
  CHECK(*ParseDurationSeconds("30s") == 30);
  CHECK(*ParseDurationSeconds("15m") == 900);
  CHECK(*ParseDurationSeconds("8h") == 28800);
  CHECK(*ParseDurationSeconds("1h30m") == 5400);
  CHECK_FALSE(ParseDurationSeconds("30").ok());
  CHECK_FALSE(ParseDurationSeconds("5x").ok());
  CHECK_FALSE(ParseDurationSeconds("").ok());
  CHECK(FormatDuration(900) == "15m");
  CHECK(FormatRfc3339(1795168800) == "2026-11-20T10:00:00Z");
  CHECK(FormatRfc3339Millis(1795168800123) == "2026-11-20T10:00:00.123Z");
}

TEST_CASE("addresses, CIDRs and host:port") {
  auto c = Cidr::Parse("10.0.0.0/8");
  REQUIRE(c.ok());
  CHECK(c->Contains(*IpAddress::Parse("10.200.1.1")));
  CHECK_FALSE(c->Contains(*IpAddress::Parse("11.0.0.1")));
  CHECK(c->Contains(*IpAddress::Parse("::ffff:10.1.2.3")));
  CHECK_FALSE(Cidr::Parse("10.0.0.1/8").ok());  // host bits set
  CHECK_FALSE(Cidr::Parse("10.0.0.0/33").ok());
  auto v6 = Cidr::Parse("2001:db8::/32");
  REQUIRE(v6.ok());
  CHECK(v6->Contains(*IpAddress::Parse("2001:db8:1::5")));
  CHECK_FALSE(v6->Contains(*IpAddress::Parse("10.0.0.1")));

  auto hp = HostPort::Parse("[::1]:2222");
  REQUIRE(hp.ok());
  CHECK(hp->host == "::1");
  CHECK(hp->port == 2222);
  CHECK(hp->ToString() == "[::1]:2222");
  CHECK(HostPort::Parse("db1.internal:22")->host == "db1.internal");
  CHECK_FALSE(HostPort::Parse("::1:22").ok());
  CHECK_FALSE(HostPort::Parse("host:0").ok());
  CHECK_FALSE(HostPort::Parse("host").ok());
  CHECK(IpAddress::Parse("127.0.0.5")->IsLoopback());
  CHECK(IpAddress::Parse("::1")->IsLoopback());
}

TEST_CASE("glob matching") {
  CHECK(GlobMatch("10.0.3.*", "10.0.3.7"));
  CHECK_FALSE(GlobMatch("10.0.3.*", "10.0.4.7"));
  CHECK(GlobMatch("db?.internal", "db1.internal"));
  CHECK(GlobMatch("*", ""));
  CHECK(GlobMatchNoCase("DB*.internal", "db1.INTERNAL"));
  CHECK_FALSE(GlobMatch("a*b*c", "aXbY"));
}

TEST_CASE("yaml diagnostics name file:line:col") {
  Diagnostics d("p.yaml");
  auto root = ParseYaml("a: 1\nb: [1, 2\n", &d);
  CHECK_FALSE(root.has_value());
  REQUIRE(d.items().size() == 1);
  CHECK(d.items()[0].ToString().rfind("p.yaml:", 0) == 0);

  Diagnostics d2("c.yaml");
  auto root2 = ParseYaml("version: 1\nlisten: []\nlistne: x\nversion: 2\n", &d2);
  REQUIRE(root2.has_value());
  CheckMap(*root2, {"version", "listen"}, "the config", &d2);
  REQUIRE(d2.items().size() == 2);
  CHECK(d2.items()[0].ToString().rfind("c.yaml:3:1: unknown key \"listne\"", 0) == 0);
  CHECK(d2.items()[1].ToString().rfind("c.yaml:4:1: duplicate key \"version\"", 0) == 0);
}
