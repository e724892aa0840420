#include "audit/cast_reader.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <optional>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/encoding.h"
#include "common/strings.h"

namespace hopgate::audit {
namespace {

using nlohmann::json;

constexpr size_t kReadChunk = 64 * 1024;
constexpr int kMaxDepth = 16;       // nesting of arrays and objects in one line
constexpr size_t kMaxCodeBytes = 16;

// nlohmann's parser is iterative, but a line of a million '[' still builds
// a million nested values: refuse deep nesting before parsing at all. The
// 1-based column where nesting first goes deeper than `max_depth`, 0 if never.
size_t TooDeepAt(std::string_view text, int max_depth) {
  int depth = 0;
  bool in_string = false, escaped = false;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > max_depth) return i + 1;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return 0;
}

// Parses one line as JSON, or says why not and at which 1-based column
// (nlohmann's message without its "[json.exception...] parse error at line
// 1, " prefix; escaped, since it quotes the hostile bytes it stopped at).
bool ParseJson(std::string_view text, json* out, std::string* why, size_t* column) {
  if (size_t deep = TooDeepAt(text, kMaxDepth); deep > 0) {
    *why = "nested deeper than " + std::to_string(kMaxDepth) + " levels";
    *column = deep;
    return false;
  }
  try {
    *out = json::parse(text.begin(), text.end());
    return true;
  } catch (const json::exception& e) {
    std::string what = e.what();
    if (auto at = what.find("parse error at line 1, "); at != std::string::npos) {
      what = what.substr(at + strlen("parse error at line 1, "));
    } else if (auto sp = what.find("] "); sp != std::string::npos) {
      what = what.substr(sp + 2);
    }
    // "column N: ..." repeats what the location already says.
    if (what.rfind("column ", 0) == 0) {
      if (auto colon = what.find(": "); colon != std::string::npos) what = what.substr(colon + 2);
    }
    *why = "not JSON: " + EscapeControl(what);
    const auto* pe = dynamic_cast<const json::parse_error*>(&e);
    *column = pe != nullptr && pe->byte > 0 ? std::min(pe->byte, text.size() + 1) : 1;
    return false;
  }
}

// Where the values of a JSON line's top-level array or object start
// (1-based columns): an array's elements in order, an object's members with
// their raw key text. Only for text that parsed as JSON, to point errors
// at the value they are about.
struct TopValue {
  std::string_view key;
  size_t column;
};
std::vector<TopValue> TopLevelValues(std::string_view text) {
  std::vector<TopValue> out;
  int depth = 0;
  bool in_string = false, escaped = false, is_object = false;
  bool expect_value = false, expect_key = false, in_key = false;
  size_t key_start = 0;
  std::string_view key;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
        if (in_key) key = text.substr(key_start, i - key_start);
        in_key = false;
      }
      continue;
    }
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n') continue;
    if (depth == 1 && expect_value && c != ']' && c != '}') {
      out.push_back({is_object ? key : std::string_view(), i + 1});
      expect_value = false;
    } else if (depth == 1 && expect_key && c == '"') {
      in_key = true;
      expect_key = false;
      key_start = i + 1;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (depth++ == 0) {
        is_object = c == '{';
        expect_value = !is_object;
        expect_key = is_object;
      }
    } else if (c == ']' || c == '}') {
      --depth;
    } else if (c == ',' && depth == 1) {
      (is_object ? expect_key : expect_value) = true;
    } else if (c == ':' && depth == 1 && is_object) {
      expect_value = true;
    }
  }
  return out;
}

size_t MemberColumn(const std::vector<TopValue>& values, std::string_view key) {
  for (const auto& v : values) {
    if (v.key == key) return v.column;
  }
  return 1;
}

size_t ElementColumn(const std::vector<TopValue>& values, size_t index) {
  return index < values.size() ? values[index].column : 1;
}

// Header members that must be integers in a range, when present.
Result<int64_t> IntegerMember(const json& h, const char* name, int64_t lo, int64_t hi) {
  const json& v = h[name];
  if (!v.is_number_integer()) {
    return MakeError(Code::kInvalidArgument,
                     std::string("header: \"") + name + "\" is not an integer");
  }
  // is_number_integer covers unsigned values above INT64_MAX: compare as such.
  if (v.is_number_unsigned() && v.get<uint64_t>() > static_cast<uint64_t>(hi)) {
    return MakeError(Code::kInvalidArgument, std::string("header: \"") + name + "\" is too large");
  }
  int64_t n = v.get<int64_t>();
  if (n < lo || n > hi) {
    return MakeError(Code::kInvalidArgument, std::string("header: \"") + name + "\" is " +
                                                 std::to_string(n) + ", outside " +
                                                 std::to_string(lo) + ".." + std::to_string(hi));
  }
  return n;
}

// An object of strings (env may hold null, as asciinema writes an unset SHELL).
Status StringMap(const json& h, const char* name, std::map<std::string, std::string>* out) {
  if (!h.contains(name)) return Status::Ok();
  const json& v = h[name];
  if (!v.is_object()) {
    return MakeError(Code::kInvalidArgument,
                     std::string("header: \"") + name + "\" is not an object");
  }
  for (const auto& [k, val] : v.items()) {
    if (val.is_null()) continue;
    if (!val.is_string()) {
      return MakeError(Code::kInvalidArgument, std::string("header: \"") + name + "." +
                                                   EscapeControl(k) + "\" is not a string");
    }
    (*out)[k] = val.get<std::string>();
  }
  return Status::Ok();
}

Status OptionalString(const json& h, const char* name, std::string* out) {
  if (!h.contains(name) || h[name].is_null()) return Status::Ok();
  if (!h[name].is_string()) {
    return MakeError(Code::kInvalidArgument,
                     std::string("header: \"") + name + "\" is not a string");
  }
  *out = h[name].get<std::string>();
  return Status::Ok();
}

// "WxH", digits only, each within 1..max.
bool ParseSize(std::string_view s, int max, int* w, int* h) {
  auto number = [max](std::string_view d, int* n) {
    if (d.empty() || d.size() > 6) return false;
    int v = 0;
    for (char c : d) {
      if (c < '0' || c > '9') return false;
      v = v * 10 + (c - '0');
    }
    *n = v;
    return v >= 1 && v <= max;
  };
  size_t x = s.find('x');
  return x != std::string_view::npos && number(s.substr(0, x), w) && number(s.substr(x + 1), h);
}

std::string Number(double v) {
  char buf[64];
  snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

}  // namespace

std::string Located(const std::string& file, const Error& error, int column) {
  if (error.line <= 0) return file + ": " + error.message;
  std::string at = file + ":" + std::to_string(error.line);
  if (column > 0) at += ":" + std::to_string(column);
  return at + ": " + error.message;
}

// --- CastParser ---

CastParser::CastParser(CastLimits limits) : limits_(limits) {}

Error CastParser::Fail(std::string message, size_t column) {
  Error e = MakeError(Code::kInvalidArgument, std::move(message));
  e.line = static_cast<int>(std::min<uint64_t>(line_, INT32_MAX));
  error_column_ = static_cast<int>(std::min<size_t>(column, INT32_MAX));
  error_ = e;
  return e;
}

Status CastParser::Feed(std::string_view bytes) {
  if (error_) return *error_;
  if (pos_ > 0 && (pos_ == buf_.size() || pos_ >= kReadChunk)) {
    buf_.erase(0, pos_);
    pos_ = 0;
  }
  buf_.append(bytes);
  size_t last_nl = buf_.rfind('\n');
  size_t tail_start = last_nl == std::string::npos ? pos_ : std::max(pos_, last_nl + 1);
  if (buf_.size() - tail_start > limits_.max_line_bytes) {
    uint64_t complete = static_cast<uint64_t>(
        std::count(buf_.begin() + static_cast<std::ptrdiff_t>(pos_),
                   buf_.begin() + static_cast<std::ptrdiff_t>(tail_start), '\n'));
    line_ += complete + 1;
    return Fail("line is longer than " + std::to_string(limits_.max_line_bytes) + " bytes",
                limits_.max_line_bytes + 1);
  }
  return Status::Ok();
}

Result<bool> CastParser::Next(CastEvent* out) {
  if (error_) return *error_;
  while (true) {
    size_t nl = buf_.find('\n', pos_);
    if (nl == std::string::npos) return false;
    std::string_view text(buf_.data() + pos_, nl - pos_);
    ++line_;
    consumed_ += text.size() + 1;
    pos_ = nl + 1;
    if (text.size() > limits_.max_line_bytes) {
      return Fail("line is longer than " + std::to_string(limits_.max_line_bytes) + " bytes",
                  limits_.max_line_bytes + 1);
    }
    if (!text.empty() && text.back() == '\r') text.remove_suffix(1);
    if (!has_header_) {
      if (auto p = ParseHeader(text)) return Fail(p->message, p->column);
      has_header_ = true;
      continue;
    }
    if (auto p = ParseEvent(text, out)) return Fail(p->message, p->column);
    out->line = line_;
    out->end_offset = consumed_;
    return true;
  }
}

std::optional<CastParser::Problem> CastParser::ParseHeader(std::string_view text) {
  if (text.empty()) return Problem{"empty line where the header belongs", 1};
  json h;
  Problem p;
  if (!ParseJson(text, &h, &p.message, &p.column)) {
    p.message = "header " + p.message;
    return p;
  }
  if (!h.is_object()) return Problem{"the first line is not an asciicast header (a JSON object)", 1};
  const std::vector<TopValue> at = TopLevelValues(text);
  auto member = [&](const char* name, const std::string& message) {
    return Problem{message, MemberColumn(at, name)};
  };
  if (!h.contains("version") || !h["version"].is_number_integer() || h["version"] != 2) {
    return member("version", "not an asciicast version 2 header (\"version\": 2 is missing)");
  }
  for (const char* name : {"width", "height"}) {
    if (!h.contains(name)) return Problem{std::string("header: \"") + name + "\" is missing", 1};
    auto v = IntegerMember(h, name, 1, limits_.max_dimension);
    if (!v) return member(name, v.message());
    (name[0] == 'w' ? header_.width : header_.height) = static_cast<int>(*v);
  }
  if (h.contains("timestamp") && !h["timestamp"].is_null()) {
    auto v = IntegerMember(h, "timestamp", 0, INT64_MAX / 1000);
    if (!v) return member("timestamp", v.message());
    header_.timestamp = *v;
  }
  if (h.contains("idle_time_limit") && !h["idle_time_limit"].is_null()) {
    const json& v = h["idle_time_limit"];
    if (!v.is_number() || !std::isfinite(v.get<double>()) || v.get<double>() <= 0) {
      return member("idle_time_limit", "header: \"idle_time_limit\" is not a positive number");
    }
    header_.idle_time_limit = v.get<double>();
  }
  if (Status s = OptionalString(h, "command", &header_.command); !s.ok()) {
    return member("command", s.message());
  }
  if (Status s = OptionalString(h, "title", &header_.title); !s.ok()) {
    return member("title", s.message());
  }
  if (Status s = StringMap(h, "env", &header_.env); !s.ok()) return member("env", s.message());
  if (Status s = StringMap(h, "hopgate", &header_.hopgate); !s.ok()) {
    return member("hopgate", s.message());
  }
  return std::nullopt;
}

std::optional<CastParser::Problem> CastParser::ParseEvent(std::string_view text, CastEvent* out) {
  if (text.empty()) return Problem{"empty line", 1};
  json e;
  Problem p;
  if (!ParseJson(text, &e, &p.message, &p.column)) return p;
  if (!e.is_array() || e.size() != 3) {
    return Problem{"an event must be a JSON array of three: [time, code, data]", 1};
  }
  const std::vector<TopValue> at = TopLevelValues(text);
  auto element = [&](size_t index, std::string message) {
    return Problem{std::move(message), ElementColumn(at, index)};
  };
  if (!e[0].is_number()) return element(0, "the event time is not a number");
  double t = e[0].get<double>();
  if (!std::isfinite(t) || t < 0 || t > limits_.max_time) {
    return element(0, "the event time " + Number(t) + " is out of range");
  }
  if (t < last_time_) {
    return element(0, "the event time " + Number(t) + " is before the previous event's (" +
                          Number(last_time_) + ")");
  }
  if (!e[1].is_string() || e[1].get_ref<const std::string&>().empty() ||
      e[1].get_ref<const std::string&>().size() > kMaxCodeBytes) {
    return element(1, "the event code is not a short string");
  }
  const std::string& code = e[1].get_ref<const std::string&>();
  bool known = code == "o" || code == "i" || code == "m" || code == "r";
  if (known && !e[2].is_string()) {
    return element(2, "the data of an \"" + code + "\" event is not a string");
  }
  CastEvent ev;
  ev.time = t;
  ev.code = code;
  ev.data = known ? e[2].get<std::string>() : e[2].dump();
  if (code == "r" && !ParseSize(ev.data, limits_.max_dimension, &ev.width, &ev.height)) {
    return element(2, "a resize event's data is not COLSxROWS: " + Quote(EscapeControl(ev.data)));
  }
  last_time_ = t;
  *out = std::move(ev);
  return std::nullopt;
}

// --- CastFileReader ---

Result<std::unique_ptr<CastFileReader>> CastFileReader::Open(const std::string& path,
                                                             CastLimits limits) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0) {
    return MakeError(errno == ENOENT ? Code::kNotFound : Code::kUnavailable,
                     path + ": cannot open: " + strerror(errno));
  }
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return MakeError(Code::kInvalidArgument, path + ": not a regular file");
  }
  EVP_MD_CTX* sha = EVP_MD_CTX_new();
  if (sha == nullptr || EVP_DigestInit_ex(sha, EVP_sha256(), nullptr) != 1) {
    EVP_MD_CTX_free(sha);
    close(fd);
    return MakeError(Code::kInternal, path + ": cannot initialise SHA-256");
  }
  return std::unique_ptr<CastFileReader>(new CastFileReader(path, fd, sha, limits));
}

CastFileReader::CastFileReader(std::string path, int fd, evp_md_ctx_st* sha, CastLimits limits)
    : path_(std::move(path)), fd_(fd), sha_(sha), limits_(limits), parser_(limits) {}

CastFileReader::~CastFileReader() {
  close(fd_);
  EVP_MD_CTX_free(sha_);
}

Status CastFileReader::Rewind() {
  if (lseek(fd_, 0, SEEK_SET) != 0) {
    return MakeError(Code::kUnavailable, path_ + ": cannot seek: " + strerror(errno));
  }
  if (EVP_DigestInit_ex(sha_, EVP_sha256(), nullptr) != 1) {
    return MakeError(Code::kInternal, path_ + ": cannot initialise SHA-256");
  }
  parser_ = CastParser(limits_);
  read_ = 0;
  return Status::Ok();
}

Result<bool> CastFileReader::ReadMore() {
  char buf[kReadChunk];
  size_t want = sizeof buf;
  if (limit_) want = static_cast<size_t>(std::min<uint64_t>(want, *limit_ - read_));
  if (want == 0) return false;
  ssize_t n;
  do {
    n = read(fd_, buf, want);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return MakeError(Code::kUnavailable, path_ + ": read: " + strerror(errno));
  if (n == 0) return false;
  EVP_DigestUpdate(sha_, buf, static_cast<size_t>(n));
  read_ += static_cast<uint64_t>(n);
  if (Status s = parser_.Feed(std::string_view(buf, static_cast<size_t>(n))); !s.ok()) {
    Error e = s.error();
    e.message = Located(path_, e, parser_.error_column());
    return e;
  }
  return true;
}

Result<CastFileReader::Step> CastFileReader::Next(CastEvent* out) {
  while (true) {
    auto r = parser_.Next(out);
    if (!r) {
      Error e = r.error();
      e.message = Located(path_, e, parser_.error_column());
      return e;
    }
    if (*r) return Step::kEvent;
    if (at_limit()) return Step::kNoMoreNow;
    auto more = ReadMore();
    if (!more) return more.error();
    if (!*more) return Step::kNoMoreNow;
  }
}

std::string CastFileReader::Sha256Hex() const {
  return RunningDigestHex(sha_);
}

Result<CastSummary> ScanCast(const std::string& path, CastLimits limits) {
  auto reader = CastFileReader::Open(path, limits);
  if (!reader) return reader.error();
  CastSummary sum;
  CastEvent ev;
  while (true) {
    auto step = (*reader)->Next(&ev);
    if (!step) return step.error();
    if (*step == CastFileReader::Step::kNoMoreNow) break;
    ++sum.events;
    sum.duration = ev.time;
  }
  const CastInfo* header = (*reader)->header();
  if (header == nullptr) {
    return MakeError(Code::kInvalidArgument,
                     path + ((*reader)->bytes_read() == 0
                                 ? ": empty file, not an asciicast recording"
                                 : ":1:" + std::to_string((*reader)->pending_bytes() + 1) +
                                       ": the header line is incomplete (no newline)"));
  }
  sum.header = *header;
  sum.size = (*reader)->bytes_read();
  sum.sha256 = (*reader)->Sha256Hex();
  sum.partial_tail = (*reader)->pending_bytes();
  return sum;
}

}  // namespace hopgate::audit
