#include "consensus/types.h"

#include <algorithm>

namespace vigil::consensus {
namespace {

// Domain-separation prefixes (docs/encoding.md, "what is signed"). DO NOT CHANGE.
constexpr std::string_view kVoteDomain = "vigil.consensus.vote.v1";
constexpr std::string_view kProposalDomain = "vigil.consensus.proposal.v1";

std::unexpected<Error> Corrupt(std::string message) {
  return Fail(ErrorCode::kCorruption, std::move(message));
}

void WriteValueId(codec::Encoder& encoder, const ValueId& id) { encoder.WriteFixed(id); }

Expected<ValueId> ReadValueId(codec::Decoder& decoder) {
  return decoder.ReadFixed<limits::kSha256DigestBytes>("value_id");
}

void WriteOptionalValueId(codec::Encoder& encoder, const std::optional<ValueId>& id) {
  encoder.WriteOptional(id, WriteValueId);
}

Expected<uint32_t> ReadRound(codec::Decoder& decoder, std::string_view field) {
  VIGIL_ASSIGN_OR_RETURN(uint32_t round, decoder.ReadU32(field));
  if (round > limits::kConsensusRoundMax) {
    return Corrupt(std::string(field) + " " + std::to_string(round) + " exceeds the limit of " +
                   std::to_string(limits::kConsensusRoundMax));
  }
  return round;
}

// Encoded value id order: nil (tag 0) before any id, ids in byte order.
bool ValueIdLess(const std::optional<ValueId>& left, const std::optional<ValueId>& right) {
  if (!left.has_value() || !right.has_value()) return !left.has_value() && right.has_value();
  return *left < *right;
}

std::string ValidatorLabel(uint32_t index) { return "validator " + std::to_string(index); }

}  // namespace

ValueId ComputeValueId(ByteSpan value) { return crypto::Sha256(value); }

Status CheckChainId(std::string_view chain_id) {
  if (chain_id.empty() || chain_id.size() > limits::kConsensusChainIdBytesMax ||
      !codec::IsValidUtf8(chain_id)) {
    return Fail(ErrorCode::kInvalidArgument,
                "chain id must be 1 to " + std::to_string(limits::kConsensusChainIdBytesMax) +
                    " bytes of UTF-8, got " + std::to_string(chain_id.size()) + " bytes");
  }
  return Ok();
}

// --- ValidatorSet ---

Expected<ValidatorSet> ValidatorSet::Create(std::vector<Validator> validators) {
  if (validators.empty()) {
    return Fail(ErrorCode::kInvalidArgument, "a validator set needs at least one validator");
  }
  if (validators.size() > limits::kConsensusValidatorsMax) {
    return Fail(ErrorCode::kInvalidArgument, std::to_string(validators.size()) +
                                                 " validators exceed the limit of " +
                                                 std::to_string(limits::kConsensusValidatorsMax));
  }
  std::sort(validators.begin(), validators.end(),
            [](const Validator& a, const Validator& b) { return a.public_key < b.public_key; });
  ValidatorSet set;
  for (size_t i = 0; i < validators.size(); ++i) {
    const Validator& validator = validators[i];
    if (i > 0 && validators[i - 1].public_key == validator.public_key) {
      return Fail(ErrorCode::kInvalidArgument,
                  "validator key " + ToHex(validator.public_key) + " is listed twice");
    }
    if (validator.voting_power == 0) {
      return Fail(ErrorCode::kInvalidArgument,
                  "validator " + ToHex(validator.public_key) + " has zero voting power");
    }
    if (validator.voting_power > limits::kConsensusTotalVotingPowerMax - set.total_voting_power_) {
      return Fail(ErrorCode::kInvalidArgument,
                  "total voting power exceeds the limit of " +
                      std::to_string(limits::kConsensusTotalVotingPowerMax));
    }
    set.total_voting_power_ += validator.voting_power;
  }
  set.validators_ = std::move(validators);
  return set;
}

const Validator& ValidatorSet::at(uint32_t index) const {
  VIGIL_ASSERT(index < validators_.size());
  return validators_[index];
}

std::optional<uint32_t> ValidatorSet::IndexOf(const PublicKey& public_key) const {
  auto found = std::lower_bound(
      validators_.begin(), validators_.end(), public_key,
      [](const Validator& validator, const PublicKey& key) { return validator.public_key < key; });
  if (found == validators_.end() || found->public_key != public_key) return std::nullopt;
  return static_cast<uint32_t>(found - validators_.begin());
}

void ValidatorSet::EncodeTo(codec::Encoder& encoder) const {
  encoder.WriteVector(validators_, [](codec::Encoder& out, const Validator& validator) {
    out.WriteFixed(validator.public_key);
    out.WriteU64(validator.voting_power);
  });
}

Bytes ValidatorSet::Encode() const {
  codec::Encoder encoder;
  EncodeTo(encoder);
  return std::move(encoder).Take();
}

Expected<ValidatorSet> ValidatorSet::DecodeFrom(codec::Decoder& decoder) {
  VIGIL_ASSIGN_OR_RETURN(
      std::vector<Validator> validators,
      decoder.ReadVector(
          "validators", limits::kConsensusValidatorsMax,
          [](codec::Decoder& in) -> Expected<Validator> {
            Validator validator;
            VIGIL_ASSIGN_OR_RETURN(validator.public_key,
                                   in.ReadFixed<limits::kEd25519PublicKeyBytes>("public_key"));
            VIGIL_ASSIGN_OR_RETURN(validator.voting_power, in.ReadU64("voting_power"));
            return validator;
          }));
  // Canonical form: strictly sorted by key (Create would silently sort, so check first).
  for (size_t i = 1; i < validators.size(); ++i) {
    if (!(validators[i - 1].public_key < validators[i].public_key)) {
      return Corrupt("validators are not strictly sorted by public key at index " +
                     std::to_string(i));
    }
  }
  auto set = Create(std::move(validators));
  if (!set) return Corrupt(set.error().message());
  return set;
}

Expected<ValidatorSet> ValidatorSet::Decode(ByteSpan bytes) {
  return codec::DecodeExactly(bytes, [](codec::Decoder& in) { return DecodeFrom(in); });
}

Sha256Digest ValidatorSet::Hash() const { return crypto::Sha256(Encode()); }

// --- Votes ---

std::string_view VoteTypeName(VoteType type) {
  switch (type) {
    case VoteType::kPrevote:
      return "prevote";
    case VoteType::kPrecommit:
      return "precommit";
  }
  return "unknown";
}

Bytes VoteSignBytes(std::string_view chain_id, const Vote& vote) {
  codec::Encoder encoder;
  encoder.WriteString(kVoteDomain);
  encoder.WriteString(chain_id);
  encoder.WriteU8(static_cast<uint8_t>(vote.type));
  encoder.WriteU64(vote.height);
  encoder.WriteU32(vote.round);
  WriteOptionalValueId(encoder, vote.value_id);
  return std::move(encoder).Take();
}

Status VerifyVote(const ValidatorSet& validators, std::string_view chain_id, const Vote& vote) {
  if (vote.validator_index >= validators.size()) {
    return Fail(ErrorCode::kUnauthenticated, std::string(VoteTypeName(vote.type)) + " names " +
                                                 ValidatorLabel(vote.validator_index) +
                                                 " but the set has " +
                                                 std::to_string(validators.size()));
  }
  const PublicKey& key = validators.at(vote.validator_index).public_key;
  if (!crypto::Verify(key, VoteSignBytes(chain_id, vote), vote.signature)) {
    return Fail(ErrorCode::kUnauthenticated,
                "invalid signature on " + std::string(VoteTypeName(vote.type)) + " of " +
                    ValidatorLabel(vote.validator_index) + " at height " +
                    std::to_string(vote.height) + " round " + std::to_string(vote.round));
  }
  return Ok();
}

void EncodeVote(codec::Encoder& encoder, const Vote& vote) {
  encoder.WriteU8(static_cast<uint8_t>(vote.type));
  encoder.WriteU64(vote.height);
  encoder.WriteU32(vote.round);
  WriteOptionalValueId(encoder, vote.value_id);
  encoder.WriteU32(vote.validator_index);
  encoder.WriteFixed(vote.signature);
}

Expected<Vote> DecodeVote(codec::Decoder& decoder) {
  Vote vote;
  VIGIL_ASSIGN_OR_RETURN(uint8_t type, decoder.ReadU8("vote_type"));
  if (type != static_cast<uint8_t>(VoteType::kPrevote) &&
      type != static_cast<uint8_t>(VoteType::kPrecommit)) {
    return Corrupt("unknown vote type " + std::to_string(type));
  }
  vote.type = static_cast<VoteType>(type);
  VIGIL_ASSIGN_OR_RETURN(vote.height, decoder.ReadU64("height"));
  VIGIL_ASSIGN_OR_RETURN(vote.round, ReadRound(decoder, "round"));
  VIGIL_ASSIGN_OR_RETURN(vote.value_id, decoder.ReadOptional("value_id", ReadValueId));
  VIGIL_ASSIGN_OR_RETURN(vote.validator_index, decoder.ReadU32("validator_index"));
  if (vote.validator_index >= limits::kConsensusValidatorsMax) {
    return Corrupt("validator_index " + std::to_string(vote.validator_index) +
                   " exceeds the validator limit");
  }
  VIGIL_ASSIGN_OR_RETURN(vote.signature,
                         decoder.ReadFixed<limits::kEd25519SignatureBytes>("signature"));
  return vote;
}

// --- Proposals ---

Bytes ProposalSignBytes(std::string_view chain_id, const Proposal& proposal, const ValueId& id) {
  codec::Encoder encoder;
  encoder.WriteString(kProposalDomain);
  encoder.WriteString(chain_id);
  encoder.WriteU64(proposal.height);
  encoder.WriteU32(proposal.round);
  encoder.WriteFixed(id);
  encoder.WriteOptional(proposal.valid_round,
                        [](codec::Encoder& out, uint32_t round) { out.WriteU32(round); });
  return std::move(encoder).Take();
}

Bytes ProposalSignBytes(std::string_view chain_id, const Proposal& proposal) {
  return ProposalSignBytes(chain_id, proposal, ComputeValueId(proposal.value));
}

Status VerifyProposal(const ValidatorSet& validators, std::string_view chain_id,
                      const Proposal& proposal) {
  return VerifyProposal(validators, chain_id, proposal, ComputeValueId(proposal.value));
}

Status VerifyProposal(const ValidatorSet& validators, std::string_view chain_id,
                      const Proposal& proposal, const ValueId& id) {
  if (proposal.proposer_index >= validators.size()) {
    return Fail(ErrorCode::kUnauthenticated,
                "proposal names " + ValidatorLabel(proposal.proposer_index) + " but the set has " +
                    std::to_string(validators.size()));
  }
  const PublicKey& key = validators.at(proposal.proposer_index).public_key;
  if (!crypto::Verify(key, ProposalSignBytes(chain_id, proposal, id), proposal.signature)) {
    return Fail(ErrorCode::kUnauthenticated, "invalid signature on the proposal of " +
                                                 ValidatorLabel(proposal.proposer_index) +
                                                 " at height " + std::to_string(proposal.height) +
                                                 " round " + std::to_string(proposal.round));
  }
  return Ok();
}

void EncodeProposal(codec::Encoder& encoder, const Proposal& proposal) {
  encoder.WriteU64(proposal.height);
  encoder.WriteU32(proposal.round);
  encoder.WriteBytes(proposal.value);
  encoder.WriteOptional(proposal.valid_round,
                        [](codec::Encoder& out, uint32_t round) { out.WriteU32(round); });
  encoder.WriteU32(proposal.proposer_index);
  encoder.WriteFixed(proposal.signature);
}

Expected<Proposal> DecodeProposal(codec::Decoder& decoder) {
  Proposal proposal;
  VIGIL_ASSIGN_OR_RETURN(proposal.height, decoder.ReadU64("height"));
  VIGIL_ASSIGN_OR_RETURN(proposal.round, ReadRound(decoder, "round"));
  VIGIL_ASSIGN_OR_RETURN(proposal.value,
                         decoder.ReadBytes("value", limits::kConsensusValueBytesMax));
  VIGIL_ASSIGN_OR_RETURN(proposal.valid_round,
                         decoder.ReadOptional("valid_round", [](codec::Decoder& in) {
                           return ReadRound(in, "valid_round");
                         }));
  // Line 28: a valid round is always an earlier round of the same height.
  if (proposal.valid_round.has_value() && *proposal.valid_round >= proposal.round) {
    return Corrupt("valid_round " + std::to_string(*proposal.valid_round) +
                   " is not below the proposal's round " + std::to_string(proposal.round));
  }
  VIGIL_ASSIGN_OR_RETURN(proposal.proposer_index, decoder.ReadU32("proposer_index"));
  if (proposal.proposer_index >= limits::kConsensusValidatorsMax) {
    return Corrupt("proposer_index " + std::to_string(proposal.proposer_index) +
                   " exceeds the validator limit");
  }
  VIGIL_ASSIGN_OR_RETURN(proposal.signature,
                         decoder.ReadFixed<limits::kEd25519SignatureBytes>("signature"));
  return proposal;
}

// --- Commit certificates ---

Status VerifyCommitCertificate(const ValidatorSet& validators, std::string_view chain_id,
                               uint64_t height, const ValueId& value_id,
                               const CommitCertificate& certificate) {
  return VerifyCommitCertificate(
      validators, chain_id, height, value_id, certificate,
      [](const PublicKey& key, ByteSpan message, const Signature& signature) {
        return crypto::Verify(key, message, signature);
      });
}

Status VerifyCommitCertificate(const ValidatorSet& validators, std::string_view chain_id,
                               uint64_t height, const ValueId& value_id,
                               const CommitCertificate& certificate, const VerifyFunction& verify) {
  if (certificate.height != height) {
    return Fail(ErrorCode::kUnauthenticated, "commit certificate is for height " +
                                                 std::to_string(certificate.height) +
                                                 ", expected " + std::to_string(height));
  }
  if (certificate.value_id != value_id) {
    return Fail(ErrorCode::kUnauthenticated,
                "commit certificate at height " + std::to_string(height) + " is for value " +
                    ToHex(certificate.value_id) + ", expected " + ToHex(value_id));
  }
  Vote precommit{.type = VoteType::kPrecommit,
                 .height = certificate.height,
                 .round = certificate.round,
                 .value_id = certificate.value_id};
  const Bytes sign_bytes = VoteSignBytes(chain_id, precommit);
  uint64_t power = 0;
  for (size_t i = 0; i < certificate.signatures.size(); ++i) {
    const CommitSignature& entry = certificate.signatures[i];
    if (i > 0 && entry.validator_index <= certificate.signatures[i - 1].validator_index) {
      return Fail(ErrorCode::kUnauthenticated,
                  "commit certificate signatures are not strictly sorted by validator index at "
                  "entry " +
                      std::to_string(i));
    }
    if (entry.validator_index >= validators.size()) {
      return Fail(ErrorCode::kUnauthenticated,
                  "commit certificate names " + ValidatorLabel(entry.validator_index) +
                      " but the set has " + std::to_string(validators.size()));
    }
    const Validator& validator = validators.at(entry.validator_index);
    if (!verify(validator.public_key, sign_bytes, entry.signature)) {
      return Fail(ErrorCode::kUnauthenticated, "commit certificate at height " +
                                                   std::to_string(height) +
                                                   " holds an invalid precommit signature of " +
                                                   ValidatorLabel(entry.validator_index));
    }
    power += validator.voting_power;
  }
  if (!validators.IsQuorum(power)) {
    return Fail(ErrorCode::kUnauthenticated, "commit certificate at height " +
                                                 std::to_string(height) + " carries " +
                                                 std::to_string(power) + " of " +
                                                 std::to_string(validators.total_voting_power()) +
                                                 " voting power; more than 2/3 is required");
  }
  return Ok();
}

void EncodeCommitCertificate(codec::Encoder& encoder, const CommitCertificate& certificate) {
  encoder.WriteU64(certificate.height);
  encoder.WriteU32(certificate.round);
  encoder.WriteFixed(certificate.value_id);
  encoder.WriteVector(certificate.signatures,
                      [](codec::Encoder& out, const CommitSignature& entry) {
                        out.WriteU32(entry.validator_index);
                        out.WriteFixed(entry.signature);
                      });
}

Expected<CommitCertificate> DecodeCommitCertificate(codec::Decoder& decoder) {
  CommitCertificate certificate;
  VIGIL_ASSIGN_OR_RETURN(certificate.height, decoder.ReadU64("height"));
  VIGIL_ASSIGN_OR_RETURN(certificate.round, ReadRound(decoder, "round"));
  VIGIL_ASSIGN_OR_RETURN(certificate.value_id, ReadValueId(decoder));
  VIGIL_ASSIGN_OR_RETURN(
      certificate.signatures,
      decoder.ReadVector(
          "signatures", limits::kConsensusValidatorsMax,
          [](codec::Decoder& in) -> Expected<CommitSignature> {
            CommitSignature entry;
            VIGIL_ASSIGN_OR_RETURN(entry.validator_index, in.ReadU32("validator_index"));
            VIGIL_ASSIGN_OR_RETURN(entry.signature,
                                   in.ReadFixed<limits::kEd25519SignatureBytes>("signature"));
            return entry;
          }));
  for (size_t i = 1; i < certificate.signatures.size(); ++i) {
    if (certificate.signatures[i].validator_index <=
        certificate.signatures[i - 1].validator_index) {
      return Corrupt("commit signatures are not strictly sorted by validator index at entry " +
                     std::to_string(i));
    }
  }
  return certificate;
}

Bytes EncodeCommitCertificate(const CommitCertificate& certificate) {
  codec::Encoder encoder;
  EncodeCommitCertificate(encoder, certificate);
  return std::move(encoder).Take();
}

Expected<CommitCertificate> DecodeCommitCertificate(ByteSpan bytes) {
  return codec::DecodeExactly(bytes,
                              [](codec::Decoder& in) { return DecodeCommitCertificate(in); });
}

// --- Evidence ---

namespace {
// Empty when the two votes are a conflicting pair; otherwise why not.
std::string ConflictProblem(const Vote& one, const Vote& other) {
  if (one.type != other.type) return "votes have different types";
  if (one.height != other.height) return "votes are for different heights";
  if (one.round != other.round) return "votes are for different rounds";
  if (one.validator_index != other.validator_index) return "votes are by different validators";
  if (one.value_id == other.value_id) return "votes name the same value";
  return "";
}
}  // namespace

Evidence MakeEvidence(const Vote& one, const Vote& other) {
  VIGIL_ASSERT(ConflictProblem(one, other).empty());
  if (ValueIdLess(one.value_id, other.value_id)) return Evidence{one, other};
  return Evidence{other, one};
}

Status VerifyEvidence(const ValidatorSet& validators, std::string_view chain_id,
                      const Evidence& evidence) {
  if (std::string problem = ConflictProblem(evidence.first, evidence.second); !problem.empty()) {
    return Fail(ErrorCode::kInvalidArgument, "not evidence of equivocation: " + problem);
  }
  VIGIL_RETURN_IF_ERROR(VerifyVote(validators, chain_id, evidence.first));
  VIGIL_RETURN_IF_ERROR(VerifyVote(validators, chain_id, evidence.second));
  return Ok();
}

void EncodeEvidence(codec::Encoder& encoder, const Evidence& evidence) {
  EncodeVote(encoder, evidence.first);
  EncodeVote(encoder, evidence.second);
}

Expected<Evidence> DecodeEvidence(codec::Decoder& decoder) {
  Evidence evidence;
  VIGIL_ASSIGN_OR_RETURN(evidence.first, DecodeVote(decoder));
  VIGIL_ASSIGN_OR_RETURN(evidence.second, DecodeVote(decoder));
  if (std::string problem = ConflictProblem(evidence.first, evidence.second); !problem.empty()) {
    return Corrupt("evidence is not a conflicting pair: " + problem);
  }
  if (!ValueIdLess(evidence.first.value_id, evidence.second.value_id)) {
    return Corrupt("evidence votes are not in canonical order (smaller value id first)");
  }
  return evidence;
}

// --- Commit message ---

void EncodeCommit(codec::Encoder& encoder, const Commit& commit) {
  encoder.WriteBytes(commit.value);
  EncodeCommitCertificate(encoder, commit.certificate);
}

Expected<Commit> DecodeCommit(codec::Decoder& decoder) {
  Commit commit;
  VIGIL_ASSIGN_OR_RETURN(commit.value, decoder.ReadBytes("value", limits::kConsensusValueBytesMax));
  VIGIL_ASSIGN_OR_RETURN(commit.certificate, DecodeCommitCertificate(decoder));
  return commit;
}

// --- Message ---

uint64_t MessageHeight(const Message& message) {
  struct Visitor {
    uint64_t operator()(const Proposal& proposal) const { return proposal.height; }
    uint64_t operator()(const Vote& vote) const { return vote.height; }
    uint64_t operator()(const Evidence& evidence) const { return evidence.first.height; }
    uint64_t operator()(const Commit& commit) const { return commit.certificate.height; }
  };
  return std::visit(Visitor{}, message);
}

Bytes EncodeMessage(const Message& message) {
  codec::Encoder encoder;
  struct Visitor {
    codec::Encoder& encoder;
    void operator()(const Proposal& proposal) const {
      encoder.WriteU8(static_cast<uint8_t>(MessageKind::kProposal));
      EncodeProposal(encoder, proposal);
    }
    void operator()(const Vote& vote) const {
      encoder.WriteU8(static_cast<uint8_t>(MessageKind::kVote));
      EncodeVote(encoder, vote);
    }
    void operator()(const Evidence& evidence) const {
      encoder.WriteU8(static_cast<uint8_t>(MessageKind::kEvidence));
      EncodeEvidence(encoder, evidence);
    }
    void operator()(const Commit& commit) const {
      encoder.WriteU8(static_cast<uint8_t>(MessageKind::kCommit));
      EncodeCommit(encoder, commit);
    }
  };
  std::visit(Visitor{encoder}, message);
  return std::move(encoder).Take();
}

Expected<Message> DecodeMessage(ByteSpan bytes) {
  if (bytes.size() > limits::kConsensusMessageBytesMax) {
    return Corrupt("consensus message of " + std::to_string(bytes.size()) +
                   " bytes exceeds the limit of " +
                   std::to_string(limits::kConsensusMessageBytesMax));
  }
  return codec::DecodeExactly(bytes, [](codec::Decoder& in) -> Expected<Message> {
    VIGIL_ASSIGN_OR_RETURN(uint8_t kind, in.ReadU8("message_kind"));
    switch (static_cast<MessageKind>(kind)) {
      case MessageKind::kProposal: {
        VIGIL_ASSIGN_OR_RETURN(Proposal proposal, DecodeProposal(in));
        return Message(std::move(proposal));
      }
      case MessageKind::kVote: {
        VIGIL_ASSIGN_OR_RETURN(Vote vote, DecodeVote(in));
        return Message(vote);
      }
      case MessageKind::kEvidence: {
        VIGIL_ASSIGN_OR_RETURN(Evidence evidence, DecodeEvidence(in));
        return Message(evidence);
      }
      case MessageKind::kCommit: {
        VIGIL_ASSIGN_OR_RETURN(Commit commit, DecodeCommit(in));
        return Message(std::move(commit));
      }
    }
    return Corrupt("unknown consensus message kind " + std::to_string(kind));
  });
}

}  // namespace vigil::consensus
