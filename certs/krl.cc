#include "certs/krl.h"

#include <algorithm>

#include "common/encoding.h"
#include "common/strings.h"
#include "common/wire.h"

namespace hopgate::certs {
namespace {

constexpr std::string_view kMagic("SSHKRL\n\0", 8);
constexpr uint32_t kFormatVersion = 1;

enum : uint8_t {
  kSectionCertificates = 1,
  kSectionExplicitKey = 2,
  kSectionSha1 = 3,
  kSectionSignature = 4,
  kSectionSha256 = 5,
  kSectionExtension = 255,
  kCertSerialList = 0x20,
  kCertSerialRange = 0x21,
  kCertSerialBitmap = 0x22,
  kCertKeyId = 0x23,
  kCertExtension = 0x39,
};

// OpenSSH caps bitmap mpints at SSHBUF_MAX_BIGNUM (+1 for a sign byte).
constexpr uint32_t kMaxBitmapBytes = 2048 + 1;
constexpr uint32_t kMaxKeyIdBytes = 64 * 1024;
constexpr uint32_t kMaxKeyBlobBytes = 16 * 1024;

Error Fail(const std::string& what) { return Error{"KRL: " + what}; }

// An extension section or subsection: string name, bool critical, string
// contents. Unknown critical extensions fail the load; others are ignored.
Status ParseExtension(WireReader* r, const char* where) {
  std::string name;
  bool critical = false;
  std::string_view contents;
  if (!r->ReadString(&name, 4096) || !r->ReadBool(&critical) ||
      !r->ReadString(&contents) || !r->ExpectEnd()) {
    return Fail(std::string("malformed ") + where + ": " + r->error());
  }
  if (critical) {
    return Fail(std::string("unsupported critical ") + where + " " + Quote(name));
  }
  return Status::Ok();
}

Status AddRange(std::vector<std::pair<uint64_t, uint64_t>>* out, uint64_t lo,
                uint64_t hi, size_t* entries) {
  // As ssh_krl_revoke_cert_by_serial_range: serial 0 means "no serial".
  if (lo == 0 || lo > hi) {
    return Fail("invalid serial range " + std::to_string(lo) + "-" +
                std::to_string(hi));
  }
  if (++*entries > kMaxKrlEntries) return Fail("too many entries");
  out->emplace_back(lo, hi);
  return Status::Ok();
}

Status ParseBitmap(WireReader* r, std::vector<std::pair<uint64_t, uint64_t>>* out,
                   size_t* entries) {
  uint64_t offset = 0;
  std::string_view bits;
  if (!r->ReadU64(&offset) || !r->ReadMpint(&bits, kMaxBitmapBytes)) {
    return Fail("malformed serial bitmap: " + r->error());
  }
  uint64_t nbits = bits.size() * 8;
  auto bit_set = [&](uint64_t i) {
    auto byte = static_cast<uint8_t>(bits[bits.size() - 1 - i / 8]);
    return (byte >> (i % 8)) & 1;
  };
  // Turn runs of set bits into ranges.
  uint64_t i = 0;
  while (i < nbits) {
    if (!bit_set(i)) {
      ++i;
      continue;
    }
    uint64_t start = i;
    while (i < nbits && bit_set(i)) ++i;
    uint64_t last = i - 1;
    if (offset + last < offset) return Fail("serial bitmap wraps past 2^64");
    if (auto st = AddRange(out, offset + start, offset + last, entries); !st.ok()) {
      return st;
    }
  }
  return Status::Ok();
}

Status ParseBlobs(WireReader* r, std::set<std::string>* out, size_t want_len,
                  const char* what, size_t* entries) {
  while (!r->empty()) {
    std::string blob;
    if (!r->ReadString(&blob, kMaxKeyBlobBytes)) {
      return Fail(std::string("malformed ") + what + " section: " + r->error());
    }
    if (want_len != 0 && blob.size() != want_len) {
      return Fail(std::string("bad ") + what + " length " +
                  std::to_string(blob.size()));
    }
    if (++*entries > kMaxKrlEntries) return Fail("too many entries");
    out->insert(std::move(blob));
  }
  return Status::Ok();
}

std::string_view BlobTypeName(std::string_view blob) {
  WireReader r(blob);
  std::string_view name;
  if (!r.ReadString(&name, 256)) return {};
  return name;
}

bool InRanges(const std::vector<std::pair<uint64_t, uint64_t>>& ranges,
              uint64_t serial) {
  auto it = std::upper_bound(
      ranges.begin(), ranges.end(), serial,
      [](uint64_t s, const std::pair<uint64_t, uint64_t>& r) { return s < r.first; });
  if (it == ranges.begin()) return false;
  --it;
  return serial <= it->second;
}

}  // namespace

Result<RevocationList> RevocationList::Parse(std::string_view bytes) {
  if (bytes.size() > kMaxKrlBytes) return Fail("too large");
  if (bytes.substr(0, kMagic.size()) == kMagic) return ParseBinary(bytes);
  return ParseText(bytes);
}

Status RevocationList::ParseCertSection(std::string_view data, size_t* entries) {
  WireReader r(data);
  std::string ca_blob;
  std::string_view reserved;
  if (!r.ReadString(&ca_blob, kMaxKeyBlobBytes) || !r.ReadString(&reserved)) {
    return Fail("malformed certificate section: " + r.error());
  }
  if (!ca_blob.empty()) {
    auto ca = ParsePublicKeyBlob(ca_blob);
    if (ca.ok()) {
      ca_blob = ca->blob;
    } else if (!IsKnownUnsupportedKeyType(BlobTypeName(ca_blob))) {
      return Fail("certificate section CA key: " + ca.message());
    }
    // Else a DSA or FIDO CA, which OpenSSH loads: keep the section (it can
    // never match, as such CAs are never trusted here).
  }
  CaSection& section = by_ca_[ca_blob];
  while (!r.empty()) {
    uint8_t type = 0;
    WireReader sub("");
    if (!r.ReadU8(&type) || !r.ReadSubReader(&sub)) {
      return Fail("malformed certificate subsection: " + r.error());
    }
    switch (type) {
      case kCertSerialList:
        while (!sub.empty()) {
          uint64_t serial = 0;
          if (!sub.ReadU64(&serial)) return Fail("malformed serial list: " + sub.error());
          if (auto st = AddRange(&section.serials, serial, serial, entries); !st.ok()) {
            return st;
          }
        }
        break;
      case kCertSerialRange: {
        uint64_t lo = 0, hi = 0;
        if (!sub.ReadU64(&lo) || !sub.ReadU64(&hi)) {
          return Fail("malformed serial range: " + sub.error());
        }
        if (auto st = AddRange(&section.serials, lo, hi, entries); !st.ok()) return st;
        break;
      }
      case kCertSerialBitmap:
        if (auto st = ParseBitmap(&sub, &section.serials, entries); !st.ok()) return st;
        break;
      case kCertKeyId:
        while (!sub.empty()) {
          std::string id;
          if (!sub.ReadString(&id, kMaxKeyIdBytes)) {
            return Fail("malformed key id list: " + sub.error());
          }
          if (id.find('\0') != std::string::npos) return Fail("key id contains NUL");
          if (++*entries > kMaxKrlEntries) return Fail("too many entries");
          section.key_ids.insert(std::move(id));
        }
        break;
      case kCertExtension:
        if (auto st = ParseExtension(&sub, "certificate extension"); !st.ok()) {
          return st;
        }
        break;
      default:
        return Fail("unsupported certificate subsection type " + std::to_string(type));
    }
    if (!sub.ExpectEnd()) return Fail("certificate subsection: " + sub.error());
  }
  return Status::Ok();
}

Result<RevocationList> RevocationList::ParseBinary(std::string_view bytes) {
  RevocationList krl;
  WireReader r(bytes.substr(kMagic.size()));
  uint32_t version = 0;
  uint64_t flags = 0;
  std::string_view reserved;
  if (!r.ReadU32(&version)) return Fail(r.error());
  if (version != kFormatVersion) {
    return Fail("unsupported format version " + std::to_string(version));
  }
  if (!r.ReadU64(&krl.krl_version_) || !r.ReadU64(&krl.generated_date_) ||
      !r.ReadU64(&flags) || !r.ReadString(&reserved) ||
      !r.ReadString(&krl.comment_, 64 * 1024)) {
    return Fail("malformed header: " + r.error());
  }
  if (krl.comment_.find('\0') != std::string::npos) {
    return Fail("comment contains NUL");
  }
  size_t entries = 0;
  while (!r.empty()) {
    uint8_t type = 0;
    if (!r.ReadU8(&type)) return Fail(r.error());
    if (type == kSectionSignature) {
      return Fail("signed KRLs are not supported (OpenSSH 9.4+ refuses them too)");
    }
    WireReader section("");
    if (!r.ReadSubReader(&section)) return Fail("malformed section: " + r.error());
    Status st;
    switch (type) {
      case kSectionCertificates:
        st = krl.ParseCertSection(section.rest(), &entries);
        section = WireReader("");
        break;
      case kSectionExplicitKey:
        st = ParseBlobs(&section, &krl.keys_, 0, "explicit key", &entries);
        break;
      case kSectionSha1:
        st = ParseBlobs(&section, &krl.sha1s_, 20, "SHA1 fingerprint", &entries);
        break;
      case kSectionSha256:
        st = ParseBlobs(&section, &krl.sha256s_, 32, "SHA256 fingerprint", &entries);
        break;
      case kSectionExtension:
        st = ParseExtension(&section, "extension");
        break;
      default:
        return Fail("unsupported section type " + std::to_string(type));
    }
    if (!st.ok()) return st.error();
    if (!section.ExpectEnd()) return Fail("section: " + section.error());
  }
  krl.Finish();
  return krl;
}

Result<RevocationList> RevocationList::ParseText(std::string_view text) {
  RevocationList list;
  size_t line_no = 0;
  size_t entries = 0;
  while (!text.empty()) {
    size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    ++line_no;
    line = Trim(line);
    if (line.empty() || line[0] == '#') continue;
    auto fail = [&](const std::string& why) {
      return Error{why, Code::kInvalidArgument, 0, static_cast<int>(line_no)};
    };
    if (line.find('\0') != std::string_view::npos) return fail("NUL byte");
    size_t sp = line.find_first_of(" \t");
    std::string_view type = line.substr(0, sp);
    std::string blob;
    if (IsCertificateTypeName(type)) {
      auto cert = ParseCertificateText(line);
      if (!cert.ok()) return fail(cert.message());
      blob = cert->key.blob;
    } else if (IsKnownUnsupportedKeyType(type)) {
      // DSA and FIDO keys are never accepted here, so listing them revokes
      // nothing we could accept; still, the line must be well-formed.
      auto fields = SplitKeyText(line);
      if (!fields.ok()) return fail(fields.message());
      if (BlobTypeName(fields->blob) != type) return fail("key type does not match the encoded key");
      blob = fields->blob;
    } else {
      auto key = ParsePublicKeyLine(line);
      if (!key.ok()) return fail(key.message());
      blob = key->blob;
    }
    if (++entries > kMaxKrlEntries) return fail("too many keys");
    list.keys_.insert(std::move(blob));
  }
  list.Finish();
  return list;
}

void RevocationList::Finish() {
  for (auto& [ca, section] : by_ca_) {
    auto& v = section.serials;
    std::sort(v.begin(), v.end());
    std::vector<std::pair<uint64_t, uint64_t>> merged;
    for (const auto& r : v) {
      if (!merged.empty() && (merged.back().second == ~uint64_t{0} ||
                              r.first <= merged.back().second + 1)) {
        merged.back().second = std::max(merged.back().second, r.second);
      } else {
        merged.push_back(r);
      }
    }
    v = std::move(merged);
  }
}

bool RevocationList::empty() const {
  if (!keys_.empty() || !sha1s_.empty() || !sha256s_.empty()) return false;
  for (const auto& [ca, section] : by_ca_) {
    if (!section.serials.empty() || !section.key_ids.empty()) return false;
  }
  return true;
}

bool RevocationList::KeyRevoked(const PublicKey& key) const {
  if (!sha1s_.empty() && sha1s_.count(Sha1(key.blob))) return true;
  if (!sha256s_.empty() && sha256s_.count(Sha256(key.blob))) return true;
  return keys_.count(key.blob) != 0;
}

std::optional<std::string> RevocationList::RevokedKey(const PublicKey& key) const {
  if (KeyRevoked(key)) return "revoked (key " + key.Fingerprint() + ")";
  return std::nullopt;
}

std::optional<std::string> RevocationList::CertSectionReason(
    const CaSection& section, const Certificate& cert) const {
  if (section.key_ids.count(cert.key_id)) {
    return "revoked (key id " + Quote(cert.key_id) + ")";
  }
  // Serial 0 is "no serial" and is never revoked by serial.
  if (cert.serial != 0 && InRanges(section.serials, cert.serial)) {
    return "revoked (serial " + std::to_string(cert.serial) + ")";
  }
  return std::nullopt;
}

std::optional<std::string> RevocationList::RevokedCertificate(
    const Certificate& cert) const {
  if (auto reason = RevokedKey(cert.key)) return reason;
  if (auto it = by_ca_.find(cert.signature_key.blob); it != by_ca_.end()) {
    if (auto reason = CertSectionReason(it->second, cert)) return reason;
  }
  if (auto it = by_ca_.find(std::string()); it != by_ca_.end()) {
    if (auto reason = CertSectionReason(it->second, cert)) return reason;
  }
  if (KeyRevoked(cert.signature_key)) {
    return "revoked (CA " + cert.CaFingerprint() + ")";
  }
  return std::nullopt;
}

}  // namespace hopgate::certs
