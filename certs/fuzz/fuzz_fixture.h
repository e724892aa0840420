// Shared fixture of the certs fuzz targets: the fuzz CA (a public test key,
// also in keys/ and used by make_corpus.sh), certificates minted by it, a
// revocation list, and a validation context. Built once per process.
// Test-only; not thread-safe.
#pragma once

#include <cstdlib>
#include <string>
#include <vector>

#include "certs/certificate.h"
#include "certs/krl.h"
#include "certs/mint.h"
#include "certs/private_key.h"
#include "certs/validate.h"
#include "common/wire.h"

namespace hopgate::certs::fuzz {

inline constexpr char kFuzzCaPrivateKey[] = R"(-----BEGIN OPENSSH PRIVATE KEY-----
b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW
QyNTUxOQAAACDbU4rHZyzKQ8Ns744S7VjEjJAh+yQxRMmx/YysXyfljAAAAJDXXDI611wy
OgAAAAtzc2gtZWQyNTUxOQAAACDbU4rHZyzKQ8Ns744S7VjEjJAh+yQxRMmx/YysXyfljA
AAAEBx1DIG4eypTpfhRfrFjQ0UqNVojneOLsPIt54emRwIUdtTisdnLMpDw2zvjhLtWMSM
kCH7JDFEybH9jKxfJ+WMAAAAB2Z1enotY2EBAgMEBQY=
-----END OPENSSH PRIVATE KEY-----
)";
inline constexpr char kFuzzUserKey[] = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHlybc89JnCplGlpV+0wmX8jpoC0ZLxuXWDRD8jybMKn fuzz-user";

struct Fixture {
  PrivateKey ca = Must(ParseOpenSshPrivateKey(kFuzzCaPrivateKey));
  PublicKey user = Must(ParsePublicKeyLine(kFuzzUserKey));
  std::vector<Certificate> certs;
  RevocationList krl;
  ValidationContext ctx;

  Fixture() {
    // Certificates whose serials and ids the corpus KRLs mention.
    struct Spec {
      uint64_t serial;
      const char* id;
    };
    for (const Spec& s : {Spec{0, "alice@corp"}, Spec{7, "bob"}, Spec{15, "x"},
                          Spec{150, "y"}, Spec{504, "z"}, Spec{~uint64_t{0}, ""}}) {
      CertificateSpec spec;
      spec.key = user;
      spec.serial = s.serial;
      spec.key_id = s.id;
      spec.principals = {"alice"};
      certs.push_back(Must(ParseCertificate(Must(MintUserCertificate(spec, ca)))));
    }
    // Any-CA section: serials 10-20 and key id "revoked".
    WireWriter sub;
    sub.PutU64(10);
    sub.PutU64(20);
    WireWriter ids;
    ids.PutString("revoked");
    WireWriter section;
    section.PutString("");
    section.PutString("");
    section.PutU8(0x21);
    section.PutString(sub.data());
    section.PutU8(0x23);
    section.PutString(ids.data());
    WireWriter k;
    k.PutRaw(std::string("SSHKRL\n\0", 8));
    k.PutU32(1);
    k.PutU64(1);
    k.PutU64(0);
    k.PutU64(0);
    k.PutString("");
    k.PutString("");
    k.PutU8(1);
    k.PutString(section.data());
    krl = Must(RevocationList::Parse(k.data()));

    ctx.now = 1795200000;  // 2026-11-20T18:40:00Z
    ctx.trusted_cas = {ca.Public()};
    ctx.principal = "alice";
    ctx.client_address = IpAddress::Parse("10.1.2.3");
    ctx.revocations = &krl;
  }

  template <typename T>
  static T Must(Result<T> r) {
    if (!r.ok()) abort();  // the fixture itself is broken
    return std::move(r).value();
  }
};

inline const Fixture& GetFixture() {
  static Fixture* f = new Fixture();
  return *f;
}

}  // namespace hopgate::certs::fuzz
