#include "audit/fleet/lock_rule.h"

#include <algorithm>
#include <charconv>

#include "common/encoding.h"
#include "common/strings.h"

namespace hopgate::audit::fleet {
namespace {

Result<std::string> NormalizeUser(const std::string& value) {
  if (value.empty()) return MakeError(Code::kInvalidArgument, "empty user name");
  if (value.size() > 256) return MakeError(Code::kInvalidArgument, "user name longer than 256 bytes");
  for (unsigned char ch : value) {
    if (ch <= ' ' || ch == 0x7f) {
      return MakeError(Code::kInvalidArgument,
                       "user name " + Quote(value) + " has a space or control character");
    }
  }
  return value;
}

Result<std::string> NormalizeFingerprint(const std::string& value) {
  static const std::string kPrefix = "SHA256:";
  if (value.rfind(kPrefix, 0) != 0) {
    return MakeError(Code::kInvalidArgument,
                     "not a SHA256 key fingerprint: " + Quote(value) +
                         " (give it as `ssh-keygen -l -f KEY` prints it: SHA256:...)");
  }
  std::string b64 = value.substr(kPrefix.size());
  while (!b64.empty() && b64.back() == '=') b64.pop_back();
  std::string padded = b64;
  while (padded.size() % 4 != 0) padded += '=';
  auto raw = Base64Decode(padded);
  if (!raw || raw->size() != 32) {
    return MakeError(Code::kInvalidArgument,
                     "not a SHA256 key fingerprint: " + Quote(value) +
                         " (expected SHA256: and 43 base64 characters)");
  }
  return kPrefix + b64;
}

std::optional<uint64_t> ParseSerial(const std::string& value) {
  if (value.empty() || value.size() > 20 ||
      !std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return std::nullopt;
  }
  uint64_t n = 0;
  auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
  if (ec != std::errc() || end != value.data() + value.size()) return std::nullopt;
  return n;
}

Result<std::string> NormalizeSerial(const std::string& value) {
  auto n = ParseSerial(value);
  if (!n) {
    return MakeError(Code::kInvalidArgument,
                     "not a certificate serial: " + Quote(value) +
                         " (a decimal number from 0 to 18446744073709551615)");
  }
  return std::to_string(*n);
}

Result<std::string> NormalizeSource(const std::string& value) {
  auto cidr = Cidr::Parse(value);
  if (!cidr) {
    return MakeError(Code::kInvalidArgument,
                     "not a CIDR block: " + Quote(value) + " (" + cidr.message() + ")");
  }
  return cidr->ToString();
}

}  // namespace

const std::vector<std::string>& LockKinds() {
  static const std::vector<std::string> kinds = {"user", "key", "cert-serial", "source"};
  return kinds;
}

Result<std::string> NormalizeLockValue(const std::string& kind, const std::string& value) {
  if (kind == "user") return NormalizeUser(value);
  if (kind == "key") return NormalizeFingerprint(value);
  if (kind == "cert-serial") return NormalizeSerial(value);
  if (kind == "source") return NormalizeSource(value);
  return MakeError(Code::kInvalidArgument,
                   "unknown lock kind " + Quote(kind) + " (user, key, cert-serial or source)");
}

LockSet::LockSet(std::vector<FleetLock> locks) : locks_(std::move(locks)) {
  std::sort(locks_.begin(), locks_.end(),
            [](const FleetLock& x, const FleetLock& y) { return x.id < y.id; });
  for (const auto& l : locks_) {
    auto value = NormalizeLockValue(l.kind, l.value);
    if (!value) {
      problems_.push_back("lock " + std::to_string(l.id) + ": " + value.message());
      continue;
    }
    Entry e{l, std::nullopt, std::nullopt};
    e.lock.value = *value;
    if (l.kind == "source") e.cidr = *Cidr::Parse(*value);
    if (l.kind == "cert-serial") e.serial = ParseSerial(*value);
    entries_.push_back(std::move(e));
  }
}

std::optional<LockMatch> LockSet::Match(const LockSubject& s, int64_t now_unix) const {
  for (const auto& e : entries_) {
    const FleetLock& l = e.lock;
    if (l.expires_unix != 0 && l.expires_unix <= now_unix) continue;
    if (l.kind == "user" && !s.user.empty() && s.user == l.value) {
      return LockMatch{l, "user " + Quote(s.user)};
    }
    if (l.kind == "key" && !s.key_fingerprint.empty() && s.key_fingerprint == l.value) {
      return LockMatch{l, "key " + l.value};
    }
    if (l.kind == "key" && !s.ca_fingerprint.empty() && s.ca_fingerprint == l.value) {
      return LockMatch{l, "certificate authority " + l.value};
    }
    if (e.serial && s.cert_serial && *s.cert_serial == *e.serial) {
      return LockMatch{l, "certificate serial " + l.value};
    }
    if (e.cidr && s.source && e.cidr->Contains(s.source->Unmapped())) {
      return LockMatch{l, "source " + s.source->Unmapped().ToString() + " (in " + l.value + ")"};
    }
  }
  return std::nullopt;
}

bool LockSet::SameIds(const LockSet& other) const {
  return std::equal(locks_.begin(), locks_.end(), other.locks_.begin(), other.locks_.end(),
                    [](const FleetLock& x, const FleetLock& y) { return x.id == y.id; });
}

}  // namespace hopgate::audit::fleet
