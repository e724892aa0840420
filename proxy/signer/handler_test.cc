// The signer's own limits, request by request: what a subverted network
// process could ask for and must not get.
#include <catch2/catch.hpp>

#include "audit/checkpoint.h"
#include "certs/certificate.h"
#include "certs/private_key.h"
#include "policy/policy.h"
#include "proxy/signer/handler.h"
#include "proxy/signer/protocol.h"

using namespace hopgate;
using namespace hopgate::proxy::signer;

namespace {

constexpr int64_t kNow = 1'800'000'000;

const char* kHostKey =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";

std::shared_ptr<const policy::Policy> Load() {
  std::string text = std::string(R"(version: 1
users: {alice: {}, bob: {}, mallory: {}}
hosts:
  jump1: {address: "127.0.0.1:2200", login: hop, host_key: ")") + kHostKey + R"("}
  db1: {address: "127.0.0.1:2202", record: true, host_key: ")" + kHostKey + R"("}
  db2: {address: "127.0.0.1:2203", via: [jump1], host_key: ")" + kHostKey + R"("}
rules:
  - {name: banned, effect: deny, users: [mallory]}
  - {name: alice-db1, users: [alice], permit_open: ["db1:22"], record: true, logins: [deploy, alice], pty: false}
  - {name: alice-db2, users: [alice], permit_open: ["db2:22"]}
  - {name: bob-db1, users: [bob], permit_open: ["db1:22"], record: true, agent_forwarding: true}
)";
  auto r = policy::ParsePolicy(text, "p.yaml", [](const std::string&) -> Result<std::string> {
    return Error{"no files"};
  });
  INFO(r.diagnostics.ToString());
  REQUIRE(r.policy);
  return r.policy;
}

struct Fixture {
  certs::PrivateKey ca = *certs::GenerateEd25519("ca");
  certs::PrivateKey audit_key = *certs::GenerateEd25519("audit");
  certs::PrivateKey user_key = *certs::GenerateEd25519("session");
  Handler handler;

  Fixture() : handler(Options(), Load()) {}
  HandlerOptions Options() {
    HandlerOptions o;
    o.user_ca = ca;
    o.audit_key = audit_key;
    o.max_validity_seconds = 600;
    o.audit_origin = "hopgate/test";
    o.now_seconds = [] { return kNow; };
    return o;
  }
  MintRequest Recorded(std::string user, std::vector<std::string> principals) {
    MintRequest m;
    m.session_id = "s1";
    m.user = std::move(user);
    m.target_kind = 2;
    m.target = "db1";
    m.port = 2202;
    m.public_key = user_key.Public().blob;
    m.principals = std::move(principals);
    m.validity_seconds = 600;
    return m;
  }
  Reply Ask(const Request& q) {
    auto reply = DecodeReply(handler.Handle(EncodeRequest(q)));
    REQUIRE(reply);
    CHECK(reply->id == q.id);
    return *reply;
  }
  Reply Mint(const MintRequest& m) {
    Request q;
    q.id = 7;
    q.kind = Kind::kMintUserCertificate;
    q.mint = m;
    return Ask(q);
  }
};

}  // namespace

TEST_CASE("signer: mints within the limits; the key id is always hopgate:<user>:<session>") {
  Fixture f;
  Reply r = f.Mint(f.Recorded("alice", {"deploy"}));
  REQUIRE(r.ok);
  auto cert = certs::ParseCertificate(r.payload);
  REQUIRE(cert);
  CHECK(cert->key_id == "hopgate:alice:s1");
  CHECK(cert->principals == std::vector<std::string>{"deploy"});
  CHECK(cert->valid_before == static_cast<uint64_t>(kNow + 600));
  CHECK(cert->signature_key.blob == f.ca.Public().blob);
  CHECK(f.handler.signatures().at("user_certificate") == 1);
}

TEST_CASE("signer: refuses a longer validity than upstream.max_cert_validity") {
  Fixture f;
  MintRequest m = f.Recorded("alice", {"deploy"});
  m.validity_seconds = 601;
  Reply r = f.Mint(m);
  CHECK_FALSE(r.ok);
  CHECK_THAT(r.payload, Catch::Contains("over upstream.max_cert_validity (600s)"));
  CHECK(f.handler.signatures().count("user_certificate") == 0);
}

TEST_CASE("signer: refuses a principal the policy does not allow that user on that target") {
  Fixture f;
  Reply r = f.Mint(f.Recorded("alice", {"root"}));
  CHECK_FALSE(r.ok);
  CHECK_THAT(r.payload, Catch::Contains("principal \"root\" is not allowed for alice on db1"));
  // bob may log in to db1 only as bob.
  CHECK_FALSE(f.Mint(f.Recorded("bob", {"deploy"})).ok);
  CHECK(f.Mint(f.Recorded("bob", {"bob"})).ok);
  // mallory is denied everything.
  Reply m = f.Mint(f.Recorded("mallory", {"mallory"}));
  CHECK_FALSE(m.ok);
  CHECK_THAT(m.payload, Catch::Contains("rule banned denies mallory"));
  // A hop: only its configured login.
  MintRequest hop = f.Recorded("alice", {"hop"});
  hop.target_kind = 1;
  hop.target = "jump1";
  hop.extensions = {"permit-port-forwarding"};
  CHECK(f.Mint(hop).ok);
  hop.principals = {"root"};
  CHECK_FALSE(f.Mint(hop).ok);
}

TEST_CASE("signer: refuses a permit-* extension the policy did not grant") {
  Fixture f;
  MintRequest m = f.Recorded("alice", {"deploy"});
  m.extensions = {"permit-port-forwarding"};
  CHECK(f.Mint(m).ok);
  m.extensions = {"permit-pty"};  // pty: false
  Reply r = f.Mint(m);
  CHECK_FALSE(r.ok);
  CHECK_THAT(r.payload, Catch::Contains("extension permit-pty is not granted to alice on db1"));
  m.extensions = {"permit-agent-forwarding"};
  CHECK_FALSE(f.Mint(m).ok);
  MintRequest b = f.Recorded("bob", {"bob"});
  b.extensions = {"permit-agent-forwarding", "permit-pty"};
  CHECK(f.Mint(b).ok);
  b.extensions = {"no-touch-required"};
  CHECK_FALSE(f.Mint(b).ok);
}

TEST_CASE("signer: refuses malformed and oversized requests, and names that would fake a key id") {
  Fixture f;
  auto refused = [&](const std::string& packet) {
    auto reply = DecodeReply(f.handler.Handle(packet));
    REQUIRE(reply);
    CHECK_FALSE(reply->ok);
    return reply->payload;
  };
  CHECK_THAT(refused(""), Catch::Contains("malformed request"));
  CHECK_THAT(refused(std::string("\0\0\0\1\x09", 5)), Catch::Contains("unknown request type 9"));
  Request q;
  q.kind = Kind::kMintUserCertificate;
  q.mint = f.Recorded("alice", {"deploy"});
  std::string good = EncodeRequest(q);
  CHECK_THAT(refused(good.substr(0, good.size() - 3)), Catch::Contains("malformed request"));
  CHECK_THAT(refused(good + "x"), Catch::Contains("malformed request"));
  CHECK_THAT(refused(std::string(kMaxPacket + 1, 'a')), Catch::Contains("too large"));
  q.mint.principals.assign(kMaxPrincipals + 1, "deploy");
  CHECK_THAT(refused(EncodeRequest(q)), Catch::Contains("too many principals"));
  q.mint = f.Recorded("alice", {"deploy"});
  q.mint.session_id = "s1:evil";
  CHECK_THAT(refused(EncodeRequest(q)), Catch::Contains("malformed session id"));
  q.mint = f.Recorded("alice", {"deploy"});
  q.mint.public_key = "garbage";
  CHECK_THAT(refused(EncodeRequest(q)), Catch::Contains("the key to certify"));
  CHECK(f.handler.signatures().empty());
}

TEST_CASE("signer: signs checkpoints of its own origin only") {
  Fixture f;
  audit::CheckpointText c;
  c.origin = "hopgate/test";
  c.size = 3;
  c.root = std::string(32, '\x07');
  c.time = "2027-01-15T08:00:00Z";
  Request q;
  q.kind = Kind::kSignCheckpoint;
  q.checkpoint = audit::FormatCheckpoint(c);
  CHECK(f.Ask(q).ok);
  c.origin = "hopgate/other";
  q.checkpoint = audit::FormatCheckpoint(c);
  CHECK_FALSE(f.Ask(q).ok);
  q.checkpoint = "anything else";
  CHECK_FALSE(f.Ask(q).ok);
  CHECK(f.handler.signatures().at("audit_checkpoint") == 1);
}
