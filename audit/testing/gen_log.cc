// Writes a large tamper-evident audit log for bench/audit_verify.sh: about
// SIZE_MB megabytes of gateway-like events (passthrough and recorded
// connections with their recordings) through the real FileSink, signed
// checkpoints every 10,000 events, rotation every 100 MiB.
// Usage: audit_log_gen DIR SIZE_MB   (prints the log's path and key)
#include <sys/stat.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "audit/log_files.h"
#include "audit/testing/test_log.h"

using namespace hopgate::audit;
using namespace hopgate::audit::testing;

namespace {

// Bytes in every file of the log (rotated ones too).
uint64_t LogBytes(const std::string& log) {
  uint64_t total = 0;
  for (const auto& f : LogFilesOf(log)) {
    struct stat st;
    if (stat(f.c_str(), &st) == 0) total += static_cast<uint64_t>(st.st_size);
  }
  return total;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: audit_log_gen DIR SIZE_MB\n");
    return 2;
  }
  std::string dir = argv[1];
  uint64_t target = std::strtoull(argv[2], nullptr, 10) << 20;
  FileSinkOptions o;
  o.rotate_size = 100ull << 20;
  o.checkpoint_every_events = 10'000;
  TestLog t(dir, o);
  t.Checkpoint("start");
  char id[32];
  for (uint64_t i = 0;; ++i) {
    snprintf(id, sizeof id, "c%016llx", static_cast<unsigned long long>(i));
    if (i % 50 == 0) {
      t.RecordedConnection(id, 2000);
    } else {
      t.PassthroughConnection(id);
    }
    if (i % 1000 == 0 && LogBytes(t.log()) >= target) break;
  }
  t.Checkpoint("shutdown");
  printf("%s %s %llu\n", t.log().c_str(), t.key_pub().c_str(),
         static_cast<unsigned long long>(t.sink().size()));
  return 0;
}
