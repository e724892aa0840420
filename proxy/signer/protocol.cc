#include "proxy/signer/protocol.h"

#include "common/wire.h"

namespace hopgate::proxy::signer {
namespace {

void PutList(WireWriter& w, const std::vector<std::string>& list) {
  w.PutU32(static_cast<uint32_t>(list.size()));
  for (const auto& s : list) w.PutString(s);
}

bool ReadList(WireReader& r, uint32_t max_count, const char* what,
              std::vector<std::string>* out) {
  uint32_t n = 0;
  if (!r.ReadU32(&n)) return false;
  if (n > max_count) {
    return r.Fail(std::string("too many ") + what + " (" + std::to_string(n) + ", at most " +
                  std::to_string(max_count) + ")");
  }
  for (uint32_t i = 0; i < n; ++i) {
    std::string s;
    if (!r.ReadString(&s, kMaxName)) return false;
    out->push_back(std::move(s));
  }
  return true;
}

void PutMint(WireWriter& w, const MintRequest& m) {
  w.PutString(m.session_id);
  w.PutString(m.user);
  w.PutU8(m.target_kind);
  w.PutString(m.target);
  w.PutU32(m.port);
  w.PutString(m.public_key);
  PutList(w, m.principals);
  w.PutU64(m.validity_seconds);
  PutList(w, m.extensions);
  w.PutBool(m.force_command.has_value());
  w.PutString(m.force_command.value_or(""));
}

bool ReadMint(WireReader& r, MintRequest* m) {
  uint32_t port = 0;
  bool has_command = false;
  std::string command;
  if (!r.ReadString(&m->session_id, kMaxName) || !r.ReadString(&m->user, kMaxName) ||
      !r.ReadU8(&m->target_kind) || !r.ReadString(&m->target, kMaxName) || !r.ReadU32(&port) ||
      !r.ReadString(&m->public_key, kMaxKeyBlob) ||
      !ReadList(r, kMaxPrincipals, "principals", &m->principals) ||
      !r.ReadU64(&m->validity_seconds) ||
      !ReadList(r, kMaxExtensions, "extensions", &m->extensions) || !r.ReadBool(&has_command) ||
      !r.ReadString(&command, kMaxCommand)) {
    return false;
  }
  if (port == 0 || port > 65535) return r.Fail("port out of range");
  m->port = static_cast<uint16_t>(port);
  if (has_command) m->force_command = std::move(command);
  return true;
}

}  // namespace

std::string EncodeRequest(const Request& q) {
  WireWriter w;
  w.PutU32(q.id);
  w.PutU8(static_cast<uint8_t>(q.kind));
  if (q.kind == Kind::kMintUserCertificate) PutMint(w, q.mint);
  if (q.kind == Kind::kSignCheckpoint) w.PutString(q.checkpoint);
  return w.Take();
}

Result<Request> DecodeRequest(std::string_view packet) {
  if (packet.size() > kMaxPacket) return MakeError(Code::kInvalidArgument, "request too large");
  WireReader r(packet);
  Request q;
  uint8_t kind = 0;
  if (r.ReadU32(&q.id) && r.ReadU8(&kind)) {
    switch (kind) {
      case 1:
        q.kind = Kind::kMintUserCertificate;
        ReadMint(r, &q.mint);
        break;
      case 2:
        q.kind = Kind::kSignCheckpoint;
        r.ReadString(&q.checkpoint, kMaxCheckpoint);
        break;
      case 3:
        q.kind = Kind::kReloadPolicy;
        break;
      default:
        r.Fail("unknown request type " + std::to_string(kind));
    }
  }
  r.ExpectEnd();
  if (r.failed()) return MakeError(Code::kInvalidArgument, "malformed request: " + r.error());
  return q;
}

std::string EncodeReply(const Reply& reply) {
  WireWriter w;
  w.PutU32(reply.id);
  w.PutBool(reply.ok);
  w.PutString(reply.payload);
  return w.Take();
}

Result<Reply> DecodeReply(std::string_view packet) {
  WireReader r(packet);
  Reply reply;
  r.ReadU32(&reply.id) && r.ReadBool(&reply.ok) &&
      r.ReadString(&reply.payload, static_cast<uint32_t>(kMaxPacket));
  r.ExpectEnd();
  if (r.failed()) return MakeError(Code::kInvalidArgument, "malformed reply: " + r.error());
  return reply;
}

}  // namespace hopgate::proxy::signer
