#include <catch2/catch.hpp>

#include "policy/authorized_keys.h"

using namespace hopgate;
using namespace hopgate::policy;

namespace {
const std::string kKey =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICdJzRKodtJHNcVB9uQZDkQAXAnALRyZd0CHZO11Oxlh alice@laptop";
}

TEST_CASE("authorized_keys options become restrictions") {
  auto k = ParseAuthorizedKeyLine(
      "command=\"echo \\\"hi\\\"\",from=\"10.0.0.0/8,!10.9.0.0/16\",permitopen=\"db1:5432\","
      "permitopen=\"db2:*\",no-pty " + kKey,
      "line 1");
  REQUIRE(k.ok());
  const Restrictions& r = k->restrictions;
  CHECK(k->comment == "alice@laptop");
  CHECK(*r.force_command == "echo \"hi\"");
  CHECK_FALSE(r.pty);
  CHECK(r.port_forwarding);
  REQUIRE(r.permit_open);
  CHECK(r.permit_open->size() == 2);
  REQUIRE(r.from);
  CHECK(r.from->Matches(*IpAddress::Parse("10.1.2.3")));
  CHECK_FALSE(r.from->Matches(*IpAddress::Parse("10.9.2.3")));
  CHECK_FALSE(r.from->Matches(*IpAddress::Parse("192.168.1.1")));
}

TEST_CASE("restrict turns everything off and keywords turn parts back on") {
  auto k = ParseAuthorizedKeyLine("restrict,port-forwarding,permitlisten=\"8080\" " + kKey, "l");
  REQUIRE(k.ok());
  CHECK(k->restrictions.port_forwarding);
  CHECK_FALSE(k->restrictions.pty);
  CHECK_FALSE(k->restrictions.agent_forwarding);
  CHECK_FALSE(k->restrictions.x11_forwarding);
  REQUIRE(k->restrictions.permit_listen);
}

TEST_CASE("bad authorized_keys lines are refused with a reason") {
  CHECK(ParseAuthorizedKeyLine("frobnicate " + kKey, "l").message() == "unknown option \"frobnicate\"");
  CHECK(ParseAuthorizedKeyLine("command=unquoted " + kKey, "l").message() ==
        "value of option \"command\" must be in double quotes");
  CHECK(ParseAuthorizedKeyLine("command=\"open " + kKey, "l").ok() == false);
  CHECK(ParseAuthorizedKeyLine("cert-authority " + kKey, "l").message().find("not supported") !=
        std::string::npos);
  CHECK(ParseAuthorizedKeyLine("ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAICdJzRKodtJHNcVB9uQZDkQAXAnALRyZd0CHZO11Oxlh",
                               "l").message().find("does not match") != std::string::npos);
  CHECK_FALSE(ParseAuthorizedKeyLine("ssh-ed25519", "l").ok());
  CHECK_FALSE(ParseAuthorizedKeyLine("expiry-time=\"2026130\" " + kKey, "l").ok());
  auto e = ParseAuthorizedKeyLine("expiry-time=\"20261120\" " + kKey, "l");
  REQUIRE(e.ok());
  CHECK(*e->restrictions.expiry_time == 1795132800);
}
