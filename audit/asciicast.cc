#include "audit/asciicast.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <nlohmann/json.hpp>

#include "common/encoding.h"

namespace hopgate::audit {
namespace {

constexpr char kReplacement[] = "\xEF\xBF\xBD";  // U+FFFD

// One JSON document, never throwing: strings are already valid UTF-8, and
// `replace` covers anything that slipped through.
template <typename Json>
std::string Dump(const Json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

std::string Valid(std::string_view s) {
  std::string out;
  AppendValidUtf8(s, &out, nullptr);
  return out;
}

std::string Errno(const std::string& what, const std::string& path, int err) {
  return "recording " + path + ": " + what + ": " + strerror(err);
}

// mkdir -p of the directories above `path`, each new one mode 0700.
Status MakeParents(const std::string& path) {
  for (size_t slash = path.find('/', 1); slash != std::string::npos;
       slash = path.find('/', slash + 1)) {
    std::string dir = path.substr(0, slash);
    if (mkdir(dir.c_str(), 0700) == 0) continue;
    if (errno != EEXIST) return Error{Errno("mkdir " + dir, path, errno)};
    struct stat st;
    if (stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
      return Error{"recording " + path + ": " + dir + " is not a directory"};
    }
  }
  return Status::Ok();
}

}  // namespace

namespace {

// A non-ASCII sequence at in[i]: how it reads as UTF-8 (RFC 3629: no
// overlongs, surrogates or code points past U+10FFFF).
enum class Seq { kValid, kIncomplete, kInvalid };
Seq ReadSeq(std::string_view in, size_t i, size_t* end) {
  const size_t n = in.size();
  auto b = static_cast<uint8_t>(in[i]);
  // Lead byte: how many continuation bytes, and the range allowed for the
  // first one.
  size_t need;
  uint8_t lo = 0x80, hi = 0xBF;
  if (b >= 0xC2 && b <= 0xDF) {
    need = 1;
  } else if (b >= 0xE0 && b <= 0xEF) {
    need = 2;
    if (b == 0xE0) lo = 0xA0;
    if (b == 0xED) hi = 0x9F;
  } else if (b >= 0xF0 && b <= 0xF4) {
    need = 3;
    if (b == 0xF0) lo = 0x90;
    if (b == 0xF4) hi = 0x8F;
  } else {
    *end = i + 1;
    return Seq::kInvalid;
  }
  size_t j = i + 1, got = 0;
  while (got < need && j < n) {
    auto c = static_cast<uint8_t>(in[j]);
    if (c < (got == 0 ? lo : 0x80) || c > (got == 0 ? hi : 0xBF)) break;
    ++j;
    ++got;
  }
  *end = j;  // past the character, or past its maximal ill-formed prefix
  if (got == need) return Seq::kValid;
  return j == n ? Seq::kIncomplete : Seq::kInvalid;
}

// Eight bytes at once: does any need work (below 0x20, '"', '\\', or
// not ASCII)? Exact for "any", which is all the fast path asks.
inline bool WordIsPlain(uint64_t w) {
  constexpr uint64_t kOnes = 0x0101010101010101ULL, kHigh = 0x8080808080808080ULL;
  auto has_less = [](uint64_t x, uint64_t n) { return (x - kOnes * n) & ~x & kHigh; };
  uint64_t bad = (w & kHigh) | has_less(w, 0x20) | has_less(w ^ (kOnes * '"'), 1) |
                 has_less(w ^ (kOnes * '\\'), 1);
  return bad == 0;
}

inline bool BytePlain(uint8_t c) { return c >= 0x20 && c < 0x80 && c != '"' && c != '\\'; }

// Where the run of plain bytes (printable ASCII but '"' and '\\') that
// starts at p[i] ends: sixteen bytes at a time with SSE2 (every x86-64),
// else eight at a time.
size_t PlainRun(const char* p, size_t i, size_t n) {
#if defined(__SSE2__)
  const __m128i space = _mm_set1_epi8(0x20), quote = _mm_set1_epi8('"'),
                backslash = _mm_set1_epi8('\\');
  while (i + 16 <= n) {
    __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + i));
    // Signed: bytes >= 0x80 are negative, so "< 0x20" catches them too.
    __m128i bad = _mm_or_si128(_mm_cmplt_epi8(v, space),
                               _mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, backslash)));
    auto mask = static_cast<unsigned>(_mm_movemask_epi8(bad));
    if (mask != 0) return i + static_cast<size_t>(__builtin_ctz(mask));
    i += 16;
  }
#endif
  while (i + 8 <= n) {
    uint64_t w;
    memcpy(&w, p + i, 8);
    if (!WordIsPlain(w)) break;
    i += 8;
  }
  while (i < n && BytePlain(static_cast<uint8_t>(p[i]))) ++i;
  return i;
}

void AppendEscaped(uint8_t c, std::string* out) {
  static const char kHex[] = "0123456789abcdef";
  switch (c) {
    case '"': out->append("\\\""); break;
    case '\\': out->append("\\\\"); break;
    case '\b': out->append("\\b"); break;
    case '\f': out->append("\\f"); break;
    case '\n': out->append("\\n"); break;
    case '\r': out->append("\\r"); break;
    case '\t': out->append("\\t"); break;
    default: {
      char u[6] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 0xF]};
      out->append(u, 6);
    }
  }
}

}  // namespace

void AppendValidUtf8(std::string_view in, std::string* out, std::string* held) {
  size_t i = 0;
  const size_t n = in.size();
  out->reserve(out->size() + n);
  while (i < n) {
    if (static_cast<uint8_t>(in[i]) < 0x80) {
      // ASCII runs (almost all terminal output) are copied in one piece.
      size_t run = i + 1;
      while (run < n && static_cast<uint8_t>(in[run]) < 0x80) ++run;
      out->append(in.data() + i, run - i);
      i = run;
      continue;
    }
    size_t end;
    Seq seq = ReadSeq(in, i, &end);
    if (seq == Seq::kValid) {
      out->append(in.substr(i, end - i));
    } else if (seq == Seq::kIncomplete && held != nullptr) {
      held->assign(in.substr(i));  // may complete in the next chunk
      return;
    } else {
      out->append(kReplacement);  // one U+FFFD per maximal ill-formed prefix
    }
    i = end;
  }
}

void AppendJsonUtf8(std::string_view in, std::string* out, std::string* held) {
  const char* p = in.data();
  const size_t n = in.size();
  size_t i = 0;
  out->reserve(out->size() + n + n / 16 + 16);
  while (i < n) {
    size_t run = PlainRun(p, i, n);
    out->append(p + i, run - i);
    i = run;
    if (i == n) break;
    auto c = static_cast<uint8_t>(p[i]);
    if (c < 0x80) {
      AppendEscaped(c, out);
      ++i;
      continue;
    }
    size_t end;
    Seq seq = ReadSeq(in, i, &end);
    if (seq == Seq::kValid) {
      out->append(p + i, end - i);  // needs no escaping: all bytes >= 0x80
    } else if (seq == Seq::kIncomplete && held != nullptr) {
      held->assign(in.substr(i));
      return;
    } else {
      out->append(kReplacement);
    }
    i = end;
  }
}

// --- FileCastOutput ---

Result<std::unique_ptr<FileCastOutput>> FileCastOutput::Create(const std::string& path) {
  if (Status s = MakeParents(path); !s.ok()) return s.error();
  int fd = open(path.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) return Error{Errno("create", path, errno)};
  EVP_MD_CTX* sha = EVP_MD_CTX_new();
  if (sha == nullptr || EVP_DigestInit_ex(sha, EVP_sha256(), nullptr) != 1) {
    EVP_MD_CTX_free(sha);
    close(fd);
    return Error{"recording " + path + ": cannot initialise SHA-256"};
  }
  return std::unique_ptr<FileCastOutput>(new FileCastOutput(path, fd, sha));
}

FileCastOutput::FileCastOutput(std::string path, int fd, evp_md_ctx_st* sha)
    : path_(std::move(path)), fd_(fd), sha_(sha) {}

FileCastOutput::~FileCastOutput() {
  if (fd_ >= 0) close(fd_);
  EVP_MD_CTX_free(sha_);
}

Status FileCastOutput::Write(std::string_view bytes) {
  std::lock_guard<std::mutex> lock(mu_);
  if (fd_ < 0) return Error{"recording " + path_ + ": already closed"};
  while (!bytes.empty()) {
    ssize_t n = write(fd_, bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return Error{Errno("write", path_, n < 0 ? errno : EIO)};
    // Hash what the file received, so a partial write still matches it.
    EVP_DigestUpdate(sha_, bytes.data(), static_cast<size_t>(n));
    size_ += static_cast<uint64_t>(n);
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return Status::Ok();
}

Status FileCastOutput::Close() {
  std::lock_guard<std::mutex> lock(mu_);
  if (fd_ < 0) return Status::Ok();
  int rc = close(fd_);
  fd_ = -1;
  if (rc != 0) return Error{Errno("close", path_, errno)};
  return Status::Ok();
}

uint64_t FileCastOutput::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return size_;
}

std::string FileCastOutput::Sha256Hex() const {
  std::lock_guard<std::mutex> lock(mu_);
  return Sha256HexLocked();
}

void FileCastOutput::Progress(uint64_t* size, std::string* sha256_hex) const {
  std::lock_guard<std::mutex> lock(mu_);
  *size = size_;
  *sha256_hex = Sha256HexLocked();
}

std::string FileCastOutput::Sha256HexLocked() const {
  return RunningDigestHex(sha_);
}

Status MemoryCastOutput::Write(std::string_view bytes) {
  if (!fail_message.empty()) return Error{fail_message};
  data.append(bytes);
  return Status::Ok();
}

// --- CastWriter ---

CastWriter::CastWriter(CastOutput* out, CastHeader header, int64_t start_ms,
                       size_t max_unflushed)
    : out_(out), header_(std::move(header)), start_ms_(start_ms), max_unflushed_(max_unflushed) {
  (void)Start();  // a failure is sticky and reported by the next call
}

Status CastWriter::Failed(Status s) {
  if (!s.ok() && error_.ok()) error_ = s;
  return s.ok() ? s : error_;
}

Status CastWriter::Check() const {
  if (!error_.ok()) return error_;
  if (closed_) return Error{"recording already closed"};
  return Status::Ok();
}

Status CastWriter::Start() {
  if (started_) return error_;
  started_ = true;
  // ordered_json keeps "version" first, as asciinema writes it.
  nlohmann::ordered_json h;
  h["version"] = 2;
  h["width"] = header_.width;
  h["height"] = header_.height;
  if (header_.timestamp != 0) h["timestamp"] = header_.timestamp;
  if (!header_.command.empty()) h["command"] = Valid(header_.command);
  if (!header_.title.empty()) h["title"] = Valid(header_.title);
  auto object = [](const std::map<std::string, std::string>& m) {
    nlohmann::ordered_json o = nlohmann::ordered_json::object();
    for (const auto& [k, v] : m) o[Valid(k)] = Valid(v);
    return o;
  };
  if (!header_.env.empty()) h["env"] = object(header_.env);
  if (!header_.hopgate.empty()) h["hopgate"] = object(header_.hopgate);
  if (Status s = out_->Write(Dump(h)); !s.ok()) return Failed(s);
  return Failed(out_->Flush());
}

void AppendJsonString(std::string_view valid_utf8, std::string* out) {
  out->push_back('"');
  AppendJsonUtf8(valid_utf8, out, nullptr);  // valid input: only escapes change
  out->push_back('"');
}

Status CastWriter::Event(int64_t now_ms, const char* code, std::string_view bytes,
                         std::string* held) {
  // Times only move forward, so players never see events out of order.
  // Milliseconds / 1000 is exact to the microsecond; nlohmann prints the
  // shortest form of the number ("1.5" rather than "1.500000").
  int64_t offset = std::max(last_ms_, now_ms - start_ms_);
  double seconds = static_cast<double>(offset) / 1000.0;
  // The event line is [time, code, data]: nlohmann formats the number; the
  // data, the bulk of every recording, is made valid UTF-8 and escaped in
  // one pass straight into the buffer by AppendJsonUtf8, which writes
  // exactly what nlohmann's dump() would (asciicast_test compares them).
  const size_t line_start = buffer_.size();
  buffer_.push_back('[');
  buffer_ += nlohmann::json(seconds).dump();
  buffer_ += ",\"";
  buffer_ += code;
  buffer_ += "\",\"";
  const size_t data_start = buffer_.size();
  AppendJsonUtf8(bytes, &buffer_, held);
  if (held != nullptr && buffer_.size() == data_start) {  // stream: nothing (yet)
    buffer_.resize(line_start);
    return Status::Ok();
  }
  buffer_ += "\"]\n";
  if (line_start == 0) oldest_ms_ = now_ms;
  last_ms_ = offset;
  return AfterEvent();
}

Status CastWriter::AfterEvent() {
  if (buffer_.size() > max_unflushed_) return WriteBuffer();
  return Status::Ok();
}

Status CastWriter::WriteBuffer() {
  if (buffer_.empty()) return Status::Ok();
  Status s = out_->Write(buffer_);
  buffer_.clear();  // on error the recording is dead anyway; don't grow
  return Failed(s);
}

Status CastWriter::Stream(int64_t now_ms, const char* code, std::string* held,
                          std::string_view bytes) {
  if (Status s = Check(); !s.ok()) return s;
  if (held->empty()) return Event(now_ms, code, bytes, held);
  // A character split across chunks (rare): join its start to this chunk.
  std::string joined = *held;
  joined.append(bytes);
  held->clear();
  return Event(now_ms, code, joined, held);
}

Status CastWriter::Output(int64_t now_ms, std::string_view bytes) {
  return Stream(now_ms, "o", &held_output_, bytes);
}

Status CastWriter::Input(int64_t now_ms, std::string_view bytes) {
  return Stream(now_ms, "i", &held_input_, bytes);
}

Status CastWriter::Resize(int64_t now_ms, int width, int height) {
  if (Status s = Check(); !s.ok()) return s;
  return Event(now_ms, "r", std::to_string(width) + "x" + std::to_string(height), nullptr);
}

Status CastWriter::Marker(int64_t now_ms, std::string_view label) {
  if (Status s = Check(); !s.ok()) return s;
  return Event(now_ms, "m", label, nullptr);
}

Status CastWriter::Flush() {
  if (!error_.ok()) return error_;
  if (Status s = WriteBuffer(); !s.ok()) return s;
  return Failed(out_->Flush());
}

Status CastWriter::Close(int64_t now_ms) {
  if (closed_) return error_;
  if (Status s = Check(); !s.ok()) return s;
  // Whatever never completed is shown as U+FFFD rather than dropped.
  for (auto [held, code] : {std::pair{&held_output_, "o"}, std::pair{&held_input_, "i"}}) {
    if (held->empty()) continue;
    std::string data = std::move(*held);
    held->clear();
    if (Status s = Event(now_ms, code, data, nullptr); !s.ok()) return s;
  }
  closed_ = true;
  return Flush();
}

}  // namespace hopgate::audit
