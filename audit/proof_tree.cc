#include "audit/proof_tree.h"

namespace hopgate::audit {
namespace {

// The largest power of two smaller than n (n > 1).
uint64_t Split(uint64_t n) {
  uint64_t k = 1;
  while (k << 1 < n) k <<= 1;
  return k;
}

}  // namespace

ProofTree::ProofTree(std::string leaves) : size_(leaves.size() / 32) {
  levels_.push_back(std::move(leaves));
  while (levels_.back().size() >= 64) {
    const std::string& below = levels_.back();
    std::string level;
    level.reserve(below.size() / 2);
    for (size_t i = 0; i + 64 <= below.size(); i += 64) {
      level += NodeHash(std::string_view(below).substr(i, 32), std::string_view(below).substr(i + 32, 32));
    }
    levels_.push_back(std::move(level));
  }
}

Hash ProofTree::RootOf(uint64_t begin, uint64_t end) const {
  uint64_t n = end - begin;
  if (n == 0) return EmptyRoot();
  if ((n & (n - 1)) == 0 && begin % n == 0) {
    int level = __builtin_ctzll(n);
    return At(level, begin >> level);
  }
  uint64_t k = Split(n);
  return NodeHash(RootOf(begin, begin + k), RootOf(begin + k, end));
}

void ProofTree::Path(uint64_t m, uint64_t begin, uint64_t end, std::vector<Hash>* out) const {
  uint64_t n = end - begin;
  if (n <= 1) return;
  uint64_t k = Split(n);
  if (m < k) {
    Path(m, begin, begin + k, out);
    out->push_back(RootOf(begin + k, end));
  } else {
    Path(m - k, begin + k, end, out);
    out->push_back(RootOf(begin, begin + k));
  }
}

std::vector<Hash> ProofTree::InclusionProof(uint64_t index) const {
  std::vector<Hash> out;
  if (index < size_) Path(index, 0, size_, &out);
  return out;
}

}  // namespace hopgate::audit
