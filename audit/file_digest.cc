// The low-level SHA256_* functions are deprecated in OpenSSL 3 but kept;
// see LineHashes() for why they are used here.
#define OPENSSL_SUPPRESS_DEPRECATED
#include "audit/file_digest.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>

#include "common/encoding.h"

namespace hopgate::audit {

Result<FileDigest> DigestFile(const std::string& path, uint64_t limit) {
  // O_NONBLOCK: opening a FIFO a hostile log names must not hang.
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) {
    int err = errno;
    return MakeError(err == ENOENT || err == ENOTDIR ? Code::kNotFound : Code::kPermissionDenied,
                     path + ": " + strerror(err));
  }
  struct Closer {
    int fd;
    ~Closer() { close(fd); }
  } closer{fd};
  struct stat st;
  if (fstat(fd, &st) != 0) return MakeError(Code::kDataLoss, path + ": " + strerror(errno));
  if (!S_ISREG(st.st_mode)) return MakeError(Code::kFailedPrecondition, path + ": not a regular file");
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1) {
    return MakeError(Code::kInternal, "SHA-256 unavailable");
  }
  FileDigest d;
  // Not zero-filled: most recordings are far smaller than the block.
  constexpr size_t kBlock = 1 << 20;
  std::unique_ptr<char[]> block(new char[kBlock]);
  while (d.hashed < limit) {
    size_t want = static_cast<size_t>(std::min<uint64_t>(kBlock, limit - d.hashed));
    ssize_t n = read(fd, block.get(), want);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return MakeError(Code::kDataLoss, path + ": " + strerror(errno));
    if (n == 0) break;
    EVP_DigestUpdate(ctx.get(), block.get(), static_cast<size_t>(n));
    d.hashed += static_cast<uint64_t>(n);
  }
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx.get(), md, &len);
  d.sha256_hex = HexEncode(std::string_view(reinterpret_cast<char*>(md), len));
  // The size as read when the whole file was hashed; else as the file says.
  d.size = d.hashed < limit ? d.hashed : std::max<uint64_t>(d.hashed, static_cast<uint64_t>(st.st_size));
  return d;
}

void LineHashes(std::string_view line, std::string* leaf, std::string* plain) {
  unsigned char md[SHA256_DIGEST_LENGTH];
  SHA256_CTX c;
  SHA256_Init(&c);
  SHA256_Update(&c, "\0", 1);
  SHA256_Update(&c, line.data(), line.size());
  SHA256_Final(md, &c);
  leaf->assign(reinterpret_cast<char*>(md), sizeof md);
  SHA256_Init(&c);
  SHA256_Update(&c, line.data(), line.size());
  SHA256_Final(md, &c);
  plain->assign(reinterpret_cast<char*>(md), sizeof md);
}

std::string RecordingFile(const std::string& logged_path, const std::string& recordings_dir) {
  if (recordings_dir.empty()) return logged_path;
  // <recordings>/YYYY/MM/DD/NAME.cast: keep the last four components.
  size_t cut = logged_path.size();
  for (int i = 0; i < 4 && cut != std::string::npos && cut > 0; ++i) {
    cut = logged_path.rfind('/', cut - 1);
  }
  std::string tail = cut == std::string::npos ? logged_path : logged_path.substr(cut + 1);
  return recordings_dir + "/" + tail;
}

}  // namespace hopgate::audit
