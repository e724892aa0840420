// hopctl audit: verify the tamper-evident audit log and its recordings, print
// the latest checkpoint, export and verify a self-contained bundle.
#include "hopctl/command.h"

namespace hopgate::hopctl {

void AddAuditCommands(CLI::App& app, Commands* out) {
  (void)app;
  (void)out;  // not yet
}

}  // namespace hopgate::hopctl
