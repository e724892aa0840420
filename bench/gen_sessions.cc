// Benchmark input for bench/audit_search.sh: an audit log written by the
// gateway's own FileSink and asciicast recordings written by its own
// CastWriter, as a real gateway would leave them after many recorded
// shell sessions: coloured prompts, command output with words, numbers,
// paths and hex. One session, in the middle, prints a rare marker once.
//
// Usage: gen_sessions --dir DIR --size-mib N --marker TEXT [--sessions K]
// Prints the marker's session id on standard output.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "audit/asciicast.h"
#include "audit/sink.h"

using namespace hopgate;
using namespace hopgate::audit;

namespace {

struct Rng {
  uint64_t s = 0x9E3779B97F4A7C15ull;
  uint64_t Next() {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    return s;
  }
  size_t Below(size_t n) { return static_cast<size_t>(Next() % n); }
};

std::vector<std::string> Vocabulary(Rng& rng, size_t n) {
  std::vector<std::string> words;
  for (size_t i = 0; i < n; ++i) {
    std::string w;
    size_t len = 2 + rng.Below(9);
    for (size_t k = 0; k < len; ++k) w.push_back(static_cast<char>('a' + rng.Below(26)));
    words.push_back(w);
  }
  return words;
}

// One line of plausible terminal output.
std::string Line(Rng& rng, const std::vector<std::string>& words) {
  std::string l;
  switch (rng.Below(10)) {
    case 0:
      l = "\x1b[01;32mroot@db1\x1b[00m:\x1b[01;34m~\x1b[00m# ";
      break;
    case 1:
      l = "/var/lib/" + words[rng.Below(words.size())] + "/" + words[rng.Below(words.size())] + " ";
      break;
    case 2: {
      char hex[24];
      snprintf(hex, sizeof hex, "%016llx ", static_cast<unsigned long long>(rng.Next()));
      l = hex;
      break;
    }
    default:
      break;
  }
  size_t n = 4 + rng.Below(10);
  for (size_t i = 0; i < n; ++i) {
    if (rng.Below(5) == 0) {
      l += std::to_string(rng.Below(100000));
    } else {
      l += words[rng.Below(words.size())];
    }
    l += i + 1 < n ? " " : "\r\n";
  }
  return l;
}

std::string ConnId(size_t i) {
  char id[32];
  snprintf(id, sizeof id, "c%016zx", i * 2654435761u + 1);
  return id;
}

void Must(const Status& st, const char* what) {
  if (!st) {
    fprintf(stderr, "gen_sessions: %s: %s\n", what, st.message().c_str());
    exit(1);
  }
}

struct Gen {
  std::string dir;
  std::unique_ptr<FileSink> sink;
  int64_t now = 1795932189000;  // 2026-11-29T06:03:09Z
  Rng rng;
  std::vector<std::string> words;

  void W(const std::string& conn, Body b) { Must(sink->Write(Event{now += 7, conn, std::move(b)}), "audit log"); }

  void Session(size_t i, uint64_t bytes, const std::string& marker) {
    std::string conn = ConnId(i), session = conn + "-0";
    std::string user = i % 3 == 0 ? "bob" : "alice";
    W(conn, ConnectionOpen{"198.51.100." + std::to_string(i % 250 + 1), static_cast<uint16_t>(40000 + i % 20000), "0.0.0.0:2222"});
    Auth a;
    a.user = user;
    a.client_addr = "198.51.100." + std::to_string(i % 250 + 1);
    a.method = "publickey";
    a.key_type = "ssh-ed25519";
    a.fingerprint = "SHA256:bench-" + user;
    a.success = true;
    W(conn, a);
    ChannelOpen c;
    c.kind = "direct-tcpip";
    c.destination = "db1:22";
    c.dial = "10.0.0.5:22";
    c.allow = true;
    c.rule = "dba-db1";
    c.policy_version = "sha256:10c22bdd0273f078";
    c.recorded = true;
    c.host = "db1";
    W(conn, c);
    SessionOpen so;
    so.session = session;
    so.user = user;
    so.login = "root";
    so.target = "db1:22";
    so.rule = "dba-db1";
    so.success = true;
    W(conn, so);
    SessionRequest r;
    r.session = session;
    r.request = "shell";
    r.allow = true;
    r.policy_version = c.policy_version;
    W(conn, r);
    auto out = FileCastOutput::Create(dir + "/recordings/2026/11/29/" + session + "-0.cast");
    if (!out) Must(out.error(), "recording");
    CastHeader h;
    h.timestamp = now / 1000;
    h.title = user + " as root on db1:22";
    CastWriter cw(out->get(), h, now);
    int64_t t = now;
    std::string chunk;
    bool planted = marker.empty();
    while ((*out)->size() + cw.bytes_buffered() < bytes) {
      chunk.clear();
      while (chunk.size() < 2048) chunk += Line(rng, words);
      if (!planted && (*out)->size() > bytes / 2) {
        chunk += "lookup result: " + marker + " found in table\r\n";
        planted = true;
      }
      Must(cw.Output(t += 40, chunk), "recording");
    }
    Must(cw.Close(t), "recording");
    Must((*out)->Close(), "recording");
    now = t;
    SessionClose sc;
    sc.session = session;
    sc.kind = "session";
    sc.recording = (*out)->path();
    sc.recording_sha256 = (*out)->Sha256Hex();
    sc.recording_size = (*out)->size();
    sc.exit_status = 0;
    sc.bytes_client_to_target = 4096;
    sc.bytes_target_to_client = (*out)->size();
    sc.reason = "closed by the target";
    W(conn, sc);
    ChannelClose cc;
    cc.kind = "direct-tcpip";
    cc.destination = "db1:22";
    cc.bytes_client_to_target = 8192;
    cc.bytes_target_to_client = (*out)->size() + 4096;
    cc.reason = "client disconnected";
    W(conn, cc);
    W(conn, ConnectionClose{user, "client disconnected", t - now, 1});
  }
};

}  // namespace

int main(int argc, char** argv) {
  std::string dir, marker;
  uint64_t size_mib = 1024;
  size_t sessions = 1000;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i], v = argv[i + 1];
    if (k == "--dir") dir = v;
    else if (k == "--size-mib") size_mib = std::strtoull(v.c_str(), nullptr, 10);
    else if (k == "--marker") marker = v;
    else if (k == "--sessions") sessions = std::strtoull(v.c_str(), nullptr, 10);
  }
  if (dir.empty() || marker.empty() || size_mib == 0 || sessions == 0) {
    fprintf(stderr, "usage: gen_sessions --dir DIR --size-mib N --marker TEXT [--sessions K]\n");
    return 2;
  }
  Gen g;
  g.dir = dir;
  g.words = Vocabulary(g.rng, 50000);
  auto sink = FileSink::Open(dir + "/audit.jsonl");
  if (!sink) Must(sink.error(), "audit log");
  g.sink = std::move(*sink);
  uint64_t per = (size_mib << 20) / sessions;
  for (size_t i = 0; i < sessions; ++i) g.Session(i, per, i == sessions / 2 ? marker : "");
  printf("%s\n", ConnId(sessions / 2).c_str());
  return 0;
}
