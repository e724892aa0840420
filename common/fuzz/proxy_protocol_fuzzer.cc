// Fuzz target: PROXY protocol v1/v2 headers (common/proxy_protocol.h), the
// first bytes a balancer-facing listener reads from the network. Properties:
// the reader never takes a byte past the header (fed whole or in the pieces
// WantBytes() allows, as the daemon reads a socket, with the same outcome);
// a header is within its version's bound; a parsed v1 address header
// written back parses to the same addresses.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "common/proxy_protocol.h"

namespace {

using namespace hopgate;

void Check(bool ok) {
  if (!ok) abort();
}

bool SameOutcome(const ProxyHeaderReader& a, const ProxyHeaderReader& b) {
  // An error may show sooner in smaller pieces; its reason is the same.
  if (a.state() != b.state() || a.error() != b.error()) return false;
  if (a.state() == ProxyHeaderReader::State::kError) return true;
  if (a.size() != b.size()) return false;
  if (a.state() != ProxyHeaderReader::State::kDone) return true;
  const ProxyHeader &x = a.header(), &y = b.header();
  return x.version == y.version && x.local == y.local && x.length == y.length &&
         (x.local || (x.source == y.source && x.source_port == y.source_port &&
                      x.destination == y.destination && x.destination_port == y.destination_port));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 16 * 1024) return 0;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  ProxyHeaderReader whole = ParseProxyHeader(in);
  Check(whole.size() <= in.size());
  Check((whole.WantBytes() == 0) == (whole.state() != ProxyHeaderReader::State::kNeedMore));
  if (whole.state() == ProxyHeaderReader::State::kNeedMore) Check(whole.size() == in.size());
  if (whole.state() == ProxyHeaderReader::State::kError) Check(!whole.error().empty());

  ProxyHeaderReader pieces;
  size_t at = 0;
  while (pieces.state() == ProxyHeaderReader::State::kNeedMore && at < in.size()) {
    size_t want = pieces.WantBytes();
    Check(want >= 1);
    // Odd bytes of the input pick smaller pieces, to vary the split.
    size_t n = std::min(want, in.size() - at);
    if (n > 1 && (static_cast<uint8_t>(in[at]) & 1)) n = 1 + static_cast<uint8_t>(in[at]) % n;
    Check(pieces.Feed(in.substr(at, n)) == n);
    at += n;
  }
  Check(SameOutcome(whole, pieces));

  if (whole.state() != ProxyHeaderReader::State::kDone) return 0;
  const ProxyHeader& h = whole.header();
  Check(h.length == whole.size());
  if (h.version == 1) {
    Check(h.length <= kProxyV1MaxLength);
    if (!h.local) {
      std::string line = std::string("PROXY ") + (h.source.v6 ? "TCP6 " : "TCP4 ") +
                         h.source.ToString() + " " + h.destination.ToString() + " " +
                         std::to_string(h.source_port) + " " +
                         std::to_string(h.destination_port) + "\r\n";
      ProxyHeaderReader again = ParseProxyHeader(line);
      Check(again.state() == ProxyHeaderReader::State::kDone);
      Check(again.header().source == h.source && again.header().source_port == h.source_port &&
            again.header().destination == h.destination &&
            again.header().destination_port == h.destination_port);
    }
  } else {
    Check(h.version == 2 && h.length >= 16 && h.length <= 16 + kProxyV2MaxPayload);
  }
  return 0;
}
