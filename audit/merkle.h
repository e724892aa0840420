// The audit log's Merkle tree, hashed as RFC 6962 / RFC 9162 (Certificate
// Transparency) do: leaf = SHA-256(0x00 || entry), node = SHA-256(0x01 ||
// left || right), over the largest power-of-two split. Pure functions and
// values: no files, no clock, no threads.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace hopgate::audit {

using Hash = std::string;  // 32 raw bytes

Hash LeafHash(std::string_view entry);
Hash NodeHash(std::string_view left, std::string_view right);
// The root of the empty tree: SHA-256 of nothing.
Hash EmptyRoot();

// An append-only tree kept as the roots of its perfect subtrees (a "compact
// range" from 0): O(log n) memory, O(1) amortised per leaf. What the writer
// keeps and saves; enough to continue the tree after a restart.
class TreeState {
 public:
  TreeState() = default;
  // From a saved size and subtree roots (largest first); refused if the
  // number of roots does not match the size's bits.
  static Result<TreeState> FromParts(uint64_t size, std::vector<Hash> roots);

  void Append(const Hash& leaf);
  uint64_t size() const { return size_; }
  Hash Root() const;
  // Subtree roots, largest (leftmost) first: one per set bit of size().
  const std::vector<Hash>& roots() const { return roots_; }

 private:
  uint64_t size_ = 0;
  std::vector<Hash> roots_;
};

// MTH(D[0:n]) over every leaf hash given (RFC 9162 2.1.1).
Hash RootOf(const std::vector<Hash>& leaves, uint64_t begin, uint64_t end);
inline Hash RootOf(const std::vector<Hash>& leaves) { return RootOf(leaves, 0, leaves.size()); }

// The audit path of leaf `index` in the tree of the first `size` leaves
// (RFC 9162 2.1.3.1), and its check (2.1.3.2).
std::vector<Hash> InclusionProof(const std::vector<Hash>& leaves, uint64_t index, uint64_t size);
bool VerifyInclusion(const Hash& leaf, uint64_t index, uint64_t size,
                     const std::vector<Hash>& proof, const Hash& root);

}  // namespace hopgate::audit
