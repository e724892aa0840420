#include "common/wire.h"

namespace hopgate {

bool WireReader::Fail(std::string reason) {
  if (!failed_) {
    failed_ = true;
    error_ = std::move(reason);
  }
  return false;
}

bool WireReader::Need(size_t n, const char* what) {
  if (failed_) return false;
  if (data_.size() - pos_ < n) {
    return Fail(std::string("truncated ") + what + " at offset " +
                std::to_string(pos_));
  }
  return true;
}

bool WireReader::ReadU8(uint8_t* out) {
  if (!Need(1, "byte")) return false;
  *out = static_cast<uint8_t>(data_[pos_]);
  pos_ += 1;
  return true;
}

bool WireReader::ReadBool(bool* out) {
  uint8_t v;
  if (!ReadU8(&v)) return false;
  *out = v != 0;
  return true;
}

bool WireReader::ReadU32(uint32_t* out) {
  if (!Need(4, "uint32")) return false;
  const auto* p = reinterpret_cast<const uint8_t*>(data_.data() + pos_);
  *out = (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) |
         (uint32_t{p[2]} << 8) | uint32_t{p[3]};
  pos_ += 4;
  return true;
}

bool WireReader::ReadU64(uint64_t* out) {
  if (!Need(8, "uint64")) return false;
  const auto* p = reinterpret_cast<const uint8_t*>(data_.data() + pos_);
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | p[i];
  *out = v;
  pos_ += 8;
  return true;
}

bool WireReader::ReadString(std::string_view* out, uint32_t max_len) {
  if (failed_) return false;
  size_t start = pos_;
  uint32_t len;
  if (!ReadU32(&len)) return false;
  if (len > max_len) {
    pos_ = start;
    return Fail("string of " + std::to_string(len) + " bytes at offset " +
                std::to_string(start) + " exceeds limit of " +
                std::to_string(max_len));
  }
  if (data_.size() - pos_ < len) {
    pos_ = start;
    return Fail("truncated string at offset " + std::to_string(start));
  }
  *out = data_.substr(pos_, len);
  pos_ += len;
  return true;
}

bool WireReader::ReadString(std::string* out, uint32_t max_len) {
  std::string_view v;
  if (!ReadString(&v, max_len)) return false;
  out->assign(v);
  return true;
}

bool WireReader::ReadMpint(std::string_view* magnitude, uint32_t max_len) {
  size_t start = pos_;
  std::string_view v;
  if (!ReadString(&v, max_len)) return false;
  if (!v.empty()) {
    auto b0 = static_cast<uint8_t>(v[0]);
    if (b0 & 0x80) {
      pos_ = start;
      return Fail("negative mpint at offset " + std::to_string(start));
    }
    if (b0 == 0) {
      if (v.size() == 1 || !(static_cast<uint8_t>(v[1]) & 0x80)) {
        pos_ = start;
        return Fail("non-minimal mpint at offset " + std::to_string(start));
      }
      v.remove_prefix(1);
    }
  }
  *magnitude = v;
  return true;
}

bool WireReader::ReadBytes(size_t n, std::string_view* out) {
  if (!Need(n, "bytes")) return false;
  *out = data_.substr(pos_, n);
  pos_ += n;
  return true;
}

bool WireReader::ReadSubReader(WireReader* out, uint32_t max_len) {
  std::string_view v;
  if (!ReadString(&v, max_len)) return false;
  *out = WireReader(v);
  return true;
}

bool WireReader::ExpectEnd() {
  if (failed_) return false;
  if (pos_ != data_.size()) {
    return Fail(std::to_string(data_.size() - pos_) +
                " unexpected trailing bytes at offset " + std::to_string(pos_));
  }
  return true;
}

void WireWriter::PutU8(uint8_t v) { out_.push_back(static_cast<char>(v)); }

void WireWriter::PutU32(uint32_t v) {
  char b[4] = {static_cast<char>(v >> 24), static_cast<char>(v >> 16),
               static_cast<char>(v >> 8), static_cast<char>(v)};
  out_.append(b, 4);
}

void WireWriter::PutU64(uint64_t v) {
  PutU32(static_cast<uint32_t>(v >> 32));
  PutU32(static_cast<uint32_t>(v));
}

void WireWriter::PutString(std::string_view s) {
  PutU32(static_cast<uint32_t>(s.size()));
  out_.append(s);
}

void WireWriter::PutMpint(std::string_view magnitude) {
  while (!magnitude.empty() && magnitude[0] == 0) magnitude.remove_prefix(1);
  bool pad = !magnitude.empty() && (static_cast<uint8_t>(magnitude[0]) & 0x80);
  PutU32(static_cast<uint32_t>(magnitude.size() + (pad ? 1 : 0)));
  if (pad) out_.push_back('\0');
  out_.append(magnitude);
}

}  // namespace hopgate
