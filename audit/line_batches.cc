#include "audit/line_batches.h"

#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <thread>

#include "audit/file_digest.h"

namespace hopgate::audit {
namespace {

constexpr size_t kMaxLine = 64 << 20;  // longer than any audit event by far

// Scans and hashes lines [from, to) of a batch.
void Prepare(std::vector<PreparedLine>* lines, size_t from, size_t to) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string plain;
  for (size_t i = from; i < to; ++i) {
    PreparedLine& p = (*lines)[i];
    p.bad = ScanLine(p.text, &p.fields);
    LineHashes(p.text, &p.leaf, &plain);
    for (size_t k = 0; k < 32; ++k) {
      unsigned char c = static_cast<unsigned char>(plain[k]);
      p.sha256_hex[2 * k] = kDigits[c >> 4];
      p.sha256_hex[2 * k + 1] = kDigits[c & 15];
    }
  }
}

// Splits `data` (whole lines) into lines and prepares them on `workers` threads.
void SplitAndPrepare(LineBatch* b, uint64_t first_number, int workers) {
  std::string_view data(b->data);
  for (size_t start = 0; start < data.size();) {
    size_t nl = data.find('\n', start);
    PreparedLine p;
    p.text = data.substr(start, nl - start);
    p.number = first_number + b->lines.size();
    b->lines.push_back(std::move(p));
    start = nl + 1;
  }
  size_t n = b->lines.size();
  if (workers <= 1 || n < 4096) {
    Prepare(&b->lines, 0, n);
    return;
  }
  std::vector<std::thread> threads;
  size_t per = (n + workers - 1) / workers;
  for (int w = 1; w < workers; ++w) {
    size_t from = std::min(n, per * w), to = std::min(n, per * (w + 1));
    threads.emplace_back(Prepare, &b->lines, from, to);
  }
  Prepare(&b->lines, 0, std::min(n, per));
  for (auto& t : threads) t.join();
}

}  // namespace

LineBatches::LineBatches(std::vector<std::string> files, size_t batch_bytes)
    : files_(std::move(files)), batch_bytes_(batch_bytes),
      // The read-ahead thread and its helpers; the caller's thread checks.
      workers_(static_cast<int>(std::clamp(std::thread::hardware_concurrency(), 2u, 5u)) - 1) {
  ahead_ = std::async(std::launch::async, [this] { return Read(); });
}

LineBatches::~LineBatches() {
  if (ahead_.valid()) ahead_.wait();
  if (fd_ >= 0) close(fd_);
}

std::unique_ptr<LineBatch> LineBatches::Next() {
  if (!ahead_.valid()) return nullptr;
  std::unique_ptr<LineBatch> b = ahead_.get();
  if (b) ahead_ = std::async(std::launch::async, [this] { return Read(); });
  return b;
}

Status LineBatches::OpenNext() {
  const std::string& file = files_[index_];
  fd_ = open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd_ < 0) {
    return MakeError(errno == ENOENT ? Code::kNotFound : Code::kPermissionDenied,
                     file + ": " + strerror(errno));
  }
  number_ = 0;
  carry_.clear();
  return Status::Ok();
}

std::unique_ptr<LineBatch> LineBatches::Read() {
  if (index_ >= files_.size()) return nullptr;
  auto b = std::make_unique<LineBatch>();
  b->file = index_;
  Status st = fd_ >= 0 ? Status::Ok() : OpenNext();
  std::string& data = b->data;
  data = std::move(carry_);
  carry_.clear();
  bool eof = false;
  std::unique_ptr<char[]> buf(new char[batch_bytes_]);
  while (st) {
    ssize_t n = read(fd_, buf.get(), batch_bytes_);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      st = MakeError(Code::kDataLoss, files_[index_] + ": " + strerror(errno));
    } else if (n == 0) {
      eof = true;
      break;
    } else {
      data.append(buf.get(), static_cast<size_t>(n));
      bool has_line = memrchr(data.data(), '\n', data.size()) != nullptr;
      if (data.size() >= batch_bytes_ && has_line) break;
      if (data.size() > kMaxLine && !has_line) {
        st = MakeError(Code::kDataLoss, files_[index_] + ":" + std::to_string(number_ + 1) +
                                             ": a line longer than 64 MiB: not an audit log");
      }
    }
  }
  if (!st) {
    b->error = st;
    data.clear();
    eof = true;
  }
  const char* last = static_cast<const char*>(memrchr(data.data(), '\n', data.size()));
  size_t end = last ? static_cast<size_t>(last - data.data()) + 1 : 0;
  carry_.assign(data, end, std::string::npos);
  data.resize(end);
  SplitAndPrepare(b.get(), number_ + 1, workers_);
  number_ += b->lines.size();
  if (eof) {
    b->file_end = true;
    b->tail = std::move(carry_);
    b->tail_line = number_ + 1;
    carry_.clear();
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
    ++index_;
  }
  return b;
}

}  // namespace hopgate::audit
