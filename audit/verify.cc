#include "audit/verify.h"

#include <algorithm>
#include <map>

#include <nlohmann/json.hpp>

#include "audit/file_digest.h"
#include "audit/line_batches.h"
#include "audit/line_scan.h"
#include "common/encoding.h"
#include "common/strings.h"

namespace hopgate::audit {
namespace {

using nlohmann::json;

const std::string kZeros(64, '0');

struct Where {
  const std::string* file = nullptr;
  uint64_t line = 0;
  std::string ToString() const { return *file + ":" + std::to_string(line); }
};

struct ClosedRecording {
  std::string path;
  uint64_t size = 0;
  std::string sha256;
  Where where;
};

struct Progress {
  uint64_t bytes = 0;
  std::string sha256;
  Where where;
};

// A field of a fully parsed line, or nullptr if absent or of another type.
const json* Field(const json& j, const char* name, json::value_t type) {
  auto it = j.find(name);
  if (it == j.end()) return nullptr;
  if (type == json::value_t::number_unsigned) return it->is_number_unsigned() ? &*it : nullptr;
  return it->type() == type ? &*it : nullptr;
}

class Verifier {
 public:
  Verifier(const VerifyOptions& o, VerifyReport* r) : o_(o), r_(r) {}

  void Start();
  void Run(const std::vector<std::string>& files);
  void Finish(const std::vector<std::string>& files);

 private:
  void Line(const PreparedLine& p, const std::string& file);
  void CheckPrev(const LineFields& f, const Where& here);
  void CheckCheckpoint(std::string_view line, const LineFields& f, const Where& here);
  bool CheckpointAgrees(const json& j, const LineFields& f, const Where& here);
  void NoteSessionClose(std::string_view line, const Where& here);
  void NoteProgress(std::string_view line, const Where& here);
  void Mismatch(const Where& here, const std::string& what);
  void CheckOld();
  void CheckClosedRecording(const ClosedRecording& c);
  void CheckRecordingPrefix(const std::string& path, const Progress& p);
  void Problem(const std::string& where, const std::string& what);
  void Problem(const Where& where, const std::string& what) { Problem(where.ToString(), what); }

  const VerifyOptions& o_;
  VerifyReport* r_;
  TreeState tree_;
  std::string prev_hex_ = kZeros;  // SHA-256 of the last line read
  Where prev_where_;
  bool prev_suspect_ = false;  // the last line already has a problem of its own
  uint64_t expected_ = 0;      // the seq the next line should carry
  uint64_t next_progress_ = 0;
  bool any_checkpoint_ = false;
  uint64_t last_checkpoint_seq_ = 0;
  uint64_t last_good_size_ = 0;  // tree size of the last checkpoint that verified
  // Once one checkpoint does not match the events before it, every later one
  // fails for the same reason: those are counted, not listed.
  bool mismatch_reported_ = false;
  uint64_t later_mismatches_ = 0;
  Where last_mismatch_;
  std::optional<CheckpointText> old_;
  bool old_checked_ = false;
  std::vector<ClosedRecording> closed_;
  std::map<std::string, Progress> progress_;
};

void Verifier::Problem(const std::string& where, const std::string& what) {
  if (r_->problems.size() < o_.max_problems) {
    // Messages may quote what a hostile log holds: never a control character.
    r_->problems.push_back(EscapeControl(where + ": " + what));
  } else {
    ++r_->more_problems;
  }
}

void Verifier::Start() {
  if (!o_.old_checkpoint) return;
  const SavedCheckpoint& old = *o_.old_checkpoint;
  auto text = VerifySignedCheckpoint(old.text, old.signature, *o_.trusted, o_.now);
  if (!text) {
    Problem(old.name, text.message());
    return;
  }
  old_ = std::move(*text);
}

void Verifier::Run(const std::vector<std::string>& files) {
  LineBatches batches(files);
  while (std::unique_ptr<LineBatch> b = batches.Next()) {
    const std::string& file = files[b->file];
    for (const PreparedLine& p : b->lines) Line(p, file);
    if (!b->error) {
      r_->io_errors.push_back(b->error.message());
    } else if (b->file_end && !b->tail.empty()) {
      Where here{&file, b->tail_line};
      if (b->file + 1 == files.size()) {
        r_->notes.push_back(here.ToString() + ": an incomplete last line (" +
                            std::to_string(b->tail.size()) +
                            " bytes, no newline) was not checked: still being written, or cut off");
      } else {
        Problem(here, "incomplete line (no newline) before the end of the log");
      }
    }
  }
}

void Verifier::Line(const PreparedLine& p, const std::string& file) {
  Where here{&file, p.number};
  const LineFields& f = p.fields;
  r_->bytes += p.text.size() + 1;
  if (o_.progress && r_->bytes >= next_progress_) {
    o_.progress(r_->bytes);
    next_progress_ = r_->bytes + (8 << 20);
  }
  if (old_ && !old_checked_ && tree_.size() == old_->size) CheckOld();
  bool suspect = true;
  if (p.bad) {
    Problem(here, p.bad);
    ++expected_;
  } else if (!f.has_seq) {
    Problem(here, "no sequence number");
    ++expected_;
  } else if (f.seq != expected_) {
    Problem(here, "sequence number " + std::to_string(f.seq) + " where " +
                      std::to_string(expected_) + " was expected");
    expected_ = std::max(expected_, f.seq + 1);
  } else {
    suspect = false;
    ++expected_;
    CheckPrev(f, here);
  }
  if (!p.bad && f.has_type && !f.escaped) {
    if (f.type == "checkpoint") {
      CheckCheckpoint(p.text, f, here);
    } else if (f.type == "session_close") {
      NoteSessionClose(p.text, here);
    } else if (f.type == "recording_progress") {
      NoteProgress(p.text, here);
    }
  }
  tree_.Append(p.leaf);
  prev_hex_.assign(p.sha256_hex.data(), p.sha256_hex.size());
  prev_where_ = here;
  prev_suspect_ = suspect;
  ++r_->events;
}

void Verifier::CheckPrev(const LineFields& f, const Where& here) {
  if (!f.has_prev) {
    Problem(here, "no prev (hash of the previous line)");
    return;
  }
  if (f.prev == prev_hex_ || prev_suspect_) return;
  if (r_->events == 0) {
    Problem(here, "prev is not 64 zeros, as the first event's must be");
  } else {
    Problem(prev_where_, "line changed (its hash does not match the next line's prev)");
  }
}

void Verifier::CheckCheckpoint(std::string_view line, const LineFields& f, const Where& here) {
  any_checkpoint_ = true;
  last_checkpoint_seq_ = f.seq;
  json j = json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    Problem(here, "not valid JSON");
    return;
  }
  if (!CheckpointAgrees(j, f, here)) return;
  const std::string& text = j["checkpoint"].get_ref<const std::string&>();
  const std::string& sig = j["signature"].get_ref<const std::string&>();
  auto verified = VerifySignedCheckpoint(text, sig, *o_.trusted, o_.now);
  if (!verified) {
    Problem(here, "checkpoint signature: " + verified.message());
    return;
  }
  ++r_->checkpoints;
  last_good_size_ = verified->size;
}

// The checkpoint's fields against its own seq, the recomputed tree and its
// signed text; reports the first disagreement.
bool Verifier::CheckpointAgrees(const json& j, const LineFields& f, const Where& here) {
  const json* size = Field(j, "tree_size", json::value_t::number_unsigned);
  const json* root = Field(j, "root", json::value_t::string);
  const json* text = Field(j, "checkpoint", json::value_t::string);
  if (!size || !root || !text || !Field(j, "signature", json::value_t::string)) {
    Problem(here, "checkpoint without tree_size, root, checkpoint text or signature");
    return false;
  }
  uint64_t tree_size = size->get<uint64_t>();
  if (tree_size != f.seq) {
    Problem(here, "checkpoint tree_size " + std::to_string(tree_size) +
                      " is not its own sequence number " + std::to_string(f.seq));
    return false;
  }
  if (tree_.size() != tree_size) {
    Mismatch(here, "checkpoint covers " + std::to_string(tree_size) + " events, but " +
                       std::to_string(tree_.size()) + " lines come before it");
    return false;
  }
  std::string recomputed = Base64Encode(tree_.Root());
  if (root->get_ref<const std::string&>() != recomputed) {
    std::string hint;
    if (r_->problems.empty()) {
      hint = " (an event from seq " + std::to_string(last_good_size_) + " to " +
             std::to_string(tree_size == 0 ? 0 : tree_size - 1) +
             " was changed and the lines after it rewritten)";
    }
    Mismatch(here, "checkpoint root does not match the events before it" + hint);
    return false;
  }
  auto parsed = ParseCheckpoint(text->get_ref<const std::string&>());
  if (!parsed) {
    Problem(here, parsed.message());
    return false;
  }
  if (parsed->size != tree_size || Base64Encode(parsed->root) != recomputed) {
    Problem(here, "checkpoint text does not agree with its tree_size and root");
    return false;
  }
  return true;
}

void Verifier::Mismatch(const Where& here, const std::string& what) {
  if (!mismatch_reported_) {
    mismatch_reported_ = true;
    Problem(here, what);
    return;
  }
  ++later_mismatches_;
  last_mismatch_ = here;
}

void Verifier::NoteSessionClose(std::string_view line, const Where& here) {
  json j = json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    Problem(here, "not valid JSON");
    return;
  }
  if (!j.contains("recording")) return;
  const json* path = Field(j, "recording", json::value_t::string);
  const json* size = Field(j, "recording_size", json::value_t::number_unsigned);
  const json* sha = Field(j, "recording_sha256", json::value_t::string);
  if (!path || !size || !sha) {
    Problem(here, "session_close names a recording without its size and SHA-256");
    return;
  }
  closed_.push_back({path->get<std::string>(), size->get<uint64_t>(), sha->get<std::string>(), here});
}

void Verifier::NoteProgress(std::string_view line, const Where& here) {
  json j = json::parse(line, nullptr, /*allow_exceptions=*/false);
  const json* path = j.is_object() ? Field(j, "path", json::value_t::string) : nullptr;
  const json* bytes = j.is_object() ? Field(j, "bytes", json::value_t::number_unsigned) : nullptr;
  const json* sha = j.is_object() ? Field(j, "sha256", json::value_t::string) : nullptr;
  if (j.is_discarded()) {
    Problem(here, "not valid JSON");
    return;
  }
  if (!path || !bytes || !sha) {
    Problem(here, "recording_progress without path, bytes and sha256");
    return;
  }
  Progress& p = progress_[path->get<std::string>()];
  if (bytes->get<uint64_t>() >= p.bytes) p = {bytes->get<uint64_t>(), sha->get<std::string>(), here};
}

void Verifier::CheckOld() {
  old_checked_ = true;
  if (tree_.Root() == old_->root) return;
  Problem(o_.old_checkpoint->name,
          "the log's first " + std::to_string(old_->size) +
              " events are not the ones this checkpoint signed (root " +
              Base64Encode(old_->root) + ", the log gives " + Base64Encode(tree_.Root()) +
              "): the log was changed, not only appended to");
}

void Verifier::CheckClosedRecording(const ClosedRecording& c) {
  std::string file = RecordingFile(c.path, o_.recordings_dir);
  std::string name = EscapeControl(file);
  std::string by = " (" + c.where.ToString() + ")";
  auto d = DigestFile(file);
  if (!d) {
    if (d.code() == Code::kNotFound) {
      Problem(name, "recording missing" + by);
    } else if (d.code() == Code::kFailedPrecondition) {
      Problem(name, "recording is not a regular file" + by);
    } else {
      r_->io_errors.push_back(EscapeControl(d.message()));
    }
    return;
  }
  if (d->size != c.size) {
    Problem(name, "recording " + std::string(d->size < c.size ? "cut short" : "grew") + ": " +
                      std::to_string(d->size) + " bytes, the log says " + std::to_string(c.size) +
                      by);
  } else if (d->sha256_hex != c.sha256) {
    Problem(name, "recording changed: its SHA-256 does not match the log's" + by);
  }
}

void Verifier::CheckRecordingPrefix(const std::string& path, const Progress& p) {
  std::string file = RecordingFile(path, o_.recordings_dir);
  std::string name = EscapeControl(file);
  std::string by = " (" + p.where.ToString() + ")";
  auto d = DigestFile(file, p.bytes);
  if (!d) {
    if (d.code() == Code::kNotFound) {
      Problem(name, "recording missing" + by);
    } else if (d.code() == Code::kFailedPrecondition) {
      Problem(name, "recording is not a regular file" + by);
    } else {
      r_->io_errors.push_back(EscapeControl(d.message()));
    }
    return;
  }
  if (d->hashed < p.bytes) {
    Problem(name, "recording cut short: " + std::to_string(d->size) + " bytes, a checkpoint covered " +
                      std::to_string(p.bytes) + by);
  } else if (d->sha256_hex != p.sha256) {
    Problem(name, "recording changed: its first " + std::to_string(p.bytes) +
                      " bytes do not match the SHA-256 the log recorded" + by);
  } else {
    r_->notes.push_back(name + ": verified prefix of " + std::to_string(p.bytes) + " bytes (of " +
                        std::to_string(d->size) +
                        " now in the file); no session_close names it: the session is still "
                        "open, or the gateway stopped during it");
  }
}

void Verifier::Finish(const std::vector<std::string>& files) {
  if (old_ && !old_checked_) {
    if (tree_.size() == old_->size) {
      CheckOld();
    } else {
      std::string end = r_->events ? " after " + prev_where_.ToString() : "";
      Problem(o_.old_checkpoint->name,
              "the log has " + std::to_string(tree_.size()) + " events but this checkpoint covers " +
                  std::to_string(old_->size) + ": events " + std::to_string(tree_.size()) + " to " +
                  std::to_string(old_->size - 1) + " are missing (the log was cut" + end + ")");
    }
  }
  if (later_mismatches_ > 0) {
    Problem(last_mismatch_, std::to_string(later_mismatches_) +
                                " later checkpoints, up to this one, do not match the events "
                                "before them either (a consequence of the damage above)");
  }
  if (r_->events == 0) {
    Problem(files.empty() ? std::string("log") : files.front(), "no events in the log");
  } else if (!any_checkpoint_) {
    Problem(files.front(), "no checkpoint in the log, so nothing in it is signed");
  } else if (tree_.size() > last_checkpoint_seq_ + 1) {
    uint64_t after = tree_.size() - last_checkpoint_seq_ - 1;
    r_->notes.push_back("the last " + std::to_string(after) + " events (seq " +
                        std::to_string(last_checkpoint_seq_ + 1) + " to " +
                        std::to_string(tree_.size() - 1) +
                        ") come after the last checkpoint: chained, not yet signed");
  }
  std::map<std::string, bool> closed_paths;
  for (const auto& c : closed_) {
    CheckClosedRecording(c);
    closed_paths[c.path] = true;
  }
  r_->recordings = closed_paths.size();
  for (const auto& [path, p] : progress_) {
    if (closed_paths.count(path)) continue;
    CheckRecordingPrefix(path, p);
    ++r_->recordings;
  }
  r_->tree_size = tree_.size();
  r_->root = tree_.Root();
}

}  // namespace

VerifyReport VerifyLog(const std::vector<std::string>& ordered_files, const VerifyOptions& options) {
  VerifyReport report;
  Verifier v(options, &report);
  v.Start();
  v.Run(ordered_files);
  v.Finish(ordered_files);
  return report;
}

}  // namespace hopgate::audit
