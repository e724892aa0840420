// Where `hopctl replay` gets events from, and how it checks them against the
// audit log. A finished recording is checked in full before it is played
// (size and SHA-256 as its session_close gives them, and every line well
// formed), then played from the same descriptor no further than that size,
// hashed again as it goes, so a file changed in between is caught too. A
// live recording (--follow) is tailed: inotify on the file and the log wakes
// the player, and the channel's session_close, when it comes, gives the
// size to stop at and the digest the whole file must have. Not thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "audit/cast_reader.h"
#include "common/result.h"
#include "hopctl/replay_log.h"
#include "hopctl/replay_player.h"

namespace hopgate::hopctl {

// Exit codes of hopctl replay.
constexpr int kExitOk = 0, kExitRefused = 1, kExitUsage = 2;

// Checks a closed channel's recording against its session_close: "PATH:
// does not match the audit log (LOG:LINE): ..." with code kDataLoss, or the
// first malformed line (kInvalidArgument), or why the file cannot be read.
Status VerifyRecording(const ReplayChannel& channel);

// Checks the first `bytes` of `path` against a recording_progress digest.
Status VerifyPrefix(const std::string& path, uint64_t bytes, const std::string& sha256,
                    const std::string& where);

// A recording played to its end as it is now. With `expect` set (the log's
// size and digest, already verified), reads no further than that size and
// fails at the end if what was read no longer matches.
class FileSource : public EventSource {
 public:
  struct Expect {
    uint64_t size = 0;
    std::string sha256;
  };
  static Result<std::unique_ptr<FileSource>> Open(const std::string& path,
                                                  std::optional<Expect> expect);
  Result<Step> Next(audit::CastEvent* out) override;
  const audit::CastInfo* header() const override { return reader_->header(); }
  // "PATH:N: ends in an incomplete line ..." when it did (not an error).
  const std::string& note() const { return note_; }
  // Reads up to the header (for the separator line); events stay unread.
  Status ReadHeader();
  // Shows the whole recording at once (following: it is past already).
  void ShowAtOnce() { at_once_ = true; }
  uint64_t backlog_bytes() const override { return at_once_ ? UINT64_MAX : 0; }

 private:
  std::unique_ptr<audit::CastFileReader> reader_;
  std::optional<Expect> expect_;
  std::optional<audit::CastEvent> peeked_;
  std::string note_;
  bool at_once_ = false;
};

// A recording still being written. `log` (may be null: a bare file,
// followed until the viewer quits) is refreshed while waiting; the source
// ends once the channel's session_close is in it and the file holds the
// size it names (then the digest must match), or when the log says the
// session can no longer close it (a gateway restart), after a grace period.
class LiveSource : public EventSource {
 public:
  static Result<std::unique_ptr<LiveSource>> Open(const std::string& path, ReplayLog* log,
                                                  std::string session, uint32_t channel,
                                                  bool show_backlog_at_once);
  ~LiveSource() override;
  Result<Step> Next(audit::CastEvent* out) override;
  const audit::CastInfo* header() const override { return reader_->header(); }
  int wait_fd() const override { return inotify_fd_; }
  uint64_t backlog_bytes() const override { return backlog_; }
  // Why it ended without a digest to check ("" when it had one), or a
  // warning about the last line.
  const std::string& note() const { return note_; }
  bool verified() const { return verified_; }

 private:
  LiveSource() = default;
  Result<bool> CheckLog();  // true: the channel's end is known now
  Result<Step> AtEnd();

  std::unique_ptr<audit::CastFileReader> reader_;
  ReplayLog* log_ = nullptr;
  std::string session_;
  uint32_t channel_ = 0;
  int inotify_fd_ = -1;
  uint64_t backlog_ = 0;
  int64_t last_check_ms_ = 0;
  int64_t ended_seen_ms_ = 0;  // when the log first said nothing more can come
  std::optional<FileSource::Expect> expect_;
  bool verified_ = false;
  std::string note_;
};

}  // namespace hopgate::hopctl
