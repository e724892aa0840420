#include "audit/fleet/lock_rule.h"

#include <catch2/catch.hpp>

using namespace hopgate;
using namespace hopgate::audit::fleet;

namespace {

const char* kFp = "SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU";
const char* kCa = "SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s";

FleetLock L(int64_t id, const std::string& kind, const std::string& value, int64_t expires = 0) {
  FleetLock l;
  l.id = id;
  l.kind = kind;
  l.value = value;
  l.reason = "r" + std::to_string(id);
  l.expires_unix = expires;
  return l;
}

LockSubject Alice() {
  LockSubject s;
  s.user = "alice";
  s.key_fingerprint = kFp;
  s.source = IpAddress::Parse("10.1.2.3");
  return s;
}

}  // namespace

TEST_CASE("lock values are checked and made canonical") {
  CHECK(*NormalizeLockValue("user", "alice") == "alice");
  CHECK_FALSE(NormalizeLockValue("user", ""));
  CHECK_FALSE(NormalizeLockValue("user", "al ice"));
  CHECK(*NormalizeLockValue("key", kFp) == kFp);
  CHECK(*NormalizeLockValue("key", std::string(kFp) + "=") == kFp);  // padded
  auto md5 = NormalizeLockValue("key", "MD5:12:34");
  REQUIRE_FALSE(md5);
  CHECK(md5.message().find("not a SHA256 key fingerprint") != std::string::npos);
  CHECK_FALSE(NormalizeLockValue("key", "SHA256:short"));
  CHECK(*NormalizeLockValue("cert-serial", "007") == "7");
  CHECK(*NormalizeLockValue("cert-serial", "18446744073709551615") == "18446744073709551615");
  CHECK_FALSE(NormalizeLockValue("cert-serial", "18446744073709551616"));
  CHECK_FALSE(NormalizeLockValue("cert-serial", "-1"));
  CHECK_FALSE(NormalizeLockValue("cert-serial", "0x10"));
  CHECK(*NormalizeLockValue("source", "127.0.0.0/8") == "127.0.0.0/8");
  CHECK(*NormalizeLockValue("source", "10.1.2.3") == "10.1.2.3/32");
  CHECK(*NormalizeLockValue("source", "2001:db8::/32") == "2001:db8::/32");
  auto host_bits = NormalizeLockValue("source", "10.1.2.3/8");
  REQUIRE_FALSE(host_bits);
  CHECK(host_bits.message().find("not a CIDR block: \"10.1.2.3/8\"") == 0);
  CHECK_FALSE(NormalizeLockValue("source", "10.0.0.0/33"));
  auto kind = NormalizeLockValue("host", "x");
  REQUIRE_FALSE(kind);
  CHECK(kind.message() == "unknown lock kind \"host\" (user, key, cert-serial or source)");
}

TEST_CASE("each kind of lock matches what it names and nothing else") {
  LockSubject a = Alice();
  LockSubject bob;
  bob.user = "bob";
  bob.key_fingerprint = "SHA256:other";
  bob.source = IpAddress::Parse("192.168.1.1");

  LockSet by_user({L(1, "user", "alice")});
  REQUIRE(by_user.Match(a, 0));
  CHECK(by_user.Match(a, 0)->what == "user \"alice\"");
  CHECK_FALSE(by_user.Match(bob, 0));

  LockSet by_key({L(2, "key", kFp)});
  CHECK(by_key.Match(a, 0)->what == std::string("key ") + kFp);
  CHECK_FALSE(by_key.Match(bob, 0));

  LockSet by_source({L(3, "source", "10.0.0.0/8")});
  CHECK(by_source.Match(a, 0)->what == "source 10.1.2.3 (in 10.0.0.0/8)");
  CHECK_FALSE(by_source.Match(bob, 0));
  LockSubject mapped = bob;  // an IPv4-mapped IPv6 client address counts as IPv4
  mapped.source = IpAddress::Parse("::ffff:10.9.9.9");
  CHECK(by_source.Match(mapped, 0));

  // A certificate: its certified key, its CA's key and its serial.
  LockSubject cert = Alice();
  cert.ca_fingerprint = kCa;
  cert.cert_serial = 42;
  CHECK(LockSet({L(4, "key", kCa)}).Match(cert, 0)->what == std::string("certificate authority ") + kCa);
  CHECK_FALSE(LockSet({L(4, "key", kCa)}).Match(a, 0));
  CHECK(LockSet({L(5, "cert-serial", "42")}).Match(cert, 0)->what == "certificate serial 42");
  CHECK_FALSE(LockSet({L(5, "cert-serial", "42")}).Match(a, 0));  // a plain key has no serial
  CHECK_FALSE(LockSet({L(6, "cert-serial", "43")}).Match(cert, 0));
}

TEST_CASE("the lowest-numbered lock in force wins; expired ones do not count") {
  LockSet set({L(9, "source", "10.0.0.0/8"), L(3, "user", "alice", 1000), L(5, "key", kFp)});
  CHECK(set.Match(Alice(), 999)->lock.id == 3);
  CHECK(set.Match(Alice(), 999)->lock.reason == "r3");
  CHECK(set.Match(Alice(), 1000)->lock.id == 5);  // lock 3 expired at 1000
  CHECK(set.SameIds(LockSet({L(3, "user", "x"), L(5, "key", kFp), L(9, "user", "y")})));
  CHECK_FALSE(set.SameIds(LockSet({L(3, "user", "x"), L(5, "key", kFp)})));
}

TEST_CASE("a lock the gateway cannot understand is left out and reported") {
  LockSet set({L(1, "user", "alice"), L(2, "host", "db1"), L(3, "source", "not-an-address")});
  REQUIRE(set.problems().size() == 2);
  CHECK(set.problems()[0] == "lock 2: unknown lock kind \"host\" (user, key, cert-serial or source)");
  CHECK(set.problems()[1].find("lock 3: not a CIDR block") == 0);
  CHECK(set.Match(Alice(), 0)->lock.id == 1);
}
