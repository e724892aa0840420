#include "audit/sink.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <iterator>

#include "audit/log_files.h"
#include "common/encoding.h"
#include "common/time_util.h"

namespace hopgate::audit {

namespace {

const std::string kZeroHash(64, '0');

int64_t SystemMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Writes `data` to `path` through a temporary file and a rename, so readers
// see the old content or the new, never a mix.
Status WriteAtomically(const std::string& path, const std::string& data) {
  std::string tmp = path + ".tmp";
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return MakeError(Code::kDataLoss, tmp + ": " + strerror(errno));
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = write(fd, data.data() + off, data.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      std::string err = strerror(n < 0 ? errno : EIO);
      close(fd);
      unlink(tmp.c_str());
      return MakeError(Code::kDataLoss, tmp + ": " + err);
    }
    off += static_cast<size_t>(n);
  }
  close(fd);
  if (rename(tmp.c_str(), path.c_str()) != 0) {
    std::string err = strerror(errno);
    unlink(tmp.c_str());
    return MakeError(Code::kDataLoss, path + ": " + err);
  }
  return Status::Ok();
}

std::string StatePath(const std::string& path) { return path + ".tree"; }

}  // namespace

FileSink::FileSink(std::string path, FileSinkOptions options)
    : path_(std::move(path)), options_(std::move(options)) {}

int64_t FileSink::Now() const { return options_.clock ? options_.clock() : SystemMs(); }

Result<std::unique_ptr<FileSink>> FileSink::Open(const std::string& path,
                                                 FileSinkOptions options) {
  std::unique_ptr<FileSink> sink(new FileSink(path, std::move(options)));
  std::lock_guard<std::mutex> lock(sink->mu_);
  Status st = sink->Recover();
  if (!st) return st.error();
  st = sink->OpenCurrentLocked();
  if (!st) return st.error();
  return sink;
}

FileSink::~FileSink() {
  std::lock_guard<std::mutex> lock(mu_);
  if (fd_ >= 0) {
    (void)SaveStateLocked();
    close(fd_);
  }
}

Status FileSink::OpenCurrentLocked() {
  int fd = open(path_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) {
    return MakeError(errno == ENOENT ? Code::kNotFound : Code::kPermissionDenied,
                     "cannot open audit log " + path_ + ": " + strerror(errno));
  }
  struct stat st;
  uint64_t bytes = fstat(fd, &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
  if (fd_ >= 0) close(fd_);
  fd_ = fd;
  if (bytes == 0 || bytes != file_bytes_) {
    // A new file (first start, rotation, logrotate): it starts at the next seq.
    if (bytes == 0) {
      file_first_seq_ = tree_.size();
      file_opened_ms_ = Now();
    }
    file_bytes_ = bytes;
  }
  return Status::Ok();
}

// Continues the tree from the saved state if it matches the current file,
// else rebuilds it from every file of the log.
Status FileSink::Recover() {
  std::string text;
  {
    std::ifstream in(StatePath(path_), std::ios::binary);
    if (in) text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  auto state = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  struct stat st;
  bool have_file = stat(path_.c_str(), &st) == 0;
  if (have_file && !S_ISREG(st.st_mode)) return Status::Ok();  // a device (tests: /dev/full)
  if (!state.is_discarded() && state.is_object() && state.value("version", 0) == 1 && have_file) {
    std::vector<Hash> roots;
    for (const auto& r : state.value("roots", nlohmann::json::array())) {
      auto h = HexDecode(r.is_string() ? r.get<std::string>() : "");
      if (h) roots.push_back(*h);
    }
    auto tree = TreeState::FromParts(state.value("size", uint64_t{0}), roots);
    uint64_t offset = state.value("file_bytes", uint64_t{0});
    std::string prev = state.value("prev", kZeroHash);
    // The state names the file's end when it was saved: the line before that
    // offset must be the one the state ends with.
    std::string last;
    bool continues = tree.ok() && offset <= static_cast<uint64_t>(st.st_size);
    if (continues && offset > 0) {
      (void)ForEachLine(path_, [&](std::string_view line, uint64_t at, uint64_t) {
        if (at + line.size() + 1 == offset) last = std::string(line);
        return Status::Ok();
      }, nullptr, offset > 65536 ? offset - 65536 : 0);
      continues = !last.empty() && Sha256Hex(last) == prev;
    }
    if (continues) {
      tree_ = std::move(*tree);
      prev_hex_ = prev;
      file_first_seq_ = state.value("file_first_seq", uint64_t{0});
      file_opened_ms_ = state.value("file_started_ms", Now());
      checkpointed_ = state.value("checkpointed", uint64_t{0});
      file_bytes_ = offset;
      return ReplayFile(path_, offset, /*current=*/true);
    }
    notes_.push_back(StatePath(path_) + " does not match " + path_ +
                     "; rebuilt the tree from the log files");
  }
  return RebuildFromFiles();
}

Status FileSink::RebuildFromFiles() {
  tree_ = TreeState();
  prev_hex_ = kZeroHash;
  checkpointed_ = 0;
  file_bytes_ = 0;
  file_first_seq_ = 0;
  file_opened_ms_ = Now();
  for (const auto& file : LogFilesOf(path_)) {
    Status st = ReplayFile(file, 0, file == path_);
    if (!st) return st;
  }
  return Status::Ok();
}

// Appends the lines of `file` from `from_offset` to the tree, checking that
// their seq numbers continue it. A line without seq at the very start of an
// otherwise empty history is a log from before the tree: it is moved aside.
Status FileSink::ReplayFile(const std::string& file, uint64_t from_offset, bool current) {
  bool legacy = false;
  uint64_t end = from_offset;
  std::string tail;
  Status st = ForEachLine(file, [&](std::string_view line, uint64_t offset, uint64_t number) -> Status {
    uint64_t seq = 0;
    if (!PeekSeq(line, &seq)) {
      if (current && tree_.size() == 0 && offset == 0) {
        legacy = true;
        return MakeError(Code::kFailedPrecondition, "written before the tree");
      }
      return MakeError(Code::kDataLoss, file + ":" + std::to_string(number) +
                                            ": audit line without a sequence number");
    }
    if (seq != tree_.size()) {
      return MakeError(Code::kDataLoss, file + ":" + std::to_string(number) + ": sequence number " +
                                            std::to_string(seq) + " where " +
                                            std::to_string(tree_.size()) + " was expected");
    }
    if (offset == 0 && current) file_first_seq_ = seq;
    tree_.Append(LeafHash(line));
    prev_hex_ = Sha256Hex(line);
    end = offset + line.size() + 1;
    return Status::Ok();
  }, &tail, from_offset);
  if (legacy) {
    std::string aside = file + ".before-tree." + std::to_string(Now());
    if (rename(file.c_str(), aside.c_str()) != 0) {
      return MakeError(Code::kDataLoss, "cannot move the old audit log " + file + " aside: " +
                                            strerror(errno));
    }
    notes_.push_back(file + " was written before the log was tamper-evident; moved it to " +
                     aside + " and started a new tree");
    return Status::Ok();
  }
  if (!st && st.code() != Code::kNotFound) return st;
  if (!current) return Status::Ok();
  file_bytes_ = end;
  if (!tail.empty()) {
    // A crash in the middle of a write: the partial line is no event.
    if (truncate(file.c_str(), static_cast<off_t>(end)) != 0) {
      return MakeError(Code::kDataLoss, "cannot cut the partial last line of " + file + ": " +
                                            strerror(errno));
    }
    notes_.push_back(file + ": cut a partial last line of " + std::to_string(tail.size()) +
                     " bytes (the gateway stopped in the middle of writing it)");
  }
  return Status::Ok();
}

Status FileSink::SaveStateLocked() {
  nlohmann::json j;
  j["version"] = 1;
  j["size"] = tree_.size();
  nlohmann::json roots = nlohmann::json::array();
  for (const auto& r : tree_.roots()) roots.push_back(HexEncode(r));
  j["roots"] = roots;
  j["prev"] = prev_hex_;
  j["file_first_seq"] = file_first_seq_;
  j["file_bytes"] = file_bytes_;
  j["file_started_ms"] = file_opened_ms_;
  j["checkpointed"] = checkpointed_;
  return WriteAtomically(StatePath(path_), j.dump() + "\n");
}

Status FileSink::Write(const Event& event) {
  std::lock_guard<std::mutex> lock(mu_);
  return WriteLocked(event, /*may_checkpoint=*/true);
}

Status FileSink::WriteLocked(const Event& event, bool may_checkpoint) {
  nlohmann::json j = event.ToJson();
  j["seq"] = tree_.size();
  j["prev"] = prev_hex_.empty() ? kZeroHash : prev_hex_;
  std::string line = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  Status st = AppendLineLocked(line);
  if (!st) return st;
  if (may_checkpoint && !checkpointing_ && options_.checkpoint_every_events > 0 &&
      tree_.size() - checkpointed_ >= options_.checkpoint_every_events) {
    // A failure here is reported by the next interval's checkpoint; the
    // event itself is written.
    (void)CheckpointLocked("events", {});
  }
  if (may_checkpoint && !checkpointing_ && options_.rotate_size > 0 &&
      file_bytes_ >= options_.rotate_size) {
    (void)RotateLocked();
  }
  return Status::Ok();
}

Status FileSink::AppendLineLocked(const std::string& text) {
  std::string line = text + "\n";
  size_t off = 0;
  while (off < line.size()) {
    ssize_t n = write(fd_, line.data() + off, line.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      int err = n < 0 ? errno : EIO;
      // Cut what did reach the file: the chain never holds half a line.
      if (off > 0) (void)!ftruncate(fd_, static_cast<off_t>(file_bytes_));
      healthy_.store(false, std::memory_order_relaxed);
      last_error_ = "audit log " + path_ + ": " + strerror(err);
      return MakeError(Code::kDataLoss, last_error_);
    }
    off += static_cast<size_t>(n);
  }
  tree_.Append(LeafHash(text));
  prev_hex_ = Sha256Hex(text);
  file_bytes_ += line.size();
  healthy_.store(!detached_, std::memory_order_relaxed);
  return Status::Ok();
}

Status FileSink::WriteCheckpoint(const std::string& reason,
                                 const std::vector<RecordingProgress>& progress) {
  std::lock_guard<std::mutex> lock(mu_);
  return CheckpointLocked(reason, progress);
}

Status FileSink::CheckpointLocked(const std::string& reason,
                                  const std::vector<RecordingProgress>& progress) {
  checkpointing_ = true;
  struct Reset {
    bool* flag;
    ~Reset() { *flag = false; }
  } reset{&checkpointing_};
  int64_t now = Now();
  for (const auto& p : progress) {
    Status st = WriteLocked(Event{now, "", p}, false);
    if (!st) return st;
  }
  CheckpointText text;
  text.origin = options_.origin;
  text.size = tree_.size();
  text.root = tree_.Root();
  text.time = FormatRfc3339(now / 1000);
  std::string body = FormatCheckpoint(text);
  std::string signature;
  if (options_.signer) {
    auto sig = options_.signer(body);
    if (!sig) return MakeError(Code::kUnavailable, "cannot sign the audit checkpoint: " + sig.message());
    signature = std::move(*sig);
  }
  Checkpoint c;
  c.tree_size = text.size;
  c.root = Base64Encode(text.root);
  c.checkpoint = body;
  c.signature = signature;
  c.reason = reason;
  Status st = WriteLocked(Event{now, "", c}, false);
  if (!st) return st;
  checkpointed_ = text.size;
  Status files = WriteAtomically(path_ + ".checkpoint", body);
  if (files && !signature.empty()) files = WriteAtomically(path_ + ".checkpoint.sig", signature);
  Status saved = SaveStateLocked();
  return files ? saved : files;
}

Status FileSink::MaybeRotate() {
  std::lock_guard<std::mutex> lock(mu_);
  if (options_.rotate_interval_ms <= 0 || file_bytes_ == 0) return Status::Ok();
  if (Now() - file_opened_ms_ < options_.rotate_interval_ms) return Status::Ok();
  return RotateLocked();
}

Status FileSink::RotateLocked() {
  // The old file ends with a checkpoint covering it.
  Status st = CheckpointLocked("rotation", {});
  if (!st) return st;
  std::string rotated = RotatedPath(path_, file_first_seq_);
  if (rename(path_.c_str(), rotated.c_str()) != 0) {
    return MakeError(Code::kDataLoss, "cannot rotate " + path_ + " to " + rotated + ": " +
                                          strerror(errno));
  }
  file_bytes_ = 0;
  st = OpenCurrentLocked();
  if (!st) {
    healthy_.store(false, std::memory_order_relaxed);
    last_error_ = st.message();
    return st;
  }
  return SaveStateLocked();
}

uint64_t FileSink::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return tree_.size();
}

uint64_t FileSink::checkpointed_size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return checkpointed_;
}

Status FileSink::Reopen() {
  std::lock_guard<std::mutex> lock(mu_);
  file_bytes_ = 0;
  Status st = OpenCurrentLocked();
  if (!st) {
    healthy_.store(false, std::memory_order_relaxed);
    last_error_ = "cannot reopen audit log " + path_ + ": " + st.message();
    return MakeError(Code::kDataLoss, last_error_);
  }
  healthy_.store(true, std::memory_order_relaxed);
  return SaveStateLocked();
}

bool FileSink::Check(std::string* why, bool* reopened) {
  if (reopened) *reopened = false;
  std::lock_guard<std::mutex> lock(mu_);
  struct stat by_path, by_fd;
  bool same = stat(path_.c_str(), &by_path) == 0 && fstat(fd_, &by_fd) == 0 &&
              by_path.st_ino == by_fd.st_ino && by_path.st_dev == by_fd.st_dev;
  if (same) {
    if (detached_) {
      // The path came back (a directory renamed back): writing to it again.
      detached_ = false;
      healthy_.store(true, std::memory_order_relaxed);
    }
  } else {
    // Renamed or deleted under us: follow the path, as a SIGHUP would.
    uint64_t bytes = file_bytes_;
    file_bytes_ = 0;
    Status st = OpenCurrentLocked();
    if (!st) {
      file_bytes_ = bytes;
      detached_ = true;
      healthy_.store(false, std::memory_order_relaxed);
      last_error_ = "audit log " + path_ + " was moved away and cannot be reopened: " +
                    st.message();
    } else {
      detached_ = false;
      healthy_.store(true, std::memory_order_relaxed);
      (void)SaveStateLocked();
      if (reopened) *reopened = true;
    }
  }
  if (!healthy_.load(std::memory_order_relaxed) && !detached_ && ProbeSpaceLocked()) {
    // The last write failed (a full disk, say) and there is room again:
    // healthy, so /healthz and the next login do not wait for a write
    // that only a healthy gateway would attempt.
    healthy_.store(true, std::memory_order_relaxed);
  }
  bool ok = healthy_.load(std::memory_order_relaxed);
  if (!ok && why) *why = last_error_.empty() ? "audit log cannot be written" : last_error_;
  return ok;
}

bool FileSink::ProbeSpaceLocked() {
  // A scratch file beside the log, as large as a generous event: writing it
  // shows the file system takes writes again. Removed at once.
  static constexpr size_t kProbeBytes = 64 * 1024;
  std::string probe = path_ + ".probe";
  int fd = open(probe.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return false;
  std::string zeros(kProbeBytes, '\0');
  size_t off = 0;
  while (off < zeros.size()) {
    ssize_t n = write(fd, zeros.data() + off, zeros.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    off += static_cast<size_t>(n);
  }
  bool ok = off == zeros.size() && fsync(fd) == 0;
  close(fd);
  unlink(probe.c_str());
  return ok;
}

Status MemorySink::Write(const Event& event) {
  std::lock_guard<std::mutex> lock(mu_);
  events_.push_back(event.ToJson());
  return Status::Ok();
}

std::vector<nlohmann::json> MemorySink::Events() const {
  std::lock_guard<std::mutex> lock(mu_);
  return events_;
}

Status Log::Record(const std::string& connection, Body body) {
  Event e{clock_(), connection, std::move(body)};
  Status st = sink_->Write(e);
  if (observer_) observer_(e.type(), st.ok());
  return st;
}

}  // namespace hopgate::audit
