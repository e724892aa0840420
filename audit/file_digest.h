// The size and SHA-256 of a file, or of its first N bytes: how the audit
// log's recordings are checked against what the log says about them. Reads
// files only; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/result.h"

namespace hopgate::audit {

struct FileDigest {
  uint64_t size = 0;        // bytes in the file (all of them, even with a limit)
  uint64_t hashed = 0;      // bytes hashed: min(size, limit)
  std::string sha256_hex;   // of the first `hashed` bytes
};

// Errors: kNotFound (no such file), kFailedPrecondition (not a regular
// file: a FIFO or device is never read), other codes for I/O errors; the
// message names the path.
Result<FileDigest> DigestFile(const std::string& path, uint64_t limit = UINT64_MAX);

// Both hashes the verifier needs of every log line: its Merkle leaf hash
// (SHA-256 of 0x00 || line, merkle.h's LeafHash) and the SHA-256 of the
// line itself (the next line's prev), each 32 raw bytes. Uses OpenSSL's
// low-level SHA-256: through EVP, OpenSSL 3 looks the algorithm up under a
// lock on every call, which costs more than hashing a 300-byte line.
void LineHashes(std::string_view line, std::string* leaf, std::string* plain);

// A recording's file as the auditor has it: the path the log names, or,
// with `recordings_dir`, the same YYYY/MM/DD/NAME under that directory (a
// copy of the log and recordings moved elsewhere).
std::string RecordingFile(const std::string& logged_path, const std::string& recordings_dir);

}  // namespace hopgate::audit
