#include "merkle/merkle.h"

#include <bit>
#include <string>

#include "common/assert.h"
#include "common/limits.h"

namespace vigil::merkle {
namespace {

constexpr uint8_t kLeafPrefix = 0x00;
constexpr uint8_t kNodePrefix = 0x01;

// Largest power of two strictly below n (n >= 2), the RFC's split point k.
uint64_t SplitPoint(uint64_t n) {
  VIGIL_ASSERT(n >= 2);
  return std::bit_floor(n - 1);
}

Error ProofError(std::string message) {
  return Error(ErrorCode::kUnauthenticated, std::move(message));
}

}  // namespace

Hash HashLeaf(ByteSpan leaf) {
  crypto::Sha256Hasher hasher;
  const uint8_t prefix = kLeafPrefix;
  hasher.Update(ByteSpan(&prefix, 1));
  hasher.Update(leaf);
  return hasher.Finish();
}

Hash HashChildren(const Hash& left, const Hash& right) {
  std::array<uint8_t, 1 + 2 * sizeof(Hash)> buffer;
  buffer[0] = kNodePrefix;
  std::copy(left.begin(), left.end(), buffer.begin() + 1);
  std::copy(right.begin(), right.end(), buffer.begin() + 1 + sizeof(Hash));
  return crypto::Sha256(buffer);
}

Hash EmptyTreeRoot() { return crypto::Sha256(ByteSpan()); }

Tree Tree::FromLeaves(std::span<const Bytes> leaves) {
  std::vector<Hash> leaf_hashes;
  leaf_hashes.reserve(leaves.size());
  for (const Bytes& leaf : leaves) leaf_hashes.push_back(HashLeaf(leaf));
  return Tree(std::move(leaf_hashes));
}

Tree Tree::FromLeafHashes(std::vector<Hash> leaf_hashes) { return Tree(std::move(leaf_hashes)); }

Tree::Tree(std::vector<Hash> leaf_hashes) {
  if (leaf_hashes.empty()) return;
  levels_.push_back(std::move(leaf_hashes));
  while (levels_.back().size() > 1) {
    const std::vector<Hash>& below = levels_.back();
    std::vector<Hash> level;
    level.reserve((below.size() + 1) / 2);
    for (size_t i = 0; i + 1 < below.size(); i += 2) {
      level.push_back(HashChildren(below[i], below[i + 1]));
    }
    // An odd last node is promoted: it is the root of the right, incomplete subtree.
    if (below.size() % 2 == 1) level.push_back(below.back());
    levels_.push_back(std::move(level));
  }
}

Hash Tree::Root() const { return levels_.empty() ? EmptyTreeRoot() : levels_.back()[0]; }

Expected<Hash> Tree::RootAtSize(uint64_t tree_size) const {
  if (tree_size > size()) {
    return Fail(ErrorCode::kInvalidArgument, "tree has " + std::to_string(size()) +
                                                 " leaves; no root at size " +
                                                 std::to_string(tree_size));
  }
  if (tree_size == 0) return EmptyTreeRoot();
  return SubtreeRoot(0, tree_size);
}

Hash Tree::SubtreeRoot(uint64_t begin, uint64_t end) const {
  VIGIL_ASSERT(begin < end && end <= size());
  uint64_t count = end - begin;
  // A complete subtree aligned on its size is stored at level log2(count).
  if (std::has_single_bit(count) && begin % count == 0) {
    return levels_[std::countr_zero(count)][begin / count];
  }
  // A subtree that ends at the tree's right edge is stored too (hashed or promoted), when it
  // starts on a boundary of the level that holds it.
  uint64_t height = std::bit_width(count - 1);
  if (end == size() && begin % (uint64_t{1} << height) == 0) {
    return levels_[height][begin >> height];
  }
  uint64_t k = SplitPoint(count);
  return HashChildren(SubtreeRoot(begin, begin + k), SubtreeRoot(begin + k, end));
}

Expected<InclusionProof> Tree::ProveInclusion(uint64_t leaf_index) const {
  if (leaf_index >= size()) {
    return Fail(ErrorCode::kInvalidArgument, "leaf index " + std::to_string(leaf_index) +
                                                 " is outside a tree of " +
                                                 std::to_string(size()) + " leaves");
  }
  InclusionProof proof{.leaf_index = leaf_index, .tree_size = size(), .path = {}};
  uint64_t index = leaf_index;
  for (size_t height = 0; height + 1 < levels_.size(); ++height) {
    uint64_t sibling = index ^ 1;
    // No sibling means this node was promoted: the level above holds it unchanged.
    if (sibling < levels_[height].size()) proof.path.push_back(levels_[height][sibling]);
    index >>= 1;
  }
  return proof;
}

Expected<std::vector<Hash>> Tree::ProveConsistency(uint64_t old_size) const {
  if (old_size > size()) {
    return Fail(ErrorCode::kInvalidArgument, "cannot prove consistency from size " +
                                                 std::to_string(old_size) + " to the smaller " +
                                                 std::to_string(size()));
  }
  std::vector<Hash> proof;
  if (old_size == 0 || old_size == size()) return proof;
  SubProof(old_size, 0, size(), true, proof);
  return proof;
}

// SUBPROOF(m, D[begin:end], b) of RFC 9162 §2.1.4.1.
void Tree::SubProof(uint64_t m, uint64_t begin, uint64_t end, bool whole_old_tree,
                    std::vector<Hash>& proof) const {
  uint64_t n = end - begin;
  if (m == n) {
    if (!whole_old_tree) proof.push_back(SubtreeRoot(begin, end));
    return;
  }
  uint64_t k = SplitPoint(n);
  if (m <= k) {
    SubProof(m, begin, begin + k, whole_old_tree, proof);
    proof.push_back(SubtreeRoot(begin + k, end));
  } else {
    SubProof(m - k, begin + k, end, false, proof);
    proof.push_back(SubtreeRoot(begin, begin + k));
  }
}

Expected<Hash> RootFromInclusionProof(const Hash& leaf_hash, const InclusionProof& proof) {
  if (proof.leaf_index >= proof.tree_size) {
    return std::unexpected(ProofError("leaf index " + std::to_string(proof.leaf_index) +
                                      " is not below tree size " +
                                      std::to_string(proof.tree_size)));
  }
  if (proof.path.size() > limits::kMerkleProofHashesMax) {
    return std::unexpected(ProofError("inclusion proof has " + std::to_string(proof.path.size()) +
                                      " hashes, more than any tree needs"));
  }
  uint64_t index = proof.leaf_index;
  uint64_t last = proof.tree_size - 1;
  Hash root = leaf_hash;
  for (const Hash& sibling : proof.path) {
    if (last == 0) return std::unexpected(ProofError("inclusion proof is longer than the tree"));
    if ((index & 1) == 1 || index == last) {
      root = HashChildren(sibling, root);
      if ((index & 1) == 0) {
        // Right edge: skip the levels where this node was promoted.
        while ((index & 1) == 0 && index != 0) {
          index >>= 1;
          last >>= 1;
        }
      }
    } else {
      root = HashChildren(root, sibling);
    }
    index >>= 1;
    last >>= 1;
  }
  if (last != 0) return std::unexpected(ProofError("inclusion proof is shorter than the tree"));
  return root;
}

Status VerifyInclusion(const Hash& leaf_hash, const InclusionProof& proof, const Hash& root) {
  VIGIL_ASSIGN_OR_RETURN(Hash computed, RootFromInclusionProof(leaf_hash, proof));
  if (computed != root) {
    return std::unexpected(ProofError("inclusion proof for leaf " +
                                      std::to_string(proof.leaf_index) + " of " +
                                      std::to_string(proof.tree_size) +
                                      " leads to root " + ToHex(computed) + ", not " + ToHex(root)));
  }
  return Ok();
}

Status VerifyConsistency(uint64_t old_size, uint64_t new_size, const Hash& old_root,
                         const Hash& new_root, std::span<const Hash> proof) {
  if (old_size > new_size) {
    return std::unexpected(ProofError("old tree size " + std::to_string(old_size) +
                                      " is larger than new size " + std::to_string(new_size)));
  }
  if (old_size == new_size) {
    if (!proof.empty()) return std::unexpected(ProofError("equal sizes need an empty proof"));
    if (old_root != new_root) {
      return std::unexpected(ProofError("trees of equal size have different roots"));
    }
    return Ok();
  }
  if (old_size == 0) {
    if (!proof.empty()) return std::unexpected(ProofError("an empty old tree needs no proof"));
    return Ok();
  }
  if (proof.empty()) return std::unexpected(ProofError("consistency proof is empty"));
  if (proof.size() > 2 * limits::kMerkleProofHashesMax) {
    return std::unexpected(ProofError("consistency proof has too many hashes"));
  }
  // RFC 9162 §2.1.4.2, steps 2-7.
  size_t next = 0;
  Hash seed = proof[next++];
  if (std::has_single_bit(old_size)) {
    seed = old_root;  // the old tree is a complete subtree: its root starts the path
    next = 0;
  }
  uint64_t old_index = old_size - 1;
  uint64_t new_index = new_size - 1;
  while ((old_index & 1) == 1) {
    old_index >>= 1;
    new_index >>= 1;
  }
  Hash old_hash = seed;
  Hash new_hash = seed;
  for (; next < proof.size(); ++next) {
    const Hash& node = proof[next];
    if (new_index == 0) return std::unexpected(ProofError("consistency proof is too long"));
    if ((old_index & 1) == 1 || old_index == new_index) {
      old_hash = HashChildren(node, old_hash);
      new_hash = HashChildren(node, new_hash);
      while ((old_index & 1) == 0 && old_index != 0) {
        old_index >>= 1;
        new_index >>= 1;
      }
    } else {
      new_hash = HashChildren(new_hash, node);
    }
    old_index >>= 1;
    new_index >>= 1;
  }
  if (new_index != 0) return std::unexpected(ProofError("consistency proof is too short"));
  if (old_hash != old_root) {
    return std::unexpected(ProofError("consistency proof does not lead to the old root"));
  }
  if (new_hash != new_root) {
    return std::unexpected(ProofError("consistency proof does not lead to the new root"));
  }
  return Ok();
}

void EncodeInclusionProof(codec::Encoder& encoder, const InclusionProof& proof) {
  encoder.WriteU64(proof.leaf_index);
  encoder.WriteU64(proof.tree_size);
  encoder.WriteVector(proof.path, [](codec::Encoder& e, const Hash& hash) { e.WriteFixed(hash); });
}

Expected<InclusionProof> DecodeInclusionProof(codec::Decoder& decoder) {
  InclusionProof proof;
  VIGIL_ASSIGN_OR_RETURN(proof.leaf_index, decoder.ReadU64("leaf_index"));
  VIGIL_ASSIGN_OR_RETURN(proof.tree_size, decoder.ReadU64("tree_size"));
  VIGIL_ASSIGN_OR_RETURN(proof.path,
                         decoder.ReadVector("path", limits::kMerkleProofHashesMax,
                                            [](codec::Decoder& d) {
                                              return d.ReadFixed<sizeof(Hash)>("hash");
                                            }));
  return proof;
}

}  // namespace vigil::merkle
