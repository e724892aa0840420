// hopctl audit export: one session's bundle (see bundle.h).
#include <map>

#include <nlohmann/json.hpp>

#include "audit/bundle.h"
#include "audit/bundle_internal.h"
#include "audit/checkpoint.h"
#include "audit/file_digest.h"
#include "audit/log_files.h"
#include "audit/proof_tree.h"
#include "common/encoding.h"
#include "common/strings.h"

namespace hopgate::audit {
namespace {

using nlohmann::json;

struct SessionLine {
  uint64_t seq = 0;
  std::string text;
  std::string where;  // FILE:LINE in the log
};

// What one pass over the log collects.
struct LogScan {
  std::string leaves;  // every leaf hash, 32 bytes each
  std::vector<SessionLine> lines;
  bool have_checkpoint = false;  // a checkpoint after the session's last line
  SessionLine checkpoint;
  std::string damage;            // the first line out of sequence
  uint64_t damage_seq = 0;
};

Status ScanLog(const std::vector<std::string>& files, const ExportOptions& o, LogScan* s) {
  uint64_t position = 0, bytes = 0;
  for (const auto& file : files) {
    Status st = ForEachLine(file, [&](std::string_view line, uint64_t, uint64_t number) {
      bytes += line.size() + 1;
      if (o.progress && (number & 0x3fff) == 0) o.progress(bytes);
      LineFields f;
      const char* bad = ScanLine(line, &f);
      if (s->damage.empty() && (bad || !f.has_seq || f.seq != position)) {
        s->damage = file + ":" + std::to_string(number) + ": " +
                    (bad ? bad : !f.has_seq ? "no sequence number"
                                            : "sequence number " + std::to_string(f.seq) + " where " +
                                                  std::to_string(position) + " was expected");
        s->damage_seq = position;
      }
      s->leaves += LeafHash(line);
      if (!bad && !f.escaped) {
        std::string where = file + ":" + std::to_string(number);
        if (BelongsToSession(f, o.session)) {
          s->lines.push_back({position, std::string(line), where});
          s->have_checkpoint = false;
        } else if (!s->lines.empty() && !s->have_checkpoint && f.type == "checkpoint") {
          s->have_checkpoint = true;
          s->checkpoint = {position, std::string(line), where};
        }
      }
      ++position;
      return Status::Ok();
    });
    if (!st) return st;
  }
  return Status::Ok();
}

struct SignedCheckpoint {
  CheckpointText text;
  std::string body, signature;
};

// The checkpoint event: its fields, its text, and its root against the
// tree recomputed from the log.
Result<SignedCheckpoint> CheckCheckpoint(const LogScan& s, const ProofTree& tree) {
  const SessionLine& c = s.checkpoint;
  json j = json::parse(c.text, nullptr, /*allow_exceptions=*/false);
  auto bad = [&](const std::string& why) {
    return MakeError(Code::kDataLoss, c.where + ": " + why + "; run hopctl audit verify");
  };
  if (!j.is_object() || !j.value("tree_size", json()).is_number_unsigned() ||
      !j.value("checkpoint", json()).is_string() || !j.value("signature", json()).is_string()) {
    return bad("not a checkpoint event");
  }
  SignedCheckpoint out;
  out.body = j["checkpoint"];
  out.signature = j["signature"];
  auto text = ParseCheckpoint(out.body);
  if (!text) return bad(text.message());
  out.text = *text;
  if (j["tree_size"].get<uint64_t>() != c.seq || text->size != c.seq) {
    return bad("checkpoint tree size is not its own sequence number");
  }
  if (text->root != tree.Root()) return bad("checkpoint root does not match the events before it");
  if (out.signature.empty()) {
    return MakeError(Code::kFailedPrecondition, c.where + ": the checkpoint is not signed");
  }
  return out;
}

// Checks each recording against what the log says, before anything is
// written: an export that would fail verification is refused.
Status CheckRecordings(const std::map<std::string, bundle_io::NamedRecording>& recs,
                       const ExportOptions& o) {
  for (const auto& [name, r] : recs) {
    std::string src = RecordingFile(r.logged, o.recordings_dir);
    auto d = DigestFile(src, r.closed ? UINT64_MAX : r.size);
    std::string what = "recording " + EscapeControl(src) + " (" + r.where + ")";
    if (!d) {
      return MakeError(d.code() == Code::kNotFound ? Code::kDataLoss : d.code(),
                       what + ": " + d.message());
    }
    bool matches = d->sha256_hex == r.sha256 && (r.closed ? d->size == r.size : d->hashed == r.size);
    if (!matches) {
      return MakeError(Code::kDataLoss, what + " does not match the log; run hopctl audit verify");
    }
  }
  return Status::Ok();
}

Status CopyRecordings(const std::map<std::string, bundle_io::NamedRecording>& recs,
                      const ExportOptions& o, ExportSummary* summary) {
  if (recs.empty()) return Status::Ok();
  Status st = bundle_io::MakeEmptyDir(o.out_dir + "/recordings");
  for (const auto& [name, r] : recs) {
    if (!st) return st;
    st = bundle_io::CopyFile(RecordingFile(r.logged, o.recordings_dir),
                             o.out_dir + "/recordings/" + name);
    if (!r.closed) {
      summary->notes.push_back("recordings/" + name +
                               ": no session_close names it yet; the log covers its first " +
                               std::to_string(r.size) + " bytes");
    }
    ++summary->recordings;
  }
  return st;
}

std::string Readme(const ExportOptions& o, const SignedCheckpoint& c, uint64_t events) {
  return "hopgate audit bundle: session " + o.session + ", " + std::to_string(events) +
         " events, checkpoint of tree size " + std::to_string(c.text.size) + " signed for \"" +
         c.text.origin +
         "\".\n\n"
         "Check all of it (signature, every event's inclusion proof, recordings, manifest):\n"
         "  hopctl audit verify-bundle --allowed-signers ALLOWED_SIGNERS DIR\n\n"
         "Check the checkpoint's signature with OpenSSH alone:\n"
         "  ssh-keygen -Y verify -f ALLOWED_SIGNERS -I '" + c.text.origin +
         "' -n hopgate-audit -s checkpoint.sig < checkpoint\n\n"
         "events.jsonl holds the session's lines exactly as in the audit log; line i of\n"
         "proofs.jsonl is the RFC 9162 inclusion proof of line i (leaf hash SHA-256(0x00 ||\n"
         "line)) against the checkpoint's root. manifest.json lists every file with its\n"
         "SHA-256. The bundle proves each event is in the signed log; only the whole log\n"
         "proves that no event of the session was left out.\n";
}

Status WriteBundle(const ExportOptions& o, const LogScan& s, const ProofTree& tree,
                   const SignedCheckpoint& c, const std::map<std::string, bundle_io::NamedRecording>& recs,
                   ExportSummary* summary) {
  std::string events, proofs;
  for (const auto& l : s.lines) {
    events += l.text + "\n";
    json proof = json::array();
    for (const auto& h : tree.InclusionProof(l.seq)) proof.push_back(Base64Encode(h));
    proofs += json{{"seq", l.seq}, {"tree_size", tree.size()}, {"inclusion_proof", proof}}.dump() + "\n";
  }
  Status st = bundle_io::MakeEmptyDir(o.out_dir);
  for (const auto& [name, data] : std::map<std::string, std::string>{
           {"events.jsonl", events}, {"proofs.jsonl", proofs}, {"checkpoint", c.body},
           {"checkpoint.sig", c.signature}, {"README.txt", Readme(o, c, s.lines.size())}}) {
    if (st) st = bundle_io::WriteNewFile(o.out_dir + "/" + name, data);
  }
  if (st) st = CopyRecordings(recs, o, summary);
  if (!st) return st;
  std::vector<std::string> other;
  auto files = bundle_io::ListFiles(o.out_dir, &other);
  if (!files) return files.error();
  json list = json::array();
  for (const auto& f : *files) {
    auto d = DigestFile(o.out_dir + "/" + f);
    if (!d) return d.error();
    list.push_back({{"path", f}, {"size", d->size}, {"sha256", d->sha256_hex}});
  }
  json manifest = {{"format", kBundleFormat},      {"session", o.session},
                   {"origin", c.text.origin},      {"tree_size", c.text.size},
                   {"root", Base64Encode(c.text.root)}, {"events", s.lines.size()},
                   {"files", list}};
  return bundle_io::WriteNewFile(o.out_dir + "/manifest.json", manifest.dump(2) + "\n");
}

}  // namespace

Result<ExportSummary> ExportBundle(const std::vector<std::string>& ordered_files,
                                   const ExportOptions& o) {
  if (!ValidSessionId(o.session)) {
    return MakeError(Code::kInvalidArgument,
                     "\"" + EscapeControl(o.session) + "\" is not a session id (c... or c...-N)");
  }
  LogScan s;
  Status st = ScanLog(ordered_files, o, &s);
  if (!st) return st.error();
  if (s.lines.empty()) {
    return MakeError(Code::kNotFound, "no events of session " + o.session + " in the log");
  }
  if (!s.have_checkpoint) {
    const SessionLine& last = s.lines.back();
    return MakeError(Code::kFailedPrecondition,
                     "no checkpoint after the session's last event (seq " + std::to_string(last.seq) +
                         ", " + last.where +
                         ") yet: the gateway signs one within audit.checkpoint_interval; export "
                         "again after it");
  }
  if (!s.damage.empty() && s.damage_seq <= s.checkpoint.seq) {
    return MakeError(Code::kDataLoss, s.damage + "; run hopctl audit verify");
  }
  s.leaves.resize(s.checkpoint.seq * 32);
  ProofTree tree(std::move(s.leaves));
  auto c = CheckCheckpoint(s, tree);
  if (!c) return c.error();
  std::vector<bundle_io::EventLine> named;
  for (const auto& l : s.lines) named.push_back({l.text, l.where});
  auto recs = bundle_io::RecordingsNamed(named);
  if (!recs) return recs.error();
  st = CheckRecordings(*recs, o);
  if (!st) return st.error();
  ExportSummary summary;
  st = WriteBundle(o, s, tree, *c, *recs, &summary);
  if (!st) return st.error();
  summary.events = s.lines.size();
  summary.tree_size = tree.size();
  summary.origin = c->text.origin;
  return summary;
}

}  // namespace hopgate::audit
