#include "certs/certificate.h"

#include "certs/signature.h"
#include "common/encoding.h"
#include "common/strings.h"
#include "common/wire.h"

namespace hopgate::certs {
namespace {

constexpr uint32_t kMaxNonce = 1024;
constexpr uint32_t kMaxName = 4096;  // key id, principal, option name

Error Fail(const std::string& what) { return Error{"certificate: " + what}; }

bool HasNul(std::string_view s) { return s.find('\0') != std::string_view::npos; }

// Reads a section of (string name, string data) pairs with strictly
// ascending, NUL-free, non-empty names.
Status ReadOptions(WireReader* r, const char* what, std::vector<CertOption>* out) {
  WireReader section("");
  if (!r->ReadSubReader(&section)) return Fail(r->error());
  while (!section.empty()) {
    if (out->size() >= kMaxOptions) {
      return Fail(std::string("more than ") + std::to_string(kMaxOptions) + " " +
                  what + "s");
    }
    CertOption opt;
    if (!section.ReadString(&opt.name, kMaxName) ||
        !section.ReadString(&opt.data)) {
      return Fail(std::string("malformed ") + what + ": " + section.error());
    }
    if (opt.name.empty() || HasNul(opt.name)) {
      return Fail(std::string("malformed ") + what + " name");
    }
    if (!out->empty() && opt.name <= out->back().name) {
      if (opt.name == out->back().name) {
        return Fail(std::string("duplicate ") + what + " " + Quote(opt.name));
      }
      return Fail(std::string(what) + "s not in ascending order (" +
                  Quote(opt.name) + " after " + Quote(out->back().name) + ")");
    }
    out->push_back(std::move(opt));
  }
  return Status::Ok();
}

}  // namespace

std::string Certificate::ToText(std::string_view comment) const {
  return CertificateToText(blob, comment);
}

Result<Certificate> ParseCertificate(std::string_view blob) {
  if (blob.size() > kMaxCertificateBytes) return Fail("too large");
  Certificate c;
  WireReader r(blob);
  std::string_view name;
  if (!r.ReadString(&name, 256)) return Fail(r.error());
  auto type = KeyTypeFromCertName(name);
  if (!type) {
    if (KeyTypeFromName(name)) {
      return Error{"expected a certificate, got a plain " + std::string(name) +
                   " key"};
    }
    return Fail(UnsupportedKeyTypeReason(name));
  }
  if (!r.ReadString(&c.nonce, kMaxNonce)) return Fail(r.error());
  auto key = ReadPublicKeyFields(*type, &r);
  if (!key.ok()) return Fail(key.message());
  c.key = std::move(key).value();

  uint32_t cert_type = 0;
  if (!r.ReadU64(&c.serial) || !r.ReadU32(&cert_type) ||
      !r.ReadString(&c.key_id, kMaxName)) {
    return Fail(r.error());
  }
  if (HasNul(c.key_id)) return Fail("key id contains a NUL byte");
  if (cert_type != 1 && cert_type != 2) {
    return Fail("unknown certificate type " + std::to_string(cert_type));
  }
  c.type = static_cast<CertType>(cert_type);

  WireReader principals("");
  if (!r.ReadSubReader(&principals)) return Fail(r.error());
  while (!principals.empty()) {
    if (c.principals.size() >= kMaxPrincipals) {
      return Fail("more than " + std::to_string(kMaxPrincipals) + " principals");
    }
    std::string p;
    if (!principals.ReadString(&p, kMaxName)) {
      return Fail("malformed principals: " + principals.error());
    }
    if (HasNul(p)) return Fail("principal contains a NUL byte");
    c.principals.push_back(std::move(p));
  }

  if (!r.ReadU64(&c.valid_after) || !r.ReadU64(&c.valid_before)) {
    return Fail(r.error());
  }
  if (auto st = ReadOptions(&r, "critical option", &c.critical_options); !st.ok()) {
    return st.error();
  }
  if (auto st = ReadOptions(&r, "extension", &c.extensions); !st.ok()) {
    return st.error();
  }
  std::string_view reserved;
  if (!r.ReadString(&reserved)) return Fail(r.error());

  c.ca_key_offset = r.position();
  std::string_view ca_blob;
  if (!r.ReadString(&ca_blob)) return Fail(r.error());
  {
    WireReader ca_reader(ca_blob);
    std::string_view ca_type;
    if (ca_reader.ReadString(&ca_type, 256) && IsCertificateTypeName(ca_type)) {
      return Fail("CA key is itself a certificate (chained certificates are "
                  "not supported)");
    }
  }
  auto ca = ParsePublicKeyBlob(ca_blob);
  if (!ca.ok()) return Fail("CA key: " + ca.message());
  c.signature_key = std::move(ca).value();
  c.signed_length = r.position();

  if (!r.ReadString(&c.signature, 16384)) return Fail(r.error());
  if (!r.ExpectEnd()) return Fail(r.error());
  auto alg = SignatureAlgorithm(c.signature);
  if (!alg.ok()) return Fail("malformed signature");
  c.signature_algorithm = std::move(alg).value();
  c.blob.assign(blob);
  return c;
}

Result<Certificate> ParseCertificateText(std::string_view text,
                                         std::string* comment) {
  auto fields = SplitKeyText(text);
  if (!fields.ok()) return Fail(fields.message());
  if (!KeyTypeFromCertName(fields->type)) {
    if (KeyTypeFromName(fields->type)) {
      return Error{"expected a certificate, got a plain " +
                   std::string(fields->type) + " key"};
    }
    return Fail(UnsupportedKeyTypeReason(fields->type));
  }
  auto cert = ParseCertificate(fields->blob);
  if (!cert.ok()) return cert;
  if (cert->TypeName() != fields->type) {
    return Fail("type " + Quote(fields->type) + " does not match the encoded " +
                std::string(cert->TypeName()));
  }
  if (comment) comment->assign(fields->comment);
  return cert;
}

std::string CertificateToText(std::string_view blob, std::string_view comment) {
  WireReader r(blob);
  std::string_view type;
  if (!r.ReadString(&type, 256)) type = "unknown";
  std::string line(type);
  line += ' ';
  line += Base64Encode(blob);
  if (!comment.empty()) {
    line += ' ';
    line += comment;
  }
  return line;
}

}  // namespace hopgate::certs
