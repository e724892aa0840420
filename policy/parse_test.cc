#include <catch2/catch.hpp>

#include <map>

#include "policy/policy.h"

using namespace hopgate;
using namespace hopgate::policy;

namespace {

const char* kAliceKey =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICdJzRKodtJHNcVB9uQZDkQAXAnALRyZd0CHZO11Oxlh alice@laptop";
const char* kBobKey =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPudxVWOXACsOW4CV/edwQlpw4Hu62qfF+lZRoEdX03g bob@desk";

FileReader Files(std::map<std::string, std::string> files) {
  return [files](const std::string& path) -> Result<std::string> {
    auto it = files.find(path);
    if (it == files.end()) return Error{"No such file or directory"};
    return it->second;
  };
}

LoadResult Load(const std::string& text, std::map<std::string, std::string> files = {}) {
  return ParsePolicy(text, "/etc/hopgate/policy.yaml", Files(std::move(files)));
}

std::string Errors(const LoadResult& r) { return r.diagnostics.ToString(); }

}  // namespace

TEST_CASE("the first-form policy of the README parses") {
  std::string text = std::string(R"(version: 1
users:
  alice:
    keys:
      - )") + kAliceKey + R"(
  deploy:
    authorized_keys: keys/deploy
groups:
  dba: [alice, bob]
rules:
  - name: dba-to-databases
    groups: [dba]
    permit_open: ["db1.internal:22", "10.0.3.*:22", "db1.internal:5432"]
)";
  auto r = Load(text, {{"/etc/hopgate/keys/deploy", std::string("# deploy keys\n\n") + kBobKey + "\n"}});
  INFO(Errors(r));
  REQUIRE(r.policy);
  CHECK(r.diagnostics.error_count() == 0);
  const Policy& p = *r.policy;
  REQUIRE(p.users.at("alice").keys.size() == 1);
  CHECK(p.users.at("alice").keys[0].comment == "alice@laptop");
  REQUIRE(p.users.at("deploy").keys.size() == 1);
  CHECK(p.users.at("deploy").keys[0].location.ToString() == "/etc/hopgate/keys/deploy:3:1");
  CHECK(p.GroupsOf("bob") == std::vector<std::string>{"dba"});
  REQUIRE(p.rules.size() == 1);
  CHECK(p.rules[0].location.ToString() == "/etc/hopgate/policy.yaml:11:5");
  CHECK(p.rules[0].permit_open.size() == 3);
  CHECK(p.version.rfind("sha256:", 0) == 0);
  CHECK(p.FindKey("alice", p.users.at("alice").keys[0].blob) != nullptr);
  CHECK(p.FindKey("bob", p.users.at("alice").keys[0].blob) == nullptr);
}

TEST_CASE("policy errors carry file:line:col") {
  auto r = Load(R"(version: 1
users:
  alice:
    keys: ["ssh-ed25519 AAAAnotbase64!"]
    key: []
rules:
  - name: r1
    permit_open: ["db1:70000"]
    colour: blue
  - permit_open: ["*"]
)");
  CHECK_FALSE(r.policy);
  std::string e = Errors(r);
  INFO(e);
  CHECK(e.find("/etc/hopgate/policy.yaml:4:12: key is not valid base64") != std::string::npos);
  CHECK(e.find("/etc/hopgate/policy.yaml:5:5: unknown key \"key\" in user \"alice\"") != std::string::npos);
  CHECK(e.find("/etc/hopgate/policy.yaml:8:19: permit_open: invalid port \"70000\"") != std::string::npos);
  CHECK(e.find("/etc/hopgate/policy.yaml:9:5: unknown key \"colour\" in a rule") != std::string::npos);
  CHECK(e.find("/etc/hopgate/policy.yaml:10:5: every rule needs a name") != std::string::npos);
  CHECK(e.find("/etc/hopgate/policy.yaml:10:19: permit_open: \"*\" is ambiguous") != std::string::npos);
}

TEST_CASE("a missing version, a wrong version and YAML syntax errors are refused") {
  CHECK(Errors(Load("rules: []\n")).find("missing \"version: 1\"") != std::string::npos);
  CHECK(Errors(Load("version: 2\n")).find("policy.yaml:1:10: version must be 1") !=
        std::string::npos);
  auto bad = Load("version: 1\nrules: [\n");
  CHECK_FALSE(bad.policy);
  CHECK(Errors(bad).find("YAML syntax error") != std::string::npos);
  CHECK(Errors(Load("")).find("empty document") != std::string::npos);
}

TEST_CASE("an unreadable authorized_keys file and bad lines in it are errors") {
  auto missing = Load("version: 1\nusers:\n  deploy:\n    authorized_keys: /nope\n");
  CHECK_FALSE(missing.policy);
  CHECK(Errors(missing).find("policy.yaml:4:22: cannot read authorized_keys \"/nope\"") !=
        std::string::npos);
  auto bad = Load("version: 1\nusers:\n  deploy:\n    authorized_keys: /k\n",
                  {{"/k", std::string(kBobKey) + "\n  bogus-option " + kAliceKey + "\n"}});
  CHECK_FALSE(bad.policy);
  CHECK(Errors(bad).find("/k:2:3: unknown option \"bogus-option\"") != std::string::npos);
}

TEST_CASE("deny rules cannot grant and allow rules cannot have destinations") {
  auto r = Load(R"(version: 1
rules:
  - name: d
    effect: deny
    permit_open: ["a:1"]
  - name: a
    destinations: ["a:1"]
    permit_open: ["a:1"]
)");
  std::string e = Errors(r);
  CHECK(e.find("policy.yaml:5:5: a deny rule cannot grant permit_open") != std::string::npos);
  CHECK(e.find("policy.yaml:7:5: destinations is for deny rules") != std::string::npos);
}

TEST_CASE("hosts: names and aliases are unique, addresses are host:port") {
  auto r = Load(R"(version: 1
hosts:
  db1: {address: "10.0.0.5:22", aliases: [db1.internal]}
  db2: {address: "10.0.0.6", aliases: [DB1.internal]}
)");
  std::string e = Errors(r);
  INFO(e);
  CHECK(e.find("policy.yaml:4:18: address: expected host:port") != std::string::npos);
  CHECK(e.find("policy.yaml:4:40: host name or alias \"DB1.internal\" is already used at "
               "/etc/hopgate/policy.yaml:3:43") != std::string::npos);
}

TEST_CASE("lint warns about shadowed rules, undefined names and *:*") {
  auto r = Load(R"(version: 1
groups:
  dba: [alice]
rules:
  - name: everything
    users: [alice]
    permit_open: ["*:*"]
  - name: narrower
    users: [alice]
    permit_open: ["db1.internal:22"]
  - name: ghost-group
    groups: [nobody-defined]
    permit_open: ["dbx:22"]
  - name: block-contractors
    effect: deny
    users: [carol]
  - name: carol-db
    users: [carol]
    permit_open: ["db1.internal:22"]
)");
  REQUIRE(r.policy);  // warnings do not block loading
  std::string e = Errors(r);
  INFO(e);
  CHECK(e.find("policy.yaml:5:5: warning: rule \"everything\" permit_open \"*:*\" matches every host and port") != std::string::npos);
  CHECK(e.find("policy.yaml:8:5: warning: rule \"narrower\" can never match: earlier rule \"everything\"") != std::string::npos);
  CHECK(e.find("policy.yaml:11:5: warning: rule \"ghost-group\" names group \"nobody-defined\"") != std::string::npos);
  CHECK(e.find("names host \"dbx\", which is not defined under hosts:") != std::string::npos);
  CHECK(e.find("policy.yaml:17:5: warning: rule \"carol-db\" can never match: deny rule \"block-contractors\"") != std::string::npos);
  CHECK(r.diagnostics.error_count() == 0);
}

namespace {

// A throwaway key made for this test with ssh-keygen; it guards nothing.
const char* kJumpIdentity = R"(-----BEGIN OPENSSH PRIVATE KEY-----
b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW
QyNTUxOQAAACDn5CqvJb+J9O6s3FCRVWGHd/vDDPqvZ4ETdLPLUTPofAAAAIj2xs119sbN
dQAAAAtzc2gtZWQyNTUxOQAAACDn5CqvJb+J9O6s3FCRVWGHd/vDDPqvZ4ETdLPLUTPofA
AAAEDuH12tg7R3skN1aE/Cm/inzrC/P8n+7e6+l5F/akVY8efkKq8lv4n07qzcUJFVYYd3
+8MM+q9ngRN0s8tRM+h8AAAABGp1bXAB
-----END OPENSSH PRIVATE KEY-----
)";

std::string Hosts(const std::string& body) {
  return "version: 1\nhosts:\n" + body +
         "rules:\n  - name: all\n    permit_open: [\"db1:22\"]\n";
}

std::string Jump(const std::string& name, const std::string& extra = "") {
  return "  " + name + ":\n    address: \"10.0.0.1:22\"\n    login: hopgate\n    identity: id\n"
         "    host_key: \"" + kBobKey + "\"\n" + extra;
}

}  // namespace

TEST_CASE("routes: via lists resolve to the chain of jump hosts, first entry's route first") {
  std::string text = Hosts(Jump("jump1") + Jump("jump2", "    via: [jump1]\n") +
                           Jump("jump3") +
                           "  db1:\n    address: \"10.7.3.5:22\"\n    via: [jump2, jump3]\n");
  auto r = Load(text, {{"/etc/hopgate/id", kJumpIdentity}});
  INFO(Errors(r));
  REQUIRE(r.policy);
  CHECK(r.policy->hosts.at("db1").route == std::vector<std::string>{"jump1", "jump2", "jump3"});
  CHECK(r.policy->hosts.at("jump2").route == std::vector<std::string>{"jump1"});
  CHECK(r.policy->hosts.at("jump1").route.empty());
  CHECK(r.policy->hosts.at("jump1").identity_text == kJumpIdentity);
  CHECK(r.policy->hosts.at("jump1").HasPinnedKey());
}

TEST_CASE("routes: cycles, repeats, unknown hops and unverifiable hops are errors at file:line:col") {
  std::map<std::string, std::string> files = {{"/etc/hopgate/id", kJumpIdentity}};
  SECTION("a cycle") {
    auto r = Load(Hosts(Jump("a", "    via: [b]\n") + Jump("b", "    via: [a]\n")), files);
    CHECK_FALSE(r.policy);
    CHECK(Errors(r).find("makes a cycle of jump hosts") != std::string::npos);
    CHECK(Errors(r).find("/etc/hopgate/policy.yaml:14:10: host \"b\": via \"a\" makes a cycle") != std::string::npos);
  }
  SECTION("a host through itself") {
    auto r = Load(Hosts(Jump("a", "    via: [a]\n")), files);
    CHECK_FALSE(r.policy);
    CHECK(Errors(r).find("cycle") != std::string::npos);
  }
  SECTION("a repeated hop") {
    auto r = Load(Hosts(Jump("a") + "  db1:\n    address: \"10.0.0.9:22\"\n    via: [a, a]\n"),
                  files);
    CHECK_FALSE(r.policy);
    CHECK(Errors(r).find("crosses \"a\" twice") != std::string::npos);
  }
  SECTION("an unknown hop") {
    auto r = Load(Hosts("  db1:\n    address: \"10.0.0.9:22\"\n    via: [nowhere]\n"), files);
    CHECK_FALSE(r.policy);
    CHECK(Errors(r).find("/etc/hopgate/policy.yaml:5:10: host \"db1\": via names \"nowhere\"") !=
          std::string::npos);
  }
  SECTION("a hop without a host key or login") {
    auto r = Load(Hosts("  j:\n    address: \"10.0.0.1:22\"\n"
                        "  db1:\n    address: \"10.0.0.9:22\"\n    via: [j]\n"),
                  files);
    CHECK_FALSE(r.policy);
    CHECK(Errors(r).find("needs a login") != std::string::npos);
    CHECK(Errors(r).find("never trusts a host key on first use") != std::string::npos);
  }
  SECTION("an identity that is not a private key") {
    auto r = Load(Hosts(Jump("j")), {{"/etc/hopgate/id", "not a key\n"}});
    CHECK_FALSE(r.policy);
    CHECK(Errors(r).find("/etc/hopgate/policy.yaml:6:15: identity: \"/etc/hopgate/id\"") !=
          std::string::npos);
  }
}

TEST_CASE("a tab in the indentation is named, with its position") {
  std::string e = Errors(Load("version: 1\nusers:\n\talice: {}\n"));
  CHECK(e.find("policy.yaml:3:1: a tab in the indentation: YAML forbids tabs for indentation, "
               "use spaces") != std::string::npos);
}
