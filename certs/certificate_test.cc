// Certificates made by ssh-keygen at test time: every user key type signed by
// every CA type parses, verifies and reports the fields ssh-keygen -L shows;
// corrupted, truncated and malformed certificates never validate.
#include "certs/certificate.h"

#include <catch2/catch.hpp>
#include <map>

#include "certs/mint.h"
#include "certs/private_key.h"
#include "certs/testing/ssh_keygen.h"
#include "certs/validate.h"
#include "common/wire.h"

namespace hopgate::certs {
namespace {

using namespace std::string_literals;
using testing::Run;
using testing::ShellQuote;
using testing::TempDir;

constexpr int64_t kNow = 1795200000;  // inside the validity below
constexpr char kValidity[] = "-V 20261120100000Z:20261121100000Z";

struct World {
  TempDir dir;
  std::map<std::string, std::string> keys;  // name -> private key path
  World() {
    keys["ed25519"] = dir.KeyGen("ed25519", "ed25519");
    keys["ecdsa256"] = dir.KeyGen("ecdsa256", "ecdsa -b 256");
    keys["ecdsa384"] = dir.KeyGen("ecdsa384", "ecdsa -b 384");
    keys["ecdsa521"] = dir.KeyGen("ecdsa521", "ecdsa -b 521");
    keys["rsa"] = dir.KeyGen("rsa", "rsa -b 2048");
    keys["ca_ed25519"] = dir.KeyGen("ca_ed25519", "ed25519");
    keys["ca_ecdsa256"] = dir.KeyGen("ca_ecdsa256", "ecdsa -b 256");
    keys["ca_ecdsa384"] = dir.KeyGen("ca_ecdsa384", "ecdsa -b 384");
    keys["ca_ecdsa521"] = dir.KeyGen("ca_ecdsa521", "ecdsa -b 521");
    keys["ca_rsa"] = dir.KeyGen("ca_rsa", "rsa -b 2048");
  }
  PublicKey Pub(const std::string& name) const {
    auto k = ParsePublicKeyLine(testing::ReadFile(keys.at(name) + ".pub"));
    REQUIRE(k.ok());
    return *k;
  }
  std::string Sign(const std::string& ca, const std::string& user,
                   const std::string& args) const {
    return dir.Sign(keys.at(ca), keys.at(user), args);
  }
};

const World& W() {
  static World* world = new World();
  return *world;
}

ValidationContext Context(const std::string& ca) {
  ValidationContext ctx;
  ctx.now = kNow;
  ctx.trusted_cas = {W().Pub(ca)};
  ctx.principal = "alice";
  return ctx;
}

// "SHA256:..." as ssh-keygen -l prints it for `path`.
std::string KeygenFingerprint(const std::string& path) {
  auto r = Run("ssh-keygen -l -f " + ShellQuote(path));
  REQUIRE(r.exit_code == 0);
  auto start = r.output.find("SHA256:");
  REQUIRE(start != std::string::npos);
  return r.output.substr(start, r.output.find(' ', start) - start);
}

TEST_CASE("every user key type signed by every CA type validates") {
  struct Ca {
    const char* key;
    const char* sign_args;
    const char* algorithm;
  };
  const Ca cas[] = {
      {"ca_ed25519", "", "ssh-ed25519"},
      {"ca_ecdsa256", "", "ecdsa-sha2-nistp256"},
      {"ca_ecdsa384", "", "ecdsa-sha2-nistp384"},
      {"ca_ecdsa521", "", "ecdsa-sha2-nistp521"},
      {"ca_rsa", "-t rsa-sha2-256", "rsa-sha2-256"},
      {"ca_rsa", "-t rsa-sha2-512", "rsa-sha2-512"},
  };
  const std::map<std::string, std::string> user_types = {
      {"ed25519", "ssh-ed25519-cert-v01@openssh.com"},
      {"ecdsa256", "ecdsa-sha2-nistp256-cert-v01@openssh.com"},
      {"ecdsa384", "ecdsa-sha2-nistp384-cert-v01@openssh.com"},
      {"ecdsa521", "ecdsa-sha2-nistp521-cert-v01@openssh.com"},
      {"rsa", "ssh-rsa-cert-v01@openssh.com"},
  };
  for (const auto& ca : cas) {
    for (const auto& [user, cert_type] : user_types) {
      INFO("CA " << ca.key << " " << ca.algorithm << ", user key " << user);
      std::string text = W().Sign(ca.key, user,
                                  std::string(ca.sign_args) +
                                      " -I alice@corp -z 42 -n alice,bob " + kValidity);
      std::string comment;
      auto cert = ParseCertificateText(text, &comment);
      INFO((cert.ok() ? "" : cert.message()));
      REQUIRE(cert.ok());
      CHECK(cert->TypeName() == cert_type);
      CHECK(comment == user);
      CHECK(cert->key_id == "alice@corp");
      CHECK(cert->serial == 42);
      CHECK(cert->principals == std::vector<std::string>{"alice", "bob"});
      CHECK(cert->valid_after == 1795168800);
      CHECK(cert->valid_before == 1795255200);
      CHECK(cert->signature_algorithm == ca.algorithm);
      CHECK(cert->type == CertType::kUser);
      // Fingerprints are of the certified key and the CA key, as OpenSSH
      // prints them, never of the certificate blob.
      std::string cert_path = W().keys.at(user) + "-cert.pub";
      CHECK(cert->Fingerprint() == KeygenFingerprint(cert_path));
      CHECK(cert->Fingerprint() == KeygenFingerprint(W().keys.at(user) + ".pub"));
      CHECK(cert->CaFingerprint() == KeygenFingerprint(W().keys.at(ca.key) + ".pub"));
      CHECK(cert->key == W().Pub(user));

      auto grants = ValidateCertificate(*cert, Context(ca.key));
      INFO((grants.ok() ? "" : grants.message()));
      REQUIRE(grants.ok());
      CHECK(grants->permit_pty);
      CHECK(grants->permit_port_forwarding);
      CHECK(grants->key_fingerprint == cert->Fingerprint());
      CHECK(grants->ca_fingerprint == cert->CaFingerprint());
      CHECK(grants->certificate.key_id == "alice@corp");
      // The text form round-trips.
      CHECK(cert->ToText(comment) + "\n" == text);
    }
  }
}

TEST_CASE("SHA-1 ssh-rsa CA signatures are refused unless allowed") {
  // ssh-keygen 9.2 can still sign with -t ssh-rsa.
  std::string text = W().Sign("ca_rsa", "ed25519", std::string("-t ssh-rsa -I x -n alice ") + kValidity);
  auto cert = ParseCertificateText(text);
  REQUIRE(cert.ok());
  CHECK(cert->signature_algorithm == "ssh-rsa");
  auto ctx = Context("ca_rsa");
  auto refused = ValidateCertificate(*cert, ctx);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.message() == "SHA-1 signature (ssh-rsa) refused");
  ctx.allow_sha1_signatures = true;
  CHECK(ValidateCertificate(*cert, ctx).ok());
}

// Every single-byte corruption must fail parsing, the signature check or
// validation: none may yield a certificate that grants access.
void CheckEveryFlippedByte(const std::string& ca, const std::string& user) {
  std::string text = W().Sign(ca, user, std::string("-I id -z 5 -n alice ") + kValidity);
  auto good = ParseCertificateText(text);
  REQUIRE(good.ok());
  auto ctx = Context(ca);
  REQUIRE(ValidateCertificate(*good, ctx).ok());
  const std::string& blob = good->blob;
  int parse_failures = 0, validate_failures = 0;
  for (size_t i = 0; i < blob.size(); ++i) {
    for (uint8_t mask : {uint8_t{0x01}, uint8_t{0x80}}) {
      std::string bad = blob;
      bad[i] = static_cast<char>(bad[i] ^ mask);
      auto cert = ParseCertificate(bad);
      if (!cert.ok()) {
        ++parse_failures;
        continue;
      }
      auto grants = ValidateCertificate(*cert, ctx);
      INFO("byte " << i << " mask " << int(mask));
      CHECK_FALSE(grants.ok());
      ++validate_failures;
    }
  }
  CHECK(parse_failures > 0);
  CHECK(validate_failures > 0);
}

TEST_CASE("a flipped bit anywhere in the blob never validates") {
  CheckEveryFlippedByte("ca_ed25519", "ed25519");
  CheckEveryFlippedByte("ca_ecdsa384", "rsa");
  CheckEveryFlippedByte("ca_rsa", "ecdsa256");
}

TEST_CASE("every truncation of the blob fails to parse, and so do extra bytes") {
  std::string text = W().Sign("ca_ecdsa256", "ed25519", std::string("-I id -n alice ") + kValidity);
  auto good = ParseCertificateText(text);
  REQUIRE(good.ok());
  for (size_t len = 0; len < good->blob.size(); ++len) {
    INFO("prefix " << len);
    CHECK_FALSE(ParseCertificate(good->blob.substr(0, len)).ok());
  }
  auto trailing = ParseCertificate(good->blob + std::string(1, '\0'));
  REQUIRE_FALSE(trailing.ok());
  CHECK(trailing.message().find("trailing") != std::string::npos);
}

TEST_CASE("certificate text must carry a matching certificate type") {
  std::string text = W().Sign("ca_ed25519", "ecdsa256", std::string("-I id -n alice ") + kValidity);
  auto pos = text.find(' ');
  std::string wrong = "ssh-ed25519-cert-v01@openssh.com" + text.substr(pos);
  auto r = ParseCertificateText(wrong);
  REQUIRE_FALSE(r.ok());
  CHECK(r.message().find("does not match") != std::string::npos);
  // A plain key is not a certificate, and vice versa.
  auto plain = ParseCertificateText(testing::ReadFile(W().keys.at("ed25519") + ".pub"));
  REQUIRE_FALSE(plain.ok());
  CHECK(plain.message() == "expected a certificate, got a plain ssh-ed25519 key");
  CHECK_FALSE(ParsePublicKeyLine(text).ok());
  CHECK_FALSE(ParseCertificateText("ssh-ed25519-cert-v01@openssh.com !!!").ok());
}

// Hand-built certificates (re-signed with our minting code, since ssh-keygen
// never writes these shapes) probe the structural rules.
struct Body {
  std::vector<std::pair<std::string, std::string>> critical;
  std::vector<std::pair<std::string, std::string>> extensions;
  std::vector<std::string> principals = {"alice"};
  std::string key_id = "id";
  uint32_t type = 1;
};

std::string BuildBody(const Body& b) {
  auto key = W().Pub("ed25519");
  WireWriter w;
  w.PutString("ssh-ed25519-cert-v01@openssh.com");
  w.PutString(std::string(32, 'n'));
  w.PutString(key.ed25519_key);
  w.PutU64(1);
  w.PutU32(b.type);
  w.PutString(b.key_id);
  WireWriter p;
  for (const auto& s : b.principals) p.PutString(s);
  w.PutString(p.data());
  w.PutU64(0);
  w.PutU64(kForever);
  for (const auto* list : {&b.critical, &b.extensions}) {
    WireWriter o;
    for (const auto& [name, data] : *list) {
      o.PutString(name);
      o.PutString(data);
    }
    w.PutString(o.data());
  }
  w.PutString("");
  return w.Take();
}

const PrivateKey& HandCa() {
  static PrivateKey* ca = new PrivateKey(
      ParseOpenSshPrivateKey(testing::ReadFile(W().keys.at("ca_ed25519"))).value());
  return *ca;
}

Result<Certificate> ParseBody(const Body& b) {
  auto blob = SignCertificateBody(BuildBody(b), HandCa());
  REQUIRE(blob.ok());
  return ParseCertificate(*blob);
}

TEST_CASE("options and extensions must be well-formed, ascending and unique") {
  Body ok;
  ok.critical = {{"force-command", "\0\0\0\2ls"s},
                 {"source-address", "\0\0\0\x0a" "10.0.0.0/8"s}};
  ok.extensions = {{"permit-X11-forwarding", ""}, {"permit-pty", ""}};
  auto cert = ParseBody(ok);
  REQUIRE(cert.ok());
  auto ctx = Context("ca_ed25519");
  ctx.client_address = IpAddress::Parse("10.9.8.7");
  auto grants = ValidateCertificate(*cert, ctx);
  REQUIRE(grants.ok());
  CHECK(grants->force_command == "ls");
  CHECK(grants->permit_pty);
  CHECK(grants->permit_x11_forwarding);
  CHECK_FALSE(grants->permit_port_forwarding);

  Body unsorted = ok;
  std::swap(unsorted.critical[0], unsorted.critical[1]);
  auto r = ParseBody(unsorted);
  REQUIRE_FALSE(r.ok());
  CHECK(r.message() ==
        "certificate: critical options not in ascending order (\"force-command\" "
        "after \"source-address\")");

  Body dup = ok;
  dup.extensions = {{"permit-pty", ""}, {"permit-pty", ""}};
  r = ParseBody(dup);
  REQUIRE_FALSE(r.ok());
  CHECK(r.message() == "certificate: duplicate extension \"permit-pty\"");

  Body extra = ok;  // a value string followed by junk inside the data
  extra.critical = {{"force-command", std::string("\0\0\0\2lsX", 7)}};
  cert = ParseBody(extra);
  REQUIRE(cert.ok());
  auto v = ValidateCertificate(*cert, ctx);
  REQUIRE_FALSE(v.ok());
  CHECK(v.message() == "malformed critical option \"force-command\"");

  Body flag_data = ok;
  flag_data.critical.clear();
  flag_data.extensions = {{"permit-pty", "x"}};
  cert = ParseBody(flag_data);
  REQUIRE(cert.ok());
  v = ValidateCertificate(*cert, ctx);
  REQUIRE_FALSE(v.ok());
  CHECK(v.message() == "extension \"permit-pty\" has unexpected data");

  Body unknown_ext = ok;
  unknown_ext.critical.clear();
  unknown_ext.extensions = {{"login@example.com", "whatever"}};
  cert = ParseBody(unknown_ext);
  REQUIRE(cert.ok());
  CHECK(ValidateCertificate(*cert, ctx).ok());
}

TEST_CASE("caps, NUL bytes and unknown certificate types are refused") {
  Body many;
  many.principals.assign(257, "p");
  auto r = ParseBody(many);
  REQUIRE_FALSE(r.ok());
  CHECK(r.message() == "certificate: more than 256 principals");
  many.principals.assign(256, "alice");
  CHECK(ParseBody(many).ok());

  Body opts;
  for (int i = 0; i < 65; ++i) {
    char name[16];
    snprintf(name, sizeof name, "x%03d", i);
    opts.extensions.emplace_back(name, "");
  }
  r = ParseBody(opts);
  REQUIRE_FALSE(r.ok());
  CHECK(r.message() == "certificate: more than 64 extensions");

  Body nul;
  nul.principals = {std::string("ali\0ce", 6)};
  CHECK_FALSE(ParseBody(nul).ok());
  Body nul_id;
  nul_id.key_id = std::string("a\0b", 3);
  CHECK_FALSE(ParseBody(nul_id).ok());
  Body type3;
  type3.type = 3;
  r = ParseBody(type3);
  REQUIRE_FALSE(r.ok());
  CHECK(r.message() == "certificate: unknown certificate type 3");
}

TEST_CASE("a certificate used as a CA key is refused") {
  std::string text = W().Sign("ca_ed25519", "ed25519", std::string("-I id -n alice ") + kValidity);
  auto inner = ParseCertificateText(text);
  REQUIRE(inner.ok());
  WireWriter w;
  w.PutRaw(BuildBody(Body{}));
  w.PutString(inner->blob);  // a certificate where the CA key belongs
  w.PutString(inner->signature);
  auto r = ParseCertificate(w.data());
  REQUIRE_FALSE(r.ok());
  CHECK(r.message() ==
        "certificate: CA key is itself a certificate (chained certificates are not supported)");
}

TEST_CASE("DSA certificates and keys are refused with a clear reason") {
  auto r = ParseCertificateText("ssh-dss-cert-v01@openssh.com AAAAHHNzaC1kc3MtY2VydC12MDFAb3BlbnNzaC5jb20=");
  REQUIRE_FALSE(r.ok());
  CHECK(r.message() == "certificate: DSA keys are not supported");
}

}  // namespace
}  // namespace hopgate::certs
