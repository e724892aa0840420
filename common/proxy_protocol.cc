#include "common/proxy_protocol.h"

#include <algorithm>
#include <cstring>
#include <vector>

namespace hopgate {
namespace {

constexpr std::string_view kV1Prefix = "PROXY ";
constexpr char kV2SignatureBytes[] = "\r\n\r\n\0\r\nQUIT\n";
constexpr std::string_view kV2Signature(kV2SignatureBytes, 12);
constexpr size_t kV2Preamble = 16;     // signature, version/command, family, length
constexpr size_t kV1MinLength = 15;    // "PROXY UNKNOWN\r\n"
constexpr size_t kV2AddressesV4 = 12;  // two IPv4 addresses and two ports
constexpr size_t kV2AddressesV6 = 36;

bool IsPrefixOf(std::string_view have, std::string_view of) {
  return of.substr(0, std::min(have.size(), of.size())) == have.substr(0, of.size());
}

uint16_t BigEndian16(const std::string& b, size_t at) {
  return static_cast<uint16_t>((static_cast<uint8_t>(b[at]) << 8) | static_cast<uint8_t>(b[at + 1]));
}

std::vector<std::string_view> SplitSpaces(std::string_view line) {
  std::vector<std::string_view> out;
  while (true) {
    size_t sp = line.find(' ');
    out.push_back(line.substr(0, sp));
    if (sp == std::string_view::npos) break;
    line.remove_prefix(sp + 1);
  }
  return out;
}

// A v1 port: decimal 0..65535 without leading zeros.
bool ParseV1Port(std::string_view s, uint16_t* out) {
  if (s.empty() || s.size() > 5 || (s.size() > 1 && s[0] == '0')) return false;
  uint32_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<uint32_t>(c - '0');
  }
  if (v > 65535) return false;
  *out = static_cast<uint16_t>(v);
  return true;
}

}  // namespace

size_t ProxyHeaderReader::WantBytes() const {
  if (state_ != State::kNeedMore) return 0;
  size_t n = buffer_.size();
  bool v2 = n > 0 && buffer_[0] == '\r';
  if (v2) {
    if (n < kV2Preamble) return kV2Preamble - n;
    return kV2Preamble + BigEndian16(buffer_, 14) - n;
  }
  if (n < kV1MinLength) return kV1MinLength - n;
  // A v1 line ends at CRLF: without a CR last, two more bytes at least.
  size_t want = buffer_.back() == '\r' ? 1 : 2;
  return std::min(want, kProxyV1MaxLength - n);
}

size_t ProxyHeaderReader::Feed(std::string_view data) {
  size_t taken = 0;
  while (state_ == State::kNeedMore && taken < data.size()) {
    size_t n = std::min(WantBytes(), data.size() - taken);
    buffer_.append(data.substr(taken, n));
    taken += n;
    Check();
  }
  return taken;
}

void ProxyHeaderReader::Fail(std::string why) {
  state_ = State::kError;
  error_ = std::move(why);
}

void ProxyHeaderReader::Check() {
  std::string_view b = buffer_;
  if (b.empty()) return;
  if (b[0] == '\r') {
    if (!IsPrefixOf(b, kV2Signature)) return Fail("bad v2 signature");
    if (b.size() < kV2Preamble) return;
    size_t payload = BigEndian16(buffer_, 14);
    if (payload > kProxyV2MaxPayload) {
      return Fail("v2 header of " + std::to_string(kV2Preamble + payload) +
                  " bytes (at most " + std::to_string(kV2Preamble + kProxyV2MaxPayload) + ")");
    }
    if (b.size() == kV2Preamble + payload) ParseV2();
    return;
  }
  // Each reason below depends only on the bytes up to where the header
  // went wrong, never on how they were split into reads.
  if (!IsPrefixOf(b, kV1Prefix)) {
    // Decided on the first byte alone: a later one may not have arrived.
    if (b[0] == 'S') return Fail("no PROXY protocol header (the client spoke SSH)");
    return Fail("not a PROXY protocol header");
  }
  for (size_t i = 0; i < b.size(); ++i) {
    if (b[i] == '\n' && (i == 0 || b[i - 1] != '\r')) return Fail("v1 header: LF without CR");
    // A line ending within the shortest header (more may have been read).
    if (b[i] == '\n' && (i + 1 < b.size() || b.size() < kV1MinLength)) {
      return Fail("v1 header: too short");
    }
    if (b[i] == '\r' && i + 1 < b.size() && b[i + 1] != '\n') {
      return Fail("v1 header: CR without LF");
    }
  }
  if (b.size() >= 2 && b.substr(b.size() - 2) == "\r\n") return ParseV1();
  if (b.size() >= kProxyV1MaxLength) {
    return Fail("v1 header longer than " + std::to_string(kProxyV1MaxLength) + " bytes");
  }
}

void ProxyHeaderReader::ParseV1() {
  std::string_view line(buffer_.data(), buffer_.size() - 2);
  for (char c : line) {
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) > 0x7e) {
      return Fail("v1 header: control or non-ASCII byte");
    }
  }
  auto words = SplitSpaces(line);
  header_ = ProxyHeader{};
  header_.version = 1;
  header_.length = buffer_.size();
  if (words.size() >= 2 && words[1] == "UNKNOWN") {
    // The rest of the line is to be ignored (the specification's words).
    header_.local = true;
    state_ = State::kDone;
    return;
  }
  if (words.size() < 2 || (words[1] != "TCP4" && words[1] != "TCP6")) {
    return Fail("v1 header: unknown protocol (TCP4, TCP6 or UNKNOWN)");
  }
  if (words.size() != 6) return Fail("v1 header: expected 4 fields after " + std::string(words[1]));
  bool v6 = words[1] == "TCP6";
  auto src = IpAddress::Parse(words[2]);
  auto dst = IpAddress::Parse(words[3]);
  if (!src || !dst || src->v6 != v6 || dst->v6 != v6) {
    return Fail(std::string("v1 header: bad ") + (v6 ? "IPv6" : "IPv4") + " address");
  }
  if (!ParseV1Port(words[4], &header_.source_port) ||
      !ParseV1Port(words[5], &header_.destination_port)) {
    return Fail("v1 header: bad port");
  }
  header_.source = *src;
  header_.destination = *dst;
  state_ = State::kDone;
}

void ProxyHeaderReader::ParseV2() {
  const std::string& b = buffer_;
  auto byte = [&](size_t i) { return static_cast<uint8_t>(b[i]); };
  if ((byte(12) >> 4) != 2) return Fail("v2 header: version " + std::to_string(byte(12) >> 4));
  int command = byte(12) & 0x0f;
  if (command > 1) return Fail("v2 header: unknown command " + std::to_string(command));
  header_ = ProxyHeader{};
  header_.version = 2;
  header_.length = b.size();
  if (command == 0) {  // LOCAL: the balancer's own connection; addresses ignored
    header_.local = true;
    state_ = State::kDone;
    return;
  }
  int family = byte(13) >> 4;
  int transport = byte(13) & 0x0f;
  if (family != 1 && family != 2) {
    return Fail("v2 header: unsupported address family " + std::to_string(family) +
                " (TCP over IPv4 or IPv6 only)");
  }
  if (transport != 1) return Fail("v2 header: not a stream (transport " + std::to_string(transport) + ")");
  size_t payload = b.size() - kV2Preamble;
  size_t need = family == 1 ? kV2AddressesV4 : kV2AddressesV6;
  if (payload < need) {
    return Fail("v2 header: " + std::to_string(payload) + " bytes of addresses, " +
                std::to_string(need) + " needed");
  }
  size_t alen = family == 1 ? 4 : 16;
  header_.source.v6 = header_.destination.v6 = family == 2;
  memcpy(header_.source.bytes.data(), b.data() + kV2Preamble, alen);
  memcpy(header_.destination.bytes.data(), b.data() + kV2Preamble + alen, alen);
  header_.source_port = BigEndian16(b, kV2Preamble + 2 * alen);
  header_.destination_port = BigEndian16(b, kV2Preamble + 2 * alen + 2);
  // TLVs (type, 16-bit length, value) are skipped, but must fit exactly.
  for (size_t at = kV2Preamble + need; at < b.size();) {
    if (b.size() - at < 3) return Fail("v2 header: truncated TLV");
    size_t len = BigEndian16(b, at + 1);
    if (b.size() - at - 3 < len) return Fail("v2 header: TLV runs past the header");
    at += 3 + len;
  }
  state_ = State::kDone;
}

ProxyHeaderReader ParseProxyHeader(std::string_view data) {
  ProxyHeaderReader r;
  r.Feed(data);
  return r;
}

}  // namespace hopgate
