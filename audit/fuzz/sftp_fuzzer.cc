// Fuzz target: the SFTP gate and observer. The input is split into client and
// server pieces by records (see sftp_testing.h FuzzInput): a direction byte
// (even: client, odd: server), a uint16 length, that many bytes. Checks the
// gate's contract: what FromClient forwards is always whole packets and, in
// total, a prefix of the client bytes (all of them but the buffered tail
// while nothing was refused); once a direction fails it keeps failing with
// the same error, and a failed FromClient forwards nothing.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "audit/sftp.h"

namespace {

using hopgate::audit::SftpObserver;

void Check(bool ok) {
  if (!ok) abort();
}

// Each forwarded chunk is a sequence of packets whose 4-byte lengths cover
// them exactly: the target can never be handed half a packet.
void CheckWholePackets(std::string_view out) {
  while (!out.empty()) {
    Check(out.size() >= 4);
    uint32_t len = 0;
    for (int i = 0; i < 4; ++i) len = (len << 8) | static_cast<uint8_t>(out[i]);
    Check(len >= 1 && len <= SftpObserver::kMaxPacket && out.size() - 4 >= len);
    out.remove_prefix(4 + len);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  SftpObserver obs;
  std::string client_in, forwarded;  // over the whole input
  std::string client_error, server_error;  // the first each direction returned
  while (in.size() >= 3) {
    bool from_server = in[0] & 1;
    size_t len = (size_t{static_cast<uint8_t>(in[1])} << 8) | static_cast<uint8_t>(in[2]);
    in.remove_prefix(3);
    std::string_view piece = in.substr(0, len);
    in.remove_prefix(piece.size());
    if (from_server) {
      hopgate::Status s = obs.FromServer(piece);
      if (!server_error.empty()) Check(s.message() == server_error);
      if (!s.ok() && server_error.empty()) server_error = s.message();
    } else {
      std::string out;
      hopgate::Status s = obs.FromClient(piece, &out);
      const std::string& dead = !client_error.empty() ? client_error : server_error;
      if (!dead.empty()) Check(!s.ok() && s.message() == dead && out.empty());
      if (!s.ok() && client_error.empty()) client_error = s.message();
      CheckWholePackets(out);
      client_in.append(piece);
      forwarded += out;
      Check(client_in.compare(0, forwarded.size(), forwarded) == 0);
      if (client_error.empty()) {
        Check(forwarded.size() + obs.buffered_client_bytes() == client_in.size());
      }
    }
    for (const auto& op : obs.TakeOps()) Check(!op.op.empty() && !op.status.empty());
  }
  return 0;
}
