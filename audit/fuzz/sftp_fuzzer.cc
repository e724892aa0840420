// Fuzz target: the passive SFTP observer. The input is split into client and
// server pieces by records (see sftp_testing.h FuzzInput): a direction byte
// (even: client, odd: server), a uint16 length, that many bytes. Checks the
// fail-closed contract: once a call fails, every later call fails the same.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "audit/sftp.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  hopgate::audit::SftpObserver obs;
  hopgate::Status first;
  while (in.size() >= 3) {
    bool from_server = in[0] & 1;
    size_t len = (size_t{static_cast<uint8_t>(in[1])} << 8) | static_cast<uint8_t>(in[2]);
    in.remove_prefix(3);
    std::string_view piece = in.substr(0, len);
    in.remove_prefix(piece.size());
    hopgate::Status s = from_server ? obs.FromServer(piece) : obs.FromClient(piece);
    if (!first.ok() && s.message() != first.message()) abort();
    if (first.ok() && !s.ok()) first = s;
    for (const auto& op : obs.TakeOps()) {
      if (op.op.empty() || op.status.empty()) abort();
    }
  }
  return 0;
}
