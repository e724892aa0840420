#include "hopctl/replay_terminal.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <string_view>

namespace hopgate::hopctl {
namespace {

int g_signal_pipe[2] = {-1, -1};
volatile sig_atomic_t g_stop_signal = 0;  // SIGINT, SIGTERM or SIGHUP seen

void OnSignal(int sig) {
  int saved = errno;
  if (sig != SIGTSTP && sig != SIGCONT && g_stop_signal == 0) g_stop_signal = sig;
  unsigned char b = static_cast<unsigned char>(sig);
  if (g_signal_pipe[1] >= 0) (void)!write(g_signal_pipe[1], &b, 1);
  errno = saved;
}

constexpr int kSignals[] = {SIGINT, SIGTERM, SIGHUP, SIGTSTP, SIGCONT};

void Install(int sig, void (*handler)(int)) {
  struct sigaction sa = {};
  sa.sa_handler = handler;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;  // no SA_RESTART: a blocked write returns EINTR
  sigaction(sig, &sa, nullptr);
}

}  // namespace

Terminal::Terminal() {
  if (g_signal_pipe[0] < 0 && pipe2(g_signal_pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
    g_signal_pipe[0] = g_signal_pipe[1] = -1;
  }
  for (int sig : kSignals) Install(sig, OnSignal);
  signal(SIGPIPE, SIG_IGN);  // a closed output is a write error, not a death
  out_tty_ = isatty(STDOUT_FILENO) == 1;
  if (isatty(STDIN_FILENO) == 1) {
    key_fd_ = STDIN_FILENO;
  } else if (out_tty_) {
    key_fd_ = open("/dev/tty", O_RDONLY | O_CLOEXEC | O_NOCTTY);
    own_key_fd_ = key_fd_ >= 0;
  }
  if (key_fd_ >= 0 && tcgetattr(key_fd_, &saved_modes_) == 0) {
    saved_ = true;
    Take();
  } else if (key_fd_ >= 0) {
    if (own_key_fd_) close(key_fd_);
    key_fd_ = -1;
  }
}

Terminal::~Terminal() {
  Restore();
  for (int sig : kSignals) Install(sig, SIG_DFL);
  if (own_key_fd_) close(key_fd_);
}

int Terminal::signal_fd() const { return g_signal_pipe[0]; }

void Terminal::Take() {
  if (!saved_ || taken_) return;
  struct termios raw = saved_modes_;
  // Keys one at a time and unechoed; ISIG stays, so Ctrl-C and Ctrl-Z are
  // signals as usual, and output processing stays (a bare \n still starts
  // a new line).
  raw.c_lflag &= ~static_cast<tcflag_t>(ICANON | ECHO);
  raw.c_cc[VMIN] = 1;
  raw.c_cc[VTIME] = 0;
  if (tcsetattr(key_fd_, TCSANOW, &raw) == 0) taken_ = true;
}

void Terminal::Restore() {
  if (out_tty_ && !restore_.empty()) {
    std::string s = restore_;
    restore_.clear();  // once per Take
    size_t done = 0;
    while (done < s.size()) {
      ssize_t n = write(STDOUT_FILENO, s.data() + done, s.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      done += static_cast<size_t>(n);
    }
  }
  if (saved_ && taken_) {
    tcsetattr(key_fd_, TCSANOW, &saved_modes_);
    taken_ = false;
  }
}

int Terminal::Columns() const {
  struct winsize ws = {};
  if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
  return 80;
}

int Terminal::Rows() const {
  struct winsize ws = {};
  if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_row > 0) return ws.ws_row;
  return 24;
}

int Terminal::TakeSignal() {
  unsigned char b;
  int result = 0;
  while (g_signal_pipe[0] >= 0 && read(g_signal_pipe[0], &b, 1) == 1) {
    if (b == SIGTSTP && g_stop_signal == 0) {
      std::string again = restore_;
      Restore();
      Install(SIGTSTP, SIG_DFL);
      raise(SIGTSTP);  // stops here until SIGCONT
      Install(SIGTSTP, OnSignal);
      restore_ = again;
      Take();
      result = SIGTSTP;
    }
  }
  if (g_stop_signal != 0) return g_stop_signal;
  return result;
}

bool Terminal::Write(std::string_view bytes) {
  while (!bytes.empty()) {
    ssize_t n = write(STDOUT_FILENO, bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) {
      if (g_stop_signal != 0) return false;
      continue;
    }
    if (n < 0 && errno == EAGAIN) {
      struct pollfd p = {STDOUT_FILENO, POLLOUT, 0};
      poll(&p, 1, 100);
      continue;
    }
    if (n <= 0) return false;
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

}  // namespace hopgate::hopctl
