// Plain public keys from ssh-keygen: every supported type parses with the
// fingerprint ssh-keygen prints; broken key material and other types are
// refused with a reason.
#include "certs/key.h"

#include <catch2/catch.hpp>

#include "certs/testing/ssh_keygen.h"
#include "common/encoding.h"
#include "common/wire.h"

namespace hopgate::certs {
namespace {

using testing::ReadFile;

std::string Hex(std::string_view hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
  }
  return out;
}
using testing::Run;
using testing::ShellQuote;
using testing::TempDir;

TEST_CASE("ssh-keygen keys of every supported type parse, with OpenSSH's fingerprint") {
  TempDir dir;
  struct Case {
    const char* args;
    const char* type;
    int bits;
  };
  for (const Case& c : {Case{"ed25519", "ssh-ed25519", 256},
                        Case{"ecdsa -b 256", "ecdsa-sha2-nistp256", 256},
                        Case{"ecdsa -b 384", "ecdsa-sha2-nistp384", 384},
                        Case{"ecdsa -b 521", "ecdsa-sha2-nistp521", 521},
                        Case{"rsa -b 2048", "ssh-rsa", 2048},
                        Case{"rsa -b 1024", "ssh-rsa", 1024}}) {
    INFO(c.args);
    std::string path = dir.KeyGen("k", c.args);
    std::string line = ReadFile(path + ".pub");
    std::string comment;
    auto key = ParsePublicKeyLine(line, &comment);
    REQUIRE(key.ok());
    CHECK(key->TypeName() == c.type);
    CHECK(key->Bits() == c.bits);
    CHECK(comment == "k");
    auto fp = Run("ssh-keygen -l -f " + ShellQuote(path + ".pub"));
    CHECK(fp.output == std::to_string(c.bits) + " " + key->Fingerprint() + " k (" +
                           (c.type == std::string("ssh-ed25519")   ? "ED25519"
                            : c.type == std::string("ssh-rsa") ? "RSA"
                                                               : "ECDSA") +
                           ")\n");
    CHECK(key->ToLine("k") + "\n" == line);
    auto again = ParsePublicKeyBlob(key->blob);
    REQUIRE(again.ok());
    CHECK(*again == *key);
    std::remove(path.c_str());
    std::remove((path + ".pub").c_str());
  }
}

TEST_CASE("DSA, FIDO and unknown key types are refused with a reason") {
  TempDir dir;
  auto dsa = ParsePublicKeyLine(ReadFile(dir.KeyGen("dsa", "dsa") + ".pub"));
  REQUIRE_FALSE(dsa.ok());
  CHECK(dsa.message() == "DSA keys are not supported");
  WireWriter w;
  w.PutString("sk-ssh-ed25519@openssh.com");
  CHECK(ParsePublicKeyBlob(w.data()).message() ==
        "security-key (FIDO) keys are not supported");
  WireWriter u;
  u.PutString("ssh-foo");
  CHECK(ParsePublicKeyBlob(u.data()).message() == "unknown key type \"ssh-foo\"");
}

TEST_CASE("key material is validated") {
  TempDir dir;
  auto ed = ParsePublicKeyLine(ReadFile(dir.KeyGen("ed", "ed25519") + ".pub")).value();
  // ed25519: exactly 32 bytes.
  WireWriter short_ed;
  short_ed.PutString("ssh-ed25519");
  short_ed.PutString(ed.ed25519_key.substr(0, 31));
  CHECK_FALSE(ParsePublicKeyBlob(short_ed.data()).ok());
  // Trailing bytes.
  CHECK(ParsePublicKeyBlob(ed.blob + "x").message().find("trailing") != std::string::npos);

  // ECDSA: a point off the curve, a compressed point, a curve mismatch.
  auto ec = ParsePublicKeyLine(ReadFile(dir.KeyGen("ec", "ecdsa -b 256") + ".pub")).value();
  std::string off = ec.ec_point;
  off[40] ^= 1;
  WireWriter off_curve;
  off_curve.PutString("ecdsa-sha2-nistp256");
  off_curve.PutString("nistp256");
  off_curve.PutString(off);
  auto r = ParsePublicKeyBlob(off_curve.data());
  REQUIRE_FALSE(r.ok());
  CHECK(r.message().find("not on the curve") != std::string::npos);
  WireWriter compressed;
  compressed.PutString("ecdsa-sha2-nistp256");
  compressed.PutString("nistp256");
  compressed.PutString(std::string(1, '\x02') + ec.ec_point.substr(1, 32));
  CHECK_FALSE(ParsePublicKeyBlob(compressed.data()).ok());
  WireWriter mismatch;
  mismatch.PutString("ecdsa-sha2-nistp384");
  mismatch.PutString("nistp256");
  mismatch.PutString(ec.ec_point);
  CHECK_FALSE(ParsePublicKeyBlob(mismatch.data()).ok());

  // RSA: small modulus, even exponent, exponent 1.
  auto rsa = ParsePublicKeyLine(ReadFile(dir.KeyGen("rsa", "rsa -b 2048") + ".pub")).value();
  auto rsa_blob = [](std::string_view e, std::string_view n) {
    WireWriter w;
    w.PutString("ssh-rsa");
    w.PutMpint(e);
    w.PutMpint(n);
    return w.Take();
  };
  auto small = ParsePublicKeyBlob(rsa_blob(rsa.rsa_e, rsa.rsa_n.substr(0, 96)));
  REQUIRE_FALSE(small.ok());
  CHECK(small.message() == "RSA key of 768 bits is too small (minimum 1024)");
  CHECK_FALSE(ParsePublicKeyBlob(rsa_blob(std::string_view("\x01\x00\x00", 3), rsa.rsa_n)).ok());
  CHECK_FALSE(ParsePublicKeyBlob(rsa_blob("\x01", rsa.rsa_n)).ok());
  CHECK(ParsePublicKeyBlob(rsa_blob(rsa.rsa_e, rsa.rsa_n)).ok());

  // Parsing is deterministic for every modulus. The fuzzer found this one
  // (a mutated CA key): OpenSSL's randomised RSA public check accepted it
  // 199 times in 200 and refused it once.
  std::string fuzzed_n = Hex(
      "ad468cd8f2f1a1dc837e6748842157a4d00194d0ad8e2aba11bf51a7d1cbe0a0bbe54fef55e5f6f30fcc"
      "a2339e7009629a714ad0956984860fa4134ac35fd0149fc7a722a2823c4dc7fa87a1484c191f291e15f0"
      "8c2b3b0fd0382db5736b2d30c2f8af829046f278fc8fe0dc53303815785bd221db24e9caded0b94a5aaa"
      "cab04f31be74f1664579f65e2193ad4b04b6e38fd5e8c495d47feb7eb823d8d0ac817a56e92fd22aa286"
      "21b31b0b7d86717f3b50bc1038beba6f07b7e42fc3c77909a0719e21e1ffe3bc1fda340da0a6f35dd45c"
      "b53dddbd53392b52a0e0e18e55aefe09ee9968701f33213922223bf9a26645c24b00260179abeee1a650"
      "c5c20b23");
  REQUIRE(fuzzed_n.size() == 256);
  int accepted = 0;
  for (int i = 0; i < 1000; ++i) {
    accepted += ParsePublicKeyBlob(rsa_blob(rsa.rsa_e, fuzzed_n)).ok() ? 1 : 0;
  }
  CHECK((accepted == 0 || accepted == 1000));
}

TEST_CASE("key lines: the type word must match, base64 must be strict") {
  TempDir dir;
  std::string line = ReadFile(dir.KeyGen("ed", "ed25519") + ".pub");
  std::string b64 = line.substr(line.find(' ') + 1);
  b64 = b64.substr(0, b64.find(' '));
  CHECK(ParsePublicKeyLine("ssh-ed25519 " + b64).ok());
  CHECK(ParsePublicKeyLine("  ssh-ed25519\t" + b64 + "  a comment with spaces \n").ok());
  auto wrong = ParsePublicKeyLine("ssh-rsa " + b64);
  REQUIRE_FALSE(wrong.ok());
  CHECK(wrong.message().find("does not match") != std::string::npos);
  CHECK_FALSE(ParsePublicKeyLine("ssh-ed25519").ok());
  CHECK_FALSE(ParsePublicKeyLine("ssh-ed25519 " + b64.substr(1)).ok());
  CHECK_FALSE(ParsePublicKeyLine("").ok());
  CHECK_FALSE(ParsePublicKeyLine("ssh-ed25519 " + b64 + " one\nssh-ed25519 " + b64).ok());
  CHECK(IsCertificateTypeName("ssh-ed25519-cert-v01@openssh.com"));
  CHECK(IsCertificateTypeName("ssh-dss-cert-v01@openssh.com"));
  CHECK_FALSE(IsCertificateTypeName("ssh-ed25519"));
}

TEST_CASE("key lists (TrustedUserCAKeys files) with comments and line numbers") {
  TempDir dir;
  std::string a = ReadFile(dir.KeyGen("a", "ed25519") + ".pub");
  std::string b = ReadFile(dir.KeyGen("b", "ecdsa -b 384") + ".pub");
  auto keys = ParsePublicKeyLines("# CAs\n\n" + a + "\r\n" + b);
  REQUIRE(keys.ok());
  REQUIRE(keys->size() == 2);
  CHECK(*ParsePublicKeyLine(a) == (*keys)[0]);
  CHECK((*keys)[1].TypeName() == "ecdsa-sha2-nistp384");
  auto bad = ParsePublicKeyLines(a + "# x\nssh-ed25519 AAAA\n");
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().line == 3);
  CHECK(ParsePublicKeyLines("").value().empty());
}

}  // namespace
}  // namespace hopgate::certs
