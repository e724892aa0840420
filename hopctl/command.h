// hopctl's subcommands: each file adds its own to the CLI and says how to
// run them. main.cc only parses and dispatches.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <vector>

namespace hopgate::hopctl {

// A subcommand and what runs when it is chosen; returns the exit code.
struct Command {
  CLI::App* app;
  std::function<int()> run;
};
using Commands = std::vector<Command>;

// `policy check`, `policy explain` (policy_cmd.cc).
void AddPolicyCommands(CLI::App& app, Commands* out);
// `known-hosts` (known_hosts_cmd.cc).
void AddKnownHostsCommand(CLI::App& app, Commands* out);
// `audit verify`, `audit checkpoint`, `audit export`, `audit verify-bundle`
// (audit_cmd.cc).
void AddAuditCommands(CLI::App& app, Commands* out);
// `sessions`, `show` (sessions_cmd.cc).
void AddSessionCommands(CLI::App& app, Commands* out);
// `replay` (replay_cmd.cc).
void AddReplayCommand(CLI::App& app, Commands* out);
// `drain` (drain_cmd.cc).
void AddDrainCommand(CLI::App& app, Commands* out);
// `lock`, `locks`, `unlock`: fleet-wide locks (fleet_cmd.cc).
void AddFleetCommands(CLI::App& app, Commands* out);
// `terminate`: ends a live session wherever it runs (live_cmd.cc).
void AddTerminateCommand(CLI::App& app, Commands* out);

}  // namespace hopgate::hopctl
