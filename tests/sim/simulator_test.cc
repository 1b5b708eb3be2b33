#include "sim/simulator.h"

#include <gtest/gtest.h>

namespace vigil::sim {
namespace {

SimConfig Mixed(uint64_t seed) {
  SimConfig config;
  config.seed = seed;
  config.faults = Faults::Parse("mixed").value();
  return config;
}

TEST(SimulatorTest, SameSeedReplaysExactly) {
  for (uint64_t seed : {7u, 8u, 9u}) {
    SimResult first = RunSimulation(Mixed(seed));
    SimResult second = RunSimulation(Mixed(seed));
    EXPECT_EQ(first.events, second.events);
    EXPECT_EQ(first.messages_sent, second.messages_sent);
    EXPECT_EQ(first.min_honest_height, second.min_honest_height);
    EXPECT_EQ(first.simulated_ms, second.simulated_ms);
    EXPECT_EQ(first.crashes, second.crashes);
    EXPECT_EQ(first.byzantine, second.byzantine);
    EXPECT_EQ(first.ok, second.ok) << first.failure;
  }
  EXPECT_NE(RunSimulation(Mixed(7)).events, RunSimulation(Mixed(8)).events);
}

TEST(SimulatorTest, FaultFreeClusterDecidesEveryHeightInRoundZeroOrOne) {
  SimConfig config;
  config.seed = 3;
  SimResult result = RunSimulation(config);
  ASSERT_TRUE(result.ok) << result.failure;
  EXPECT_GE(result.min_honest_height, 10u);
  EXPECT_LE(result.max_round, 1u);
  EXPECT_EQ(result.crashes, 0u);
}

TEST(SimulatorTest, SingleValidatorDecidesAlone) {
  SimConfig config;
  config.seed = 1;
  config.nodes = 1;
  SimResult result = RunSimulation(config);
  ASSERT_TRUE(result.ok) << result.failure;
  EXPECT_GE(result.min_honest_height, 10u);
}

TEST(SimulatorTest, SevenNodesWithTwoByzantineStaySafeAndLive) {
  for (uint64_t seed = 1; seed <= 10; ++seed) {
    SimConfig config = Mixed(seed);
    config.nodes = 7;
    config.byzantine_nodes = 2;
    SimResult result = RunSimulation(config);
    EXPECT_TRUE(result.ok) << "seed " << seed << ": " << result.failure;
  }
}

TEST(SimulatorTest, WeightedValidatorsStaySafeAndLive) {
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    SimConfig config = Mixed(seed);
    config.nodes = 5;
    config.weighted = true;
    SimResult result = RunSimulation(config);
    EXPECT_TRUE(result.ok) << "seed " << seed << ": " << result.failure;
  }
}

TEST(SimulatorTest, CheckerCatchesNodesThatForgetWhatTheySigned) {
  int caught = 0;
  for (uint64_t seed = 1; seed <= 40; ++seed) {
    SimConfig config = Mixed(seed);
    config.sabotage_forget_state = true;
    SimResult result = RunSimulation(config);
    if (!result.ok) {
      EXPECT_NE(result.failure.find("double signing"), std::string::npos) << result.failure;
      ++caught;
    }
  }
  EXPECT_GT(caught, 0);
}

TEST(SimulatorTest, FaultsParse) {
  EXPECT_EQ(Faults::Parse("mixed")->ToString(), "mixed");
  EXPECT_EQ(Faults::Parse("none")->ToString(), "none");
  EXPECT_EQ(Faults::Parse("drop,crash")->ToString(), "drop,crash");
  EXPECT_FALSE(Faults::Parse("drop,flood").has_value());
  EXPECT_NE(ReplayCommand(Mixed(12)).find("--seed 12"), std::string::npos);
}

}  // namespace
}  // namespace vigil::sim
