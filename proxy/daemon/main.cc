// hopgate: the SSH gateway daemon. Parses flags, validates the config and the
// policy, and runs the server in the foreground.
#include <libssh/libssh.h>
#include <malloc.h>

#include <CLI/CLI.hpp>
#include <cstdio>

#include "proxy/config/config.h"
#include "proxy/config/files.h"
#include "proxy/ssh/host_keys.h"
#include "proxy/daemon/loader.h"
#include "proxy/base/logging.h"
#include "proxy/daemon/server.h"
#include "proxy/config/trust.h"
#include "proxy/base/version.h"
#include "proxy/signer/signer.h"

using namespace hopgate;
using namespace hopgate::proxy;

namespace {

// Validates the config and everything it names without starting anything,
// like `sshd -t`, with the loader start-up uses: what passes here starts.
// Prints every problem as FILE:LINE:COL: message.
int Check(const Config& config) {
  Loaded loaded = LoadAll(config, /*private_keys=*/true);
  for (const auto& e : loaded.errors) fprintf(stderr, "%s\n", e.c_str());
  for (const auto& w : loaded.warnings) fprintf(stderr, "%s\n", w.c_str());
  if (!loaded.ok()) return 1;
  printf("%s: OK (policy %s)\n", config.file.c_str(), loaded.policy->version.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"hopgate: SSH gateway for ssh -J, with policy and audit"};
  std::string config_path;
  bool check = false, print = false, version = false;
  int signer_fd = -1;
  app.add_option("-c,--config", config_path, "configuration file (YAML)");
  app.add_flag("-t,--check", check, "validate the config and the policy it names, then exit");
  app.add_flag("-T,--print-config", print, "print the effective configuration and exit");
  app.add_flag("--version", version, "print the version and exit");
  // Internal: run as the signer keeper on this control socket (signer.h).
  app.add_option("--signer-fd", signer_fd)->group("");
  CLI11_PARSE(app, argc, argv);
  if (version) {
    printf("hopgate %s\n", kVersion);
    return 0;
  }
  if (config_path.empty()) {
    fprintf(stderr, "hopgate: --config FILE is required\n");
    return 2;
  }
  if (signer_fd >= 0) {
    ConfigLoad c = LoadConfig(config_path);
    InitLogging(c.config ? c.config->log_level : "info");
    return signer::RunKeeper(config_path, signer_fd);
  }
  ConfigLoad loaded = LoadConfig(config_path);
  if (!loaded.config) {
    fprintf(stderr, "%s", loaded.diagnostics.ToString().c_str());
    return 1;
  }
  Config config = std::move(*loaded.config);
  if (print) {
    printf("%s", config.Dump().c_str());
    return 0;
  }
  if (check) return Check(config);

  // Fewer malloc arenas: many mostly idle connection threads, small heaps.
  mallopt(M_ARENA_MAX, 4);
  InitLogging(config.log_level);
  // The signer first, before any thread or network input: it alone reads
  // the signing keys (proxy/signer/signer.h).
  auto signer = signer::Client::Start("/proc/self/exe", config.file);
  if (!signer) {
    fprintf(stderr, "%s\nhopgate: not started\n", signer.message().c_str());
    return 1;
  }
  ssh_init();
  auto server = Server::Start(std::move(config), std::move(*signer));
  if (!server) {
    fprintf(stderr, "%s%s", server.message().c_str(),
            server.message().empty() || server.message().back() != '\n' ? "\n" : "");
    fprintf(stderr, "hopgate: not started\n");
    return 1;
  }
  int rc = (*server)->Run();
  server->reset();
  ssh_finalize();
  return rc;
}
