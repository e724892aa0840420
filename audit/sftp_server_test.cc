// The SFTP gate and observer against OpenSSH's own sftp-server: the test
// speaks SFTP to a real server process over pipes, writes to it only what the
// gate forwards and feeds it the replies, so the parser is checked against
// what OpenSSH actually accepts and sends.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <iterator>
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

// sftp-server as a child process. Client bytes reach it through `obs`'s
// gate (or, with no observer, unchecked); its replies go to `obs`.
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

  // A valid packet, through the gate in two uneven pieces as a channel might
  // deliver it: the server gets what the gate forwards, which is all of it.
  void Send(const std::string& packet) {
    Add(false, packet);
    std::string forwarded;
    size_t cut = packet.size() * 2 / 3;
    REQUIRE(obs_->FromClient(std::string_view(packet).substr(0, cut), &forwarded).ok());
    REQUIRE(obs_->FromClient(std::string_view(packet).substr(cut), &forwarded).ok());
    REQUIRE(forwarded == packet);
    sent += packet;
    Write(forwarded);
  }

  // Straight to the server: what the gateway forwarded, or (for contrast)
  // what it would have refused.
  void Write(std::string_view bytes) {
    for (size_t off = 0; off < bytes.size();) {
      ssize_t n = write(to_, bytes.data() + off, bytes.size() - off);
      REQUIRE(n > 0);
      off += static_cast<size_t>(n);
    }
    written += bytes;
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
    if (obs_) {
      REQUIRE(obs_->FromServer(std::string_view(r.raw).substr(0, cut)).ok());
      REQUIRE(obs_->FromServer(std::string_view(r.raw).substr(cut)).ok());
    }
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
  std::string sent;         // client bytes offered to the gate
  std::string written;      // bytes the server received

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

std::string MakeRoot(const char* name) {
  const char* tmp = getenv("TEST_TMPDIR");
  std::string root = std::string(tmp ? tmp : "/tmp") + "/" + name;
  REQUIRE((mkdir(root.c_str(), 0700) == 0 || errno == EEXIST));
  return root;
}

bool Exists(const std::string& path) { return access(path.c_str(), F_OK) == 0; }

void Touch(const std::string& path) { REQUIRE(std::ofstream(path).good()); }

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

    // OpenSSH's extensions, each through the gate to the real server.
    h = sp.Call(Open(id++, f, kFxfRead), kHandle).string;
    std::string w =
        sp.Call(Open(id++, root + "/copy.bin", kFxfWrite | kCreat | kTrunc), kHandle).string;
    sp.Call(CopyData(id++, h, 0, 0, w, 0), kStatus);
    sp.Call(Extended(id++, "fsync@openssh.com", Str(w)), kStatus);
    sp.Call(Extended(id++, "fstatvfs@openssh.com", Str(h)), kExtendedReply);
    sp.Call(Close(id++, w), kStatus);
    sp.Call(Close(id++, h), kStatus);
    std::ifstream copied(root + "/copy.bin", std::ios::binary);
    CHECK(std::string(std::istreambuf_iterator<char>(copied), {}) == content);
    sp.Call(Hardlink(id++, root + "/copy.bin", root + "/hard.bin"), kStatus);
    struct stat st;
    REQUIRE(stat((root + "/hard.bin").c_str(), &st) == 0);
    CHECK(st.st_nlink == 2);
    sp.Call(Extended(id++, "statvfs@openssh.com", Str(root)), kExtendedReply);
    sp.Call(Extended(id++, "limits@openssh.com", ""), kExtendedReply);
    sp.Call(Extended(id++, "expand-path@openssh.com", Str(".")), kName);
    const passwd* pw = getpwuid(getuid());
    REQUIRE(pw != nullptr);
    sp.Call(Extended(id++, "home-directory", Str(pw->pw_name)), kName);
    sp.Call(Extended(id++, "users-groups-by-id@openssh.com",
                     Str(U32(getuid()) + U32(12345)) + Str(U32(getgid()))),
            kExtendedReply);
    sp.Call(PathPkt(kRemove, id++, root + "/hard.bin"), kStatus);
    sp.Call(PathPkt(kRemove, id++, root + "/copy.bin"), kStatus);

    sp.Call(Open(id++, root + "/missing", kFxfRead), kStatus, 2);
    WireWriter perms;
    perms.PutU32(kAttrPermissions);
    perms.PutU32(0640);
    sp.Call(PathAttrs(kSetstat, id++, f, perms.data()), kStatus);
    REQUIRE(stat(f.c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0640);
    sp.Call(Rename(id++, f, root + "/g.bin"), kStatus);
    sp.Call(Extended(id++, "posix-rename@openssh.com", Str(root + "/g.bin") + Str(root + "/h.bin")),
            kStatus);
    sp.Call(Symlink(id++, "h.bin", root + "/l"), kStatus);
    char target[64] = {};
    CHECK(readlink((root + "/l").c_str(), target, sizeof target - 1) == 5);
    CHECK(std::string(target) == "h.bin");  // OpenSSH's (target, link) order
    WireWriter times;
    times.PutU32(kAttrAcModTime);
    times.PutU32(1700000000);
    times.PutU32(1700000000);
    sp.Call(Extended(id++, "lsetstat@openssh.com", Str(root + "/l") + times.data()), kStatus);
    sp.Call(PathPkt(kRemove, id++, root + "/l"), kStatus);
    sp.Call(PathPkt(kRemove, id++, root + "/h.bin"), kStatus);
    sp.Call(PathAttrs(kMkdir, id++, root + "/d", NoAttrs()), kStatus);
    sp.Call(PathPkt(kRmdir, id++, root + "/d"), kStatus);
    sp.Call(PathPkt(kRmdir, id++, root + "/d"), kStatus, 2);
    sp.Call(PathPkt(kStat, id++, root), kAttrs);
    h = sp.Call(PathPkt(kOpendir, id++, root), kHandle).string;
    sp.Call(PathPkt(kReaddir, id++, h), 104 /* NAME */);
    sp.Call(Close(id++, h), kStatus);
    CHECK(sp.written == sp.sent);  // the whole session passed the gate
    if (runs) *runs = sp.runs;
  }
  for (const auto& op : obs.TakeOps()) ops.push_back(Show(op));
  return ops;
}

}  // namespace

TEST_CASE("the observer follows a session with OpenSSH's sftp-server") {
  INFO(kServer << " is not installed (apt-get install openssh-sftp-server)");
  REQUIRE(access(kServer, X_OK) == 0);
  std::string root = MakeRoot("sftp-root");
  auto ops = RunSession(root, 100 * 1024);
  const std::string w = "write,create,truncate";
  CHECK(ops == std::vector<std::string>{
                   "open " + root + "/f.bin ->  [" + w + "] r=0 w=0 ok",
                   "close " + root + "/f.bin ->  [" + w + "] r=0 w=102400 ok",
                   "open " + root + "/f.bin ->  [read] r=0 w=0 ok",
                   "close " + root + "/f.bin ->  [read] r=102400 w=0 ok",
                   "open " + root + "/f.bin ->  [read] r=0 w=0 ok",
                   "open " + root + "/copy.bin ->  [" + w + "] r=0 w=0 ok",
                   "copy-data " + root + "/f.bin -> " + root + "/copy.bin [] r=0 w=0 ok",
                   "close " + root + "/copy.bin ->  [" + w + "] r=0 w=0 ok",
                   "close " + root + "/f.bin ->  [read] r=0 w=0 ok",
                   "hardlink " + root + "/hard.bin -> " + root + "/copy.bin [] r=0 w=0 ok",
                   "remove " + root + "/hard.bin ->  [] r=0 w=0 ok",
                   "remove " + root + "/copy.bin ->  [] r=0 w=0 ok",
                   "open " + root + "/missing ->  [read] r=0 w=0 no such file",
                   "setstat " + root + "/f.bin ->  [] r=0 w=0 ok",
                   "rename " + root + "/f.bin -> " + root + "/g.bin [] r=0 w=0 ok",
                   "rename " + root + "/g.bin -> " + root + "/h.bin [] r=0 w=0 ok",
                   "symlink " + root + "/l -> h.bin [] r=0 w=0 ok",
                   "setstat " + root + "/l ->  [] r=0 w=0 ok",
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

// The attack the gate exists for: OpenSSH's sftp-server obeys a REMOVE with a
// trailing byte (it skips what its handler left unread) and a request reusing
// an outstanding id. Without the gate the file goes; through it, the packet
// is refused, the server gets only what came before it, and the file stays.
TEST_CASE("a request the gate refuses never reaches sftp-server, which would obey it") {
  INFO(kServer << " is not installed (apt-get install openssh-sftp-server)");
  REQUIRE(access(kServer, X_OK) == 0);
  const std::string root = MakeRoot("sftp-gate");
  const std::string first = root + "/first", victim = root + "/victim", after = root + "/after";
  struct Case {
    const char* what;
    std::string refused;  // removes `victim`, if the server ever sees it
    const char* reason;
  };
  const Case cases[] = {
      {"trailing byte", WithTrailing(PathPkt(kRemove, 2, victim), "x"),
       "(REMOVE): 1 trailing byte"},
      {"reused id", PathPkt(kRemove, 1, victim), "request id 1 reused"},
  };
  for (const Case& c : cases) {
    INFO(c.what);
    const std::string stream =
        PathPkt(kRemove, 1, first) + c.refused + PathPkt(kRemove, 3, after);
    SECTION(std::string("without the gate: ") + c.what) {
      for (const auto& p : {first, victim, after}) Touch(p);
      ServerProcess sp(nullptr);
      sp.Write(Init());
      REQUIRE(sp.Receive().type == kVersion);
      sp.Write(stream);
      for (int i = 0; i < 3; ++i) CHECK(sp.Receive().code == 0);
      CHECK_FALSE(Exists(victim));  // what the observer alone failed to report
    }
    SECTION(std::string("through the gate: ") + c.what) {
      for (const auto& p : {first, victim, after}) Touch(p);
      SftpObserver obs;
      {
        ServerProcess sp(&obs);
        sp.Send(Init());
        REQUIRE(sp.Receive().type == kVersion);
        std::string forwarded;
        Status st = obs.FromClient(stream, &forwarded);
        CHECK_THAT(st.message(), Catch::Matchers::Contains(c.reason));
        CHECK(forwarded == PathPkt(kRemove, 1, first));
        sp.Write(forwarded);  // then the gateway closes the channel
        CHECK(sp.Receive().code == 0);
      }
      CHECK_FALSE(Exists(first));
      CHECK(Exists(victim));
      CHECK(Exists(after));
      auto ops = obs.TakeOps();
      REQUIRE(ops.size() == 1);
      CHECK(Show(ops[0]) == "remove " + first + " ->  [] r=0 w=0 ok");
    }
  }
}
