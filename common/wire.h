// Bounds-checked reader and writer for SSH wire encoding (RFC 4251 §5).
// Every parser of untrusted bytes (certificates, KRLs, SFTP, recordings) reads
// through WireReader: each read either succeeds completely or leaves the
// reader failed with a reason, and nothing is read past the end. The reader
// borrows its bytes; the caller keeps them alive. Not thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/result.h"

namespace hopgate {

class WireReader {
 public:
  explicit WireReader(std::string_view data) : data_(data) {}

  // Each Read* returns false (and records why) on short input or after an
  // earlier failure; outputs are untouched on failure.
  bool ReadU8(uint8_t* out);
  bool ReadBool(bool* out);
  bool ReadU32(uint32_t* out);
  bool ReadU64(uint64_t* out);
  // A uint32 length followed by that many bytes. `max_len` caps the length.
  bool ReadString(std::string_view* out, uint32_t max_len = kMaxString);
  bool ReadString(std::string* out, uint32_t max_len = kMaxString);
  // An mpint as stored: sign-and-magnitude, big-endian. Rejects negative
  // values and non-minimal encodings, as OpenSSH's sshbuf_get_bignum2 does.
  bool ReadMpint(std::string_view* magnitude, uint32_t max_len = 2048);
  // Raw bytes without a length prefix.
  bool ReadBytes(size_t n, std::string_view* out);
  // A length-prefixed string, returned as a reader over its contents.
  bool ReadSubReader(WireReader* out, uint32_t max_len = kMaxString);

  // Fails the reader unless everything was consumed.
  bool ExpectEnd();
  // Marks the reader failed with `reason` (first reason wins) and returns false.
  bool Fail(std::string reason);

  bool failed() const { return failed_; }
  bool empty() const { return pos_ == data_.size(); }
  size_t remaining() const { return data_.size() - pos_; }
  size_t position() const { return pos_; }
  std::string_view rest() const { return data_.substr(pos_); }
  const std::string& error() const { return error_; }

  static constexpr uint32_t kMaxString = 16 * 1024 * 1024;

 private:
  bool Need(size_t n, const char* what);

  std::string_view data_;
  size_t pos_ = 0;
  bool failed_ = false;
  std::string error_;
};

class WireWriter {
 public:
  void PutU8(uint8_t v);
  void PutBool(bool v) { PutU8(v ? 1 : 0); }
  void PutU32(uint32_t v);
  void PutU64(uint64_t v);
  void PutString(std::string_view s);
  // `magnitude` is an unsigned big-endian integer; leading zeros are stripped
  // and a 0x00 is prepended when the top bit is set.
  void PutMpint(std::string_view magnitude);
  void PutRaw(std::string_view s) { out_.append(s); }

  const std::string& data() const { return out_; }
  std::string Take() { return std::move(out_); }

 private:
  std::string out_;
};

}  // namespace hopgate
