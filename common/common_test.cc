#include <arpa/inet.h>
#include <catch2/catch.hpp>

#include <cstring>
#include <functional>
#include <vector>

#include "common/encoding.h"
#include "common/host.h"
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
  // An IPv4-mapped block means those IPv4 addresses, however they arrive
  // (found by common/fuzz/net_fuzzer: it used to match nothing).
  for (const char* mapped : {"::ffff:10.0.0.0/104", "::ffff:10.1.2.3"}) {
    INFO(mapped);
    auto m = Cidr::Parse(mapped);
    REQUIRE(m.ok());
    CHECK(m->Contains(*IpAddress::Parse("10.1.2.3")));
    CHECK(m->Contains(*IpAddress::Parse("::ffff:10.1.2.3")));
    CHECK_FALSE(m->Contains(*IpAddress::Parse("11.1.2.3")));
  }
  CHECK(Cidr::Parse("::ffff:10.0.0.0/104")->ToString() == "10.0.0.0/8");

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

// ---------------------------------------------------------------- hosts

TEST_CASE("canonical hosts: every spelling getaddrinfo accepts becomes one address") {
  struct Case {
    const char* text;
    const char* canonical;  // nullptr: malformed
  };
  std::vector<Case> cases = {
      {"127.0.0.1", "127.0.0.1"},
      {"127.1", "127.0.0.1"},
      {"127.0.1", "127.0.0.1"},
      {"2130706433", "127.0.0.1"},
      {"0x7f.0.0.1", "127.0.0.1"},
      {"0X7F.0.0.1", "127.0.0.1"},
      {"0x7F000001", "127.0.0.1"},
      {"0177.0.0.1", "127.0.0.1"},
      {"127.0.0.01", "127.0.0.1"},
      {"0177.1", "127.0.0.1"},
      {"10.0.65535", "10.0.255.255"},
      {"[::ffff:127.0.0.1]", "127.0.0.1"},
      {"::ffff:127.0.0.1", "127.0.0.1"},
      {"::FFFF:7f00:1", "127.0.0.1"},
      {"::1", "::1"},
      {"[::1]", "::1"},
      {"0:0:0:0:0:0:0:1", "::1"},
      {"2001:DB8:0::1", "2001:db8::1"},
      {"Secret.Internal.", "secret.internal"},
      {"LOCALHOST", "localhost"},
      {"db_1.corp", "db_1.corp"},
      {"10.0.3.9.evil.example", "10.0.3.9.evil.example"},
      {"xn--bcher-kva.example", "xn--bcher-kva.example"},
      // malformed
      {"", nullptr},
      {"a..b", nullptr},
      {".a", nullptr},
      {"a..", nullptr},
      {"-a.example", nullptr},
      {"a-.example", nullptr},
      {"evil\nhost", nullptr},
      {"evil host", nullptr},
      {"evil\x7fhost", nullptr},
      {"h\xc3\xa9.example", nullptr},
      {"256.0.0.1", nullptr},
      {"1.2.3.4.5", nullptr},
      {"10.0.3.9.1", nullptr},
      {"09.1.1.1", nullptr},
      {"0x", nullptr},
      {"1.2.3.0x100", nullptr},
      {"4294967296", nullptr},
      {"foo.0x10", nullptr},
      {"foo.123", nullptr},
      {"0.0.0.0", nullptr},
      {"0", nullptr},
      {"0.1.2.3", nullptr},
      {"::", nullptr},
      {"[::]", nullptr},
      {"::ffff:0.0.0.0", nullptr},
      {"fe80::1%eth0", nullptr},
      {"[127.0.0.1]", nullptr},
      {"[::1", nullptr},
      {"1:2:3", nullptr},
      {"a/b", nullptr},
      {"a:b", nullptr},
      {"*", nullptr},
  };
  for (const auto& c : cases) {
    INFO(Quote(c.text));
    auto h = CanonicalHost::Parse(c.text);
    if (c.canonical == nullptr) {
      CHECK_FALSE(h.ok());
    } else {
      REQUIRE(h.ok());
      CHECK(h->ToString() == c.canonical);
    }
  }
  CHECK(CanonicalHost::Parse(std::string(63, 'a') + ".example").ok());
  CHECK_FALSE(CanonicalHost::Parse(std::string(64, 'a') + ".example").ok());
  std::string long_name;
  for (int i = 0; i < 50; ++i) long_name += "abcd.";
  long_name += "example";  // 257 characters
  CHECK_FALSE(CanonicalHost::Parse(long_name).ok());
  CHECK(CanonicalHost::Parse("evil\nhost").message() == "invalid character \\x0a");
  CHECK(CanonicalHost::Parse("0.0.0.0").message() ==
        "the unspecified address 0.0.0.0 is not a destination");
}

TEST_CASE("numeric IPv4 forms agree with inet_aton on every short string") {
  // Differential: glibc's inet_aton is what getaddrinfo uses for numbers.
  const std::string alphabet = "0179xXf.";
  std::string s;
  int compared = 0;
  std::function<void(size_t)> walk = [&](size_t len) {
    if (s.size() == len) {
      in_addr a{};
      int want = inet_aton(s.c_str(), &a);
      auto got = ParseNumericIpv4(s);
      INFO(s);
      REQUIRE(got.has_value() == (want == 1));
      if (got) CHECK(memcmp(got->bytes.data(), &a, 4) == 0);
      ++compared;
      return;
    }
    for (char c : alphabet) {
      s.push_back(c);
      walk(len);
      s.pop_back();
    }
  };
  for (size_t len = 1; len <= 6; ++len) walk(len);
  CHECK(compared > 100000);
}

TEST_CASE("EscapeControl keeps log lines whole") {
  CHECK(EscapeControl("plain text: db1:22") == "plain text: db1:22");
  CHECK(EscapeControl("evil\nFAKE LINE") == "evil\\x0aFAKE LINE");
  CHECK(EscapeControl("a\rb\tc\x7f") == "a\\x0db\\x09c\\x7f");
  CHECK(EscapeControl("\x1b[31mred") == "\\x1b[31mred");
  CHECK(EscapeControl("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\x91") == "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\x91");
  CHECK(EscapeControl("\xc2\x9b" "2J") == "\\xc2\\x9b2J");  // C1 CSI
  CHECK(EscapeControl("bad \xc3 x") == "bad \\xc3 x");
  CHECK(EscapeControl("\xed\xa0\x80") == "\\xed\\xa0\\x80");  // a surrogate
  CHECK(EscapeControl("\xc0\xaf") == "\\xc0\\xaf");            // overlong '/'
  CHECK(EscapeControl(std::string("nul\0byte", 8)) == "nul\\x00byte");
}

TEST_CASE("errors carry a code, a domain reason and a line, apart from the message") {
  Result<int> r = MakeError(Code::kNotFound, "no such file", 7);
  REQUIRE_FALSE(r.ok());
  CHECK(r.code() == Code::kNotFound);
  CHECK(r.error().reason == 7);
  CHECK(r.message() == "no such file");
  Status st = Error{"plain", Code::kInvalidArgument, 0, 3};
  CHECK(st.code() == Code::kInvalidArgument);
  CHECK(st.error().line == 3);
  CHECK(std::string(CodeName(Code::kDeadlineExceeded)) == "deadline_exceeded");
  Result<int> legacy = Error{"text only"};
  CHECK(legacy.code() == Code::kUnknown);
}
