// Decisions on what is dialled: every spelling of a destination is decided
// as the address it reaches; patterns mean one thing; recording follows the
// endpoint. These are the bypasses found by attacking the first version.
#include <catch2/catch.hpp>

#include "policy/decide.h"
#include "policy/lint.h"

using namespace hopgate;
using namespace hopgate::policy;

namespace {

std::shared_ptr<const Policy> Load(const std::string& text, Diagnostics* diags = nullptr) {
  auto r = ParsePolicy(text, "p.yaml", [](const std::string&) -> Result<std::string> {
    return Error{"no files"};
  });
  INFO(r.diagnostics.ToString());
  REQUIRE(r.policy);
  if (diags) *diags = r.diagnostics;
  return r.policy;
}

Identity Alice() {
  Identity id;
  id.user = "alice";
  id.source = IpAddress::Parse("10.9.9.9");
  return id;
}

IpAddress Ip(const char* text) { return *IpAddress::Parse(text); }

// A localhost as /etc/hosts has it.
AddressMap Localhost() { return {{"localhost", {Ip("127.0.0.1"), Ip("::1")}}}; }

const char* kHostKey =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";

}  // namespace

TEST_CASE("a deny on an address holds for every spelling of it") {
  auto p = Load(R"(version: 1
users: {alice: {}}
rules:
  - {name: no-local, effect: deny, destinations: ["127.0.0.1/32:7000"]}
  - {name: anything, users: [alice], permit_open: ["*:*"]}
)");
  for (const char* spelling : {"127.0.0.1", "127.1", "2130706433", "0x7f.0.0.1", "0177.0.0.1",
                               "127.0.0.01", "[::ffff:127.0.0.1]", "::ffff:7f00:1", "127.0.1"}) {
    INFO(spelling);
    Decision d = Decide(*p, Alice(), Request::Open(spelling, 7000));
    CHECK_FALSE(d.allow);
    CHECK(d.rule == "no-local");
  }
  // A name is decided on every address it resolved to.
  Decision local = Decide(*p, Alice(), Request::Open("localhost", 7000, Localhost()));
  CHECK_FALSE(local.allow);
  CHECK(local.rule == "no-local");
  Decision evil = Decide(*p, Alice(), Request::Open("evil.example", 7000,
                                                    {{"evil.example", {Ip("10.1.1.1"), Ip("127.0.0.1")}}}));
  CHECK_FALSE(evil.allow);
  CHECK(evil.trace[0].detail == "denies 127.0.0.1/32:7000 (matched address 127.0.0.1)");
  // Other ports and other addresses stay allowed, and are dialled exactly.
  Decision other = Decide(*p, Alice(), Request::Open("127.1", 7001));
  CHECK(other.allow);
  REQUIRE(other.dial_addresses.size() == 1);
  CHECK(other.dial_addresses[0].ToString() == "127.0.0.1");
  CHECK(other.dial_host == "127.0.0.1");
}

TEST_CASE("malformed destinations are refused with the reason") {
  auto p = Load(R"(version: 1
users: {alice: {}}
rules:
  - {name: anything, users: [alice], permit_open: ["*:*"]}
)");
  for (const char* bad : {"evil\nFAKE LOG LINE", "a..b", "10.0.3.9.1", "0.0.0.0", "::",
                          "fe80::1%eth0", "256.1.1.1", "-x.example", "foo.0x10"}) {
    INFO(bad);
    Decision d = Decide(*p, Alice(), Request::Open(bad, 22));
    CHECK_FALSE(d.allow);
    CHECK(d.reason.rfind("malformed destination: ", 0) == 0);
    CHECK(PlanOpen(*p, bad, 22).ok() == false);
  }
  CHECK(Decide(*p, Alice(), Request::Open("evil\nFAKE", 22)).reason ==
        "malformed destination: invalid character \\x0a");
}

TEST_CASE("a deny on a host name holds for its aliases, addresses and other spellings") {
  auto p = Load(R"(version: 1
users: {alice: {}}
hosts:
  secret: {address: "127.0.0.1:7100", aliases: [secret.internal]}
  public: {address: "127.0.0.1:7100"}
  named: {address: "db.example:22"}
rules:
  - {name: no-secret, effect: deny, destinations: ["secret:*"]}
  - {name: anything, users: [alice], permit_open: ["*:*"]}
)");
  struct Case {
    const char* host;
    uint16_t port;
  };
  for (Case c : std::vector<Case>{{"secret", 22},
                                  {"SECRET", 22},
                                  {"secret.internal.", 22},
                                  {"Secret.Internal", 7100},
                                  {"127.0.0.1", 7100},
                                  {"127.1", 7100},
                                  {"[::ffff:127.0.0.1]", 7100},
                                  {"127.0.0.1", 8080},  // another port of the same host
                                  {"public", 22},        // shares secret's endpoint
                                  {"localhost", 7100}}) {
    INFO(c.host << ":" << c.port);
    Decision d = Decide(*p, Alice(), Request::Open(c.host, c.port, Localhost()));
    CHECK_FALSE(d.allow);
    CHECK(d.rule == "no-secret");
  }
  Decision ok = Decide(*p, Alice(), Request::Open("10.0.0.1", 7100));
  CHECK(ok.allow);
}

TEST_CASE("address patterns match addresses only; name patterns names only") {
  auto p = Load(R"(version: 1
users: {alice: {}}
rules:
  - {name: subnet, users: [alice], permit_open: ["10.0.3.*:22", "[2001:db8::]/32:22"]}
  - {name: named, users: [alice], permit_open: ["*.corp.example:443"]}
)");
  // The README's own example no longer admits a name that DNS can point anywhere.
  Decision spoof = Decide(*p, Alice(), Request::Open("10.0.3.9.evil.example", 22,
                                                     {{"10.0.3.9.evil.example", {Ip("192.0.2.66")}}}));
  CHECK_FALSE(spoof.allow);
  CHECK(Decide(*p, Alice(), Request::Open("10.0.3.9", 22)).allow);
  CHECK(Decide(*p, Alice(), Request::Open("2001:db8::5", 22)).allow);
  // A name resolving into the subnet is allowed, and only that address is dialled.
  Decision mixed = Decide(*p, Alice(), Request::Open("db.example", 22,
                                                     {{"db.example", {Ip("192.0.2.1"), Ip("10.0.3.4")}}}));
  REQUIRE(mixed.allow);
  REQUIRE(mixed.dial_addresses.size() == 1);
  CHECK(mixed.dial_addresses[0].ToString() == "10.0.3.4");
  // A name pattern allows every address of the name it matches.
  Decision web = Decide(*p, Alice(), Request::Open("www.corp.example", 443,
                                                   {{"www.corp.example", {Ip("192.0.2.1"), Ip("192.0.2.2")}}}));
  REQUIRE(web.allow);
  CHECK(web.dial_addresses.size() == 2);
  // ...but not that address asked for directly: the glob is not resolved.
  CHECK_FALSE(Decide(*p, Alice(), Request::Open("192.0.2.1", 443)).allow);
  // An unresolved name is decided by name and then cannot be dialled.
  Decision none = Decide(*p, Alice(), Request::Open("gone.corp.example", 443));
  CHECK(none.allow);
  CHECK(none.unresolved);
  CHECK(none.dial_addresses.empty());
}

TEST_CASE("patterns that are neither an address nor a name are load errors") {
  for (const char* bad : {"10.0.3.9.1:22", "foo.123:22", "[2001:db8::*]:22", "a..b:22",
                          "bad\\host:22", "db1..:22"}) {
    INFO(bad);
    CHECK_FALSE(OpenPattern::Parse(bad).ok());
  }
  auto glob = OpenPattern::Parse("10.0.3.*:22");
  REQUIRE(glob.ok());
  CHECK(glob->IsAddressPattern());
  CHECK(glob->MatchesAddress(Ip("10.0.3.200")));
  CHECK_FALSE(glob->MatchesName("10.0.3.9.evil.example"));
  auto cidr = OpenPattern::Parse("[2001:db8::]/32:22");
  REQUIRE(cidr.ok());
  CHECK(cidr->MatchesAddress(Ip("2001:db8:1::1")));
  // Found by policy/fuzz/patterns_fuzzer: a mapped address used to match
  // nothing, so a deny written this way never denied.
  auto mapped = OpenPattern::Parse("[::ffff:10.0.3.0]/120:22");
  REQUIRE(mapped.ok());
  CHECK(mapped->MatchesAddress(Ip("10.0.3.7")));
  CHECK(mapped->MatchesAddress(Ip("::ffff:10.0.3.7")));
  auto name = OpenPattern::Parse("DB1.Example.:*");
  REQUIRE(name.ok());
  CHECK(name->MatchesName("db1.example"));
  CHECK_FALSE(name->MatchesAddress(Ip("10.0.0.1")));
  CHECK(name->IsLiteralName());
}

TEST_CASE("a deny on a literal name also covers the addresses the daemon resolved it to") {
  auto p = Load(R"(version: 1
users: {alice: {}}
rules:
  - {name: no-vault, effect: deny, destinations: ["vault.example:*"]}
  - {name: anything, users: [alice], permit_open: ["*:*"]}
)");
  REQUIRE(p->NamesToResolve() == std::vector<std::string>{"vault.example"});
  auto names = std::make_shared<AddressMap>(AddressMap{{"vault.example", {Ip("10.7.7.7")}}});
  Decision d = Decide(*p, Alice(), Request::Open("10.7.7.7", 8200, {}, names));
  CHECK_FALSE(d.allow);
  CHECK(d.rule == "no-vault");
  CHECK(Decide(*p, Alice(), Request::Open("10.7.7.8", 8200, {}, names)).allow);
}

TEST_CASE("recording is a property of the endpoint, whatever the spelling or rule") {
  std::string text = std::string(R"(version: 1
users: {alice: {}}
hosts:
  db1: {address: "127.0.0.1:2222", aliases: [db1.internal], record: true, host_key: ")") +
                     kHostKey + R"("}
  shadow: {address: "127.0.0.1:2222"}
  web: {address: "127.0.0.1:8080"}
rules:
  - {name: anything, users: [alice], permit_open: ["*:*"]}
)";
  Diagnostics diags("p.yaml");
  auto p = Load(text, &diags);
  CHECK(diags.ToString().find("hosts \"db1\" and \"shadow\" share the endpoint 127.0.0.1:2222") !=
        std::string::npos);
  struct Case {
    const char* host;
    uint16_t port;
  };
  for (Case c : std::vector<Case>{{"db1", 22},
                                  {"db1.internal.", 22},
                                  {"127.0.0.1", 2222},
                                  {"127.1", 2222},
                                  {"[::ffff:127.0.0.1]", 2222},
                                  {"shadow", 22},
                                  {"localhost", 2222}}) {
    INFO(c.host << ":" << c.port);
    Decision d = Decide(*p, Alice(), Request::Open(c.host, c.port, Localhost()));
    REQUIRE(d.allow);
    CHECK(d.terminate);
    CHECK(d.host_entry == "db1");
    REQUIRE_FALSE(d.dial_addresses.empty());
    CHECK(d.dial_addresses[0].ToString() == "127.0.0.1");
    CHECK(d.dial_port == 2222);
  }
  // Another port of the same address is not its SSH endpoint.
  Decision other = Decide(*p, Alice(), Request::Open("127.0.0.1", 2223));
  CHECK(other.allow);
  CHECK_FALSE(other.terminate);
  Decision web = Decide(*p, Alice(), Request::Open("web", 22));
  CHECK_FALSE(web.terminate);
  CHECK(web.dial_port == 8080);
}

TEST_CASE("PlanOpen names what to resolve") {
  std::string text = std::string(R"(version: 1
hosts:
  jump: {address: "127.0.0.1:2200", login: hop, host_key: ")") +
                     kHostKey + R"("}
  db1: {address: "DB1.Example.:22"}
  db2: {address: "db2.internal:22", via: [jump]}
  db3: {address: "10.0.0.3:22"}
)";
  auto p = Load(text);
  CHECK(p->hosts.at("db1").address.host == "db1.example");
  CHECK(PlanOpen(*p, "db1", 22)->resolve == "db1.example");
  CHECK(PlanOpen(*p, "db2", 22)->resolve.empty());  // the jump host resolves it
  CHECK(PlanOpen(*p, "db3", 22)->resolve.empty());
  CHECK(PlanOpen(*p, "Web.Example.", 80)->resolve == "web.example");
  CHECK(PlanOpen(*p, "127.1", 80)->resolve.empty());
  CHECK(p->NamesToResolve() == std::vector<std::string>{"db1.example"});
}

TEST_CASE("a routed host found by its address keeps its route") {
  std::string text = std::string(R"(version: 1
users: {alice: {}}
hosts:
  jump: {address: "127.0.0.1:2200", login: hop, host_key: ")") +
                     kHostKey + R"("}
  inner: {address: "10.20.0.5:22", via: [jump]}
rules:
  - {name: anything, users: [alice], permit_open: ["*:*"]}
)";
  auto p = Load(text);
  Decision d = Decide(*p, Alice(), Request::Open("10.20.0.5", 5432));
  REQUIRE(d.allow);
  CHECK(d.route == std::vector<std::string>{"jump"});
  CHECK(d.host_entry == "inner");
  CHECK(d.dial_host == "10.20.0.5");
  CHECK(d.dial_addresses.empty());  // the jump host dials
}

TEST_CASE("hosts: names must be names") {
  for (const char* bad : {"10.0.0.5", "db1.", "db..1", "bad name"}) {
    auto r = ParsePolicy(std::string("version: 1\nhosts:\n  \"") + bad +
                             "\": {address: \"10.0.0.5:22\"}\n",
                         "p.yaml", [](const std::string&) -> Result<std::string> {
                           return Error{"no files"};
                         });
    INFO(bad << ": " << r.diagnostics.ToString());
    CHECK_FALSE(r.policy);
  }
}

TEST_CASE("two hosts at one address, different ports: :22 names each one's own SSH port") {
  std::string text = std::string(R"(version: 1
users: {alice: {}}
hosts:
  target: {address: "127.0.0.1:2201"}
  db1: {address: "127.0.0.1:2202", record: true, host_key: ")") +
                     kHostKey + R"("}
rules:
  - {name: plain, users: [alice], permit_open: ["target:22"]}
  - {name: recorded, users: [alice], permit_open: ["db1:22"], record: true}
)";
  auto p = Load(text);
  Decision t = Decide(*p, Alice(), Request::Open("target", 22));
  REQUIRE(t.allow);
  CHECK(t.rule == "plain");
  CHECK_FALSE(t.terminate);
  Decision d = Decide(*p, Alice(), Request::Open("db1", 22));
  REQUIRE(d.allow);
  CHECK(d.rule == "recorded");
  CHECK(d.terminate);
  // By address: each port is its own host's SSH endpoint.
  CHECK(Decide(*p, Alice(), Request::Open("127.0.0.1", 2201)).rule == "plain");
  Decision a = Decide(*p, Alice(), Request::Open("127.0.0.1", 2202));
  CHECK(a.rule == "recorded");
  CHECK(a.terminate);
  CHECK_FALSE(MayBeRecorded(*p, p->hosts.at("target")));
  CHECK(MayBeRecorded(*p, p->hosts.at("db1")));
}

TEST_CASE("a hosts: entry whose address is a name is found by the address it resolves to") {
  auto p = Load(R"(version: 1
users: {alice: {}}
hosts:
  named: {address: "db.example:22"}
rules:
  - {name: no-named, effect: deny, destinations: ["named:*"]}
  - {name: anything, users: [alice], permit_open: ["*:*"]}
)");
  auto names = std::make_shared<AddressMap>(AddressMap{{"db.example", {Ip("10.7.7.7")}}});
  // By its resolved address, at its port and at another: the deny on the
  // entry's name holds.
  for (uint16_t port : {22, 5432}) {
    INFO(port);
    Decision d = Decide(*p, Alice(), Request::Open("10.7.7.7", port, {}, names));
    CHECK_FALSE(d.allow);
    CHECK(d.rule == "no-named");
  }
  // By the name it is an address for, too.
  CHECK_FALSE(Decide(*p, Alice(), Request::Open("db.example", 22, {}, names)).allow);
  // Another address is not that host.
  CHECK(Decide(*p, Alice(), Request::Open("10.7.7.8", 22, {}, names)).allow);
}
