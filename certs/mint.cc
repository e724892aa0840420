#include "certs/mint.h"

#include <openssl/err.h>
#include <openssl/rand.h>

#include <algorithm>

#include "certs/validate.h"
#include "common/strings.h"
#include "common/wire.h"

namespace hopgate::certs {
namespace {

// Critical options as (name, wire data) pairs.
using Options = std::vector<std::pair<std::string, std::string>>;

std::string OptionData(std::string_view value) {
  WireWriter w;
  w.PutString(value);
  return w.Take();
}

// The spec's key, principals, key id and validity interval are well formed.
Status CheckSpec(const CertificateSpec& spec) {
  if (spec.key.blob.empty()) return Error{"no key to certify"};
  if (spec.principals.empty()) return Error{"a certificate needs at least one principal"};
  if (spec.principals.size() > kMaxPrincipals) return Error{"too many principals"};
  for (const auto& p : spec.principals) {
    if (p.empty() || p.find('\0') != std::string::npos || p.find(',') != std::string::npos) {
      return Error{"invalid principal " + Quote(p)};
    }
  }
  if (spec.key_id.find('\0') != std::string::npos) return Error{"key id contains NUL"};
  if (spec.valid_after >= spec.valid_before) {
    return Error{"valid_after must be before valid_before"};
  }
  return Status::Ok();
}

// The critical options (name, wire data) the spec asks for: force-command
// and source-address, each checked.
Result<Options> CriticalOptions(const CertificateSpec& spec) {
  Options critical;
  if (spec.force_command) {
    if (spec.force_command->find('\0') != std::string::npos) {
      return Error{"force-command contains NUL"};
    }
    critical.emplace_back("force-command", OptionData(*spec.force_command));
  }
  if (!spec.source_addresses.empty()) {
    std::string joined;
    for (const auto& a : spec.source_addresses) {
      if (!joined.empty()) joined += ',';
      joined += a;
    }
    auto parsed = ParseSourceAddressList(joined);
    if (!parsed.ok()) return Error{"invalid source address: " + parsed.message()};
    critical.emplace_back("source-address", OptionData(joined));
  }
  return critical;
}

// The spec's extension names, sorted; empty, NUL-bearing and duplicate
// names and too many of them are errors.
Result<std::vector<std::string>> SortedExtensions(const CertificateSpec& spec) {
  std::vector<std::string> exts = spec.extensions;
  std::sort(exts.begin(), exts.end());
  for (size_t i = 0; i < exts.size(); ++i) {
    if (exts[i].empty() || exts[i].find('\0') != std::string::npos) {
      return Error{"invalid extension name"};
    }
    if (i > 0 && exts[i] == exts[i - 1]) return Error{"duplicate extension " + Quote(exts[i])};
  }
  if (exts.size() > kMaxOptions) return Error{"too many extensions"};
  return exts;
}

// The certificate from its type name through the reserved field (what the
// CA signs), with the critical options sorted by name.
Result<std::string> CertificateBody(const CertificateSpec& spec, const std::string& nonce,
                                    Options critical, const std::vector<std::string>& exts) {
  WireWriter body;
  body.PutString(CertTypeName(spec.key.type));
  body.PutString(nonce);
  // The certified key's fields are its plain blob minus the type name.
  {
    WireReader r(spec.key.blob);
    std::string_view name;
    if (!r.ReadString(&name)) return Error{"malformed key to certify"};
    body.PutRaw(r.rest());
  }
  body.PutU64(spec.serial);
  body.PutU32(static_cast<uint32_t>(CertType::kUser));
  body.PutString(spec.key_id);
  WireWriter principals;
  for (const auto& p : spec.principals) principals.PutString(p);
  body.PutString(principals.data());
  body.PutU64(spec.valid_after);
  body.PutU64(spec.valid_before);
  std::sort(critical.begin(), critical.end());
  WireWriter crit;
  for (const auto& [name, data] : critical) {
    crit.PutString(name);
    crit.PutString(data);
  }
  body.PutString(crit.data());
  WireWriter ext;
  for (const auto& name : exts) {
    ext.PutString(name);
    ext.PutString("");
  }
  body.PutString(ext.data());
  body.PutString("");  // reserved
  return body.Take();
}

}  // namespace

std::vector<std::string> StandardExtensions() {
  return {"permit-X11-forwarding", "permit-agent-forwarding",
          "permit-port-forwarding", "permit-pty", "permit-user-rc"};
}

Result<std::string> SignCertificateBody(std::string_view body, const PrivateKey& ca) {
  WireWriter w;
  w.PutRaw(body);
  w.PutString(ca.Public().blob);
  auto sig = ca.Sign(w.data());
  if (!sig.ok()) return sig.error();
  w.PutString(*sig);
  return w.Take();
}

Result<std::string> MintUserCertificate(const CertificateSpec& spec,
                                        const PrivateKey& ca) {
  if (auto st = CheckSpec(spec); !st.ok()) return st.error();
  auto critical = CriticalOptions(spec);
  if (!critical.ok()) return critical.error();
  auto exts = SortedExtensions(spec);
  if (!exts.ok()) return exts.error();

  std::string nonce(32, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(nonce.data()), 32) != 1) {
    ERR_clear_error();
    return Error{"random number generator failed"};
  }
  auto body = CertificateBody(spec, nonce, std::move(critical).value(), *exts);
  if (!body.ok()) return body;

  auto blob = SignCertificateBody(*body, ca);
  if (!blob.ok()) return blob;
  // Fail closed on anything our own parser or verifier would refuse.
  auto cert = ParseCertificate(*blob);
  if (!cert.ok()) return Error{"minted certificate does not parse: " + cert.message()};
  if (auto st = VerifyCertificateSignature(*cert); !st.ok()) {
    return Error{"minted certificate does not verify: " + st.message()};
  }
  return blob;
}

}  // namespace hopgate::certs
