// Session recordings in asciicast v2 (asciinema's format): a header line,
// then one JSON array per event. CastWriter turns terminal bytes into valid
// UTF-8 event lines and hands them to a CastOutput (a file, or memory in
// tests); it takes times from its caller and never reads a clock. A writer
// borrows its output, which must outlive it. Not thread-safe: one writer per
// session, driven by that session's thread.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "common/result.h"

struct evp_md_ctx_st;  // OpenSSL's EVP_MD_CTX, kept out of this header

namespace hopgate::audit {

struct CastHeader {
  int width = 80, height = 24;
  int64_t timestamp = 0;                   // Unix seconds, session start; 0 = omit
  std::string command;                     // exec command; empty for a shell
  std::string title;                       // optional
  std::map<std::string, std::string> env;  // e.g. TERM, SHELL (only those given)
  // hopgate's own fields, written under a "hopgate" object in the header:
  // user, key_id, login, target, client_addr, session_id, connection, ...
  std::map<std::string, std::string> hopgate;
};

// Where a cast goes: a file, or memory in tests.
class CastOutput {
 public:
  virtual ~CastOutput() = default;
  virtual Status Write(std::string_view bytes) = 0;
  virtual Status Flush() { return Status::Ok(); }
};

// A new file (never an existing one: O_EXCL, mode 0600, missing parent
// directories made 0700). Each Write reaches the kernel before it returns;
// size() and Sha256Hex() cover exactly the bytes the file received.
class FileCastOutput : public CastOutput {
 public:
  static Result<std::unique_ptr<FileCastOutput>> Create(const std::string& path);
  ~FileCastOutput() override;
  FileCastOutput(const FileCastOutput&) = delete;
  FileCastOutput& operator=(const FileCastOutput&) = delete;

  Status Write(std::string_view bytes) override;
  // Closes the file, reporting close(2) errors; later Writes fail.
  Status Close();

  const std::string& path() const { return path_; }
  uint64_t size() const;
  std::string Sha256Hex() const;  // of all bytes written so far
  // Both at once, consistent with each other. Thread-safe against Write:
  // the audit log's checkpoints read an open recording's progress from
  // another thread.
  void Progress(uint64_t* size, std::string* sha256_hex) const;

 private:
  FileCastOutput(std::string path, int fd, evp_md_ctx_st* sha);
  std::string Sha256HexLocked() const;

  std::string path_;
  mutable std::mutex mu_;  // guards fd_, sha_ and size_ (Write vs Progress)
  int fd_;
  evp_md_ctx_st* sha_;
  uint64_t size_ = 0;
};

class MemoryCastOutput : public CastOutput {
 public:
  Status Write(std::string_view bytes) override;
  std::string data;
  std::string fail_message;  // when set, Write fails with it (tests)
};

class CastWriter {
 public:
  static constexpr size_t kDefaultMaxUnflushed = 64 * 1024;  // recording.max_unflushed

  // Calls Start(); its error, if any, is returned by every later call.
  // At most `max_unflushed` bytes of event lines are ever held unwritten
  // when an event call returns (see Flush).
  CastWriter(CastOutput* out, CastHeader header, int64_t start_ms,
             size_t max_unflushed = kDefaultMaxUnflushed);

  // Writes the header line straight to the output (unbuffered, so even an
  // interrupted recording is a valid cast). Only the first call writes.
  Status Start();

  // Events. `now_ms` is wall time in ms; the event time is seconds since
  // start_ms with microsecond precision, clamped so it never decreases.
  // Output and input may split UTF-8 characters anywhere: an incomplete
  // character at the end of a chunk is held for that stream's next chunk;
  // invalid bytes become U+FFFD.
  Status Output(int64_t now_ms, std::string_view bytes);  // "o"
  Status Input(int64_t now_ms, std::string_view bytes);   // "i"
  Status Resize(int64_t now_ms, int width, int height);   // "r", "WxH"
  Status Marker(int64_t now_ms, std::string_view label);  // "m"

  // Event lines are buffered and written when Flush() is called or, inside
  // the event call that takes the buffer past max_unflushed, before that
  // call returns: what a caller passes on after a successful event call is
  // either in the file or among at most max_unflushed bytes in memory.
  // Flush writes all complete lines; held partial characters (at most 3
  // bytes per stream) wait for more bytes or Close().
  Status Flush();
  // Emits held partial characters (as U+FFFD), then flushes. Later event
  // calls fail; a second Close is a no-op.
  Status Close(int64_t now_ms);

  uint64_t bytes_buffered() const { return buffer_.size(); }
  // The now_ms of the oldest event line still in memory (the caller
  // flushes when it gets too old); -1 when nothing is buffered.
  int64_t oldest_unwritten_ms() const { return buffer_.empty() ? -1 : oldest_ms_; }
  size_t max_unflushed() const { return max_unflushed_; }

 private:
  Status Stream(int64_t now_ms, const char* code, std::string* held,
                std::string_view bytes);
  // Appends one event line whose data is `bytes` made valid UTF-8 (held:
  // where an incomplete trailing character goes, or null) and escaped; no
  // line for a stream (held set) when that leaves nothing.
  Status Event(int64_t now_ms, const char* code, std::string_view bytes, std::string* held);
  Status AfterEvent();
  Status Check() const;
  Status WriteBuffer();
  Status Failed(Status s);

  CastOutput* out_;
  CastHeader header_;
  int64_t start_ms_;
  size_t max_unflushed_;
  int64_t oldest_ms_ = 0;  // now_ms of the first line in buffer_
  int64_t last_ms_ = 0;  // latest event offset written, for monotonic times
  bool started_ = false;
  bool closed_ = false;
  Status error_;         // sticky: the first output error
  std::string buffer_;   // complete event lines not yet written
  std::string held_output_, held_input_;  // incomplete UTF-8 tails
};

// Appends `valid_utf8` as a JSON string literal (quotes included), escaped
// exactly as nlohmann::json::dump() does. The input must be valid UTF-8
// (AppendValidUtf8's output).
void AppendJsonString(std::string_view valid_utf8, std::string* out);

// Appends `in` to `out` as valid UTF-8, replacing each maximal ill-formed
// subsequence with U+FFFD. If `held` is given and `in` ends inside a
// character that could still complete, those bytes go to *held instead.
void AppendValidUtf8(std::string_view in, std::string* out, std::string* held);

// Both in one pass, the recording's hot path: appends what
// AppendJsonString(AppendValidUtf8(in, held)) would, without the quotes.
// Runs of plain ASCII are scanned sixteen bytes at a time (SSE2).
void AppendJsonUtf8(std::string_view in, std::string* out, std::string* held);

}  // namespace hopgate::audit
