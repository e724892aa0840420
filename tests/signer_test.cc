// The signer process (proxy/signer/signer.h) with real peers: recorded
// sessions log in with certificates only the signer can mint; a subverted
// network process asking for more is refused; a killed signer refuses the
// next recorded session with a clear message and the one after works; with
// `user:` no hopgate process runs as root.
#include <signal.h>
#include <sys/socket.h>
#include <pwd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <dirent.h>
#include <fstream>
#include <regex>
#include <set>

#include "common/encoding.h"
#include "proxy/signer/channel.h"
#include "proxy/signer/protocol.h"
#include "tests/support/recorded_world.h"

using namespace hopgate;
using namespace hopgate::testing;
namespace signer = hopgate::proxy::signer;

namespace {

// The pid of the signer's current worker, from the gateway's log.
pid_t WorkerPid(const Gate& gate) {
  static const std::regex kWorker(R"(signer: worker pid (\d+) started)");
  std::string log = gate.Log();
  pid_t pid = -1;
  for (std::sregex_iterator i(log.begin(), log.end(), kWorker), end; i != end; ++i) {
    pid = std::stoi((*i)[1].str());
  }
  return pid;
}

// "Uid:" / "Gid:" / "Groups:" / "CapEff:" line of /proc/PID/status.
std::string StatusLine(pid_t pid, const std::string& field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(field + ":", 0) == 0) return line;
  }
  return "";
}

// The inode of every SOCK_SEQPACKET unix socket (type 0005 in /proc/net/unix).
std::set<std::string> SeqpacketInodes() {
  std::ifstream in("/proc/net/unix");
  std::string line;
  std::set<std::string> out;
  std::getline(in, line);
  while (std::getline(in, line)) {
    std::istringstream f(line);
    std::string num, ref, proto, flags, type, st, inode;
    f >> num >> ref >> proto >> flags >> type >> st >> inode;
    if (type == "0005") out.insert(inode);
  }
  return out;
}

// What a subverted network process could do: take the gateway's own
// connection to the signer worker (pidfd_getfd, as root) and send it any
// request. Returns the signer's reply. The worker's socket is the gateway's
// newest SEQPACKET descriptor (the control socket to the keeper is older).
signer::Reply AskAsTheGateway(pid_t gateway, const signer::Request& q) {
  auto inodes = SeqpacketInodes();
  std::string dir = "/proc/" + std::to_string(gateway) + "/fd";
  int newest = -1;
  DIR* d = opendir(dir.c_str());
  REQUIRE(d != nullptr);
  while (dirent* e = readdir(d)) {
    char target[128] = {};
    std::string path = dir + "/" + e->d_name;
    if (readlink(path.c_str(), target, sizeof target - 1) <= 0) continue;
    std::string t(target);
    if (t.rfind("socket:[", 0) != 0) continue;
    if (inodes.count(t.substr(8, t.size() - 9))) newest = std::max(newest, atoi(e->d_name));
  }
  closedir(d);
  REQUIRE(newest >= 0);
  int pidfd = static_cast<int>(syscall(SYS_pidfd_open, gateway, 0));
  REQUIRE(pidfd >= 0);
  int fd = static_cast<int>(syscall(438 /* pidfd_getfd */, pidfd, newest, 0));
  close(pidfd);
  REQUIRE(fd >= 0);
  REQUIRE(signer::SendPacket(fd, signer::EncodeRequest(q)));
  auto packet = signer::ReceivePacket(fd, 10'000, signer::kMaxPacket);
  close(fd);
  REQUIRE(packet);
  auto reply = signer::DecodeReply(*packet);
  REQUIRE(reply);
  return *reply;
}

signer::Request MintFor(const RecordedWorld& w, const std::string& principal, uint64_t validity) {
  signer::Request q;
  q.id = 4242;
  q.kind = signer::Kind::kMintUserCertificate;
  q.mint.session_id = "forged";
  q.mint.user = "alice";
  q.mint.target_kind = 2;
  q.mint.target = "db1";
  q.mint.port = static_cast<uint16_t>(w.target->port());
  // Any valid ed25519 key: alice's own public key blob.
  std::istringstream line(w.alice.public_line);
  std::string type, b64;
  line >> type >> b64;
  q.mint.public_key = *Base64Decode(b64);
  q.mint.principals = {principal};
  q.mint.validity_seconds = validity;
  return q;
}

}  // namespace

TEST_CASE("signer: a recorded session logs in with a certificate the signer minted and logged") {
  RecordedWorld w;
  pid_t worker = WorkerPid(*w.gate);
  REQUIRE(worker > 0);
  CHECK(worker != w.gate->process().pid());
  RunResult r = Run(w.Ssh({"echo minted"}));
  INFO(r.err << "\n" << w.gate->Log());
  REQUIRE(r.exit_code == 0);
  CHECK(r.out == "minted\n");
  auto opens = w.gate->AuditEvents("session_open");
  REQUIRE(opens.size() == 1);
  std::string id = "hopgate:alice:" + opens[0]["session"].get<std::string>();
  CHECK(opens[0]["upstream_key_id"] == id);
  // The signer logged the signature: key id, principal, validity.
  CHECK(w.gate->Log().find("signer: signed user certificate " + id) != std::string::npos);
  CHECK(w.gate->Log().find("principals [root] valid 600s") != std::string::npos);
}

TEST_CASE("signer: a subverted network process gets no longer validity and no other principal") {
  RecordedWorld w;
  signer::Reply longer = AskAsTheGateway(w.gate->process().pid(), MintFor(w, "root", 3600));
  CHECK_FALSE(longer.ok);
  CHECK_THAT(longer.payload, Catch::Contains("3600s is over upstream.max_cert_validity (600s)"));
  signer::Reply other = AskAsTheGateway(w.gate->process().pid(), MintFor(w, "admin", 60));
  CHECK_FALSE(other.ok);
  CHECK_THAT(other.payload, Catch::Contains("principal \"admin\" is not allowed for alice on db1"));
  CHECK(w.gate->Log().find("signer: refused: principal \"admin\"") != std::string::npos);
  // Within the limits it signs (the key id is still the signer's own form).
  signer::Reply fine = AskAsTheGateway(w.gate->process().pid(), MintFor(w, "root", 60));
  CHECK(fine.ok);
  CHECK(w.gate->Log().find("signer: signed user certificate hopgate:alice:forged") !=
        std::string::npos);
  // Real sessions carry on.
  RunResult r = Run(w.Ssh({"true"}));
  INFO(r.err << "\n" << w.gate->Log());
  CHECK(r.exit_code == 0);
}

TEST_CASE("signer: killed, the next recorded session is refused clearly and the one after works") {
  // A second rule lets alice reach plain (not recorded) sshd's by address.
  RecordedWorld w("  - name: plain\n    users: [alice]\n    permit_open: [\"127.0.0.1:*\"]\n");
  Run({"mkdir", "-p", w.dir + "/plain"});
  Sshd plain(w.dir + "/plain", {w.alice.public_line});
  auto passthrough = [&] {
    return Run({"ssh", "-F", w.ssh_config, "-J", w.Jump(), "-p", std::to_string(plain.port()),
                "root@127.0.0.1", "echo passthrough"});
  };
  REQUIRE(Run(w.Ssh({"true"})).exit_code == 0);
  pid_t worker = WorkerPid(*w.gate);
  REQUIRE(worker > 0);
  REQUIRE(kill(worker, SIGKILL) == 0);
  // The keeper notices and starts a new worker.
  REQUIRE(WaitUntil([&] { return WorkerPid(*w.gate) != worker; }, 10'000));
  // Passthrough never needs the signer.
  RunResult pass = passthrough();
  INFO(pass.err << "\n" << w.gate->Log());
  CHECK(pass.exit_code == 0);
  CHECK(pass.out == "passthrough\n");

  // LogLevel INFO: ssh shows the gateway's banner with the reason.
  RunResult refused = Run({"ssh", "-F", w.ssh_config, "-o", "LogLevel=INFO", "-J", w.Jump(),
                           "root@db1", "echo should-not-run"});
  INFO(refused.err << "\n" << w.gate->Log());
  CHECK(refused.exit_code != 0);
  CHECK(refused.out.find("should-not-run") == std::string::npos);
  CHECK_THAT(refused.err, Catch::Contains("the signer process died"));
  CHECK_THAT(w.gate->Log(), Catch::Contains("refused this user_certificate request; the signer is "
                                            "being restarted"));
  auto opens = w.gate->AuditEvents("session_open");
  REQUIRE(opens.size() == 2);
  CHECK(opens[1]["result"] != "success");
  CHECK_THAT(opens[1].dump(), Catch::Contains("the signer process died"));

  RunResult again = Run(w.Ssh({"echo works-again"}));
  INFO(again.err);
  CHECK(again.exit_code == 0);
  CHECK(again.out == "works-again\n");
}

namespace {

// The pids of `parent`'s children.
std::vector<pid_t> Children(pid_t parent) {
  std::ifstream in("/proc/" + std::to_string(parent) + "/task/" + std::to_string(parent) +
                   "/children");
  std::vector<pid_t> out;
  pid_t pid;
  while (in >> pid) out.push_back(pid);
  return out;
}

// "Uid:\t65534\t65534\t65534\t65534": all four ids are `id`.
bool AllFour(const std::string& line, unsigned id) {
  std::istringstream f(line);
  std::string field;
  f >> field;
  unsigned v;
  int n = 0;
  while (f >> v) {
    if (v != id) return false;
    ++n;
  }
  return n == 4;
}

bool NoneLeft(const std::string& line) {  // "CapEff:\t0000000000000000"
  return line.find_first_not_of("0\t ", line.find(':') + 1) == std::string::npos;
}

}  // namespace

TEST_CASE("user: the network process and the signer run unprivileged; --check names what is not writable") {
  REQUIRE(getuid() == 0);  // the suite runs as root: this test needs it and says so
  struct passwd* nobody = getpwnam("nobody");
  REQUIRE(nobody != nullptr);
  const unsigned uid = nobody->pw_uid, gid = nobody->pw_gid;
  // Under /tmp: the test's own temp dir sits below /root, which nobody
  // cannot search.
  char base[] = "/tmp/hopgate-user-XXXXXX";
  REQUIRE(mkdtemp(base) != nullptr);
  chmod(base, 0755);
  const char* old_tmp = getenv("TEST_TMPDIR");
  std::string saved = old_tmp ? old_tmp : "";
  setenv("TEST_TMPDIR", base, 1);
  {
    // The gateway's directory (audit log) is handed to nobody before it
    // starts, as an administrator would; recordings/ is created for it.
    std::vector<std::string> launcher = {
        "sh", "-c", "chown nobody \"$(dirname \"$2\")\" && exec \"$0\" \"$@\""};
    RecordedWorld w("", "", "", launcher, "user: nobody\n");
    // The gateway's own line ("running as nobody (uid N, gid N); signer
    // pid ..."), not the signer's earlier "signer: running as nobody".
    REQUIRE(WaitUntil([&] { return w.gate->Log().find("); signer pid ") != std::string::npos; },
                      10'000));
    pid_t gw = w.gate->process().pid();
    INFO(w.gate->Log());
    CHECK(AllFour(StatusLine(gw, "Uid"), uid));
    CHECK(AllFour(StatusLine(gw, "Gid"), gid));
    CHECK(NoneLeft(StatusLine(gw, "Groups")));
    CHECK(NoneLeft(StatusLine(gw, "CapEff")));
    CHECK(NoneLeft(StatusLine(gw, "CapPrm")));
    // The signer: keeper (child of the gateway) and worker (its child).
    auto keepers = Children(gw);
    REQUIRE(keepers.size() == 1);
    auto workers = Children(keepers[0]);
    REQUIRE(workers.size() == 1);
    CHECK(workers[0] == WorkerPid(*w.gate));
    for (pid_t p : {keepers[0], workers[0]}) {
      CHECK(AllFour(StatusLine(p, "Uid"), uid));
      CHECK(NoneLeft(StatusLine(p, "CapEff")));
    }
    // Still serves recorded sessions: minted by the signer, written by nobody.
    RunResult r = Run(w.Ssh({"echo as-nobody"}));
    INFO(r.err);
    CHECK(r.exit_code == 0);
    CHECK(r.out == "as-nobody\n");
    REQUIRE(WaitUntil([&] { return !w.Closes().empty(); }, 5000));
    struct stat st;
    REQUIRE(stat(w.Closes()[0]["recording"].get<std::string>().c_str(), &st) == 0);
    CHECK(st.st_uid == uid);
    REQUIRE(stat((w.dir + "/recordings").c_str(), &st) == 0);
    CHECK(st.st_uid == uid);
    // The CA key stays root's, 0600.
    REQUIRE(stat(w.ca.private_path.c_str(), &st) == 0);
    CHECK(st.st_uid == 0);
    CHECK((st.st_mode & 0777) == 0600);

    // --check: an audit log directory nobody cannot write is named.
    std::string locked = std::string(base) + "/locked";
    Run({"mkdir", "-m", "0755", locked});
    std::string cfg = ReadFile(w.gate->config_path());
    cfg = std::regex_replace(cfg, std::regex("log: [^\n]*"), "log: " + locked + "/audit.jsonl");
    WriteFile(w.dir + "/locked.yaml", cfg, 0600);
    RunResult check = Run({Gate::Binary(), "--check", "--config", w.dir + "/locked.yaml"});
    CHECK(check.exit_code != 0);
    CHECK_THAT(check.err, Catch::Contains("directory " + locked +
                                          " is not writable by user nobody"));
    // A log directory that does not exist yet is fine: hopgate creates it,
    // owned by nobody, at start.
    std::string fresh = std::string(base) + "/fresh/var";
    cfg = std::regex_replace(cfg, std::regex("log: [^\n]*"), "log: " + fresh + "/audit.jsonl");
    WriteFile(w.dir + "/fresh.yaml", cfg, 0600);
    RunResult fresh_check = Run({Gate::Binary(), "--check", "--config", w.dir + "/fresh.yaml"});
    INFO(fresh_check.err);
    CHECK(fresh_check.exit_code == 0);
  }
  if (saved.empty()) {
    unsetenv("TEST_TMPDIR");
  } else {
    setenv("TEST_TMPDIR", saved.c_str(), 1);
  }
  Run({"rm", "-rf", base});
}
