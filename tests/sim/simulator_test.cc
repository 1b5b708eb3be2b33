#include "sim/simulator.h"

#include <gtest/gtest.h>

#include "sim/runner.h"

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

SimConfig WithRulesActivations(uint64_t seed, std::string_view faults) {
  SimConfig config;
  config.seed = seed;
  config.faults = Faults::Parse(faults).value();
  config.rules_activations = true;
  return config;
}

// Without Byzantine proposers every planned activation is decided, so versions 2, 3 and 4 all
// take effect; the rules checker has then compared every honest node's switch heights.
TEST(SimulatorRulesTest, EveryHonestNodeSwitchesAtTheScheduledBlockWhileNodesCrashAndLag) {
  for (std::string_view faults : {"none", "crash,delay", "crash,delay,partition,drop,clog,skew"}) {
    for (uint64_t seed = 1; seed <= 12; ++seed) {
      SimResult result = RunSimulation(WithRulesActivations(seed, faults));
      ASSERT_TRUE(result.ok) << faults << " seed " << seed << ": " << result.failure;
      EXPECT_EQ(result.rules_versions_activated, kSimRulesActivations)
          << faults << " seed " << seed;
      EXPECT_EQ(result.rules_halts, 0u);
    }
  }
}

TEST(SimulatorRulesTest, ActivationsUnderMixedFaultsWithByzantineValidators) {
  uint64_t activated = 0;
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    SimResult result = RunSimulation(WithRulesActivations(seed, "mixed"));
    ASSERT_TRUE(result.ok) << "seed " << seed << ": " << result.failure;
    activated += result.rules_versions_activated;
  }
  // A Byzantine proposer's conflicting value may be decided at a planned height instead (no
  // activation there); most are not.
  EXPECT_GE(activated, 20u * kSimRulesActivations * 3 / 4);
}

TEST(SimulatorRulesTest, ActivationsReplayExactlyAndLeaveTheFaultsAsTheyWere) {
  for (uint64_t seed : {4u, 5u}) {
    SimResult first = RunSimulation(WithRulesActivations(seed, "mixed"));
    SimResult second = RunSimulation(WithRulesActivations(seed, "mixed"));
    EXPECT_EQ(first.events, second.events);
    EXPECT_EQ(first.messages_sent, second.messages_sent);
    EXPECT_EQ(first.rules_versions_activated, second.rules_versions_activated);
    EXPECT_EQ(first.simulated_ms, second.simulated_ms);
    // The activation plan has a PRNG of its own: the same seed crashes the same nodes.
    SimResult without = RunSimulation(Mixed(seed));
    EXPECT_EQ(first.crashes, without.crashes);
    EXPECT_EQ(first.byzantine, without.byzantine);
  }
}

// A node whose binary lacks version 4 halts before the first block under it, with the
// ledger's message, stays down through the faults, is upgraded, and catches up: the state
// checker compared its hash at every height it executed, the liveness checker made it reach
// the others.
TEST(SimulatorRulesTest, NodeWithoutTheNewestVersionHaltsThenResumesWithoutDivergence) {
  for (std::string_view faults : {"none", "mixed"}) {
    for (uint64_t seed = 1; seed <= 12; ++seed) {
      SimConfig config = WithRulesActivations(seed, faults);
      config.rules_halting_node = true;
      SimResult result = RunSimulation(config);
      ASSERT_TRUE(result.ok) << faults << " seed " << seed << ": " << result.failure;
      EXPECT_EQ(result.byzantine, "") << "the halting node uses up f = 1";
      EXPECT_EQ(result.rules_versions_activated, kSimRulesActivations);
      EXPECT_EQ(result.rules_halts, 1u) << faults << " seed " << seed;
      EXPECT_NE(result.rules_halt_message.find("executes under rules version 4 (in force from "
                                               "height "),
                std::string::npos)
          << result.rules_halt_message;
      EXPECT_NE(result.rules_halt_message.find(
                    "which this peer does not have (it has rules versions up to 3); halt and "
                    "install a Vigil release that supports rules version 4"),
                std::string::npos)
          << result.rules_halt_message;
    }
  }
}

TEST(SimulatorRulesTest, HaltingNodeBesideAByzantineValidatorWithSevenNodes) {
  uint64_t halts = 0;
  for (uint64_t seed = 1; seed <= 6; ++seed) {
    SimConfig config = WithRulesActivations(seed, "mixed");
    config.nodes = 7;
    config.byzantine_nodes = 1;  // f = 2: one Byzantine, one halted
    config.rules_halting_node = true;
    SimResult result = RunSimulation(config);
    ASSERT_TRUE(result.ok) << "seed " << seed << ": " << result.failure;
    halts += result.rules_halts;
  }
  EXPECT_GT(halts, 0u);
}

TEST(SimulatorRulesTest, CheckerCatchesANodeThatSwitchesOneHeightLate) {
  for (std::string_view faults : {"none", "mixed"}) {
    for (uint64_t seed = 1; seed <= 10; ++seed) {
      SimConfig config = WithRulesActivations(seed, faults);
      config.sabotage_late_activation = true;
      SimResult result = RunSimulation(config);
      ASSERT_FALSE(result.ok) << faults << " seed " << seed << " was not caught";
      EXPECT_NE(result.failure.find("rules activation: honest node"), std::string::npos)
          << result.failure;
      EXPECT_NE(ReplayCommand(config).find("--rules-activations --sabotage-late-activation"),
                std::string::npos);
    }
  }
}

TEST(SimulatorRulesTest, RunnerCountsTheHaltingNodeAgainstF) {
  RunnerOptions options;
  options.base.rules_halting_node = true;
  EXPECT_FALSE(ValidateRunnerOptions(options).has_value()) << "needs --rules-activations";
  options.base.rules_activations = true;
  EXPECT_TRUE(ValidateRunnerOptions(options).has_value());
  options.base.byzantine_nodes = 1;  // 4 nodes: f = 1, taken by the halted node
  auto refused = ValidateRunnerOptions(options);
  ASSERT_FALSE(refused.has_value());
  EXPECT_NE(refused.error().message().find("counts against f"), std::string::npos);
  options.base.nodes = 7;
  EXPECT_TRUE(ValidateRunnerOptions(options).has_value());
  EXPECT_NE(ReplayCommand(options.base).find("--rules-activations --rules-halting-node"),
            std::string::npos);
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
