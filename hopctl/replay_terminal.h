// The terminal `hopctl replay` plays into: single keys without echo while
// it plays (the controlling terminal: standard input, or /dev/tty when
// input is redirected), and the terminal given back as it was on every way
// out: the destructor, q, Ctrl-C (SIGINT), SIGTERM, SIGHUP; Ctrl-Z (SIGTSTP)
// gives it back while stopped and takes it again on SIGCONT. Signals are
// turned into bytes on a pipe the player polls, so nothing but write(2)
// runs in a handler. One per process; not thread-safe.
#pragma once

#include <termios.h>

#include <string>
#include <string_view>

namespace hopgate::hopctl {

class Terminal {
 public:
  // Takes the terminal if there is one (keys are then read from key_fd());
  // otherwise plays without keys. Installs the signal handlers either way.
  Terminal();
  ~Terminal();  // Restore()
  Terminal(const Terminal&) = delete;
  Terminal& operator=(const Terminal&) = delete;

  int key_fd() const { return key_fd_; }        // -1: no keys (not a terminal)
  int signal_fd() const;                        // readable when a signal came
  bool output_is_terminal() const { return out_tty_; }
  int Columns() const;                          // of the output terminal (80 if unknown)
  int Rows() const;

  // Drains the signal pipe: SIGINT, SIGTERM or SIGHUP when one asks to stop
  // (the first), SIGTSTP handled here (the terminal given back, the process
  // stopped until SIGCONT, then taken again) and reported as SIGTSTP so the
  // player can restart its clock; 0 when nothing came.
  int TakeSignal();

  // Writes all of `bytes` to standard output. False if output is gone
  // (EPIPE, ...) or a stop signal interrupted a blocked write.
  bool Write(std::string_view bytes);

  // Sequences that undo what a played recording may have left on (hidden
  // cursor, attributes, mouse reporting, alternate screen, ...), written
  // before the terminal's modes are restored. Set by the player.
  void set_restore_sequence(std::string s) { restore_ = std::move(s); }

  // Gives the terminal back: the restore sequence, then the saved modes.
  // Idempotent; Take() undoes it.
  void Restore();
  void Take();

 private:
  int key_fd_ = -1;
  bool own_key_fd_ = false;  // opened /dev/tty
  bool out_tty_ = false;
  bool saved_ = false, taken_ = false;
  struct termios saved_modes_ = {};
  std::string restore_;
};

}  // namespace hopgate::hopctl
