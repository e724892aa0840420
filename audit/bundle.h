// An export bundle: one session's events exactly as in the audit log, each
// with an RFC 9162 inclusion proof against one signed checkpoint, that
// checkpoint and its signature, the session's recordings, and a manifest
// listing every file with its size and SHA-256. Anyone who trusts the
// gateway's checkpoint key can check it offline, without the rest of the log.
// Layout of DIR:
//   manifest.json     {"format","session","origin","tree_size","root","events","files":[...]}
//   events.jsonl      the session's lines, byte for byte
//   proofs.jsonl      per event: {"inclusion_proof":[base64...],"seq":N,"tree_size":T}
//   checkpoint, checkpoint.sig   the signed checkpoint (ssh-keygen -Y verify checks it)
//   recordings/NAME   the recordings its session_close / recording_progress events name
//   README.txt        how to check it
// Reads and writes files only; not thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "audit/line_scan.h"
#include "audit/trust.h"
#include "common/result.h"

namespace hopgate::audit {

inline constexpr const char* kBundleFormat = "hopgate-audit-bundle/1";

// "c…" (a connection: everything it did) or "c…-N" (one recorded session,
// or one channel, of it).
bool ValidSessionId(std::string_view id);
// Whether a line (its scanned fields) is an event of session `id`.
bool BelongsToSession(const LineFields& f, std::string_view id);

struct ExportOptions {
  std::string session;
  std::string out_dir;         // created; must not exist or be empty
  std::string recordings_dir;  // see RecordingFile(); empty: paths as logged
  std::function<void(uint64_t bytes)> progress;
};

struct ExportSummary {
  uint64_t events = 0;
  uint64_t recordings = 0;
  uint64_t tree_size = 0;  // of the checkpoint the proofs lead to
  std::string origin;
  std::vector<std::string> notes;
};

// Writes the bundle of `o.session` from the log made of `ordered_files`,
// against the first checkpoint after the session's last event. Errors:
// kInvalidArgument (a bad session id), kNotFound (no event of that
// session), kFailedPrecondition (no checkpoint after its last event yet),
// kDataLoss (the log or a recording does not match: run audit verify),
// kAlreadyExists (DIR is not empty), other codes for I/O errors.
Result<ExportSummary> ExportBundle(const std::vector<std::string>& ordered_files,
                                   const ExportOptions& o);

struct BundleReport {
  std::vector<std::string> problems;  // "FILE: what is wrong" (FILE relative to DIR)
  std::vector<std::string> notes;     // verified prefixes of recordings never closed
  std::string session, origin;
  uint64_t events = 0, recordings = 0, tree_size = 0;
  bool ok() const { return problems.empty(); }
};

// Checks a bundle offline against keys the auditor trusts (never the
// bundle's own say): the manifest (byte for byte canonical, every file
// listed and matching), the checkpoint's signature, every event's inclusion
// proof, every recording against its session_close. Errors only when DIR
// cannot be read at all.
Result<BundleReport> VerifyBundle(const std::string& dir, const TrustedKeys& trusted, int64_t now);

}  // namespace hopgate::audit
