// Each refusal sshd would make, on certificates made by ssh-keygen at test
// time, with the exact reason an operator reads in the log.
#include "certs/validate.h"

#include <catch2/catch.hpp>

#include "certs/testing/ssh_keygen.h"

namespace hopgate::certs {
namespace {

using testing::TempDir;

constexpr int64_t kValidFrom = 1795168800;   // 2026-11-20T10:00:00Z
constexpr int64_t kValidUntil = 1795255200;  // 2026-11-21T10:00:00Z
constexpr char kValidity[] = "-V 20261120100000Z:20261121100000Z";

struct World {
  TempDir dir;
  std::string ca = dir.KeyGen("ca", "ed25519");
  std::string other_ca = dir.KeyGen("other_ca", "ecdsa -b 256");
  std::string user = dir.KeyGen("user", "ed25519");
  PublicKey ca_key = ParsePublicKeyLine(testing::ReadFile(ca + ".pub")).value();
};

World& W() {
  static World* w = new World();
  return *w;
}

Certificate Make(const std::string& args, const std::string& ca = W().ca) {
  auto cert = ParseCertificateText(W().dir.Sign(ca, W().user, args));
  REQUIRE(cert.ok());
  return *cert;
}

ValidationContext Ctx() {
  ValidationContext ctx;
  ctx.now = kValidFrom + 3600;
  ctx.trusted_cas = {W().ca_key};
  ctx.principal = "alice";
  return ctx;
}

std::string Refusal(const Certificate& cert, const ValidationContext& ctx = Ctx()) {
  auto r = ValidateCertificate(cert, ctx);
  if (r.ok()) return "(accepted)";
  return r.message();
}

TEST_CASE("validity window: valid_after <= now < valid_before") {
  auto cert = Make(std::string("-I id -n alice ") + kValidity);
  auto ctx = Ctx();
  ctx.now = kValidFrom;
  CHECK(ValidateCertificate(cert, ctx).ok());
  ctx.now = kValidFrom - 1;
  CHECK(Refusal(cert, ctx) == "not valid before 2026-11-20T10:00:00Z");
  ctx.now = kValidUntil - 1;
  CHECK(ValidateCertificate(cert, ctx).ok());
  ctx.now = kValidUntil;
  CHECK(Refusal(cert, ctx) == "expired at 2026-11-21T10:00:00Z");

  auto future = Make("-I id -n alice -V 20261122100000Z:20261123100000Z");
  CHECK(Refusal(future) == "not valid before 2026-11-22T10:00:00Z");
  auto past = Make("-I id -n alice -V 20261119100000Z:20261120100000Z");
  CHECK(Refusal(past) == "expired at 2026-11-20T10:00:00Z");

  auto forever = Make("-I id -n alice");
  CHECK(forever.valid_before == kForever);
  ctx.now = 4102444800;  // 2100
  CHECK(ValidateCertificate(forever, ctx).ok());
}

TEST_CASE("principals: listed, and never empty") {
  auto cert = Make(std::string("-I id -n alice,carol ") + kValidity);
  auto ctx = Ctx();
  ctx.principal = "carol";
  CHECK(ValidateCertificate(cert, ctx).ok());
  ctx.principal = "bob";
  CHECK(Refusal(cert, ctx) == "principal \"bob\" not listed");
  ctx.principal = "ali";
  CHECK(Refusal(cert, ctx) == "principal \"ali\" not listed");

  ctx.principal = "";
  CHECK(Refusal(cert, ctx) == "no principal requested");

  auto none = Make(std::string("-I id ") + kValidity);  // -n omitted
  CHECK(none.principals.empty());
  CHECK(Refusal(none) == "certificate has no principals");
}

TEST_CASE("only trusted CAs") {
  auto cert = Make(std::string("-I id -n alice ") + kValidity, W().other_ca);
  auto fp = cert.CaFingerprint();
  CHECK(Refusal(cert) == "CA " + fp + " not trusted");
  auto ctx = Ctx();
  ctx.trusted_cas.clear();
  CHECK(Refusal(Make("-I id -n alice"), ctx).find("not trusted") != std::string::npos);
  ctx.trusted_cas = {W().ca_key, cert.signature_key};
  CHECK(ValidateCertificate(cert, ctx).ok());
}

TEST_CASE("host certificates are not user certificates") {
  auto host = Make(std::string("-h -I host -n alice ") + kValidity);
  CHECK(host.type == CertType::kHost);
  CHECK(Refusal(host) == "host certificate presented as a user certificate");
  auto ctx = Ctx();
  ctx.expected_type = CertType::kHost;
  CHECK(ValidateCertificate(host, ctx).ok());
  CHECK(Refusal(Make("-I id -n alice"), ctx) ==
        "user certificate presented as a host certificate");
}

TEST_CASE("unknown critical options are refused") {
  auto cert = Make(std::string("-I id -n alice -O critical:foo=bar ") + kValidity);
  REQUIRE(cert.critical_options.size() == 1);
  CHECK(Refusal(cert) == "unsupported critical option \"foo\"");
}

TEST_CASE("unknown extensions are ignored") {
  auto cert = Make(std::string("-I id -n alice -O extension:foo@example.com=bar ") + kValidity);
  auto g = ValidateCertificate(cert, Ctx());
  REQUIRE(g.ok());
  CHECK(g->permit_pty);
}

TEST_CASE("source-address is enforced against the client address") {
  auto cert = Make(std::string("-I id -n alice -O source-address=192.168.0.0/16,2001:db8::/32,10.9.9.9 ") +
                   kValidity);
  auto ctx = Ctx();
  ctx.client_address = IpAddress::Parse("192.168.4.5");
  auto g = ValidateCertificate(cert, ctx);
  REQUIRE(g.ok());
  CHECK(g->source_addresses.size() == 3);
  ctx.client_address = IpAddress::Parse("2001:db8::1");
  CHECK(ValidateCertificate(cert, ctx).ok());
  ctx.client_address = IpAddress::Parse("10.9.9.9");
  CHECK(ValidateCertificate(cert, ctx).ok());
  ctx.client_address = IpAddress::Parse("::ffff:192.168.1.1");  // v4-mapped
  CHECK(ValidateCertificate(cert, ctx).ok());
  ctx.client_address = IpAddress::Parse("10.9.9.8");
  CHECK(Refusal(cert, ctx) ==
        "source address 10.9.9.8 not in 192.168.0.0/16,2001:db8::/32,10.9.9.9");
  ctx.client_address.reset();
  CHECK(Refusal(cert, ctx).find("client address is unknown") != std::string::npos);

  auto single = Make(std::string("-I id -n alice -O source-address=192.168.0.0/16 ") + kValidity);
  ctx.client_address = IpAddress::Parse("10.1.2.3");
  CHECK(Refusal(single, ctx) == "source address 10.1.2.3 not in 192.168.0.0/16");
}

TEST_CASE("force-command is returned to the caller") {
  auto cert = Make(std::string("-I id -n alice -O force-command=/usr/bin/rsync\\ --server ") +
                   kValidity);
  auto g = ValidateCertificate(cert, Ctx());
  REQUIRE(g.ok());
  REQUIRE(g->force_command.has_value());
  CHECK(*g->force_command == "/usr/bin/rsync --server");
  auto plain = ValidateCertificate(Make("-I id -n alice"), Ctx());
  REQUIRE(plain.ok());
  CHECK_FALSE(plain->force_command.has_value());
}

TEST_CASE("extensions map to permissions; ssh-keygen -O no-* and clear turn them off") {
  auto all = ValidateCertificate(Make("-I id -n alice"), Ctx());
  REQUIRE(all.ok());
  CHECK(all->permit_port_forwarding);
  CHECK(all->permit_pty);
  CHECK(all->permit_agent_forwarding);
  CHECK(all->permit_x11_forwarding);
  CHECK(all->permit_user_rc);

  auto no_fwd = ValidateCertificate(Make("-I id -n alice -O no-port-forwarding"), Ctx());
  REQUIRE(no_fwd.ok());
  CHECK_FALSE(no_fwd->permit_port_forwarding);
  CHECK(no_fwd->permit_pty);
  CHECK(no_fwd->permit_agent_forwarding);

  auto cleared = ValidateCertificate(Make("-I id -n alice -O clear"), Ctx());
  REQUIRE(cleared.ok());
  CHECK_FALSE(cleared->permit_port_forwarding);
  CHECK_FALSE(cleared->permit_pty);
  CHECK_FALSE(cleared->permit_agent_forwarding);
  CHECK_FALSE(cleared->permit_x11_forwarding);
  CHECK_FALSE(cleared->permit_user_rc);

  auto only_pty = ValidateCertificate(Make("-I id -n alice -O clear -O permit-pty"), Ctx());
  REQUIRE(only_pty.ok());
  CHECK(only_pty->permit_pty);
  CHECK_FALSE(only_pty->permit_port_forwarding);
}

TEST_CASE("a bad signature is refused") {
  auto cert = Make(std::string("-I id -n alice ") + kValidity);
  cert.signature[cert.signature.size() - 1] ^= 1;
  CHECK(Refusal(cert) == "bad signature");
  // Changing a signed field after the fact is caught too.
  auto edited = Make(std::string("-I id -n alice ") + kValidity);
  edited.blob[edited.blob.find("alice")] = 'b';  // the principal, in the blob
  CHECK(Refusal(edited) == "bad signature");
}

TEST_CASE("source-address list syntax") {
  CHECK(ParseSourceAddressList("10.0.0.0/8,::1").ok());
  CHECK_FALSE(ParseSourceAddressList("").ok());
  CHECK_FALSE(ParseSourceAddressList("10.0.0.0/8,").ok());
  CHECK_FALSE(ParseSourceAddressList("example.com").ok());
  CHECK_FALSE(ParseSourceAddressList("10.0.0.1/8").ok());  // host bits set
}

}  // namespace
}  // namespace hopgate::certs
