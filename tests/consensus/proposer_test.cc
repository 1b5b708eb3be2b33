#include "consensus/proposer.h"

#include <gtest/gtest.h>

#include <map>

namespace vigil::consensus {
namespace {

ValidatorSet MakeSet(std::vector<uint64_t> powers) {
  std::vector<Validator> validators;
  for (size_t i = 0; i < powers.size(); ++i) {
    Validator validator;
    validator.public_key[0] = static_cast<uint8_t>(i + 1);  // key order = listing order
    validator.voting_power = powers[i];
    validators.push_back(validator);
  }
  return ValidatorSet::Create(validators).value();
}

TEST(ProposerSelectorTest, EqualPowersRotate) {
  ProposerSelector selector(MakeSet({1, 1, 1, 1}));
  for (uint64_t height = 0; height < 12; ++height) {
    for (uint32_t round = 0; round < 5; ++round) {
      EXPECT_EQ(selector.Proposer(height, round), (height + round) % 4);
    }
  }
}

TEST(ProposerSelectorTest, EachWindowOfTotalPowerPicksByWeight) {
  std::vector<uint64_t> powers = {5, 1, 3, 2};
  ProposerSelector selector(MakeSet(powers));
  for (uint64_t start : {0u, 11u, 22u}) {
    std::map<uint32_t, uint64_t> picks;
    for (uint64_t k = start; k < start + 11; ++k) ++picks[selector.Proposer(k, 0)];
    for (uint32_t index = 0; index < powers.size(); ++index) {
      EXPECT_EQ(picks[index], powers[index]) << "window from " << start;
    }
  }
}

TEST(ProposerSelectorTest, DeterministicInAnyQueryOrder) {
  ProposerSelector forward(MakeSet({7, 3, 1}));
  ProposerSelector backward(MakeSet({7, 3, 1}));
  std::vector<uint32_t> expected;
  for (uint64_t k = 0; k < 50; ++k) expected.push_back(forward.Proposer(k, 0));
  for (uint64_t k = 50; k-- > 0;)
    EXPECT_EQ(backward.Proposer(0, static_cast<uint32_t>(k)), expected[k]);
  // Smooth: the heavy validator never proposes more than twice in a row with 7 of 11.
  int run = 0;
  for (uint64_t k = 0; k < 50; ++k) {
    run = expected[k] == 0 ? run + 1 : 0;
    EXPECT_LE(run, 3);
  }
}

TEST(ProposerSelectorTest, AnyQueryOrderMatchesAFreshSelector) {
  const ValidatorSet set = MakeSet({3, 1, 4, 1, 5});
  ProposerSelector cached(set);
  uint64_t state = 12345;  // a fixed LCG: the test is deterministic
  for (int i = 0; i < 400; ++i) {
    state = state * 6364136223846793005u + 1442695040888963407u;
    const uint64_t height = 1 + (state >> 33) % 40;
    const auto round = static_cast<uint32_t>((state >> 20) % 12);
    ProposerSelector fresh(set);
    ASSERT_EQ(cached.Proposer(height, round), fresh.Proposer(height, round))
        << "height " << height << " round " << round;
  }
}

}  // namespace
}  // namespace vigil::consensus
