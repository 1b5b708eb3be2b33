// Algorithm 1 of "The latest gossip on BFT consensus" (arXiv 1807.04938v3), rule by rule.
//
// Each test drives one Consensus (validator `kMe`) directly through Step / OnTimeout with
// messages signed by the other validators, and checks the Ready it produces. Test names and
// comments cite the paper's line numbers.
#include "consensus/consensus.h"

#include <gtest/gtest.h>

#include <memory>
#include <set>

#include "codec/codec.h"
#include "consensus/test_config.h"

namespace vigil::consensus {
namespace {

constexpr std::string_view kChainId = "vigil-consensus-test";
constexpr uint32_t kMe = 0;

crypto::PrivateKey KeyFromByte(uint8_t byte) {
  std::array<uint8_t, limits::kEd25519SeedBytes> seed{};
  seed.fill(byte);
  return crypto::PrivateKey::FromSeed(seed).value();
}

// Values starting with "bad" are invalid: the paper's valid(v).
class TestValues final : public ValueSource {
 public:
  Bytes GetValue(uint64_t height, uint32_t round, int64_t /*now_ms*/) override {
    ++get_value_calls;
    return ToBytes("value h" + std::to_string(height) + " r" + std::to_string(round));
  }
  bool IsValid(uint64_t /*height*/, ByteSpan value) override {
    return !(value.size() >= 3 && value[0] == 'b' && value[1] == 'a' && value[2] == 'd');
  }
  // With header_ids, id(v) is SHA-256 of the first 8 bytes (a stand-in for a block header hash)
  // and shorter values are malformed.
  Expected<ValueId> IdOf(ByteSpan value) override {
    if (!header_ids) return ComputeValueId(value);
    if (value.size() < 8) return Fail(ErrorCode::kCorruption, "value shorter than its header");
    return ComputeValueId(value.first(8));
  }
  int get_value_calls = 0;
  bool header_ids = false;
};

Config TestConfig() { return consensus::TestConfig(kChainId); }

std::vector<Vote> VotesIn(const Ready& ready, VoteType type) {
  std::vector<Vote> votes;
  for (const Message& message : ready.messages) {
    if (const Vote* vote = std::get_if<Vote>(&message); vote && vote->type == type) {
      votes.push_back(*vote);
    }
  }
  return votes;
}

std::vector<Proposal> ProposalsIn(const Ready& ready) {
  std::vector<Proposal> proposals;
  for (const Message& message : ready.messages) {
    if (const Proposal* proposal = std::get_if<Proposal>(&message)) proposals.push_back(*proposal);
  }
  return proposals;
}

bool HasTimer(const Ready& ready, TimeoutKind kind, uint32_t round) {
  for (const Timeout& timer : ready.timers) {
    if (timer.kind == kind && timer.round == round) return true;
  }
  return false;
}

class ConsensusTest : public ::testing::Test {
 protected:
  // Four validators of power 1 unless a test builds its own: n = 3f + 1 with f = 1.
  void SetUp() override { Build({1, 1, 1, 1}); }

  void Build(std::vector<uint64_t> powers) {
    keys_.clear();
    std::vector<Validator> validators;
    for (size_t i = 0; i < powers.size(); ++i) {
      keys_.push_back(KeyFromByte(static_cast<uint8_t>(i + 11)));
    }
    // Index order is key order; hand powers out by index so tests can reason by index.
    std::vector<const crypto::PrivateKey*> sorted;
    for (const auto& key : keys_) sorted.push_back(&key);
    std::sort(sorted.begin(), sorted.end(),
              [](const auto* a, const auto* b) { return a->public_key() < b->public_key(); });
    for (size_t i = 0; i < powers.size(); ++i) {
      validators.push_back({sorted[i]->public_key(), powers[i]});
    }
    keys_by_index_ = sorted;
    set_ = ValidatorSet::Create(validators).value();
    signer_ = std::make_unique<Ed25519Signer>(*keys_by_index_[kMe]);
    consensus_ = std::make_unique<Consensus>(TestConfig(), signer_.get(), values_, verifier_);
  }

  // With equal powers the proposer of (h, r) is index (h + r) mod n (proposer_test checks).
  // Height 1 round 0 is therefore validator 1's, so kMe (0) starts as a follower.
  Ready StartAt(uint64_t height) {
    height_ = height;
    consensus_->Start(height, set_, now_ms_);
    return consensus_->TakeReady();
  }

  Vote SignedVote(VoteType type, uint32_t round, std::optional<ValueId> id, uint32_t index,
                  uint64_t height = 0) {
    if (height == 0) height = height_;
    Vote vote{.type = type,
              .height = height,
              .round = round,
              .value_id = id,
              .validator_index = index,
              .signature = {}};
    vote.signature = keys_by_index_[index]->Sign(VoteSignBytes(kChainId, vote));
    return vote;
  }

  Proposal SignedProposal(uint32_t round, std::string_view value,
                          std::optional<uint32_t> valid_round = std::nullopt, uint64_t height = 0) {
    if (height == 0) height = height_;
    Proposal proposal{.height = height,
                      .round = round,
                      .value = ToBytes(value),
                      .valid_round = valid_round,
                      .proposer_index = consensus_->Proposer(round),
                      .signature = {}};
    proposal.signature =
        keys_by_index_[proposal.proposer_index]->Sign(ProposalSignBytes(kChainId, proposal));
    return proposal;
  }

  Ready Deliver(const Message& message) {
    auto status = consensus_->Step(message, now_ms_);
    EXPECT_TRUE(status.has_value()) << status.error().ToString();
    return consensus_->TakeReady();
  }

  // Votes of `type` from each listed validator, delivered one by one; returns the merged Ready.
  Ready DeliverVotes(VoteType type, uint32_t round, std::optional<ValueId> id,
                     std::vector<uint32_t> indexes) {
    Ready merged;
    for (uint32_t index : indexes) {
      Ready ready = Deliver(SignedVote(type, round, id, index));
      Merge(merged, std::move(ready));
    }
    return merged;
  }

  Ready Fire(TimeoutKind kind, uint32_t round, uint64_t height = 0) {
    if (height == 0) height = height_;
    consensus_->OnTimeout(Timeout{.kind = kind, .height = height, .round = round, .duration_ms = 0},
                          now_ms_);
    return consensus_->TakeReady();
  }

  static void Merge(Ready& into, Ready from) {
    if (from.persist) into.persist = from.persist;
    if (from.decision) into.decision = from.decision;
    for (auto& message : from.messages) into.messages.push_back(std::move(message));
    for (auto& timer : from.timers) into.timers.push_back(timer);
    for (auto& evidence : from.evidence) into.evidence.push_back(evidence);
  }

  // Drives round `round` to a lock on `value` at kMe: proposal, then prevotes from 1 and 2.
  void LockOn(uint32_t round, std::string_view value) {
    Deliver(SignedProposal(round, value));
    DeliverVotes(VoteType::kPrevote, round, ComputeValueId(ToBytes(value)), {1, 2});
    ASSERT_TRUE(consensus_->durable_state().locked.has_value());
  }

  // Ends the current round by 2f+1 nil precommits and the precommit timeout (lines 47, 65).
  void FailRound(uint32_t round) {
    DeliverVotes(VoteType::kPrecommit, round, std::nullopt, {1, 2, 3});
    Fire(TimeoutKind::kPrecommit, round);
    ASSERT_EQ(consensus_->round(), round + 1);
  }

  std::vector<crypto::PrivateKey> keys_;
  std::vector<const crypto::PrivateKey*> keys_by_index_;
  ValidatorSet set_;
  TestValues values_;
  Ed25519Verifier verifier_;
  std::unique_ptr<Ed25519Signer> signer_;
  std::unique_ptr<Consensus> consensus_;
  int64_t now_ms_ = 1'000'000;
  uint64_t height_ = 1;  // the height StartAt began; signed messages default to it
};

TEST_F(ConsensusTest, Lines11To21FollowerSchedulesProposeTimeout) {
  Ready ready = StartAt(1);
  EXPECT_EQ(consensus_->round(), 0u);
  EXPECT_EQ(consensus_->step(), RoundStep::kPropose);
  EXPECT_TRUE(ProposalsIn(ready).empty());
  EXPECT_TRUE(HasTimer(ready, TimeoutKind::kPropose, 0));
  ASSERT_TRUE(ready.persist.has_value());
  EXPECT_EQ(ready.persist->height, 1u);
}

TEST_F(ConsensusTest, Lines14To19ProposerProposesGetValueAndPrevotesIt) {
  Ready ready = StartAt(4);  // (4 + 0) mod 4 = 0 = kMe
  std::vector<Proposal> proposals = ProposalsIn(ready);
  ASSERT_EQ(proposals.size(), 1u);
  EXPECT_EQ(proposals[0].value, ToBytes("value h4 r0"));
  EXPECT_FALSE(proposals[0].valid_round.has_value());
  EXPECT_TRUE(VerifyProposal(set_, kChainId, proposals[0]).has_value());
  // Line 19 broadcasts to itself too, so line 22 fires at once.
  std::vector<Vote> prevotes = VotesIn(ready, VoteType::kPrevote);
  ASSERT_EQ(prevotes.size(), 1u);
  EXPECT_EQ(prevotes[0].value_id, ComputeValueId(proposals[0].value));
  // Persist BEFORE send: the signed messages are in the same Ready's durable state.
  ASSERT_TRUE(ready.persist.has_value());
  EXPECT_EQ(ready.persist->last_proposal, proposals[0]);
  EXPECT_EQ(ready.persist->last_prevote, prevotes[0]);
}

TEST_F(ConsensusTest, Lines22To27PrevoteForValidProposalWhenUnlocked) {
  StartAt(1);
  Ready ready = Deliver(SignedProposal(0, "block"));
  std::vector<Vote> prevotes = VotesIn(ready, VoteType::kPrevote);
  ASSERT_EQ(prevotes.size(), 1u);
  EXPECT_EQ(prevotes[0].value_id, ComputeValueId(ToBytes("block")));
  EXPECT_EQ(consensus_->step(), RoundStep::kPrevote);
}

TEST_F(ConsensusTest, Line26PrevoteNilForInvalidValue) {
  StartAt(1);
  Ready ready = Deliver(SignedProposal(0, "bad block"));
  std::vector<Vote> prevotes = VotesIn(ready, VoteType::kPrevote);
  ASSERT_EQ(prevotes.size(), 1u);
  EXPECT_FALSE(prevotes[0].value_id.has_value());
}

TEST_F(ConsensusTest, ProposalFromWrongProposerOrBadSignatureIsRefused) {
  StartAt(1);
  Proposal proposal = SignedProposal(0, "block");
  proposal.signature[0] ^= 1;
  EXPECT_FALSE(consensus_->Step(proposal, now_ms_).has_value());
  Proposal impostor{.height = 1,
                    .round = 0,
                    .value = ToBytes("x"),
                    .valid_round = {},
                    .proposer_index = 2,
                    .signature = {}};
  impostor.signature = keys_by_index_[2]->Sign(ProposalSignBytes(kChainId, impostor));
  EXPECT_FALSE(consensus_->Step(impostor, now_ms_).has_value());
  EXPECT_TRUE(consensus_->TakeReady().messages.empty());
  EXPECT_EQ(consensus_->step(), RoundStep::kPropose);
}

TEST_F(ConsensusTest, Lines34To43PrevoteQuorumLocksAndPrecommits) {
  StartAt(1);
  Deliver(SignedProposal(0, "block"));
  const ValueId id = ComputeValueId(ToBytes("block"));
  Ready ready = DeliverVotes(VoteType::kPrevote, 0, id, {1, 2});
  EXPECT_TRUE(HasTimer(ready, TimeoutKind::kPrevote, 0));  // line 35
  std::vector<Vote> precommits = VotesIn(ready, VoteType::kPrecommit);
  ASSERT_EQ(precommits.size(), 1u);  // line 40
  EXPECT_EQ(precommits[0].value_id, id);
  const DurableState& state = consensus_->durable_state();
  ASSERT_TRUE(state.locked.has_value());  // lines 38-39
  EXPECT_EQ(state.locked->round, 0u);
  EXPECT_EQ(state.locked->value, ToBytes("block"));
  ASSERT_TRUE(state.valid.has_value());  // lines 42-43
  EXPECT_EQ(state.valid->round, 0u);
  EXPECT_EQ(consensus_->step(), RoundStep::kPrecommit);
  // The lock is persisted with the precommit that depends on it.
  ASSERT_TRUE(ready.persist.has_value());
  EXPECT_TRUE(ready.persist->locked.has_value());
  EXPECT_EQ(ready.persist->last_precommit, precommits[0]);
}

TEST_F(ConsensusTest, Line36InPrecommitStepSetsValidValueButDoesNotLock) {
  StartAt(1);
  const ValueId id = ComputeValueId(ToBytes("block"));
  Fire(TimeoutKind::kPropose, 0);  // prevote nil (line 59)
  DeliverVotes(VoteType::kPrevote, 0, id, {1, 2});
  Fire(TimeoutKind::kPrevote, 0);  // timer from line 35; precommit nil (line 63)
  EXPECT_EQ(consensus_->step(), RoundStep::kPrecommit);
  DeliverVotes(VoteType::kPrevote, 0, id, {3});
  Ready ready = Deliver(SignedProposal(0, "block"));
  EXPECT_TRUE(VotesIn(ready, VoteType::kPrecommit).empty());  // line 37: only in prevote step
  EXPECT_FALSE(consensus_->durable_state().locked.has_value());
  ASSERT_TRUE(consensus_->durable_state().valid.has_value());  // lines 42-43 regardless
  EXPECT_EQ(consensus_->durable_state().valid->value, ToBytes("block"));
  EXPECT_EQ(consensus_->durable_state().valid->round, 0u);
}

TEST_F(ConsensusTest, Lines44To46NilPrevoteQuorumPrecommitsNil) {
  StartAt(1);
  Fire(TimeoutKind::kPropose, 0);
  Ready ready = DeliverVotes(VoteType::kPrevote, 0, std::nullopt, {1, 2});
  std::vector<Vote> precommits = VotesIn(ready, VoteType::kPrecommit);
  ASSERT_EQ(precommits.size(), 1u);
  EXPECT_FALSE(precommits[0].value_id.has_value());
  EXPECT_FALSE(consensus_->durable_state().locked.has_value());
}

TEST_F(ConsensusTest, Lines57To60ProposeTimeoutPrevotesNil) {
  StartAt(1);
  Ready stale = Fire(TimeoutKind::kPropose, 5);  // other round: ignored
  EXPECT_TRUE(stale.messages.empty());
  Ready ready = Fire(TimeoutKind::kPropose, 0);
  std::vector<Vote> prevotes = VotesIn(ready, VoteType::kPrevote);
  ASSERT_EQ(prevotes.size(), 1u);
  EXPECT_FALSE(prevotes[0].value_id.has_value());
  EXPECT_EQ(consensus_->step(), RoundStep::kPrevote);
  // A proposal arriving after the timeout does not produce a second prevote (line 22 needs
  // step = propose).
  Ready late = Deliver(SignedProposal(0, "block"));
  EXPECT_TRUE(VotesIn(late, VoteType::kPrevote).empty());
}

TEST_F(ConsensusTest, Lines47To48And65To67PrecommitTimeoutStartsNextRound) {
  StartAt(1);
  Fire(TimeoutKind::kPropose, 0);
  DeliverVotes(VoteType::kPrevote, 0, std::nullopt, {1, 2});
  Ready ready = DeliverVotes(VoteType::kPrecommit, 0, std::nullopt, {1, 2});
  EXPECT_TRUE(HasTimer(ready, TimeoutKind::kPrecommit, 0));
  Ready next = Fire(TimeoutKind::kPrecommit, 0);
  EXPECT_EQ(consensus_->round(), 1u);
  EXPECT_EQ(consensus_->step(), RoundStep::kPropose);
  EXPECT_TRUE(HasTimer(next, TimeoutKind::kPropose, 1));
}

TEST_F(ConsensusTest, TimeoutsGrowWithTheRound) {
  Config config = TestConfig();
  EXPECT_EQ(config.TimeoutDurationMs(TimeoutKind::kPropose, 0), 300);
  EXPECT_EQ(config.TimeoutDurationMs(TimeoutKind::kPropose, 4), 500);
  EXPECT_EQ(config.TimeoutDurationMs(TimeoutKind::kPrevote, 2), 200);
  EXPECT_EQ(config.TimeoutDurationMs(TimeoutKind::kPrecommit, 1), 150);
  EXPECT_EQ(config.TimeoutDurationMs(TimeoutKind::kPrecommit, limits::kConsensusRoundMax),
            limits::kConsensusTimeoutMax.count());
  StartAt(1);
  Fire(TimeoutKind::kPropose, 0);
  DeliverVotes(VoteType::kPrevote, 0, std::nullopt, {1, 2});
  DeliverVotes(VoteType::kPrecommit, 0, std::nullopt, {1, 2});
  Ready ready = Fire(TimeoutKind::kPrecommit, 0);
  ASSERT_EQ(ready.timers.size(), 1u);
  EXPECT_EQ(ready.timers[0].duration_ms, 350);
}

TEST_F(ConsensusTest, Line23LockedNodePrevotesNilForOtherValue) {
  StartAt(1);
  LockOn(0, "block A");
  FailRound(0);
  // Round 1's proposer offers another value without a valid round: refused (line 23).
  Ready ready = Deliver(SignedProposal(1, "block B"));
  std::vector<Vote> prevotes = VotesIn(ready, VoteType::kPrevote);
  ASSERT_EQ(prevotes.size(), 1u);
  EXPECT_FALSE(prevotes[0].value_id.has_value());
  // ... but the locked value itself is accepted (lockedValue = v).
  SetUp();
  StartAt(1);
  LockOn(0, "block A");
  FailRound(0);
  Ready same = Deliver(SignedProposal(1, "block A"));
  ASSERT_EQ(VotesIn(same, VoteType::kPrevote).size(), 1u);
  EXPECT_EQ(VotesIn(same, VoteType::kPrevote)[0].value_id, ComputeValueId(ToBytes("block A")));
}

TEST_F(ConsensusTest, Lines28To33HigherValidRoundUnlocks) {
  StartAt(1);
  LockOn(0, "block A");
  FailRound(0);
  // Round 1: this node missed the proposal but sees 2f+1 prevotes for B (others unlocked).
  const ValueId b = ComputeValueId(ToBytes("block B"));
  DeliverVotes(VoteType::kPrevote, 1, b, {1, 2, 3});
  Fire(TimeoutKind::kPropose, 1);
  Fire(TimeoutKind::kPrevote, 1);
  FailRound(1);
  // Round 2: proposer re-proposes B with validRound 1 >= lockedRound 0: prevote B (line 30).
  Ready ready = Deliver(SignedProposal(2, "block B", 1));
  std::vector<Vote> prevotes = VotesIn(ready, VoteType::kPrevote);
  ASSERT_EQ(prevotes.size(), 1u);
  EXPECT_EQ(prevotes[0].value_id, b);
}

TEST_F(ConsensusTest, Line29ValidRoundBelowLockIsRefused) {
  StartAt(1);
  // Round 0: prevotes for B seen, but no lock (this node had precommitted nil by timeout).
  const ValueId b = ComputeValueId(ToBytes("block B"));
  Fire(TimeoutKind::kPropose, 0);
  DeliverVotes(VoteType::kPrevote, 0, b, {1, 2, 3});
  FailRound(0);
  // Round 1: lock on A.
  LockOn(1, "block A");
  FailRound(1);
  // Round 2: B with validRound 0 < lockedRound 1: prevote nil (line 32).
  Ready ready = Deliver(SignedProposal(2, "block B", 0));
  std::vector<Vote> prevotes = VotesIn(ready, VoteType::kPrevote);
  ASSERT_EQ(prevotes.size(), 1u);
  EXPECT_FALSE(prevotes[0].value_id.has_value());
}

TEST_F(ConsensusTest, Line28WaitsForTheValidRoundPrevotes) {
  StartAt(1);
  FailRound(0);
  Ready ready = Deliver(SignedProposal(1, "block B", 0));
  EXPECT_TRUE(VotesIn(ready, VoteType::kPrevote).empty());  // no 2f+1 PREVOTE(h, 0, id(B)) yet
  Ready then = DeliverVotes(VoteType::kPrevote, 0, ComputeValueId(ToBytes("block B")), {1, 2, 3});
  ASSERT_EQ(VotesIn(then, VoteType::kPrevote).size(), 1u);
  EXPECT_EQ(VotesIn(then, VoteType::kPrevote)[0].value_id, ComputeValueId(ToBytes("block B")));
}

TEST_F(ConsensusTest, Lines15To16ProposerReproposesValidValueWithValidRound) {
  // kMe proposes at height 3 round 1 ((3 + 1) mod 4 = 0).
  StartAt(3);
  LockOn(0, "block A");
  FailRound(0);
  // StartRound(1) ran inside FailRound; its Ready was taken there, so look at the state.
  const auto& last = consensus_->durable_state().last_proposal;
  ASSERT_TRUE(last.has_value());
  EXPECT_EQ(last->round, 1u);
  EXPECT_EQ(last->value, ToBytes("block A"));
  EXPECT_EQ(last->valid_round, std::optional<uint32_t>(0));
  EXPECT_EQ(values_.get_value_calls, 0);  // line 18 not reached
}

TEST_F(ConsensusTest, Lines49To54DecideWithCertificate) {
  StartAt(1);
  LockOn(0, "block");
  const ValueId id = ComputeValueId(ToBytes("block"));
  Ready ready = DeliverVotes(VoteType::kPrecommit, 0, id, {1, 3});
  ASSERT_TRUE(ready.decision.has_value());
  EXPECT_EQ(ready.decision->height, 1u);
  EXPECT_EQ(ready.decision->value, ToBytes("block"));
  EXPECT_EQ(ready.decision->certificate.signatures.size(), 3u);
  auto status = VerifyCommitCertificate(set_, kChainId, 1, id, ready.decision->certificate);
  EXPECT_TRUE(status.has_value()) << status.error().ToString();
  EXPECT_TRUE(consensus_->decided());
  // Lines 52-54 once the caller has committed.
  Ready next = StartAt(2);
  EXPECT_EQ(consensus_->height(), 2u);
  EXPECT_EQ(consensus_->round(), 0u);
  EXPECT_FALSE(consensus_->durable_state().locked.has_value());
  EXPECT_FALSE(consensus_->durable_state().valid.has_value());
}

TEST_F(ConsensusTest, Line49DecidesForAnEarlierRound) {
  StartAt(1);
  DeliverVotes(VoteType::kPrevote, 2, std::nullopt, {1, 2});  // line 55 takes it to round 2
  ASSERT_EQ(consensus_->round(), 2u);
  // Round 0's proposal and its 2f+1 precommits arrive late: decide in round 0's value.
  const ValueId id = ComputeValueId(ToBytes("late block"));
  Deliver(SignedProposal(0, "late block"));
  Ready ready = DeliverVotes(VoteType::kPrecommit, 0, id, {1, 2, 3});
  ASSERT_TRUE(ready.decision.has_value());
  EXPECT_EQ(ready.decision->round, 0u);
  EXPECT_EQ(ready.decision->value, ToBytes("late block"));
}

TEST_F(ConsensusTest, Line50NeverDecidesAnInvalidValue) {
  StartAt(1);
  Deliver(SignedProposal(0, "bad block"));
  Ready ready =
      DeliverVotes(VoteType::kPrecommit, 0, ComputeValueId(ToBytes("bad block")), {1, 2, 3});
  EXPECT_FALSE(ready.decision.has_value());
}

TEST_F(ConsensusTest, Lines55To56RoundSkipOnFPlusOne) {
  StartAt(1);
  DeliverVotes(VoteType::kPrevote, 3, std::nullopt, {1});
  EXPECT_EQ(consensus_->round(), 0u);  // f messages are not enough: maybe all Byzantine
  Ready ready = DeliverVotes(VoteType::kPrecommit, 3, std::nullopt, {2});
  EXPECT_EQ(consensus_->round(), 3u);  // f+1 = more than 1/3 of the power
  EXPECT_TRUE(HasTimer(ready, TimeoutKind::kPropose, 3));
  // Far beyond the stored window: the skip rule still counts them.
  DeliverVotes(VoteType::kPrevote, 500, std::nullopt, {1, 3});
  EXPECT_EQ(consensus_->round(), 500u);
}

TEST_F(ConsensusTest, RoundSkipIsWeighted) {
  Build({1, 1, 1, 4});  // total 7: validator 3 alone holds more than 1/3
  StartAt(1);
  DeliverVotes(VoteType::kPrevote, 2, std::nullopt, {1, 2});  // power 2 of 7: no
  EXPECT_EQ(consensus_->round(), 0u);
  DeliverVotes(VoteType::kPrevote, 2, std::nullopt, {3});
  EXPECT_EQ(consensus_->round(), 2u);
}

TEST_F(ConsensusTest, ConflictingVotesBecomeGossipedEvidence) {
  StartAt(1);
  Deliver(SignedVote(VoteType::kPrevote, 0, std::nullopt, 2));
  Ready ready = Deliver(SignedVote(VoteType::kPrevote, 0, ComputeValueId(ToBytes("x")), 2));
  ASSERT_EQ(ready.evidence.size(), 1u);
  EXPECT_TRUE(VerifyEvidence(set_, kChainId, ready.evidence[0]).has_value());
  bool gossiped = false;
  for (const Message& message : ready.messages)
    gossiped |= std::holds_alternative<Evidence>(message);
  EXPECT_TRUE(gossiped);
  EXPECT_EQ(consensus_->evidence().size(), 1u);
  Ready again = Deliver(ready.evidence[0]);
  EXPECT_TRUE(again.evidence.empty()) << "known evidence is not reported twice";
}

TEST_F(ConsensusTest, EvidenceFromAnotherNodeIsVerified) {
  StartAt(1);
  Vote a = SignedVote(VoteType::kPrecommit, 0, std::nullopt, 3);
  Vote b = SignedVote(VoteType::kPrecommit, 0, ComputeValueId(ToBytes("y")), 3);
  Evidence forged = MakeEvidence(a, b);
  forged.second.signature[3] ^= 1;
  EXPECT_FALSE(consensus_->Step(forged, now_ms_).has_value());
  Ready ready = Deliver(MakeEvidence(a, b));
  EXPECT_EQ(ready.evidence.size(), 1u);
}

TEST_F(ConsensusTest, InvalidVoteSignatureIsRefusedAndNotCounted) {
  StartAt(1);
  Fire(TimeoutKind::kPropose, 0);
  Vote forged = SignedVote(VoteType::kPrevote, 0, std::nullopt, 1);
  forged.signature[10] ^= 4;
  auto status = consensus_->Step(forged, now_ms_);
  ASSERT_FALSE(status.has_value());
  EXPECT_EQ(status.error().code(), ErrorCode::kUnauthenticated);
  Ready ready = DeliverVotes(VoteType::kPrevote, 0, std::nullopt, {2});
  EXPECT_TRUE(VotesIn(ready, VoteType::kPrecommit).empty()) << "forged vote was counted";
}

TEST_F(ConsensusTest, DurableStateRoundTripsAndRestartResendsTheSameVotes) {
  StartAt(1);
  LockOn(0, "block");
  Ready ready = consensus_->TakeReady();
  const DurableState state = consensus_->durable_state();
  auto decoded = DecodeDurableState(EncodeDurableState(state));
  ASSERT_TRUE(decoded.has_value()) << decoded.error().ToString();
  EXPECT_EQ(*decoded, state);
  Bytes truncated = EncodeDurableState(state);
  truncated.pop_back();
  EXPECT_FALSE(DecodeDurableState(truncated).has_value());

  // Crash and restart from the persisted record.
  consensus_ = std::make_unique<Consensus>(TestConfig(), signer_.get(), values_, verifier_);
  consensus_->Restore(*decoded, set_, now_ms_);
  Ready restored = consensus_->TakeReady();
  ASSERT_EQ(VotesIn(restored, VoteType::kPrecommit).size(), 1u);
  EXPECT_EQ(VotesIn(restored, VoteType::kPrecommit)[0], state.last_precommit);
  EXPECT_EQ(VotesIn(restored, VoteType::kPrevote)[0], state.last_prevote);
  EXPECT_TRUE(consensus_->durable_state().locked.has_value());
  // Nil prevotes now cannot produce a nil precommit: the step is precommit.
  Ready after = DeliverVotes(VoteType::kPrevote, 0, std::nullopt, {3});
  EXPECT_TRUE(VotesIn(after, VoteType::kPrecommit).empty());
  EXPECT_EQ(consensus_->refused_signatures(), 0u);
}

TEST_F(ConsensusTest, DurableStateHoldsEachValueOnceAndStillReadsVersion1Records) {
  StartAt(1);
  const std::string block(10'000, 'b');
  LockOn(0, block);
  consensus_->TakeReady();
  // As the proposer's own record would be: its proposal, its lock and its valid value all
  // hold the same block.
  DurableState state = consensus_->durable_state();
  ASSERT_TRUE(state.locked && state.valid);
  state.last_proposal = Proposal{.height = state.height,
                                 .round = 0,
                                 .value = state.locked->value,
                                 .valid_round = std::nullopt,
                                 .proposer_index = kMe,
                                 .signature = {}};
  ASSERT_EQ(state.locked->value, state.last_proposal->value);
  const Bytes encoded = EncodeDurableState(state);
  EXPECT_LT(encoded.size(), 2 * block.size()) << "the value is written more than once";
  EXPECT_EQ(encoded[0], 2);

  // Version 1: every value in full, where it appears.
  codec::Encoder v1;
  v1.WriteU8(1);
  v1.WriteU64(state.height);
  v1.WriteU32(state.round);
  v1.WriteU8(static_cast<uint8_t>(state.step));
  auto write_round_value = [](codec::Encoder& out, const RoundValue& round_value) {
    out.WriteU32(round_value.round);
    out.WriteBytes(round_value.value);
  };
  v1.WriteOptional(state.locked, write_round_value);
  v1.WriteOptional(state.valid, write_round_value);
  v1.WriteOptional(state.last_proposal, EncodeProposal);
  v1.WriteOptional(state.last_prevote, EncodeVote);
  v1.WriteOptional(state.last_precommit, EncodeVote);
  v1.WriteVector(state.valid_prevotes, EncodeVote);
  v1.WriteVector(state.earlier_votes, EncodeVote);
  auto from_v1 = DecodeDurableState(v1.bytes());
  ASSERT_TRUE(from_v1.has_value()) << from_v1.error().ToString();
  EXPECT_EQ(*from_v1, state);
  EXPECT_GT(v1.bytes().size(), 3 * block.size());

  // Version 2 written by hand: the encoder's layout is accepted; a table that repeats a
  // value, or whose order is not that of first use, is another encoding of a state that has
  // one already: refused, not silently read.
  auto version2 = [&](const std::vector<Bytes>& table, uint8_t locked, uint8_t valid,
                      uint8_t proposal) {
    codec::Encoder out;
    out.WriteU8(2);
    out.WriteU64(state.height);
    out.WriteU32(state.round);
    out.WriteU8(static_cast<uint8_t>(state.step));
    out.WriteVector(table,
                    [](codec::Encoder& inner, const Bytes& value) { inner.WriteBytes(value); });
    for (auto [round, index] :
         {std::pair{state.locked->round, locked}, std::pair{state.valid->round, valid}}) {
      out.WriteU8(1);
      out.WriteU32(round);
      out.WriteU8(index);
    }
    Proposal header = *state.last_proposal;
    header.value.clear();
    out.WriteU8(1);
    EncodeProposal(out, header);
    out.WriteU8(proposal);
    out.WriteOptional(state.last_prevote, EncodeVote);
    out.WriteOptional(state.last_precommit, EncodeVote);
    out.WriteVector(state.valid_prevotes, EncodeVote);
    out.WriteVector(state.earlier_votes, EncodeVote);
    return std::move(out).Take();
  };
  const Bytes value = state.locked->value, other = ToBytes("another block");
  EXPECT_EQ(version2({value}, 0, 0, 0), encoded);
  EXPECT_TRUE(DecodeDurableState(version2({value, other}, 0, 1, 0)).has_value());
  for (const Bytes& bad : {version2({value, value}, 0, 1, 0), version2({other, value}, 1, 0, 1),
                           version2({value}, 0, 1, 0), version2({value, other}, 0, 0, 0)}) {
    auto refused = DecodeDurableState(bad);
    ASSERT_FALSE(refused.has_value());
    EXPECT_EQ(refused.error().code(), ErrorCode::kCorruption) << refused.error().ToString();
  }
}

TEST_F(ConsensusTest, RestartNeverSignsASecondDifferentVote) {
  // A record whose step lags its signed prevote (as if the step change had not been written):
  // the machine wants to prevote the proposal, but may only re-send the nil prevote it signed.
  StartAt(1);
  Fire(TimeoutKind::kPropose, 0);
  DurableState state = consensus_->durable_state();
  ASSERT_TRUE(state.last_prevote.has_value());
  state.step = RoundStep::kPropose;
  consensus_ = std::make_unique<Consensus>(TestConfig(), signer_.get(), values_, verifier_);
  consensus_->Restore(state, set_, now_ms_);
  consensus_->TakeReady();
  Ready ready = Deliver(SignedProposal(0, "block"));
  std::vector<Vote> prevotes = VotesIn(ready, VoteType::kPrevote);
  ASSERT_EQ(prevotes.size(), 1u);
  EXPECT_EQ(prevotes[0], *state.last_prevote);
  EXPECT_FALSE(prevotes[0].value_id.has_value());

  // A precommit signed in round 0 forbids any prevote in round 0 afterwards.
  SetUp();
  StartAt(1);
  LockOn(0, "block");
  DurableState locked = consensus_->durable_state();
  locked.last_prevote.reset();
  locked.step = RoundStep::kPropose;
  consensus_ = std::make_unique<Consensus>(TestConfig(), signer_.get(), values_, verifier_);
  consensus_->Restore(locked, set_, now_ms_);
  consensus_->TakeReady();
  Ready later = Deliver(SignedProposal(0, "block"));
  EXPECT_TRUE(VotesIn(later, VoteType::kPrevote).empty());
  EXPECT_EQ(consensus_->refused_signatures(), 1u);
}

TEST_F(ConsensusTest, CommitMessageCatchesUpANodeThatMissedTheRound) {
  StartAt(1);
  const ValueId id = ComputeValueId(ToBytes("block"));
  CommitCertificate certificate{.height = 1, .round = 0, .value_id = id, .signatures = {}};
  for (uint32_t index : {1u, 2u}) {
    certificate.signatures.push_back(
        {index, SignedVote(VoteType::kPrecommit, 0, id, index).signature});
  }
  // Two of four is not enough.
  EXPECT_FALSE(consensus_->Step(Commit{ToBytes("block"), certificate}, now_ms_).has_value());
  certificate.signatures.push_back({3, SignedVote(VoteType::kPrecommit, 0, id, 3).signature});
  EXPECT_FALSE(consensus_->Step(Commit{ToBytes("other"), certificate}, now_ms_).has_value());
  Ready ready = Deliver(Commit{ToBytes("block"), certificate});
  ASSERT_TRUE(ready.decision.has_value());
  EXPECT_EQ(ready.decision->certificate, certificate);
}

TEST_F(ConsensusTest, ObserverDecidesWithoutVoting) {
  consensus_ = std::make_unique<Consensus>(TestConfig(), nullptr, values_, verifier_);
  StartAt(1);
  Ready proposal = Deliver(SignedProposal(0, "block"));
  EXPECT_TRUE(proposal.messages.empty());
  const ValueId id = ComputeValueId(ToBytes("block"));
  DeliverVotes(VoteType::kPrevote, 0, id, {1, 2, 3});
  Ready ready = DeliverVotes(VoteType::kPrecommit, 0, id, {1, 2, 3});
  ASSERT_TRUE(ready.decision.has_value());
  EXPECT_TRUE(VotesIn(ready, VoteType::kPrecommit).empty());
}

TEST_F(ConsensusTest, GossipTickResendsTheRoundsMessages) {
  StartAt(1);
  Deliver(SignedProposal(0, "block"));
  DeliverVotes(VoteType::kPrevote, 0, ComputeValueId(ToBytes("block")), {2});
  consensus_->OnGossipTick(now_ms_);
  Ready ready = consensus_->TakeReady();
  EXPECT_EQ(ProposalsIn(ready).size(), 1u);
  EXPECT_EQ(VotesIn(ready, VoteType::kPrevote).size(), 2u);  // kMe's and validator 2's
  EXPECT_FALSE(ready.persist.has_value()) << "gossip changes no durable state";
}

TEST_F(ConsensusTest, DuplicatesAndOtherHeightsAreIgnored) {
  StartAt(1);
  Vote vote = SignedVote(VoteType::kPrevote, 0, std::nullopt, 1);
  Deliver(vote);
  Ready duplicate = Deliver(vote);
  EXPECT_TRUE(duplicate.empty());
  Ready other_height = Deliver(SignedVote(VoteType::kPrevote, 0, std::nullopt, 2, 7));
  EXPECT_TRUE(other_height.empty());
}

TEST_F(ConsensusTest, EquivocatorsSecondPrevoteCountsForAHeldProposal) {
  // Validator 3 sent nil to this node and B to others: both are its messages (the paper counts
  // messages), so with the proposal for B held here its B prevote completes the quorum.
  StartAt(1);
  FailRound(0);
  Deliver(SignedProposal(1, "block B", 0));
  const ValueId b = ComputeValueId(ToBytes("block B"));
  DeliverVotes(VoteType::kPrevote, 0, std::nullopt, {3});
  Ready partial = DeliverVotes(VoteType::kPrevote, 0, b, {1, 2});
  EXPECT_TRUE(VotesIn(partial, VoteType::kPrevote).empty()) << "2 of 4 for B is not a quorum";
  Ready ready = DeliverVotes(VoteType::kPrevote, 0, b, {3});
  EXPECT_EQ(ready.evidence.size(), 1u);
  ASSERT_EQ(VotesIn(ready, VoteType::kPrevote).size(), 1u);  // line 28 fired
  EXPECT_EQ(VotesIn(ready, VoteType::kPrevote)[0].value_id, b);
}

TEST_F(ConsensusTest, ValidRoundPrevotesSurviveARestart) {
  // kMe locks on A in round 0, crashes, restarts, and as proposer of (3, 1) re-proposes A with
  // validRound 0; the restored prevotes let it (and its gossip) justify line 28.
  StartAt(3);
  LockOn(0, "block A");
  const DurableState state = consensus_->durable_state();
  ASSERT_EQ(state.valid_prevotes.size(), 3u);
  auto decoded = DecodeDurableState(EncodeDurableState(state));
  ASSERT_TRUE(decoded.has_value());
  consensus_ = std::make_unique<Consensus>(TestConfig(), signer_.get(), values_, verifier_);
  consensus_->Restore(*decoded, set_, now_ms_);
  consensus_->TakeReady();
  FailRound(0);
  consensus_->OnGossipTick(now_ms_);
  Ready gossip = consensus_->TakeReady();
  ASSERT_EQ(ProposalsIn(gossip).size(), 1u);
  EXPECT_EQ(ProposalsIn(gossip)[0].valid_round, std::optional<uint32_t>(0));
  std::set<uint32_t> justifying;  // the previous round's votes may repeat them
  for (const Vote& vote : VotesIn(gossip, VoteType::kPrevote)) {
    if (vote.round == 0 && vote.value_id == ComputeValueId(ToBytes("block A"))) {
      justifying.insert(vote.validator_index);
    }
  }
  EXPECT_EQ(justifying.size(), 3u);
}

TEST_F(ConsensusTest, OwnVotesOfEarlierRoundsSurviveARestartAndKeepBeingGossiped) {
  // Round 0: prevote nil, precommit nil; rounds 1 and 2 likewise. A node still in round 0 may
  // need exactly this node's round-0 prevote, so it is persisted and re-sent from round 2 on.
  StartAt(1);
  for (uint32_t round = 0; round < 3; ++round) {
    Fire(TimeoutKind::kPropose, round);
    DeliverVotes(VoteType::kPrevote, round, std::nullopt, {1, 2});
    FailRound(round);
  }
  const DurableState state = consensus_->durable_state();
  // Rounds 0 and 1 both votes, round 2's prevote: round 3 is kMe's ((1 + 3) mod 4), so it has
  // already proposed and prevoted there; round 2's precommit is still the last precommit.
  EXPECT_EQ(state.earlier_votes.size(), 5u);
  auto decoded = DecodeDurableState(EncodeDurableState(state));
  ASSERT_TRUE(decoded.has_value());
  EXPECT_EQ(*decoded, state);
  consensus_ = std::make_unique<Consensus>(TestConfig(), signer_.get(), values_, verifier_);
  consensus_->Restore(*decoded, set_, now_ms_);
  consensus_->TakeReady();
  consensus_->OnGossipTick(now_ms_);
  Ready gossip = consensus_->TakeReady();
  bool round_zero_prevote = false;
  for (const Vote& vote : VotesIn(gossip, VoteType::kPrevote)) {
    round_zero_prevote |= vote.round == 0 && vote.validator_index == kMe;
  }
  EXPECT_TRUE(round_zero_prevote);
  EXPECT_EQ(consensus_->refused_signatures(), 0u);
}

TEST_F(ConsensusTest, ApplicationChosenValueIdsNameTheHeader) {
  values_.header_ids = true;
  StartAt(1);
  const ValueId header_id = ComputeValueId(ToBytes("HEADER01"));
  Proposal proposal = SignedProposal(0, "HEADER01 and the transactions");
  // Signed over the application's id, as the state machine signs its own proposals.
  proposal.signature = keys_by_index_[proposal.proposer_index]->Sign(
      ProposalSignBytes(kChainId, proposal, header_id));
  EXPECT_TRUE(VerifyProposal(set_, kChainId, proposal, header_id).has_value());
  Ready ready = Deliver(proposal);
  ASSERT_EQ(VotesIn(ready, VoteType::kPrevote).size(), 1u);
  EXPECT_EQ(VotesIn(ready, VoteType::kPrevote)[0].value_id, header_id);
  DeliverVotes(VoteType::kPrevote, 0, header_id, {1, 2});
  Ready decided = DeliverVotes(VoteType::kPrecommit, 0, header_id, {1, 2});
  ASSERT_TRUE(decided.decision.has_value());
  EXPECT_EQ(decided.decision->certificate.value_id, header_id);
  EXPECT_TRUE(VerifyCommitCertificate(set_, kChainId, 1, header_id, decided.decision->certificate)
                  .has_value());
  // A value the application cannot name is refused, not voted on.
  SetUp();
  values_.header_ids = true;
  StartAt(1);
  auto status = consensus_->Step(SignedProposal(0, "short"), now_ms_);
  EXPECT_FALSE(status.has_value());
  EXPECT_TRUE(consensus_->TakeReady().messages.empty());
}

}  // namespace
}  // namespace vigil::consensus
