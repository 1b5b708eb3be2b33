#include "consensus/consensus.h"

#include <algorithm>
#include <numeric>

namespace vigil::consensus {
namespace {

// The upon rules fire a bounded number of times per input (each is guarded by a step or a
// "for the first time" flag); more passes than this means a rule keeps re-firing: a bug.
constexpr int kEvaluatePassesMax = 64;

// DO NOT CHANGE: the DurableState record versions (docs/consensus.md#wal). Version 1 held each
// value in full wherever it appeared (up to three copies: lock, valid value, last proposal);
// version 2 holds each distinct value once. Version 1 records are still read.
constexpr uint8_t kDurableStateVersion1 = 1;
constexpr uint8_t kDurableStateVersion = 2;

RoundStep StepForVote(VoteType type) {
  return type == VoteType::kPrevote ? RoundStep::kPrevote : RoundStep::kPrecommit;
}

}  // namespace

std::string_view RoundStepName(RoundStep step) {
  switch (step) {
    case RoundStep::kPropose:
      return "propose";
    case RoundStep::kPrevote:
      return "prevote";
    case RoundStep::kPrecommit:
      return "precommit";
  }
  return "unknown";
}

std::string_view TimeoutKindName(TimeoutKind kind) {
  switch (kind) {
    case TimeoutKind::kPropose:
      return "propose";
    case TimeoutKind::kPrevote:
      return "prevote";
    case TimeoutKind::kPrecommit:
      return "precommit";
  }
  return "unknown";
}

// --- Config ---

int64_t Config::TimeoutDurationMs(TimeoutKind kind, uint32_t round) const {
  std::chrono::milliseconds base = timeout_propose;
  if (kind == TimeoutKind::kPrevote) base = timeout_prevote;
  if (kind == TimeoutKind::kPrecommit) base = timeout_precommit;
  // Section 3.1: timeouts grow with the round, so after GST they eventually exceed the message
  // delay and a round with a correct proposer decides.
  const int64_t duration_ms = base.count() + static_cast<int64_t>(round) * timeout_delta.count();
  return std::min<int64_t>(duration_ms, limits::kConsensusTimeoutMax.count());
}

Status CheckConfig(const Config& config) {
  VIGIL_RETURN_IF_ERROR(CheckChainId(config.chain_id));
  for (auto timeout : {config.timeout_propose, config.timeout_prevote, config.timeout_precommit}) {
    if (timeout.count() <= 0 || timeout > limits::kConsensusTimeoutMax) {
      return Fail(ErrorCode::kInvalidArgument,
                  "consensus timeouts must be between 1 ms and " +
                      std::to_string(limits::kConsensusTimeoutMax.count()) + " ms, got " +
                      std::to_string(timeout.count()) + " ms");
    }
  }
  if (config.timeout_delta.count() < 0 || config.timeout_delta > limits::kConsensusTimeoutMax) {
    return Fail(ErrorCode::kInvalidArgument, "timeout delta must be between 0 and the maximum");
  }
  return Ok();
}

// --- DurableState encoding ---

namespace {

// Version 1's lock and valid value: u32 round, bytes value.
Expected<RoundValue> DecodeRoundValue(codec::Decoder& decoder) {
  RoundValue round_value;
  VIGIL_ASSIGN_OR_RETURN(round_value.round, decoder.ReadU32("round"));
  VIGIL_ASSIGN_OR_RETURN(round_value.value,
                         decoder.ReadBytes("value", limits::kConsensusValueBytesMax));
  return round_value;
}

// Version 2 writes the distinct values of a state once, in a table, and the lock, the valid
// value and the last proposal name their value by its index in that table: at most three
// entries, usually one (a node locks on and re-proposes the value it saw proposed).
class ValueTable {
 public:
  uint8_t IndexOf(const Bytes& value) {
    for (size_t i = 0; i < values_.size(); ++i) {
      if (*values_[i] == value) return static_cast<uint8_t>(i);
    }
    values_.push_back(&value);
    return static_cast<uint8_t>(values_.size() - 1);
  }
  const std::vector<const Bytes*>& values() const { return values_; }

 private:
  std::vector<const Bytes*> values_;
};

constexpr size_t kDurableStateValuesMax = 3;

Expected<Bytes> ValueAt(const std::vector<Bytes>& values, uint8_t index) {
  if (index >= values.size()) {
    return Fail(ErrorCode::kCorruption, "consensus state refers to value " + std::to_string(index) +
                                            " of " + std::to_string(values.size()));
  }
  return values[index];
}

Status DecodeDurableStateHeader(codec::Decoder& in, DurableState& state) {
  VIGIL_ASSIGN_OR_RETURN(state.height, in.ReadU64("height"));
  VIGIL_ASSIGN_OR_RETURN(state.round, in.ReadU32("round"));
  VIGIL_ASSIGN_OR_RETURN(uint8_t step, in.ReadU8("step"));
  if (step < static_cast<uint8_t>(RoundStep::kPropose) ||
      step > static_cast<uint8_t>(RoundStep::kPrecommit)) {
    return Fail(ErrorCode::kCorruption, "unknown round step " + std::to_string(step));
  }
  state.step = static_cast<RoundStep>(step);
  return Ok();
}

Status DecodeDurableStateVotes(codec::Decoder& in, DurableState& state) {
  VIGIL_ASSIGN_OR_RETURN(
      state.last_prevote,
      in.ReadOptional("last_prevote", [](codec::Decoder& inner) { return DecodeVote(inner); }));
  VIGIL_ASSIGN_OR_RETURN(
      state.last_precommit,
      in.ReadOptional("last_precommit", [](codec::Decoder& inner) { return DecodeVote(inner); }));
  VIGIL_ASSIGN_OR_RETURN(
      state.valid_prevotes,
      in.ReadVector("valid_prevotes",
                    limits::kConsensusValidatorsMax * (1 + limits::kConsensusConflictingVotesMax),
                    [](codec::Decoder& inner) { return DecodeVote(inner); }));
  VIGIL_ASSIGN_OR_RETURN(state.earlier_votes,
                         in.ReadVector("earlier_votes", 2 * (limits::kConsensusRoundsBehindMax + 1),
                                       [](codec::Decoder& inner) { return DecodeVote(inner); }));
  return Ok();
}

Expected<DurableState> DecodeDurableStateVersion1(codec::Decoder& in) {
  DurableState state;
  VIGIL_RETURN_IF_ERROR(DecodeDurableStateHeader(in, state));
  VIGIL_ASSIGN_OR_RETURN(state.locked, in.ReadOptional("locked", DecodeRoundValue));
  VIGIL_ASSIGN_OR_RETURN(state.valid, in.ReadOptional("valid", DecodeRoundValue));
  VIGIL_ASSIGN_OR_RETURN(state.last_proposal,
                         in.ReadOptional("last_proposal", [](codec::Decoder& inner) {
                           return DecodeProposal(inner);
                         }));
  VIGIL_RETURN_IF_ERROR(DecodeDurableStateVotes(in, state));
  return state;
}

Expected<DurableState> DecodeDurableStateVersion2(codec::Decoder& in) {
  DurableState state;
  VIGIL_RETURN_IF_ERROR(DecodeDurableStateHeader(in, state));
  VIGIL_ASSIGN_OR_RETURN(std::vector<Bytes> values,
                         in.ReadVector("values", kDurableStateValuesMax, [](codec::Decoder& inner) {
                           return inner.ReadBytes("value", limits::kConsensusValueBytesMax);
                         }));
  auto read_round_value = [&values](codec::Decoder& inner) -> Expected<RoundValue> {
    RoundValue round_value;
    VIGIL_ASSIGN_OR_RETURN(round_value.round, inner.ReadU32("round"));
    VIGIL_ASSIGN_OR_RETURN(uint8_t index, inner.ReadU8("value index"));
    VIGIL_ASSIGN_OR_RETURN(round_value.value, ValueAt(values, index));
    return round_value;
  };
  VIGIL_ASSIGN_OR_RETURN(state.locked, in.ReadOptional("locked", read_round_value));
  VIGIL_ASSIGN_OR_RETURN(state.valid, in.ReadOptional("valid", read_round_value));
  VIGIL_ASSIGN_OR_RETURN(
      state.last_proposal,
      in.ReadOptional("last_proposal", [&values](codec::Decoder& inner) -> Expected<Proposal> {
        VIGIL_ASSIGN_OR_RETURN(Proposal proposal, DecodeProposal(inner));
        if (!proposal.value.empty()) {
          return Fail(ErrorCode::kCorruption, "consensus state holds a proposal value inline");
        }
        VIGIL_ASSIGN_OR_RETURN(uint8_t index, inner.ReadU8("value index"));
        VIGIL_ASSIGN_OR_RETURN(proposal.value, ValueAt(values, index));
        return proposal;
      }));
  VIGIL_RETURN_IF_ERROR(DecodeDurableStateVotes(in, state));
  // Canonical: the table is exactly what the encoder writes for this state (each value once,
  // in order of first use, none unused), so one state has one encoding.
  ValueTable table;
  if (state.locked) table.IndexOf(state.locked->value);
  if (state.valid) table.IndexOf(state.valid->value);
  if (state.last_proposal) table.IndexOf(state.last_proposal->value);
  if (table.values().size() != values.size()) {
    return Fail(ErrorCode::kCorruption, "consensus state value table holds " +
                                            std::to_string(values.size()) + " values, " +
                                            std::to_string(table.values().size()) + " are used");
  }
  for (size_t i = 0; i < values.size(); ++i) {
    if (*table.values()[i] != values[i]) {
      return Fail(ErrorCode::kCorruption, "consensus state value table is not in canonical order");
    }
  }
  return state;
}

}  // namespace

Bytes EncodeDurableState(const DurableState& state) {
  ValueTable table;
  std::optional<uint8_t> locked_index, valid_index, proposal_index;
  if (state.locked) locked_index = table.IndexOf(state.locked->value);
  if (state.valid) valid_index = table.IndexOf(state.valid->value);
  if (state.last_proposal) proposal_index = table.IndexOf(state.last_proposal->value);

  codec::Encoder encoder;
  encoder.WriteU8(kDurableStateVersion);
  encoder.WriteU64(state.height);
  encoder.WriteU32(state.round);
  encoder.WriteU8(static_cast<uint8_t>(state.step));
  encoder.WriteU32(static_cast<uint32_t>(table.values().size()));
  for (const Bytes* value : table.values()) encoder.WriteBytes(*value);
  auto write_round_value = [](codec::Encoder& out, const RoundValue& round_value, uint8_t index) {
    out.WriteU32(round_value.round);
    out.WriteU8(index);
  };
  encoder.WriteOptional(state.locked, [&](codec::Encoder& out, const RoundValue& round_value) {
    write_round_value(out, round_value, *locked_index);
  });
  encoder.WriteOptional(state.valid, [&](codec::Encoder& out, const RoundValue& round_value) {
    write_round_value(out, round_value, *valid_index);
  });
  encoder.WriteOptional(state.last_proposal, [&](codec::Encoder& out, const Proposal& proposal) {
    EncodeProposal(out, Proposal{.height = proposal.height,
                                 .round = proposal.round,
                                 .value = {},
                                 .valid_round = proposal.valid_round,
                                 .proposer_index = proposal.proposer_index,
                                 .signature = proposal.signature});
    out.WriteU8(*proposal_index);
  });
  encoder.WriteOptional(state.last_prevote, EncodeVote);
  encoder.WriteOptional(state.last_precommit, EncodeVote);
  encoder.WriteVector(state.valid_prevotes, EncodeVote);
  encoder.WriteVector(state.earlier_votes, EncodeVote);
  return std::move(encoder).Take();
}

Expected<DurableState> DecodeDurableState(ByteSpan bytes) {
  return codec::DecodeExactly(bytes, [](codec::Decoder& in) -> Expected<DurableState> {
    VIGIL_ASSIGN_OR_RETURN(uint8_t version, in.ReadU8("version"));
    if (version == kDurableStateVersion) return DecodeDurableStateVersion2(in);
    if (version == kDurableStateVersion1) return DecodeDurableStateVersion1(in);
    return Fail(ErrorCode::kCorruption,
                "consensus state record version " + std::to_string(version) +
                    " is not supported (expected " + std::to_string(kDurableStateVersion1) +
                    " or " + std::to_string(kDurableStateVersion) + ")");
  });
}

// --- Consensus: lifecycle ---

Consensus::Consensus(Config config, const Signer* signer, ValueSource& values,
                     SignatureVerifier& verifier)
    : config_(std::move(config)), signer_(signer), values_(values), verifier_(verifier) {
  VIGIL_ASSERT(CheckConfig(config_).has_value());
}

void Consensus::ResetHeight(ValidatorSet validators) {
  own_index_ = signer_ != nullptr ? validators.IndexOf(signer_->public_key()) : std::nullopt;
  highest_round_seen_.assign(validators.size(), 0);
  proposers_.emplace(std::move(validators));
  rounds_.clear();
  evidence_.clear();
  decided_ = false;
}

void Consensus::Start(uint64_t height, ValidatorSet validators, int64_t now_ms) {
  // A height is decided once (line 49 requires decision_p[h_p] = nil): going back would let
  // this validator sign at a height it already left.
  VIGIL_ASSERT(!started_ || height > durable_.height);
  now_ms_ = now_ms;
  ResetHeight(std::move(validators));
  durable_ = DurableState{};
  durable_.height = height;
  MarkDurableChanged();
  started_ = true;
  StartRound(0);  // line 10 / line 54
  Evaluate();
}

void Consensus::Restore(const DurableState& state, ValidatorSet validators, int64_t now_ms) {
  now_ms_ = now_ms;
  ResetHeight(std::move(validators));
  durable_ = state;
  started_ = true;
  // Our own signed messages of this height count again and go out again: a peer may never
  // have received them before the crash.
  if (durable_.last_proposal && durable_.last_proposal->round >= durable_.round) {
    const Proposal& proposal = *durable_.last_proposal;
    if (InWindow(proposal.round)) {
      // It was signed, so its id was computable then; the same deterministic function agrees.
      auto id = values_.IdOf(proposal.value);
      VIGIL_ASSERT(id.has_value());
      Round(proposal.round).proposal =
          ReceivedProposal{proposal, *id, values_.IsValid(proposal.height, proposal.value)};
    }
    ready_.messages.push_back(proposal);
  }
  for (const Vote& vote : durable_.valid_prevotes) AddVoteAnyway(vote);
  for (const Vote& vote : durable_.earlier_votes) {
    if (InWindow(vote.round)) AddVoteAnyway(vote);
  }
  for (const auto& vote : {durable_.last_prevote, durable_.last_precommit}) {
    if (!vote) continue;
    if (InWindow(vote->round)) AddVoteAnyway(*vote);
    ready_.messages.push_back(*vote);
  }
  // The paper schedules timeouts on entering a step or seeing a quorum; what this node saw
  // before the crash is gone, so it schedules the timeout of its current step now. Expiring
  // early is safe: it only sends nil votes (which never unlock anything) or moves to a later
  // round, and it keeps a restarted node from waiting forever.
  ScheduleTimeout(durable_.step == RoundStep::kPropose   ? TimeoutKind::kPropose
                  : durable_.step == RoundStep::kPrevote ? TimeoutKind::kPrevote
                                                         : TimeoutKind::kPrecommit);
  Evaluate();
}

Ready Consensus::TakeReady() {
  if (durable_changed_) {
    ready_.persist = durable_;
    durable_changed_ = false;
  }
  Ready ready = std::move(ready_);
  ready_ = Ready{};
  return ready;
}

// --- Rounds ---

Consensus::RoundState& Consensus::Round(uint32_t round) {
  auto [it, inserted] = rounds_.try_emplace(round);
  if (inserted) {
    const size_t size = validators().size();
    for (VoteTally* tally : {&it->second.prevotes, &it->second.precommits}) {
      tally->by_validator.resize(size);
      tally->conflicting.resize(size);
    }
  }
  return it->second;
}

const Consensus::RoundState* Consensus::FindRound(uint32_t round) const {
  auto it = rounds_.find(round);
  return it == rounds_.end() ? nullptr : &it->second;
}

bool Consensus::InWindow(uint32_t round) const {
  const uint64_t current = durable_.round;
  if (uint64_t{round} + limits::kConsensusRoundsBehindMax >= current &&
      uint64_t{round} <= current + limits::kConsensusRoundsAheadMax) {
    return true;
  }
  // However old, the valid round's prevotes justify proposals (line 28): this node's own, and
  // the one named by the current round's proposal.
  if (durable_.valid && durable_.valid->round == round) return true;
  const RoundState* current_round = FindRound(durable_.round);
  return current_round && current_round->proposal &&
         current_round->proposal->proposal.valid_round == round;
}

// Lines 11-21: StartRound(round).
void Consensus::StartRound(uint32_t round) {
  VIGIL_ASSERT(round <= limits::kConsensusRoundMax);
  durable_.round = round;               // line 12
  durable_.step = RoundStep::kPropose;  // line 13
  MarkDurableChanged();
  if (round > limits::kConsensusRoundsBehindMax) {
    const uint32_t oldest_kept = round - limits::kConsensusRoundsBehindMax;
    for (auto it = rounds_.begin(); it != rounds_.end() && it->first < oldest_kept;) {
      const bool is_valid_round = durable_.valid && durable_.valid->round == it->first;
      it = is_valid_round ? std::next(it) : rounds_.erase(it);
    }
  }
  if (own_index_ && proposers_->Proposer(durable_.height, round) == *own_index_) {  // line 14
    const std::optional<Proposal>& signed_before = durable_.last_proposal;
    if (signed_before && signed_before->round == round) {
      // Restarted within this round: send what was signed, never a second proposal.
      ready_.messages.push_back(*signed_before);
    } else if (!signed_before || signed_before->round < round) {
      Proposal proposal;
      proposal.height = durable_.height;
      proposal.round = round;
      if (durable_.valid) {  // lines 15-16: proposal <- validValue
        proposal.value = durable_.valid->value;
        proposal.valid_round = durable_.valid->round;
      } else {  // lines 17-18: proposal <- getValue()
        proposal.value = values_.GetValue(durable_.height, round, now_ms_);
        VIGIL_ASSERT(proposal.value.size() <= limits::kConsensusValueBytesMax);
      }
      proposal.proposer_index = *own_index_;
      // Our own application's value: an id it cannot compute is a bug, not an input error.
      auto computed = values_.IdOf(proposal.value);
      VIGIL_ASSERT(computed.has_value());
      const ValueId id = *computed;
      proposal.signature = signer_->Sign(ProposalSignBytes(config_.chain_id, proposal, id));
      durable_.last_proposal = proposal;
      // Line 19 broadcasts to all, this node included: it receives its own proposal here.
      Round(round).proposal =
          ReceivedProposal{proposal, id, values_.IsValid(durable_.height, proposal.value)};
      ready_.messages.push_back(std::move(proposal));
    } else {
      ++refused_signatures_;
    }
  }
  // Line 21 schedules this only for non-proposers; a proposer schedules it too so that a
  // proposal it may not sign (see above) cannot stall it. It is a no-op once the proposer has
  // prevoted on its own proposal (line 57 requires step = propose).
  ScheduleTimeout(TimeoutKind::kPropose);
}

void Consensus::ScheduleTimeout(TimeoutKind kind) {
  ready_.timers.push_back(Timeout{.kind = kind,
                                  .height = durable_.height,
                                  .round = durable_.round,
                                  .duration_ms = config_.TimeoutDurationMs(kind, durable_.round)});
}

// Signs (or re-sends) this node's vote for the current round and counts it as received.
void Consensus::BroadcastVote(VoteType type, std::optional<ValueId> id) {
  if (!own_index_) return;  // not a validator at this height: follow without voting
  std::optional<Vote>& slot =
      type == VoteType::kPrevote ? durable_.last_prevote : durable_.last_precommit;
  Vote vote;
  if (slot && slot->round == durable_.round) {
    // Signed before a crash: the stored vote is the only one this node may send for this step.
    vote = *slot;
  } else {
    // The guard: signatures move strictly forward in (round, step) within a height.
    const RoundStep step = StepForVote(type);
    auto signed_at = [](const auto& message, RoundStep signed_step) {
      return message ? std::optional(std::pair(message->round, signed_step)) : std::nullopt;
    };
    for (auto last : {signed_at(durable_.last_proposal, RoundStep::kPropose),
                      signed_at(durable_.last_prevote, RoundStep::kPrevote),
                      signed_at(durable_.last_precommit, RoundStep::kPrecommit)}) {
      if (last && std::pair(durable_.round, step) <= *last) {
        ++refused_signatures_;
        return;
      }
    }
    vote = Vote{.type = type,
                .height = durable_.height,
                .round = durable_.round,
                .value_id = id,
                .validator_index = *own_index_};
    vote.signature = signer_->Sign(VoteSignBytes(config_.chain_id, vote));
    if (slot) {
      std::vector<Vote>& earlier = durable_.earlier_votes;
      earlier.push_back(*slot);
      std::erase_if(earlier, [this](const Vote& old) {
        return uint64_t{old.round} + limits::kConsensusRoundsBehindMax < durable_.round;
      });
    }
    slot = vote;
    MarkDurableChanged();
  }
  RoundState& round = Round(vote.round);
  VoteTally& tally = type == VoteType::kPrevote ? round.prevotes : round.precommits;
  if (!tally.by_validator[vote.validator_index]) AddVote(vote);
  ready_.messages.push_back(vote);
}

// --- Inputs ---

Status Consensus::Step(const Message& message, int64_t now_ms) {
  VIGIL_ASSERT(started_);
  now_ms_ = now_ms;
  if (decided_ || MessageHeight(message) != durable_.height) return Ok();
  Status status = std::visit(
      [this](const auto& body) -> Status {
        using T = std::decay_t<decltype(body)>;
        if constexpr (std::is_same_v<T, Proposal>) return OnProposal(body);
        if constexpr (std::is_same_v<T, Vote>) return OnVote(body);
        if constexpr (std::is_same_v<T, Evidence>) return OnEvidence(body);
        if constexpr (std::is_same_v<T, Commit>) return OnCommit(body);
      },
      message);
  Evaluate();
  return status;
}

bool Consensus::Verify(uint32_t validator_index, ByteSpan message, const Signature& signature) {
  return verifier_.Verify(validators().at(validator_index).public_key, message, signature);
}

void Consensus::NoteRoundSeen(uint32_t validator_index, uint32_t round) {
  uint32_t& highest = highest_round_seen_[validator_index];
  highest = std::max(highest, round);
}

Status Consensus::OnProposal(const Proposal& proposal) {
  // A proposal outside the stored rounds is dropped before anything costs: no proposer
  // computation, no signature check. Votes of those rounds still feed line 55.
  if (!InWindow(proposal.round)) return Ok();
  if (proposal.proposer_index >= validators().size() ||
      proposal.proposer_index != proposers_->Proposer(durable_.height, proposal.round)) {
    return Fail(ErrorCode::kUnauthenticated,
                "proposal at height " + std::to_string(proposal.height) + " round " +
                    std::to_string(proposal.round) + " is not from that round's proposer");
  }
  if (proposal.round > limits::kConsensusRoundMax ||
      (proposal.valid_round && *proposal.valid_round >= proposal.round)) {
    return Fail(ErrorCode::kCorruption, "proposal round or valid round out of range");
  }
  if (const RoundState* round = FindRound(proposal.round); round && round->proposal) {
    if (round->proposal->proposal == proposal) return Ok();  // duplicate
    // A second, different proposal by the same proposer: keep the first. Correct nodes may
    // hold different ones; the round then fails by timeout and the next proposer retries.
    return Fail(ErrorCode::kRefused, "second, different proposal from the proposer of round " +
                                         std::to_string(proposal.round));
  }
  auto computed = values_.IdOf(proposal.value);
  if (!computed) {
    return std::unexpected(computed.error().WithContext(
        "proposal for height " + std::to_string(proposal.height) + " round " +
        std::to_string(proposal.round) + " carries a malformed value"));
  }
  const ValueId id = *computed;
  if (!Verify(proposal.proposer_index, ProposalSignBytes(config_.chain_id, proposal, id),
              proposal.signature)) {
    return Fail(ErrorCode::kUnauthenticated, "invalid signature on the proposal for height " +
                                                 std::to_string(proposal.height) + " round " +
                                                 std::to_string(proposal.round));
  }
  NoteRoundSeen(proposal.proposer_index, proposal.round);
  Round(proposal.round).proposal =
      ReceivedProposal{proposal, id, values_.IsValid(proposal.height, proposal.value)};
  return Ok();
}

Status Consensus::OnVote(const Vote& vote) {
  if (vote.validator_index >= validators().size()) {
    return Fail(ErrorCode::kUnauthenticated,
                "vote names validator " + std::to_string(vote.validator_index) +
                    " but the set has " + std::to_string(validators().size()));
  }
  if (vote.round > limits::kConsensusRoundMax) {
    return Fail(ErrorCode::kCorruption, "vote round out of range");
  }
  const bool in_window = InWindow(vote.round);
  std::optional<Vote> existing;
  if (in_window) {
    if (const RoundState* round = FindRound(vote.round)) {
      const VoteTally& tally =
          vote.type == VoteType::kPrevote ? round->prevotes : round->precommits;
      existing = tally.by_validator[vote.validator_index];
      // Same value, other bytes: Ed25519 signatures are deterministic, so this is a duplicate,
      // a forgery or a malleated copy of a vote already counted: nothing to learn.
      if (existing && existing->value_id == vote.value_id) return Ok();
      for (const Vote& counted : tally.conflicting[vote.validator_index]) {
        if (counted.value_id == vote.value_id) return Ok();
      }
    }
  }
  if (!Verify(vote.validator_index, VoteSignBytes(config_.chain_id, vote), vote.signature)) {
    return Fail(ErrorCode::kUnauthenticated,
                "invalid signature on " + std::string(VoteTypeName(vote.type)) + " of validator " +
                    std::to_string(vote.validator_index) + " at height " +
                    std::to_string(vote.height) + " round " + std::to_string(vote.round));
  }
  NoteRoundSeen(vote.validator_index, vote.round);
  if (!in_window) return Ok();
  if (existing) {
    // Two different signed votes for one (height, round, type): evidence, kept and gossiped.
    AddEvidence(MakeEvidence(*existing, vote));
    AddConflictingVote(vote);
    return Ok();
  }
  AddVote(vote);
  return Ok();
}

void Consensus::AddVote(const Vote& vote) {
  RoundState& round = Round(vote.round);
  VoteTally& tally = vote.type == VoteType::kPrevote ? round.prevotes : round.precommits;
  VIGIL_ASSERT(!tally.by_validator[vote.validator_index]);
  const uint64_t power = validators().at(vote.validator_index).voting_power;
  tally.by_validator[vote.validator_index] = vote;
  tally.power_by_value[vote.value_id] += power;
  tally.total_power += power;
}

// The paper counts messages: a Byzantine validator that sent PREVOTE(v) to some nodes and
// PREVOTE(w) to others has sent both, and a node holding both may count each toward its value
// (each validator still counts once toward "2f+1 of any"). Quorum intersection is unaffected:
// two quorums for different values still share a correct validator, which votes once. Only
// nil and values of proposals held here can matter (lines 28, 36, 44, 49), which bounds this.
void Consensus::AddConflictingVote(const Vote& vote) {
  if (vote.value_id && !HoldsProposalFor(*vote.value_id)) return;
  RoundState& round = Round(vote.round);
  VoteTally& tally = vote.type == VoteType::kPrevote ? round.prevotes : round.precommits;
  std::vector<Vote>& later = tally.conflicting[vote.validator_index];
  if (later.size() >= limits::kConsensusConflictingVotesMax) return;
  later.push_back(vote);
  tally.power_by_value[vote.value_id] += validators().at(vote.validator_index).voting_power;
}

// For votes this node persisted: counted as first or later vote, without the proposal check.
void Consensus::AddVoteAnyway(const Vote& vote) {
  RoundState& round = Round(vote.round);
  VoteTally& tally = vote.type == VoteType::kPrevote ? round.prevotes : round.precommits;
  const std::optional<Vote>& first = tally.by_validator[vote.validator_index];
  if (!first) return AddVote(vote);
  if (first->value_id == vote.value_id) return;
  std::vector<Vote>& later = tally.conflicting[vote.validator_index];
  for (const Vote& counted : later) {
    if (counted.value_id == vote.value_id) return;
  }
  if (later.size() >= limits::kConsensusConflictingVotesMax) return;
  later.push_back(vote);
  tally.power_by_value[vote.value_id] += validators().at(vote.validator_index).voting_power;
}

bool Consensus::HoldsProposalFor(const ValueId& id) const {
  for (const auto& [number, round] : rounds_) {
    if (round.proposal && round.proposal->id == id) return true;
  }
  return false;
}

Status Consensus::OnEvidence(const Evidence& evidence) {
  if (std::find(evidence_.begin(), evidence_.end(), evidence) != evidence_.end()) return Ok();
  const Vote& first = evidence.first;
  const Vote& second = evidence.second;
  if (first.type != second.type || first.height != second.height || first.round != second.round ||
      first.validator_index != second.validator_index || first.value_id == second.value_id ||
      first.validator_index >= validators().size()) {
    return Fail(ErrorCode::kCorruption, "evidence is not two conflicting votes of one validator");
  }
  for (const Vote* vote : {&first, &second}) {
    if (!Verify(vote->validator_index, VoteSignBytes(config_.chain_id, *vote), vote->signature)) {
      return Fail(ErrorCode::kUnauthenticated, "evidence holds an invalid vote signature");
    }
  }
  AddEvidence(MakeEvidence(first, second));
  return Ok();
}

void Consensus::AddEvidence(const Evidence& evidence) {
  if (evidence_.size() >= limits::kConsensusEvidenceMax) return;
  if (std::find(evidence_.begin(), evidence_.end(), evidence) != evidence_.end()) return;
  evidence_.push_back(evidence);
  ready_.evidence.push_back(evidence);
  ready_.messages.push_back(evidence);  // gossip it once, when first learned
}

// A Commit for the current height is 2f+1 PRECOMMIT(h, r, id(v)) together with v: exactly the
// condition of line 49, delivered in one message to a node that missed the round.
Status Consensus::OnCommit(const Commit& commit) {
  const CommitCertificate& certificate = commit.certificate;
  auto id = values_.IdOf(commit.value);
  if (!id || *id != certificate.value_id) {
    return Fail(ErrorCode::kCorruption, "commit value does not match its certificate");
  }
  VIGIL_RETURN_IF_ERROR(VerifyCommitCertificate(
      validators(), config_.chain_id, durable_.height, certificate.value_id, certificate,
      [this](const PublicKey& key, ByteSpan message, const Signature& signature) {
        return verifier_.Verify(key, message, signature);
      }));
  if (!values_.IsValid(durable_.height, commit.value)) {  // line 50
    return Fail(ErrorCode::kRefused, "committed value at height " +
                                         std::to_string(durable_.height) + " is not valid here");
  }
  Decide(certificate.round, commit.value, certificate);
  return Ok();
}

void Consensus::OnTimeout(const Timeout& timeout, int64_t now_ms) {
  VIGIL_ASSERT(started_);
  now_ms_ = now_ms;
  if (decided_ || timeout.height != durable_.height || timeout.round != durable_.round) return;
  switch (timeout.kind) {
    case TimeoutKind::kPropose:  // lines 57-60
      if (durable_.step == RoundStep::kPropose) {
        durable_.step = RoundStep::kPrevote;
        BroadcastVote(VoteType::kPrevote, std::nullopt);
        MarkDurableChanged();
      }
      break;
    case TimeoutKind::kPrevote:  // lines 61-64
      if (durable_.step == RoundStep::kPrevote) {
        durable_.step = RoundStep::kPrecommit;
        BroadcastVote(VoteType::kPrecommit, std::nullopt);
        MarkDurableChanged();
      }
      break;
    case TimeoutKind::kPrecommit:  // lines 65-67
      if (durable_.round < limits::kConsensusRoundMax) StartRound(durable_.round + 1);
      break;
  }
  Evaluate();
}

void Consensus::OnGossipTick(int64_t now_ms) {
  VIGIL_ASSERT(started_);
  now_ms_ = now_ms;
  if (decided_) return;
  // This node's own votes of rounds before the previous one (those of the current and the
  // previous round are in the tallies sent below): a node left behind in such a round may be
  // waiting for exactly one of them, and after a restart this node may be the only holder.
  for (const auto& vote : {durable_.last_prevote, durable_.last_precommit}) {
    if (vote && vote->round + 1 < durable_.round) ready_.messages.push_back(*vote);
  }
  for (const Vote& vote : durable_.earlier_votes) {
    if (vote.round + 1 < durable_.round) ready_.messages.push_back(vote);
  }
  const RoundState* round = FindRound(durable_.round);
  if (round == nullptr) return;
  if (round->proposal) {
    const ReceivedProposal& received = *round->proposal;
    ready_.messages.push_back(received.proposal);
    // Line 28 needs the 2f+1 prevotes of the valid round as well as the proposal.
    if (received.proposal.valid_round) {
      if (const RoundState* valid = FindRound(*received.proposal.valid_round)) {
        valid->prevotes.ForEachVoteFor(
            received.id, [this](const Vote& vote) { ready_.messages.push_back(vote); });
      }
    }
  }
  // This round's votes, and the previous round's: a node still in the previous round may be
  // waiting for the precommits that let its timeout (line 47) move it here, and with fewer than
  // f+1 validators ahead of it the round-skip rule (line 55) cannot.
  std::vector<const RoundState*> resent = {round};
  if (durable_.round > 0) resent.push_back(FindRound(durable_.round - 1));
  for (const RoundState* state : resent) {
    if (state == nullptr) continue;
    for (const VoteTally* tally : {&state->prevotes, &state->precommits}) {
      for (const auto& vote : tally->by_validator) {
        if (vote) ready_.messages.push_back(*vote);
      }
    }
  }
}

std::string Consensus::DescribeRound(uint32_t round) const {
  const RoundState* state = FindRound(round);
  if (state == nullptr) return "round " + std::to_string(round) + ": nothing";
  auto short_id = [](const std::optional<ValueId>& id) {
    return id ? ToHex(*id).substr(0, 8) : std::string("nil");
  };
  std::string text = "round " + std::to_string(round) + ": proposal ";
  text += state->proposal ? short_id(state->proposal->id) : "-";
  for (const auto* tally : {&state->prevotes, &state->precommits}) {
    text += tally == &state->prevotes ? "; prevotes" : "; precommits";
    for (const auto& [id, power] : tally->power_by_value) {
      text += " " + short_id(id) + "=" + std::to_string(power);
    }
  }
  return text;
}

// --- The upon rules ---

void Consensus::Evaluate() {
  for (int pass = 0; pass < kEvaluatePassesMax; ++pass) {
    if (decided_) return;
    const bool fired = UponDecide() || UponRoundSkip() || UponProposal() ||
                       UponProposalValidRound() || UponPrevoteAny() || UponPrevoteValue() ||
                       UponPrevoteNil() || UponPrecommitAny();
    if (!fired) return;
  }
  VIGIL_ASSERT(false && "consensus upon rules did not settle");
}

// Lines 49-54: upon PROPOSAL(h, r, v, *) and 2f+1 PRECOMMIT(h, r, id(v)), for any round r,
// while decision_p[h_p] = nil: if valid(v), decide v.
bool Consensus::UponDecide() {
  for (const auto& [round_number, round] : rounds_) {
    for (const auto& [id, power] : round.precommits.power_by_value) {
      if (!id || !validators().IsQuorum(power)) continue;
      // The value may have been proposed in any round of this height; its id names it.
      for (const auto& [other_number, other] : rounds_) {
        if (!other.proposal || other.proposal->id != *id) continue;
        if (!other.proposal->valid) return false;  // line 50: valid(v) fails; never decide it
        Decide(round_number, other.proposal->proposal.value, BuildCertificate(round_number, *id));
        return true;
      }
    }
  }
  return false;
}

void Consensus::Decide(uint32_t round, const Bytes& value, CommitCertificate certificate) {
  decided_ = true;  // line 51: decision_p[h_p] = v
  ready_.decision = Decision{.height = durable_.height,
                             .round = round,
                             .value = value,
                             .certificate = std::move(certificate),
                             .decided_at_ms = now_ms_};
  // Lines 52-54 (h_p + 1, reset, StartRound(0)) happen when the caller, having committed the
  // decision, calls Start(height + 1, next validators): the next height's validator set and
  // proposal depend on the committed value.
}

CommitCertificate Consensus::BuildCertificate(uint32_t round, const ValueId& id) const {
  CommitCertificate certificate{
      .height = durable_.height, .round = round, .value_id = id, .signatures = {}};
  const RoundState* state = FindRound(round);
  VIGIL_ASSERT(state != nullptr);
  state->precommits.ForEachVoteFor(id, [&certificate](const Vote& vote) {
    certificate.signatures.push_back({vote.validator_index, vote.signature});
  });
  return certificate;
}

// Lines 55-56: upon f+1 messages of round > round_p, StartRound(round). Generalised to
// "validators holding more than 1/3 of the power sent messages of rounds >= r": round r is
// the highest such round, so at least one correct validator has reached it (which is what the
// rule needs), and a node many rounds behind jumps in one step even when the messages it holds
// are from different rounds. Round changes never affect safety.
bool Consensus::UponRoundSkip() {
  std::vector<uint32_t> order(highest_round_seen_.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [this](uint32_t a, uint32_t b) {
    return highest_round_seen_[a] > highest_round_seen_[b];
  });
  uint64_t power = 0;
  for (uint32_t index : order) {
    const uint32_t round = highest_round_seen_[index];
    if (round <= durable_.round) return false;
    power += validators().at(index).voting_power;
    if (validators().ExceedsOneThird(power)) {
      StartRound(round);
      return true;
    }
  }
  return false;
}

// Lines 22-27: upon PROPOSAL(h_p, round_p, v, -1) from proposer(h_p, round_p) while
// step_p = propose.
bool Consensus::UponProposal() {
  if (durable_.step != RoundStep::kPropose) return false;
  const RoundState* round = FindRound(durable_.round);
  if (!round || !round->proposal || round->proposal->proposal.valid_round) return false;
  const ReceivedProposal& received = *round->proposal;
  // Line 23: valid(v) and (lockedRound = -1 or lockedValue = v).
  const bool accept =
      received.valid && (!durable_.locked || durable_.locked->value == received.proposal.value);
  durable_.step = RoundStep::kPrevote;  // line 27
  BroadcastVote(VoteType::kPrevote, accept ? std::optional(received.id) : std::nullopt);
  MarkDurableChanged();
  return true;
}

// Lines 28-33: upon PROPOSAL(h_p, round_p, v, vr) from proposer(h_p, round_p) and
// 2f+1 PREVOTE(h_p, vr, id(v)) while step_p = propose and (vr >= 0 and vr < round_p).
bool Consensus::UponProposalValidRound() {
  if (durable_.step != RoundStep::kPropose) return false;
  const RoundState* round = FindRound(durable_.round);
  if (!round || !round->proposal || !round->proposal->proposal.valid_round) return false;
  const ReceivedProposal& received = *round->proposal;
  const uint32_t valid_round = *received.proposal.valid_round;
  if (valid_round >= durable_.round) return false;
  const RoundState* earlier = FindRound(valid_round);
  if (!earlier) return false;
  auto power = earlier->prevotes.power_by_value.find(received.id);
  if (power == earlier->prevotes.power_by_value.end() || !validators().IsQuorum(power->second)) {
    return false;
  }
  // Line 29: valid(v) and (lockedRound <= vr or lockedValue = v).
  const bool accept =
      received.valid && (!durable_.locked || durable_.locked->round <= valid_round ||
                         durable_.locked->value == received.proposal.value);
  durable_.step = RoundStep::kPrevote;  // line 33
  BroadcastVote(VoteType::kPrevote, accept ? std::optional(received.id) : std::nullopt);
  MarkDurableChanged();
  return true;
}

// Lines 34-35: upon 2f+1 PREVOTE(h_p, round_p, *) while step_p = prevote for the first time.
bool Consensus::UponPrevoteAny() {
  if (durable_.step != RoundStep::kPrevote) return false;
  RoundState& round = Round(durable_.round);
  if (round.prevote_timeout_scheduled || !validators().IsQuorum(round.prevotes.total_power)) {
    return false;
  }
  round.prevote_timeout_scheduled = true;
  ScheduleTimeout(TimeoutKind::kPrevote);
  return true;
}

// Lines 36-43: upon PROPOSAL(h_p, round_p, v, *) and 2f+1 PREVOTE(h_p, round_p, id(v)) while
// valid(v) and step_p >= prevote for the first time.
bool Consensus::UponPrevoteValue() {
  if (durable_.step == RoundStep::kPropose) return false;
  RoundState& round = Round(durable_.round);
  if (round.prevote_quorum_handled || !round.proposal || !round.proposal->valid) return false;
  const ReceivedProposal& received = *round.proposal;
  auto power = round.prevotes.power_by_value.find(received.id);
  if (power == round.prevotes.power_by_value.end() || !validators().IsQuorum(power->second)) {
    return false;
  }
  round.prevote_quorum_handled = true;
  if (durable_.step == RoundStep::kPrevote) {
    durable_.locked = RoundValue{durable_.round, received.proposal.value};  // lines 38-39
    durable_.step = RoundStep::kPrecommit;                                  // line 41
    BroadcastVote(VoteType::kPrecommit, received.id);                       // line 40
  }
  durable_.valid = RoundValue{durable_.round, received.proposal.value};  // lines 42-43
  durable_.valid_prevotes.clear();
  round.prevotes.ForEachVoteFor(
      received.id, [this](const Vote& vote) { durable_.valid_prevotes.push_back(vote); });
  MarkDurableChanged();
  return true;
}

// Lines 44-46: upon 2f+1 PREVOTE(h_p, round_p, nil) while step_p = prevote.
bool Consensus::UponPrevoteNil() {
  if (durable_.step != RoundStep::kPrevote) return false;
  const RoundState* round = FindRound(durable_.round);
  if (!round) return false;
  auto power = round->prevotes.power_by_value.find(std::nullopt);
  if (power == round->prevotes.power_by_value.end() || !validators().IsQuorum(power->second)) {
    return false;
  }
  durable_.step = RoundStep::kPrecommit;  // line 46
  BroadcastVote(VoteType::kPrecommit, std::nullopt);
  MarkDurableChanged();
  return true;
}

// Lines 47-48: upon 2f+1 PRECOMMIT(h_p, round_p, *) for the first time.
bool Consensus::UponPrecommitAny() {
  RoundState& round = Round(durable_.round);
  if (round.precommit_timeout_scheduled || !validators().IsQuorum(round.precommits.total_power)) {
    return false;
  }
  round.precommit_timeout_scheduled = true;
  ScheduleTimeout(TimeoutKind::kPrecommit);
  return true;
}

}  // namespace vigil::consensus
