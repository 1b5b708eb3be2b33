#include "consensus/types.h"

#include <gtest/gtest.h>

namespace vigil::consensus {
namespace {

constexpr std::string_view kChainId = "vigil-test";

crypto::PrivateKey KeyFromByte(uint8_t byte) {
  std::array<uint8_t, limits::kEd25519SeedBytes> seed{};
  seed.fill(byte);
  return crypto::PrivateKey::FromSeed(seed).value();
}

struct Fixture {
  std::vector<crypto::PrivateKey> keys;
  ValidatorSet set;
  // keys_by_index[i] signs for validator index i of `set`.
  std::vector<const crypto::PrivateKey*> keys_by_index;
};

Fixture MakeFixture(std::vector<uint64_t> powers) {
  Fixture fixture;
  std::vector<Validator> validators;
  for (size_t i = 0; i < powers.size(); ++i) {
    fixture.keys.push_back(KeyFromByte(static_cast<uint8_t>(i + 1)));
    validators.push_back({fixture.keys.back().public_key(), powers[i]});
  }
  fixture.set = ValidatorSet::Create(validators).value();
  fixture.keys_by_index.resize(powers.size());
  for (const auto& key : fixture.keys) {
    fixture.keys_by_index[*fixture.set.IndexOf(key.public_key())] = &key;
  }
  return fixture;
}

Vote SignedVote(const Fixture& fixture, VoteType type, uint64_t height, uint32_t round,
                std::optional<ValueId> id, uint32_t index) {
  Vote vote{
      .type = type, .height = height, .round = round, .value_id = id, .validator_index = index};
  vote.signature = fixture.keys_by_index[index]->Sign(VoteSignBytes(kChainId, vote));
  return vote;
}

CommitCertificate Certificate(const Fixture& fixture, uint64_t height, uint32_t round,
                              const ValueId& id, std::vector<uint32_t> indexes) {
  CommitCertificate certificate{.height = height, .round = round, .value_id = id, .signatures = {}};
  for (uint32_t index : indexes) {
    Vote vote = SignedVote(fixture, VoteType::kPrecommit, height, round, id, index);
    certificate.signatures.push_back({index, vote.signature});
  }
  return certificate;
}

TEST(ValidatorSetTest, SortsByKeyAndRefusesBadSets) {
  Fixture fixture = MakeFixture({1, 2, 3, 4});
  EXPECT_EQ(fixture.set.total_voting_power(), 10u);
  for (uint32_t i = 1; i < fixture.set.size(); ++i) {
    EXPECT_LT(fixture.set.at(i - 1).public_key, fixture.set.at(i).public_key);
  }
  EXPECT_FALSE(ValidatorSet::Create({}).has_value());
  EXPECT_FALSE(ValidatorSet::Create({{fixture.keys[0].public_key(), 0}}).has_value());
  EXPECT_FALSE(
      ValidatorSet::Create({{fixture.keys[0].public_key(), 1}, {fixture.keys[0].public_key(), 1}})
          .has_value());
  EXPECT_FALSE(
      ValidatorSet::Create({{fixture.keys[0].public_key(), limits::kConsensusTotalVotingPowerMax},
                            {fixture.keys[1].public_key(), 1}})
          .has_value());
}

TEST(ValidatorSetTest, QuorumIsStrictlyMoreThanTwoThirds) {
  Fixture fixture = MakeFixture({1, 1, 1, 1});
  EXPECT_FALSE(fixture.set.IsQuorum(2));
  EXPECT_TRUE(fixture.set.IsQuorum(3));
  EXPECT_FALSE(fixture.set.ExceedsOneThird(1));
  EXPECT_TRUE(fixture.set.ExceedsOneThird(2));
  Fixture three = MakeFixture({1, 1, 1});
  EXPECT_FALSE(three.set.IsQuorum(2));  // exactly 2/3 is not enough
  EXPECT_TRUE(three.set.IsQuorum(3));
}

TEST(ValidatorSetTest, EncodingRoundTripsAndIsStrict) {
  Fixture fixture = MakeFixture({5, 7, 9});
  Bytes bytes = fixture.set.Encode();
  auto decoded = ValidatorSet::Decode(bytes);
  ASSERT_TRUE(decoded.has_value()) << decoded.error().ToString();
  EXPECT_EQ(*decoded, fixture.set);
  EXPECT_EQ(decoded->Hash(), fixture.set.Hash());
  // Swap the first two entries (key 32 + power 8 bytes each, after a u32 count): unsorted.
  Bytes swapped = bytes;
  std::swap_ranges(swapped.begin() + 4, swapped.begin() + 44, swapped.begin() + 44);
  EXPECT_FALSE(ValidatorSet::Decode(swapped).has_value());
  Bytes trailing = bytes;
  trailing.push_back(0);
  EXPECT_FALSE(ValidatorSet::Decode(trailing).has_value());
}

TEST(VoteTest, SignBytesSeparateChainsAndPurposes) {
  Fixture fixture = MakeFixture({1, 1, 1, 1});
  Vote vote = SignedVote(fixture, VoteType::kPrevote, 3, 1, ComputeValueId(ToBytes("b")), 2);
  EXPECT_TRUE(VerifyVote(fixture.set, kChainId, vote).has_value());
  EXPECT_FALSE(VerifyVote(fixture.set, "other-chain", vote).has_value());
  Vote as_precommit = vote;
  as_precommit.type = VoteType::kPrecommit;
  EXPECT_FALSE(VerifyVote(fixture.set, kChainId, as_precommit).has_value());
  Vote other_signer = vote;
  other_signer.validator_index = 1;
  EXPECT_FALSE(VerifyVote(fixture.set, kChainId, other_signer).has_value());
  Vote out_of_range = vote;
  out_of_range.validator_index = 9;
  EXPECT_FALSE(VerifyVote(fixture.set, kChainId, out_of_range).has_value());
}

TEST(MessageTest, EveryKindRoundTrips) {
  Fixture fixture = MakeFixture({1, 1, 1, 1});
  ValueId id = ComputeValueId(ToBytes("block"));
  Vote nil_vote = SignedVote(fixture, VoteType::kPrevote, 7, 2, std::nullopt, 1);
  Vote value_vote = SignedVote(fixture, VoteType::kPrevote, 7, 2, id, 1);
  Proposal proposal{
      .height = 7, .round = 2, .value = ToBytes("block"), .valid_round = 1, .proposer_index = 3};
  proposal.signature = fixture.keys_by_index[3]->Sign(ProposalSignBytes(kChainId, proposal));
  std::vector<Message> messages = {
      proposal, nil_vote, MakeEvidence(value_vote, nil_vote),
      Commit{ToBytes("block"), Certificate(fixture, 7, 2, id, {0, 1, 3})}};
  for (const Message& message : messages) {
    Bytes bytes = EncodeMessage(message);
    auto decoded = DecodeMessage(bytes);
    ASSERT_TRUE(decoded.has_value()) << decoded.error().ToString();
    EXPECT_EQ(*decoded, message);
    EXPECT_EQ(MessageHeight(*decoded), 7u);
    bytes.push_back(0);
    EXPECT_FALSE(DecodeMessage(bytes).has_value()) << "trailing byte accepted";
    bytes.pop_back();
    for (size_t length = 0; length < bytes.size(); length += 7) {
      EXPECT_FALSE(DecodeMessage(ByteSpan(bytes).first(length)).has_value());
    }
  }
  EXPECT_TRUE(VerifyProposal(fixture.set, kChainId, proposal).has_value());
  proposal.value = ToBytes("other");
  EXPECT_FALSE(VerifyProposal(fixture.set, kChainId, proposal).has_value());
}

TEST(MessageTest, DecoderRefusesNonCanonicalForms) {
  Fixture fixture = MakeFixture({1, 1, 1, 1});
  Proposal proposal{.height = 1, .round = 2, .value = ToBytes("v"), .valid_round = 2};
  EXPECT_FALSE(DecodeMessage(EncodeMessage(proposal)).has_value()) << "valid_round >= round";
  Vote a = SignedVote(fixture, VoteType::kPrevote, 1, 0, std::nullopt, 0);
  Vote b = SignedVote(fixture, VoteType::kPrevote, 1, 0, ComputeValueId(ToBytes("x")), 0);
  EXPECT_FALSE(DecodeMessage(EncodeMessage(Evidence{b, a})).has_value()) << "order";
  EXPECT_FALSE(DecodeMessage(EncodeMessage(Evidence{a, a})).has_value()) << "no conflict";
  Vote far_round = a;
  far_round.round = limits::kConsensusRoundMax + 1;
  EXPECT_FALSE(DecodeMessage(EncodeMessage(far_round)).has_value());
  Bytes unknown_kind = {9};
  EXPECT_FALSE(DecodeMessage(unknown_kind).has_value());
  CommitCertificate unsorted = Certificate(fixture, 1, 0, ComputeValueId(ToBytes("x")), {2, 1});
  EXPECT_FALSE(DecodeCommitCertificate(EncodeCommitCertificate(unsorted)).has_value());
}

TEST(EvidenceTest, VerifiesBothSignatures) {
  Fixture fixture = MakeFixture({1, 1, 1, 1});
  Vote a = SignedVote(fixture, VoteType::kPrecommit, 4, 0, ComputeValueId(ToBytes("x")), 2);
  Vote b = SignedVote(fixture, VoteType::kPrecommit, 4, 0, ComputeValueId(ToBytes("y")), 2);
  Evidence evidence = MakeEvidence(a, b);
  EXPECT_EQ(evidence, MakeEvidence(b, a));
  EXPECT_TRUE(VerifyEvidence(fixture.set, kChainId, evidence).has_value());
  evidence.second.signature[0] ^= 1;
  EXPECT_FALSE(VerifyEvidence(fixture.set, kChainId, evidence).has_value());
}

TEST(CommitCertificateTest, AcceptsMoreThanTwoThirdsOfValidSignatures) {
  Fixture fixture = MakeFixture({1, 1, 1, 1});
  ValueId id = ComputeValueId(ToBytes("block 5"));
  CommitCertificate certificate = Certificate(fixture, 5, 3, id, {0, 2, 3});
  auto status = VerifyCommitCertificate(fixture.set, kChainId, 5, id, certificate);
  EXPECT_TRUE(status.has_value()) << status.error().ToString();
  auto decoded = DecodeCommitCertificate(EncodeCommitCertificate(certificate));
  ASSERT_TRUE(decoded.has_value());
  EXPECT_EQ(*decoded, certificate);
}

TEST(CommitCertificateTest, RefusesEachKindOfFlaw) {
  Fixture fixture = MakeFixture({1, 1, 1, 1});
  ValueId id = ComputeValueId(ToBytes("block 5"));
  auto refused = [&](const CommitCertificate& certificate, uint64_t height, const ValueId& value,
                     std::string_view words) {
    auto status = VerifyCommitCertificate(fixture.set, kChainId, height, value, certificate);
    ASSERT_FALSE(status.has_value());
    EXPECT_EQ(status.error().code(), ErrorCode::kUnauthenticated);
    EXPECT_NE(status.error().message().find(words), std::string::npos) << status.error().message();
  };
  refused(Certificate(fixture, 5, 0, id, {0, 1}), 5, id, "more than 2/3");
  refused(Certificate(fixture, 5, 0, id, {0, 1, 2}), 6, id, "height");
  refused(Certificate(fixture, 5, 0, id, {0, 1, 2}), 5, ComputeValueId(ToBytes("x")), "value");
  CommitCertificate duplicated = Certificate(fixture, 5, 0, id, {0, 1, 1, 2});
  refused(duplicated, 5, id, "sorted");
  CommitCertificate forged = Certificate(fixture, 5, 0, id, {0, 1, 2});
  forged.signatures[1].signature[5] ^= 0x40;
  refused(forged, 5, id, "invalid precommit signature of validator 1");
  CommitCertificate wrong_round = Certificate(fixture, 5, 0, id, {0, 1, 2});
  wrong_round.round = 1;
  refused(wrong_round, 5, id, "invalid precommit");
  CommitCertificate outside = Certificate(fixture, 5, 0, id, {0, 1, 2});
  outside.signatures.push_back({7, outside.signatures[0].signature});
  refused(outside, 5, id, "validator 7");
  // Weighted: one validator with 7 of 10 power is a quorum on its own.
  Fixture weighted = MakeFixture({7, 1, 1, 1});
  uint32_t heavy = *weighted.set.IndexOf(weighted.keys[0].public_key());
  EXPECT_TRUE(VerifyCommitCertificate(weighted.set, kChainId, 5, id,
                                      Certificate(weighted, 5, 0, id, {heavy}))
                  .has_value());
}

}  // namespace
}  // namespace vigil::consensus
