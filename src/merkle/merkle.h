// Merkle trees with RFC 6962 / RFC 9162 hashing: the proofs behind Vigil's light clients.
//
//   leaf hash  = SHA-256(0x00 || leaf bytes)
//   node hash  = SHA-256(0x01 || left || right)
//   empty tree = SHA-256("")
// A tree of n leaves splits at k, the largest power of two below n (RFC 9162 §2.1.1).
//
// The ledger puts each block's transactions and results into such trees; a device checks a
// transaction from (transaction, inclusion proof, header, commit certificate) alone. A
// consistency proof shows that one tree is a prefix of another (an append-only history).
//
// `Tree` keeps every level of hashes, so proofs cost O(log n) after an O(n) build. The
// verification functions are pure, allocation-light, and take untrusted input.
// Thread-safety: a built Tree is immutable; share it freely.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "codec/codec.h"
#include "common/error.h"
#include "crypto/crypto.h"

namespace vigil::merkle {

using Hash = crypto::Sha256Digest;

Hash HashLeaf(ByteSpan leaf);
Hash HashChildren(const Hash& left, const Hash& right);
Hash EmptyTreeRoot();

struct InclusionProof {
  uint64_t leaf_index = 0;
  uint64_t tree_size = 0;
  std::vector<Hash> path;  // from the leaf's sibling up to the root's child
  friend bool operator==(const InclusionProof&, const InclusionProof&) = default;
};

class Tree {
 public:
  static Tree FromLeaves(std::span<const Bytes> leaves);
  static Tree FromLeafHashes(std::vector<Hash> leaf_hashes);

  uint64_t size() const { return levels_.empty() ? 0 : levels_[0].size(); }
  Hash Root() const;
  // Root of the tree made of the first `size` leaves (size <= this->size()).
  Expected<Hash> RootAtSize(uint64_t size) const;

  Expected<InclusionProof> ProveInclusion(uint64_t leaf_index) const;
  // Proves that the tree of the first `old_size` leaves is a prefix of this tree.
  Expected<std::vector<Hash>> ProveConsistency(uint64_t old_size) const;

 private:
  explicit Tree(std::vector<Hash> leaf_hashes);
  // MTH(D[begin:end]) of RFC 9162 §2.1.1, using stored levels for complete subtrees.
  Hash SubtreeRoot(uint64_t begin, uint64_t end) const;
  void SubProof(uint64_t m, uint64_t begin, uint64_t end, bool whole_old_tree,
                std::vector<Hash>& proof) const;

  // levels_[0] are leaf hashes; levels_[h][i] covers leaves [i * 2^h, (i + 1) * 2^h) when
  // that range is complete. A level with an odd count promotes its last node unhashed.
  std::vector<std::vector<Hash>> levels_;
};

// RFC 9162 §2.1.3.2. Fails with a message that says which check did not hold.
Status VerifyInclusion(const Hash& leaf_hash, const InclusionProof& proof, const Hash& root);
// Recomputes the root an inclusion proof implies (for callers that look the root up).
Expected<Hash> RootFromInclusionProof(const Hash& leaf_hash, const InclusionProof& proof);

// RFC 9162 §2.1.4.2. old_size == 0 is consistent with anything (empty proof required);
// old_size == new_size requires equal roots and an empty proof.
Status VerifyConsistency(uint64_t old_size, uint64_t new_size, const Hash& old_root,
                         const Hash& new_root, std::span<const Hash> proof);

// Canonical encoding (docs/encoding.md): u64 leaf_index, u64 tree_size, vector<hash> path.
void EncodeInclusionProof(codec::Encoder& encoder, const InclusionProof& proof);
Expected<InclusionProof> DecodeInclusionProof(codec::Decoder& decoder);

}  // namespace vigil::merkle
