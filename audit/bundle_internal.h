// What bundle export and verification share (internal to the bundle
// library): file helpers whose errors name the path, and the recordings a
// session's events name.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace hopgate::audit::bundle_io {

// Reads a whole file; refuses one larger than `max_bytes`.
Result<std::string> ReadFile(const std::string& path, size_t max_bytes);
// Creates `path` (mode 0600; it must not exist) with `data`.
Status WriteNewFile(const std::string& path, const std::string& data);
// Copies `from` to a new file `to` (mode 0600).
Status CopyFile(const std::string& from, const std::string& to);
// Creates `dir` (mode 0700), or accepts an existing empty directory.
Status MakeEmptyDir(const std::string& dir);
// Regular files under `dir`, as paths relative to it ("recordings/x.cast"),
// sorted; anything else (a symlink, a FIFO) is returned in `*other`.
Result<std::vector<std::string>> ListFiles(const std::string& dir, std::vector<std::string>* other);

struct EventLine {
  std::string_view text;
  std::string where;  // FILE:LINE, for messages
};

// A recording as the events name it: closed (session_close: its final size
// and SHA-256) or still open (recording_progress: the largest prefix).
struct NamedRecording {
  std::string logged;  // the path the log names
  bool closed = false;
  uint64_t size = 0;
  std::string sha256;
  std::string where;
};

// The recordings named by `lines`, by file name (the bundle keeps them as
// recordings/NAME). Errors: a path with no file name, two recordings with
// one name.
Result<std::map<std::string, NamedRecording>> RecordingsNamed(const std::vector<EventLine>& lines);

}  // namespace hopgate::audit::bundle_io
