#include "hopctl/replay_source.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "common/encoding.h"

namespace hopgate::hopctl {
namespace {

constexpr int64_t kLogCheckMs = 200;   // while waiting: the log read again at most this often
constexpr int64_t kCloseGraceMs = 2000;  // a closed session's session_close may lag a little

std::string Short(const std::string& hex) { return hex.substr(0, 16) + "..."; }

Error Mismatch(const ReplayChannel& c, uint64_t size, const std::string& sha) {
  std::string what;
  if (size != c.size) {
    what = std::to_string(size) + " bytes, the log says " + std::to_string(c.size);
  } else {
    what = "SHA-256 " + Short(sha) + ", the log says " + Short(c.sha256);
  }
  return MakeError(Code::kDataLoss, c.recording + ": does not match the audit log (" +
                                        c.close_where + "): " + what);
}

// Size and SHA-256 of the first `limit` bytes (all of them without one).
Result<std::pair<uint64_t, std::string>> HashFile(const std::string& path,
                                                  std::optional<uint64_t> limit) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  if (fd < 0) {
    return MakeError(errno == ENOENT ? Code::kNotFound : Code::kUnavailable,
                     path + ": cannot open: " + strerror(errno));
  }
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr);
  uint64_t total = 0;
  std::string buf(1 << 20, '\0');
  Status status;
  while (!limit || total < *limit) {
    size_t want = buf.size();
    if (limit) want = static_cast<size_t>(std::min<uint64_t>(want, *limit - total));
    ssize_t n = read(fd, buf.data(), want);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) status = MakeError(Code::kUnavailable, path + ": read: " + strerror(errno));
    if (n <= 0) break;
    EVP_DigestUpdate(ctx, buf.data(), static_cast<size_t>(n));
    total += static_cast<uint64_t>(n);
  }
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx, md, &len);
  EVP_MD_CTX_free(ctx);
  close(fd);
  if (!status.ok()) return status.error();
  return std::make_pair(total, HexEncode(std::string_view(reinterpret_cast<char*>(md), len)));
}

}  // namespace

Status VerifyRecording(const ReplayChannel& c) {
  if (c.recording.empty()) {
    return MakeError(Code::kNotFound, c.Id() + ": the audit log names no recording for it (" +
                                          (c.close_where.empty() ? c.start_where : c.close_where) +
                                          ")");
  }
  if (!c.has_digest) {
    return MakeError(Code::kDataLoss, c.recording + ": the audit log (" + c.close_where +
                                          ") gives no size and SHA-256 for it to check against");
  }
  auto hashed = HashFile(c.recording, std::nullopt);
  if (!hashed) {
    Error e = hashed.error();
    e.message += " (the audit log names it at " + c.close_where + ")";
    return e;
  }
  if (hashed->first != c.size || hashed->second != c.sha256) {
    return Mismatch(c, hashed->first, hashed->second);
  }
  auto scanned = audit::ScanCast(c.recording);
  if (!scanned) return scanned.error();
  return Status::Ok();
}

Status VerifyPrefix(const std::string& path, uint64_t bytes, const std::string& sha256,
                    const std::string& where) {
  auto hashed = HashFile(path, bytes);
  if (!hashed) return hashed.error();
  if (hashed->first != bytes) {
    return MakeError(Code::kDataLoss, path + ": " + std::to_string(hashed->first) +
                                          " bytes, fewer than the " + std::to_string(bytes) +
                                          " the audit log's recording_progress (" + where +
                                          ") vouches for");
  }
  if (hashed->second != sha256) {
    return MakeError(Code::kDataLoss, path + ": its first " + std::to_string(bytes) +
                                          " bytes do not match the audit log's "
                                          "recording_progress (" + where + ")");
  }
  return Status::Ok();
}

// --- FileSource ---

Result<std::unique_ptr<FileSource>> FileSource::Open(const std::string& path,
                                                     std::optional<Expect> expect) {
  auto reader = audit::CastFileReader::Open(path);
  if (!reader) return reader.error();
  auto s = std::unique_ptr<FileSource>(new FileSource());
  s->reader_ = std::move(*reader);
  s->expect_ = std::move(expect);
  if (s->expect_) s->reader_->LimitTo(s->expect_->size);
  return s;
}

Status FileSource::ReadHeader() {
  if (reader_->header() != nullptr || peeked_) return Status::Ok();
  audit::CastEvent ev;
  auto r = reader_->Next(&ev);
  if (!r) return r.error();
  if (*r == audit::CastFileReader::Step::kEvent) peeked_ = std::move(ev);
  if (reader_->header() == nullptr) {
    return MakeError(Code::kInvalidArgument,
                     reader_->path() +
                         (reader_->bytes_read() == 0
                              ? ": empty file, not an asciicast recording"
                              : ":1:" + std::to_string(reader_->pending_bytes() + 1) +
                                    ": the header line is incomplete (no newline)"));
  }
  return Status::Ok();
}

Result<EventSource::Step> FileSource::Next(audit::CastEvent* out) {
  if (peeked_) {
    *out = std::move(*peeked_);
    peeked_.reset();
    return Step::kEvent;
  }
  auto r = reader_->Next(out);
  if (!r) return r.error();
  if (*r == audit::CastFileReader::Step::kEvent) return Step::kEvent;
  if (reader_->header() == nullptr) {
    return MakeError(Code::kInvalidArgument, reader_->path() + ": no complete header line");
  }
  if (expect_ && (reader_->bytes_read() != expect_->size ||
                  reader_->Sha256Hex() != expect_->sha256)) {
    return MakeError(Code::kDataLoss, reader_->path() +
                                          ": changed while it was played: it no longer matches "
                                          "the audit log");
  }
  if (reader_->pending_bytes() > 0 && note_.empty()) {
    note_ = reader_->path() + ":" + std::to_string(reader_->lines() + 1) + ":" +
            std::to_string(reader_->pending_bytes() + 1) + ": ends in an incomplete line (" + std::to_string(reader_->pending_bytes()) +
            " bytes, the recording was cut short), not played";
  }
  return Step::kEnd;
}

// --- LiveSource ---

Result<std::unique_ptr<LiveSource>> LiveSource::Open(const std::string& path, ReplayLog* log,
                                                     std::string session, uint32_t channel,
                                                     bool show_backlog_at_once) {
  auto reader = audit::CastFileReader::Open(path);
  if (!reader) return reader.error();
  auto s = std::unique_ptr<LiveSource>(new LiveSource());
  s->reader_ = std::move(*reader);
  s->log_ = log;
  s->session_ = std::move(session);
  s->channel_ = channel;
  s->inotify_fd_ = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (s->inotify_fd_ >= 0) {
    inotify_add_watch(s->inotify_fd_, path.c_str(), IN_MODIFY | IN_CLOSE_WRITE);
    if (log != nullptr) inotify_add_watch(s->inotify_fd_, log->log_path().c_str(), IN_MODIFY);
  }
  if (show_backlog_at_once) {
    struct stat st;
    if (fstat(s->reader_->fd(), &st) == 0) s->backlog_ = static_cast<uint64_t>(st.st_size);
  }
  return s;
}

LiveSource::~LiveSource() {
  if (inotify_fd_ >= 0) close(inotify_fd_);
}

Result<bool> LiveSource::CheckLog() {
  if (expect_) return true;
  if (log_ == nullptr) return false;
  int64_t now = NowMs();
  if (now - last_check_ms_ < kLogCheckMs) return false;
  last_check_ms_ = now;
  if (Status s = log_->Refresh(); !s.ok()) return s.error();
  const ReplayChannel* c = log_->Find(session_, channel_);
  if (c != nullptr && c->closed) {
    if (!c->has_digest) {
      note_ = reader_->path() + ": the audit log (" + c->close_where +
              ") gives no digest for it: played as written, not verified";
      return true;
    }
    if (reader_->bytes_read() > c->size) {
      return MakeError(Code::kDataLoss, reader_->path() + ": longer than the " +
                                            std::to_string(c->size) + " bytes the audit log (" +
                                            c->close_where + ") says it has");
    }
    expect_ = FileSource::Expect{c->size, c->sha256};
    reader_->LimitTo(c->size);
    return true;
  }
  if (log_->ended()) {
    if (ended_seen_ms_ == 0) ended_seen_ms_ = now;
    if (now - ended_seen_ms_ >= kCloseGraceMs) {
      note_ = reader_->path() + ": " + log_->ended_because() +
              ", and the log has no session_close for it: played as written, not verified";
      return true;
    }
  }
  return false;
}

Result<EventSource::Step> LiveSource::AtEnd() {
  if (expect_) {
    if (!reader_->at_limit()) {
      return MakeError(Code::kDataLoss, reader_->path() + ": " +
                                            std::to_string(reader_->bytes_read()) +
                                            " bytes, fewer than the " +
                                            std::to_string(expect_->size) +
                                            " the audit log says it has");
    }
    if (reader_->Sha256Hex() != expect_->sha256) {
      return MakeError(Code::kDataLoss, reader_->path() +
                                            ": does not match the audit log's SHA-256 for it "
                                            "(the recording was changed)");
    }
    verified_ = true;
  }
  return Step::kEnd;
}

Result<EventSource::Step> LiveSource::Next(audit::CastEvent* out) {
  if (inotify_fd_ >= 0) {  // drain: the player polls it only to wake up
    char buf[4096];
    while (read(inotify_fd_, buf, sizeof buf) > 0) {
    }
  }
  auto r = reader_->Next(out);
  if (!r) return r.error();
  if (*r == audit::CastFileReader::Step::kEvent) return Step::kEvent;
  bool had_end = expect_.has_value() || !note_.empty();
  auto known = CheckLog();
  if (!known) return known.error();
  if (!*known) return Step::kWait;
  if (!had_end) {
    // The end just became known: read what was written before it.
    r = reader_->Next(out);
    if (!r) return r.error();
    if (*r == audit::CastFileReader::Step::kEvent) return Step::kEvent;
  }
  return AtEnd();
}

}  // namespace hopgate::hopctl
