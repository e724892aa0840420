// Fuzz target: authorized_keys files and lines with options
// (policy/authorized_keys.h), the expiry-time and from= values inside them.
// Checks that every line that is not blank or a comment yields exactly one
// key or one error, that a key's blob is canonical and of the type the line
// names, that RSA keys meet the minimum size, and that a line without
// options restricts nothing.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "certs/key.h"
#include "common/net.h"
#include "common/strings.h"
#include "policy/authorized_keys.h"

namespace {

using namespace hopgate;
using namespace hopgate::policy;

void Check(bool ok) {
  if (!ok) abort();
}

void CheckKey(const AuthorizedKey& k) {
  auto parsed = certs::ParsePublicKeyBlob(k.blob);
  Check(parsed.ok() && parsed->blob == k.blob);
  Check(k.type == certs::KeyTypeName(parsed->type));
  Check(parsed->type != certs::KeyType::kRsa || parsed->Bits() >= kDefaultMinRsaBits);
  const Restrictions& r = k.restrictions;
  if (r.from) {
    for (const char* a : {"10.1.2.3", "127.0.0.1", "2001:db8::1", "::ffff:10.1.2.3"}) {
      (void)r.from->Matches(*IpAddress::Parse(a));
    }
  }
  if (!k.has_options) {
    Check(r.port_forwarding && r.pty && r.agent_forwarding && r.x11_forwarding && r.user_rc);
    Check(!r.force_command && !r.permit_open && !r.permit_listen && !r.from && !r.expiry_time);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 64 * 1024) return 0;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  Diagnostics diags("/fuzz/authorized_keys");
  auto keys = ParseAuthorizedKeysFile(in, &diags);
  size_t entries = 0;
  for (const auto& line : Split(in, '\n')) {
    std::string_view t = Trim(line);
    if (t.empty() || t[0] == '#') continue;
    ++entries;
    (void)ParseExpiryTime(t);
  }
  Check(keys.size() + static_cast<size_t>(diags.error_count()) == entries);
  for (const auto& k : keys) CheckKey(k);
  return 0;
}
