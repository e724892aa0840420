// hopctl audit verify-bundle: checks an export bundle offline (see bundle.h).
#include <map>
#include <set>

#include <nlohmann/json.hpp>

#include "audit/bundle.h"
#include "audit/bundle_internal.h"
#include "audit/checkpoint.h"
#include "audit/file_digest.h"
#include "audit/merkle.h"
#include "common/encoding.h"
#include "common/strings.h"

namespace hopgate::audit {
namespace {

using nlohmann::json;

constexpr size_t kMaxManifest = 16 << 20;
constexpr size_t kMaxEvents = 512 << 20;
constexpr size_t kMaxSmall = 64 << 10;

bool IsHex64(const std::string& s) {
  return s.size() == 64 && s.find_first_not_of("0123456789abcdef") == std::string::npos;
}

// A path inside the bundle: relative, no "..", no empty parts.
bool SafePath(const std::string& p) {
  if (p.empty() || p[0] == '/') return false;
  for (const auto& part : Split(p, '/')) {
    if (part.empty() || part == "." || part == "..") return false;
  }
  return true;
}

std::vector<std::string_view> LinesOf(std::string_view text) {
  std::vector<std::string_view> out;
  size_t start = 0;
  for (size_t nl; (nl = text.find('\n', start)) != std::string_view::npos; start = nl + 1) {
    out.push_back(text.substr(start, nl - start));
  }
  return out;
}

struct ManifestFile {
  uint64_t size = 0;
  std::string sha256;
};

class BundleVerifier {
 public:
  BundleVerifier(const std::string& dir, const TrustedKeys& trusted, int64_t now, BundleReport* r)
      : dir_(dir), trusted_(trusted), now_(now), r_(r) {}

  void Run() {
    if (!Manifest()) return;
    Files();
    bool signed_ok = Checkpoint();
    Events(signed_ok);
    Recordings();
  }

 private:
  void Problem(const std::string& file, const std::string& what) {
    r_->problems.push_back(EscapeControl(file + ": " + what));  // never a control character
  }
  bool Fail(const std::string& file, const std::string& what) {
    Problem(file, what);
    return false;
  }
  bool Manifest();
  bool ManifestFiles(const json& files);
  void Files();
  bool Checkpoint();
  void Events(bool signed_ok);
  bool EventProof(std::string_view event, std::string_view proof, size_t line, uint64_t* last_seq);
  void Recordings();

  const std::string dir_;
  const TrustedKeys& trusted_;
  const int64_t now_;
  BundleReport* r_;
  std::string root_;  // the manifest's root (raw), checked against the checkpoint
  uint64_t manifest_events_ = 0;
  std::map<std::string, ManifestFile> files_;  // as the manifest lists them
  std::vector<std::string> present_;           // regular files in DIR
  std::string events_;                         // events.jsonl
  std::vector<bundle_io::EventLine> event_lines_;
};

bool BundleVerifier::Manifest() {
  auto text = bundle_io::ReadFile(dir_ + "/manifest.json", kMaxManifest);
  if (!text) {
    Problem("manifest.json", text.code() == Code::kNotFound ? "missing" : text.message());
    return false;
  }
  json j = json::parse(*text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    Problem("manifest.json", "not valid JSON");
    return false;
  }
  if (j.value("format", "") != kBundleFormat) {
    Problem("manifest.json", std::string("not a bundle of format ") + kBundleFormat);
    return false;
  }
  if (j.dump(2) + "\n" != *text) {
    Problem("manifest.json", "changed: not byte for byte as hopctl audit export writes it");
  }
  const json& session = j["session"];
  const json& origin = j["origin"];
  const json& root = j["root"];
  if (!session.is_string() || !ValidSessionId(session.get<std::string>()) || !origin.is_string() ||
      !j["tree_size"].is_number_unsigned() || !root.is_string() || !j["events"].is_number_unsigned() ||
      !j["files"].is_array()) {
    Problem("manifest.json", "session, origin, tree_size, root, events or files missing or malformed");
    return false;
  }
  r_->session = session;
  r_->origin = origin;
  r_->tree_size = j["tree_size"];
  manifest_events_ = j["events"];
  auto raw = Base64Decode(root.get<std::string>());
  root_ = raw && raw->size() == 32 ? *raw : std::string();
  if (root_.empty()) Problem("manifest.json", "root is not a base64 SHA-256");
  return ManifestFiles(j["files"]);
}

bool BundleVerifier::ManifestFiles(const json& files) {
  for (const auto& f : files) {
    if (!f.is_object() || !f["path"].is_string() || !f["size"].is_number_unsigned() ||
        !f["sha256"].is_string() || !IsHex64(f["sha256"].get<std::string>()) ||
        !SafePath(f["path"].get<std::string>()) || f["path"] == "manifest.json") {
      Problem("manifest.json", "a malformed entry in files: " + EscapeControl(f.dump()));
      return false;
    }
    if (!files_.emplace(f["path"].get<std::string>(), ManifestFile{f["size"], f["sha256"]}).second) {
      Problem("manifest.json", "lists " + EscapeControl(f["path"].get<std::string>()) + " twice");
      return false;
    }
  }
  for (const char* required : {"events.jsonl", "proofs.jsonl", "checkpoint", "checkpoint.sig"}) {
    if (!files_.count(required)) Problem("manifest.json", std::string("does not list ") + required);
  }
  return true;
}

void BundleVerifier::Files() {
  std::vector<std::string> other;
  auto listed = bundle_io::ListFiles(dir_, &other);
  if (!listed) {
    Problem(".", listed.message());
    return;
  }
  present_ = *listed;
  for (const auto& o : other) Problem(EscapeControl(o), "not a regular file");
  std::set<std::string> present(present_.begin(), present_.end());
  for (const auto& p : present_) {
    if (p != "manifest.json" && !files_.count(p)) Problem(EscapeControl(p), "not listed in manifest.json");
  }
  for (const auto& [path, want] : files_) {
    if (!present.count(path)) {
      Problem(EscapeControl(path), "missing");
      continue;
    }
    auto d = DigestFile(dir_ + "/" + path);
    if (!d) {
      Problem(EscapeControl(path), d.message());
    } else if (d->size != want.size) {
      Problem(EscapeControl(path), std::to_string(d->size) + " bytes, manifest.json says " +
                                       std::to_string(want.size));
    } else if (d->sha256_hex != want.sha256) {
      Problem(EscapeControl(path), "SHA-256 does not match manifest.json");
    }
  }
}

bool BundleVerifier::Checkpoint() {
  auto text = bundle_io::ReadFile(dir_ + "/checkpoint", kMaxSmall);
  auto sig = bundle_io::ReadFile(dir_ + "/checkpoint.sig", kMaxSmall);
  if (!text || !sig) {
    if (!text) Problem("checkpoint", text.message());
    if (!sig) Problem("checkpoint.sig", sig.message());
    return false;
  }
  auto c = VerifySignedCheckpoint(*text, *sig, trusted_, now_);
  if (!c) {
    Problem(c.code() == Code::kInvalidArgument ? "checkpoint" : "checkpoint.sig", c.message());
    return false;
  }
  bool agrees = c->origin == r_->origin && c->size == r_->tree_size && c->root == root_;
  if (!agrees) Problem("manifest.json", "origin, tree_size or root does not match the checkpoint");
  return agrees;
}

void BundleVerifier::Events(bool signed_ok) {
  auto events = bundle_io::ReadFile(dir_ + "/events.jsonl", kMaxEvents);
  auto proofs = bundle_io::ReadFile(dir_ + "/proofs.jsonl", kMaxEvents);
  if (!events || !proofs) {
    if (!events) Problem("events.jsonl", events.message());
    if (!proofs) Problem("proofs.jsonl", proofs.message());
    return;
  }
  events_ = std::move(*events);
  for (auto [name, text] : {std::pair<const char*, const std::string*>{"events.jsonl", &events_},
                            {"proofs.jsonl", &*proofs}}) {
    if (!text->empty() && text->back() != '\n') Problem(name, "the last line has no newline");
  }
  auto ev = LinesOf(events_);
  auto pr = LinesOf(*proofs);
  if (ev.size() != manifest_events_) {
    Problem("events.jsonl", std::to_string(ev.size()) + " events, manifest.json says " +
                                std::to_string(manifest_events_));
  }
  if (pr.size() != ev.size()) {
    Problem("proofs.jsonl", std::to_string(pr.size()) + " proofs for " + std::to_string(ev.size()) +
                                " events");
  }
  uint64_t last_seq = 0;
  for (size_t i = 0; i < ev.size(); ++i) {
    std::string where = "events.jsonl:" + std::to_string(i + 1);
    event_lines_.push_back({ev[i], where});
    if (i < pr.size() && signed_ok && EventProof(ev[i], pr[i], i + 1, &last_seq)) ++r_->events;
  }
}

// One event and its proof; true if the proof leads to the signed root.
bool BundleVerifier::EventProof(std::string_view event, std::string_view proof, size_t line,
                                uint64_t* last_seq) {
  std::string ewhere = "events.jsonl:" + std::to_string(line);
  std::string pwhere = "proofs.jsonl:" + std::to_string(line);
  LineFields f;
  if (const char* bad = ScanLine(event, &f)) return Fail(ewhere, bad);
  if (!f.has_seq) return Fail(ewhere, "no sequence number");
  if (line > 1 && f.seq <= *last_seq) return Fail(ewhere, "events out of order");
  *last_seq = f.seq;
  if (!BelongsToSession(f, r_->session)) {
    return Fail(ewhere, "not an event of session " + r_->session + " (as manifest.json names it)");
  }
  json p = json::parse(proof, nullptr, /*allow_exceptions=*/false);
  if (!p.is_object() || !p["seq"].is_number_unsigned() || !p["tree_size"].is_number_unsigned() ||
      !p["inclusion_proof"].is_array() || p.dump() != proof) {
    return Fail(pwhere, "not a proof as hopctl audit export writes it");
  }
  if (p["seq"] != f.seq || p["tree_size"] != r_->tree_size) {
    return Fail(pwhere, "proof is not for this event's seq and the tree size of manifest.json");
  }
  std::vector<Hash> path;
  for (const auto& h : p["inclusion_proof"]) {
    auto raw = h.is_string() ? Base64Decode(h.get<std::string>()) : Result<std::string>(Error{"x"});
    if (!raw || raw->size() != 32) return Fail(pwhere, "a proof hash is not a base64 SHA-256");
    path.push_back(*raw);
  }
  if (!VerifyInclusion(LeafHash(event), f.seq, r_->tree_size, path, root_)) {
    return Fail(ewhere, "inclusion proof does not lead to the checkpoint's root: the event or "
                           "its proof was changed");
  }
  return true;
}

void BundleVerifier::Recordings() {
  auto named = bundle_io::RecordingsNamed(event_lines_);
  if (!named) {
    Problem("events.jsonl", named.message());
    return;
  }
  for (const auto& p : present_) {
    if (p.rfind("recordings/", 0) == 0 && !named->count(p.substr(11))) {
      Problem(EscapeControl(p), "not named by any event in events.jsonl");
    }
  }
  for (const auto& [name, rec] : *named) {
    std::string file = "recordings/" + name;
    std::string by = " (" + rec.where + ")";
    auto d = DigestFile(dir_ + "/" + file, rec.closed ? UINT64_MAX : rec.size);
    if (!d) {
      Problem(EscapeControl(file), (d.code() == Code::kNotFound ? "recording missing" : d.message()) + by);
      continue;
    }
    if (rec.closed && d->size != rec.size) {
      Problem(EscapeControl(file), std::string("recording ") + (d->size < rec.size ? "cut short" : "grew") +
                                       ": " + std::to_string(d->size) + " bytes, the session_close says " +
                                       std::to_string(rec.size) + by);
    } else if (!rec.closed && d->hashed < rec.size) {
      Problem(EscapeControl(file), "recording cut short: " + std::to_string(d->size) +
                                       " bytes, the log covered " + std::to_string(rec.size) + by);
    } else if (d->sha256_hex != rec.sha256) {
      Problem(EscapeControl(file), "recording changed: its SHA-256 does not match the event's" + by);
    } else {
      ++r_->recordings;
      if (!rec.closed) {
        r_->notes.push_back(file + ": verified prefix of " + std::to_string(rec.size) +
                            " bytes; no session_close names it");
      }
    }
  }
}

}  // namespace

bool ValidSessionId(std::string_view id) {
  size_t dash = id.find('-');
  std::string_view conn = id.substr(0, dash);
  if (conn.size() < 2 || conn.size() > 64 || conn[0] != 'c') return false;
  for (char c : conn.substr(1)) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))) return false;
  }
  if (dash == std::string_view::npos) return true;
  std::string_view chan = id.substr(dash + 1);
  return !chan.empty() && chan.size() <= 10 &&
         chan.find_first_not_of("0123456789") == std::string_view::npos;
}

bool BelongsToSession(const LineFields& f, std::string_view id) {
  size_t dash = id.find('-');
  std::string_view conn = id.substr(0, dash);
  if (dash == std::string_view::npos) {
    return (f.has_connection && f.connection == conn) ||
           (f.has_session && f.session.size() > conn.size() && f.session.substr(0, conn.size()) == conn &&
            f.session[conn.size()] == '-');
  }
  if (f.has_session) return f.session == id;
  if (!f.has_connection || f.connection != conn) return false;
  // A connection's own events (no channel), and the outer channel's.
  return !f.has_channel || std::to_string(f.channel) == id.substr(dash + 1);
}

Result<BundleReport> VerifyBundle(const std::string& dir, const TrustedKeys& trusted, int64_t now) {
  std::vector<std::string> other;
  auto files = bundle_io::ListFiles(dir, &other);
  if (!files) return files.error();
  BundleReport report;
  BundleVerifier(dir, trusted, now, &report).Run();
  return report;
}

}  // namespace hopgate::audit
