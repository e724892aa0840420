// Fuzz target: the daemon's YAML configuration (proxy/config/config.h).
// Checks that a config that loads has no errors, and that its effective
// form (Dump, what `hopgate -T` prints) loads back to the same effective
// configuration, as Dump promises.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "proxy/config/config.h"

namespace {

void Check(bool ok) {
  if (!ok) abort();
}

constexpr char kFile[] = "/etc/hopgate/hopgate.yaml";

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 64 * 1024) return 0;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  auto load = hopgate::proxy::ParseConfig(in, kFile);
  (void)load.diagnostics.ToString();
  if (!load.config) {
    Check(load.diagnostics.has_errors());
    return 0;
  }
  Check(!load.diagnostics.has_errors());
  const auto& c = *load.config;
  for (const auto& [key, where] : c.where) (void)c.Where(key);
  (void)hopgate::proxy::RecordingHostKeyPaths(c, {"ssh-ed25519", "ecdsa-sha2-nistp256", "ssh-rsa"});
  std::string dump = c.Dump();
  auto again = hopgate::proxy::ParseConfig(dump, kFile);
  Check(again.config.has_value());
  Check(again.config->Dump() == dump);
  return 0;
}
