// Recorded sessions, the relay of each bridge: its upstream twin opened,
// the client's requests applied to it in order, data moved both ways within
// the peers' windows, recorded (asciicast; SFTP gated and audited per file
// operation) and the bridge finished with its audit event.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <string>
#include <string_view>
#include <vector>

#include "common/net.h"
#include "proxy/recorded/recorded_session_impl.h"

namespace hopgate::proxy {
namespace {

constexpr size_t kChunk = 64 * 1024;

}  // namespace

// ------------------------------------------------------------------ bridges

void RecordedSession::OpenUpstream(Bridge& b) {
  busy_ = true;
  ssh_set_blocking(up_.get(), 1);
  ChannelPtr ch(ssh_channel_new(up_.get()));
  int rc = SSH_ERROR;
  if (ch != nullptr) {
    rc = b.kind == "session"
             ? ssh_channel_open_session(ch.get())
             : ssh_channel_open_forward(ch.get(), b.dest_host.c_str(), b.dest_port, "127.0.0.1", 0);
  }
  ssh_set_blocking(up_.get(), 0);
  busy_ = false;
  if (rc != SSH_OK) {
    std::string why = SessionError(up_.get());
    ch.reset();  // freed here, before the client is told
    b.up_failed = true;
    b.close_reason = "the target refused the channel: " + why;
    if (b.kind == "session") {
      std::string msg =
          "hopgate: " + spec_.target + " refused the session channel: " + why + "\r\n";
      ssh_channel_write_stderr(b.in.get(), msg.data(), static_cast<uint32_t>(msg.size()));
      ssh_channel_request_send_exit_status(b.in.get(), 255);
    }
    ssh_channel_send_eof(b.in.get());
    ssh_channel_close(b.in.get());
    b.done = true;
    return;
  }
  b.up = std::move(ch);
  SetUpCallbacks(b);
}

void RecordedSession::SetUpCallbacks(Bridge& b) {
  ssh_callbacks_init(&b.up_cb);
  b.up_cb.userdata = &b;
  b.up_cb.channel_data_function = &RecordedSession::OnUpData;
  b.up_cb.channel_eof_function = &RecordedSession::OnUpEof;
  b.up_cb.channel_close_function = &RecordedSession::OnUpClose;
  b.up_cb.channel_exit_status_function = &RecordedSession::OnUpExitStatus;
  b.up_cb.channel_exit_signal_function = &RecordedSession::OnUpExitSignal;
  ssh_set_channel_callbacks(b.up.get(), &b.up_cb);
}

void RecordedSession::ApplyRequests(Bridge& b) {
  while (!b.reqs.empty() && !b.done) {
    Bridge::Req r = std::move(b.reqs.front());
    b.reqs.pop_front();
    ssh_channel up = b.up.get();
    int rc = SSH_OK;
    busy_ = true;
    if (r.type == "resize") {
      rc = ssh_channel_change_pty_size(up, r.w, r.h);  // no reply awaited
    } else if (r.type == "signal") {
      rc = ssh_channel_request_send_signal(up, r.a.c_str());
    } else {
      ssh_set_blocking(up_.get(), 1);
      if (r.type == "pty") {
        rc = ssh_channel_request_pty_size(up, r.a.empty() ? "xterm" : r.a.c_str(), r.w, r.h);
      } else if (r.type == "env") {
        (void)ssh_channel_request_env(up, r.a.c_str(), r.b.c_str());  // the target may refuse
      } else if (r.type == "shell") {
        rc = ssh_channel_request_shell(up);
      } else if (r.type == "exec") {
        rc = ssh_channel_request_exec(up, r.a.c_str());
      } else if (r.type == "subsystem") {
        rc = ssh_channel_request_subsystem(up, r.a.c_str());
      } else if (r.type == "agent") {
        (void)ssh_channel_request_auth_agent(up);  // no reply is awaited
      } else if (r.type == "x11") {
        if (ssh_channel_request_x11(up, r.w, r.a.c_str(), r.b.c_str(), r.h) != SSH_OK) {
          spdlog::info("conn={} session {}: the target refused X11 forwarding", spec_.connection_id,
                       spec_.session_id);
        }
      }
      ssh_set_blocking(up_.get(), 0);
    }
    busy_ = false;
    if (rc != SSH_OK && r.type != "resize" && r.type != "signal") {
      std::string msg = "hopgate: " + spec_.target + " refused " + r.type + ": " +
                        SessionError(up_.get()) + "\r\n";
      ssh_channel_write_stderr(b.in.get(), msg.data(), static_cast<uint32_t>(msg.size()));
      ssh_channel_request_send_exit_status(b.in.get(), 255);
      Finish(b, "the target refused " + r.type);
      return;
    }
  }
}

void RecordedSession::Service(Bridge& b) {
  if (b.done) return;
  if (!b.up && !b.up_failed) OpenUpstream(b);
  if (!b.in && !b.up_failed && !b.done) OpenInner(b);
  if (b.done) return;
  if (b.in_closed && !b.up_closed) {
    Finish(b, b.close_reason.empty() ? "client closed the channel" : b.close_reason);
    return;
  }
  ApplyRequests(b);
  if (b.done || !b.Ready()) return;
  char buf[kChunk];
  // Client -> target: what libssh still holds.
  if (b.sftp) FlushSftp(b);
  while (b.in_pending && end_reason_.empty()) {
    size_t room = UpRoom(b);
    if (room == 0) break;
    int n = ssh_channel_read_nonblocking(b.in.get(), buf, std::min<size_t>(room, kChunk), 0);
    if (n <= 0) {
      b.in_pending = false;
      break;
    }
    size_t moved = MoveToUp(b, buf, static_cast<size_t>(n));
    if (b.done) return;
    if (moved < static_cast<size_t>(n)) {
      // Cannot happen: we read no more than the window. Keep it loud.
      b.close_reason = "internal error: relay lost data";
      Finish(b, b.close_reason);
      return;
    }
  }
  // Target -> client, stdout then stderr.
  for (int err = 0; err <= 1; ++err) {
    bool& pending = err ? b.up_err_pending : b.up_pending;
    while (pending && end_reason_.empty()) {
      uint32_t window = ssh_channel_window_size(b.in.get());
      if (window == 0) break;
      int n =
          ssh_channel_read_nonblocking(b.up.get(), buf, std::min<uint32_t>(window, kChunk), err);
      if (n <= 0) {
        pending = false;
        break;
      }
      size_t moved = MoveToIn(b, buf, static_cast<size_t>(n), err != 0);
      if (b.done) return;
      if (moved < static_cast<size_t>(n)) {
        Finish(b, "internal error: relay lost data");
        return;
      }
    }
  }
  if (b.in_eof && !b.in_pending && !b.eof_to_up && b.sftp_out.empty()) {
    ssh_channel_send_eof(b.up.get());
    b.eof_to_up = true;
  }
  bool up_drained = !b.up_pending && !b.up_err_pending;
  // How the session ended goes to the client with (before) the target's
  // EOF, never after it: a client whose input has ended closes the channel
  // once both directions saw EOF (OpenSSH's control master does), and an
  // exit status sent later would be lost (ssh exits 255). So a session's
  // EOF waits for the target's exit status or exit signal (or its close:
  // then Finish sends it, after saying why there was no status).
  if (up_drained && !b.status_to_in && (b.exit_status || !b.exit_signal.empty())) {
    if (b.exit_status) ssh_channel_request_send_exit_status(b.in.get(), *b.exit_status);
    if (!b.exit_signal.empty()) {
      ssh_channel_request_send_exit_signal(b.in.get(), b.exit_signal.c_str(), 0, "", "");
    }
    b.status_to_in = true;
  }
  if (b.up_eof && up_drained && !b.eof_to_in &&
      (b.kind != "session" || b.status_to_in)) {
    ssh_channel_send_eof(b.in.get());
    b.eof_to_in = true;
  }
  if (b.up_closed && up_drained) {
    if (b.kind == "session" && !b.exit_status && b.exit_signal.empty()) {
      // sshd always reports how a session ended: without a word, the
      // target (or the connection to it) died. Say so to the client.
      std::string why =
          "the target " + spec_.target + " closed the session without an exit status";
      std::string msg =
          "\r\nhopgate: " + why + " (its sshd died or the connection was lost)\r\n";
      ssh_channel_write_stderr(b.in.get(), msg.data(), static_cast<uint32_t>(msg.size()));
      Finish(b, why);
      return;
    }
    Finish(b, "closed by the target");
  }
}

void RecordedSession::Finish(Bridge& b, const std::string& reason) {
  if (b.done && b.close_reason == "finished") return;
  int64_t now = gw_->NowMs();
  audit::SessionClose c;
  c.session = spec_.session_id;
  c.channel = b.id;
  c.kind = b.kind;
  if (b.cast) {
    Status st = b.cast->Close(now);
    if (!st) RecordFailed(b, st.message());
  }
  if (b.cast_out) {
    b.listed.Reset();  // the session_close event below covers it from now on
    c.recording = b.cast_out->path();
    c.recording_sha256 = b.cast_out->Sha256Hex();
    c.recording_size = b.cast_out->size();
    (void)b.cast_out->Close();
  }
  if (b.sftp) AuditSftpOps(b, /*closing=*/true);
  c.exit_status = b.exit_status;
  c.exit_signal = b.exit_signal;
  c.bytes_client_to_target = b.c2t;
  c.bytes_target_to_client = b.t2c;
  c.duration_ms = now - b.opened_ms;
  c.reason = reason;
  Audit(c);
  if (b.up) {
    ssh_remove_channel_callbacks(b.up.get(), &b.up_cb);
    ssh_channel_close(b.up.get());
  }
  if (b.in) {
    ssh_remove_channel_callbacks(b.in.get(), &b.in_cb);
    if (!b.eof_to_in) ssh_channel_send_eof(b.in.get());
    ssh_channel_close(b.in.get());
  }
  b.done = true;
  b.close_reason = "finished";
}

// ------------------------------------------------------------------ data

void RecordedSession::AuditSftpOps(Bridge& b, bool closing) {
  std::vector<audit::SftpOp> ops = b.sftp->TakeOps();
  if (closing) {
    // Forwarded but unanswered: the target may have done them.
    for (auto& op : b.sftp->TakeUnanswered()) ops.push_back(std::move(op));
  }
  for (auto& op : ops) {
    audit::SftpOperation e;
    e.session = spec_.session_id;
    e.channel = b.id;
    e.op = op.op;
    e.path = op.path;
    e.new_path = op.new_path;
    e.mode = op.mode;
    e.status = op.status;
    e.bytes_read = op.bytes_read;
    e.bytes_written = op.bytes_written;
    Audit(e);
  }
}

void RecordedSession::Record(Bridge& b, bool output, const char* data, size_t len) {
  if (b.sftp) {
    // Client bytes go through GateSftp; the target's replies are observed.
    Status st = b.sftp->FromServer(std::string_view(data, len));
    AuditSftpOps(b);
    if (!st) RefuseSftp(b, "the target's SFTP stream is malformed: " + st.message());
    return;
  }
  if (!b.cast) return;
  int64_t now = gw_->NowMs();
  Status st =
      output ? b.cast->Output(now, std::string_view(data, len))
             : (Live().grants.record_input ? b.cast->Input(now, std::string_view(data, len))
                                                   : Status::Ok());
  if (!st) RecordFailed(b, st.message());
}

void RecordedSession::RecordFailed(Bridge& b, const std::string& error) {
  if (!end_reason_.empty()) return;
  audit::RecordingFailed f;
  f.session = spec_.session_id;
  f.channel = b.id;
  f.recording = b.cast_out ? b.cast_out->path() : "";
  f.error = error;
  Audit(f);
  spdlog::error("conn={} recording of session {} failed ({}): closing it", spec_.connection_id,
                spec_.session_id, error);
  end_reason_ = "recording failed: " + error;
  recording_failed_ = true;
}

void RecordedSession::RefuseSftp(Bridge& b, const std::string& why) {
  if (b.done || !b.close_reason.empty()) return;
  spdlog::warn("conn={} recorded session {}: sftp channel {} closed: {}", spec_.connection_id,
               spec_.session_id, b.id, why);
  std::string msg = "hopgate: " + why + "; channel closed\r\n";
  if (b.in) ssh_channel_write_stderr(b.in.get(), msg.data(), static_cast<uint32_t>(msg.size()));
  b.close_reason = why;
  b.in_closed = true;  // ends the channel at the top of the loop, not the session
}

size_t RecordedSession::UpRoom(Bridge& b) {
  if (!b.sftp) return ssh_channel_window_size(b.up.get());
  FlushSftp(b);
  size_t queued = b.sftp_out.size() + b.sftp->buffered_client_bytes();
  return queued >= kSftpQueue ? 0 : kSftpQueue - queued;
}

void RecordedSession::FlushSftp(Bridge& b) {
  // A channel write flushes the socket, which polls the whole event: our own
  // callbacks can run inside it and append to sftp_out. Only the outermost
  // call writes, and it takes each piece out of the queue before writing it.
  if (b.sftp_flushing) return;
  b.sftp_flushing = true;
  while (!b.sftp_out.empty() && !b.done) {
    uint32_t window = ssh_channel_window_size(b.up.get());
    size_t n = std::min<size_t>(b.sftp_out.size(), std::min<uint32_t>(window, 64 * 1024));
    if (n == 0) break;
    std::string piece = b.sftp_out.substr(0, n);
    b.sftp_out.erase(0, n);
    int w = ssh_channel_write(b.up.get(), piece.data(), static_cast<uint32_t>(n));
    if (w != static_cast<int>(n)) {
      // Within the window a write is whole or the channel is gone.
      RefuseSftp(b, "cannot write to the target: " + SessionError(up_.get()));
      break;
    }
    b.c2t += n;
    last_activity_ms_ = gw_->NowMs();
  }
  b.sftp_flushing = false;
}

// SFTP from the client: only complete packets the observer parsed and
// accounted for reach the target; anything else closes the channel before
// the target sees a byte of it.
size_t RecordedSession::GateSftp(Bridge& b, const char* data, size_t len) {
  size_t n = std::min(len, UpRoom(b));
  if (n == 0 || !b.close_reason.empty()) return b.close_reason.empty() ? 0 : len;
  Status st = b.sftp->FromClient(std::string_view(data, n), &b.sftp_out);
  FlushSftp(b);
  if (!st) RefuseSftp(b, "SFTP request refused, not forwarded: " + st.message());
  return n;
}

size_t RecordedSession::MoveToUp(Bridge& b, const char* data, size_t len) {
  if (b.sftp) return GateSftp(b, data, len);
  uint32_t window = ssh_channel_window_size(b.up.get());
  size_t n = std::min<size_t>(len, window);
  if (n == 0) return 0;
  if (SniffSsh(b, &b.sniff_up, data, n)) return n;  // dropped: the channel is closed
  Record(b, false, data, n);
  int w = ssh_channel_write(b.up.get(), data, static_cast<uint32_t>(n));
  if (w <= 0) return 0;
  b.c2t += static_cast<uint64_t>(w);
  last_activity_ms_ = gw_->NowMs();
  return static_cast<size_t>(w);
}

size_t RecordedSession::MoveToIn(Bridge& b, const char* data, size_t len, bool is_stderr) {
  uint32_t window = ssh_channel_window_size(b.in.get());
  size_t n = std::min<size_t>(len, window);
  if (n == 0) return 0;
  if (SniffSsh(b, &b.sniff_in, data, n)) return n;  // dropped: the channel is closed
  // Recorded before the client sees it.
  Record(b, true, data, n);
  if (!end_reason_.empty()) return 0;
  int w = is_stderr ? ssh_channel_write_stderr(b.in.get(), data, static_cast<uint32_t>(n))
                    : ssh_channel_write(b.in.get(), data, static_cast<uint32_t>(n));
  if (w <= 0) return 0;
  b.t2c += static_cast<uint64_t>(w);
  last_activity_ms_ = gw_->NowMs();
  return static_cast<size_t>(w);
}

int RecordedSession::OnInData(ssh_session, ssh_channel, void* data, uint32_t len, int, void* u) {
  auto& b = *static_cast<Bridge*>(u);
  RecordedSession* rs = b.rs;
  if (rs->busy_ || !b.Ready() || b.done || !b.reqs.empty()) {
    b.in_pending = true;
    return 0;
  }
  size_t n = rs->MoveToUp(b, static_cast<const char*>(data), len);
  if (n < len) b.in_pending = true;
  return static_cast<int>(n);
}

int RecordedSession::OnUpData(ssh_session, ssh_channel, void* data, uint32_t len, int is_stderr,
                              void* u) {
  auto& b = *static_cast<Bridge*>(u);
  RecordedSession* rs = b.rs;
  if (rs->busy_ || b.done || !b.Ready() || !rs->end_reason_.empty()) {
    (is_stderr ? b.up_err_pending : b.up_pending) = true;
    return 0;
  }
  size_t n = rs->MoveToIn(b, static_cast<const char*>(data), len, is_stderr != 0);
  if (n < len) (is_stderr ? b.up_err_pending : b.up_pending) = true;
  return static_cast<int>(n);
}

}  // namespace hopgate::proxy
