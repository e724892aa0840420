// Test-only SFTP v3 packet encoder, written from the draft independently of
// sftp.cc, and the input format of the SFTP fuzz target. Header-only, pure.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/wire.h"

namespace hopgate::audit::sftp_testing {

enum : uint8_t {
  kInit = 1, kVersion = 2, kOpen = 3, kClose = 4, kRead = 5, kWrite = 6,
  kLstat = 7, kFstat = 8, kSetstat = 9, kFsetstat = 10, kOpendir = 11,
  kReaddir = 12, kRemove = 13, kMkdir = 14, kRmdir = 15, kRealpath = 16,
  kStat = 17, kRename = 18, kReadlink = 19, kSymlink = 20,
  kStatus = 101, kHandle = 102, kData = 103, kName = 104, kAttrs = 105,
  kExtended = 200, kExtendedReply = 201,
};
// SSH_FXF_* open flags (kRead/kWrite above are packet types; these differ).
inline constexpr uint32_t kFxfRead = 0x01, kFxfWrite = 0x02, kAppend = 0x04,
                          kCreat = 0x08, kTrunc = 0x10, kExcl = 0x20;
inline constexpr uint32_t kAttrSize = 0x1, kAttrUidGid = 0x2, kAttrPermissions = 0x4,
                          kAttrAcModTime = 0x8, kAttrExtended = 0x80000000;

inline std::string U32(uint32_t v) {
  WireWriter w;
  w.PutU32(v);
  return w.Take();
}
inline std::string U64(uint64_t v) {
  WireWriter w;
  w.PutU64(v);
  return w.Take();
}
inline std::string Str(std::string_view s) {
  WireWriter w;
  w.PutString(s);
  return w.Take();
}
// uint32 length, byte type, body.
inline std::string Packet(uint8_t type, std::string_view body) {
  return U32(static_cast<uint32_t>(body.size() + 1)) + static_cast<char>(type) +
         std::string(body);
}
// `packet` with `extra` bytes inside its length, after its last field: what
// OpenSSH's sftp-server skips silently.
inline std::string WithTrailing(const std::string& packet, std::string_view extra) {
  std::string body = packet.substr(4) + std::string(extra);
  return U32(static_cast<uint32_t>(body.size())) + body;
}

inline std::string NoAttrs() { return U32(0); }
// Every ATTRS field, including two extended pairs.
inline std::string FullAttrs() {
  return U32(kAttrSize | kAttrUidGid | kAttrPermissions | kAttrAcModTime | kAttrExtended) +
         U64(1234) + U32(1000) + U32(1000) + U32(0100644) + U32(1700000000) +
         U32(1700000001) + U32(2) + Str("a@x") + Str("1") + Str("b@x") + Str("");
}

inline std::string Init() { return Packet(kInit, U32(3)); }
inline std::string Version() {
  return Packet(kVersion, U32(3) + Str("posix-rename@openssh.com") + Str("1"));
}
inline std::string Open(uint32_t id, std::string_view path, uint32_t pflags,
                        const std::string& attrs = NoAttrs()) {
  return Packet(kOpen, U32(id) + Str(path) + U32(pflags) + attrs);
}
inline std::string Close(uint32_t id, std::string_view handle) {
  return Packet(kClose, U32(id) + Str(handle));
}
inline std::string Read(uint32_t id, std::string_view handle, uint64_t off, uint32_t len) {
  return Packet(kRead, U32(id) + Str(handle) + U64(off) + U32(len));
}
inline std::string Write(uint32_t id, std::string_view handle, uint64_t off,
                         std::string_view data) {
  return Packet(kWrite, U32(id) + Str(handle) + U64(off) + Str(data));
}
inline std::string PathPkt(uint8_t type, uint32_t id, std::string_view path) {
  return Packet(type, U32(id) + Str(path));
}
inline std::string PathAttrs(uint8_t type, uint32_t id, std::string_view path,
                             const std::string& attrs) {
  return Packet(type, U32(id) + Str(path) + attrs);
}
inline std::string HandleAttrs(uint8_t type, uint32_t id, std::string_view handle,
                               const std::string& attrs) {
  return Packet(type, U32(id) + Str(handle) + attrs);
}
inline std::string Rename(uint32_t id, std::string_view from, std::string_view to) {
  return Packet(kRename, U32(id) + Str(from) + Str(to));
}
// OpenSSH's argument order: the target first, then the link to create.
inline std::string Symlink(uint32_t id, std::string_view target, std::string_view link) {
  return Packet(kSymlink, U32(id) + Str(target) + Str(link));
}
inline std::string Extended(uint32_t id, std::string_view name, const std::string& rest) {
  return Packet(kExtended, U32(id) + Str(name) + rest);
}
// hardlink@openssh.com: link(oldpath, newpath), PROTOCOL §4.5.
inline std::string Hardlink(uint32_t id, std::string_view oldpath, std::string_view newpath) {
  return Extended(id, "hardlink@openssh.com", Str(oldpath) + Str(newpath));
}
// copy-data, PROTOCOL §4.10; read_len 0 copies until end of file.
inline std::string CopyData(uint32_t id, std::string_view from, uint64_t read_off,
                            uint64_t read_len, std::string_view to, uint64_t write_off) {
  return Extended(id, "copy-data",
                  Str(from) + U64(read_off) + U64(read_len) + Str(to) + U64(write_off));
}

inline std::string StatusPkt(uint32_t id, uint32_t code, std::string_view msg = "msg") {
  return Packet(kStatus, U32(id) + U32(code) + Str(msg) + Str("en"));
}
inline std::string Handle(uint32_t id, std::string_view handle) {
  return Packet(kHandle, U32(id) + Str(handle));
}
inline std::string Data(uint32_t id, std::string_view data) {
  return Packet(kData, U32(id) + Str(data));
}
inline std::string AttrsPkt(uint32_t id, const std::string& attrs) {
  return Packet(kAttrs, U32(id) + attrs);
}
inline std::string Name(uint32_t id,
                        const std::vector<std::pair<std::string, std::string>>& entries) {
  std::string body = U32(id) + U32(static_cast<uint32_t>(entries.size()));
  for (const auto& [name, longname] : entries) body += Str(name) + Str(longname) + FullAttrs();
  return Packet(kName, body);
}
inline std::string ExtendedReply(uint32_t id, std::string_view data) {
  return Packet(kExtendedReply, U32(id) + std::string(data));
}

// The fuzz target's input: records of a direction byte (even: client, odd:
// server), a uint16 length and that many bytes, fed in order. Records keep
// the causal order of a real session (a handle is used only after the
// server's reply named it), which two separate halves could not.
struct Chunk {
  bool from_server;
  std::string bytes;
};
inline std::string FuzzInput(const std::vector<Chunk>& chunks) {
  std::string out;
  for (const auto& c : chunks) {
    for (size_t off = 0; off == 0 || off < c.bytes.size(); off += 0xFFFF) {
      std::string_view piece = std::string_view(c.bytes).substr(off, 0xFFFF);
      out.push_back(c.from_server ? 1 : 0);
      out.push_back(static_cast<char>(piece.size() >> 8));
      out.push_back(static_cast<char>(piece.size()));
      out.append(piece);
    }
  }
  return out;
}

}  // namespace hopgate::audit::sftp_testing
