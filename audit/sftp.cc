#include "audit/sftp.h"

#include <iterator>
#include <utility>

namespace hopgate::audit {
namespace {

// Packet types, flags and status codes of filexfer-02 (SFTP version 3).
enum : uint8_t {
  kInit = 1, kVersion = 2, kOpen = 3, kClose = 4, kRead = 5, kWrite = 6,
  kLstat = 7, kFstat = 8, kSetstat = 9, kFsetstat = 10, kOpendir = 11,
  kReaddir = 12, kRemove = 13, kMkdir = 14, kRmdir = 15, kRealpath = 16,
  kStat = 17, kRename = 18, kReadlink = 19, kSymlink = 20,
  kStatus = 101, kHandle = 102, kData = 103, kName = 104, kAttrs = 105,
  kExtended = 200, kExtendedReply = 201,
};
constexpr uint32_t kFlagRead = 0x01, kFlagWrite = 0x02, kFlagAppend = 0x04,
                   kFlagCreat = 0x08, kFlagTrunc = 0x10, kFlagExcl = 0x20;
constexpr uint32_t kAttrSize = 0x1, kAttrUidGid = 0x2, kAttrPermissions = 0x4,
                   kAttrAcModTime = 0x8, kAttrExtended = 0x80000000;
constexpr uint32_t kMaxHandleLen = 256;  // filexfer-02 §3
// Paths held for unanswered requests and open handles, in bytes: a peer that
// never answers must not grow us without bound.
constexpr size_t kMaxStateBytes = 32 * 1024 * 1024;

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

// ATTRS: only the fields its flags announce, extended pairs counted and
// bounded by what the packet holds.
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

// INIT and VERSION end in (name, data) extension pairs.
bool ReadExtensions(WireReader* r) {
  std::string_view name, data;
  while (!r->empty()) {
    if (!r->ReadString(&name) || !r->ReadString(&data)) return false;
  }
  return true;
}

// What a held request or handle counts against kMaxStateBytes.
size_t Cost(const std::string& path, const std::string& new_path = {}) {
  return path.size() + new_path.size() + 64;
}

}  // namespace

Status SftpObserver::FromClient(std::string_view bytes) { return Feed(&client_, bytes, true); }
Status SftpObserver::FromServer(std::string_view bytes) { return Feed(&server_, bytes, false); }

std::vector<SftpOp> SftpObserver::TakeOps() { return std::exchange(done_, {}); }

Status SftpObserver::Feed(Direction* d, std::string_view bytes, bool from_client) {
  if (!error_.ok()) return error_;
  const char* side = from_client ? "sftp client" : "sftp server";
  // Parse straight from `bytes` when nothing is pending; buffer only a tail.
  std::string_view in = bytes;
  if (!d->buffer.empty()) {
    d->buffer.append(bytes);
    in = d->buffer;
  }
  size_t pos = 0;
  while (in.size() - pos >= 4) {
    WireReader frame(in.substr(pos));
    uint32_t len = 0;
    (void)frame.ReadU32(&len);
    if (len == 0 || len > kMaxPacket) {
      error_ = Error{std::string(side) + ": packet length " + std::to_string(len) +
                     " outside 1.." + std::to_string(kMaxPacket)};
      return error_;
    }
    if (frame.remaining() < len) break;
    WireReader r(in.substr(pos + 4, len));
    uint8_t type = 0;
    (void)r.ReadU8(&type);
    if (!(from_client ? ClientPacket(type, &r) : ServerPacket(type, &r))) {
      error_ = Error{std::string(side) + " packet type " + std::to_string(type) + ": " +
                     r.error()};
      return error_;
    }
    pos += 4 + len;
  }
  d->buffer = std::string(in.substr(pos));  // copies before `in` may dangle
  return Status::Ok();
}

std::shared_ptr<SftpObserver::HandleInfo> SftpObserver::FindHandle(std::string_view handle) {
  auto it = handles_.find(handle);
  return it == handles_.end() ? nullptr : it->second;
}

bool SftpObserver::Track(uint32_t id, Pending p, WireReader* r) {
  // A reused outstanding id would let one request's reply stand for another:
  // refuse rather than mis-attribute.
  if (pending_.count(id)) return r->Fail("request id " + std::to_string(id) + " reused");
  if (pending_.size() >= kMaxPending) return r->Fail("too many outstanding requests");
  state_bytes_ += Cost(p.op.path, p.op.new_path);
  if (state_bytes_ > kMaxStateBytes) return r->Fail("too much request state");
  pending_.emplace(id, std::move(p));
  return true;
}

bool SftpObserver::ClientPacket(uint8_t type, WireReader* r) {
  if (type == kInit) {
    uint32_t version;
    if (client_.started) return r->Fail("second INIT");
    client_.started = true;
    return r->ReadU32(&version) && ReadExtensions(r);
  }
  if (!client_.started) return r->Fail("request before INIT");
  if (type < kOpen || (type > kSymlink && type != kExtended)) return true;  // unknown: skip

  uint32_t id, u32;
  uint64_t u64;
  std::string_view handle, data;
  Pending p{type, {}, nullptr};
  if (!r->ReadU32(&id)) return false;
  switch (type) {
    case kOpen:
      p.op.op = "open";
      if (!r->ReadString(&p.op.path) || !r->ReadU32(&u32) || !ReadAttrs(r)) return false;
      p.op.mode = OpenMode(u32);
      break;
    case kClose:
      if (!r->ReadString(&handle) || !r->ExpectEnd()) return false;
      p.handle = FindHandle(handle);
      if (!p.handle) return true;  // a directory or unknown handle
      p.op.op = "close";
      p.op.path = p.handle->path;
      p.op.mode = p.handle->mode;
      state_bytes_ -= Cost(p.handle->path);
      handles_.erase(handles_.find(handle));
      break;
    case kRead:
      if (!r->ReadString(&handle) || !r->ReadU64(&u64) || !r->ReadU32(&u32)) return false;
      p.handle = FindHandle(handle);
      break;
    case kWrite:
      if (!r->ReadString(&handle) || !r->ReadU64(&u64) || !r->ReadString(&data)) return false;
      if (auto h = FindHandle(handle)) h->bytes_written += data.size();
      return r->ExpectEnd();
    case kSetstat:
    case kMkdir:
      p.op.op = type == kSetstat ? "setstat" : "mkdir";
      if (!r->ReadString(&p.op.path) || !ReadAttrs(r)) return false;
      break;
    case kFsetstat:
      if (!r->ReadString(&handle) || !ReadAttrs(r)) return false;
      if (auto h = FindHandle(handle)) {
        p.op.op = "setstat";
        p.op.path = h->path;
      }
      break;
    case kRemove:
    case kRmdir:
      p.op.op = type == kRemove ? "remove" : "rmdir";
      if (!r->ReadString(&p.op.path)) return false;
      break;
    case kRename:
      p.op.op = "rename";
      if (!r->ReadString(&p.op.path) || !r->ReadString(&p.op.new_path)) return false;
      break;
    case kSymlink:
      // OpenSSH sends (target, link), the reverse of the draft; every client
      // follows OpenSSH.
      p.op.op = "symlink";
      if (!r->ReadString(&p.op.new_path) || !r->ReadString(&p.op.path)) return false;
      break;
    case kExtended: {
      std::string_view name;
      if (!r->ReadString(&name)) return false;
      if (name == "posix-rename@openssh.com") {  // what `sftp` uses for rename
        p.op.op = "rename";
        if (!r->ReadString(&p.op.path) || !r->ReadString(&p.op.new_path)) return false;
      } else if (name == "lsetstat@openssh.com") {
        p.op.op = "setstat";
        if (!r->ReadString(&p.op.path) || !ReadAttrs(r)) return false;
      } else {
        return true;  // other extensions: format unknown, skipped
      }
      break;
    }
    default:  // stat, lstat, fstat, opendir, readdir, realpath, readlink
      if (!r->ReadString(&data)) return false;
      return r->ExpectEnd();
  }
  if (!r->ExpectEnd()) return false;
  if (p.op.op.empty() && !p.handle) return true;  // nothing to report or count
  return Track(id, std::move(p), r);
}

bool SftpObserver::ServerPacket(uint8_t type, WireReader* r) {
  if (type == kVersion) {
    uint32_t version;
    if (server_.started) return r->Fail("second VERSION");
    server_.started = true;
    if (!r->ReadU32(&version)) return false;
    // Later versions change ATTRS and more; what can't be parsed can't be audited.
    if (version > 3) return r->Fail("SFTP version " + std::to_string(version) + " not supported");
    return ReadExtensions(r);
  }
  if (!server_.started) return r->Fail("reply before VERSION");
  if (type < kStatus || type > kExtendedReply || (type > kAttrs && type < kExtendedReply)) {
    return true;  // unknown: skip
  }

  uint32_t id, code = 0, count;
  std::string_view handle, data, s1, s2;
  if (!r->ReadU32(&id)) return false;
  switch (type) {
    case kStatus:
      if (!r->ReadU32(&code)) return false;
      // Message and language tag, which some version-3 servers leave out.
      if (!r->empty() && !(r->ReadString(&s1) && r->ReadString(&s2))) return false;
      break;
    case kHandle:
      if (!r->ReadString(&handle, kMaxHandleLen)) return false;
      break;
    case kData:
      if (!r->ReadString(&data)) return false;
      break;
    case kName:
      if (!r->ReadU32(&count)) return false;
      if (count > r->remaining() / 12) {
        return r->Fail("name count " + std::to_string(count) + " exceeds packet");
      }
      for (uint32_t i = 0; i < count; ++i) {
        if (!r->ReadString(&s1) || !r->ReadString(&s2) || !ReadAttrs(r)) return false;
      }
      break;
    case kAttrs:
      if (!ReadAttrs(r)) return false;
      break;
    default:  // EXTENDED_REPLY: format depends on the request
      return true;
  }
  if (!r->ExpectEnd()) return false;

  auto it = pending_.find(id);
  if (it == pending_.end()) return true;  // a request we don't report on
  Pending p = std::move(it->second);
  pending_.erase(it);
  state_bytes_ -= Cost(p.op.path, p.op.new_path);
  if (p.type == kRead) {
    if (type == kData) p.handle->bytes_read += data.size();
    return true;
  }
  SftpOp& op = p.op;
  op.status = type == kStatus ? StatusName(code) : "unexpected reply " + std::to_string(type);
  if (p.type == kOpen && type == kHandle) {
    if (handles_.size() >= kMaxHandles) return r->Fail("too many open handles");
    auto& slot = handles_[std::string(handle)];
    if (slot) state_bytes_ -= Cost(slot->path);  // a reused handle replaces
    slot = std::make_shared<HandleInfo>(HandleInfo{op.path, op.mode});
    state_bytes_ += Cost(op.path);
    if (state_bytes_ > kMaxStateBytes) return r->Fail("too much handle state");
    op.status = "ok";
  }
  if (p.type == kClose) {
    op.bytes_read = p.handle->bytes_read;
    op.bytes_written = p.handle->bytes_written;
  }
  done_.push_back(std::move(op));
  return true;
}

}  // namespace hopgate::audit
