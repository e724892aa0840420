// Port forwarding through hopgate with the real OpenSSH client: -L, -R and
// -D (with curl as the SOCKS client), each to a permitted and a forbidden
// destination, against a local HTTP server.
#include <catch2/catch.hpp>

#include <signal.h>

#include <chrono>
#include <thread>

#include "tests/support/harness.h"

using namespace hopgate::testing;

namespace {

// A tiny HTTP server (python3 -m http.server) serving one known file.
// Each serves a body naming its own directory, so a test can tell them apart.
struct HttpServer {
  std::string dir;
  OnPort server;
  int port = 0;
  explicit HttpServer(const std::string& base) {
    static int count = 0;
    dir = base + "/www-" + std::to_string(++count);
    Run({"mkdir", "-p", dir});
    WriteFile(dir + "/hello.txt", Body());
    server = StartHttpServer(dir, dir + ".log");
    port = server.port;
  }
  std::string Body() const { return "hello from " + dir + "\n"; }
};

struct World {
  std::string dir = MakeTempDir("forwarding");
  KeyPair alice = GenerateKey(dir, "alice");
  HttpServer allowed{dir};
  HttpServer forbidden{dir};
  int listen_ok = FreePort();
  int listen_forbidden = FreePort();
  std::unique_ptr<Gate> gate;
  Client client{dir, alice.private_path,
                "  ExitOnForwardFailure yes\n  ServerAliveInterval 5\n"};

  World() {
    std::string policy =
        "version: 1\n"
        "users:\n"
        "  alice:\n"
        "    keys: [\"" + alice.public_line + "\"]\n"
        "hosts:\n"
        "  web: {address: \"127.0.0.1:" + std::to_string(allowed.port) + "\"}\n"
        "rules:\n"
        "  - name: alice-web\n"
        "    users: [alice]\n"
        "    allow_tcp_forwarding: yes\n"
        "    permit_open: [\"127.0.0.1:" + std::to_string(allowed.port) + "\", \"web:" + std::to_string(allowed.port) + "\"]\n"
        "    permit_listen: [\"" + std::to_string(listen_ok) + "\"]\n";
    gate = std::make_unique<Gate>(dir, policy);
  }

  std::vector<std::string> Ssh(const std::vector<std::string>& args) const {
    std::vector<std::string> argv = {"ssh", "-F", client.config_path(), "-N", "-p",
                                     std::to_string(gate->port())};
    argv.insert(argv.end(), args.begin(), args.end());
    argv.push_back("alice@127.0.0.1");
    return argv;
  }
};

RunResult Curl(const std::vector<std::string>& extra, const std::string& url) {
  std::vector<std::string> argv = {"curl", "-s", "-S", "--max-time", "15"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  argv.push_back(url);
  return Run(argv, "", 30'000);
}

// Starts a forwarding ssh in the background and waits until `port` listens
// (or the ssh exits).
std::unique_ptr<Process> StartForwarder(World& w, const std::vector<std::string>& args, int port,
                                        const std::string& log) {
  auto p = std::make_unique<Process>(w.Ssh(args), log);
  for (int i = 0; i < 200 && p->Running(); ++i) {
    if (WaitForPort(port, 50)) break;
  }
  return p;
}

// Starts `ssh -N -L 127.0.0.1:PORT:dest` on a free local port (retried if the
// port is taken meanwhile); returns the forwarder and its port.
OnPort StartLocalForward(World& w, const std::string& dest, const std::string& log) {
  return StartOnFreePort(
      [&](int port) { return w.Ssh({"-L", "127.0.0.1:" + std::to_string(port) + ":" + dest}); },
      log);
}

}  // namespace

TEST_CASE("-L to a permitted destination carries data; to a forbidden one it is refused") {
  World w;
  OnPort fwd = StartLocalForward(w, "127.0.0.1:" + std::to_string(w.allowed.port),
                                 w.dir + "/L.log");
  int local = fwd.port;
  RunResult ok = Curl({}, "http://127.0.0.1:" + std::to_string(local) + "/hello.txt");
  CHECK(ok.out == w.allowed.Body());

  // ssh listens; the gateway refuses each channel.
  OnPort bad = StartLocalForward(w, "127.0.0.1:" + std::to_string(w.forbidden.port),
                                 w.dir + "/L2.log");
  int local2 = bad.port;
  RunResult no = Curl({}, "http://127.0.0.1:" + std::to_string(local2) + "/hello.txt");
  CHECK(no.out.empty());
  CHECK(no.exit_code != 0);
  std::string dest = "127.0.0.1:" + std::to_string(w.forbidden.port);
  REQUIRE(w.gate->WaitForAudit("channel_open", "destination", dest, 5000));
  for (const auto& e : w.gate->AuditEvents("channel_open")) {
    if (e.value("destination", "") == dest) {
      CHECK(e["decision"] == "deny");
      CHECK(e["reason"] == "no rule permits direct-tcpip to " + dest + " for user alice");
    }
  }
}

TEST_CASE("-R on a permitted port listens on the gateway and carries data; a forbidden port fails") {
  // The policy names the -R port, picked free when the world was made; a
  // test running alongside may take it first (the gateway then refuses
  // with "in use"): a new world, with another port, tries again.
  std::unique_ptr<World> world;
  std::unique_ptr<Process> fwd;
  for (int attempt = 0; attempt < 3; ++attempt) {
    world = std::make_unique<World>();
    World& w = *world;
    fwd = StartForwarder(w, {"-R", std::to_string(w.listen_ok) + ":127.0.0.1:" +
                                       std::to_string(w.allowed.port)},
                         w.listen_ok, w.dir + "/R.log");
    bool ours = WaitUntil([&] { return ListensOn(w.gate->process().pid(), w.listen_ok); }, 10'000);
    if (ours || w.gate->Log().find("tcpip-forward on") == std::string::npos ||
        w.gate->Log().find("in use") == std::string::npos) {
      break;
    }
  }
  World& w = *world;
  // The gateway itself listens (not some other process on that port).
  INFO(w.gate->Log());
  REQUIRE(WaitUntil([&] { return ListensOn(w.gate->process().pid(), w.listen_ok); }, 10'000));
  // A client on the gateway's side reaches the service behind the ssh client.
  RunResult ok = Curl({}, "http://127.0.0.1:" + std::to_string(w.listen_ok) + "/hello.txt");
  CHECK(ok.out == w.allowed.Body());
  // The port probes above opened forwarded-tcpip channels too (0 bytes);
  // the one curl used carried the response back from the client's side.
  INFO(ReadFile(w.gate->audit_path()));
  CHECK(WaitUntil([&] {
    for (const auto& c : w.gate->AuditEvents("channel_close")) {
      if (c.value("kind", "") == "forwarded-tcpip" &&
          c["bytes_client_to_target"].get<uint64_t>() > w.allowed.Body().size()) {
        return true;
      }
    }
    return false;
  }, 5000));

  // A port outside permit_listen: ssh gives up (ExitOnForwardFailure).
  RunResult bad = Run(w.Ssh({"-R", std::to_string(w.listen_forbidden) + ":127.0.0.1:" +
                                       std::to_string(w.allowed.port)}),
                      "", 30'000);
  CHECK(bad.exit_code == 255);
  CHECK(bad.err.find("remote port forwarding failed") != std::string::npos);
  CHECK_FALSE(ListensOn(w.gate->process().pid(), w.listen_forbidden));

  // Ending the connection tears the listener down.
  fwd->Signal(SIGTERM);
  fwd->Wait(10'000);
  CHECK(WaitUntil([&] { return !WaitForPort(w.listen_ok, 50); }, 5000));
  REQUIRE(w.gate->WaitForAudit("channel_close", "kind", "tcpip-forward", 5000));
}

TEST_CASE("-D with curl as the SOCKS client: permitted destination works, forbidden fails") {
  World w;
  OnPort fwd = StartOnFreePort(
      [&](int port) { return w.Ssh({"-D", "127.0.0.1:" + std::to_string(port)}); },
      w.dir + "/D.log");
  int socks = fwd.port;
  std::string proxy = "127.0.0.1:" + std::to_string(socks);
  RunResult ok = Curl({"--socks5-hostname", proxy},
                      "http://127.0.0.1:" + std::to_string(w.allowed.port) + "/hello.txt");
  CHECK(ok.out == w.allowed.Body());
  // By a hosts: name, resolved by the gateway.
  RunResult named = Curl({"--socks5-hostname", proxy},
                         "http://web:" + std::to_string(w.allowed.port) + "/hello.txt");
  CHECK(named.out == w.allowed.Body());
  RunResult no = Curl({"--socks5-hostname", proxy},
                      "http://127.0.0.1:" + std::to_string(w.forbidden.port) + "/hello.txt");
  CHECK(no.out.empty());
  CHECK(no.exit_code != 0);
  REQUIRE(w.gate->WaitForAudit("channel_open", "destination",
                               "127.0.0.1:" + std::to_string(w.forbidden.port), 5000));
  int denied = 0;
  for (const auto& e : w.gate->AuditEvents("channel_open")) denied += e.value("decision", "") == "deny";
  CHECK(denied == 1);
}
