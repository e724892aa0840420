#include <catch2/catch.hpp>

#include "policy/decide.h"

using namespace hopgate;
using namespace hopgate::policy;

namespace {

std::shared_ptr<const Policy> Load(const std::string& text) {
  auto r = ParsePolicy(text, "p.yaml", [](const std::string&) -> Result<std::string> {
    return Error{"no files"};
  });
  INFO(r.diagnostics.ToString());
  REQUIRE(r.policy);
  return r.policy;
}

const char* kPolicy = R"(version: 1
groups:
  dba: [alice, bob]
  contractors: [carol]
hosts:
  db1: {address: "10.0.0.5:2222", aliases: [db1.internal]}
rules:
  - name: no-prod-for-contractors
    effect: deny
    groups: [contractors]
    destinations: ["prod-*:*"]
  - name: banned
    effect: deny
    users: [mallory]
  - name: dba-databases
    groups: [dba]
    permit_open: ["db1:22", "db1:5432", "10.0.3.*:22"]
    max_session: 8h
  - name: office-net
    from: ["192.168.0.0/16", "2001:db8::/32"]
    permit_open: ["10.0.0.0/24:*", "[2001:db8:1::/48]:22"]
    force_command: "/usr/bin/audit-shell"
  - name: ops-remote
    users: [carol, dave]
    allow_tcp_forwarding: yes
    permit_open: ["prod-web:443", "stage-*:*"]
    permit_listen: ["8080", "127.0.0.1:9000", "*:9100"]
  - name: certs-only
    principals: [sre]
    allow_tcp_forwarding: remote
    permit_listen: ["7000"]
)";

Identity Id(std::string user, std::string from = "10.9.9.9") {
  Identity id;
  id.user = std::move(user);
  id.source = IpAddress::Parse(from);
  return id;
}

struct Case {
  const char* what;
  Identity id;
  Request req;
  bool allow;
  const char* rule;
};

}  // namespace

TEST_CASE("decision table: deny precedence, first match, globs, CIDRs, host entries") {
  auto p = Load(kPolicy);
  Identity sre = Id("erin");
  sre.certificate = true;
  sre.principals = {"erin", "sre"};
  std::vector<Case> cases = {
      {"dba user to a named host's SSH port", Id("alice"), Request::Open("db1", 22), true, "dba-databases"},
      {"by alias, case-insensitive", Id("alice"), Request::Open("DB1.internal", 22), true, "dba-databases"},
      {"by the host's address", Id("bob"), Request::Open("10.0.0.5", 5432), true, "dba-databases"},
      {"port not granted", Id("alice"), Request::Open("db1", 3306), false, ""},
      {"glob on an address", Id("alice"), Request::Open("10.0.3.17", 22), true, "dba-databases"},
      {"glob does not cross octets", Id("alice"), Request::Open("10.0.30.1", 80), false, ""},
      {"not in the group", Id("zoe"), Request::Open("db1", 22), false, ""},
      {"from CIDR, IPv4 edge inside", Id("zoe", "192.168.255.255"), Request::Open("10.0.0.255", 1), true, "office-net"},
      {"from CIDR, just outside", Id("zoe", "192.169.0.0"), Request::Open("10.0.0.1", 1), false, ""},
      {"from CIDR, IPv6", Id("zoe", "2001:db8:ffff::1"), Request::Open("2001:db8:1:2::3", 22), true, "office-net"},
      {"IPv6 destination outside /48", Id("zoe", "2001:db8::1"), Request::Open("2001:db8:2::3", 22), false, ""},
      {"IPv4-mapped source matches IPv4 CIDR", Id("zoe", "::ffff:192.168.1.1"), Request::Open("10.0.0.9", 22), true, "office-net"},
      {"first match wins: alice from the office gets dba-databases", Id("alice", "192.168.1.1"), Request::Open("10.0.0.5", 22), true, "dba-databases"},
      {"deny beats a later allow", Id("carol"), Request::Open("prod-web", 443), false, "no-prod-for-contractors"},
      {"deny with destinations leaves the rest", Id("carol"), Request::Open("stage-db", 5432), true, "ops-remote"},
      {"identity-wide deny", Id("mallory"), Request::Open("db1", 22), false, "banned"},
      {"listen on a port: loopback", Id("dave"), Request::Listen("localhost", 8080), true, "ops-remote"},
      {"listen on all interfaces narrowed to loopback", Id("dave"), Request::Listen("0.0.0.0", 8080), true, "ops-remote"},
      {"listen on another port", Id("dave"), Request::Listen("localhost", 8081), false, ""},
      {"listen on any address for 9100", Id("dave"), Request::Listen("0.0.0.0", 9100), true, "ops-remote"},
      {"listen denied without remote forwarding", Id("alice"), Request::Listen("localhost", 8080), false, ""},
      {"principal condition", sre, Request::Listen("localhost", 7000), true, "certs-only"},
      {"principal condition needs a certificate", Id("sre"), Request::Listen("localhost", 7000), false, ""},
      {"remote-only rule does not grant direct-tcpip", sre, Request::Open("db1", 22), false, ""},
  };
  for (const auto& c : cases) {
    INFO(c.what);
    Decision d = Decide(*p, c.id, c.req);
    INFO(d.reason);
    CHECK(d.allow == c.allow);
    CHECK(d.rule == c.rule);
    CHECK(d.policy_version == p->version);
  }
}

TEST_CASE("a named host dials its address; port 22 means its SSH port") {
  auto p = Load(kPolicy);
  Decision d = Decide(*p, Id("alice"), Request::Open("db1", 22));
  CHECK(d.host_entry == "db1");
  CHECK(d.dial_host == "10.0.0.5");
  CHECK(d.dial_port == 2222);
  Decision pg = Decide(*p, Id("alice"), Request::Open("db1", 5432));
  CHECK(pg.dial_port == 5432);
  CHECK(pg.grants.max_session == 8 * 3600);
  Decision other = Decide(*p, Id("alice"), Request::Open("10.0.3.4", 22));
  CHECK(other.host_entry.empty());
  CHECK(other.dial_host == "10.0.3.4");
  CHECK(other.dial_port == 22);
}

TEST_CASE("default deny names no rule and says why") {
  auto p = Load(kPolicy);
  Decision d = Decide(*p, Id("zoe"), Request::Open("db9", 22));
  CHECK_FALSE(d.allow);
  CHECK(d.rule.empty());
  CHECK(d.RuleDescription() == "default deny");
  CHECK(d.reason == "no rule permits direct-tcpip to db9:22 for user zoe");
  // The trace shows every rule and why it did not match.
  REQUIRE(d.trace.size() == 6);
  CHECK(d.trace[0].detail == "user zoe is not in groups [contractors]");
  CHECK(d.trace[2].detail == "user zoe is not in groups [dba]");
  CHECK(d.trace[3].detail == "source 10.9.9.9 not in from [192.168.0.0/16, 2001:db8::/32]");
}

TEST_CASE("certificates and authorized_keys options narrow, never widen") {
  auto p = Load(kPolicy);
  Identity alice = Id("alice");
  Restrictions cert;
  cert.source = "certificate \"alice@corp\"";
  cert.port_forwarding = false;
  alice.restrictions.push_back(cert);
  Decision d = Decide(*p, alice, Request::Open("db1", 22));
  CHECK_FALSE(d.allow);
  CHECK(d.rule == "dba-databases");
  CHECK(d.reason == "certificate \"alice@corp\" does not permit port forwarding");

  Identity bob = Id("bob");
  Restrictions key;
  key.source = "authorized_keys line k:3";
  key.permit_open = std::vector<OpenPattern>{*OpenPattern::Parse("db1:5432")};
  key.pty = false;
  bob.restrictions.push_back(key);
  CHECK(Decide(*p, bob, Request::Open("db1", 5432)).allow);
  Decision narrowed = Decide(*p, bob, Request::Open("db1", 22));
  CHECK_FALSE(narrowed.allow);
  CHECK(narrowed.reason == "authorized_keys line k:3 permitopen does not include db1:22");
  // A key's permitopen cannot widen: db9 is in no rule.
  Identity wide = Id("bob");
  key.permit_open = std::vector<OpenPattern>{*OpenPattern::Parse("*:*")};
  wide.restrictions.push_back(key);
  CHECK_FALSE(Decide(*p, wide, Request::Open("db9", 22)).allow);
  Decision session = Decide(*p, bob, Request::Session());
  CHECK(session.allow);
  CHECK_FALSE(session.grants.pty);
}

TEST_CASE("two different forced commands refuse a session; equal ones are fine") {
  auto p = Load(kPolicy);
  Identity zoe = Id("zoe", "192.168.1.1");
  Restrictions cert;
  cert.source = "certificate \"zoe@corp\"";
  cert.force_command = "/bin/other";
  zoe.restrictions.push_back(cert);
  Decision d = Decide(*p, zoe, Request::Session());
  CHECK_FALSE(d.allow);
  CHECK(d.rule == "office-net");
  CHECK(d.reason == "conflicting forced commands: rule office-net forces \"/usr/bin/audit-shell\", "
                    "certificate \"zoe@corp\" forces \"/bin/other\"");
  zoe.restrictions[0].force_command = "/usr/bin/audit-shell";
  Decision same = Decide(*p, zoe, Request::Session());
  CHECK(same.allow);
  CHECK(*same.grants.force_command == "/usr/bin/audit-shell");
}

TEST_CASE("DescribeAccess lists what a user may reach") {
  auto p = Load(kPolicy);
  auto lines = DescribeAccess(*p, Id("alice"));
  REQUIRE(lines.size() == 3);
  CHECK(lines[0].find("db1:22  (10.0.0.5:2222)") != std::string::npos);
  CHECK(DescribeAccess(*p, Id("mallory")).empty());
}
