// Where an audit log's lines live: the current file and the files rotation
// left beside it (`<stem>.<first seq>.jsonl`), in order; and reading a file
// line by line in one streaming pass. Shared by the writer's recovery at
// start-up and by the verifier. Files only; no clock, no threads.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "common/result.h"

namespace hopgate::audit {

// `<stem>.<seq>.jsonl` for a log at `path` (`audit.jsonl` -> `audit.42.jsonl`;
// a path not ending in .jsonl keeps its name: `audit.log.42.jsonl`).
std::string RotatedPath(const std::string& path, uint64_t first_seq);

// The rotated files beside `path`, ordered by their first sequence number,
// then `path` itself if it exists.
std::vector<std::string> LogFilesOf(const std::string& path);

// The files logrotate made of `path` by renaming it (`<name>.1`,
// `<name>-20261121`: the name, '.' or '-', digits), sorted by name. Their
// lines continue the same tree; callers order them by their first seq.
std::vector<std::string> RenamedFilesOf(const std::string& path);

// Calls `line(text, offset, number)` for every complete line of `file`
// (without its newline; `number` counts from 1), reading in large blocks,
// starting at byte `from_offset` (which must start a line).
// `*partial_tail` (if given) receives the bytes after the last newline.
// Stops early, returning the callback's error, if it returns one.
Status ForEachLine(const std::string& file,
                   const std::function<Status(std::string_view line, uint64_t offset,
                                              uint64_t number)>& line,
                   std::string* partial_tail = nullptr, uint64_t from_offset = 0);

// Reads the "seq" member of a JSON line without parsing the rest; false if
// it has none (a line written before the log was tamper-evident).
bool PeekSeq(std::string_view line, uint64_t* seq);

}  // namespace hopgate::audit
