#include "proxy/signer/channel.h"

#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <vector>

namespace hopgate::proxy::signer {

Status SendPacket(int fd, std::string_view data, int pass_fd) {
  iovec iov{const_cast<char*>(data.data()), data.size()};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  if (pass_fd >= 0) {
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &pass_fd, sizeof(int));
  }
  while (true) {
    ssize_t n = sendmsg(fd, &msg, MSG_NOSIGNAL);
    if (n == static_cast<ssize_t>(data.size())) return Status::Ok();
    if (n < 0 && errno == EINTR) continue;
    int err = n < 0 ? errno : EMSGSIZE;
    return MakeError(err == EPIPE || err == ECONNRESET ? Code::kUnavailable : Code::kInternal,
                     strerror(err));
  }
}

Result<std::string> ReceivePacket(int fd, int timeout_ms, size_t max_bytes, UniqueFd* received_fd) {
  pollfd p{fd, POLLIN, 0};
  while (true) {
    int n = poll(&p, 1, timeout_ms);
    if (n > 0) break;
    if (n == 0) return MakeError(Code::kDeadlineExceeded, "no answer in time");
    if (errno != EINTR) return MakeError(Code::kInternal, strerror(errno));
  }
  std::vector<char> buf(max_bytes + 1);
  iovec iov{buf.data(), buf.size()};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  ssize_t n;
  do {
    n = recvmsg(fd, &msg, MSG_CMSG_CLOEXEC);
  } while (n < 0 && errno == EINTR);
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
      int got;
      memcpy(&got, CMSG_DATA(c), sizeof got);
      if (received_fd) {
        received_fd->reset(got);
      } else {
        close(got);
      }
    }
  }
  if (n == 0) return MakeError(Code::kUnavailable, "the peer closed the socket");
  if (n < 0) {
    return MakeError(errno == ECONNRESET ? Code::kUnavailable : Code::kInternal, strerror(errno));
  }
  if (static_cast<size_t>(n) > max_bytes || (msg.msg_flags & MSG_TRUNC)) {
    return MakeError(Code::kInvalidArgument,
                     "packet larger than " + std::to_string(max_bytes) + " bytes");
  }
  return std::string(buf.data(), static_cast<size_t>(n));
}

}  // namespace hopgate::proxy::signer
