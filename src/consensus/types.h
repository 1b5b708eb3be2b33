// The consensus vocabulary: validator sets, votes, proposals, commit certificates, evidence.
//
// These are the values that Tendermint consensus (docs/consensus.md; Buchman, Kwon, Milosevic,
// "The latest gossip on BFT consensus", arXiv 1807.04938, Algorithm 1) exchanges and that the
// ledger stores next to its blocks. Every one of them has one canonical encoding
// (docs/encoding.md) with strict, size-limited decoding, and what is signed is a
// domain-separated encoding that names the chain, so a signature for one chain or one purpose
// can never be replayed as another.
//
// A "value" is the opaque byte string consensus agrees on (for the ledger, an encoded block);
// its id is SHA-256 of those bytes. Votes carry only the id; proposals carry the bytes.
//
// The light client verifies a committed block with `VerifyCommitCertificate` alone.
//
// Thread-safety: plain value types and pure functions.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "codec/codec.h"
#include "common/bytes.h"
#include "common/error.h"
#include "common/limits.h"
#include "crypto/crypto.h"

namespace vigil::consensus {

using crypto::PublicKey;
using crypto::Sha256Digest;
using crypto::Signature;

// SHA-256 of a proposed value: what votes and certificates name.
using ValueId = Sha256Digest;
ValueId ComputeValueId(ByteSpan value);

// Refuses an empty chain id, one longer than limits::kConsensusChainIdBytesMax, or invalid UTF-8.
Status CheckChainId(std::string_view chain_id);

// --- Validator set ---

struct Validator {
  PublicKey public_key{};
  uint64_t voting_power = 0;
  friend bool operator==(const Validator&, const Validator&) = default;
};

// The validators of one height, sorted by public key (so the order, the indexes votes carry and
// the encoding are the same on every node whatever order the validators were listed in).
class ValidatorSet {
 public:
  // Sorts by public key. Refuses an empty set, more than kConsensusValidatorsMax validators,
  // a duplicate key, zero voting power, or a total above kConsensusTotalVotingPowerMax.
  static Expected<ValidatorSet> Create(std::vector<Validator> validators);

  size_t size() const { return validators_.size(); }
  const Validator& at(uint32_t index) const;
  const std::vector<Validator>& validators() const { return validators_; }
  uint64_t total_voting_power() const { return total_voting_power_; }
  std::optional<uint32_t> IndexOf(const PublicKey& public_key) const;

  // "2f+1" of the paper with weights: strictly more than 2/3 of the total voting power.
  bool IsQuorum(uint64_t voting_power) const { return 3 * voting_power > 2 * total_voting_power_; }
  // "f+1" of the paper with weights: strictly more than 1/3 of the total voting power, so at
  // least one correct validator is among them.
  bool ExceedsOneThird(uint64_t voting_power) const {
    return 3 * voting_power > total_voting_power_;
  }

  // vector<{fixed[32] public_key, u64 voting_power}>, sorted by key, no duplicates.
  void EncodeTo(codec::Encoder& encoder) const;
  Bytes Encode() const;
  static Expected<ValidatorSet> DecodeFrom(codec::Decoder& decoder);
  static Expected<ValidatorSet> Decode(ByteSpan bytes);
  // SHA-256 of Encode(): what a block header or a device's enrollment names.
  Sha256Digest Hash() const;

  friend bool operator==(const ValidatorSet&, const ValidatorSet&) = default;

 private:
  std::vector<Validator> validators_;
  uint64_t total_voting_power_ = 0;
};

// --- Votes ---

// DO NOT CHANGE the numeric values: they are signed and stored.
enum class VoteType : uint8_t {
  kPrevote = 1,
  kPrecommit = 2,
};
std::string_view VoteTypeName(VoteType type);

struct Vote {
  VoteType type = VoteType::kPrevote;
  uint64_t height = 0;
  uint32_t round = 0;
  std::optional<ValueId> value_id;  // absent = nil
  uint32_t validator_index = 0;     // index in the height's ValidatorSet
  Signature signature{};
  friend bool operator==(const Vote&, const Vote&) = default;
};

// string "vigil.consensus.vote.v1", string chain_id, u8 type, u64 height, u32 round,
// optional<fixed[32]> value_id. The validator index is not signed: the key is the identity.
Bytes VoteSignBytes(std::string_view chain_id, const Vote& vote);
// Checks the index against the set and the signature against that validator's key.
Status VerifyVote(const ValidatorSet& validators, std::string_view chain_id, const Vote& vote);

// --- Proposals ---

struct Proposal {
  uint64_t height = 0;
  uint32_t round = 0;
  Bytes value;
  // The paper's validRound: the round in which the proposer saw 2f+1 prevotes for this value
  // (absent = -1, Algorithm 1 line 19).
  std::optional<uint32_t> valid_round;
  uint32_t proposer_index = 0;
  Signature signature{};
  friend bool operator==(const Proposal&, const Proposal&) = default;
};

// string "vigil.consensus.proposal.v1", string chain_id, u64 height, u32 round,
// fixed[32] id(value), optional<u32> valid_round. The value enters through its id, so a
// receiver hashes a large value once.
Bytes ProposalSignBytes(std::string_view chain_id, const Proposal& proposal);
Bytes ProposalSignBytes(std::string_view chain_id, const Proposal& proposal, const ValueId& id);
Status VerifyProposal(const ValidatorSet& validators, std::string_view chain_id,
                      const Proposal& proposal);
// As above for an application whose value id is not SHA-256 of the value (ValueSource::IdOf).
Status VerifyProposal(const ValidatorSet& validators, std::string_view chain_id,
                      const Proposal& proposal, const ValueId& id);

// --- Commit certificates ---

struct CommitSignature {
  uint32_t validator_index = 0;
  Signature signature{};  // over the precommit for (height, round, value_id)
  friend bool operator==(const CommitSignature&, const CommitSignature&) = default;
};

// Proof that a value was decided at a height: precommits of more than 2/3 of the voting power
// for (height, round, value_id). Signatures are sorted by validator index, without duplicates.
struct CommitCertificate {
  uint64_t height = 0;
  uint32_t round = 0;
  ValueId value_id{};
  std::vector<CommitSignature> signatures;
  friend bool operator==(const CommitCertificate&, const CommitCertificate&) = default;
};

// Succeeds only if `certificate` is for `height` and `value_id`, its indexes are in the set,
// strictly increasing, every signature is a valid precommit by that validator, and together
// they hold more than 2/3 of the set's voting power. Each failure says which.
Status VerifyCommitCertificate(const ValidatorSet& validators, std::string_view chain_id,
                               uint64_t height, const ValueId& value_id,
                               const CommitCertificate& certificate);
// As above with the signature check supplied (consensus injects a verifier so a simulator can
// cache results); `verify` must behave as crypto::Verify.
using VerifyFunction =
    std::function<bool(const PublicKey& key, ByteSpan message, const Signature& signature)>;
Status VerifyCommitCertificate(const ValidatorSet& validators, std::string_view chain_id,
                               uint64_t height, const ValueId& value_id,
                               const CommitCertificate& certificate, const VerifyFunction& verify);

// --- Evidence ---

// Two votes by one validator for the same type, height and round naming different values:
// proof that the validator is Byzantine. Canonical order: `first` has the smaller encoded
// value id (nil sorts first).
struct Evidence {
  Vote first;
  Vote second;
  friend bool operator==(const Evidence&, const Evidence&) = default;
};
// Orders two conflicting votes canonically. Asserts they conflict.
Evidence MakeEvidence(const Vote& one, const Vote& other);
// Structural conflict (decoder checks this too) and both signatures valid.
Status VerifyEvidence(const ValidatorSet& validators, std::string_view chain_id,
                      const Evidence& evidence);

// --- Commit message: a decided value with its certificate, for nodes that fell behind ---

struct Commit {
  Bytes value;
  CommitCertificate certificate;
  friend bool operator==(const Commit&, const Commit&) = default;
};

// --- Wire message ---

// DO NOT CHANGE the numeric values: they travel on the wire.
enum class MessageKind : uint8_t {
  kProposal = 1,
  kVote = 2,
  kEvidence = 3,
  kCommit = 4,
};

// u8 kind, then the body.
using Message = std::variant<Proposal, Vote, Evidence, Commit>;
uint64_t MessageHeight(const Message& message);

// --- Encoding (docs/consensus.md#encoding) ---

void EncodeVote(codec::Encoder& encoder, const Vote& vote);
Expected<Vote> DecodeVote(codec::Decoder& decoder);
void EncodeProposal(codec::Encoder& encoder, const Proposal& proposal);
Expected<Proposal> DecodeProposal(codec::Decoder& decoder);
void EncodeCommitCertificate(codec::Encoder& encoder, const CommitCertificate& certificate);
Expected<CommitCertificate> DecodeCommitCertificate(codec::Decoder& decoder);
void EncodeEvidence(codec::Encoder& encoder, const Evidence& evidence);
Expected<Evidence> DecodeEvidence(codec::Decoder& decoder);
void EncodeCommit(codec::Encoder& encoder, const Commit& commit);
Expected<Commit> DecodeCommit(codec::Decoder& decoder);

Bytes EncodeMessage(const Message& message);
// Whole-message decode: refuses trailing bytes and inputs above kConsensusMessageBytesMax.
Expected<Message> DecodeMessage(ByteSpan bytes);

// Standalone forms (exactly one value, no trailing bytes), for storage and the light client.
Bytes EncodeCommitCertificate(const CommitCertificate& certificate);
Expected<CommitCertificate> DecodeCommitCertificate(ByteSpan bytes);

}  // namespace vigil::consensus
