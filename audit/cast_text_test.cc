// Reading recordings back: cast event lines parsed strictly (hostile files
// get a reason, never a crash), and terminal output turned into the lines
// a person saw, with escape sequences gone.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "audit/cast_event.h"
#include "audit/line_reader.h"
#include "audit/terminal_text.h"

using namespace hopgate;
using namespace hopgate::audit;

namespace {

std::vector<std::string> Texts(const std::vector<TextLine>& lines) {
  std::vector<std::string> out;
  for (const auto& l : lines) out.push_back(l.text);
  return out;
}

std::vector<std::string> Show(const std::vector<std::string>& chunks) {
  TerminalText t;
  std::vector<TextLine> lines;
  double time = 0;
  for (const auto& c : chunks) t.Feed(time += 1, c, &lines);
  t.Finish(&lines);
  return Texts(lines);
}

}  // namespace

TEST_CASE("cast events: the writer's lines and asciinema's spacing parse") {
  auto e = ParseCastEvent(R"([0.318,"o","root@db1:~# "])");
  REQUIRE(e.ok());
  CHECK(e->time == Approx(0.318));
  CHECK(e->code == "o");
  CHECK(e->data == "root@db1:~# ");
  auto spaced = ParseCastEvent(R"( [ 5.12 , "i" , "ls\r" ] )");
  REQUIRE(spaced.ok());
  CHECK(spaced->data == "ls\r");
  auto esc = ParseCastEvent(R"([1e-3,"o","\u001b[31m\"q\"\\ \/ \t é \ud83d\ude00"])");
  REQUIRE(esc.ok());
  CHECK(esc->time == Approx(0.001));
  CHECK(esc->data == "\x1b[31m\"q\"\\ / \t \xc3\xa9 \xf0\x9f\x98\x80");
}

TEST_CASE("cast events: lone surrogates and invalid UTF-8 become U+FFFD") {
  auto lone = ParseCastEvent(R"([1,"o","a\ud800b\udc00c"])");
  REQUIRE(lone.ok());
  CHECK(lone->data == "a\xef\xbf\xbd" "b\xef\xbf\xbd" "c");
  auto raw = ParseCastEvent(std::string("[1,\"o\",\"x\xff\xfey\"]"));
  REQUIRE(raw.ok());
  CHECK(raw->data == "x\xef\xbf\xbd\xef\xbf\xbdy");
}

TEST_CASE("cast events: every other shape is refused with a reason") {
  for (const char* bad : {"", "[]", "{}", "[1,\"o\"]", "[\"1\",\"o\",\"x\"]", "[-1,\"o\",\"x\"]",
                          "[1e999,\"o\",\"x\"]", "[1,\"o\",\"x\"] trailing", "[1,\"o\",\"x\",4]",
                          "[1,\"\",\"x\"]", "[1,\"o\",\"a\nb\"]", "[1,\"o\",\"\\q\"]",
                          "[1,\"o\",\"\\u12\"]", "[1,\"o\",\"unterminated]", "[01.,\"o\",\"x\"]",
                          "[1,o,\"x\"]", "[nan,\"o\",\"x\"]"}) {
    INFO(bad);
    auto e = ParseCastEvent(bad);
    CHECK_FALSE(e.ok());
    if (!e.ok()) CHECK(!e.message().empty());
  }
  CHECK_FALSE(ParseCastEvent(std::string(kMaxCastLine + 1, '[')).ok());
}

TEST_CASE("cast headers: version 2 only, deep nesting refused without recursion") {
  auto h = ParseCastHeader(R"({"version":2,"width":80,"height":24,"timestamp":1795271372,"command":"id"})");
  REQUIRE(h.ok());
  CHECK(h->timestamp == 1795271372);
  CHECK(h->command == "id");
  CHECK_FALSE(ParseCastHeader(R"({"version":1})").ok());
  CHECK_FALSE(ParseCastHeader("[1,\"o\",\"x\"]").ok());
  CHECK_FALSE(ParseCastHeader("not json").ok());
  std::string deep = "{\"version\":2,\"x\":" + std::string(100000, '[') + std::string(100000, ']') + "}";
  auto d = ParseCastHeader(deep);
  REQUIRE_FALSE(d.ok());
  CHECK(d.message().find("nested") != std::string::npos);
}

TEST_CASE("terminal text: colours, titles, charsets and cursor keys are stripped") {
  CHECK(Show({"\x1b[1;31mred\x1b[0m plain\r\n"}) == std::vector<std::string>{"red plain"});
  CHECK(Show({"\x1b]0;root@db1: ~\x07root@db1:~# ls\r\n"}) ==
        std::vector<std::string>{"root@db1:~# ls"});
  CHECK(Show({"\x1b]2;title\x1b\\after\x1b(B\x1b=\x1b>done\n"}) ==
        std::vector<std::string>{"afterdone"});
  CHECK(Show({"\x1bP1$r0m\x1b\\text\n"}) == std::vector<std::string>{"text"});
  // C1 forms (U+009B CSI, U+009D OSC ... U+009C ST).
  CHECK(Show({"\xc2\x9b" "31mred\xc2\x9d" "0;t\xc2\x9c" "ok\n"}) == std::vector<std::string>{"redok"});
  // A sequence split across events is still removed.
  CHECK(Show({"before\x1b", "[3", "2mafter\r\n"}) == std::vector<std::string>{"beforeafter"});
  // Moving the cursor elsewhere ends a line; moving right is a blank.
  CHECK(Show({"\x1b[2J\x1b[Htop\x1b[5;1Hnext\x1b[3Cword\n"}) ==
        std::vector<std::string>{"top", "next word"});
}

TEST_CASE("terminal text: lines split at CR and LF, backspace edits, blanks dropped") {
  CHECK(Show({"one\r\ntwo\rthree\n\n   \r\nfour"}) ==
        std::vector<std::string>{"one", "two", "three", "four"});
  CHECK(Show({"ech", "x\b \b", "o hi\r\n"}) == std::vector<std::string>{"echo hi"});
  CHECK(Show({"\xc3\xa9t\xc3\xa9\b\b\r\n"}) == std::vector<std::string>{"\xc3\xa9"});
  CHECK(Show({"a\tb\x07\x01\x7f  \r\n"}) == std::vector<std::string>{"a b"});
}

TEST_CASE("terminal text: tabs count towards the line cap (a fuzz finding)") {
  TerminalText t(8);
  std::vector<TextLine> lines;
  t.Feed(0, "x" + std::string(100, '\t') + "y\n", &lines);
  t.Finish(&lines);
  REQUIRE_FALSE(lines.empty());
  for (const auto& l : lines) CHECK(l.text.size() <= 8);
  CHECK(lines.front().text == "x");
  CHECK(lines.back().text == "y");
}

TEST_CASE("terminal text: each line carries the time its first character appeared") {
  TerminalText t;
  std::vector<TextLine> lines;
  t.Feed(1.5, "prompt$ ", &lines);
  t.Feed(2.25, "ls\r\n", &lines);
  t.Feed(3.0, "file\r\n", &lines);
  REQUIRE(lines.size() == 2);
  CHECK(lines[0].time == Approx(1.5));
  CHECK(lines[0].text == "prompt$ ls");
  CHECK(lines[1].time == Approx(3.0));
}

TEST_CASE("terminal text: long lines split at character boundaries; endless sequences end") {
  TerminalText t(8);
  std::vector<TextLine> lines;
  t.Feed(0, "abcdefg\xc3\xa9xyz", &lines);
  t.Finish(&lines);
  REQUIRE(lines.size() == 2);
  CHECK(lines[0].text == "abcdefg");  // the next character would not fit
  CHECK(lines[1].text == "\xc3\xa9xyz");
  // An OSC never terminated stops swallowing text after 4 KiB.
  TerminalText u;
  std::vector<TextLine> more;
  u.Feed(0, "\x1b]0;" + std::string(5000, 't') + "visible\n", &more);
  REQUIRE(!more.empty());
  CHECK(more.back().text.find("visible") != std::string::npos);
}

TEST_CASE("line reader: complete lines from an offset, over-long lines reported, tail left") {
  std::string dir = std::string(getenv("TEST_TMPDIR") ? getenv("TEST_TMPDIR") : "/tmp");
  std::string path = dir + "/lines.txt";
  FILE* f = fopen(path.c_str(), "w");
  REQUIRE(f != nullptr);
  std::string big(3000, 'x');
  fprintf(f, "first\n%s\nthird\npartial", big.c_str());
  fclose(f);
  std::vector<std::string> got;
  std::vector<bool> long_flags;
  auto r = ReadLines(path, 0, 1024, [&](std::string_view l, const LineInfo& info) {
    got.emplace_back(l);
    long_flags.push_back(info.too_long);
    return Status::Ok();
  });
  REQUIRE(r.ok());
  CHECK(got == std::vector<std::string>{"first", "", "third"});
  CHECK(long_flags == std::vector<bool>{false, true, false});
  CHECK(r->end == 6 + 3001 + 6);
  CHECK(r->partial == 7);
  got.clear();
  auto again = ReadLines(path, 6 + 3001, 1024, [&](std::string_view l, const LineInfo&) {
    got.emplace_back(l);
    return Status::Ok();
  });
  REQUIRE(again.ok());
  CHECK(got == std::vector<std::string>{"third"});
  auto first = FirstLine(path, 100);
  REQUIRE(first.ok());
  CHECK(*first == "first");
  CHECK(FirstLine(dir + "/absent", 100).code() == Code::kNotFound);
}
