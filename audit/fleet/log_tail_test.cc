// LogTail follows a real FileSink log across size rotations, in order, and
// resumes from any seq (what the copier does after a restart or an outage).
#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>

#include "audit/fleet/log_tail.h"
#include "audit/log_files.h"
#include "audit/sink.h"

using namespace hopgate;
using namespace hopgate::audit;
using namespace hopgate::audit::fleet;

namespace {

std::string FreshDir(const std::string& name) {
  const char* tmp = getenv("TEST_TMPDIR");
  std::string dir = std::string(tmp ? tmp : "/tmp") + "/" + name;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

Status Write(FileSink& sink, int i) {
  Event e;
  e.time_ms = 1795168800000 + i;
  e.connection = "c" + std::to_string(i);
  ConnectionOpen o;
  o.client_addr = "127.0.0.1";
  o.client_port = static_cast<uint16_t>(40000 + i);
  e.body = o;
  return sink.Write(e);
}

// Reads everything available, in batches of `batch`.
std::vector<uint64_t> Drain(LogTail& tail, size_t batch) {
  std::vector<uint64_t> seqs;
  std::vector<LogLine> lines;
  while (true) {
    REQUIRE(tail.Read(batch, &lines).ok());
    if (lines.empty()) return seqs;
    for (const auto& l : lines) seqs.push_back(l.seq);
  }
}

}  // namespace

TEST_CASE("the tail reads every event once, in order, across rotations") {
  std::string dir = FreshDir("tail-rotate");
  std::string path = dir + "/audit.jsonl";
  FileSinkOptions o;
  o.rotate_size = 1500;
  auto sink = FileSink::Open(path, o);
  REQUIRE(sink.ok());
  std::vector<std::string> warnings;
  LogTail tail(path, [&](const std::string& w) { warnings.push_back(w); });
  std::vector<uint64_t> seen;
  for (int round = 0; round < 12; ++round) {
    for (int i = 0; i < 7; ++i) REQUIRE(Write(**sink, round * 7 + i).ok());
    auto got = Drain(tail, 4);
    seen.insert(seen.end(), got.begin(), got.end());
  }
  REQUIRE(LogFilesOf(path).size() >= 4);  // it did rotate, several times
  uint64_t size = (*sink)->size();
  REQUIRE(seen.size() == size);
  for (uint64_t i = 0; i < size; ++i) CHECK(seen[i] == i);
  CHECK(warnings.empty());
  CHECK(tail.next() == size);

  // Resuming from the middle (a restart that finds max(seq) = 29).
  LogTail again(path, [&](const std::string& w) { warnings.push_back(w); });
  again.Seek(30);
  auto rest = Drain(again, 1000);
  REQUIRE(rest.size() == size - 30);
  CHECK(rest.front() == 30);
  CHECK(rest.back() == size - 1);
}

TEST_CASE("a tail of a log not yet written reads nothing, then its events") {
  std::string dir = FreshDir("tail-empty");
  std::string path = dir + "/audit.jsonl";
  LogTail tail(path, [](const std::string&) {});
  std::vector<LogLine> lines;
  REQUIRE(tail.Read(10, &lines).ok());
  CHECK(lines.empty());
  auto sink = FileSink::Open(path);
  REQUIRE(sink.ok());
  REQUIRE(Write(**sink, 1).ok());
  REQUIRE(tail.Read(10, &lines).ok());
  REQUIRE(lines.size() == 1);
  CHECK(lines[0].seq == 0);
  CHECK(lines[0].text.find("\"connection_open\"") != std::string::npos);
}

TEST_CASE("a tail behind the log copies what logrotate renamed away, then the new file") {
  std::string dir = FreshDir("tail-logrotate");
  std::string path = dir + "/audit.jsonl";
  FileSinkOptions o;
  o.rotate_size = 1500;  // size-rotated files too, older than the renamed one
  auto sink = FileSink::Open(path, o);
  REQUIRE(sink.ok());
  std::vector<std::string> warnings;
  LogTail tail(path, [&](const std::string& w) { warnings.push_back(w); });
  for (int i = 0; i < 20; ++i) REQUIRE(Write(**sink, i).ok());
  std::vector<uint64_t> seen = Drain(tail, 1000);
  // More events, not yet copied, then logrotate renames the live file and
  // the gateway reopens its path (SIGHUP).
  for (int i = 20; i < 24; ++i) REQUIRE(Write(**sink, i).ok());
  std::vector<LogLine> lines;
  REQUIRE(tail.Read(1, &lines).ok());  // the copier is one event in
  for (const auto& l : lines) seen.push_back(l.seq);
  REQUIRE(LogFilesOf(path).size() >= 2);
  std::filesystem::rename(path, path + ".1");
  REQUIRE((*sink)->Reopen().ok());
  for (int i = 24; i < 30; ++i) REQUIRE(Write(**sink, i).ok());
  auto rest = Drain(tail, 3);
  seen.insert(seen.end(), rest.begin(), rest.end());
  uint64_t size = (*sink)->size();
  INFO(warnings.size());
  REQUIRE(seen.size() == size);
  for (uint64_t i = 0; i < size; ++i) CHECK(seen[i] == i);
  CHECK(warnings.empty());

  // A tail starting afresh (a restart) finds the renamed file's events too.
  LogTail again(path, [&](const std::string& w) { warnings.push_back(w); });
  again.Seek(seen[21]);
  auto all = Drain(again, 1000);
  REQUIRE_FALSE(all.empty());
  CHECK(all.front() == seen[21]);
  CHECK(all.back() == size - 1);
  CHECK(all.size() == size - seen[21]);
  CHECK(warnings.empty());
}
