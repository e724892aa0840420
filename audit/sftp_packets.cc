#include "audit/sftp_packets.h"

#include <cstdio>
#include <iterator>

namespace hopgate::audit::sftp_internal {
namespace {

// Peer bytes quoted in an error message: printable ASCII only, and short.
std::string Printable(std::string_view s) {
  constexpr size_t kMax = 64;
  std::string out;
  for (size_t i = 0; i < s.size() && i < kMax; ++i) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
      out.push_back(static_cast<char>(c));
    } else {
      char hex[5];
      std::snprintf(hex, sizeof hex, "\\x%02x", c);
      out += hex;
    }
  }
  if (s.size() > kMax) out += "...";
  return out;
}

// Names and paths are C strings to OpenSSH's sftp-server (sshbuf_get_cstring
// refuses an embedded NUL); another server might cut the string there and act
// on a path other than the one audited, so no NUL is forwarded.
bool ReadCString(WireReader* r, std::string_view* out, const char* what) {
  std::string_view s;
  if (!r->ReadString(&s)) return false;
  if (s.find('\0') != std::string_view::npos) {
    return r->Fail(std::string(what) + " contains a NUL byte");
  }
  *out = s;
  return true;
}
bool ReadPath(WireReader* r, std::string_view* out) { return ReadCString(r, out, "path"); }

// Handles come from the server's HANDLE replies, which are capped the same.
bool ReadHandle(WireReader* r, std::string_view* out) {
  return r->ReadString(out, kMaxHandleLen);
}

// users-groups-by-id@openssh.com: a string holding uint32 ids, consumed by
// the server until empty; a ragged tail would make it fail mid-list.
bool ReadIdList(WireReader* r, const char* what) {
  WireReader ids{std::string_view()};
  if (!r->ReadSubReader(&ids)) return false;
  if (ids.remaining() % 4 != 0) {
    return r->Fail(std::string(what) + " list of " + std::to_string(ids.remaining()) +
                   " bytes is not whole uint32s");
  }
  return true;
}

// The extensions OpenSSH 9.2's sftp-server implements (sftp-server.c
// extended_handlers, formats in PROTOCOL §4), each parsed to its last field.
// Anything else is refused: its arguments could not be audited.
struct Extension {
  std::string_view name;
  bool (*parse)(WireReader* r, ClientRequest* q);
};
constexpr Extension kExtensions[] = {
    {"posix-rename@openssh.com",
     [](WireReader* r, ClientRequest* q) {
       q->op = "rename";  // what `sftp` uses for its rename command
       return ReadPath(r, &q->path) && ReadPath(r, &q->new_path);
     }},
    {"statvfs@openssh.com", [](WireReader* r, ClientRequest* q) { return ReadPath(r, &q->path); }},
    {"fstatvfs@openssh.com",
     [](WireReader* r, ClientRequest* q) { return ReadHandle(r, &q->handle); }},
    {"hardlink@openssh.com",
     [](WireReader* r, ClientRequest* q) {
       // link(oldpath, newpath): reported like symlink, path = the new link.
       q->op = "hardlink";
       return ReadPath(r, &q->new_path) && ReadPath(r, &q->path);
     }},
    {"fsync@openssh.com",
     [](WireReader* r, ClientRequest* q) { return ReadHandle(r, &q->handle); }},
    {"lsetstat@openssh.com",
     [](WireReader* r, ClientRequest* q) {
       q->op = "setstat";
       return ReadPath(r, &q->path) && ReadAttrs(r);
     }},
    {"limits@openssh.com", [](WireReader*, ClientRequest*) { return true; }},
    {"expand-path@openssh.com",
     [](WireReader* r, ClientRequest* q) { return ReadPath(r, &q->path); }},
    {"copy-data",
     [](WireReader* r, ClientRequest* q) {
       uint64_t read_offset, write_offset;
       q->op = "copy-data";
       return ReadHandle(r, &q->handle) && r->ReadU64(&read_offset) &&
              r->ReadU64(&q->length) && ReadHandle(r, &q->write_handle) &&
              r->ReadU64(&write_offset);
     }},
    {"home-directory",
     [](WireReader* r, ClientRequest* q) { return ReadCString(r, &q->path, "username"); }},
    {"users-groups-by-id@openssh.com",
     [](WireReader* r, ClientRequest*) { return ReadIdList(r, "uid") && ReadIdList(r, "gid"); }},
};

bool ParseExtended(WireReader* r, ClientRequest* q) {
  if (!ReadCString(r, &q->extension, "extension name")) return false;
  for (const auto& e : kExtensions) {
    if (e.name == q->extension) return e.parse(r, q);
  }
  return r->Fail("unknown extension, refused");
}

const char* TypeName(uint8_t type) {
  static constexpr const char* kRequests[] = {
      "INIT",    "VERSION", "OPEN",    "CLOSE",  "READ",     "WRITE",  "LSTAT",
      "FSTAT",   "SETSTAT", "FSETSTAT", "OPENDIR", "READDIR", "REMOVE", "MKDIR",
      "RMDIR",   "REALPATH", "STAT",   "RENAME", "READLINK", "SYMLINK"};
  static constexpr const char* kReplies[] = {"STATUS", "HANDLE", "DATA", "NAME", "ATTRS"};
  if (type >= kInit && type <= kSymlink) return kRequests[type - kInit];
  if (type >= kStatus && type <= kAttrs) return kReplies[type - kStatus];
  if (type == kExtended) return "EXTENDED";
  if (type == kExtendedReply) return "EXTENDED_REPLY";
  return "unknown";
}

}  // namespace

bool ParseClientRequest(uint8_t type, WireReader* r, ClientRequest* q) {
  // OpenSSH's sftp-server logs and skips other types without a reply, which
  // would leave a request id outstanding forever and its content unaudited.
  if ((type < kOpen || type > kSymlink) && type != kExtended) {
    return r->Fail("unknown request type, refused");
  }
  q->type = type;
  if (!r->ReadU32(&q->id)) return false;
  std::string_view data;
  uint64_t offset;
  uint32_t length;
  bool ok = false;
  switch (type) {
    case kOpen:
      q->op = "open";
      ok = ReadPath(r, &q->path) && r->ReadU32(&q->pflags) && ReadAttrs(r);
      break;
    case kClose:
    case kFstat:
    case kReaddir:
      ok = ReadHandle(r, &q->handle);
      break;
    case kRead:
      ok = ReadHandle(r, &q->handle) && r->ReadU64(&offset) && r->ReadU32(&length);
      break;
    case kWrite:
      ok = ReadHandle(r, &q->handle) && r->ReadU64(&offset) && r->ReadString(&data);
      q->length = data.size();
      break;
    case kFsetstat:
      ok = ReadHandle(r, &q->handle) && ReadAttrs(r);
      break;
    case kSetstat:
    case kMkdir:
      q->op = type == kSetstat ? "setstat" : "mkdir";
      ok = ReadPath(r, &q->path) && ReadAttrs(r);
      break;
    case kRemove:
    case kRmdir:
      q->op = type == kRemove ? "remove" : "rmdir";
      ok = ReadPath(r, &q->path);
      break;
    case kRename:
      q->op = "rename";
      ok = ReadPath(r, &q->path) && ReadPath(r, &q->new_path);
      break;
    case kSymlink:
      // OpenSSH sends (target, link), the reverse of the draft (PROTOCOL
      // §4.1); every client follows OpenSSH.
      q->op = "symlink";
      ok = ReadPath(r, &q->new_path) && ReadPath(r, &q->path);
      break;
    case kExtended:
      ok = ParseExtended(r, q);
      break;
    default:  // lstat, opendir, realpath, stat, readlink: one path
      ok = ReadPath(r, &q->path);
      break;
  }
  // sftp-server silently skips what a handler left unread, so trailing bytes
  // would reach it unaudited (the bug this gate exists for).
  return ok && ExpectPacketEnd(r);
}

bool ReadAttrs(WireReader* r) {
  uint32_t flags, u32;
  uint64_t u64;
  if (!r->ReadU32(&flags)) return false;
  if ((flags & kAttrSize) && !r->ReadU64(&u64)) return false;
  if ((flags & kAttrUidGid) && !(r->ReadU32(&u32) && r->ReadU32(&u32))) return false;
  if ((flags & kAttrPermissions) && !r->ReadU32(&u32)) return false;
  if ((flags & kAttrAcModTime) && !(r->ReadU32(&u32) && r->ReadU32(&u32))) return false;
  if (flags & kAttrExtended) {
    uint32_t count;
    if (!r->ReadU32(&count)) return false;
    if (count > r->remaining() / 8) {
      return r->Fail("extended attribute count " + std::to_string(count) + " exceeds packet");
    }
    std::string_view name, value;
    for (uint32_t i = 0; i < count; ++i) {
      if (!r->ReadString(&name) || !r->ReadString(&value)) return false;
    }
  }
  return true;
}

bool ReadExtensions(WireReader* r) {
  std::string_view name, data;
  while (!r->empty()) {
    if (!r->ReadString(&name) || !r->ReadString(&data)) return false;
  }
  return true;
}

bool ExpectPacketEnd(WireReader* r) {
  if (r->failed()) return false;
  size_t n = r->remaining();
  if (n == 0) return true;
  return r->Fail(std::to_string(n) + (n == 1 ? " trailing byte" : " trailing bytes") +
                 " at offset " + std::to_string(r->position()));
}

std::string PacketLabel(std::string_view body, bool from_client) {
  WireReader r(body);
  uint8_t type = 0;
  uint32_t id;
  std::string_view name;
  if (!r.ReadU8(&type)) return "empty";
  std::string label = TypeName(type);
  if (from_client && type == kExtended && r.ReadU32(&id) && r.ReadString(&name)) {
    label += " \"" + Printable(name) + "\"";
  }
  return label;
}

std::string OpenMode(uint32_t f) {
  std::string m = (f & kFlagRead) && (f & kFlagWrite) ? "read+write"
                  : (f & kFlagRead)                   ? "read"
                  : (f & kFlagWrite)                  ? "write"
                                                      : "none";
  if (f & kFlagCreat) m += ",create";
  if (f & kFlagTrunc) m += ",truncate";
  if (f & kFlagAppend) m += ",append";
  if (f & kFlagExcl) m += ",excl";
  return m;
}

std::string StatusName(uint32_t code) {
  static constexpr const char* kNames[] = {
      "ok", "eof", "no such file", "permission denied", "failure",
      "bad message", "no connection", "connection lost", "operation unsupported"};
  if (code < std::size(kNames)) return kNames[code];
  return "status " + std::to_string(code);
}

}  // namespace hopgate::audit::sftp_internal
