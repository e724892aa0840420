// Wire formats of SFTP v3 packets for audit/sftp.cc: constants, the ATTRS
// reader, and the strict parser of client requests (every request type and
// OpenSSH 9.2 extension, parsed to the last byte). Pure functions over
// WireReader; no state. Internal to the sftp library.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/wire.h"

namespace hopgate::audit::sftp_internal {

// Packet types, flags and status codes of filexfer-02 (SFTP version 3).
enum : uint8_t {
  kInit = 1, kVersion = 2, kOpen = 3, kClose = 4, kRead = 5, kWrite = 6,
  kLstat = 7, kFstat = 8, kSetstat = 9, kFsetstat = 10, kOpendir = 11,
  kReaddir = 12, kRemove = 13, kMkdir = 14, kRmdir = 15, kRealpath = 16,
  kStat = 17, kRename = 18, kReadlink = 19, kSymlink = 20,
  kStatus = 101, kHandle = 102, kData = 103, kName = 104, kAttrs = 105,
  kExtended = 200, kExtendedReply = 201,
};
inline constexpr uint32_t kFlagRead = 0x01, kFlagWrite = 0x02, kFlagAppend = 0x04,
                          kFlagCreat = 0x08, kFlagTrunc = 0x10, kFlagExcl = 0x20;
inline constexpr uint32_t kAttrSize = 0x1, kAttrUidGid = 0x2, kAttrPermissions = 0x4,
                          kAttrAcModTime = 0x8, kAttrExtended = 0x80000000;
inline constexpr uint32_t kMaxHandleLen = 256;  // filexfer-02 §3

// One client request as parsed, before any state changes. Views borrow the
// packet. Paths are in audit terms (see SftpOp), not wire order.
struct ClientRequest {
  uint8_t type = 0;
  uint32_t id = 0;
  std::string_view extension;       // EXTENDED: its name
  std::string_view op;              // audit name of a path operation or
                                    // copy-data; empty otherwise
  std::string_view path, new_path;  // for `op`
  std::string_view handle;          // a handle argument; copy-data: read-from
  std::string_view write_handle;    // copy-data: write-to
  uint32_t pflags = 0;              // OPEN
  uint64_t length = 0;              // WRITE: data size; copy-data: read length
};

// The body of a request of `type` (the reader is past the type byte): id,
// arguments, and nothing more. Unknown types and extensions fail.
bool ParseClientRequest(uint8_t type, WireReader* r, ClientRequest* q);

// ATTRS: only the fields its flags announce, extended pairs counted and
// bounded by what the packet holds.
bool ReadAttrs(WireReader* r);
// INIT and VERSION end in (name, data) extension pairs.
bool ReadExtensions(WireReader* r);
// Like WireReader::ExpectEnd, with a message that reads well in the audit
// log ("1 trailing byte at offset 10").
bool ExpectPacketEnd(WireReader* r);

// "REMOVE", "EXTENDED \"copy-data\"", "unknown": for error messages. `body`
// starts at the type byte; peer bytes in it are escaped.
std::string PacketLabel(std::string_view body, bool from_client);

std::string OpenMode(uint32_t pflags);
std::string StatusName(uint32_t code);

}  // namespace hopgate::audit::sftp_internal
