// The PROXY protocol header a load balancer (HAProxy, a cloud NLB) sends
// before the client's bytes: version 1 (one text line) and version 2
// (binary), as specified in HAProxy's proxy-protocol.txt. A pure,
// incremental parser: the caller feeds bytes as they arrive and asks how many
// more it may read without taking any byte past the header, so the SSH
// stream that follows stays in the socket. Value type; not thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/net.h"

namespace hopgate {

// The longest v1 line, CRLF included (the specification's bound).
inline constexpr size_t kProxyV1MaxLength = 107;
// The longest v2 header accepted: the 16-byte preamble and its payload
// (addresses and TLVs). Balancers send well under this.
inline constexpr size_t kProxyV2MaxPayload = 2048;

struct ProxyHeader {
  int version = 0;     // 1 or 2
  // No client address: v2 LOCAL (a balancer's own health check) or v1
  // UNKNOWN. The connection's own endpoints apply, as the specification says.
  bool local = false;
  IpAddress source;    // the client, when !local
  uint16_t source_port = 0;
  IpAddress destination;  // the address the client connected to, when !local
  uint16_t destination_port = 0;
  size_t length = 0;   // bytes the header took on the wire
};

class ProxyHeaderReader {
 public:
  enum class State { kNeedMore, kDone, kError };

  // How many bytes may be read next without reading past the header: at
  // least 1 while kNeedMore, 0 otherwise.
  size_t WantBytes() const;
  // Takes bytes from the front of `data` and returns how many it took: never
  // more than the header (so Feed(whole buffer) leaves what follows).
  size_t Feed(std::string_view data);

  State state() const { return state_; }
  // When kDone.
  const ProxyHeader& header() const { return header_; }
  // When kError: a short reason ("bad signature", "v1 header longer than 107
  // bytes", ...).
  const std::string& error() const { return error_; }
  // Bytes taken so far.
  size_t size() const { return buffer_.size(); }

 private:
  void Check();  // after each byte batch: done, error, or still going
  void Fail(std::string why);
  void ParseV1();
  void ParseV2();

  std::string buffer_;
  State state_ = State::kNeedMore;
  ProxyHeader header_;
  std::string error_;
};

// Parses a header at the front of `data` in one go: kDone, kError or (when
// `data` ends before the header does) kNeedMore.
ProxyHeaderReader ParseProxyHeader(std::string_view data);

}  // namespace hopgate
