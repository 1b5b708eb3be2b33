// Known answers are the RFC 6962 test tree used by Certificate Transparency implementations
// (eight leaves; roots for every size; inclusion and consistency proofs).
#include "merkle/merkle.h"

#include <gtest/gtest.h>

#include <random>

namespace vigil::merkle {
namespace {

Hash H(std::string_view hex) { return FixedFromHex<32>(hex).value(); }

std::vector<Bytes> TestLeaves() {
  std::vector<Bytes> leaves;
  for (std::string_view hex : {"", "00", "10", "2021", "3031", "40414243", "5051525354555657",
                               "606162636465666768696a6b6c6d6e6f"}) {
    leaves.push_back(FromHex(hex).value());
  }
  return leaves;
}

// Root of the first n leaves, for n = 1..8 (RFC 6962 test tree).
const std::array<std::string_view, 8> kRoots = {
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
};

Tree TreeOfFirst(size_t n) {
  std::vector<Bytes> leaves = TestLeaves();
  leaves.resize(n);
  return Tree::FromLeaves(leaves);
}

TEST(MerkleTest, EmptyTreeRootIsSha256OfNothing) {
  EXPECT_EQ(ToHex(EmptyTreeRoot()),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Tree::FromLeaves({}).Root(), EmptyTreeRoot());
}

TEST(MerkleTest, RootsMatchKnownAnswersForEverySize) {
  for (size_t n = 1; n <= 8; ++n) {
    EXPECT_EQ(ToHex(TreeOfFirst(n).Root()), kRoots[n - 1]) << "size " << n;
    EXPECT_EQ(ToHex(TreeOfFirst(8).RootAtSize(n).value()), kRoots[n - 1]) << "size " << n;
  }
}

struct InclusionVector {
  uint64_t leaf_index;
  uint64_t tree_size;
  std::vector<std::string_view> path;
};

const std::vector<InclusionVector> kInclusionVectors = {
    {0, 8,
     {"96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
      "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"}},
    {5, 8,
     {"bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
      "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
      "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"}},
    {2, 3, {"fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"}},
    {1, 5,
     {"6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
      "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"}},
};

TEST(MerkleTest, InclusionProofsMatchKnownAnswersAndVerify) {
  std::vector<Bytes> leaves = TestLeaves();
  for (const InclusionVector& vector : kInclusionVectors) {
    Tree tree = TreeOfFirst(vector.tree_size);
    InclusionProof proof = tree.ProveInclusion(vector.leaf_index).value();
    std::vector<Hash> expected;
    for (std::string_view hex : vector.path) expected.push_back(H(hex));
    EXPECT_EQ(proof.path, expected) << vector.leaf_index << "/" << vector.tree_size;
    Hash leaf_hash = HashLeaf(leaves[vector.leaf_index]);
    EXPECT_TRUE(VerifyInclusion(leaf_hash, proof, H(kRoots[vector.tree_size - 1])).has_value());
  }
}

// Every corruption of a valid proof must fail (the probes CT implementations use).
TEST(MerkleTest, CorruptedInclusionProofsAreRefused) {
  std::vector<Bytes> leaves = TestLeaves();
  Tree tree = TreeOfFirst(8);
  for (uint64_t index = 0; index < 8; ++index) {
    InclusionProof good = tree.ProveInclusion(index).value();
    Hash leaf_hash = HashLeaf(leaves[index]);
    Hash root = tree.Root();
    ASSERT_TRUE(VerifyInclusion(leaf_hash, good, root).has_value());

    std::vector<InclusionProof> bad;
    for (uint64_t other : {index - 1, index + 1, index ^ 2}) {
      InclusionProof p = good;
      p.leaf_index = other;
      bad.push_back(p);
    }
    // Doubling or halving the size changes the path length. (Size 7 would not: the left
    // leaves of trees of 5..8 leaves have identical paths; the root binds the size.)
    for (uint64_t size : {uint64_t{16}, uint64_t{4}}) {
      InclusionProof p = good;
      p.tree_size = size;
      bad.push_back(p);
    }
    InclusionProof extended = good;
    extended.path.push_back(root);
    bad.push_back(extended);
    InclusionProof prepended = good;
    prepended.path.insert(prepended.path.begin(), root);
    bad.push_back(prepended);
    InclusionProof truncated = good;
    truncated.path.pop_back();
    bad.push_back(truncated);
    for (size_t i = 0; i < good.path.size(); ++i) {
      InclusionProof flipped = good;
      flipped.path[i][0] ^= 8;
      bad.push_back(flipped);
    }
    for (const InclusionProof& p : bad) {
      EXPECT_FALSE(VerifyInclusion(leaf_hash, p, root).has_value())
          << "index " << p.leaf_index << " size " << p.tree_size << " path " << p.path.size();
    }
    EXPECT_FALSE(VerifyInclusion(HashLeaf(AsBytes("WrongLeaf")), good, root).has_value());
    EXPECT_FALSE(VerifyInclusion(leaf_hash, good, EmptyTreeRoot()).has_value());
  }
}

struct ConsistencyVector {
  uint64_t old_size;
  uint64_t new_size;
  std::vector<std::string_view> proof;
};

const std::vector<ConsistencyVector> kConsistencyVectors = {
    {1, 8,
     {"96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
      "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"}},
    {6, 8,
     {"0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
      "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
      "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"}},
    {2, 5,
     {"5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"}},
    {6, 7,
     {"0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
      "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
      "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"}},
};

TEST(MerkleTest, ConsistencyProofsMatchKnownAnswersAndVerify) {
  for (const ConsistencyVector& vector : kConsistencyVectors) {
    Tree tree = TreeOfFirst(vector.new_size);
    std::vector<Hash> proof = tree.ProveConsistency(vector.old_size).value();
    std::vector<Hash> expected;
    for (std::string_view hex : vector.proof) expected.push_back(H(hex));
    EXPECT_EQ(proof, expected) << vector.old_size << "->" << vector.new_size;
    EXPECT_TRUE(VerifyConsistency(vector.old_size, vector.new_size,
                                  H(kRoots[vector.old_size - 1]), H(kRoots[vector.new_size - 1]),
                                  proof)
                    .has_value());
  }
}

TEST(MerkleTest, ConsistencyEdgeCases) {
  Hash a = H(kRoots[0]);
  Hash b = H(kRoots[1]);
  EXPECT_TRUE(VerifyConsistency(0, 0, a, a, {}).has_value());
  EXPECT_FALSE(VerifyConsistency(0, 0, a, b, {}).has_value());
  EXPECT_TRUE(VerifyConsistency(0, 1, a, b, {}).has_value());
  EXPECT_TRUE(VerifyConsistency(1, 1, b, b, {}).has_value());
  EXPECT_FALSE(VerifyConsistency(1, 0, a, b, {}).has_value());  // time travel
  EXPECT_FALSE(VerifyConsistency(1, 2, a, b, {}).has_value());  // empty proof
  std::vector<Hash> one = {EmptyTreeRoot()};
  EXPECT_FALSE(VerifyConsistency(0, 1, a, a, one).has_value());
  EXPECT_FALSE(VerifyConsistency(1, 1, a, a, one).has_value());
}

TEST(MerkleTest, CorruptedConsistencyProofsAreRefused) {
  Tree tree = TreeOfFirst(8);
  for (uint64_t old_size = 1; old_size < 8; ++old_size) {
    for (uint64_t new_size = old_size + 1; new_size <= 8; ++new_size) {
      Tree newer = TreeOfFirst(new_size);
      std::vector<Hash> proof = newer.ProveConsistency(old_size).value();
      Hash old_root = H(kRoots[old_size - 1]);
      Hash new_root = H(kRoots[new_size - 1]);
      ASSERT_TRUE(VerifyConsistency(old_size, new_size, old_root, new_root, proof).has_value())
          << old_size << "->" << new_size;
      EXPECT_FALSE(VerifyConsistency(old_size, new_size, new_root, old_root, proof).has_value());
      EXPECT_FALSE(VerifyConsistency(old_size + 1, new_size, old_root, new_root, proof).has_value());
      std::vector<Hash> longer = proof;
      longer.push_back(new_root);
      EXPECT_FALSE(VerifyConsistency(old_size, new_size, old_root, new_root, longer).has_value());
      std::vector<Hash> shorter(proof.begin(), proof.end() - 1);
      EXPECT_FALSE(VerifyConsistency(old_size, new_size, old_root, new_root, shorter).has_value());
      for (size_t i = 0; i < proof.size(); ++i) {
        std::vector<Hash> flipped = proof;
        flipped[i][0] ^= 16;
        EXPECT_FALSE(VerifyConsistency(old_size, new_size, old_root, new_root, flipped).has_value())
            << old_size << "->" << new_size << " flipped " << i;
      }
    }
  }
}

// Reference MTH straight from the RFC's recursive definition, to cross-check the
// level-based tree on sizes the known answers do not cover.
Hash ReferenceRoot(std::span<const Hash> leaves) {
  if (leaves.empty()) return EmptyTreeRoot();
  if (leaves.size() == 1) return leaves[0];
  size_t k = std::bit_floor(leaves.size() - 1);
  return HashChildren(ReferenceRoot(leaves.first(k)), ReferenceRoot(leaves.subspan(k)));
}

TEST(MerkleTest, EveryProofVerifiesForEverySizeUpTo70) {
  std::vector<Hash> leaf_hashes;
  for (uint32_t i = 0; i < 70; ++i) leaf_hashes.push_back(HashLeaf(AsBytes(std::to_string(i))));
  for (size_t size = 1; size <= leaf_hashes.size(); ++size) {
    std::vector<Hash> prefix(leaf_hashes.begin(), leaf_hashes.begin() + size);
    Tree tree = Tree::FromLeafHashes(prefix);
    ASSERT_EQ(tree.Root(), ReferenceRoot(prefix)) << "size " << size;
    for (uint64_t index = 0; index < size; ++index) {
      InclusionProof proof = tree.ProveInclusion(index).value();
      ASSERT_TRUE(VerifyInclusion(prefix[index], proof, tree.Root()).has_value())
          << index << "/" << size;
    }
    for (uint64_t old_size = 0; old_size <= size; ++old_size) {
      Hash old_root = ReferenceRoot(std::span<const Hash>(prefix).first(old_size));
      ASSERT_EQ(tree.RootAtSize(old_size).value(), old_root);
      std::vector<Hash> proof = tree.ProveConsistency(old_size).value();
      ASSERT_TRUE(VerifyConsistency(old_size, size, old_root, tree.Root(), proof).has_value())
          << old_size << "->" << size;
    }
  }
}

TEST(MerkleTest, ProofRequestsOutsideTheTreeAreErrors) {
  Tree tree = TreeOfFirst(5);
  EXPECT_EQ(tree.ProveInclusion(5).error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(tree.ProveConsistency(6).error().code(), ErrorCode::kInvalidArgument);
  EXPECT_FALSE(tree.RootAtSize(6).has_value());
  EXPECT_FALSE(Tree::FromLeaves({}).ProveInclusion(0).has_value());
}

TEST(MerkleTest, InclusionProofRoundTripsThroughTheCanonicalEncoding) {
  InclusionProof proof = TreeOfFirst(7).ProveInclusion(3).value();
  codec::Encoder encoder;
  EncodeInclusionProof(encoder, proof);
  auto decoded = codec::DecodeExactly(encoder.bytes(), DecodeInclusionProof);
  ASSERT_TRUE(decoded.has_value()) << decoded.error().ToString();
  EXPECT_EQ(*decoded, proof);
}

TEST(MerkleTest, DecodingRefusesOverlongPaths) {
  codec::Encoder encoder;
  encoder.WriteU64(0);
  encoder.WriteU64(1);
  encoder.WriteU32(limits::kMerkleProofHashesMax + 1);
  auto decoded = codec::DecodeExactly(encoder.bytes(), DecodeInclusionProof);
  ASSERT_FALSE(decoded.has_value());
  EXPECT_NE(decoded.error().message().find("over its limit"), std::string::npos);
}

}  // namespace
}  // namespace vigil::merkle
