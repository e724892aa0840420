#include "audit/merkle.h"

#include <openssl/evp.h>

namespace hopgate::audit {
namespace {

Hash Sha(std::string_view prefix, std::string_view a, std::string_view b = {}) {
  // One context per thread, reused: the verifier hashes millions of nodes.
  struct Ctx {
    EVP_MD_CTX* p = EVP_MD_CTX_new();
    ~Ctx() { EVP_MD_CTX_free(p); }
  };
  thread_local Ctx holder;
  EVP_MD_CTX* ctx = holder.p;
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr);
  EVP_DigestUpdate(ctx, prefix.data(), prefix.size());
  EVP_DigestUpdate(ctx, a.data(), a.size());
  EVP_DigestUpdate(ctx, b.data(), b.size());
  EVP_DigestFinal_ex(ctx, out, &len);
  return Hash(reinterpret_cast<char*>(out), len);
}

// The largest power of two smaller than n (n > 1).
uint64_t Split(uint64_t n) {
  uint64_t k = 1;
  while (k << 1 < n) k <<= 1;
  return k;
}

int PopCount(uint64_t n) { return __builtin_popcountll(n); }

}  // namespace

Hash LeafHash(std::string_view entry) { return Sha(std::string_view("\0", 1), entry); }
Hash NodeHash(std::string_view left, std::string_view right) {
  return Sha(std::string_view("\1", 1), left, right);
}
Hash EmptyRoot() { return Sha({}, {}); }

Result<TreeState> TreeState::FromParts(uint64_t size, std::vector<Hash> roots) {
  if (static_cast<int>(roots.size()) != PopCount(size)) {
    return Error{"tree state: " + std::to_string(roots.size()) + " subtree roots for size " +
                 std::to_string(size)};
  }
  for (const auto& r : roots) {
    if (r.size() != 32) return Error{"tree state: a subtree root is not 32 bytes"};
  }
  TreeState t;
  t.size_ = size;
  t.roots_ = std::move(roots);
  return t;
}

void TreeState::Append(const Hash& leaf) {
  // Like binary increment: each trailing 1 bit of the old size merges the
  // rightmost subtree into the new one.
  Hash carry = leaf;
  for (uint64_t s = size_; s & 1; s >>= 1) {
    carry = NodeHash(roots_.back(), carry);
    roots_.pop_back();
  }
  roots_.push_back(std::move(carry));
  ++size_;
}

Hash TreeState::Root() const {
  if (roots_.empty()) return EmptyRoot();
  // Fold right to left: the smaller subtrees hang off the larger ones.
  Hash h = roots_.back();
  for (size_t i = roots_.size() - 1; i-- > 0;) h = NodeHash(roots_[i], h);
  return h;
}

Hash RootOf(const std::vector<Hash>& leaves, uint64_t begin, uint64_t end) {
  uint64_t n = end - begin;
  if (n == 0) return EmptyRoot();
  if (n == 1) return leaves[begin];
  uint64_t k = Split(n);
  return NodeHash(RootOf(leaves, begin, begin + k), RootOf(leaves, begin + k, end));
}

namespace {

void Path(const std::vector<Hash>& leaves, uint64_t m, uint64_t begin, uint64_t end,
          std::vector<Hash>* out) {
  uint64_t n = end - begin;
  if (n <= 1) return;
  uint64_t k = Split(n);
  if (m < k) {
    Path(leaves, m, begin, begin + k, out);
    out->push_back(RootOf(leaves, begin + k, end));
  } else {
    Path(leaves, m - k, begin + k, end, out);
    out->push_back(RootOf(leaves, begin, begin + k));
  }
}

}  // namespace

std::vector<Hash> InclusionProof(const std::vector<Hash>& leaves, uint64_t index, uint64_t size) {
  std::vector<Hash> out;
  if (index >= size || size > leaves.size()) return out;
  Path(leaves, index, 0, size, &out);
  return out;
}

bool VerifyInclusion(const Hash& leaf, uint64_t index, uint64_t size,
                     const std::vector<Hash>& proof, const Hash& root) {
  // RFC 9162 2.1.3.2.
  if (index >= size) return false;
  uint64_t fn = index, sn = size - 1;
  Hash r = leaf;
  for (const Hash& p : proof) {
    if (sn == 0) return false;
    if ((fn & 1) || fn == sn) {
      r = NodeHash(p, r);
      if (!(fn & 1)) {
        while (fn != 0 && !(fn & 1)) {
          fn >>= 1;
          sn >>= 1;
        }
      }
    } else {
      r = NodeHash(r, p);
    }
    fn >>= 1;
    sn >>= 1;
  }
  return sn == 0 && r == root;
}

}  // namespace hopgate::audit
