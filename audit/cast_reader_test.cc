#include <catch2/catch.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "audit/asciicast.h"
#include "audit/cast_reader.h"
#include "common/encoding.h"

using namespace hopgate;
using namespace hopgate::audit;

namespace {

const char kHeader[] = "{\"version\":2,\"width\":100,\"height\":30,\"timestamp\":1795271372}\n";

// All events of `text`, or the first error's message ("line N: ...").
struct Parsed {
  std::vector<CastEvent> events;
  std::string error;
  int error_line = 0;
  int error_column = 0;
};

Parsed ParseAll(const std::string& text, size_t piece = 0, CastLimits limits = {}) {
  Parsed p;
  CastParser parser(limits);
  auto drain = [&] {
    while (true) {
      CastEvent ev;
      auto r = parser.Next(&ev);
      if (!r) {
        p.error = r.message();
        p.error_line = r.error().line;
        p.error_column = parser.error_column();
        return false;
      }
      if (!*r) return true;
      p.events.push_back(ev);
    }
  };
  size_t step = piece == 0 ? text.size() : piece;
  for (size_t i = 0; i < text.size(); i += step) {
    if (Status s = parser.Feed(std::string_view(text).substr(i, step)); !s.ok()) {
      p.error = s.message();
      p.error_line = s.error().line;
      p.error_column = parser.error_column();
      return p;
    }
    if (!drain()) return p;
  }
  return p;
}

std::string TmpFile(const std::string& name, const std::string& content) {
  const char* t = getenv("TEST_TMPDIR");
  std::string path = std::string(t ? t : "/tmp") + "/" + name;
  std::ofstream(path, std::ios::binary | std::ios::trunc) << content;
  return path;
}

}  // namespace

TEST_CASE("cast reader: reads what the writer writes, byte for byte, in any feeding") {
  MemoryCastOutput out;
  CastHeader h;
  h.width = 120;
  h.height = 40;
  h.command = "echo hi";
  h.hopgate = {{"session_id", "c1-0"}, {"channel", "0"}};
  CastWriter w(&out, h, 1000);
  REQUIRE(w.Output(1250, "hello \x1b[1mworld\x1b[0m\r\n").ok());
  REQUIRE(w.Resize(2000, 90, 20).ok());
  REQUIRE(w.Output(3500, "caf\xc3\xa9 \x01\"\\").ok());
  REQUIRE(w.Marker(4000, "chapter").ok());
  REQUIRE(w.Close(4000).ok());
  for (size_t piece : {size_t{0}, size_t{1}, size_t{7}}) {
    Parsed p = ParseAll(out.data, piece);
    INFO("piece " << piece);
    REQUIRE(p.error.empty());
    REQUIRE(p.events.size() == 4);
    CHECK(p.events[0].time == Approx(0.25));
    CHECK(p.events[0].code == "o");
    CHECK(p.events[0].data == "hello \x1b[1mworld\x1b[0m\r\n");
    CHECK(p.events[0].line == 2);
    CHECK(p.events[1].code == "r");
    CHECK(p.events[1].width == 90);
    CHECK(p.events[1].height == 20);
    CHECK(p.events[2].data == "caf\xc3\xa9 \x01\"\\");
    CHECK(p.events[3].code == "m");
    CHECK(p.events.back().end_offset == out.data.size());
  }
  CastParser parser;
  REQUIRE(parser.Feed(out.data).ok());
  CastEvent ev;
  REQUIRE(*parser.Next(&ev));
  REQUIRE(parser.header() != nullptr);
  CHECK(parser.header()->width == 120);
  CHECK(parser.header()->command == "echo hi");
  CHECK(parser.header()->hopgate.at("session_id") == "c1-0");
}

TEST_CASE("cast reader: every malformed line is an error naming its line and column") {
  struct Case {
    std::string text;
    int line;
    int column;  // 1-based byte column of what is wrong; -1: not checked
    std::string says;
  };
  std::vector<Case> cases = {
      {"", 0, 0, ""},  // nothing yet: not an error
      {"not json\n", 1, 2, "header not JSON"},
      {"[1,\"o\",\"x\"]\n", 1, 1, "not an asciicast header"},
      {"{\"version\":1,\"width\":80,\"height\":24}\n", 1, 12, "version 2"},
      {"{\"version\":2,\"width\":0,\"height\":24}\n", 1, 22, "\"width\" is 0"},
      {"{\"version\":2,\"width\":80}\n", 1, 1, "\"height\" is missing"},
      {"{\"version\":2, \"width\" : \"80\",\"height\":24}\n", 1, 25, "not an integer"},
      {"{\"version\":2,\"width\":80,\"height\":24,\"env\":{\"TERM\":1}}\n", 1, 43, "env.TERM"},
      {std::string(kHeader) + "[0.5,\"o\",\"a\"]\n{\"x\":1}\n", 3, 1, "array of three"},
      {std::string(kHeader) + "[0.5,\"o\"]\n", 2, 1, "array of three"},
      {std::string(kHeader) + "[\"0.5\",\"o\",\"a\"]\n", 2, 2, "time is not a number"},
      {std::string(kHeader) + "[-1,\"o\",\"a\"]\n", 2, 2, "out of range"},
      {std::string(kHeader) + "[1e400,\"o\",\"a\"]\n", 2, -1, ""},
      {std::string(kHeader) + "[2,\"o\",\"a\"]\n[1,\"o\",\"b\"]\n", 3, 2, "before the previous"},
      {std::string(kHeader) + "[2,\"o\",7]\n", 2, 8, "not a string"},
      {std::string(kHeader) + "[2, 5,\"a\"]\n", 2, 5, "code is not a short string"},
      {std::string(kHeader) + "[2,\"r\",\"80x\"]\n", 2, 8, "COLSxROWS"},
      {std::string(kHeader) + "[2,\"r\",\"99999x24\"]\n", 2, 8, "COLSxROWS"},
      {std::string(kHeader) + "[2,\"o\",\"\xff\"]\n", 2, 9, "not JSON"},
      {std::string(kHeader) + "[2,\"o\",\"\\ud800\"]\n", 2, -1, "not JSON"},
      {std::string(kHeader) + "[2,\"o\",\"a\"] x\n", 2, 13, "not JSON"},
      {std::string(kHeader) + "\n", 2, 1, "empty line"},
      {std::string(kHeader) + std::string(100000, '[') + "\n", 2, 17, "nested deeper"},
  };
  for (const auto& c : cases) {
    INFO(c.text.substr(0, 200));
    Parsed p = ParseAll(c.text);
    if (c.line == 0) {
      CHECK(p.error.empty());
      continue;
    }
    INFO(p.error);
    REQUIRE(!p.error.empty());
    CHECK(p.error_line == c.line);
    if (c.column >= 0) CHECK(p.error_column == c.column);
    CHECK(p.error_column >= 1);
    CHECK(p.error.find(c.says) != std::string::npos);
  }
  // An unknown event code is skipped by players, not an error; its data may
  // be any JSON.
  Parsed ext = ParseAll(std::string(kHeader) + "[1,\"x\",{\"a\":[1]}]\n");
  REQUIRE(ext.error.empty());
  REQUIRE(ext.events.size() == 1);
  CHECK(ext.events[0].data == "{\"a\":[1]}");
}

TEST_CASE("cast reader: lines are bounded, and errors stay") {
  CastLimits small;
  small.max_line_bytes = 100;
  // An unterminated line past the limit fails as soon as it is fed.
  CastParser parser(small);
  REQUIRE(parser.Feed(kHeader).ok());
  Status s = parser.Feed(std::string(150, 'a'));
  REQUIRE(!s.ok());
  CHECK(s.error().line == 2);
  CHECK(s.message().find("longer than 100 bytes") != std::string::npos);
  CastEvent ev;
  CHECK(!parser.Next(&ev).ok());  // sticky
  CHECK(!parser.Feed("\n").ok());
  // A complete line past the limit, fed at once, fails in Next.
  Parsed p = ParseAll(std::string(kHeader) + "[1,\"o\",\"" + std::string(200, 'b') + "\"]\n", 0,
                      small);
  CHECK(p.error_line == 2);
}

TEST_CASE("cast reader: a file still being written; a cut last line waits") {
  std::string path = TmpFile("growing.cast", kHeader);
  auto reader = CastFileReader::Open(path);
  REQUIRE(reader.ok());
  CastEvent ev;
  auto step = (*reader)->Next(&ev);
  REQUIRE(step.ok());
  CHECK(*step == CastFileReader::Step::kNoMoreNow);
  REQUIRE((*reader)->header() != nullptr);
  {
    std::ofstream(path, std::ios::app) << "[0.5,\"o\",\"hal";
  }
  step = (*reader)->Next(&ev);
  REQUIRE(step.ok());
  CHECK(*step == CastFileReader::Step::kNoMoreNow);  // partial: not an error
  CHECK((*reader)->pending_bytes() == 13);
  {
    std::ofstream(path, std::ios::app) << "f\"]\n[0.75,\"o\",\"more\"]\n";
  }
  step = (*reader)->Next(&ev);
  REQUIRE(step.ok());
  REQUIRE(*step == CastFileReader::Step::kEvent);
  CHECK(ev.data == "half");
  step = (*reader)->Next(&ev);
  REQUIRE(*step == CastFileReader::Step::kEvent);
  CHECK(ev.data == "more");
  std::string all = std::string(kHeader) + "[0.5,\"o\",\"half\"]\n[0.75,\"o\",\"more\"]\n";
  CHECK((*reader)->bytes_read() == all.size());
  CHECK((*reader)->Sha256Hex() == Sha256Hex(all));

  // LimitTo stops at the vouched-for size even if the file has more.
  REQUIRE((*reader)->Rewind().ok());
  (*reader)->LimitTo(std::string(kHeader).size() + 18);
  REQUIRE(*(*reader)->Next(&ev) == CastFileReader::Step::kEvent);
  CHECK(*(*reader)->Next(&ev) == CastFileReader::Step::kNoMoreNow);
  CHECK((*reader)->at_limit());
}

TEST_CASE("cast reader: ScanCast sums up a file or names its first bad line") {
  std::string good = std::string(kHeader) + "[0.5,\"o\",\"a\"]\n[2.25,\"o\",\"b\"]\n[2.5,\"o\",\"cu";
  auto sum = ScanCast(TmpFile("scan.cast", good));
  REQUIRE(sum.ok());
  CHECK(sum->events == 2);
  CHECK(sum->duration == Approx(2.25));
  CHECK(sum->size == good.size());
  CHECK(sum->sha256 == Sha256Hex(good));
  CHECK(sum->partial_tail == 12);
  CHECK(sum->header.width == 100);

  std::string bad_path = TmpFile("bad.cast", std::string(kHeader) + "[0.5,\"o\",\"a\"]\n[x]\n");
  auto bad = ScanCast(bad_path);
  REQUIRE(!bad.ok());
  CHECK(bad.message().rfind(bad_path + ":3:2: not JSON", 0) == 0);
  auto empty = ScanCast(TmpFile("empty.cast", ""));
  REQUIRE(!empty.ok());
  CHECK(empty.message().find("empty file") != std::string::npos);
  auto missing = ScanCast(TmpFile("x", "") + ".does-not-exist");
  REQUIRE(!missing.ok());
  CHECK(missing.code() == Code::kNotFound);
  auto dir = ScanCast("/");
  REQUIRE(!dir.ok());
  CHECK(dir.message().find("not a regular file") != std::string::npos);
}
