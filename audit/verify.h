// Verifies a tamper-evident audit log (audit/sink.h) in one streaming pass:
// every line's seq and prev, the Merkle tree recomputed (audit/merkle.h),
// every checkpoint's root and SSHSIG signature by a key the auditor trusts
// (audit/trust.h), every recording the log names against its size and
// SHA-256, and optionally that the log extends a checkpoint saved earlier.
// Problems name the first damaged place: FILE:LINE, or the recording.
// Reads files only (no clock: `now` is passed in), with a read-ahead thread
// of its own; one call at a time per VerifyOptions.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "audit/merkle.h"
#include "audit/trust.h"
#include "common/result.h"

namespace hopgate::audit {

// The files that make up a log, in no particular order: one PATH that is a
// file means that log with every file rotation and logrotate left beside it
// (`<stem>.<seq>.jsonl`, `<name>.1`, `<name>-20261121`); a directory means
// the log files in it; several PATHs mean exactly those files (or
// directories). Errors (kNotFound, ...) name the path.
Result<std::vector<std::string>> LogFilesFor(const std::vector<std::string>& paths);

// Orders log files by the seq of their first line (so renamed files fit in
// anywhere); empty files are dropped; a file whose first line has no seq
// goes by the number in its name, else last.
Result<std::vector<std::string>> OrderLogFiles(const std::vector<std::string>& files);

// A checkpoint saved earlier (--checkpoint OLD, with OLD.sig beside it).
struct SavedCheckpoint {
  std::string name;  // for messages: the file's path
  std::string text;
  std::string signature;
};

struct VerifyOptions {
  const TrustedKeys* trusted = nullptr;  // required
  std::optional<SavedCheckpoint> old_checkpoint;
  std::string recordings_dir;  // see RecordingFile(); empty: paths as logged
  int64_t now = 0;             // Unix seconds, for allowed_signers validity
  // Called now and then with the bytes read so far (a progress bar).
  std::function<void(uint64_t bytes)> progress;
  size_t max_problems = 1000;  // beyond this, problems are only counted
};

struct VerifyReport {
  // "FILE:LINE: what is wrong", "RECORDING: what is wrong" or
  // "CHECKPOINT-FILE: what is wrong"; the first names the first damage.
  std::vector<std::string> problems;
  uint64_t more_problems = 0;  // found beyond max_problems
  // Informational: verified prefixes of recordings never closed, events
  // after the last checkpoint, partial last lines.
  std::vector<std::string> notes;
  std::vector<std::string> io_errors;  // files that could not be read
  uint64_t events = 0;      // lines read
  uint64_t recordings = 0;  // recordings checked (whole or prefix)
  uint64_t checkpoints = 0; // checkpoints whose root and signature verified
  uint64_t bytes = 0;       // of log read
  uint64_t tree_size = 0;
  Hash root;                // of the recomputed tree (32 bytes)

  bool ok() const { return problems.empty() && more_problems == 0 && io_errors.empty(); }
};

// Verifies the log made of `ordered_files` (OrderLogFiles).
VerifyReport VerifyLog(const std::vector<std::string>& ordered_files, const VerifyOptions& options);

}  // namespace hopgate::audit
