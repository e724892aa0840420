#include "common/proxy_protocol.h"

#include <catch2/catch.hpp>

#include <string>

using namespace hopgate;

namespace {

const std::string kSig("\r\n\r\n\0\r\nQUIT\n", 12);
const std::string kSsh = "SSH-2.0-OpenSSH_9.2p1\r\n";

std::string Be16(size_t v) {
  return std::string{static_cast<char>((v >> 8) & 0xff), static_cast<char>(v & 0xff)};
}

// A v2 header: version/command byte, family byte, then `payload`.
std::string V2(uint8_t ver_cmd, uint8_t family, const std::string& payload) {
  return kSig + std::string{static_cast<char>(ver_cmd), static_cast<char>(family)} +
         Be16(payload.size()) + payload;
}

std::string V4Addresses() {
  // 192.0.2.7:51234 -> 10.0.0.1:2222
  return std::string{'\xc0', '\x00', '\x02', '\x07', '\x0a', '\x00', '\x00', '\x01'} +
         Be16(51234) + Be16(2222);
}

std::string V6Addresses() {
  std::string src(16, '\0'), dst(16, '\0');
  src[0] = '\x20'; src[1] = '\x01'; src[2] = '\x0d'; src[3] = '\xb8'; src[15] = '\x05';
  dst[15] = '\x01';
  return src + dst + Be16(40000) + Be16(22);
}

// Feeds `data` one WantBytes() piece at a time, as the daemon reads it
// from a socket, and checks no piece reaches past the header.
ProxyHeaderReader FeedInPieces(const std::string& data, size_t* read) {
  ProxyHeaderReader r;
  size_t at = 0;
  while (r.state() == ProxyHeaderReader::State::kNeedMore && at < data.size()) {
    size_t want = r.WantBytes();
    REQUIRE(want >= 1);
    size_t n = std::min(want, data.size() - at);
    REQUIRE(r.Feed(data.substr(at, n)) == n);
    at += n;
  }
  *read = at;
  return r;
}

std::string ErrorOf(const std::string& data) {
  auto r = ParseProxyHeader(data);
  REQUIRE(r.state() == ProxyHeaderReader::State::kError);
  return r.error();
}

}  // namespace

TEST_CASE("PROXY v1 TCP4 and TCP6 give the client's address and leave the SSH stream") {
  std::string h4 = "PROXY TCP4 192.0.2.7 10.0.0.1 51234 2222\r\n";
  size_t read = 0;
  auto r = FeedInPieces(h4 + kSsh, &read);
  REQUIRE(r.state() == ProxyHeaderReader::State::kDone);
  CHECK(read == h4.size());  // not one byte of the SSH banner
  CHECK(r.header().version == 1);
  CHECK_FALSE(r.header().local);
  CHECK(r.header().source.ToString() == "192.0.2.7");
  CHECK(r.header().source_port == 51234);
  CHECK(r.header().destination.ToString() == "10.0.0.1");
  CHECK(r.header().destination_port == 2222);
  CHECK(r.header().length == h4.size());

  std::string h6 = "PROXY TCP6 2001:db8::5 ::1 40000 22\r\n";
  auto r6 = ParseProxyHeader(h6 + kSsh);
  REQUIRE(r6.state() == ProxyHeaderReader::State::kDone);
  CHECK(r6.size() == h6.size());
  CHECK(r6.header().source.v6);
  CHECK(r6.header().source.ToString() == "2001:db8::5");
  CHECK(r6.header().source_port == 40000);
}

TEST_CASE("PROXY v1 UNKNOWN is the balancer's own connection") {
  for (std::string h : {"PROXY UNKNOWN\r\n", "PROXY UNKNOWN ffff:f...f:ffff ffff:f...f:ffff 65535 65535\r\n"}) {
    size_t read = 0;
    auto r = FeedInPieces(h + kSsh, &read);
    REQUIRE(r.state() == ProxyHeaderReader::State::kDone);
    CHECK(read == h.size());
    CHECK(r.header().local);
  }
}

TEST_CASE("PROXY v1 headers that are malformed are refused with a reason") {
  CHECK(ErrorOf("SSH-2.0-OpenSSH_9.2\r\n") == "no PROXY protocol header (the client spoke SSH)");
  CHECK(ErrorOf("GET / HTTP/1.1\r\n") == "not a PROXY protocol header");
  CHECK(ErrorOf("PROXY TCP5 1.2.3.4 1.2.3.4 1 2\r\n").find("unknown protocol") != std::string::npos);
  CHECK(ErrorOf("PROXY TCP4 1.2.3.4 1.2.3.4 1\r\n").find("expected 4 fields") != std::string::npos);
  CHECK(ErrorOf("PROXY TCP4 1.2.3.4  1.2.3.4 1 2\r\n").find("expected 4 fields") != std::string::npos);
  CHECK(ErrorOf("PROXY TCP4 ::1 1.2.3.4 1 2\r\n") == "v1 header: bad IPv4 address");
  CHECK(ErrorOf("PROXY TCP6 1.2.3.4 ::1 1 2\r\n") == "v1 header: bad IPv6 address");
  CHECK(ErrorOf("PROXY TCP4 1.2.3.400 1.2.3.4 1 2\r\n") == "v1 header: bad IPv4 address");
  CHECK(ErrorOf("PROXY TCP4 1.2.3.4 1.2.3.4 65536 2\r\n") == "v1 header: bad port");
  CHECK(ErrorOf("PROXY TCP4 1.2.3.4 1.2.3.4 022 2\r\n") == "v1 header: bad port");
  CHECK(ErrorOf("PROXY TCP4 1.2.3.4 1.2.3.4 -1 2\r\n") == "v1 header: bad port");
  CHECK(ErrorOf("PROXY TCP4 1.2.3.4 1.2.3.4 1 2\n") == "v1 header: LF without CR");
  CHECK(ErrorOf("PROXY TCP4 1.2.3.4\r1.2.3.4 1 2\r\n") == "v1 header: CR without LF");
  CHECK(ErrorOf("PROXY \r\nSSH-2.0-x\r\n") == "v1 header: too short");
  CHECK(ErrorOf("PROXY TCP4 1.2.3.4 1.2.3.4 1 2\x01\r\n").find("control") != std::string::npos);
  // Oversized: no CRLF within 107 bytes; the reader stops there.
  std::string longline = "PROXY UNKNOWN " + std::string(200, 'x') + "\r\n";
  auto r = ParseProxyHeader(longline);
  REQUIRE(r.state() == ProxyHeaderReader::State::kError);
  CHECK(r.error() == "v1 header longer than 107 bytes");
  CHECK(r.size() == kProxyV1MaxLength);
  // The longest acceptable line is exactly 107 bytes.
  std::string max = "PROXY UNKNOWN " + std::string(107 - 16, 'x') + "\r\n";
  REQUIRE(max.size() == 107);
  CHECK(ParseProxyHeader(max).state() == ProxyHeaderReader::State::kDone);
}

TEST_CASE("PROXY v1 truncated headers need more bytes, and never more than the line") {
  std::string h = "PROXY TCP4 192.0.2.7 10.0.0.1 51234 2222\r\n";
  for (size_t cut = 0; cut < h.size(); ++cut) {
    size_t read = 0;
    auto r = FeedInPieces(h.substr(0, cut), &read);
    CHECK(r.state() == ProxyHeaderReader::State::kNeedMore);
    CHECK(r.WantBytes() <= h.size() - cut);  // never past the header's end
  }
}

TEST_CASE("PROXY v2 TCP over IPv4 and IPv6, with TLVs skipped") {
  std::string tlvs = std::string{'\x01'} + Be16(2) + "h2" +  // ALPN
                     std::string{'\x04'} + Be16(3) + std::string(3, '\0');  // NOOP padding
  std::string h = V2(0x21, 0x11, V4Addresses() + tlvs);
  size_t read = 0;
  auto r = FeedInPieces(h + kSsh, &read);
  REQUIRE(r.state() == ProxyHeaderReader::State::kDone);
  CHECK(read == h.size());
  CHECK(r.header().version == 2);
  CHECK_FALSE(r.header().local);
  CHECK(r.header().source.ToString() == "192.0.2.7");
  CHECK(r.header().source_port == 51234);
  CHECK(r.header().destination.ToString() == "10.0.0.1");
  CHECK(r.header().destination_port == 2222);

  std::string h6 = V2(0x21, 0x21, V6Addresses());
  auto r6 = ParseProxyHeader(h6 + kSsh);
  REQUIRE(r6.state() == ProxyHeaderReader::State::kDone);
  CHECK(r6.size() == h6.size());
  CHECK(r6.header().source.ToString() == "2001:db8::5");
  CHECK(r6.header().source_port == 40000);
  CHECK(r6.header().destination_port == 22);
}

TEST_CASE("PROXY v2 LOCAL is the balancer's own connection, whatever the family") {
  for (uint8_t family : {0x00, 0x11, 0x31}) {
    std::string h = V2(0x20, family, family == 0x11 ? V4Addresses() : "");
    auto r = ParseProxyHeader(h + kSsh);
    REQUIRE(r.state() == ProxyHeaderReader::State::kDone);
    CHECK(r.header().local);
    CHECK(r.size() == h.size());
  }
}

TEST_CASE("PROXY v2 headers that are malformed are refused with a reason") {
  std::string bad_sig = V2(0x21, 0x11, V4Addresses());
  bad_sig[7] = 'X';
  CHECK(ErrorOf(bad_sig) == "bad v2 signature");
  CHECK(ErrorOf(V2(0x11, 0x11, V4Addresses())) == "v2 header: version 1");
  CHECK(ErrorOf(V2(0x22, 0x11, V4Addresses())) == "v2 header: unknown command 2");
  CHECK(ErrorOf(V2(0x21, 0x00, "")).find("unsupported address family 0") != std::string::npos);
  CHECK(ErrorOf(V2(0x21, 0x31, std::string(216, 'a'))).find("family 3") != std::string::npos);
  CHECK(ErrorOf(V2(0x21, 0x12, V4Addresses())).find("not a stream") != std::string::npos);
  // Bad lengths: fewer bytes than the addresses need; a TLV past the end.
  CHECK(ErrorOf(V2(0x21, 0x11, V4Addresses().substr(0, 8))) ==
        "v2 header: 8 bytes of addresses, 12 needed");
  CHECK(ErrorOf(V2(0x21, 0x21, V4Addresses())) == "v2 header: 12 bytes of addresses, 36 needed");
  CHECK(ErrorOf(V2(0x21, 0x11, V4Addresses() + std::string{'\x01'} + Be16(9) + "ab")) ==
        "v2 header: TLV runs past the header");
  CHECK(ErrorOf(V2(0x21, 0x11, V4Addresses() + std::string{'\x01', '\x00'})) ==
        "v2 header: truncated TLV");
  // Oversized: refused from the 16-byte preamble, before any payload is read.
  std::string big = kSig + std::string{'\x21', '\x11'} + Be16(0xffff);
  auto r = ParseProxyHeader(big + std::string(100, 'z'));
  REQUIRE(r.state() == ProxyHeaderReader::State::kError);
  CHECK(r.error() == "v2 header of 65551 bytes (at most 2064)");
  CHECK(r.size() == 16);
}

TEST_CASE("PROXY v2 truncated headers need more bytes, and never more than the header") {
  std::string h = V2(0x21, 0x11, V4Addresses() + std::string{'\x04'} + Be16(1) + "x");
  for (size_t cut = 0; cut < h.size(); ++cut) {
    size_t read = 0;
    auto r = FeedInPieces(h.substr(0, cut), &read);
    CHECK(r.state() == ProxyHeaderReader::State::kNeedMore);
    CHECK(r.WantBytes() <= h.size() - cut);
    CHECK(r.WantBytes() >= 1);
  }
  // Fed whole with SSH after it: stops at the header.
  auto r = ParseProxyHeader(h + kSsh);
  REQUIRE(r.state() == ProxyHeaderReader::State::kDone);
  CHECK(r.size() == h.size());
}
