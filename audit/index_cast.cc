// The session index: the text of recordings. Each recording the log names
// (or that an open recorded channel is writing) is read from where the last
// call stopped; its output and typed input become lines in the full-text
// index. Recordings are hostile input: a malformed line is skipped with a
// warning naming FILE:LINE.
#include <sys/stat.h>
#include <unistd.h>

#include "audit/cast_event.h"
#include "audit/index_internal.h"
#include "audit/line_reader.h"

namespace hopgate::audit::index_internal {
namespace {

#define RETURN_IF_ERROR(expr)          \
  do {                                 \
    if (Status st_ = (expr); !st_) {   \
      return st_.error();                    \
    }                                  \
  } while (false)

constexpr int kWarningsPerRecording = 5;
constexpr size_t kTextBatch = 512;

bool Exists(const std::string& path) { return access(path.c_str(), R_OK) == 0; }

}  // namespace

std::string Updater::Locate(const std::string& path) const {
  if (Exists(path)) return path;
  // Moved with the log (an auditor's copy): the same YYYY/MM/DD/name under
  // the recordings directory, or the name alone.
  std::vector<std::string> parts;
  for (size_t start = 0, slash; start < path.size(); start = slash + 1) {
    slash = path.find('/', start);
    if (slash == std::string::npos) slash = path.size();
    if (slash > start) parts.push_back(path.substr(start, slash - start));
  }
  if (parts.empty()) return "";
  if (parts.size() >= 4) {
    std::string dated = options_.recordings_dir;
    for (size_t i = parts.size() - 4; i < parts.size(); ++i) dated += "/" + parts[i];
    if (Exists(dated)) return dated;
  }
  std::string flat = options_.recordings_dir + "/" + parts.back();
  return Exists(flat) ? flat : "";
}

Status Updater::PlanRecordings(std::vector<Pending>* out, uint64_t* bytes) {
  *bytes = 0;
  auto s = sql_.Get(
      "SELECT r.id, r.part, p.name, r.path, r.closed, r.offset, r.lines, r.warned "
      "FROM recordings r JOIN parts p ON p.id = r.part WHERE r.done = 0 ORDER BY r.id");
  if (!s) return s.error();
  std::vector<Pending> all;
  while (true) {
    auto row = (*s)->Step();
    if (!row) return row.error();
    if (!*row) break;
    Pending p;
    p.id = (*s)->Int(0);
    p.part = (*s)->Int(1);
    p.name = (*s)->Text(2);
    p.path = (*s)->Text(3);
    p.closed = (*s)->Int(4) != 0;
    p.offset = static_cast<uint64_t>((*s)->Int(5));
    p.lines = static_cast<uint64_t>((*s)->Int(6));
    p.warned = (*s)->Int(7) != 0;
    all.push_back(std::move(p));
  }
  (*s)->Reset();
  for (auto& p : all) {
    p.file = Locate(p.path);
    struct stat sb;
    if (p.file.empty() || stat(p.file.c_str(), &sb) != 0) {
      // An open recording may not exist yet; a closed one should.
      if (p.closed && !p.warned) {
        Warn("recording " + p.name + ": " + p.path + ": not found, not indexed");
        RETURN_IF_ERROR(sql_.Run("UPDATE recordings SET warned = 1 WHERE id = ?", {p.id}));
      }
      continue;
    }
    p.size = static_cast<uint64_t>(sb.st_size);
    if (p.size < p.offset) {
      Warn(p.file + ": shorter than when it was indexed; indexing it again");
      RETURN_IF_ERROR(sql_.Run(
          "INSERT INTO text_fts(text_fts, rowid, line) SELECT 'delete', id, line FROM text "
          "WHERE part = ? AND kind != ?",
          {p.part, static_cast<int64_t>(kCommand)}));
      RETURN_IF_ERROR(sql_.Run("DELETE FROM text WHERE part = ? AND kind != ?",
                               {p.part, static_cast<int64_t>(kCommand)}));
      RETURN_IF_ERROR(sql_.Run(
          "UPDATE recordings SET offset = 0, lines = 0, text_lines = 0 WHERE id = ?", {p.id}));
      p.offset = 0;
      p.lines = 0;
    }
    if (p.size == p.offset && !p.closed) continue;  // nothing new yet
    *bytes += p.size - p.offset;
    out->push_back(std::move(p));
  }
  return Status::Ok();
}

Status Updater::IndexRecording(Pending* r) {
  // Another hopctl may have indexed it between our transactions.
  auto now = sql_.QueryInt("SELECT offset FROM recordings WHERE id = ? AND done = 0", {r->id});
  if (!now) return now.error();
  if (!now->has_value() || static_cast<uint64_t>(**now) != r->offset) return Status::Ok();
  TerminalText output, input;
  std::vector<TextLine> out_lines, in_lines;
  uint64_t number = r->lines;
  int bad = 0;
  std::optional<int64_t> start_ms;
  auto flush = [&]() -> Status {
    for (const auto& l : out_lines) RETURN_IF_ERROR(AddText(r->part, kOutput, l.time, l.text));
    for (const auto& l : in_lines) RETURN_IF_ERROR(AddText(r->part, kInput, l.time, l.text));
    out_lines.clear();
    in_lines.clear();
    return Status::Ok();
  };
  auto warn_line = [&](uint64_t n, const std::string& why) {
    if (++bad <= kWarningsPerRecording) {
      Warn(r->file + ":" + std::to_string(n) + ": " + why + ", skipped");
    }
  };
  const uint64_t done_before = phase_done_;
  const uint64_t text_before = stats_.text_lines;
  auto res = ReadLines(r->file, r->offset, kMaxCastLine, [&](std::string_view line, const LineInfo& info) {
    ++number;
    phase_done_ = done_before + (info.end - r->offset);
    if ((number & 4095) == 0) Progress("recordings");
    if (info.too_long) {
      warn_line(number, "line longer than 16 MiB");
      return Status::Ok();
    }
    if (number == 1) {
      auto h = ParseCastHeader(line);
      if (!h) {
        warn_line(number, h.message());
      } else if (h->timestamp > 0) {
        start_ms = h->timestamp * 1000;
      }
      return Status::Ok();
    }
    auto e = ParseCastEvent(line);
    if (!e) {
      warn_line(number, e.message());
      return Status::Ok();
    }
    if (e->code == "o") output.Feed(e->time, e->data, &out_lines);
    if (e->code == "i") input.Feed(e->time, e->data, &in_lines);
    if (out_lines.size() + in_lines.size() >= kTextBatch) return flush();
    return Status::Ok();
  });
  if (!res) {
    if (res.code() == Code::kNotFound || res.code() == Code::kUnavailable) {
      Warn("recording " + r->name + ": " + res.message());  // tried again next time
      return Status::Ok();
    }
    return res.error();
  }
  output.Finish(&out_lines);
  input.Finish(&in_lines);
  RETURN_IF_ERROR(flush());
  if (bad > kWarningsPerRecording) {
    Warn(r->file + ": " + std::to_string(bad - kWarningsPerRecording) +
         " more malformed lines skipped");
  }
  if (r->closed && res->partial > 0) {
    Warn(r->file + ":" + std::to_string(number + 1) +
         ": last line incomplete (the recording was cut short), skipped");
  }
  ++stats_.recordings;
  stats_.cast_bytes += res->end - r->offset;
  return sql_.Run(
      "UPDATE recordings SET offset = ?, lines = ?, done = ?, start = coalesce(start, ?), "
      "text_lines = text_lines + ? WHERE id = ?",
      {res->end, number, r->closed ? 1 : 0, start_ms, stats_.text_lines - text_before, r->id});
}

}  // namespace hopgate::audit::index_internal
