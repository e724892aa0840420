#include "proxy/ssh/deferred_open.h"

#include <cstring>
#include <memory>

namespace hopgate::proxy {
namespace {

// libssh 0.10's struct ssh_message_struct, up to the channel-open part
// (include/libssh/messages.h). Only ever read after Capture()'s check, and
// built whole (zeroed, with room to spare) to answer.
struct AuthRequest {
  char* username;
  int method;
  char* password;
  void* pubkey;
  char* sigtype;
  int signature_state;
  char kbdint_response;
};
struct ChannelRequestOpen {
  int type;
  uint32_t sender;
  uint32_t window;
  uint32_t packet_size;
  char* originator;
  uint16_t originator_port;
  char* destination;
  uint16_t destination_port;
};
struct MessageHead {
  ssh_session session;
  int type;
  AuthRequest auth_request;
  ChannelRequestOpen channel_request_open;
};

// Big enough for the whole of libssh 0.10's message (its later members are
// never read by the two functions we call; they stay zero).
constexpr size_t kMessageBytes = 1024;
static_assert(sizeof(MessageHead) < kMessageBytes);

// A zeroed message carrying `d`, for libssh's reply functions.
std::unique_ptr<unsigned char[]> Build(ssh_session session, const DeferredOpen& d) {
  auto mem = std::make_unique<unsigned char[]>(kMessageBytes);
  std::memset(mem.get(), 0, kMessageBytes);
  auto* m = reinterpret_cast<MessageHead*>(mem.get());
  m->session = session;
  m->type = SSH_REQUEST_CHANNEL_OPEN;
  m->channel_request_open.type = d.channel_type;
  m->channel_request_open.sender = d.sender;
  m->channel_request_open.window = d.window;
  m->channel_request_open.packet_size = d.packet_size;
  return mem;
}

}  // namespace

std::optional<DeferredOpen> DeferredOpen::Capture(ssh_session session, ssh_message msg) {
  if (msg == nullptr || ssh_message_type(msg) != SSH_REQUEST_CHANNEL_OPEN) return std::nullopt;
  const auto* m = reinterpret_cast<const MessageHead*>(msg);
  const ChannelRequestOpen& o = m->channel_request_open;
  // The layout is libssh's only if everything the accessors return is where
  // it says, the very same pointers included.
  bool layout_ok =
      m->session == session && m->type == SSH_REQUEST_CHANNEL_OPEN &&
      o.type == ssh_message_subtype(msg) &&
      o.destination == ssh_message_channel_request_open_destination(msg) &&
      o.originator == ssh_message_channel_request_open_originator(msg) &&
      o.destination_port == ssh_message_channel_request_open_destination_port(msg) &&
      o.originator_port == ssh_message_channel_request_open_originator_port(msg) &&
      o.destination != nullptr;
  if (!layout_ok) return std::nullopt;
  DeferredOpen d;
  d.channel_type = o.type;
  d.sender = o.sender;
  d.window = o.window;
  d.packet_size = o.packet_size;
  return d;
}

ssh_channel DeferredOpen::Accept(ssh_session session) const {
  auto mem = Build(session, *this);
  return ssh_message_channel_request_open_reply_accept(reinterpret_cast<ssh_message>(mem.get()));
}

void DeferredOpen::Refuse(ssh_session session) const {
  auto mem = Build(session, *this);
  ssh_message_reply_default(reinterpret_cast<ssh_message>(mem.get()));
}

}  // namespace hopgate::proxy
