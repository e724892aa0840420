// Inclusion proofs for many leaves of one large tree: every perfect subtree's
// hash kept level by level (about twice the leaves' memory), so a root or an
// RFC 9162 audit path costs O(log n) hashes instead of merkle.h's O(n). Used
// to export bundles from a log of millions of lines. Pure; not thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "audit/merkle.h"

namespace hopgate::audit {

class ProofTree {
 public:
  // `leaves`: the leaf hashes, 32 bytes each, back to back.
  explicit ProofTree(std::string leaves);
  uint64_t size() const { return size_; }
  // MTH(D[begin:end]).
  Hash RootOf(uint64_t begin, uint64_t end) const;
  Hash Root() const { return RootOf(0, size_); }
  // The audit path of leaf `index` in the tree of all leaves (RFC 9162 2.1.3.1).
  std::vector<Hash> InclusionProof(uint64_t index) const;

 private:
  Hash At(int level, uint64_t i) const { return levels_[level].substr(i * 32, 32); }
  void Path(uint64_t m, uint64_t begin, uint64_t end, std::vector<Hash>* out) const;

  uint64_t size_;
  std::vector<std::string> levels_;  // levels_[h]: perfect subtrees of 2^h leaves, in order
};

}  // namespace hopgate::audit
