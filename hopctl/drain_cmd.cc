// `hopctl drain`: asks a running hopgate to drain (the same as SIGTERM: it
// stops accepting, reports not ready on /healthz/ready, lets open sessions
// go on until limits.drain_timeout, then exits 0). hopgate has no control
// socket: the process is found by the config file it was started with (or
// given by pid) and sent SIGTERM.
#include <dirent.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "hopctl/command.h"

namespace hopgate::hopctl {
namespace {

std::vector<std::string> Cmdline(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/cmdline", std::ios::binary);
  std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::string> args;
  for (size_t at = 0; at < all.size();) {
    size_t end = all.find('\0', at);
    if (end == std::string::npos) end = all.size();
    args.push_back(all.substr(at, end - at));
    at = end + 1;
  }
  return args;
}

std::string RealPath(const std::string& path) {
  char buf[PATH_MAX];
  return realpath(path.c_str(), buf) != nullptr ? std::string(buf) : std::string();
}

// The config path a running gateway was started with (resolved against its
// working directory), or empty if `args` is not a serving hopgate (the signer
// processes, --check and --print-config runs are not).
std::string ServingConfig(pid_t pid, const std::vector<std::string>& args) {
  if (args.empty()) return "";
  std::string name = args[0].substr(args[0].rfind('/') + 1);
  if (name != "hopgate") return "";
  std::string config;
  for (size_t i = 1; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--signer-fd" || a.rfind("--signer-fd=", 0) == 0 || a == "-t" || a == "--check" ||
        a == "-T" || a == "--print-config" || a == "--version") {
      return "";
    }
    if ((a == "-c" || a == "--config") && i + 1 < args.size()) config = args[++i];
    if (a.rfind("--config=", 0) == 0) config = a.substr(9);
  }
  if (config.empty()) return "";
  if (config[0] != '/') config = "/proc/" + std::to_string(pid) + "/cwd/" + config;
  return RealPath(config);
}

// The pid of the one hopgate serving `config`; prints why not and returns -1.
pid_t FindGateway(const std::string& config) {
  std::string want = RealPath(config);
  if (want.empty()) {
    fprintf(stderr, "hopctl drain: %s: %s\n", config.c_str(), strerror(errno));
    return -1;
  }
  std::vector<pid_t> found;
  if (DIR* d = opendir("/proc")) {
    while (dirent* e = readdir(d)) {
      char* end = nullptr;
      long pid = strtol(e->d_name, &end, 10);
      if (end == e->d_name || *end != '\0' || pid <= 0 || pid == getpid()) continue;
      if (ServingConfig(static_cast<pid_t>(pid), Cmdline(static_cast<pid_t>(pid))) == want) {
        found.push_back(static_cast<pid_t>(pid));
      }
    }
    closedir(d);
  }
  if (found.size() == 1) return found[0];
  if (found.empty()) {
    fprintf(stderr, "hopctl drain: no running hopgate was started with --config %s\n",
            want.c_str());
  } else {
    fprintf(stderr, "hopctl drain: %zu hopgate processes run with --config %s; name one with "
            "--pid\n", found.size(), want.c_str());
  }
  return -1;
}

int Drain(const std::string& config, pid_t pid, bool wait) {
  if (pid <= 0) pid = FindGateway(config);
  if (pid <= 0) return 1;
  if (ServingConfig(pid, Cmdline(pid)).empty()) {
    fprintf(stderr, "hopctl drain: pid %d is not a serving hopgate\n", static_cast<int>(pid));
    return 1;
  }
  if (kill(pid, SIGTERM) != 0) {
    fprintf(stderr, "hopctl drain: cannot signal pid %d: %s\n", static_cast<int>(pid),
            strerror(errno));
    return 1;
  }
  printf("hopgate pid %d is draining: no new connections; open sessions end on their own or at "
         "limits.drain_timeout\n", static_cast<int>(pid));
  fflush(stdout);
  if (!wait) return 0;
  while (kill(pid, 0) == 0 || errno != ESRCH) {
    // Our own child never: a zombie of someone else's ends when reaped.
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
    size_t paren = text.rfind(')');
    if (paren != std::string::npos && paren + 2 < text.size() && text[paren + 2] == 'Z') break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  printf("hopgate pid %d has exited\n", static_cast<int>(pid));
  return 0;
}

}  // namespace

void AddDrainCommand(CLI::App& app, Commands* out) {
  auto* cmd = app.add_subcommand(
      "drain", "drain a running hopgate (like SIGTERM): stop accepting, let sessions finish "
               "until limits.drain_timeout, then exit");
  struct Options {
    std::string config;
    int pid = 0;
    bool wait = false;
  };
  auto o = std::make_shared<Options>();
  auto* config = cmd->add_option("-c,--config", o->config,
                                 "the config file the gateway was started with");
  auto* pid = cmd->add_option("--pid", o->pid, "the gateway's process id");
  config->excludes(pid);
  cmd->add_flag("--wait", o->wait, "wait until the gateway has exited");
  out->push_back({cmd, [o] {
                    if (o->config.empty() && o->pid <= 0) {
                      fprintf(stderr, "hopctl drain: --config FILE or --pid PID is required\n");
                      return 2;
                    }
                    return Drain(o->config, static_cast<pid_t>(o->pid), o->wait);
                  }});
}

}  // namespace hopgate::hopctl
