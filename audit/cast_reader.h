// Reading asciicast v2 recordings (audit/asciicast.h writes them) as hostile
// input: every line bounded, checked and located (`line N: ...`), never a
// crash. CastParser is pure (bytes in, header and events out) and can be fed
// a file still being written: an incomplete last line just waits for more.
// CastFileReader reads a file through one descriptor, hashing every byte it
// hands to the parser, so a caller can check what it played against the
// audit log's digest. Neither is thread-safe: one reader per thread.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.h"

struct evp_md_ctx_st;  // OpenSSL's EVP_MD_CTX, kept out of this header

namespace hopgate::audit {

struct CastLimits {
  size_t max_line_bytes = 4 << 20;   // any line, header included
  int max_dimension = 10000;         // width, height, and "r" events
  double max_time = 1e9;             // seconds since the start (~31 years)
};

// The header line. Unknown members are ignored (asciicast allows them);
// the ones read here must have the types the format gives them.
struct CastInfo {
  int width = 0, height = 0;
  int64_t timestamp = 0;                      // 0 when absent
  std::optional<double> idle_time_limit;
  std::string command, title;
  std::map<std::string, std::string> env;
  std::map<std::string, std::string> hopgate;  // hopgate's own fields
};

struct CastEvent {
  double time = 0;        // seconds since the start, never decreasing
  std::string code;       // "o", "i", "r", "m", or an extension code
  std::string data;       // for extension codes: the JSON text of the data
  uint64_t line = 0;      // 1-based line number in the file
  uint64_t end_offset = 0;  // byte offset just past this line's newline
  int width = 0, height = 0;  // "r" events, parsed
};

class CastParser {
 public:
  explicit CastParser(CastLimits limits = {});

  // Appends bytes. Fails (and stays failed) once an unterminated line is
  // longer than the limit, so memory stays bounded.
  Status Feed(std::string_view bytes);

  // The next event of a complete line: true with *out filled, false when no
  // complete line is buffered (feed more). The header line is consumed
  // first (header() is set from then on). Errors carry `line`, stay sticky
  // and say what is wrong without the file name (see Located());
  // error_column() then says where in the line.
  Result<bool> Next(CastEvent* out);

  const CastInfo* header() const { return has_header_ ? &header_ : nullptr; }
  uint64_t lines() const { return line_; }            // complete lines consumed
  uint64_t consumed_bytes() const { return consumed_; }  // through the last one
  size_t pending_bytes() const { return buf_.size() - pos_; }  // unterminated tail
  // The 1-based byte column of the error in its line (0: none yet).
  int error_column() const { return error_column_; }

 private:
  // A problem at a 1-based byte column of the line being parsed.
  struct Problem {
    std::string message;
    size_t column = 1;
  };
  std::optional<Problem> ParseHeader(std::string_view text);
  std::optional<Problem> ParseEvent(std::string_view text, CastEvent* out);
  Error Fail(std::string message, size_t column);

  CastLimits limits_;
  std::string buf_;
  size_t pos_ = 0;           // start of the first unconsumed byte in buf_
  uint64_t line_ = 0;
  uint64_t consumed_ = 0;
  bool has_header_ = false;
  CastInfo header_;
  double last_time_ = 0;
  std::optional<Error> error_;
  int error_column_ = 0;
};

// "FILE:LINE:COLUMN: message" ("FILE:LINE: message" without a column,
// "FILE: message" without a line).
std::string Located(const std::string& file, const Error& error, int column = 0);

class CastFileReader {
 public:
  // Opens `path` read-only; nothing is read yet.
  static Result<std::unique_ptr<CastFileReader>> Open(const std::string& path,
                                                      CastLimits limits = {});
  ~CastFileReader();
  CastFileReader(const CastFileReader&) = delete;
  CastFileReader& operator=(const CastFileReader&) = delete;

  enum class Step { kEvent, kNoMoreNow };
  // The next event; kNoMoreNow when the file holds no further complete line
  // now (at its end, or at the size limit): a file still being written may
  // have more later, so calling again after it grew continues where this
  // stopped. Errors are located (FILE:LINE:COLUMN: ...).
  Result<Step> Next(CastEvent* out);

  // Never reads past `bytes` (the size the audit log vouches for).
  void LimitTo(uint64_t bytes) { limit_ = bytes; }
  // Back to the start: parser, hash and counters reset.
  Status Rewind();

  const std::string& path() const { return path_; }
  const CastInfo* header() const { return parser_.header(); }
  uint64_t bytes_read() const { return read_; }   // all hashed
  bool at_limit() const { return limit_ && read_ >= *limit_; }
  size_t pending_bytes() const { return parser_.pending_bytes(); }
  uint64_t lines() const { return parser_.lines(); }
  std::string Sha256Hex() const;  // of the bytes read so far
  int fd() const { return fd_; }

 private:
  CastFileReader(std::string path, int fd, evp_md_ctx_st* sha, CastLimits limits);
  Result<bool> ReadMore();  // true: got bytes

  std::string path_;
  int fd_;
  evp_md_ctx_st* sha_;
  CastLimits limits_;
  CastParser parser_;
  uint64_t read_ = 0;
  std::optional<uint64_t> limit_;
};

// One full pass over a finished recording: its size, SHA-256, header,
// number of events and duration, or the first problem (FILE:LINE:COLUMN: ...).
// A final line without its newline (a recording cut short) is not an error:
// `partial_tail` says how many bytes it has.
struct CastSummary {
  uint64_t size = 0;
  std::string sha256;
  CastInfo header;
  uint64_t events = 0;
  double duration = 0;
  size_t partial_tail = 0;
};
Result<CastSummary> ScanCast(const std::string& path, CastLimits limits = {});

}  // namespace hopgate::audit
