// hopctl: the administrator's and auditor's tool. Each subcommand lives in
// its own file (see command.h); this only parses and dispatches.
// Exit codes: 0 success (allow, valid, verified), 1 a negative answer (deny,
// invalid, damaged), 2 usage or file errors.
#include <CLI/CLI.hpp>

#include "hopctl/command.h"
#include "proxy/base/version.h"

using namespace hopgate;
using namespace hopgate::hopctl;

int main(int argc, char** argv) {
  CLI::App app{"hopctl: administer and audit hopgate"};
  app.set_version_flag("--version", std::string("hopctl ") + proxy::kVersion);
  app.require_subcommand(1);
  Commands commands;
  AddPolicyCommands(app, &commands);
  AddKnownHostsCommand(app, &commands);
  AddAuditCommands(app, &commands);
  AddSessionCommands(app, &commands);
  AddReplayCommand(app, &commands);
  AddDrainCommand(app, &commands);
  AddFleetCommands(app, &commands);
  AddTerminateCommand(app, &commands);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }
  for (const auto& c : commands) {
    if (c.app->parsed()) return c.run();
  }
  return 2;
}
