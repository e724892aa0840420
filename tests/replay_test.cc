// hopctl replay in a real terminal: tmux runs it in a pane of its own
// (private server socket, killed at the end), keys go in with send-keys and
// the screen comes back with capture-pane. Recordings come from a real
// recorded session (hopgate, sshd, ssh on 127.0.0.1) or are written here
// when a test needs exact timing. Covered: a session's channels in order
// with their separators, --idle-limit, --follow, refusal of a tampered
// recording, q / Ctrl-C / SIGTERM, space / . / + / -, sftp, damaged and
// hostile recordings, unclosed recordings, --from.
#include <catch2/catch.hpp>

#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

#include "common/encoding.h"
#include "tests/support/harness.h"
#include "tests/support/recorded_world.h"

using namespace hopgate::testing;

namespace {

int64_t Ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

void SleepMs(int ms) { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); }

std::string Hopctl() {
  char* abs = realpath(Gate::HopctlBinary().c_str(), nullptr);
  std::string path = abs ? abs : Gate::HopctlBinary();
  free(abs);
  return path;
}

std::string ShellQuote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

std::string ShellLine(const std::vector<std::string>& argv) {
  std::string line;
  for (const auto& a : argv) line += (line.empty() ? "" : " ") + ShellQuote(a);
  return line;
}

// A tmux server of our own, one `sh` per window, killed when the test ends.
class Tmux {
 public:
  Tmux() : socket_("hopgate-replay-" + std::to_string(getpid()) + "-" + std::to_string(next_++)) {
    RunResult r = Tmux::Cmd({"new-session", "-d", "-x", "120", "-y", "40", "-s", "t", "-n", "main",
                             "env", "PS1=$ ", "TERM=tmux-256color", "sh"});
    if (r.exit_code != 0) FAIL("tmux new-session: " + r.err);
    REQUIRE(WaitFor("main", "$", 5000));
  }
  ~Tmux() { Run({"tmux", "-L", socket_, "kill-server"}); }

  RunResult Cmd(std::vector<std::string> args) const {
    args.insert(args.begin(), {"tmux", "-L", socket_, "-f", "/dev/null"});
    return Run(args, "", 10'000);
  }
  void NewWindow(const std::string& name) {
    REQUIRE(Cmd({"new-window", "-d", "-t", "t", "-n", name, "env", "PS1=$ ", "sh"}).exit_code == 0);
    REQUIRE(WaitFor(name, "$", 5000));
  }
  // Types `text` (literally) and, unless told not to, Enter.
  void Type(const std::string& window, const std::string& text, bool enter = true) {
    REQUIRE(Cmd({"send-keys", "-t", "t:" + window, "-l", text}).exit_code == 0);
    if (enter) Key(window, "Enter");
  }
  void Key(const std::string& window, const std::string& key) {
    REQUIRE(Cmd({"send-keys", "-t", "t:" + window, key}).exit_code == 0);
  }
  std::string Screen(const std::string& window) const {
    return Cmd({"capture-pane", "-p", "-J", "-t", "t:" + window}).out;
  }
  bool WaitFor(const std::string& window, const std::string& text, int timeout_ms) const {
    return WaitUntil([&] { return Screen(window).find(text) != std::string::npos; }, timeout_ms);
  }
  // A line of the screen that is exactly `text` (not the command that printed it).
  bool HasLine(const std::string& window, const std::string& text) const {
    std::istringstream in(Screen(window));
    for (std::string line; std::getline(in, line);) {
      while (!line.empty() && line.back() == ' ') line.pop_back();
      if (line == text) return true;
    }
    return false;
  }
  // Runs `line` in the window's shell, which then prints its exit status
  // on a line of its own, numbered so an earlier one is never mistaken for it.
  void Start(const std::string& window, const std::string& line, bool enter = true) {
    ++runs_;
    Type(window, line + "; echo RC" + std::to_string(runs_) + "=$?", enter);
  }
  // That exit status, or -1 if it did not come within `timeout_ms`.
  int WaitRc(const std::string& window, int timeout_ms) const {
    int rc = -1;
    std::regex done("(^|\\n)RC" + std::to_string(runs_) + "=([0-9]+) *(\\n|$)");
    WaitUntil([&] {
      std::smatch m;
      std::string screen = Screen(window);
      if (!std::regex_search(screen, m, done)) return false;
      rc = std::stoi(m[2]);
      return true;
    }, timeout_ms);
    return rc;
  }
  std::string Format(const std::string& window, const std::string& format) const {
    std::string out = Cmd({"display-message", "-p", "-t", "t:" + window, format}).out;
    while (!out.empty() && out.back() == '\n') out.pop_back();
    return out;
  }
  // The process the window's shell is running in the foreground.
  pid_t Child(const std::string& window) const {
    std::string shell = Format(window, "#{pane_pid}");
    std::string children = ReadFile("/proc/" + shell + "/task/" + shell + "/children");
    return children.empty() ? 0 : static_cast<pid_t>(std::stol(children));
  }

 private:
  static inline int next_ = 0;
  std::string socket_;
  int runs_ = 0;
};

// A recording written here: `events` are [time, data] output events.
std::string WriteCast(const std::string& path,
                      const std::vector<std::pair<double, std::string>>& events) {
  std::string text = "{\"version\":2,\"width\":100,\"height\":30,\"timestamp\":1795271372}\n";
  for (const auto& [t, data] : events) {
    text += "[" + std::to_string(t) + ",\"o\"," + nlohmann::json(data).dump() + "]\n";
  }
  WriteFile(path, text, 0600);
  return path;
}

// The terminal as the shell left it after hopctl: echo and canonical mode
// on, cursor shown, and typed text echoed.
void CheckTerminalRestored(Tmux& tmux) {
  CHECK(tmux.Format("main", "#{cursor_flag}") == "1");
  tmux.Start("main", "clear; stty -a | tr ' ;' '\\n\\n' | grep -x -e echo -e -echo -e icanon -e -icanon | sort | tr '\\n' ' '; echo END");
  REQUIRE(tmux.WaitRc("main", 5000) == 0);
  CHECK(tmux.HasLine("main", "echo icanon END"));
  tmux.Type("main", "typed-text-is-echoed", false);
  CHECK(tmux.WaitFor("main", "typed-text-is-echoed", 3000));
  tmux.Key("main", "C-u");
}

}  // namespace

TEST_CASE("replay SESSION: a recorded exec session's output, after a separator naming it") {
  RecordedWorld w;
  RunResult r = Run(w.Ssh({"echo marker-1"}));
  INFO(r.err << w.gate->Log());
  REQUIRE(r.exit_code == 0);
  REQUIRE(WaitUntil([&] { return !w.Closes().empty(); }, 5000));
  std::string connection = w.Closes()[0]["connection"];

  Tmux tmux;
  tmux.Start("main", ShellLine({Hopctl(), "replay", connection, "--config", w.gate->config_path()}));
  CHECK(tmux.WaitRc("main", 20'000) == 0);
  std::string screen = tmux.Screen("main");
  INFO(screen);
  CHECK(tmux.HasLine("main", "marker-1"));
  CHECK(screen.find("=== [1/1] " + connection + "-0-0: exec: echo marker-1 | alice as root on db1:22") !=
        std::string::npos);
  // The same by the recording's id, and the file itself checked by the log.
  std::string cast = w.Closes()[0]["recording"];
  tmux.Start("main", "clear; " + ShellLine({Hopctl(), "replay", cast, "--audit", w.gate->audit_path()}));
  CHECK(tmux.WaitRc("main", 20'000) == 0);
  CHECK(tmux.HasLine("main", "marker-1"));
}

TEST_CASE("replay --idle-limit 0.5: a 3 s pause replays in under 1.5 s") {
  std::string dir = MakeTempDir("replay");
  std::string cast = WriteCast(dir + "/pause.cast", {{0.2, "start-a\r\n"}, {3.2, "end-b\r\n"}});
  Tmux tmux;
  tmux.Start("main", ShellLine({Hopctl(), "replay", cast, "--idle-limit", "0.5"}), false);
  int64_t start = Ms();
  tmux.Key("main", "Enter");
  REQUIRE(tmux.WaitFor("main", "end-b", 10'000));
  int64_t took = Ms() - start;
  printf("measured: 3 s pause with --idle-limit 0.5 replayed in %lld ms\n", static_cast<long long>(took));
  CHECK(took < 1500);
  CHECK(took >= 600);  // 0.2 s, then the pause cut to 0.5 s: still timed
  CHECK(tmux.HasLine("main", "start-a"));
  CHECK(tmux.WaitRc("main", 5000) == 0);
}

TEST_CASE("replay --follow: a live recorded session's typed text shows within 1 s") {
  RecordedWorld w;
  Tmux tmux;
  tmux.NewWindow("live");
  tmux.Type("live", ShellLine(w.Ssh({})));
  REQUIRE(w.gate->WaitForAudit("session_request", "request", "shell", 20'000));
  std::string connection = w.gate->AuditEvents("session_request")[0]["connection"];
  tmux.Type("live", "echo ready-$((1+1))");
  REQUIRE(tmux.WaitFor("live", "ready-2", 10'000));  // the shell on the target answers

  tmux.Start("main", ShellLine({Hopctl(), "replay", "--follow", connection, "--config",
                                w.gate->config_path()}));
  REQUIRE(tmux.WaitFor("main", "| live ===", 10'000));
  SleepMs(300);
  int64_t start = Ms();
  tmux.Type("live", "echo live-$((40+2))-marker");
  bool shown = tmux.WaitFor("main", "live-42-marker", 5000);
  int64_t took = Ms() - start;
  INFO(tmux.Screen("main"));
  REQUIRE(shown);
  printf("measured: --follow showed typed text %lld ms after it was typed\n", static_cast<long long>(took));
  // Within a second of being typed (the follower wakes on inotify); the
  // margin is for a loaded 2-core CI machine.
  CHECK(took < 2500);
  // It ends when the session does.
  tmux.Type("live", "exit");
  CHECK(tmux.WaitRc("main", 15'000) == 0);
  std::string screen = tmux.Screen("main");
  INFO(screen);
  CHECK(screen.find("the connection closed") != std::string::npos);
}

TEST_CASE("replay refuses a tampered recording; --no-verify plays it with a warning on screen") {
  RecordedWorld w;
  REQUIRE(Run(w.Ssh({"echo marker-4"})).exit_code == 0);
  REQUIRE(WaitUntil([&] { return !w.Closes().empty(); }, 5000));
  std::string connection = w.Closes()[0]["connection"];
  std::string cast = w.Closes()[0]["recording"];
  std::string text = ReadFile(cast);
  size_t at = text.find("marker-4\\n");
  REQUIRE(at != std::string::npos);
  text[at + 7] = '5';  // one byte
  WriteFile(cast, text, 0600);

  Tmux tmux;
  std::vector<std::string> cmd = {Hopctl(), "replay", connection, "--config", w.gate->config_path()};
  tmux.Start("main", ShellLine(cmd));
  CHECK(tmux.WaitRc("main", 20'000) == 1);
  std::string screen = tmux.Screen("main");
  INFO(screen);
  CHECK(screen.find("does not match the audit log") != std::string::npos);
  CHECK(screen.find("refusing to play") != std::string::npos);
  CHECK(!tmux.HasLine("main", "marker-5"));

  cmd.push_back("--no-verify");
  tmux.Start("main", "clear; " + ShellLine(cmd));
  CHECK(tmux.WaitRc("main", 20'000) == 0);
  screen = tmux.Screen("main");
  CHECK(tmux.HasLine("main", "marker-5"));
  CHECK(screen.find("NOT VERIFIED") != std::string::npos);

  // The warning comes back on every screen: after the recording clears it.
  std::string dir = MakeTempDir("replay");
  std::string fake = WriteCast(dir + "/c9-0-0.cast", {{0.1, "first screen\r\n"},
                                                     {0.6, "\x1b[H\x1b[2Jsecond screen\r\n"},
                                                     {5.0, "end\r\n"}});
  WriteFile(dir + "/audit.jsonl",
            R"({"type":"session_close","connection":"c9","session":"c9-0","channel":0,"kind":"session","recording":")" +
                fake + R"(","recording_sha256":")" + std::string(64, 'a') +
                R"(","recording_size":)" + std::to_string(ReadFile(fake).size()) +
                R"(,"ts":"2026-11-21T14:29:35.000Z"})" "\n");
  tmux.Start("main", "clear; " + ShellLine({Hopctl(), "replay", fake, "--audit", dir + "/audit.jsonl"}));
  CHECK(tmux.WaitRc("main", 10'000) == 1);
  tmux.Start("main", "clear; " + ShellLine({Hopctl(), "replay", fake, "--audit", dir + "/audit.jsonl",
                                           "--no-verify"}));
  REQUIRE(tmux.WaitFor("main", "second screen", 10'000));
  SleepMs(200);
  screen = tmux.Screen("main");
  INFO(screen);
  CHECK(screen.find("first screen") == std::string::npos);  // cleared...
  CHECK(screen.substr(0, screen.find('\n')).find("NOT VERIFIED") != std::string::npos);  // ...warned again
  tmux.Key("main", "q");
}

TEST_CASE("replay: q, Ctrl-C and SIGTERM quit and give the terminal back") {
  std::string dir = MakeTempDir("replay");
  // Hides the cursor, then waits a long time.
  std::string cast = WriteCast(dir + "/hide.cast", {{0.1, "\x1b[?25lhidden-cursor\r\n"}, {60, "never\r\n"}});
  Tmux tmux;
  struct Way {
    std::string name;
    int rc;
  };
  for (const Way& way : {Way{"q", 0}, Way{"C-c", 130}, Way{"SIGTERM", 143}}) {
    INFO(way.name);
    tmux.Start("main", "clear; " + ShellLine({Hopctl(), "replay", cast}));
    REQUIRE(tmux.WaitFor("main", "hidden-cursor", 10'000));
    SleepMs(100);
    CHECK(tmux.Format("main", "#{cursor_flag}") == "0");  // the recording hid it
    if (way.name == "SIGTERM") {
      pid_t pid = tmux.Child("main");
      REQUIRE(pid > 0);
      REQUIRE(kill(pid, SIGTERM) == 0);
    } else {
      tmux.Key("main", way.name);
    }
    CHECK(tmux.WaitRc("main", 5000) == way.rc);
    CheckTerminalRestored(tmux);
  }
}

TEST_CASE("replay: space pauses (nothing new appears) and resumes; . steps one event") {
  std::string dir = MakeTempDir("replay");
  std::vector<std::pair<double, std::string>> ticks;
  for (int i = 1; i <= 30; ++i) {
    char line[32];
    snprintf(line, sizeof line, "tick-%02d\r\n", i);
    ticks.push_back({0.2 * i, line});
  }
  std::string cast = WriteCast(dir + "/ticks.cast", ticks);
  Tmux tmux;
  tmux.Start("main", ShellLine({Hopctl(), "replay", cast}));
  REQUIRE(tmux.WaitFor("main", "tick-03", 10'000));
  tmux.Key("main", "Space");
  SleepMs(300);
  std::string paused = tmux.Screen("main");
  SleepMs(1500);
  CHECK(tmux.Screen("main") == paused);  // 7 more ticks were due meanwhile
  // The last tick shown, then one step.
  int last = 0;
  for (int i = 1; i <= 30; ++i) {
    char tick[32];
    snprintf(tick, sizeof tick, "tick-%02d", i);
    if (paused.find(tick) != std::string::npos) last = i;
  }
  REQUIRE(last > 0);
  REQUIRE(last < 28);
  char next[32], after[32];
  snprintf(next, sizeof next, "tick-%02d", last + 1);
  snprintf(after, sizeof after, "tick-%02d", last + 2);
  tmux.Key("main", ".");
  CHECK(tmux.WaitFor("main", next, 3000));
  SleepMs(600);
  CHECK(tmux.Screen("main").find(after) == std::string::npos);
  tmux.Key("main", "Space");
  CHECK(tmux.WaitFor("main", "tick-30", 10'000));
  CHECK(tmux.WaitRc("main", 5000) == 0);
}

TEST_CASE("replay of an sftp session prints its file operations from the audit log") {
  RecordedWorld w;
  std::string local = w.dir + "/up.txt";
  WriteFile(local, "hello\n");
  std::string batch = w.dir + "/batch";
  WriteFile(batch, "put " + local + " " + w.dir + "/remote.txt\nrm " + w.dir + "/remote.txt\n");
  RunResult r = Run({"sftp", "-q", "-F", w.ssh_config, "-J", w.Jump(), "-b", batch, "root@db1"});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  REQUIRE(WaitUntil([&] { return !w.Closes().empty(); }, 5000));
  std::string session = w.Closes()[0]["session"];
  Tmux tmux;
  tmux.Start("main", ShellLine({Hopctl(), "replay", session, "--config", w.gate->config_path()}));
  CHECK(tmux.WaitRc("main", 20'000) == 0);
  std::string screen = tmux.Screen("main");
  INFO(screen);
  CHECK(screen.find(session + "-0: sftp: ") != std::string::npos);
  CHECK(std::regex_search(screen, std::regex("open " + w.dir + "/remote.txt \\(write[a-z,]*\\): ok")));
  CHECK(screen.find("remove " + w.dir + "/remote.txt: ok") != std::string::npos);
}

TEST_CASE("replay names a damaged recording's line and column, plays nothing of it, never crashes") {
  std::string dir = MakeTempDir("replay");
  std::string bad = dir + "/bad.cast";
  WriteFile(bad, "{\"version\":2,\"width\":80,\"height\":24}\n"
                 "[0.1,\"o\",\"shown-before-damage\\r\\n\"]\n"
                 "[0.2,\"o\",\"x\"] junk\n", 0600);
  std::string hdr = dir + "/header.cast";
  WriteFile(hdr, "{\"version\":2,\"width\":\"80\",\"height\":24}\n[0.1,\"o\",\"never\"]\n", 0600);
  std::string noise = dir + "/noise.cast";
  std::string bytes;
  for (int i = 0; i < 4096; ++i) bytes.push_back(static_cast<char>((i * 7919 + 13) % 256));
  WriteFile(noise, bytes, 0600);
  Tmux tmux;
  tmux.Start("main", ShellLine({Hopctl(), "replay", bad}));
  CHECK(tmux.WaitRc("main", 10'000) == 1);
  std::string screen = tmux.Screen("main");
  INFO(screen);
  CHECK(screen.find("bad.cast:3:15: not JSON") != std::string::npos);
  CHECK(!tmux.HasLine("main", "shown-before-damage"));
  tmux.Start("main", "clear; " + ShellLine({Hopctl(), "replay", hdr}));
  CHECK(tmux.WaitRc("main", 10'000) == 1);
  CHECK(tmux.Screen("main").find("header.cast:1:22: header: \"width\" is not an integer") !=
        std::string::npos);
  tmux.Start("main", "clear; " + ShellLine({Hopctl(), "replay", noise}));
  CHECK(tmux.WaitRc("main", 10'000) == 1);
  CHECK(tmux.Screen("main").find("noise.cast:1:") != std::string::npos);
  CheckTerminalRestored(tmux);
}

TEST_CASE("replay: text a client chose is shown escaped; the recorded output as recorded") {
  std::string dir = MakeTempDir("replay");
  std::string cast = dir + "/hostile.cast";
  // The title would set the window title, clear the screen and hide itself
  // behind a right-to-left override if it reached the terminal as it is.
  WriteFile(cast, "{\"version\":2,\"width\":80,\"height\":24,"
                  "\"title\":\"\\u001b]2;pwned\\u0007\\u001b[2Jtxt.\\u202eexe\"}\n"
                  "[0.1,\"o\",\"\\u001b[1mbold-output\\u001b[0m\\r\\n\"]\n", 0600);
  Tmux tmux;
  tmux.Start("main", "cd " + ShellQuote(dir) + " && " + ShellLine({Hopctl(), "replay", "hostile.cast"}));
  CHECK(tmux.WaitRc("main", 10'000) == 0);
  std::string screen = tmux.Screen("main");
  INFO(screen);
  CHECK(screen.find("=== hostile.cast: \\x1b]2;pwned\\x07\\x1b[2Jtxt.\\u{202E}exe") != std::string::npos);
  CHECK(tmux.Format("main", "#{pane_title}").find("pwned") == std::string::npos);
  CHECK(tmux.HasLine("main", "bold-output"));  // its escape sequences went to the terminal
}

TEST_CASE("replay of a recording the log never closed plays the prefix it vouches for, with a note") {
  std::string dir = MakeTempDir("replay");
  std::string cast = dir + "/c7-0-0.cast";
  std::string prefix = "{\"version\":2,\"width\":80,\"height\":24}\n"
                       "[0.1,\"o\",\"vouched-part\\r\\n\"]\n";
  WriteFile(cast, prefix + "[0.2,\"o\",\"unvouched-part\\r\\n\"]\n", 0600);
  std::string start =
      R"({"type":"session_open","connection":"c7","session":"c7-0","channel":0,"user":"alice","login":"root","target":"db1:22","result":"success","ts":"2026-11-21T14:29:32.000Z"})" "\n"
      R"({"type":"session_request","connection":"c7","session":"c7-0","channel":0,"request":"shell","decision":"allow","ts":"2026-11-21T14:29:32.100Z"})" "\n";
  std::string progress =
      R"({"type":"recording_progress","connection":"c7","session":"c7-0","channel":0,"path":")" + cast +
      R"(","bytes":)" + std::to_string(prefix.size()) + R"(,"sha256":")" + hopgate::Sha256Hex(prefix) +
      R"(","ts":"2026-11-21T14:30:32.000Z"})" "\n";
  std::string log = dir + "/audit.jsonl";
  WriteFile(log, start + progress, 0600);

  Tmux tmux;
  tmux.Start("main", ShellLine({Hopctl(), "replay", "c7", "--audit", log}));
  CHECK(tmux.WaitRc("main", 10'000) == 0);
  std::string screen = tmux.Screen("main");
  INFO(screen);
  CHECK(tmux.HasLine("main", "vouched-part"));
  CHECK(!tmux.HasLine("main", "unvouched-part"));
  CHECK(screen.find("c7-0-0: shell | alice as root on db1:22") != std::string::npos);
  CHECK(screen.find("not closed in the audit log") != std::string::npos);
  CHECK(screen.find("played the first " + std::to_string(prefix.size()) + " bytes") != std::string::npos);
  // The file itself, checked the same way.
  tmux.Start("main", "clear; " + ShellLine({Hopctl(), "replay", cast, "--audit", log}));
  CHECK(tmux.WaitRc("main", 10'000) == 0);
  CHECK(tmux.HasLine("main", "vouched-part"));
  CHECK(!tmux.HasLine("main", "unvouched-part"));
  // With --no-verify, all of it (the rest is not vouched for).
  tmux.Start("main", "clear; " + ShellLine({Hopctl(), "replay", "c7", "--audit", log, "--no-verify"}));
  CHECK(tmux.WaitRc("main", 10'000) == 0);
  CHECK(tmux.HasLine("main", "unvouched-part"));
  CHECK(tmux.Screen("main").find("NOT VERIFIED: c7-0-0 after its first") != std::string::npos);
  // Without a progress report nothing of it is vouched for: refused.
  WriteFile(log, start, 0600);
  tmux.Start("main", "clear; " + ShellLine({Hopctl(), "replay", "c7", "--audit", log}));
  CHECK(tmux.WaitRc("main", 10'000) == 1);
  screen = tmux.Screen("main");
  CHECK(screen.find("nothing of it can be checked") != std::string::npos);
  CHECK(!tmux.HasLine("main", "vouched-part"));
  // A changed byte in the vouched-for prefix: refused.
  std::string changed = prefix;
  changed[changed.find("vouched")] = 'V';
  WriteFile(cast, changed + "[0.2,\"o\",\"unvouched-part\\r\\n\"]\n", 0600);
  WriteFile(log, start + progress, 0600);
  tmux.Start("main", "clear; " + ShellLine({Hopctl(), "replay", "c7", "--audit", log}));
  CHECK(tmux.WaitRc("main", 10'000) == 1);
  CHECK(tmux.Screen("main").find("do not match the audit log's recording_progress") != std::string::npos);
}

TEST_CASE("replay --from: what came before is on screen at once, the pause after it still plays") {
  std::string dir = MakeTempDir("replay");
  std::string cast = WriteCast(dir + "/from.cast", {{0.5, "early-line\r\n"},
                                                    {1.5, "middle-line\r\n"},
                                                    {4.0, "late-line\r\n"}});
  Tmux tmux;
  tmux.Start("main", ShellLine({Hopctl(), "replay", cast, "--from", "0:02"}));
  REQUIRE(tmux.WaitFor("main", "middle-line", 5000));
  CHECK(tmux.HasLine("main", "early-line"));
  CHECK(!tmux.HasLine("main", "late-line"));  // 2 s after the offset, not at once
  CHECK(tmux.WaitFor("main", "late-line", 10'000));
  CHECK(tmux.WaitRc("main", 5000) == 0);
}

TEST_CASE("replay: + makes a long pause pass sooner; - makes a short one last longer") {
  std::string dir = MakeTempDir("replay");
  // 12 s apart at speed 1; after + four times (speed 16) well under a second.
  std::string fast = WriteCast(dir + "/fast.cast", {{0.2, "fast-start\r\n"}, {12.2, "fast-end\r\n"}});
  Tmux tmux;
  tmux.Start("main", ShellLine({Hopctl(), "replay", fast}));
  REQUIRE(tmux.WaitFor("main", "fast-start", 10'000));
  for (int i = 0; i < 4; ++i) tmux.Key("main", "+");
  // Half the pause at speed 1: only a faster speed shows it by then.
  CHECK(tmux.WaitFor("main", "fast-end", 6000));
  CHECK(tmux.WaitRc("main", 5000) == 0);

  // 1.5 s apart at speed 1; after - three times (speed 1/8) 12 s: still
  // not shown 4 s later. Then + six times (speed 8): it comes at once.
  std::string slow = WriteCast(dir + "/slow.cast", {{0.2, "slow-start\r\n"}, {1.7, "slow-end\r\n"}});
  tmux.Start("main", "clear; " + ShellLine({Hopctl(), "replay", slow}));
  REQUIRE(tmux.WaitFor("main", "slow-start", 10'000));
  for (int i = 0; i < 3; ++i) tmux.Key("main", "-");
  SleepMs(4000);
  CHECK(!tmux.HasLine("main", "slow-end"));
  for (int i = 0; i < 6; ++i) tmux.Key("main", "+");
  CHECK(tmux.WaitFor("main", "slow-end", 5000));
  CHECK(tmux.WaitRc("main", 5000) == 0);
}

TEST_CASE("replay SESSION with two exec channels over one connection: each in order, after its separator") {
  RecordedWorld w;
  // One connection (an OpenSSH control master), two exec channels on it.
  std::string mux = "/tmp/hg-replay-mux-" + std::to_string(getpid());
  auto Mux = [&](std::vector<std::string> args) {
    std::vector<std::string> opts = {"-o", "ControlMaster=auto", "-o", "ControlPath=" + mux,
                                     "-o", "ControlPersist=60"};
    args.insert(args.begin(), opts.begin(), opts.end());
    return Run(w.Ssh(args), "", 60'000);
  };
  RunResult first = Mux({"echo channel-one-text"});
  INFO(first.err << w.gate->Log() << ReadFile(w.gate->audit_path()));
  REQUIRE(first.exit_code == 0);
  RunResult second = Mux({"echo channel-two-text"});
  INFO(second.err << w.gate->Log());
  REQUIRE(second.exit_code == 0);
  Run({"ssh", "-o", "ControlPath=" + mux, "-O", "exit", "db1"});
  REQUIRE(WaitUntil([&] { return w.Closes().size() == 2; }, 10'000));
  std::string connection = w.Closes()[0]["connection"];
  REQUIRE(w.Closes()[1]["connection"] == connection);  // one connection
  std::string one = w.Closes()[0]["session"].get<std::string>() + "-" +
                    std::to_string(w.Closes()[0]["channel"].get<int>());
  std::string two = w.Closes()[1]["session"].get<std::string>() + "-" +
                    std::to_string(w.Closes()[1]["channel"].get<int>());
  REQUIRE(one != two);

  Tmux tmux;
  tmux.Start("main", ShellLine({Hopctl(), "replay", connection, "--config", w.gate->config_path()}));
  CHECK(tmux.WaitRc("main", 20'000) == 0);
  std::string screen = tmux.Screen("main");
  INFO(screen);
  CHECK(tmux.HasLine("main", "channel-one-text"));
  CHECK(tmux.HasLine("main", "channel-two-text"));
  size_t sep1 = screen.find("=== [1/2] " + one + ": exec: echo channel-one-text | alice as root on db1:22");
  size_t sep2 = screen.find("=== [2/2] " + two + ": exec: echo channel-two-text | alice as root on db1:22");
  REQUIRE(sep1 != std::string::npos);
  REQUIRE(sep2 != std::string::npos);
  size_t text1 = screen.find("\nchannel-one-text"), text2 = screen.find("\nchannel-two-text");
  CHECK(sep1 < text1);
  CHECK(text1 < sep2);
  CHECK(sep2 < text2);
}
