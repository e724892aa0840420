// Reads a log's files in large blocks and prepares every line for the
// verifier (the JSON scan and both hashes, the costly per-line work) on a
// read-ahead thread, and on more threads where there are cores, while the
// caller checks the previous batch in order. Internal to audit verify.
// One consumer; Next() is not thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <future>
#include <memory>
#include <string>
#include <vector>

#include "audit/line_scan.h"
#include "audit/merkle.h"
#include "common/result.h"

namespace hopgate::audit {

struct PreparedLine {
  std::string_view text;  // into LineBatch::data
  uint64_t number = 0;    // 1-based, in its file
  const char* bad = nullptr;  // ScanLine's verdict
  LineFields fields;
  Hash leaf;                       // LeafHash(text)
  std::array<char, 64> sha256_hex; // SHA-256(text), lower-case hex
};

struct LineBatch {
  size_t file = 0;  // index into the files given
  std::string data;
  std::vector<PreparedLine> lines;
  bool file_end = false;  // the last batch of its file
  std::string tail;       // with file_end: bytes after the file's last newline
  uint64_t tail_line = 0; // the line number the tail would have had
  Status error;           // the file could not be read (its remaining lines are lost)
};

class LineBatches {
 public:
  explicit LineBatches(std::vector<std::string> files, size_t batch_bytes = 4 << 20);
  ~LineBatches();
  LineBatches(const LineBatches&) = delete;
  LineBatches& operator=(const LineBatches&) = delete;

  // The next batch in file order; nullptr after the last.
  std::unique_ptr<LineBatch> Next();

 private:
  std::unique_ptr<LineBatch> Read();
  Status OpenNext();

  const std::vector<std::string> files_;
  const size_t batch_bytes_;
  const int workers_;
  // Read-ahead state (touched only by the thread running Read()).
  size_t index_ = 0;
  int fd_ = -1;
  std::string carry_;     // an unfinished line
  uint64_t number_ = 0;   // lines so far in the current file
  std::future<std::unique_ptr<LineBatch>> ahead_;
};

}  // namespace hopgate::audit
