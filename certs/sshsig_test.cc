// SSHSIG against OpenSSH's own implementation: what we sign, `ssh-keygen -Y
// verify` accepts; what `ssh-keygen -Y sign` writes, we verify; tampering
// with message, namespace or signature fails.
#include "certs/sshsig.h"

#include <catch2/catch.hpp>

#include "certs/testing/ssh_keygen.h"

using namespace hopgate::certs;
using namespace hopgate::certs::testing;

namespace {

const std::string kMessage = "hopgate/test\n42\nq83/EXAMPLEroot=\n2026-11-29T05:00:00Z\n";

}  // namespace

TEST_CASE("a signature we make verifies with ssh-keygen -Y verify") {
  TempDir dir;
  auto key = GenerateEd25519("audit");
  REQUIRE(key.ok());
  auto sig = SshSigSign(*key, "hopgate-audit", kMessage);
  REQUIRE(sig.ok());
  CHECK(sig->rfind("-----BEGIN SSH SIGNATURE-----\n", 0) == 0);
  WriteFile(dir.File("msg"), kMessage);
  WriteFile(dir.File("msg.sig"), *sig);
  WriteFile(dir.File("allowed_signers"), "hopgate/test " + key->PublicLine() + "\n");
  std::string verify = "ssh-keygen -Y verify -f " + dir.File("allowed_signers") +
                       " -I hopgate/test -n hopgate-audit -s " + dir.File("msg.sig") + " < ";
  CommandResult ok = Run(verify + dir.File("msg"));
  INFO(ok.output);
  CHECK(ok.exit_code == 0);
  WriteFile(dir.File("other"), kMessage + "x");
  CHECK(Run(verify + dir.File("other")).exit_code != 0);
  // Another namespace is refused, by OpenSSH and by us.
  CommandResult ns = Run("ssh-keygen -Y verify -f " + dir.File("allowed_signers") +
                         " -I hopgate/test -n file -s " + dir.File("msg.sig") + " < " +
                         dir.File("msg"));
  CHECK(ns.exit_code != 0);
  CHECK_FALSE(SshSigVerify(*sig, "file", kMessage).ok());
  auto back = SshSigVerify(*sig, "hopgate-audit", kMessage);
  REQUIRE(back.ok());
  CHECK(back->key == key->Public());
}

TEST_CASE("signatures made by ssh-keygen -Y sign verify here; tampering does not") {
  TempDir dir;
  for (std::string type : {"ed25519", "ecdsa -b 256", "rsa -b 2048"}) {
    std::string k = dir.KeyGen("k" + std::to_string(type.size()), type);
    WriteFile(dir.File("m"), kMessage);
    CommandResult s = Run("ssh-keygen -q -Y sign -f " + k + " -n hopgate-audit " + dir.File("m"));
    REQUIRE(s.exit_code == 0);
    std::string sig = ReadFile(dir.File("m.sig"));
    Run("rm -f " + dir.File("m.sig"));
    auto ok = SshSigVerify(sig, "hopgate-audit", kMessage);
    INFO(type << ": " << (ok ? "" : ok.message()));
    CHECK(ok.ok());
    CHECK_FALSE(SshSigVerify(sig, "hopgate-audit", kMessage + " ").ok());
    // One base64 character changed inside the blob.
    std::string bad = sig;
    size_t at = bad.find('\n') + 40;
    bad[at] = bad[at] == 'A' ? 'B' : 'A';
    CHECK_FALSE(SshSigVerify(bad, "hopgate-audit", kMessage).ok());
  }
  CHECK_FALSE(ParseSshSig("not a signature").ok());
  CHECK_FALSE(ParseSshSig("-----BEGIN SSH SIGNATURE-----\n!!!\n-----END SSH SIGNATURE-----\n").ok());
}
