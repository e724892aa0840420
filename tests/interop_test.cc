// Recorded sessions for every common client, not only OpenSSH: paramiko,
// asyncssh, PuTTY (plink, pscp, psftp) and Dropbear (dbclient) each run a
// command and move a file over SFTP through a recorded host, and a client
// that shares no cipher is refused with a reason in the audit log. OpenSSH
// sessions shared through a control master keep their exit statuses.
#include <catch2/catch.hpp>

#include <unistd.h>

#include "tests/support/harness.h"
#include "tests/support/recorded_world.h"

using namespace hopgate::testing;

namespace {

std::string Support(const std::string& file) {
  const char* src = getenv("TEST_SRCDIR");
  std::string rel = "tests/support/" + file;
  if (src != nullptr) {
    std::string p = std::string(src) + "/hopgate/" + rel;
    if (access(p.c_str(), R_OK) == 0) return p;
  }
  return rel;
}

std::string Strip(std::string line) {
  while (!line.empty() && (line.back() == '\n' || line.back() == ' ')) line.pop_back();
  return line.substr(0, line.rfind(' '));  // drop the comment
}

struct Interop {
  RecordedWorld w;
  std::string local = w.dir + "/local.bin";
  std::string gate_port = std::to_string(w.gate->port());
  std::string interception = Strip(ReadFile(w.dir + "/recording_host_ed25519.pub"));

  Interop() { WriteRandomFile(local, 1 << 20); }

  // Every recorded session so far ran its command and closed cleanly.
  void CheckAudited(size_t sessions) {
    size_t ok = 0;
    for (const auto& e : w.gate->AuditEvents("session_open")) ok += e["result"] == "success";
    CHECK(ok == sessions);
  }
};

}  // namespace

TEST_CASE("paramiko and asyncssh: exec and sftp through a recorded host") {
  Interop t;
  for (const char* client : {"paramiko", "asyncssh"}) {
    INFO(client);
    std::string remote = t.w.dir + "/remote-" + client, back = t.w.dir + "/back-" + client;
    RunResult r = Run({"/usr/bin/python3", Support("other_clients.py"), client, "--port",
                       t.gate_port, "--key", t.w.alice.private_path, "--host-key",
                       t.interception, "--command", std::string("echo via-") + client,
                       "--local", t.local, "--remote", remote, "--back", back},
                      "", 60'000);
    INFO(r.out << r.err << t.w.gate->Log());
    REQUIRE(r.out.find('{') != std::string::npos);
    auto j = nlohmann::json::parse(r.out.substr(r.out.find('{')));
    CHECK(j["exec"] == std::string("via-") + client + "\n");
    CHECK(j["exit"] == 0);
    CHECK(j["sftp_roundtrip"] == true);
    CHECK(j["host_key_ok"] == true);
  }
  t.CheckAudited(2);
  // paramiko has no AES-GCM: the session still happened, with AES-CTR.
  int sftp_ops = 0;
  for (const auto& e : t.w.gate->AuditEvents("sftp")) sftp_ops += e["op"] == "close";
  CHECK(sftp_ops >= 4);
}

TEST_CASE("PuTTY: plink, pscp and psftp through a recorded host") {
  Interop t;
  std::string ppk = t.w.dir + "/alice.ppk";
  REQUIRE(Run({"puttygen", t.w.alice.private_path, "-O", "private", "-o", ppk}).exit_code == 0);
  std::string proxy = "plink -batch -i " + ppk + " -hostkey " +
                      KeyFingerprint(t.w.dir + "/host_ed25519.pub") + " -P " + t.gate_port +
                      " -nc db1:22 alice@127.0.0.1";
  std::vector<std::string> common = {"-batch", "-i", ppk, "-hostkey",
                                     KeyFingerprint(t.w.dir + "/recording_host_ed25519.pub"),
                                     "-proxycmd", proxy};
  auto with = [&](std::vector<std::string> head, const std::vector<std::string>& tail) {
    head.insert(head.end(), common.begin(), common.end());
    head.insert(head.end(), tail.begin(), tail.end());
    return head;
  };
  RunResult exec = Run(with({"plink"}, {"root@db1", "echo via-plink"}), "", 60'000);
  INFO(exec.err << t.w.gate->Log());
  CHECK(exec.out == "via-plink\n");
  std::string remote = t.w.dir + "/remote-pscp";
  RunResult put = Run(with({"pscp", "-sftp", "-q"}, {t.local, "root@db1:" + remote}), "", 60'000);
  INFO(put.err);
  CHECK(put.exit_code == 0);
  CHECK(Sha256OfFile(remote) == Sha256OfFile(t.local));
  std::string batch = t.w.dir + "/psftp.batch", back = t.w.dir + "/back-psftp";
  WriteFile(batch, "get " + remote + " " + back + "\n");
  RunResult get = Run(with({"psftp", "-b", batch}, {"root@db1"}), "", 60'000);
  INFO(get.out << get.err);
  CHECK(get.exit_code == 0);
  CHECK(Sha256OfFile(back) == Sha256OfFile(t.local));
  t.CheckAudited(3);
}

TEST_CASE("Dropbear: dbclient exec and sftp through a recorded host") {
  Interop t;
  std::string key = t.w.dir + "/alice.db";
  REQUIRE(Run({"dropbearconvert", "openssh", "dropbear", t.w.alice.private_path, key}).exit_code ==
          0);
  Run({"mkdir", "-p", t.w.dir + "/.ssh"});
  std::string proxy = "dbclient -y -i " + key + " -p " + t.gate_port + " -B db1:22 alice@127.0.0.1";
  RunResult exec = Run({"env", "HOME=" + t.w.dir, "dbclient", "-y", "-i", key, "-J", proxy,
                        "root@db1", "echo via-dropbear"},
                       "", 60'000);
  INFO(exec.err << t.w.gate->Log());
  CHECK(exec.out == "via-dropbear\n");
  // OpenSSH's sftp driving dbclient as its transport (`sftp -S`).
  std::string wrapper = t.w.dir + "/dbclient-sftp";
  WriteFile(wrapper,
            "#!/bin/sh\n"
            "# sftp passes OpenSSH -o options dbclient does not know: drop them.\n"
            "host=''; for a in \"$@\"; do :; done\n"
            "exec dbclient -y -i " + key + " -J \"" + proxy + "\" -s root@db1 sftp\n",
            0755);
  std::string remote = t.w.dir + "/remote-dropbear", back = t.w.dir + "/back-dropbear";
  std::string batch = t.w.dir + "/sftp.batch";
  WriteFile(batch, "put " + t.local + " " + remote + "\nget " + remote + " " + back + "\n");
  RunResult sftp = Run({"env", "HOME=" + t.w.dir, "sftp", "-S", wrapper, "-b", batch, "root@db1"},
                       "", 60'000);
  INFO(sftp.out << sftp.err);
  CHECK(sftp.exit_code == 0);
  CHECK(Sha256OfFile(back) == Sha256OfFile(t.local));
  t.CheckAudited(2);
}

TEST_CASE("RSA and ECDSA interception keys (recording.host_keys): a client that asks for one gets it") {
  std::string keys = MakeTempDir("interception");
  for (const auto& [type, bits] : {std::pair<std::string, std::string>{"rsa", "3072"},
                                   std::pair<std::string, std::string>{"ecdsa", "256"}}) {
    RunResult k = Run({"ssh-keygen", "-q", "-t", type, "-b", bits, "-N", "", "-f",
                       keys + "/rec_" + type});
    REQUIRE(k.exit_code == 0);
  }
  RecordedWorld w("", "", "", {},
                  "recording:\n  host_keys: [" + keys + "/rec_rsa, " + keys + "/rec_ecdsa]\n");
  // hopctl known-hosts vouches for both keys as db1's.
  std::string kh = ReadFile(w.known_hosts);
  CHECK(kh.find(Strip(ReadFile(keys + "/rec_rsa.pub"))) != std::string::npos);
  CHECK(kh.find(Strip(ReadFile(keys + "/rec_ecdsa.pub"))) != std::string::npos);
  for (const std::string alg : {"rsa-sha2-512", "rsa-sha2-256", "ecdsa-sha2-nistp256"}) {
    INFO(alg);
    RunResult r = Run(w.Ssh({"-o", "HostKeyAlgorithms=" + alg, "echo", "via-" + alg}), "", 60'000);
    INFO(r.err << w.gate->Log());
    CHECK(r.exit_code == 0);
    CHECK(r.out == "via-" + alg + "\n");
  }
  // An Ed25519-only client finds no key it accepts: refused (audited), not
  // served with a key it did not ask for.
  RunResult ed = Run(w.Ssh({"-o", "HostKeyAlgorithms=ssh-ed25519", "true"}), "", 60'000);
  CHECK(ed.exit_code != 0);
  REQUIRE(WaitUntil(
      [&] {
        for (const auto& e : w.gate->AuditEvents("session_open")) {
          if (e["result"] == "failure") return true;
        }
        return false;
      },
      5'000));
  size_t ok = 0;
  for (const auto& e : w.gate->AuditEvents("session_open")) ok += e["result"] == "success";
  CHECK(ok == 3);
}

TEST_CASE("a client with no common cipher is refused at once, with the reason audited") {
  Interop t;
  auto failure = [&] {
    REQUIRE(WaitUntil([&] { return !t.w.gate->AuditEvents("session_open").empty(); }, 5'000));
    auto opens = t.w.gate->AuditEvents("session_open");
    REQUIRE(opens.size() == 1);
    CHECK(opens[0]["result"] == "failure");
    return opens[0]["reason"].get<std::string>();
  };
  SECTION("OpenSSH") {
    RunResult r = Run(t.w.Ssh({"-o", "Ciphers=aes128-cbc", "true"}), "", 30'000);
    INFO(r.err << t.w.gate->Log());
    CHECK(r.exit_code != 0);
    // OpenSSH sees the mismatch too and may hang up before the gateway
    // reads its offer: the failure is audited either way.
    CHECK(failure().find("inner key exchange failed: ") == 0);
  }
  SECTION("a client that would wait (the gateway closes the channel)") {
    RunResult r = Run({"/usr/bin/python3", Support("other_clients.py"), "no-common-cipher",
                       "--port", t.gate_port, "--key", t.w.alice.private_path},
                      "", 60'000);
    INFO(r.out << r.err << t.w.gate->Log());
    REQUIRE(r.out.find('{') != std::string::npos);
    auto j = nlohmann::json::parse(r.out.substr(r.out.find('{')));
    CHECK_FALSE(j["inner_error"].get<std::string>().empty());
    CHECK(j["outer_closed"] == true);
    REQUIRE(WaitUntil([&] { return !t.w.gate->AuditEvents("channel_close").empty(); }, 5'000));
    CHECK(t.w.gate->AuditEvents("channel_close")[0]["reason"] == "the recorded session ended");
    CHECK(failure().find("no common cipher: client offered aes128-cbc") != std::string::npos);
  }
}

TEST_CASE("OpenSSH control master: each shared session through a recorded host gets its exit status") {
  // The master closes a session's channel as soon as both directions saw
  // EOF: an exit status the gateway passed on after its EOF was lost and
  // the command's ssh exited 255 (about one in ten here before the fix).
  RecordedWorld w;
  std::string mux = "/tmp/hg-interop-mux-" + std::to_string(getpid());
  auto Shared = [&](const std::string& command) {
    return Run(w.Ssh({"-o", "ControlMaster=auto", "-o", "ControlPath=" + mux, "-o",
                      "ControlPersist=60", command}),
               "", 60'000);
  };
  for (int i = 0; i < 12; ++i) {
    INFO("session " << i);
    RunResult r = Shared("echo shared-" + std::to_string(i) + "; exit " + std::to_string(i % 4));
    INFO(r.err);
    CHECK(r.out == "shared-" + std::to_string(i) + "\n");
    CHECK(r.exit_code == i % 4);
  }
  Run({"ssh", "-o", "ControlPath=" + mux, "-O", "exit", "db1"});
  REQUIRE(WaitUntil([&] { return w.Closes().size() == 12; }, 10'000));
  std::string connection = w.Closes()[0]["connection"];
  for (size_t i = 0; i < 12; ++i) {
    CHECK(w.Closes()[i]["connection"] == connection);  // one connection, twelve channels
    CHECK(w.Closes()[i]["exit_status"] == static_cast<int>(i % 4));
  }
}
