// Revocation lists written by `ssh-keygen -k` (and updated with -u) at test
// time, in every section form, plus the plain-text RevokedKeys form.
#include "certs/krl.h"

#include <catch2/catch.hpp>
#include <set>

#include "certs/testing/ssh_keygen.h"
#include "certs/validate.h"
#include "common/encoding.h"
#include "common/wire.h"

namespace hopgate::certs {
namespace {

using namespace std::string_literals;
using testing::ReadFile;
using testing::Run;
using testing::ShellQuote;
using testing::TempDir;
using testing::WriteFile;

struct World {
  TempDir dir;
  std::string ca = dir.KeyGen("ca", "ed25519");
  std::string other_ca = dir.KeyGen("other_ca", "ecdsa -b 384");
  std::string alice = dir.KeyGen("alice", "ed25519");
  std::string bob = dir.KeyGen("bob", "ecdsa -b 256");
  std::string carol = dir.KeyGen("carol", "rsa -b 2048");

  PublicKey Pub(const std::string& path) const {
    return ParsePublicKeyLine(ReadFile(path + ".pub")).value();
  }
  Certificate Cert(const std::string& ca_path, const std::string& key, const std::string& args) const {
    auto c = ParseCertificateText(dir.Sign(ca_path, key, args + " -n alice"));
    REQUIRE(c.ok());
    return *c;
  }
  // ssh-keygen -k [-u] -f krl [-s ca] spec; returns the KRL bytes.
  std::string Krl(const std::string& name, const std::string& spec, const std::string& ca_arg,
                  bool update = false) const {
    std::string spec_path = dir.File(name + ".spec");
    WriteFile(spec_path, spec);
    std::string krl = dir.File(name + ".krl");
    auto r = Run("ssh-keygen -k " + std::string(update ? "-u " : "") + "-f " + ShellQuote(krl) +
                 (ca_arg.empty() ? "" : " -s " + ca_arg) + " " + ShellQuote(spec_path));
    INFO(spec << r.output);
    REQUIRE(r.exit_code == 0);
    return ReadFile(krl);
  }
  std::string PubLine(const std::string& path) const { return ReadFile(path + ".pub"); }
};

World& W() {
  static World* w = new World();
  return *w;
}

RevocationList Load(const std::string& bytes) {
  auto krl = RevocationList::Parse(bytes);
  INFO((krl.ok() ? "" : krl.message()));
  REQUIRE(krl.ok());
  return *krl;
}

std::string Reason(const RevocationList& krl, const Certificate& cert) {
  return krl.RevokedCertificate(cert).value_or("(not revoked)");
}

// Lists the certificate subsection types in a binary KRL, to prove which
// encodings ssh-keygen chose.
std::set<int> CertSubsections(const std::string& krl) {
  std::set<int> out;
  WireReader r(std::string_view(krl).substr(8));
  uint32_t v;
  uint64_t x;
  std::string_view s;
  r.ReadU32(&v);
  r.ReadU64(&x);
  r.ReadU64(&x);
  r.ReadU64(&x);
  r.ReadString(&s);
  r.ReadString(&s);
  while (!r.empty() && !r.failed()) {
    uint8_t type;
    WireReader sect("");
    r.ReadU8(&type);
    r.ReadSubReader(&sect);
    if (type != 1) continue;
    sect.ReadString(&s);
    sect.ReadString(&s);
    while (!sect.empty() && !sect.failed()) {
      uint8_t sub;
      sect.ReadU8(&sub);
      sect.ReadString(&s);
      out.insert(sub);
    }
  }
  return out;
}

TEST_CASE("revocation by serial list, range and bitmap under a CA") {
  const auto& w = W();
  std::string krl_bytes = w.Krl("serials", "serial: 7\nserial: 100000-200000\nserial: 1000000\n"
                                "serial: 500\nserial: 502\nserial: 504\nserial: 506\n"
                                "serial: 508\nserial: 510\n", ShellQuote(w.ca + ".pub"));
  CHECK(CertSubsections(krl_bytes) == std::set<int>{0x20, 0x21, 0x22});
  auto krl = Load(krl_bytes);
  auto cert = [&](uint64_t serial, const std::string& ca = W().ca) {
    return w.Cert(ca, w.alice, "-I alice@corp -z " + std::to_string(serial));
  };
  CHECK(Reason(krl, cert(7)) == "revoked (serial 7)");
  CHECK(Reason(krl, cert(8)) == "(not revoked)");
  CHECK(Reason(krl, cert(100000)) == "revoked (serial 100000)");
  CHECK(Reason(krl, cert(150000)) == "revoked (serial 150000)");
  CHECK(Reason(krl, cert(200000)) == "revoked (serial 200000)");
  CHECK(Reason(krl, cert(200001)) == "(not revoked)");
  CHECK(Reason(krl, cert(1000000)) == "revoked (serial 1000000)");
  CHECK(Reason(krl, cert(504)) == "revoked (serial 504)");
  CHECK(Reason(krl, cert(505)) == "(not revoked)");
  CHECK(Reason(krl, cert(0)) == "(not revoked)");  // serial 0 is "no serial"
  // The same serial from another CA is not revoked.
  CHECK(Reason(krl, cert(7, w.other_ca)) == "(not revoked)");
  // The plain keys are not revoked.
  CHECK_FALSE(krl.RevokedKey(w.Pub(w.alice)).has_value());
}

TEST_CASE("revocation by key id, and the update keeps earlier entries") {
  const auto& w = W();
  std::string ca = ShellQuote(w.ca + ".pub");
  auto first = Load(w.Krl("ids", "id: alice\nserial: 10-20\n", ca));
  auto alice = w.Cert(w.ca, w.alice, "-I alice -z 1");
  auto bob = w.Cert(w.ca, w.bob, "-I bob -z 2");
  auto serial15 = w.Cert(w.ca, w.bob, "-I carol -z 15");
  CHECK(Reason(first, alice) == "revoked (key id \"alice\")");
  CHECK(Reason(first, bob) == "(not revoked)");
  CHECK(Reason(first, serial15) == "revoked (serial 15)");

  auto updated = Load(w.Krl("ids", "id: bob\nserial: 7\n", ca, /*update=*/true));
  CHECK(Reason(updated, alice) == "revoked (key id \"alice\")");
  CHECK(Reason(updated, bob) == "revoked (key id \"bob\")");
  CHECK(Reason(updated, serial15) == "revoked (serial 15)");
  CHECK(Reason(updated, w.Cert(w.ca, w.carol, "-I x -z 7")) == "revoked (serial 7)");
  // Key ids under one CA do not touch another CA's certificates.
  CHECK(Reason(updated, w.Cert(w.other_ca, w.alice, "-I alice -z 1")) == "(not revoked)");
}

TEST_CASE("any-CA sections (ssh-keygen -k -s none) apply to every CA") {
  const auto& w = W();
  auto krl = Load(w.Krl("wild", "id: alice\nserial: 33\n", "none"));
  CHECK(Reason(krl, w.Cert(w.ca, w.bob, "-I alice")) == "revoked (key id \"alice\")");
  CHECK(Reason(krl, w.Cert(w.other_ca, w.bob, "-I alice")) == "revoked (key id \"alice\")");
  CHECK(Reason(krl, w.Cert(w.other_ca, w.bob, "-I x -z 33")) == "revoked (serial 33)");
  CHECK(Reason(krl, w.Cert(w.other_ca, w.bob, "-I x -z 34")) == "(not revoked)");
  // Without a CA, ssh-keygen refuses serial and id lines.
  WriteFile(w.dir.File("noca.spec"), "id: alice\n");
  auto r = Run("ssh-keygen -k -f " + ShellQuote(w.dir.File("noca.krl")) + " " +
               ShellQuote(w.dir.File("noca.spec")));
  CHECK(r.exit_code != 0);
}

TEST_CASE("revocation of plain keys: explicit key, sha256, sha1, hash fingerprint") {
  const auto& w = W();
  auto alice = w.Pub(w.alice), bob = w.Pub(w.bob), carol = w.Pub(w.carol);
  auto krl = Load(w.Krl("keys", "key: " + w.PubLine(w.alice) + "sha256: " + w.PubLine(w.bob) +
                                    "sha1: " + w.PubLine(w.carol), ""));
  CHECK(krl.RevokedKey(alice) == "revoked (key " + alice.Fingerprint() + ")");
  CHECK(krl.RevokedKey(bob) == "revoked (key " + bob.Fingerprint() + ")");
  CHECK(krl.RevokedKey(carol) == "revoked (key " + carol.Fingerprint() + ")");
  CHECK_FALSE(krl.RevokedKey(w.Pub(w.ca)).has_value());
  // A revoked key also revokes every certificate of that key.
  CHECK(Reason(krl, w.Cert(w.ca, w.alice, "-I a")) == "revoked (key " + alice.Fingerprint() + ")");
  CHECK(Reason(krl, w.Cert(w.ca, w.bob, "-I b")) == "revoked (key " + bob.Fingerprint() + ")");
  CHECK(Reason(krl, w.Cert(w.ca, w.carol, "-I c")) == "revoked (key " + carol.Fingerprint() + ")");

  auto by_hash = Load(w.Krl("hash", "hash: " + bob.Fingerprint() + "\n", ""));
  CHECK(by_hash.RevokedKey(bob) == "revoked (key " + bob.Fingerprint() + ")");
  CHECK_FALSE(by_hash.RevokedKey(alice).has_value());
}

TEST_CASE("a revoked CA key revokes the certificates it signed") {
  const auto& w = W();
  auto krl = Load(w.Krl("ca", "key: " + w.PubLine(w.ca), ""));
  auto cert = w.Cert(w.ca, w.alice, "-I a -z 3");
  CHECK(Reason(krl, cert) == "revoked (CA " + w.Pub(w.ca).Fingerprint() + ")");
  CHECK(Reason(krl, w.Cert(w.other_ca, w.alice, "-I a")) == "(not revoked)");
}

TEST_CASE("validation reports revocation") {
  const auto& w = W();
  auto krl = Load(w.Krl("v", "serial: 9\n", ShellQuote(w.ca + ".pub")));
  ValidationContext ctx;
  ctx.now = 1795200000;
  ctx.trusted_cas = {w.Pub(w.ca)};
  ctx.principal = "alice";
  ctx.revocations = &krl;
  auto revoked = ValidateCertificate(w.Cert(w.ca, w.alice, "-I a -z 9"), ctx);
  REQUIRE_FALSE(revoked.ok());
  CHECK(revoked.message() == "revoked (serial 9)");
  CHECK(ValidateCertificate(w.Cert(w.ca, w.alice, "-I a -z 10"), ctx).ok());
}

TEST_CASE("plain-text RevokedKeys files") {
  const auto& w = W();
  auto cert_text = w.dir.Sign(w.ca, w.carol, "-I c -n alice");
  std::string text = "# revoked keys\n\n" + w.PubLine(w.alice) + "   \n" + cert_text;
  auto krl = Load(text);
  CHECK(krl.RevokedKey(w.Pub(w.alice)).has_value());
  CHECK(krl.RevokedKey(w.Pub(w.carol)).has_value());  // via its certificate line
  CHECK_FALSE(krl.RevokedKey(w.Pub(w.bob)).has_value());
  CHECK(Reason(krl, w.Cert(w.ca, w.alice, "-I a")) ==
        "revoked (key " + w.Pub(w.alice).Fingerprint() + ")");
  // A listed CA key revokes its certificates, as sshd's RevokedKeys does.
  auto ca_listed = Load(w.PubLine(w.ca));
  CHECK(Reason(ca_listed, w.Cert(w.ca, w.bob, "-I b")) ==
        "revoked (CA " + w.Pub(w.ca).Fingerprint() + ")");

  auto garbage = RevocationList::Parse("# ok\n" + w.PubLine(w.bob) + "not a key\n");
  REQUIRE_FALSE(garbage.ok());
  CHECK(garbage.error().line == 3);
  // DSA keys load (as in sshd) but match nothing hopgate accepts; a DSA
  // line with a mismatched blob is still garbage.
  auto dsa = RevocationList::Parse("ssh-dss AAAAB3NzaC1kc3M=\n" + w.PubLine(w.bob));
  REQUIRE(dsa.ok());
  CHECK(dsa->RevokedKey(w.Pub(w.bob)).has_value());
  CHECK_FALSE(dsa->RevokedKey(w.Pub(w.alice)).has_value());
  auto bad_dsa = RevocationList::Parse("\nssh-dss AAAAC3NzaC1lZDI1NTE5\n");
  REQUIRE_FALSE(bad_dsa.ok());
  CHECK(bad_dsa.message() == "key type does not match the encoded key");
  CHECK(bad_dsa.error().line == 2);
  // Empty lists revoke nothing.
  CHECK(Load("").empty());
  CHECK(Load("# nothing\n\n").empty());
  CHECK(RevocationList().empty());
}

// Hand-built binary KRLs for the parts ssh-keygen does not write.
std::string KrlWith(const std::string& sections) {
  WireWriter w;
  w.PutRaw("SSHKRL\n\0"s);
  w.PutU32(1);
  w.PutU64(5);
  w.PutU64(1795200000);
  w.PutU64(0);
  w.PutString("");
  w.PutString("test");
  w.PutRaw(sections);
  return w.Take();
}

std::string Section(uint8_t type, const std::string& body) {
  WireWriter w;
  w.PutU8(type);
  w.PutString(body);
  return w.Take();
}

std::string Extension(const std::string& name, bool critical) {
  WireWriter w;
  w.PutString(name);
  w.PutBool(critical);
  w.PutString("contents");
  return w.Take();
}

std::string CertSection(const std::string& ca_blob, const std::string& subsections) {
  WireWriter w;
  w.PutString(ca_blob);
  w.PutString("");
  w.PutRaw(subsections);
  return w.Take();
}

TEST_CASE("binary KRL rules: extensions, signatures, unknown sections, serial 0") {
  auto krl = Load(KrlWith(Section(255, Extension("x@example.com", false))));
  CHECK(krl.empty());
  CHECK(krl.krl_version() == 5);
  CHECK(krl.comment() == "test");
  auto crit = RevocationList::Parse(KrlWith(Section(255, Extension("x@example.com", true))));
  REQUIRE_FALSE(crit.ok());
  CHECK(crit.message() == "KRL: unsupported critical extension \"x@example.com\"");

  std::string ca_blob = W().Pub(W().ca).blob;
  auto sub_crit = RevocationList::Parse(
      KrlWith(Section(1, CertSection(ca_blob, Section(0x39, Extension("y", true))))));
  REQUIRE_FALSE(sub_crit.ok());
  CHECK(sub_crit.message() == "KRL: unsupported critical certificate extension \"y\"");
  CHECK(RevocationList::Parse(
            KrlWith(Section(1, CertSection(ca_blob, Section(0x39, Extension("y", false))))))
            .ok());

  auto signed_krl = RevocationList::Parse(KrlWith(Section(4, ca_blob) + "\0\0\0\0"s));
  REQUIRE_FALSE(signed_krl.ok());
  CHECK(signed_krl.message().find("signed KRLs are not supported") != std::string::npos);

  CHECK_FALSE(RevocationList::Parse(KrlWith(Section(9, ""))).ok());
  // A section for a DSA CA loads (OpenSSH accepts it); a malformed CA key
  // of a supported type does not.
  WireWriter seven;
  seven.PutU64(7);
  WireWriter dsa_ca;
  dsa_ca.PutString("ssh-dss");
  dsa_ca.PutString("p");
  CHECK(RevocationList::Parse(KrlWith(Section(1, CertSection(dsa_ca.data(), Section(0x20, seven.data()))))).ok());
  WireWriter bad_ca;
  bad_ca.PutString("ssh-ed25519");
  bad_ca.PutString("short");
  CHECK_FALSE(RevocationList::Parse(KrlWith(Section(1, CertSection(bad_ca.data(), Section(0x20, seven.data()))))).ok());
  WireWriter zero;
  zero.PutU64(0);
  CHECK_FALSE(RevocationList::Parse(KrlWith(Section(1, CertSection("", Section(0x20, zero.data()))))).ok());
  WireWriter backwards;
  backwards.PutU64(9);
  backwards.PutU64(3);
  CHECK_FALSE(RevocationList::Parse(KrlWith(Section(1, CertSection("", Section(0x21, backwards.data()))))).ok());
  // SHA1 hashes must be 20 bytes.
  WireWriter short_hash;
  short_hash.PutString("abc");
  CHECK_FALSE(RevocationList::Parse(KrlWith(Section(3, short_hash.data()))).ok());
  // Wrong format version.
  std::string v2 = KrlWith("");
  v2[11] = 2;
  CHECK_FALSE(RevocationList::Parse(v2).ok());
  // A bitmap starting at offset 1 with bits 0 and 2 set revokes 1 and 3.
  WireWriter bitmap;
  bitmap.PutU64(1);
  bitmap.PutMpint("\x05");
  auto bm = Load(KrlWith(Section(1, CertSection("", Section(0x22, bitmap.data())))));
  auto cert = [](uint64_t serial) {
    return W().Cert(W().ca, W().alice, "-I q -z " + std::to_string(serial));
  };
  CHECK(Reason(bm, cert(1)) == "revoked (serial 1)");
  CHECK(Reason(bm, cert(2)) == "(not revoked)");
  CHECK(Reason(bm, cert(3)) == "revoked (serial 3)");
}

TEST_CASE("truncated KRLs fail to load") {
  const auto& w = W();
  std::string bytes = w.Krl("trunc", "serial: 7\nid: alice\nkey: " + w.PubLine(w.bob),
                            ShellQuote(w.ca + ".pub"));
  size_t header = 8 + 4 + 8 + 8 + 8 + 4 + 4;
  for (size_t len = 1; len < bytes.size(); ++len) {
    auto r = RevocationList::Parse(bytes.substr(0, len));
    if (len < header) {
      INFO("prefix " << len);
      CHECK_FALSE(r.ok());
    }
  }
  CHECK_FALSE(RevocationList::Parse(bytes.substr(0, bytes.size() - 1)).ok());
  CHECK(RevocationList::Parse(bytes).ok());
}

}  // namespace
}  // namespace hopgate::certs
