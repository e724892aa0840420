// The SFTP observer against OpenSSH's own sftp-server: the test speaks SFTP
// to a real server process over pipes and feeds both byte streams to the
// observer, so the parser is checked against what OpenSSH actually sends.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "audit/sftp.h"
#include "audit/sftp_testing.h"
#include "common/wire.h"

using namespace hopgate;
using namespace hopgate::audit;
using namespace hopgate::audit::sftp_testing;

namespace {

constexpr char kServer[] = "/usr/lib/openssh/sftp-server";

struct Reply {
  uint8_t type = 0;
  uint32_t id = 0;
  uint32_t code = 0;    // STATUS
  std::string string;   // HANDLE's handle, DATA's data
  std::string raw;      // the whole packet with its length
};

// sftp-server as a child process; every byte both ways also goes to `obs`.
class ServerProcess {
 public:
  explicit ServerProcess(SftpObserver* obs) : obs_(obs) {
    signal(SIGPIPE, SIG_IGN);
    int in[2], out[2];
    REQUIRE(pipe2(in, O_CLOEXEC) == 0);
    REQUIRE(pipe2(out, O_CLOEXEC) == 0);
    pid_ = fork();
    REQUIRE(pid_ >= 0);
    if (pid_ == 0) {
      dup2(in[0], 0);
      dup2(out[1], 1);
      execl(kServer, kServer, "-e", "-l", "ERROR", static_cast<char*>(nullptr));
      _exit(127);
    }
    close(in[0]);
    close(out[1]);
    to_ = in[1];
    from_ = out[0];
  }
  ~ServerProcess() {
    close(to_);
    close(from_);
    int status;
    waitpid(pid_, &status, 0);
  }

  void Send(const std::string& packet) {
    Add(false, packet);
    REQUIRE(obs_->FromClient(packet).ok());
    for (size_t off = 0; off < packet.size();) {
      ssize_t n = write(to_, packet.data() + off, packet.size() - off);
      REQUIRE(n > 0);
      off += static_cast<size_t>(n);
    }
  }

  Reply Receive() {
    Reply r;
    r.raw = ReadN(4);
    WireReader len_reader(r.raw);
    uint32_t len = 0;
    REQUIRE(len_reader.ReadU32(&len));
    REQUIRE(len < 1024 * 1024);
    r.raw += ReadN(len);
    Add(true, r.raw);
    // Fed in two uneven pieces, as a channel might deliver it.
    size_t cut = r.raw.size() / 3;
    REQUIRE(obs_->FromServer(std::string_view(r.raw).substr(0, cut)).ok());
    REQUIRE(obs_->FromServer(std::string_view(r.raw).substr(cut)).ok());
    WireReader p(std::string_view(r.raw).substr(4));
    REQUIRE(p.ReadU8(&r.type));
    if (r.type == kVersion) return r;
    REQUIRE(p.ReadU32(&r.id));
    if (r.type == kStatus) REQUIRE(p.ReadU32(&r.code));
    if (r.type == kHandle || r.type == kData) REQUIRE(p.ReadString(&r.string));
    return r;
  }

  // One request, one reply of the expected type.
  Reply Call(const std::string& packet, uint8_t want_type, uint32_t want_code = 0) {
    Send(packet);
    Reply r = Receive();
    REQUIRE(r.type == want_type);
    if (want_type == kStatus) REQUIRE(r.code == want_code);
    return r;
  }

  std::vector<Chunk> runs;  // both streams in causal order

 private:
  void Add(bool from_server, const std::string& p) {
    if (runs.empty() || runs.back().from_server != from_server) runs.push_back({from_server, ""});
    runs.back().bytes += p;
  }

  std::string ReadN(size_t n) {
    std::string s(n, '\0');
    for (size_t off = 0; off < n;) {
      ssize_t got = read(from_, s.data() + off, n - off);
      REQUIRE(got > 0);
      off += static_cast<size_t>(got);
    }
    return s;
  }

  SftpObserver* obs_;
  pid_t pid_ = -1;
  int to_ = -1, from_ = -1;
};

std::string Show(const SftpOp& o) {
  return o.op + " " + o.path + " -> " + o.new_path + " [" + o.mode + "] r=" +
         std::to_string(o.bytes_read) + " w=" + std::to_string(o.bytes_written) + " " +
         o.status;
}

// Uploads `size` bytes, reads them back, and exercises every reported
// operation under `root`. Returns what the observer reported.
std::vector<std::string> RunSession(const std::string& root, size_t size,
                                    std::vector<Chunk>* runs = nullptr) {
  SftpObserver obs;
  std::vector<std::string> ops;
  {
    ServerProcess sp(&obs);
    sp.Send(Init());
    Reply v = sp.Receive();
    REQUIRE(v.type == kVersion);
    CHECK(v.raw.find("posix-rename@openssh.com") != std::string::npos);

    std::string f = root + "/f.bin", content;
    for (size_t i = 0; i < size; ++i) content.push_back(static_cast<char>('a' + i % 26));
    std::string h = sp.Call(Open(1, f, kFxfWrite | kCreat | kTrunc), kHandle).string;
    // Pipelined 32 KiB writes, as sftp's put does.
    uint32_t id = 100, writes = 0;
    for (size_t off = 0; off < size; off += 32768, ++writes) {
      sp.Send(Write(id++, h, off, std::string_view(content).substr(off, 32768)));
    }
    for (uint32_t i = 0; i < writes; ++i) REQUIRE(sp.Receive().code == 0);
    sp.Call(Close(id++, h), kStatus);

    h = sp.Call(Open(id++, f, kFxfRead), kHandle).string;
    uint32_t reads = 0;
    for (size_t off = 0; off <= size; off += 32768, ++reads) {
      sp.Send(Read(id++, h, off, 32768));
    }
    std::string back;
    for (uint32_t i = 0; i < reads; ++i) {
      Reply r = sp.Receive();
      if (r.type == kData) back += r.string;
      else REQUIRE(r.code == 1);  // EOF
    }
    CHECK(back == content);
    sp.Call(Close(id++, h), kStatus);

    sp.Call(Open(id++, root + "/missing", kFxfRead), kStatus, 2);
    WireWriter perms;
    perms.PutU32(kAttrPermissions);
    perms.PutU32(0640);
    sp.Call(PathAttrs(kSetstat, id++, f, perms.data()), kStatus);
    struct stat st;
    REQUIRE(stat(f.c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0640);
    sp.Call(Rename(id++, f, root + "/g.bin"), kStatus);
    sp.Call(Extended(id++, "posix-rename@openssh.com", Str(root + "/g.bin") + Str(root + "/h.bin")),
            kStatus);
    sp.Call(Symlink(id++, "h.bin", root + "/l"), kStatus);
    char target[64] = {};
    CHECK(readlink((root + "/l").c_str(), target, sizeof target - 1) == 5);
    CHECK(std::string(target) == "h.bin");  // OpenSSH's (target, link) order
    sp.Call(PathPkt(kRemove, id++, root + "/l"), kStatus);
    sp.Call(PathPkt(kRemove, id++, root + "/h.bin"), kStatus);
    sp.Call(PathAttrs(kMkdir, id++, root + "/d", NoAttrs()), kStatus);
    sp.Call(PathPkt(kRmdir, id++, root + "/d"), kStatus);
    sp.Call(PathPkt(kRmdir, id++, root + "/d"), kStatus, 2);
    sp.Call(PathPkt(kStat, id++, root), kAttrs);
    h = sp.Call(PathPkt(kOpendir, id++, root), kHandle).string;
    sp.Call(PathPkt(kReaddir, id++, h), 104 /* NAME */);
    sp.Call(Close(id++, h), kStatus);
    if (runs) *runs = sp.runs;
  }
  for (const auto& op : obs.TakeOps()) ops.push_back(Show(op));
  return ops;
}

}  // namespace

TEST_CASE("the observer follows a session with OpenSSH's sftp-server") {
  if (access(kServer, X_OK) != 0) {
    WARN(kServer << " not installed (openssh-sftp-server): real-server check skipped");
    return;
  }
  const char* tmp = getenv("TEST_TMPDIR");
  std::string root = std::string(tmp ? tmp : "/tmp") + "/sftp-root";
  REQUIRE((mkdir(root.c_str(), 0700) == 0 || errno == EEXIST));
  auto ops = RunSession(root, 100 * 1024);
  const std::string w = "write,create,truncate";
  CHECK(ops == std::vector<std::string>{
                   "open " + root + "/f.bin ->  [" + w + "] r=0 w=0 ok",
                   "close " + root + "/f.bin ->  [" + w + "] r=0 w=102400 ok",
                   "open " + root + "/f.bin ->  [read] r=0 w=0 ok",
                   "close " + root + "/f.bin ->  [read] r=102400 w=0 ok",
                   "open " + root + "/missing ->  [read] r=0 w=0 no such file",
                   "setstat " + root + "/f.bin ->  [] r=0 w=0 ok",
                   "rename " + root + "/f.bin -> " + root + "/g.bin [] r=0 w=0 ok",
                   "rename " + root + "/g.bin -> " + root + "/h.bin [] r=0 w=0 ok",
                   "symlink " + root + "/l -> h.bin [] r=0 w=0 ok",
                   "remove " + root + "/l ->  [] r=0 w=0 ok",
                   "remove " + root + "/h.bin ->  [] r=0 w=0 ok",
                   "mkdir " + root + "/d ->  [] r=0 w=0 ok",
                   "rmdir " + root + "/d ->  [] r=0 w=0 ok",
                   "rmdir " + root + "/d ->  [] r=0 w=0 no such file",
               });

  // SFTP_SEED_DIR=dir: a small real session as a fuzz seed.
  if (const char* dir = getenv("SFTP_SEED_DIR")) {
    std::vector<Chunk> runs;
    RunSession(root, 2000, &runs);
    std::ofstream(std::string(dir) + "/real_sftp_server.bin", std::ios::binary) << FuzzInput(runs);
  }
}
