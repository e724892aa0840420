// Passive observer of an SFTP v3 session (draft-ietf-secsh-filexfer-02, what
// OpenSSH speaks): it reads copies of both byte streams of an "sftp"
// subsystem channel and reports file operations for the audit log. It never
// alters or answers the traffic. Every packet goes through WireReader; state
// (outstanding requests, open handles) is capped, and a malformed stream
// kills the observer so the caller can end the channel (fail closed).
// Owns its buffers; not thread-safe (one observer per channel).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "common/wire.h"

namespace hopgate::audit {

struct SftpOp {
  std::string op;        // "open", "close", "rename", "remove", "mkdir", "rmdir",
                         // "setstat", "symlink" (others are not reported)
  std::string path;      // for open/close: the file's path; symlink: the link
  std::string new_path;  // rename: the new name; symlink: the link's target
  std::string mode;      // open/close: "read", "write", "read+write" (or "none")
                         // plus ",create", ",truncate", ",append", ",excl"
  uint64_t bytes_read = 0, bytes_written = 0;  // close: totals through the handle
  std::string status;    // "ok" or the server's error ("no such file", ...)
};

class SftpObserver {
 public:
  // Raw channel bytes in stream order, split anywhere. An error (oversized
  // or truncated packet, trailing bytes in a packet, protocol misuse such as
  // a reused request id, too much state) is returned by every later call.
  Status FromClient(std::string_view bytes);
  Status FromServer(std::string_view bytes);
  // Operations completed (answered by the server) since the last call, in
  // the order their replies arrived.
  std::vector<SftpOp> TakeOps();

  static constexpr uint32_t kMaxPacket = 256 * 1024;  // OpenSSH's limit
  static constexpr size_t kMaxPending = 10000;        // outstanding requests
  static constexpr size_t kMaxHandles = 10000;        // open file handles

 private:
  struct HandleInfo {
    std::string path, mode;
    uint64_t bytes_read = 0, bytes_written = 0;
  };
  // A request whose reply matters. Reads and closes share the handle's
  // counters, so data answered after a CLOSE was sent still counts.
  struct Pending {
    uint8_t type = 0;
    SftpOp op;
    std::shared_ptr<HandleInfo> handle;
  };
  struct Direction {
    std::string buffer;  // an incomplete packet (at most 4 + kMaxPacket bytes)
    bool started = false;  // INIT (client) or VERSION (server) seen
  };

  Status Feed(Direction* d, std::string_view bytes, bool from_client);
  bool Packet(std::string_view packet, bool from_client, WireReader* r);
  bool ClientPacket(uint8_t type, WireReader* r);
  bool ServerPacket(uint8_t type, WireReader* r);
  bool Track(uint32_t id, Pending p, WireReader* r);
  std::shared_ptr<HandleInfo> FindHandle(std::string_view handle);

  Direction client_, server_;
  std::map<uint32_t, Pending> pending_;
  std::map<std::string, std::shared_ptr<HandleInfo>, std::less<>> handles_;
  std::vector<SftpOp> done_;
  size_t state_bytes_ = 0;  // paths held in pending_ and handles_, capped
  Status error_;
};

}  // namespace hopgate::audit
