// Follows an audit log (audit/log_files.h: the live file and the rotated
// `<stem>.<first seq>.jsonl` files beside it) by sequence number: Seek(seq)
// finds the file holding that event, Read() returns the complete lines from
// there on, in order, following rotation. Only whole lines (a line still
// being written waits for the next call). Files only; not thread-safe.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "common/result.h"

namespace hopgate::audit::fleet {

struct LogLine {
  uint64_t seq = 0;
  std::string text;  // without its newline
};

class LogTail {
 public:
  // `warn` receives problems that do not stop reading (events missing from
  // the local files).
  LogTail(std::string log_path, std::function<void(const std::string&)> warn);

  // The next Read() starts at the event numbered `seq`.
  void Seek(uint64_t seq);
  // Up to `max` lines from the next event on (fewer, or none, at the end).
  Status Read(size_t max, std::vector<LogLine>* out);
  // The seq the next Read() starts at.
  uint64_t next() const { return next_; }

 private:
  // Picks the file that holds `next_` (the last one starting at or before
  // it); false when there is none yet.
  bool Locate();
  Status ReadCurrent(size_t max, std::vector<LogLine>* out);

  std::string path_;
  std::function<void(const std::string&)> warn_;
  std::string file_;   // being read; empty: locate first
  ino_t inode_ = 0;
  uint64_t offset_ = 0;
  uint64_t next_ = 0;
};

}  // namespace hopgate::audit::fleet
