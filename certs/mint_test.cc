// Minting: CA keys loaded from ssh-keygen's private key files, certificates
// that ssh-keygen -L reads back field by field, and generated keys that
// ssh-keygen and libssh load.
#include "certs/mint.h"

#include <libssh/libssh.h>

#include <catch2/catch.hpp>

#include "certs/testing/ssh_keygen.h"
#include "certs/validate.h"
#include "common/encoding.h"

namespace hopgate::certs {
namespace {

using testing::ReadFile;
using testing::Run;
using testing::ShellQuote;
using testing::TempDir;
using testing::WriteFile;

PrivateKey LoadKey(const std::string& path) {
  auto key = ParseOpenSshPrivateKey(ReadFile(path));
  INFO(path << ": " << (key.ok() ? "" : key.message()));
  REQUIRE(key.ok());
  return *key;
}

TEST_CASE("CA private keys from ssh-keygen load, and match their public keys") {
  TempDir dir;
  for (const char* args : {"ed25519", "ecdsa -b 256", "ecdsa -b 384", "ecdsa -b 521"}) {
    INFO(args);
    std::string path = dir.KeyGen("ca", args);
    auto key = LoadKey(path);
    CHECK(key.Public() == ParsePublicKeyLine(ReadFile(path + ".pub")).value());
    CHECK(key.comment() == "ca");
    CHECK(key.PublicLine() + "\n" == ReadFile(path + ".pub"));
    // Our export loads back in ssh-keygen and in our parser.
    std::string out = dir.File("export");
    WriteFile(out, key.ToOpenSshText());
    auto y = Run("ssh-keygen -y -f " + ShellQuote(out));
    CHECK(y.exit_code == 0);
    CHECK(y.output == key.PublicLine() + "\n");
    auto back = ParseOpenSshPrivateKey(ReadFile(out));
    REQUIRE(back.ok());
    CHECK(back->Public() == key.Public());
    std::remove(path.c_str());
    std::remove((path + ".pub").c_str());
  }
}

TEST_CASE("encrypted, RSA, PEM and corrupt private keys are refused") {
  TempDir dir;
  std::string enc = dir.File("enc");
  REQUIRE(Run("ssh-keygen -q -t ed25519 -N secret-pass -f " + ShellQuote(enc)).exit_code == 0);
  auto r = ParseOpenSshPrivateKey(ReadFile(enc));
  REQUIRE_FALSE(r.ok());
  CHECK(r.message().find("encrypted private keys are not supported") != std::string::npos);

  auto rsa = ParseOpenSshPrivateKey(ReadFile(dir.KeyGen("rsa", "rsa -b 2048")));
  REQUIRE_FALSE(rsa.ok());
  CHECK(rsa.message().find("RSA private keys are not supported") != std::string::npos);

  std::string pem = dir.File("pem");
  REQUIRE(Run("ssh-keygen -q -t ecdsa -m PEM -N '' -f " + ShellQuote(pem)).exit_code == 0);
  auto p = ParseOpenSshPrivateKey(ReadFile(pem));
  REQUIRE_FALSE(p.ok());
  CHECK(p.message().find("not an OpenSSH private key") != std::string::npos);

  CHECK_FALSE(ParseOpenSshPrivateKey("").ok());
  std::string good = ReadFile(dir.KeyGen("ed", "ed25519"));
  std::string text = GenerateEd25519("x").value().ToOpenSshText();
  // Flip one base64 character in the body: never loads silently wrong.
  for (size_t i = 40; i < text.size() - 40; i += 7) {
    std::string bad = text;
    if (bad[i] == '\n') continue;
    bad[i] = bad[i] == 'A' ? 'B' : 'A';
    auto k = ParseOpenSshPrivateKey(bad);
    if (k.ok()) {
      // Only the check bytes or the comment may change harmlessly; the key
      // must still be the same key.
      CHECK(k->Public() == ParseOpenSshPrivateKey(text).value().Public());
    }
  }
  CHECK(ParseOpenSshPrivateKey(good).ok());
}

TEST_CASE("minted certificates read back in ssh-keygen -L, field by field") {
  TempDir dir;
  std::string user_path = dir.KeyGen("user", "ecdsa -b 256");
  auto user = ParsePublicKeyLine(ReadFile(user_path + ".pub")).value();
  for (const char* ca_args : {"ed25519", "ecdsa -b 256", "ecdsa -b 384", "ecdsa -b 521"}) {
    INFO(ca_args);
    std::string ca_path = dir.KeyGen("ca", ca_args);
    auto ca = LoadKey(ca_path);
    CertificateSpec spec;
    spec.key = user;
    spec.serial = 123456789;
    spec.key_id = "gateway:alice@corp";
    spec.principals = {"alice", "deploy"};
    spec.valid_after = 1795168800;   // 2026-11-20T10:00:00Z
    spec.valid_before = 1795255200;  // 2026-11-21T10:00:00Z
    spec.force_command = "/usr/bin/uptime";
    spec.source_addresses = {"10.0.0.0/8", "2001:db8::/32"};
    spec.extensions = {"permit-pty", "permit-X11-forwarding"};
    auto blob = MintUserCertificate(spec, ca);
    INFO((blob.ok() ? "" : blob.message()));
    REQUIRE(blob.ok());
    std::string cert_path = dir.File("minted-cert.pub");
    WriteFile(cert_path, CertificateToText(*blob, "minted") + "\n");
    auto l = Run("ssh-keygen -L -f " + ShellQuote(cert_path));
    INFO(l.output);
    REQUIRE(l.exit_code == 0);
    const std::string& out = l.output;
    CHECK(out.find("Type: ecdsa-sha2-nistp256-cert-v01@openssh.com user certificate") != std::string::npos);
    CHECK(out.find("Public key: ECDSA-CERT " + user.Fingerprint()) != std::string::npos);
    CHECK(out.find("Signing CA: ") != std::string::npos);
    CHECK(out.find(ca.Public().Fingerprint() + " (using " + std::string(ca.Public().TypeName()) + ")") !=
          std::string::npos);
    CHECK(out.find("Key ID: \"gateway:alice@corp\"") != std::string::npos);
    CHECK(out.find("Serial: 123456789") != std::string::npos);
    CHECK(out.find("Valid: from 2026-11-20T10:00:00 to 2026-11-21T10:00:00") != std::string::npos);
    CHECK(out.find("Principals: \n                alice\n                deploy\n") != std::string::npos);
    CHECK(out.find("Critical Options: \n                force-command /usr/bin/uptime\n"
                   "                source-address 10.0.0.0/8,2001:db8::/32\n") != std::string::npos);
    CHECK(out.find("Extensions: \n                permit-X11-forwarding\n"
                   "                permit-pty\n") != std::string::npos);
    CHECK(out.find("permit-port-forwarding") == std::string::npos);

    // Our own validator agrees.
    auto cert = ParseCertificate(*blob).value();
    ValidationContext ctx;
    ctx.now = 1795200000;
    ctx.trusted_cas = {ca.Public()};
    ctx.principal = "deploy";
    ctx.client_address = IpAddress::Parse("10.1.1.1");
    auto g = ValidateCertificate(cert, ctx);
    REQUIRE(g.ok());
    CHECK(g->force_command == "/usr/bin/uptime");
    CHECK(g->permit_pty);
    CHECK_FALSE(g->permit_port_forwarding);
    CHECK(cert.nonce.size() == 32);
    std::remove(ca_path.c_str());
    std::remove((ca_path + ".pub").c_str());
  }
}

TEST_CASE("generated ed25519 keys load in ssh-keygen and libssh, with their certificate") {
  TempDir dir;
  auto key = GenerateEd25519("hopgate-upstream");
  REQUIRE(key.ok());
  auto other = GenerateEd25519();
  REQUIRE(other.ok());
  CHECK_FALSE(key->Public() == other->Public());
  std::string text = key->ToOpenSshText();
  CHECK(text.rfind("-----BEGIN OPENSSH PRIVATE KEY-----\n", 0) == 0);
  std::string path = dir.File("gen");
  WriteFile(path, text);
  auto y = Run("ssh-keygen -y -f " + ShellQuote(path));
  CHECK(y.output == key->PublicLine() + "\n");
  CHECK(key->PublicLine().rfind("ssh-ed25519 AAAA", 0) == 0);
  CHECK(key->PublicLine().substr(key->PublicLine().size() - 17) == " hopgate-upstream");

  auto ca = GenerateEd25519("ca");
  REQUIRE(ca.ok());
  CertificateSpec spec;
  spec.key = key->Public();
  spec.key_id = "session-1";
  spec.principals = {"alice"};
  spec.valid_after = 1795168800;
  spec.valid_before = 1795168800 + 300;
  spec.extensions = StandardExtensions();
  auto blob = MintUserCertificate(spec, *ca);
  REQUIRE(blob.ok());

  ssh_key priv = nullptr;
  REQUIRE(ssh_pki_import_privkey_base64(text.c_str(), nullptr, nullptr, nullptr, &priv) == SSH_OK);
  ssh_key cert = nullptr;
  std::string b64 = Base64Encode(*blob);
  REQUIRE(ssh_pki_import_cert_base64(b64.c_str(), SSH_KEYTYPE_ED25519_CERT01, &cert) == SSH_OK);
  CHECK(ssh_pki_copy_cert_to_privkey(cert, priv) == SSH_OK);
  ssh_key_free(cert);
  ssh_key_free(priv);
}

TEST_CASE("minting refuses specs that could not be valid") {
  auto ca = GenerateEd25519().value();
  CertificateSpec spec;
  spec.key = GenerateEd25519().value().Public();
  spec.principals = {"alice"};
  CHECK(MintUserCertificate(spec, ca).ok());
  auto no_principal = spec;
  no_principal.principals.clear();
  CHECK(MintUserCertificate(no_principal, ca).message() == "a certificate needs at least one principal");
  auto bad_addr = spec;
  bad_addr.source_addresses = {"10.0.0.0/33"};
  CHECK_FALSE(MintUserCertificate(bad_addr, ca).ok());
  auto dup = spec;
  dup.extensions = {"permit-pty", "permit-pty"};
  CHECK_FALSE(MintUserCertificate(dup, ca).ok());
  auto window = spec;
  window.valid_after = 10;
  window.valid_before = 10;
  CHECK_FALSE(MintUserCertificate(window, ca).ok());
}

}  // namespace
}  // namespace hopgate::certs
