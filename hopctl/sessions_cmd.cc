// hopctl sessions / show: find sessions in the audit log (through the SQLite
// index beside it) and print one session's whole story.
#include "hopctl/command.h"

namespace hopgate::hopctl {

void AddSessionCommands(CLI::App& app, Commands* out) {
  (void)app;
  (void)out;  // not yet
}

}  // namespace hopgate::hopctl
