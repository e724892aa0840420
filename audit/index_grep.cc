// The session index: --grep, a full-text search (FTS5) of what recorded
// terminals showed, typed input and exec commands. FTS5 narrows the lines
// to those holding TEXT's words in order (the last one as a prefix); each
// is then checked to contain TEXT itself (ASCII case ignored). Lines come
// in index order (the order they were read: by recording, in time order
// within one), which FTS5 yields without sorting, so --limit stops early.
#include <map>

#include "audit/index_internal.h"

namespace hopgate::audit {

using namespace index_internal;

namespace {

std::string LowerAscii(std::string s) {
  for (char& c : s) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return s;
}

// TEXT's tokens exactly as the index's tokenizer makes them, read back from
// a one-row FTS5 table in the temp schema.
Result<std::vector<std::string>> Tokens(Statements* sql, const std::string& text) {
  Status st = sql->db()->Exec(
      "CREATE VIRTUAL TABLE IF NOT EXISTS temp.grep_probe USING fts5(x);"
      "CREATE VIRTUAL TABLE IF NOT EXISTS temp.grep_probe_terms "
      "USING fts5vocab(temp, grep_probe, instance);"
      "DELETE FROM temp.grep_probe;");
  if (!st) return st.error();
  if (Status ins = sql->Run("INSERT INTO temp.grep_probe(x) VALUES(?)", {text}); !ins) {
    return ins.error();
  }
  auto s = sql->Get("SELECT term FROM temp.grep_probe_terms ORDER BY offset");
  if (!s) return s.error();
  std::vector<std::string> out;
  while (true) {
    auto row = (*s)->Step();
    if (!row) return row.error();
    if (!*row) break;
    out.push_back((*s)->Text(0));
  }
  (*s)->Reset();
  return out;
}

// "t1" + "t2" + "t3"*: the tokens in order, the last one as a prefix.
std::string MatchExpression(const std::vector<std::string>& tokens) {
  std::string q;
  for (const auto& t : tokens) {
    if (!q.empty()) q += " + ";
    q += '"';
    for (char c : t) q += c == '"' ? std::string("\"\"") : std::string(1, c);
    q += '"';
  }
  return q + "*";
}

struct PartInfo {
  std::string conn, name, user;
  std::optional<int64_t> start_ms;
  bool admitted = false;
};

}  // namespace

Status SessionIndex::Grep(const std::string& text, const SessionFilter& filter, size_t limit,
                          const std::function<void(const TextMatch&)>& each) {
  if (text.empty()) return MakeError(Code::kInvalidArgument, "--grep: empty text");
  Statements sql(db_.get());
  auto tokens = Tokens(&sql, text);
  if (!tokens) return tokens.error();
  std::string needle = LowerAscii(text);
  // Without a word to look up (TEXT is all punctuation), every line is read.
  auto s = tokens->empty()
               ? sql.Get("SELECT t.part, t.kind, t.t, t.line FROM text t "
                         "WHERE instr(lower(t.line), ?) > 0 ORDER BY t.id",
                         {needle})
               : sql.Get("SELECT t.part, t.kind, t.t, t.line FROM text_fts "
                         "JOIN text t ON t.id = text_fts.rowid "
                         "WHERE text_fts MATCH ? AND instr(lower(t.line), ?) > 0 "
                         "ORDER BY text_fts.rowid",
                         {MatchExpression(*tokens), needle});
  if (!s) return s.error();
  Stmt& rows = **s;
  std::map<int64_t, PartInfo> parts;
  std::map<std::string, bool> admitted;
  size_t n = 0;
  while (limit == 0 || n < limit) {
    auto row = rows.Step();
    if (!row) return row.error();
    if (!*row) break;
    int64_t part_id = rows.Int(0);
    auto it = parts.find(part_id);
    if (it == parts.end()) {
      PartInfo p;
      auto q = sql.Get(
          "SELECT p.conn, p.name, coalesce(r.start, p.opened), s.user FROM parts p "
          "LEFT JOIN recordings r ON r.part = p.id LEFT JOIN sessions s ON s.id = p.conn "
          "WHERE p.id = ?",
          {part_id});
      if (!q) return q.error();
      auto found = (*q)->Step();
      if (!found) return found.error();
      if (*found) {
        p.conn = (*q)->Text(0);
        p.name = (*q)->Text(1);
        p.start_ms = (*q)->OptInt(2);
        p.user = (*q)->Text(3);
      }
      (*q)->Reset();
      auto a = admitted.find(p.conn);
      if (a == admitted.end()) {
        auto summary = Session(p.conn);
        if (!summary) return summary.error();
        a = admitted.emplace(p.conn, summary->has_value() && filter.Matches(**summary)).first;
      }
      p.admitted = a->second;
      it = parts.emplace(part_id, std::move(p)).first;
    }
    if (!it->second.admitted) continue;
    TextMatch m;
    m.session = it->second.conn;
    m.part = it->second.name;
    m.kind = TextKindName(rows.Int(1));
    m.offset = rows.Real(2);
    if (it->second.start_ms) m.time_ms = *it->second.start_ms + static_cast<int64_t>(m.offset * 1000);
    m.user = it->second.user;
    m.text = rows.Text(3);
    each(m);
    ++n;
  }
  rows.Reset();
  return Status::Ok();
}

}  // namespace hopgate::audit
