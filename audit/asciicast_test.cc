#include <catch2/catch.hpp>

#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "audit/asciicast.h"

using namespace hopgate;
using namespace hopgate::audit;
using nlohmann::json;

namespace {

std::vector<std::string> Lines(const std::string& data) {
  std::vector<std::string> lines;
  std::istringstream in(data);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// Every line parsed (throws, failing the test, on invalid JSON or UTF-8).
std::vector<json> Parse(const std::string& data) {
  std::vector<json> out;
  for (const auto& line : Lines(data)) out.push_back(json::parse(line));
  return out;
}

// The data of all events with `code`, concatenated.
std::string Joined(const std::string& data, const std::string& code) {
  std::string s;
  auto docs = Parse(data);
  for (size_t i = 1; i < docs.size(); ++i) {
    if (docs[i][1] == code) s += docs[i][2].get<std::string>();
  }
  return s;
}

std::string TmpDir() {
  const char* t = getenv("TEST_TMPDIR");
  return t ? t : "/tmp";
}

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string Run(const std::string& cmd) {
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return out;
  char buf[4096];
  for (size_t n; (n = fread(buf, 1, sizeof buf, p)) > 0;) out.append(buf, n);
  pclose(p);
  return out;
}

const std::string kE = "\xC3\xA9";                  // é
const std::string kEmoji = "\xF0\x9F\x98\x80";      // 😀
const std::string kFffd = "\xEF\xBF\xBD";           // U+FFFD

}  // namespace

TEST_CASE("header carries the asciicast fields and hopgate's own, version first") {
  MemoryCastOutput out;
  CastHeader h;
  h.width = 132;
  h.height = 43;
  h.timestamp = 1795168800;
  h.command = "uptime";
  h.title = "alice@db1";
  h.env = {{"TERM", "xterm-256color"}, {"SHELL", "/bin/bash"}};
  h.hopgate = {{"user", "alice"}, {"target", "db1:22"}, {"session_id", "s-1"}};
  CastWriter w(&out, h, 1795168800000);
  REQUIRE(w.Start().ok());  // already started by the constructor: no second header
  auto lines = Lines(out.data);
  REQUIRE(lines.size() == 1);
  CHECK(lines[0].rfind("{\"version\":2,", 0) == 0);
  json j = json::parse(lines[0]);
  CHECK(j["version"] == 2);
  CHECK(j["width"] == 132);
  CHECK(j["height"] == 43);
  CHECK(j["timestamp"] == 1795168800);
  CHECK(j["command"] == "uptime");
  CHECK(j["title"] == "alice@db1");
  CHECK(j["env"] == json({{"TERM", "xterm-256color"}, {"SHELL", "/bin/bash"}}));
  CHECK(j["hopgate"]["user"] == "alice");
  CHECK(j["hopgate"]["target"] == "db1:22");
  CHECK(j["hopgate"]["session_id"] == "s-1");
}

TEST_CASE("optional header fields are omitted when empty; bad UTF-8 in them is replaced") {
  MemoryCastOutput out;
  CastHeader h;
  h.command = "echo \xFF";
  CastWriter w(&out, h, 0);
  json j = json::parse(Lines(out.data)[0]);
  CHECK(j["width"] == 80);
  CHECK(j["height"] == 24);
  for (const char* k : {"timestamp", "title", "env", "hopgate"}) CHECK_FALSE(j.contains(k));
  CHECK(j["command"] == "echo " + kFffd);
}

TEST_CASE("event times are seconds since start, microsecond exact, never decreasing") {
  MemoryCastOutput out;
  CastWriter w(&out, {}, 10000);
  REQUIRE(w.Output(10248, "a").ok());
  REQUIRE(w.Output(10100, "b").ok());    // clock stepped back: clamped
  REQUIRE(w.Output(12500, "c").ok());
  REQUIRE(w.Output(10000 + 86400123, "d").ok());
  REQUIRE(w.Flush().ok());
  auto lines = Lines(out.data);
  REQUIRE(lines.size() == 5);
  CHECK(lines[1] == R"([0.248,"o","a"])");
  CHECK(lines[2] == R"([0.248,"o","b"])");
  CHECK(lines[3] == R"([2.5,"o","c"])");
  CHECK(lines[4] == R"([86400.123,"o","d"])");

  MemoryCastOutput out2;
  CastWriter w2(&out2, {}, 5000);
  REQUIRE(w2.Output(4000, "early").ok());  // before the start: time 0
  REQUIRE(w2.Flush().ok());
  CHECK(Parse(out2.data)[1][0].get<double>() == 0.0);
}

TEST_CASE("control characters are escaped and each line is one JSON array") {
  MemoryCastOutput out;
  CastWriter w(&out, {}, 0);
  REQUIRE(w.Output(1, "\x1b[1;31mHi\x1b[0m\r\n\"q\"\\").ok());
  REQUIRE(w.Flush().ok());
  auto lines = Lines(out.data);
  CHECK(lines[1] == R"([0.001,"o","\u001b[1;31mHi\u001b[0m\r\n\"q\"\\"])");
}

TEST_CASE("multibyte characters split across chunks come out intact") {
  std::string text = "caf" + kE + " " + kEmoji + " done";
  // Every split point, including inside the two- and four-byte characters.
  for (size_t cut = 0; cut <= text.size(); ++cut) {
    MemoryCastOutput out;
    CastWriter w(&out, {}, 0);
    REQUIRE(w.Output(1, text.substr(0, cut)).ok());
    REQUIRE(w.Output(2, text.substr(cut)).ok());
    REQUIRE(w.Flush().ok());
    INFO("cut at " << cut);
    CHECK(Joined(out.data, "o") == text);
    CHECK(out.data.find(kFffd) == std::string::npos);
  }
  // One byte per call: the emoji is held across three calls.
  MemoryCastOutput out;
  CastWriter w(&out, {}, 0);
  for (char c : kEmoji) REQUIRE(w.Output(1, std::string(1, c)).ok());
  REQUIRE(w.Flush().ok());
  auto docs = Parse(out.data);
  REQUIRE(docs.size() == 2);  // no empty events while the character is held
  CHECK(docs[1][2] == kEmoji);
}

TEST_CASE("output and input hold their partial characters separately") {
  MemoryCastOutput out;
  CastWriter w(&out, {}, 0);
  REQUIRE(w.Output(1, "x\xC3").ok());
  REQUIRE(w.Input(2, "\xE2\x82").ok());
  REQUIRE(w.Resize(3, 100, 40).ok());
  REQUIRE(w.Output(4, "\xA9y").ok());
  REQUIRE(w.Input(5, "\xAC").ok());
  REQUIRE(w.Flush().ok());
  CHECK(Joined(out.data, "o") == "x" + kE + "y");
  CHECK(Joined(out.data, "i") == "\xE2\x82\xAC");  // €
  CHECK(Joined(out.data, "r") == "100x40");
}

TEST_CASE("invalid bytes become U+FFFD without throwing") {
  struct Case {
    std::string in, want;
  } cases[] = {
      {"a\xFF" "b", "a" + kFffd + "b"},
      {"\xC0\xAF", kFffd + kFffd},                    // overlong '/'
      {"\xED\xA0\x80", kFffd + kFffd + kFffd},        // surrogate
      {"\xE2\x82x", kFffd + "x"},                     // truncated: one U+FFFD
      {"\xF4\x90\x80\x80", kFffd + kFffd + kFffd + kFffd},  // > U+10FFFF
      {"\x80" "ok", kFffd + "ok"},                    // stray continuation
  };
  for (const auto& c : cases) {
    MemoryCastOutput out;
    CastWriter w(&out, {}, 0);
    REQUIRE(w.Output(1, c.in).ok());
    REQUIRE(w.Flush().ok());
    CHECK(Joined(out.data, "o") == c.want);
  }
}

TEST_CASE("Close emits a never-completed character as U+FFFD, then refuses events") {
  MemoryCastOutput out;
  CastWriter w(&out, {}, 0);
  REQUIRE(w.Output(1, "end\xF0\x9F").ok());
  REQUIRE(w.Flush().ok());
  CHECK(Joined(out.data, "o") == "end");  // the partial emoji is still held
  REQUIRE(w.Close(2).ok());
  CHECK(Joined(out.data, "o") == "end" + kFffd);
  CHECK_FALSE(w.Output(3, "late").ok());
  CHECK(w.Close(3).ok());
}

TEST_CASE("resize and marker events") {
  MemoryCastOutput out;
  CastWriter w(&out, {}, 0);
  REQUIRE(w.Resize(1500, 100, 40).ok());
  REQUIRE(w.Marker(2000, "policy: recorded").ok());
  REQUIRE(w.Flush().ok());
  auto lines = Lines(out.data);
  REQUIRE(lines.size() == 3);
  CHECK(lines[1] == R"([1.5,"r","100x40"])");
  CHECK(lines[2] == R"([2.0,"m","policy: recorded"])");
}

TEST_CASE("events are buffered until Flush or max_unflushed (64 KiB by default)") {
  MemoryCastOutput out;
  CastWriter w(&out, {}, 0);
  size_t header = out.data.size();
  REQUIRE(header > 0);
  REQUIRE(w.Output(1, "hello").ok());
  REQUIRE(w.Input(2, "ls\r").ok());
  CHECK(out.data.size() == header);
  CHECK(w.bytes_buffered() > 0);
  REQUIRE(w.Flush().ok());
  CHECK(w.bytes_buffered() == 0);
  CHECK(Parse(out.data).size() == 3);

  // Past the threshold the buffer goes out by itself.
  std::string chunk(1000, 'x');
  size_t before = out.data.size();
  int calls = 0;
  while (out.data.size() == before) {
    REQUIRE(w.Output(3, chunk).ok());
    ++calls;
    REQUIRE(calls < 100);
  }
  CHECK(out.data.size() - before > CastWriter::kDefaultMaxUnflushed);
  CHECK(w.bytes_buffered() == 0);
}

TEST_CASE("no more than max_unflushed bytes are ever held after an event call") {
  MemoryCastOutput out;
  const size_t limit = 4096;
  CastWriter w(&out, {}, 0, limit);
  CHECK(w.oldest_unwritten_ms() == -1);
  uint32_t x = 7;
  for (int i = 0; i < 2000; ++i) {
    x = x * 1103515245 + 12345;
    std::string chunk((x >> 16) % 3000, static_cast<char>((x >> 8) % 0x100));
    REQUIRE(w.Output(10 + i, chunk).ok());
    CHECK(w.bytes_buffered() <= limit);
    if (w.bytes_buffered() > 0) CHECK(w.oldest_unwritten_ms() >= 10);
  }
  // One event larger than the limit goes out within its own call.
  REQUIRE(w.Output(5000, std::string(3 * limit, '\0')).ok());
  CHECK(w.bytes_buffered() == 0);
  CHECK(w.oldest_unwritten_ms() == -1);
  REQUIRE(w.Output(6000, "x").ok());
  CHECK(w.oldest_unwritten_ms() == 6000);
  REQUIRE(w.Close(7000).ok());
  Parse(out.data);  // every line valid JSON
}

TEST_CASE("AppendJsonUtf8 equals AppendValidUtf8 then AppendJsonString, held bytes too") {
  // Pseudo-random bytes biased towards what terminals send: ASCII runs,
  // controls, quotes, backslashes, valid and broken multibyte characters.
  const std::vector<std::string> pieces = {
      "abcdefghijklmnop", "\"", "\\", "\x1b[0m", "\r\n", "\x7f", "\t", "\xc3\xa9",
      "\xe2\x82\xac", "\xf0\x9f\x98\x80", "\xc3", "\xe2\x82", "\xf0\x9f", "\xff",
      "\xed\xa0\x80", "\xc0\xaf", "\xf4\x90\x80\x80", std::string(1, '\0'), "0123456789"};
  uint32_t x = 99;
  for (int round = 0; round < 300; ++round) {
    std::string in;
    int count = 1 + round % 40;
    for (int i = 0; i < count; ++i) {
      x = x * 1103515245 + 12345;
      in += pieces[(x >> 16) % pieces.size()];
    }
    for (bool hold : {false, true}) {
      std::string valid, held_ref, held_ours;
      std::string* held = hold ? &held_ours : nullptr;
      AppendValidUtf8(in, &valid, hold ? &held_ref : nullptr);
      std::string expected;
      AppendJsonString(valid, &expected);
      std::string ours = "\"";
      AppendJsonUtf8(in, &ours, held);
      ours += "\"";
      INFO("round " << round);
      CHECK(ours == expected);
      CHECK(held_ours == held_ref);
    }
  }
}

TEST_CASE("an output error is returned by every later call") {
  MemoryCastOutput out;
  CastWriter w(&out, {}, 0);
  REQUIRE(w.Output(1, "a").ok());
  out.fail_message = "disk on fire";
  Status s = w.Flush();
  REQUIRE_FALSE(s.ok());
  CHECK(s.message() == "disk on fire");
  out.fail_message.clear();  // even if the output recovers
  CHECK(w.Output(2, "b").message() == "disk on fire");
  CHECK(w.Resize(2, 1, 1).message() == "disk on fire");
  CHECK(w.Marker(2, "m").message() == "disk on fire");
  CHECK(w.Flush().message() == "disk on fire");
  CHECK(w.Close(3).message() == "disk on fire");

  MemoryCastOutput bad;
  bad.fail_message = "no header";
  CastWriter w2(&bad, {}, 0);
  CHECK(w2.Start().message() == "no header");
  CHECK(w2.Output(1, "x").message() == "no header");
}

TEST_CASE("FileCastOutput creates parents 0700, the file 0600, never reuses a file") {
  std::string dir = TmpDir() + "/casts/2026/alice";
  std::string path = dir + "/s-1.cast";
  auto file = FileCastOutput::Create(path);
  REQUIRE(file.ok());
  struct stat st;
  REQUIRE(stat(path.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  REQUIRE(stat(dir.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0700);

  CastHeader h;
  h.hopgate["user"] = "alice";
  CastWriter w(file->get(), h, 0);
  REQUIRE(w.Output(10, "hello " + kE + "\r\n").ok());
  REQUIRE(w.Close(20).ok());
  std::string data = Slurp(path);
  CHECK((*file)->size() == data.size());
  std::string sum = Run("sha256sum '" + path + "'");
  CHECK(sum.substr(0, 64) == (*file)->Sha256Hex());
  CHECK((*file)->Sha256Hex().size() == 64);
  CHECK(Joined(data, "o") == "hello " + kE + "\r\n");
  REQUIRE((*file)->Close().ok());
  CHECK_FALSE((*file)->Write("x").ok());

  auto again = FileCastOutput::Create(path);
  REQUIRE_FALSE(again.ok());
  CHECK(again.message().find(path) != std::string::npos);
  CHECK(again.message().find("File exists") != std::string::npos);

  std::string blocker = TmpDir() + "/plainfile";
  std::ofstream(blocker) << "x";
  auto under_file = FileCastOutput::Create(blocker + "/sub/s.cast");
  REQUIRE_FALSE(under_file.ok());
}

TEST_CASE("a write error (EFBIG) names the path and the reason") {
  std::string path = TmpDir() + "/efbig.cast";
  auto file = FileCastOutput::Create(path);
  REQUIRE(file.ok());
  // A 100-byte file size limit: the first write is partial, the next EFBIG.
  struct rlimit old;
  REQUIRE(getrlimit(RLIMIT_FSIZE, &old) == 0);
  auto old_handler = signal(SIGXFSZ, SIG_IGN);
  struct rlimit tiny = old;
  tiny.rlim_cur = 100;
  REQUIRE(setrlimit(RLIMIT_FSIZE, &tiny) == 0);
  Status s = (*file)->Write(std::string(300, 'x'));
  uint64_t size = (*file)->size();
  std::string sha = (*file)->Sha256Hex();
  setrlimit(RLIMIT_FSIZE, &old);
  signal(SIGXFSZ, old_handler);
  REQUIRE_FALSE(s.ok());
  CHECK(s.message().find(path) != std::string::npos);
  CHECK(s.message().find("File too large") != std::string::npos);
  CHECK(size == 100);  // what reached the file, and its hash
  CHECK(Run("sha256sum '" + path + "'").substr(0, 64) == sha);
}

TEST_CASE("asciinema plays a recording back") {
  // The tool is part of the test: without it the test fails, it does not pass.
  INFO("asciinema is not installed (apt-get install asciinema)");
  REQUIRE(access("/usr/bin/asciinema", X_OK) == 0);
  std::string path = TmpDir() + "/play/session.cast";
  auto file = FileCastOutput::Create(path);
  REQUIRE(file.ok());
  CastHeader h;
  h.timestamp = 1795168800;
  h.env["TERM"] = "xterm";
  h.hopgate["user"] = "alice";
  CastWriter w(file->get(), h, 1795168800000);
  std::string text = "hello from db1 " + kE + kEmoji + "\r\n";
  // Fed one byte at a time, so every multibyte character is split.
  for (size_t i = 0; i < text.size(); ++i) {
    REQUIRE(w.Output(1795168800000 + static_cast<int64_t>(i), text.substr(i, 1)).ok());
  }
  REQUIRE(w.Input(1795168801000, "exit\r").ok());
  REQUIRE(w.Resize(1795168801500, 100, 40).ok());
  REQUIRE(w.Marker(1795168801600, "end").ok());
  REQUIRE(w.Output(1795168802000, "\x1b[0mbye\r\n").ok());
  REQUIRE(w.Close(1795168802000).ok());
  // asciinema 2.x `cat` insists on a /dev/tty: give it one with script(1).
  std::string played = Run("ASCIINEMA_CONFIG_HOME='" + TmpDir() +
                           "/asciinema' PYTHONIOENCODING=utf-8 script -qec \"/usr/bin/asciinema cat '" +
                           path + "'\" /dev/null </dev/null 2>&1");
  INFO(played);
  CHECK(played.find("hello from db1 " + kE + kEmoji) != std::string::npos);
  CHECK(played.find("bye") != std::string::npos);
}

TEST_CASE("AppendJsonString writes exactly what nlohmann's dump() writes") {
  std::string all;
  for (int c = 0; c < 0x80; ++c) all.push_back(static_cast<char>(c));
  std::vector<std::string> inputs = {"", "plain text", "quote \" backslash \\ slash /",
                                     "\x1b[31mred\x1b[0m\r\n", "tab\tbell\a\x7f", all,
                                     "caf\xc3\xa9 \xf0\x9f\x98\x80 \xe2\x82\xac"};
  // Pseudo-random valid UTF-8 built from printable and control characters.
  std::string mixed;
  uint32_t x = 12345;
  for (int i = 0; i < 5000; ++i) {
    x = x * 1103515245 + 12345;
    int k = (x >> 16) % 4;
    if (k == 0) mixed.push_back(static_cast<char>((x >> 8) % 0x80));
    if (k == 1) mixed += "\xc3\xa9";
    if (k == 2) mixed += "\xe2\x82\xac";
    if (k == 3) mixed += "\xf0\x9f\x98\x80";
  }
  inputs.push_back(mixed);
  for (const auto& in : inputs) {
    std::string ours;
    hopgate::audit::AppendJsonString(in, &ours);
    CHECK(ours == nlohmann::json(in).dump());
  }
}
