// What a fleet-wide lock (hopctl lock) is and whom it covers, apart from
// where locks are kept (the fleet database, audit/fleet/locks.h, or a local
// file, audit/fleet/locks_file.h). Pure: no I/O, thread-safe values.
//
// Kinds and values:
//   user         a gateway user name              alice
//   key          a key's SHA-256 fingerprint      SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU
//                (as `ssh-keygen -l` prints it): the key the user logged in
//                with (for a certificate, the certified key) or the CA key
//                that signed the user's certificate
//   cert-serial  a certificate serial (decimal), whichever trusted CA signed it
//   source       a CIDR block or one address: the client's address as the
//                gateway sees it (after the PROXY protocol)
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/net.h"
#include "common/result.h"

namespace hopgate::audit::fleet {

struct FleetLock {
  int64_t id = 0;
  std::string kind;   // "user", "key", "cert-serial", "source"
  std::string value;  // as NormalizeLockValue returns it
  std::string reason;
  std::string created, expires;  // RFC 3339 UTC; expires "" = never
  int64_t expires_unix = 0;      // 0 = never
};

// The kinds above, in the order hopctl lists them.
const std::vector<std::string>& LockKinds();

// Checks `value` for `kind` and returns it in canonical form (a CIDR with
// its prefix, a serial without leading zeros, a fingerprint unpadded), or
// an error saying what is wrong ("not a CIDR block: ...").
Result<std::string> NormalizeLockValue(const std::string& kind, const std::string& value);

// Who is logging in, or is logged in: everything a lock can name.
struct LockSubject {
  std::string user;
  std::string key_fingerprint;  // the key (a certificate's certified key)
  std::string ca_fingerprint;   // a certificate's signing CA; "" for a plain key
  std::optional<uint64_t> cert_serial;
  std::optional<IpAddress> source;
};

struct LockMatch {
  FleetLock lock;
  std::string what;  // `user "alice"`, `key SHA256:...`, `source 10.1.2.3 (10.0.0.0/8)`, ...
};

// The locks in force on one gateway, ready to match. Built from whatever
// the store returned; entries it cannot understand are left out and listed
// in problems() (a row written by hand into the database, say).
class LockSet {
 public:
  LockSet() = default;
  explicit LockSet(std::vector<FleetLock> locks);

  // The lowest-numbered lock covering `s` that has not expired at `now_unix`.
  std::optional<LockMatch> Match(const LockSubject& s, int64_t now_unix) const;
  // The same locks (by id) as `other`.
  bool SameIds(const LockSet& other) const;
  const std::vector<FleetLock>& locks() const { return locks_; }
  const std::vector<std::string>& problems() const { return problems_; }

 private:
  struct Entry {
    FleetLock lock;
    std::optional<Cidr> cidr;          // source
    std::optional<uint64_t> serial;    // cert-serial
  };
  std::vector<FleetLock> locks_;
  std::vector<Entry> entries_;  // by id
  std::vector<std::string> problems_;
};

}  // namespace hopgate::audit::fleet
