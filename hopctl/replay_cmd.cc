// hopctl replay: play a recorded session in the terminal.
#include "hopctl/command.h"

namespace hopgate::hopctl {

void AddReplayCommand(CLI::App& app, Commands* out) {
  (void)app;
  (void)out;  // not yet
}

}  // namespace hopgate::hopctl
