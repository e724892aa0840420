// Recorded sessions with the real OpenSSH client and sshd: hopgate
// terminates the inner SSH of `ssh -J alice@gate db1`, logs in to db1 with a
// certificate it mints for the session, relays it, and writes an asciicast.
#include <catch2/catch.hpp>

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <regex>
#include <sstream>

#include "tests/support/harness.h"
#include "tests/support/recorded_world.h"

using namespace hopgate::testing;

using World = RecordedWorld;

TEST_CASE("recorded exec: output, stderr apart, exit status 42, minted certificate, asciicast") {
  World w;
  RunResult r = Run(w.Ssh({"echo to-stdout; echo to-stderr >&2; exit 42"}));
  INFO(r.err << "\n" << w.gate->Log() << ReadFile(w.gate->audit_path()));
  CHECK(r.exit_code == 42);
  CHECK(r.out == "to-stdout\n");
  CHECK(r.err.find("to-stderr") != std::string::npos);
  CHECK(r.out.find("to-stderr") == std::string::npos);

  auto opens = w.gate->AuditEvents("session_open");
  REQUIRE(opens.size() == 1);
  CHECK(opens[0]["result"] == "success");
  CHECK(opens[0]["login"] == "root");
  std::string session = opens[0]["session"];
  CHECK(opens[0]["upstream_key_id"] == "hopgate:alice:" + session);
  // The target's own log names the human behind the minted certificate.
  REQUIRE(WaitUntil([&] {
    return ReadFile(w.target->log_path()).find("ID hopgate:alice:" + session) != std::string::npos;
  }, 5000));

  REQUIRE(WaitUntil([&] { return !w.Closes().empty(); }, 5000));
  auto close = w.Closes()[0];
  CHECK(close["exit_status"] == 42);
  std::string cast = close["recording"];
  CHECK(close["recording_sha256"] == Sha256OfFile(cast));
  auto lines = CastLines(cast);
  REQUIRE(lines.size() >= 2);
  CHECK(lines[0]["version"] == 2);
  CHECK(lines[0]["command"] == "echo to-stdout; echo to-stderr >&2; exit 42");
  CHECK(lines[0]["hopgate"]["user"] == "alice");
  CHECK(lines[0]["hopgate"]["login"] == "root");
  CHECK(lines[0]["hopgate"]["session_id"] == session);
  std::string out = CastOutput(cast);
  CHECK(out.find("to-stdout") != std::string::npos);
  CHECK(out.find("to-stderr") != std::string::npos);
  // The audit channel event says the session was terminated and recorded.
  auto ch = w.gate->AuditEvents("channel_open");
  REQUIRE(ch.size() == 1);
  CHECK(ch[0]["recorded"] == true);
}

TEST_CASE("recorded interactive pty session: typed commands' output is in the recording") {
  World w;
  RunResult r = Run(w.Ssh({"-tt"}), "echo hello-from-pty\nexit 3\n", 30'000);
  INFO(r.err << "\n" << w.gate->Log());
  CHECK(r.exit_code == 3);
  CHECK(r.out.find("hello-from-pty") != std::string::npos);
  REQUIRE(WaitUntil([&] { return !w.Closes().empty(); }, 5000));
  std::string cast = w.Closes()[0]["recording"];
  auto header = CastLines(cast)[0];
  CHECK(!header.contains("command"));  // a shell
  CHECK(CastOutput(cast).find("hello-from-pty") != std::string::npos);
  // Input is not recorded by default (typed passwords must not land there).
  for (const auto& l : CastLines(cast)) {
    if (l.is_array()) CHECK(l[1] != "i");
  }
  // asciinema plays it back.
  {
    INFO("asciinema is not installed (apt-get install asciinema)");
    REQUIRE(Run({"sh", "-c", "command -v asciinema"}).exit_code == 0);
    // asciinema 2.2 opens /dev/tty: give it one with script(1).
    RunResult cat = Run({"env", "ASCIINEMA_CONFIG_HOME=" + w.dir + "/asciinema",
                         "PYTHONIOENCODING=utf-8", "script", "-qec", "asciinema cat " + cast,
                         "/dev/null"});
    INFO(cat.err);
    CHECK(cat.exit_code == 0);
    CHECK(cat.out.find("hello-from-pty") != std::string::npos);
  }
}

TEST_CASE("sftp put and get of 16 MiB through a recorded session, one audit event per file op") {
  World w;
  std::string local = w.dir + "/up.bin", back = w.dir + "/back.bin";
  std::string remote = w.dir + "/remote.bin";
  WriteRandomFile(local, 16 << 20);
  std::string batch = w.dir + "/batch";
  WriteFile(batch, "put " + local + " " + remote + "\nget " + remote + " " + back + "\nrename " +
                       remote + " " + remote + ".2\nrm " + remote + ".2\nmkdir " + w.dir +
                       "/newdir\nrmdir " + w.dir + "/newdir\n");
  RunResult r = Run({"sftp", "-q", "-F", w.ssh_config, "-J", w.Jump(), "-b", batch, "root@db1"}, "",
                    120'000);
  INFO(r.err << "\n" << w.gate->Log());
  REQUIRE(r.exit_code == 0);
  CHECK(Sha256OfFile(back) == Sha256OfFile(local));
  REQUIRE(WaitUntil([&] { return !w.Closes().empty(); }, 5000));
  std::map<std::string, int> ops;
  uint64_t written = 0, read = 0;
  for (const auto& e : w.gate->AuditEvents("sftp")) {
    ops[e["op"]]++;
    if (e["op"] == "close" && e["path"] == remote) {
      written += e["bytes_written"].get<uint64_t>();
      read += e["bytes_read"].get<uint64_t>();
    }
  }
  CHECK(ops["open"] >= 2);
  CHECK(ops["close"] >= 2);
  CHECK(ops["rename"] == 1);
  CHECK(ops["remove"] == 1);
  CHECK(ops["mkdir"] == 1);
  CHECK(ops["rmdir"] == 1);
  CHECK(written == (16u << 20));
  CHECK(read == (16u << 20));
}

TEST_CASE("scp through a recorded session") {
  World w;
  std::string local = w.dir + "/scp.bin";
  WriteRandomFile(local, 1 << 20);
  RunResult r = Run({"scp", "-q", "-F", w.ssh_config, "-J", w.Jump(), local,
                     "root@db1:" + w.dir + "/scp-remote.bin"},
                    "", 60'000);
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(Sha256OfFile(w.dir + "/scp-remote.bin") == Sha256OfFile(local));
}

TEST_CASE("a forced command runs whatever the client asks; the audit log has both") {
  World w("    force_command: \"echo forced-output\"\n");
  RunResult r = Run(w.Ssh({"id"}));
  INFO(r.err << "\n" << w.gate->Log());
  CHECK(r.exit_code == 0);
  CHECK(r.out == "forced-output\n");
  bool found = false;
  for (const auto& e : w.gate->AuditEvents("session_request")) {
    if (e["request"] == "exec") {
      CHECK(e["command"] == "id");
      CHECK(e["forced_command"] == "echo forced-output");
      found = true;
    }
  }
  CHECK(found);
}

TEST_CASE("the inner login must use the outer key and an allowed login") {
  World w;
  SECTION("another key on the inner login is refused") {
    // alice's key logs in to the gateway; the inner login offers mallory's.
    std::string cfg = w.dir + "/mallory_config";
    WriteFile(cfg,
              "Host 127.0.0.1\n"
              "  IdentityFile " + w.alice.private_path + "\n"
              "  StrictHostKeyChecking no\n"
              "  UserKnownHostsFile /dev/null\n"
              "Host db1\n"
              "  IdentityFile " + w.mallory.private_path + "\n"
              "  UserKnownHostsFile " + w.known_hosts + "\n"
              "Host *\n"
              "  IdentitiesOnly yes\n"
              "  IdentityAgent none\n"
              "  GlobalKnownHostsFile /dev/null\n"
              "  LogLevel ERROR\n"
              "  BatchMode yes\n",
              0600);
    RunResult r = Run({"ssh", "-F", cfg, "-J", w.Jump(), "root@db1", "true"});
    CHECK(r.exit_code == 255);
    REQUIRE(w.gate->WaitForAudit("session_open", "result", "failure", 5000));
    std::string reason = w.gate->AuditEvents("session_open").back()["reason"];
    CHECK(reason.find("must use the same key") != std::string::npos);
    CHECK(w.gate->AuditEvents("session_close").empty());
  }
  SECTION("a login not in logins is refused") {
    RunResult r = Run(w.Ssh({"true"}, "postgres"));
    CHECK(r.exit_code == 255);
    REQUIRE(w.gate->WaitForAudit("session_open", "result", "failure", 5000));
    std::string reason = w.gate->AuditEvents("session_open").back()["reason"];
    CHECK(reason.find("login \"postgres\" is not allowed") != std::string::npos);
  }
}

TEST_CASE("a target host key that does not match the pinned one refuses the session") {
  KeyPair other = GenerateKey(MakeTempDir("recorded-other"), "other");
  World w("", "", other.public_line);
  RunResult r = Run(w.Ssh({"true"}));
  CHECK(r.exit_code == 255);
  REQUIRE(w.gate->WaitForAudit("session_open", "result", "failure", 5000));
  std::string reason = w.gate->AuditEvents("session_open").back()["reason"];
  CHECK(reason.find("host key mismatch") != std::string::npos);
}

TEST_CASE("a recording that cannot be written closes the session, loudly") {
#if defined(__SANITIZE_THREAD__)
  // ThreadSanitizer's runtime dies of SIGBUS under a file-size limit; this
  // case runs in the plain and ASan builds.
  WARN("not run under ThreadSanitizer (prlimit --fsize kills its runtime)");
  return;
#endif
  // Every file hopgate writes is capped at 256 KiB: the recording hits it.
  World w("", "", "", {"prlimit", "--fsize=262144", "--"});
  RunResult r = Run(w.Ssh({"head -c 2000000 /dev/zero | tr '\\\\0' x; sleep 5"}), "", 30'000);
  INFO(r.err << "\n" << w.gate->Log());
  CHECK(r.exit_code != 0);
  CHECK(r.err.find("hopgate: recording failed, session closed") != std::string::npos);
  REQUIRE(w.gate->WaitForAudit("recording_failed", "session",
                               w.gate->AuditEvents("session_open").at(0)["session"], 5000));
  CHECK(w.gate->AuditEvents("recording_failed")[0]["error"].get<std::string>().find(
            "File too large") != std::string::npos);
  // The session ended early: the client did not get the 2 MB, and what the
  // recording holds reached the disk up to the limit.
  CHECK(r.out.size() < 2'000'000);
  std::string cast = w.Closes().at(0)["recording"];
  CHECK(!CastOutput(cast).empty());
}

namespace {

// How many 'x' of output the cast at `path` holds, counting the partial
// event line a write error may have left at its end.
size_t RecordedXs(const std::string& path) {
  std::string data = ReadFile(path);
  std::string complete = CastOutput(path);
  size_t xs = static_cast<size_t>(std::count(complete.begin(), complete.end(), 'x'));
  size_t last_newline = data.rfind('\n');
  std::string tail = last_newline == std::string::npos ? data : data.substr(last_newline + 1);
  size_t start = tail.find(",\"o\",\"");
  if (start != std::string::npos) {
    tail = tail.substr(start + 6);
    xs += static_cast<size_t>(std::count(tail.begin(), tail.end(), 'x'));
  }
  return xs;
}

}  // namespace

TEST_CASE("with a failing disk, no more than recording.max_unflushed reaches the client unwritten") {
#if defined(__SANITIZE_THREAD__)
  WARN("not run under ThreadSanitizer (prlimit --fsize kills its runtime)");
  return;
#endif
  // The recording hits a 256 KiB file size limit (EFBIG) while the target
  // prints 4 MB; recordings are written in batches of at most 32 KiB.
  const size_t kUnflushed = 32 * 1024;
  World w("", "", "", {"prlimit", "--fsize=262144", "--"}, "recording:\n  max_unflushed: 32KiB\n");
  RunResult r = Run(w.Ssh({"head -c 4000000 /dev/zero | tr '\\0' x; sleep 5"}), "", 30'000);
  INFO(r.err << "\n" << w.gate->Log());
  // Closed loudly: the message, the exit status, the audit event.
  CHECK(r.exit_code == 255);
  CHECK(r.err.find("hopgate: recording failed, session closed") != std::string::npos);
  REQUIRE(w.gate->WaitForAudit("session_close", "session",
                               w.gate->AuditEvents("session_open").at(0)["session"], 10000));
  auto failed = w.gate->AuditEvents("recording_failed");
  REQUIRE(failed.size() == 1);
  CHECK(failed[0]["error"].get<std::string>().find("write: File too large") != std::string::npos);
  // The client saw only what the file holds plus at most one unwritten batch.
  CHECK(r.out.find_first_not_of('x') == std::string::npos);
  std::string cast = w.Closes().at(0)["recording"];
  size_t recorded = RecordedXs(cast);
  INFO("client got " << r.out.size() << " bytes, the recording holds " << recorded);
  CHECK(recorded > 100'000);
  CHECK(r.out.size() < 1'000'000);
  CHECK(r.out.size() <= recorded + kUnflushed);
  // session_close's digest and size cover exactly what reached the file.
  CHECK(w.Closes().at(0)["recording_size"].get<uint64_t>() == ReadFile(cast).size());
}

namespace {

// Runs `argv` under a real pseudo-terminal (python3's pty module), types
// `first`, resizes the terminal to 100x40 (TIOCSWINSZ + SIGWINCH, as a
// terminal emulator does), then types `second`. Returns what the terminal
// showed.
RunResult RunInPty(const std::vector<std::string>& argv, const std::string& first,
                   const std::string& second) {
  std::string script = R"PY(
import os, pty, sys, time, fcntl, termios, struct, signal, select
argv = sys.argv[3:]
pid, fd = pty.fork()
if pid == 0:
    os.execvp(argv[0], argv)
out = b""
def pump(seconds):
    global out
    end = time.time() + seconds
    while time.time() < end:
        r, _, _ = select.select([fd], [], [], 0.1)
        if r:
            try:
                data = os.read(fd, 65536)
            except OSError:
                return False
            if not data:
                return False
            out += data
    return True
pump(3)
os.write(fd, sys.argv[1].encode())
pump(1)
fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 100, 0, 0))
os.kill(pid, signal.SIGWINCH)
pump(1)
os.write(fd, sys.argv[2].encode())
pump(5)
_, status = os.waitpid(pid, 0)
sys.stdout.write(out.decode("utf-8", "replace"))
sys.exit(os.WEXITSTATUS(status) if os.WIFEXITED(status) else 128)
)PY";
  std::vector<std::string> cmd = {"python3", "-c", script, first, second};
  cmd.insert(cmd.end(), argv.begin(), argv.end());
  return Run(cmd, "", 60'000);
}

}  // namespace

TEST_CASE("a terminal resize reaches the target and the recording as an \"r\" event") {
  World w;
  RunResult r = RunInPty(w.Ssh({}), "stty size\n", "stty size; exit 0\n");
  INFO(r.out << "\n" << w.gate->Log());
  CHECK(r.out.find("40 100") != std::string::npos);  // the target saw the new size
  REQUIRE(WaitUntil([&] { return !w.Closes().empty(); }, 10'000));
  std::string cast = w.Closes()[0]["recording"];
  bool resized = false;
  for (const auto& l : CastLines(cast)) {
    if (l.is_array() && l[1] == "r") resized |= l[2] == "100x40";
  }
  CHECK(resized);
  CHECK(CastOutput(cast).find("40 100") != std::string::npos);
}

TEST_CASE("-L inside a recorded session: the policy decides what the target is asked to open") {
  std::string www = MakeTempDir("recorded-www");
  auto serve = [&](const std::string& name) {
    std::string d = www + "/" + name;
    Run({"mkdir", "-p", d});
    WriteFile(d + "/hello.txt", "hello from " + name + "\n");
    return StartHttpServer(d, d + ".log");
  };
  OnPort ok_server = serve("ok");
  OnPort no_server = serve("no");
  int ok_port = ok_server.port, no_port = no_server.port;
  World w("    allow_tcp_forwarding: local\n", "");
  // The rule must also permit the forwarded destination.
  std::string policy = ReadFile(w.gate->policy_path());
  size_t at = policy.find("permit_open: [\"db1:22\"]");
  policy.replace(at, std::string("permit_open: [\"db1:22\"]").size(),
                 "permit_open: [\"db1:22\", \"127.0.0.1:" + std::to_string(ok_port) + "\"]");
  WriteFile(w.gate->policy_path(), policy);
  w.gate->process().Signal(SIGHUP);
  REQUIRE(w.gate->WaitForAudit("policy_reload", "result", "success", 10'000));

  OnPort fwd = StartOnFreePort(
      [&](int port) {
        return w.Ssh({"-N", "-L", std::to_string(port) + ":127.0.0.1:" + std::to_string(ok_port)});
      },
      w.dir + "/fwd.log");
  OnPort fwd2 = StartOnFreePort(
      [&](int port) {
        return w.Ssh({"-N", "-L", std::to_string(port) + ":127.0.0.1:" + std::to_string(no_port)});
      },
      w.dir + "/fwd2.log");
  int l1 = fwd.port, l2 = fwd2.port;
  RunResult ok = Run({"curl", "-s", "--max-time", "10",
                      "http://127.0.0.1:" + std::to_string(l1) + "/hello.txt"});
  CHECK(ok.out == "hello from ok\n");
  RunResult no = Run({"curl", "-s", "--max-time", "10",
                      "http://127.0.0.1:" + std::to_string(l2) + "/hello.txt"});
  CHECK(no.out.empty());
  std::string ok_dest = "127.0.0.1:" + std::to_string(ok_port);
  std::string no_dest = "127.0.0.1:" + std::to_string(no_port);
  REQUIRE(w.gate->WaitForAudit("session_request", "command", no_dest, 5000));
  for (const auto& e : w.gate->AuditEvents("session_request")) {
    if (e["request"] != "direct-tcpip") continue;
    if (e["command"] == ok_dest) CHECK(e["decision"] == "allow");
    if (e["command"] == no_dest) CHECK(e["decision"] == "deny");
  }
  // The forwarded connection is an audit event with its bytes.
  REQUIRE(WaitUntil([&] {
    for (const auto& c : w.Closes()) {
      if (c["kind"] == "direct-tcpip" && c["bytes_target_to_client"].get<uint64_t>() > 0) return true;
    }
    return false;
  }, 10'000));
}

TEST_CASE("a certificate's force-command is enforced in a recorded session") {
  World w;
  // Trust a user CA at the gateway and give alice a certificate with a
  // forced command.
  KeyPair user_ca = GenerateKey(w.dir, "user_ca");
  std::string cfg = ReadFile(w.gate->config_path());
  cfg += "authentication:\n  trusted_user_ca_keys: " + user_ca.public_path + "\n";
  WriteFile(w.gate->config_path(), cfg, 0600);
  w.gate->process().Signal(SIGTERM);
  w.gate->process().Wait(15'000);
  w.gate->Start();
  RunResult signed_ = Run({"ssh-keygen", "-q", "-s", user_ca.private_path, "-I", "alice@corp",
                           "-n", "alice", "-O", "force-command=echo cert-forced",
                           w.alice.public_path});
  REQUIRE(signed_.exit_code == 0);
  std::string conf = ReadFile(w.ssh_config);
  conf += "  CertificateFile " + w.alice.public_path.substr(0, w.alice.public_path.size() - 4) +
          "-cert.pub\n";
  WriteFile(w.ssh_config, conf, 0600);
  RunResult r = Run(w.Ssh({"id"}));
  INFO(r.err << "\n" << w.gate->Log());
  CHECK(r.exit_code == 0);
  CHECK(r.out == "cert-forced\n");
  bool found = false;
  for (const auto& e : w.gate->AuditEvents("session_request")) {
    if (e["request"] == "exec" && e["command"] == "id") {
      CHECK(e["forced_command"] == "echo cert-forced");
      found = true;
    }
  }
  CHECK(found);
}

TEST_CASE("agent forwarding in a recorded session: relayed when granted, refused otherwise") {
  auto agent_run = [](World& w, const std::string& sock) {
    std::vector<std::string> argv = {"env", "SSH_AUTH_SOCK=" + sock};
    // The test config says IdentityAgent none, which hides the agent from
    // forwarding too; IdentitiesOnly still keeps its keys out of the login.
    auto ssh = w.Ssh({"-A", "-o", "IdentityAgent=SSH_AUTH_SOCK", "ssh-add -l; echo agent-exit=$?"});
    argv.insert(argv.end(), ssh.begin(), ssh.end());
    return Run(argv);
  };
  // An ssh-agent with mallory's key, killed and its socket removed at scope
  // end (Unix socket paths are short, 108 bytes: not under the test's temp
  // dir, so nothing may be left behind in /tmp).
  struct Agent {
    std::string sock;
    std::string pid;
    ~Agent() {
      if (!pid.empty()) Run({"kill", pid});
      unlink(sock.c_str());
    }
  };
  auto start_agent = [](World& w, Agent* agent) {
    static int n = 0;
    agent->sock = "/tmp/hopgate-test-agent-" + std::to_string(getpid()) + "-" +
                  std::to_string(n++) + ".sock";
    unlink(agent->sock.c_str());
    RunResult a = Run({"ssh-agent", "-a", agent->sock});
    REQUIRE(a.exit_code == 0);
    std::smatch m;
    REQUIRE(std::regex_search(a.out, m, std::regex("SSH_AGENT_PID=([0-9]+)")));
    agent->pid = m[1];
    REQUIRE(Run({"env", "SSH_AUTH_SOCK=" + agent->sock, "ssh-add", "-q", w.mallory.private_path})
                .exit_code == 0);
    return agent->sock;
  };
  SECTION("granted") {
    World w("    agent_forwarding: true\n");
    Agent agent;
    std::string sock = start_agent(w, &agent);
    RunResult r = agent_run(w, sock);
    INFO(r.err << "\n" << w.gate->Log());
    CHECK(r.out.find("agent-exit=0") != std::string::npos);
    RunResult fp = Run({"ssh-keygen", "-lf", w.mallory.public_path});
    CHECK(r.out.find(fp.out.substr(fp.out.find("SHA256:"), 50)) != std::string::npos);
    bool opened = false;
    for (const auto& e : w.gate->AuditEvents("session_request")) {
      opened |= e["request"] == "auth-agent" && e["decision"] == "allow";
    }
    CHECK(opened);
  }
  SECTION("not granted") {
    World w;
    Agent agent;
    std::string sock = start_agent(w, &agent);
    RunResult r = agent_run(w, sock);
    CHECK(r.out.find("agent-exit=2") != std::string::npos);  // no agent on the target
    bool denied = false;
    for (const auto& e : w.gate->AuditEvents("session_request")) {
      denied |= e["request"] == "auth-agent-req" && e["decision"] == "deny";
    }
    CHECK(denied);
  }
}

TEST_CASE("the agent tests left no ssh-agent socket behind") {
  std::string prefix = "hopgate-test-agent-" + std::to_string(getpid()) + "-";
  RunResult ls = Run({"ls", "/tmp"});
  CHECK(ls.out.find(prefix) == std::string::npos);
}

TEST_CASE("-R inside a recorded session: the target listens on a permitted port") {
  std::string www = MakeTempDir("recorded-R");
  int listen_port = FreePort(), forbidden_port = FreePort();
  WriteFile(www + "/hello.txt", "hello via -R\n");
  OnPort http = StartHttpServer(www, www + "/http.log");
  int http_port = http.port;
  World w("    allow_tcp_forwarding: yes\n    permit_listen: [\"" + std::to_string(listen_port) +
          "\"]\n");
  RunResult r = Run(w.Ssh({"-o", "ExitOnForwardFailure=yes", "-R",
                           std::to_string(listen_port) + ":127.0.0.1:" + std::to_string(http_port),
                           "curl -s --max-time 10 http://127.0.0.1:" + std::to_string(listen_port) +
                               "/hello.txt"}),
                    "", 60'000);
  INFO(r.err << "\n" << w.gate->Log());
  CHECK(r.exit_code == 0);
  CHECK(r.out == "hello via -R\n");
  RunResult bad = Run(w.Ssh({"-o", "ExitOnForwardFailure=yes", "-R",
                             std::to_string(forbidden_port) + ":127.0.0.1:" +
                                 std::to_string(http_port),
                             "true"}),
                      "", 60'000);
  CHECK(bad.exit_code == 255);
  bool denied = false;
  for (const auto& e : w.gate->AuditEvents("session_request")) {
    denied |= e["request"] == "tcpip-forward" && e["decision"] == "deny";
  }
  CHECK(denied);
}

TEST_CASE("idle_timeout and max_session end a recorded session with a message and an audit event") {
  SECTION("idle_timeout") {
    World w("    idle_timeout: 2s\n");
    RunResult r = Run(w.Ssh({"sleep 30"}), "", 40'000);
    INFO(r.err << "\n" << w.gate->Log());
    CHECK(r.exit_code != 0);
    CHECK(r.err.find("hopgate: idle timeout (2s, rule alice-db)") != std::string::npos);
    REQUIRE(w.gate->WaitForAudit("session_limit", "limit", "idle_timeout", 5000));
  }
  SECTION("max_session") {
    World w("    max_session: 3s\n");
    // Output keeps the session busy: only the time limit can end it.
    RunResult r = Run(w.Ssh({"while true; do echo tick; sleep 0.5; done"}), "", 40'000);
    INFO(r.err << "\n" << w.gate->Log());
    CHECK(r.exit_code != 0);
    CHECK(r.out.find("tick") != std::string::npos);
    CHECK(r.err.find("hopgate: session time limit reached (max_session 3s, rule alice-db)") !=
          std::string::npos);
    REQUIRE(w.gate->WaitForAudit("session_limit", "limit", "max_session", 5000));
    // The minted certificate expires with the session (plus a minute).
    std::string log = ReadFile(w.target->log_path());
    CHECK(log.find("ID hopgate:alice:") != std::string::npos);
  }
}
