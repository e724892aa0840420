// Private to the recorded-session implementation (recorded_session.cc,
// recorded_channels.cc, recorded_reverse.cc and recorded_relay.cc): the class
// that runs one recorded session on its own thread. See recorded_session.h
// for what it does. Not thread-safe: every member is used by the session's
// thread only.
#pragma once

#include <libssh/callbacks.h>
#include <libssh/libssh.h>
#include <libssh/server.h>

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "audit/asciicast.h"
#include "audit/events.h"
#include "audit/sftp.h"
#include "proxy/gateway/gateway.h"
#include "proxy/recorded/recorded_session.h"
#include "proxy/ssh/alive.h"
#include "proxy/ssh/ssh_util.h"

namespace hopgate::proxy {

// An open recording in the gateway's list (Gateway::AddRecording): its
// progress goes into every audit checkpoint until it closes. Leaves the list
// when reset or destroyed.
class OpenRecording {
 public:
  OpenRecording() = default;
  OpenRecording(Gateway* gw, uint64_t id) : gw_(gw), id_(id) {}
  OpenRecording(OpenRecording&& o) noexcept : gw_(o.gw_), id_(o.id_) { o.gw_ = nullptr; }
  OpenRecording& operator=(OpenRecording&& o) noexcept {
    if (this != &o) {
      Reset();
      gw_ = o.gw_;
      id_ = o.id_;
      o.gw_ = nullptr;
    }
    return *this;
  }
  ~OpenRecording() { Reset(); }
  void Reset() {
    if (gw_ != nullptr) gw_->RemoveRecording(id_);
    gw_ = nullptr;
  }

 private:
  Gateway* gw_ = nullptr;
  uint64_t id_ = 0;
};

class RecordedSession {
 public:
  RecordedSession(Gateway* gw, RecordedSessionSpec spec, int fd)
      : gw_(gw), spec_(std::move(spec)), fd_(fd) {}
  ~RecordedSession();
  void Run();

 private:
  // Owners of libssh objects. Channels live in bridges_ and incoming_, which
  // the destructor empties before the sessions (inner_, up_) go.
  struct ChannelDeleter {
    void operator()(ssh_channel c) const { ssh_channel_free(c); }
  };
  using ChannelPtr = std::unique_ptr<ssh_channel_struct, ChannelDeleter>;
  struct SshStringDeleter {
    void operator()(ssh_string s) const { ssh_string_free(s); }
  };
  using SshStringPtr = std::unique_ptr<ssh_string_struct, SshStringDeleter>;
  struct SshCharDeleter {  // strings libssh allocated for us
    void operator()(char* c) const { ssh_string_free_char(c); }
  };
  using SshCharPtr = std::unique_ptr<char, SshCharDeleter>;

  // One inner channel and its upstream twin.
  struct Bridge {
    RecordedSession* rs = nullptr;
    uint32_t id = 0;
    std::string kind;  // "session" or "direct-tcpip"
    ChannelPtr in;     // the client's channel (inner_)
    ChannelPtr up;     // the target's channel (up_)
    ssh_channel_callbacks_struct in_cb{}, up_cb{};
    int64_t opened_ms = 0;
    // Requests from the client, applied upstream in order at the top of
    // the loop.
    struct Req {
      std::string type;  // pty, env, shell, exec, subsystem, resize, signal
      std::string a, b;
      int w = 0, h = 0;
    };
    std::deque<Req> reqs;
    bool up_failed = false;
    bool started = false;  // shell/exec/subsystem requested
    bool sftp_mode = false;
    std::string dest_host;  // direct-tcpip; the -R address for forwarded-tcpip; x11 originator
    uint16_t dest_port = 0;
    std::string origin_host = "127.0.0.1";  // forwarded-tcpip: who connected on the target
    uint16_t origin_port = 0;
    int width = 80, height = 24;
    std::string term;
    // Data and state.
    bool in_pending = false, up_pending = false, up_err_pending = false;
    bool in_eof = false, in_closed = false, up_eof = false, up_closed = false;
    bool eof_to_up = false, eof_to_in = false;
    bool status_to_in = false;  // the target's exit status or signal passed on
    std::optional<int> exit_status;
    std::string exit_signal;
    bool done = false;
    bool drain_noticed = false;  // told its terminal that the gateway drains
    std::string close_reason;
    // direct-tcpip: the first bytes each way are checked for an SSH
    // identification string (a hop through the recorded session).
    std::string sniff_up, sniff_in;
    uint64_t c2t = 0, t2c = 0;
    // Recording.
    std::unique_ptr<audit::FileCastOutput> cast_out;
    // Lists cast_out among the gateway's open recordings (for the audit
    // log's checkpoints); declared after it, so it leaves the list first.
    OpenRecording listed;
    std::unique_ptr<audit::CastWriter> cast;
    std::unique_ptr<audit::SftpObserver> sftp;
    std::string sftp_out;  // validated client packets waiting for the target's window
    bool sftp_flushing = false;  // FlushSftp is writing (guards nested calls)
    // Channels the target opens (auth-agent, x11, forwarded-tcpip) start with
    // `up` and get `in` opened to the client at the top of the loop.
    bool Reverse() const {
      return kind == "auth-agent" || kind == "x11" || kind == "forwarded-tcpip";
    }
    bool Ready() const { return up != nullptr && in != nullptr && (kind != "session" || started); }
    // The channels go first, the client's then the target's, before the
    // recording and the callbacks they point to.
    ~Bridge() {
      in.reset();
      up.reset();
    }
  };

  // Setup.
  bool Handshake();
  // The inner server session on fd_: interception host keys, algorithms,
  // key exchange callbacks. False (with end_reason_ set) when it cannot start.
  bool AcceptInner();
  static int OnWake(socket_t fd, int revents, void* userdata);
  static int OnAuthPubkey(ssh_session s, const char* user, ssh_key_struct* key, char state,
                          void* userdata);
  static int OnAuthNone(ssh_session, const char*, void*) { return SSH_AUTH_DENIED; }
  static int OnAuthPassword(ssh_session, const char*, const char*, void*) {
    return SSH_AUTH_DENIED;
  }
  int AuthPubkey(const std::string& user, ssh_key key, char state);
  bool ConnectUpstream(const std::string& login, std::string* why);
  void Refuse(const std::string& why);
  // Sends recording.notice as the inner login's banner, once.
  void ShowNotice();

  // Inner channels.
  static ssh_channel OnSessionOpen(ssh_session s, void* userdata);
  static int OnMessage(ssh_session s, ssh_message msg, void* userdata);
  void HandleDirectTcpip(ssh_message msg);
  void SetCallbacks(Bridge& b);
  static int OnInData(ssh_session, ssh_channel, void* data, uint32_t len, int is_stderr, void* u);
  static void OnInEof(ssh_session, ssh_channel, void* u) { static_cast<Bridge*>(u)->in_eof = true; }
  static void OnInClose(ssh_session, ssh_channel, void* u) {
    static_cast<Bridge*>(u)->in_closed = true;
  }
  static int OnPty(ssh_session, ssh_channel, const char* term, int w, int h, int, int, void* u);
  static int OnShell(ssh_session, ssh_channel, void* u);
  static int OnExec(ssh_session, ssh_channel, const char* command, void* u);
  static int OnSubsystem(ssh_session, ssh_channel, const char* name, void* u);
  static int OnEnv(ssh_session, ssh_channel, const char* name, const char* value, void* u);
  static int OnWindowChange(ssh_session, ssh_channel, int w, int h, int, int, void* u);
  static void OnSignal(ssh_session, ssh_channel, const char* sig, void* u);
  static void OnAgentReq(ssh_session, ssh_channel, void* u);
  static void OnX11Req(ssh_session, ssh_channel, int, const char*, const char*, uint32_t, void* u);
  // Channels the target opens towards the client.
  static ssh_channel OnUpAgentOpen(ssh_session s, void* userdata);
  static ssh_channel OnUpX11Open(ssh_session s, const char* addr, int port, void* userdata);
  Bridge* AddReverse(const std::string& kind, ChannelPtr up);
  void OpenInner(Bridge& b);
  void HandleTcpipForward(ssh_message msg, bool cancel);
  void AcceptForwarded();
  void SetUpCallbacks(Bridge& b);
  struct RemoteForward {
    std::string address;  // as the client asked
    uint16_t port = 0;    // as the client asked
    uint16_t bound = 0;   // what the target bound
  };
  std::vector<RemoteForward> forwards_;
  bool agent_requested_ = false;
  bool x11_requested_ = false;
  ssh_callbacks_struct up_session_cb_{};
  int Start(Bridge& b, const std::string& request, const std::string& command);

  // Upstream channels.
  static int OnUpData(ssh_session, ssh_channel, void* data, uint32_t len, int is_stderr, void* u);
  static void OnUpEof(ssh_session, ssh_channel, void* u) { static_cast<Bridge*>(u)->up_eof = true; }
  static void OnUpClose(ssh_session, ssh_channel, void* u) {
    static_cast<Bridge*>(u)->up_closed = true;
  }
  static void OnUpExitStatus(ssh_session, ssh_channel, int status, void* u) {
    static_cast<Bridge*>(u)->exit_status = status;
  }
  static void OnUpExitSignal(ssh_session, ssh_channel, const char* sig, int, const char*,
                             const char*, void* u) {
    static_cast<Bridge*>(u)->exit_signal = sig ? sig : "";
  }

  // The loop.
  void Loop();
  // Writes the recordings whose oldest unwritten event is kRecordingFlushMs
  // old; returns when the next one is due (-1: nothing waits).
  int64_t FlushRecordings(int64_t now);
  void Service(Bridge& b);
  void OpenUpstream(Bridge& b);
  void ApplyRequests(Bridge& b);
  size_t MoveToUp(Bridge& b, const char* data, size_t len);
  size_t MoveToIn(Bridge& b, const char* data, size_t len, bool is_stderr);
  void Record(Bridge& b, bool output, const char* data, size_t len);
  // SFTP client bytes: gated by the observer (see recorded_channels.cc).
  size_t GateSftp(Bridge& b, const char* data, size_t len);
  void FlushSftp(Bridge& b);
  void RefuseSftp(Bridge& b, const std::string& why);
  // How many client bytes may be taken now: the target's window, or for
  // SFTP the room left in the bounded queue of validated packets.
  size_t UpRoom(Bridge& b);
  static constexpr size_t kSftpQueue = 512 * 1024;
  // One sftp event per completed operation; `closing`: also those forwarded
  // and never answered.
  void AuditSftpOps(Bridge& b, bool closing = false);
  // A session_request event with the session id filled in.
  audit::SessionRequest RequestEvent(uint32_t channel, const std::string& request) const;
  // A session_open event with what every outcome shares filled in.
  audit::SessionOpen OpenEvent(bool success, const std::string& reason);
  // Ends every channel at a session limit, with a message and an audit event.
  void EndForLimit(
      const char* limit, int64_t seconds,
      const std::string& message);  // one sftp audit event per completed file operation
  void RecordFailed(Bridge& b, const std::string& error);
  void Finish(Bridge& b, const std::string& reason);
  void EndAll(const std::string& message, const std::string& reason);
  // While the gateway drains: tells each session channel's terminal once
  // (on stderr) when the session will be closed.
  void NoticeDrain(int64_t now);
  void Audit(const audit::Body& body);
  std::optional<std::string> ForcedCommand() { return Live().grants.force_command; }
  // The session's decision under the policy in force now (decided again
  // after a reload): every new channel and request uses its grants and is
  // audited with its version. Refused when it no longer allows.
  const policy::Decision& Live();
  // Empty when the live decision allows; else why new channels are refused.
  std::string LiveRefusal();
  // limits.max_channels_per_connection inside the session.
  bool ChannelSlotFree() const;
  // Inside the session, a destination on the target's loopback is the
  // target itself; every other destination is decided as through the
  // gateway. Fills what the target is asked to open, or returns why not.
  std::optional<std::string> DecideNested(const std::string& host, uint16_t port,
                                          std::string* open_host, audit::SessionRequest* e,
                                          std::string* note);
  // A direct-tcpip channel that turns out to carry SSH is closed.
  bool SniffSsh(Bridge& b, std::string* seen, const char* data, size_t len);

  Gateway* gw_;
  RecordedSessionSpec spec_;
  int fd_;
  int wake_fd_ = -1;  // eventfd the gateway writes when it stops
  BindPtr bind_;
  SessionPtr inner_;
  // upstream.alive_*: the target's liveness; declared before up_, whose
  // packets it counts, so it outlives it.
  AliveCheck up_alive_;
  SessionPtr up_;
  EventPtr event_;
  ssh_server_callbacks_struct server_cb_{};
  bool authenticated_ = false;
  bool open_audited_ = false;  // a session_open event was made
  bool notice_sent_ = false, notice_shown_ = false;  // recording.notice
  bool upstream_failed_ = false;
  int auth_failures_ = 0;
  std::string login_;
  std::string upstream_key_id_;
  int64_t started_ms_ = 0;
  int64_t last_activity_ms_ = 0;
  uint32_t next_channel_ = 0;
  bool busy_ = false;  // a blocking upstream call runs: callbacks leave data in libssh
  std::vector<std::unique_ptr<Bridge>> bridges_, incoming_;
  std::string end_reason_;
  bool recording_failed_ = false;  // end_reason_ is a recording failure
  std::shared_ptr<const policy::Policy> live_policy_;
  policy::Decision live_;
};

}  // namespace hopgate::proxy
