#include "audit/merkle.h"

#include <catch2/catch.hpp>

#include "common/encoding.h"

using namespace hopgate;
using namespace hopgate::audit;

namespace {

std::string Hex(const Hash& h) { return HexEncode(h); }

std::vector<Hash> Leaves(int n) {
  std::vector<Hash> out;
  for (int i = 0; i < n; ++i) out.push_back(LeafHash("entry " + std::to_string(i)));
  return out;
}

}  // namespace

TEST_CASE("roots match RFC 6962's test vectors") {
  // certificate-transparency's reference leaves and roots for sizes 1..8.
  const std::vector<std::string> inputs = {"", "00", "10", "2021", "3031", "40414243",
                                           "5051525354555657",
                                           "606162636465666768696a6b6c6d6e6f"};
  const std::vector<std::string> roots = {
      "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
      "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
      "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
      "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
      "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
      "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
      "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
      "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"};
  CHECK(Hex(EmptyRoot()) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  TreeState t;
  std::vector<Hash> leaves;
  for (size_t i = 0; i < inputs.size(); ++i) {
    auto bytes = HexDecode(inputs[i]);
    REQUIRE(bytes.ok());
    leaves.push_back(LeafHash(*bytes));
    t.Append(leaves.back());
    CHECK(Hex(t.Root()) == roots[i]);
    CHECK(Hex(RootOf(leaves)) == roots[i]);
  }
}

TEST_CASE("the compact state, the full recomputation and saved parts agree") {
  TreeState t;
  auto leaves = Leaves(70);
  for (int n = 0; n <= 70; ++n) {
    std::vector<Hash> prefix(leaves.begin(), leaves.begin() + n);
    CHECK(t.size() == static_cast<uint64_t>(n));
    CHECK(t.Root() == RootOf(prefix));
    auto again = TreeState::FromParts(t.size(), t.roots());
    REQUIRE(again.ok());
    CHECK(again->Root() == t.Root());
    if (n < 70) t.Append(leaves[n]);
  }
  CHECK_FALSE(TreeState::FromParts(3, {LeafHash("a")}).ok());
}

TEST_CASE("inclusion proofs verify for every leaf and fail for anything else") {
  auto leaves = Leaves(37);
  for (uint64_t size : {1u, 2u, 5u, 8u, 13u, 37u}) {
    Hash root = RootOf(leaves, 0, size);
    for (uint64_t i = 0; i < size; ++i) {
      auto proof = InclusionProof(leaves, i, size);
      CHECK(VerifyInclusion(leaves[i], i, size, proof, root));
      CHECK_FALSE(VerifyInclusion(LeafHash("other"), i, size, proof, root));
      if (size > 1) CHECK_FALSE(VerifyInclusion(leaves[i], (i + 1) % size, size, proof, root));
      if (!proof.empty()) {
        auto bad = proof;
        bad.back()[0] ^= 1;
        CHECK_FALSE(VerifyInclusion(leaves[i], i, size, bad, root));
      }
    }
  }
}
