#include "audit/sftp.h"

#include <utility>

#include "audit/sftp_packets.h"

namespace hopgate::audit {
namespace {

using namespace sftp_internal;  // NOLINT: this file's own wire vocabulary

// Paths held for unanswered requests and open handles, in bytes: a peer that
// never answers must not grow us without bound.
constexpr size_t kMaxStateBytes = 32 * 1024 * 1024;

// What a held request or handle counts against kMaxStateBytes.
size_t Cost(const std::string& path, const std::string& new_path = {}) {
  return path.size() + new_path.size() + 64;
}

}  // namespace

Status SftpObserver::FromClient(std::string_view bytes, std::string* forward) {
  return Feed(&client_, bytes, true, forward);
}

Status SftpObserver::FromServer(std::string_view bytes) {
  return Feed(&server_, bytes, false, nullptr);
}

std::vector<SftpOp> SftpObserver::TakeOps() { return std::exchange(done_, {}); }

std::vector<SftpOp> SftpObserver::TakeUnanswered() {
  std::vector<SftpOp> out;
  for (auto& [id, p] : pending_) {
    if (p.op.op.empty()) continue;  // a read: counted, not reported
    SftpOp op = std::move(p.op);
    if (p.handle && op.op == "close") {
      op.bytes_read = p.handle->bytes_read;
      op.bytes_written = p.handle->bytes_written;
    }
    op.status = "no reply (channel closed first)";
    out.push_back(std::move(op));
  }
  pending_.clear();
  outstanding_.clear();
  state_bytes_ = 0;
  return out;
}

Status SftpObserver::Feed(Direction* d, std::string_view bytes, bool from_client,
                          std::string* forward) {
  if (from_client && !gate_error_.ok()) return gate_error_;
  if (!error_.ok()) return error_;
  const char* side = from_client ? "sftp client" : "sftp server";
  // Parse straight from `bytes` when nothing is pending; buffer only a tail.
  std::string_view in = bytes;
  if (!d->buffer.empty()) {
    d->buffer.append(bytes);
    in = d->buffer;
  }
  size_t pos = 0;  // end of the packets that validated
  std::string failure;
  while (in.size() - pos >= 4) {
    WireReader frame(in.substr(pos));
    uint32_t len = 0;
    (void)frame.ReadU32(&len);
    if (len == 0 || len > kMaxPacket) {
      failure = std::string(side) + ": packet length " + std::to_string(len) + " outside 1.." +
                std::to_string(kMaxPacket);
      break;
    }
    if (frame.remaining() < len) break;
    std::string_view body = in.substr(pos + 4, len);
    WireReader r(body);
    uint8_t type = 0;
    (void)r.ReadU8(&type);
    if (!(from_client ? ClientPacket(type, &r) : ServerPacket(type, &r))) {
      failure = std::string(side) + " packet type " + std::to_string(type) + " (" +
                PacketLabel(body, from_client) + "): " + r.error();
      break;
    }
    pos += 4 + len;
  }
  // The gate: exactly the whole packets that validated, byte for byte, and
  // never anything from the first bad one on.
  if (forward) forward->append(in.substr(0, pos));
  if (!failure.empty()) {
    client_.buffer.clear();  // nothing held will ever be forwarded
    // A refused request changed no state, so the replies to what was
    // forwarded before it can still be followed; a bad reply cannot.
    if (from_client) return gate_error_ = Error{std::move(failure)};
    server_.buffer.clear();
    return error_ = Error{std::move(failure)};
  }
  d->buffer = std::string(in.substr(pos));  // copies before `in` may dangle
  return Status::Ok();
}

std::shared_ptr<SftpObserver::HandleInfo> SftpObserver::FindHandle(std::string_view handle) {
  auto it = handles_.find(handle);
  return it == handles_.end() ? nullptr : it->second;
}

bool SftpObserver::ClientPacket(uint8_t type, WireReader* r) {
  if (type == kInit) {
    uint32_t version;
    if (client_.started) return r->Fail("second INIT");
    if (!r->ReadU32(&version) || !ReadExtensions(r)) return false;
    client_.started = true;
    return true;
  }
  if (!client_.started) return r->Fail("request before INIT");
  ClientRequest q;
  return ParseClientRequest(type, r, &q) && Admit(q, r);
}

// Checks a parsed request against the session's state, then applies it: the
// state changes only for requests that will be forwarded.
bool SftpObserver::Admit(const ClientRequest& q, WireReader* r) {
  // A reused outstanding id would let one reply stand for two requests the
  // server both performs: refuse rather than mis-attribute.
  if (outstanding_.count(q.id)) {
    return r->Fail("request id " + std::to_string(q.id) + " reused while outstanding");
  }
  if (outstanding_.size() >= kMaxPending) return r->Fail("too many outstanding requests");

  Pending p{q.type, {}, nullptr};
  SftpOp& op = p.op;
  if (!q.op.empty()) {
    op.op = q.op;
    op.path = q.path;
    op.new_path = q.new_path;
  }
  switch (q.type) {
    case kOpen:
      op.mode = OpenMode(q.pflags);
      break;
    case kClose:
      // Directory handles are not tracked, so closing one is not reported.
      p.handle = FindHandle(q.handle);
      if (p.handle) {
        op.op = "close";
        op.path = p.handle->path;
        op.mode = p.handle->mode;
      }
      break;
    case kRead:
      p.handle = FindHandle(q.handle);  // its DATA reply counts as read
      break;
    case kFsetstat:
      if (auto h = FindHandle(q.handle)) {
        op.op = "setstat";
        op.path = h->path;
      }
      break;
    case kExtended:
      if (q.op == "copy-data") {
        auto from = FindHandle(q.handle), to = FindHandle(q.write_handle);
        op.path = from ? from->path : "";
        op.new_path = to ? to->path : "";
        op.bytes_written = q.length;
      }
      break;
  }
  const bool keep = !op.op.empty() || p.handle;
  const size_t cost = keep ? Cost(op.path, op.new_path) : 0;
  if (state_bytes_ + cost > kMaxStateBytes) return r->Fail("too much request state");

  // Admitted: from here on the request reaches the server.
  if (q.type == kClose && p.handle) {
    state_bytes_ -= Cost(p.handle->path);
    handles_.erase(handles_.find(q.handle));
  }
  if (q.type == kWrite) {
    if (auto h = FindHandle(q.handle)) h->bytes_written += q.length;
  }
  outstanding_.insert(q.id);
  if (keep) {
    state_bytes_ += cost;
    pending_.emplace(q.id, std::move(p));
  }
  return true;
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
    default:  // EXTENDED_REPLY: the rest's format depends on the request
      break;
  }
  if (type != kExtendedReply && !ExpectPacketEnd(r)) return false;

  // Every reply answers its request, reported or not, and frees its id.
  outstanding_.erase(id);
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
