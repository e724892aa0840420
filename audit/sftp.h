// SFTP v3 (draft-ietf-secsh-filexfer-02, what OpenSSH speaks) on an "sftp"
// subsystem channel: a gate for the client's requests and an observer of the
// server's replies, reporting file operations for the audit log.
//
// Client -> server is a gate: the caller forwards to the target only the
// bytes FromClient hands back, and each of those is a complete packet that
// parsed completely (no trailing bytes, a known type or extension, a request
// id not already outstanding) and whose operation is therefore audited. What
// cannot be accounted for is never forwarded; the caller closes the channel.
// Server -> client is only observed (the target is not the adversary here),
// but what cannot be parsed still fails the observer.
//
// Every packet goes through WireReader; state (outstanding requests, open
// handles) is capped. Owns its buffers; not thread-safe (one per channel).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "common/wire.h"

namespace hopgate::audit {

namespace sftp_internal {
struct ClientRequest;
}

struct SftpOp {
  std::string op;        // "open", "close", "rename" (also posix-rename), "remove",
                         // "mkdir", "rmdir", "setstat" (also fsetstat, lsetstat),
                         // "symlink", "hardlink", "copy-data"; nothing else is reported
  std::string path;      // open/close: the file; symlink/hardlink: the new link;
                         // copy-data: the file read from
  std::string new_path;  // rename: the new name; symlink: the link's target;
                         // hardlink: the existing file; copy-data: the file written
                         // to (copy-data's paths are empty for a handle that is not
                         // a file the observer saw opened; the server fails those)
  std::string mode;      // open/close: "read", "write", "read+write" (or "none")
                         // plus ",create", ",truncate", ",append", ",excl"
  // close: totals through the handle by READ and WRITE (copy-data is reported
  // on its own, not added here). copy-data: bytes_written is the requested
  // read-length, 0 meaning "until end of file" (the reply does not say how
  // many bytes were copied).
  uint64_t bytes_read = 0, bytes_written = 0;
  std::string status;    // "ok" or the server's error ("no such file", ...)
};

class SftpObserver {
 public:
  // Raw client->server channel bytes in stream order, split anywhere. Appends
  // to `*forward` (not null, not aliasing `bytes`) the exact bytes, 4-byte
  // length included, of each complete packet that validated, and buffers an
  // incomplete tail. On the first packet that fails, returns an error naming
  // it: packets before it in the same call were valid and are already in
  // `*forward` (forward them, then close the channel); nothing from the bad
  // packet on is. Every later FromClient returns the same error and appends
  // nothing, but FromServer keeps observing, so the replies to what was
  // forwarded are still reported until the channel closes.
  Status FromClient(std::string_view bytes, std::string* forward);
  // Raw server->client bytes, split anywhere. An error (malformed reply,
  // an SFTP version above 3, too much state) is returned by every later call
  // of either direction: what follows could not be audited.
  Status FromServer(std::string_view bytes);
  // Operations completed (answered by the server) since the last call, in
  // the order their replies arrived.
  std::vector<SftpOp> TakeOps();
  // Reported operations that were forwarded but never answered (the channel
  // is closing), with status "no reply (channel closed first)": the target
  // may have carried them out, so they are audited too. Clears them.
  std::vector<SftpOp> TakeUnanswered();
  // The incomplete client packet held back (at most 4 + kMaxPacket bytes),
  // so the caller can bound how much it reads ahead of forwarding.
  size_t buffered_client_bytes() const { return client_.buffer.size(); }

  static constexpr uint32_t kMaxPacket = 256 * 1024;  // OpenSSH's limit
  static constexpr size_t kMaxPending = 10000;        // outstanding requests
  static constexpr size_t kMaxHandles = 10000;        // open file handles

 private:
  struct HandleInfo {
    std::string path, mode;
    uint64_t bytes_read = 0, bytes_written = 0;
  };
  // A request whose reply is reported or counted. Reads and closes share the
  // handle's counters, so data answered after a CLOSE was sent still counts.
  struct Pending {
    uint8_t type = 0;
    SftpOp op;
    std::shared_ptr<HandleInfo> handle;
  };
  struct Direction {
    std::string buffer;  // an incomplete packet (at most 4 + kMaxPacket bytes)
    bool started = false;  // INIT (client) or VERSION (server) seen
  };

  Status Feed(Direction* d, std::string_view bytes, bool from_client, std::string* forward);
  bool ClientPacket(uint8_t type, WireReader* r);
  bool Admit(const sftp_internal::ClientRequest& q, WireReader* r);
  bool ServerPacket(uint8_t type, WireReader* r);
  std::shared_ptr<HandleInfo> FindHandle(std::string_view handle);

  Direction client_, server_;
  std::set<uint32_t> outstanding_;       // every request id not yet answered
  std::map<uint32_t, Pending> pending_;  // those of them reported or counted
  std::map<std::string, std::shared_ptr<HandleInfo>, std::less<>> handles_;
  std::vector<SftpOp> done_;
  size_t state_bytes_ = 0;  // paths held in pending_ and handles_, capped
  Status gate_error_;  // a client packet was refused: nothing more is forwarded
  Status error_;       // the observer is dead: both directions fail
};

}  // namespace hopgate::audit
