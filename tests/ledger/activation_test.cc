// Coordinated activation (seed 002): every refusal of activate (kind 5) and activate-rules
// (kind 6), last-in-block-wins, the switch of rules version at exactly the scheduled block,
// rules v2's changed rule, and a peer lacking a version halting.
#include <gtest/gtest.h>

#include "ledger/execute.h"
#include "test_chain.h"

namespace vigil::ledger {
namespace {

using testing::TestChain;

ActivateRelease Activation(std::string version, ActivationTiming timing, uint64_t at_height,
                           uint32_t percent = 100) {
  return ActivateRelease{.group = "presses",
                         .app = "press",
                         .version = std::move(version),
                         .timing = timing,
                         .at_height = at_height,
                         .at_time_ms = 0,
                         .threshold_kind = InstalledThresholdKind::kPercent,
                         .installed_threshold = percent,
                         .on_missing = MissingVersionPolicy::kHalt};
}

DeviceReport Installed(std::string version) {
  return DeviceReport{.report_kind = DeviceReportKind::kInstalled,
                      .app = "press",
                      .version = std::move(version),
                      .observed_time_ms = 1,
                      .snapshot_root = std::nullopt,
                      .files_changed = 0,
                      .duration_ms = 0,
                      .detail = ""};
}

// Two devices in group "presses", releases 1.0.0 and 2.0.0, both installed 1.0.0.
TestChain FleetChain() {
  TestChain chain;
  const auto& keys = chain.keys();
  chain.Commit({chain.Govern(chain.Enroll(keys.device1)), chain.Govern(chain.Enroll(keys.device2)),
                chain.Sign(chain.Release("press", "1.0.0"), keys.publisher)});
  chain.Commit({chain.Sign(chain.Release("press", "2.0.0"), keys.publisher),
                chain.Sign(Installed("1.0.0"), keys.device1),
                chain.Sign(Installed("1.0.0"), keys.device2)});
  return chain;
}

void ExpectRefused(TestChain& chain, const Body& body, ResultCode code, std::string_view words) {
  State before = chain.state();
  TransactionResult result = chain.Submit(chain.Govern(body));
  EXPECT_EQ(result.code, code) << result.reason;
  EXPECT_NE(result.reason.find(words), std::string::npos) << result.reason;
  // Nothing changed but the tip.
  EXPECT_EQ(GetActivation(chain.state(), "presses", "press"),
            GetActivation(before, "presses", "press"));
  EXPECT_EQ(GetRules(chain.state()), GetRules(before));
}

TEST(ActivationTest, RefusedBelowTheInstalledThresholdWithTheCounts) {
  TestChain chain = FleetChain();
  ASSERT_TRUE(chain.Submit(chain.Sign(Installed("2.0.0"), chain.keys().device1)).ok());
  ExpectRefused(chain, Activation("2.0.0", ActivationTiming::kNext, 0),
                ResultCode::kInsufficient,
                "1 of 2 enrolled devices of group 'presses' have installed press 2.0.0; the "
                "activation needs 2");
  // 50 % of 2 is 1: accepted.
  EXPECT_TRUE(chain.Submit(chain.Govern(Activation("2.0.0", ActivationTiming::kNext, 0, 50))).ok());
}

TEST(ActivationTest, AcceptedAtAHeightRecordsTheEffectiveVersionAndItsPredecessor) {
  TestChain chain = FleetChain();
  uint64_t at = chain.state().tip().height + 5;
  ASSERT_TRUE(chain.Submit(chain.Govern(Activation("1.0.0", ActivationTiming::kAtHeight, at))).ok());
  auto record = GetActivation(chain.state(), "presses", "press");
  ASSERT_TRUE(record.has_value());
  EXPECT_EQ(record->version, "1.0.0");
  EXPECT_EQ(record->effective_height, at);
  EXPECT_EQ(record->previous_version, "");
  EXPECT_EQ(record->installed_threshold, 2u);
  EXPECT_EQ(record->EffectiveVersionAt(at - 1, 0), "");
  EXPECT_EQ(record->EffectiveVersionAt(at, 0), "1.0.0");
  // Pending: a second one for the group and app conflicts.
  ExpectRefused(chain, Activation("1.0.0", ActivationTiming::kAtHeight, at + 10),
                ResultCode::kConflict, "is still pending");
  while (chain.state().tip().height < at) chain.Commit({});
  // Effective now; activating it again is refused, 2.0.0 (not installed) too.
  ExpectRefused(chain, Activation("1.0.0", ActivationTiming::kNext, 0), ResultCode::kAlreadyExists,
                "already the effective version");
  ExpectRefused(chain, Activation("2.0.0", ActivationTiming::kNext, 0), ResultCode::kInsufficient,
                "0 of 2");
}

TEST(ActivationTest, DowngradeIsAnActivationOfAnOlderVersion) {
  TestChain chain = FleetChain();
  const auto& keys = chain.keys();
  chain.Commit({chain.Sign(Installed("2.0.0"), keys.device1),
                chain.Sign(Installed("2.0.0"), keys.device2)});
  ASSERT_TRUE(chain.Submit(chain.Govern(Activation("2.0.0", ActivationTiming::kNext, 0))).ok());
  chain.Commit({});
  ASSERT_TRUE(chain.Submit(chain.Govern(Activation("1.0.0", ActivationTiming::kNext, 0))).ok());
  auto record = GetActivation(chain.state(), "presses", "press");
  EXPECT_EQ(record->version, "1.0.0");
  EXPECT_EQ(record->previous_version, "2.0.0");
}

TEST(ActivationTest, RefusalsForTimingReleaseAndGroup) {
  TestChain chain = FleetChain();
  uint64_t tip = chain.state().tip().height;
  ExpectRefused(chain, Activation("1.0.0", ActivationTiming::kAtHeight, tip + 1),
                ResultCode::kNotInFuture, "is not in the future");
  ActivateRelease past_time = Activation("1.0.0", ActivationTiming::kAtTime, 0);
  past_time.at_time_ms = chain.state().tip().time_ms;
  ExpectRefused(chain, past_time, ResultCode::kNotInFuture, "is not in the future");
  ExpectRefused(chain, Activation("9.9.9", ActivationTiming::kNext, 0), ResultCode::kNotFound,
                "press 9.9.9 was never published");
  ActivateRelease empty_group = Activation("1.0.0", ActivationTiming::kNext, 0);
  empty_group.group = "welders";
  ExpectRefused(chain, empty_group, ResultCode::kNotFound, "has no enrolled devices");
  // Below the admin threshold, as every governance kind.
  TransactionResult single = chain.Submit(
      chain.Sign(Activation("1.0.0", ActivationTiming::kNext, 0), chain.keys().admin1));
  EXPECT_EQ(single.code, ResultCode::kBelowThreshold);
}

TEST(ActivationTest, RevokedDevicesLeaveTheGroup) {
  TestChain chain = FleetChain();
  ASSERT_TRUE(
      chain.Submit(chain.Govern(RevokeDevice{chain.keys().device2.public_key(), "stolen"})).ok());
  EXPECT_EQ(ListGroupDevices(chain.state(), "presses").size(), 1u);
  ASSERT_TRUE(chain.Submit(chain.Sign(Installed("2.0.0"), chain.keys().device1)).ok());
  EXPECT_TRUE(chain.Submit(chain.Govern(Activation("2.0.0", ActivationTiming::kNext, 0))).ok());
}

TEST(ActivationTest, SeveralInOneBlockTheLastInOrderWins) {
  TestChain chain = FleetChain();
  const auto& keys = chain.keys();
  chain.Commit({chain.Sign(Installed("2.0.0"), keys.device1),
                chain.Sign(Installed("2.0.0"), keys.device2)});
  uint64_t tip = chain.state().tip().height;
  TestChain twin = chain;
  BlockExecution executed =
      chain.Commit({chain.Govern(Activation("1.0.0", ActivationTiming::kAtHeight, tip + 3)),
                    chain.Govern(Activation("2.0.0", ActivationTiming::kAtHeight, tip + 4))});
  ASSERT_EQ(executed.results.size(), 2u);
  EXPECT_TRUE(executed.results[0].ok()) << executed.results[0].reason;
  EXPECT_TRUE(executed.results[1].ok()) << executed.results[1].reason;
  auto record = GetActivation(chain.state(), "presses", "press");
  EXPECT_EQ(record->version, "2.0.0");
  EXPECT_EQ(record->effective_height, tip + 4);
  EXPECT_EQ(record->previous_version, "");  // the first never took effect
  // The same block on another replica reaches the same state.
  for (const Block& block : std::vector<Block>{chain.blocks().back()}) {
    auto replayed = ExecuteBlock(twin.state(), block);
    ASSERT_TRUE(replayed.has_value()) << replayed.error().message();
    EXPECT_EQ(replayed->tip.state_hash, executed.tip.state_hash);
  }
}

TEST(ActivateRulesTest, RefusedWithoutValidatorSupportThenSwitchesAtExactlyTheHeight) {
  TestChain chain;
  const auto& keys = chain.keys();
  uint64_t at = chain.state().tip().height + 4;
  ExpectRefused(chain, ActivateRules{.version = 2, .at_height = at}, ResultCode::kInsufficient,
                "0 of 1 validators (voting power 0 of 1) have recorded support for rules "
                "version 2");
  ASSERT_TRUE(chain.Submit(chain.Sign(PeerReport{{1, 2}}, keys.validator)).ok());
  ExpectRefused(chain, ActivateRules{.version = 1, .at_height = at}, ResultCode::kAlreadyExists,
                "already in force");
  ExpectRefused(chain, ActivateRules{.version = 2, .at_height = chain.state().tip().height + 1},
                ResultCode::kNotInFuture, "is not in the future");
  at = chain.state().tip().height + 4;
  ASSERT_TRUE(chain.Submit(chain.Govern(ActivateRules{.version = 2, .at_height = at})).ok());
  while (chain.state().tip().height + 1 < at) {
    chain.Commit({});
    EXPECT_EQ(chain.blocks().back().header.rules_version, 1u);
  }
  chain.Commit({});
  EXPECT_EQ(chain.blocks().back().header.height, at);
  EXPECT_EQ(chain.blocks().back().header.rules_version, 2u);
}

TEST(ActivateRulesTest, ActivatingTheVersionInForceCancelsAPendingSwitch) {
  TestChain chain;
  ASSERT_TRUE(chain.Submit(chain.Sign(PeerReport{{1, 2}}, chain.keys().validator)).ok());
  uint64_t at = chain.state().tip().height + 5;
  ASSERT_TRUE(chain.Submit(chain.Govern(ActivateRules{.version = 2, .at_height = at})).ok());
  ASSERT_TRUE(chain.Submit(chain.Govern(ActivateRules{.version = 1, .at_height = at})).ok());
  EXPECT_EQ(RulesVersionAt(chain.state(), at + 10), 1u);
}

TEST(ActivateRulesTest, RulesV2RefusesAnActivatedReportWithoutInstalled) {
  TestChain chain = FleetChain();
  const auto& keys = chain.keys();
  DeviceReport activated = Installed("2.0.0");
  activated.report_kind = DeviceReportKind::kActivated;
  // v1: accepted without an installed report.
  TestChain v1 = chain;
  EXPECT_TRUE(v1.Submit(v1.Sign(activated, keys.device1)).ok());
  ASSERT_TRUE(chain.Submit(chain.Sign(PeerReport{{1, 2}}, keys.validator)).ok());
  ASSERT_TRUE(chain.Submit(chain.Govern(ActivateRules{
                               .version = 2, .at_height = chain.state().tip().height + 2}))
                  .ok());
  chain.Commit({});
  TransactionResult refused = chain.Submit(chain.Sign(activated, keys.device1));
  EXPECT_EQ(refused.code, ResultCode::kNotFound) << refused.reason;
  EXPECT_NE(refused.reason.find("never reported installing press 2.0.0 (rules version 2)"),
            std::string::npos)
      << refused.reason;
  ASSERT_TRUE(chain.Submit(chain.Sign(Installed("2.0.0"), keys.device1)).ok());
  EXPECT_TRUE(chain.Submit(chain.Sign(activated, keys.device1)).ok());
}

TEST(ActivateRulesTest, APeerWithoutTheVersionCannotExecuteTheBlockAndSaysWhy) {
  TestChain chain;
  ASSERT_TRUE(chain.Submit(chain.Sign(PeerReport{{1, 2}}, chain.keys().validator)).ok());
  uint64_t at = chain.state().tip().height + 3;
  ASSERT_TRUE(chain.Submit(chain.Govern(ActivateRules{.version = 2, .at_height = at})).ok());
  State old_binary = chain.state();  // what a peer with --max-rules-version 1 holds
  while (chain.state().tip().height + 1 < at) {
    const Block& next = (chain.Commit({}), chain.blocks().back());
    auto executed = ExecuteBlock(old_binary, next, {.rules_version_max = 1});
    ASSERT_TRUE(executed.has_value()) << executed.error().message();
    ApplyBlock(old_binary, *executed);
  }
  Status available = CheckRulesAvailable(old_binary, at, 1);
  ASSERT_FALSE(available.has_value());
  EXPECT_EQ(available.error().code(), ErrorCode::kUnavailable);
  EXPECT_NE(available.error().message().find("block " + std::to_string(at) +
                                             " executes under rules version 2 (in force from "
                                             "height " + std::to_string(at) + ")"),
            std::string::npos)
      << available.error().message();
  chain.Commit({});
  auto refused = ExecuteBlock(old_binary, chain.blocks().back(), {.rules_version_max = 1});
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().code(), ErrorCode::kUnavailable);
  // "Upgraded" (all versions): it resumes from there and reaches the same state.
  auto resumed = ExecuteBlock(old_binary, chain.blocks().back());
  ASSERT_TRUE(resumed.has_value()) << resumed.error().message();
  ApplyBlock(old_binary, *resumed);
  EXPECT_EQ(old_binary, chain.state());
}

TEST(ActivationTest, BodiesRoundTripAndFieldRulesHold) {
  ActivateRelease body = Activation("1.0.0", ActivationTiming::kAtHeight, 7);
  auto decoded = DecodeBody(TransactionKind::kActivateRelease, EncodeBody(body));
  ASSERT_TRUE(decoded.has_value()) << decoded.error().message();
  EXPECT_EQ(std::get<ActivateRelease>(*decoded), body);
  ActivateRules rules{.version = 2, .at_height = 9};
  auto decoded_rules = DecodeBody(TransactionKind::kActivateRules, EncodeBody(rules));
  ASSERT_TRUE(decoded_rules.has_value());
  EXPECT_EQ(std::get<ActivateRules>(*decoded_rules), rules);

  ActivateRelease bad = body;
  bad.at_height = 0;
  EXPECT_FALSE(DecodeBody(TransactionKind::kActivateRelease, EncodeBody(bad)).has_value());
  bad = body;
  bad.threshold_kind = InstalledThresholdKind::kPercent;
  bad.installed_threshold = 101;
  EXPECT_FALSE(DecodeBody(TransactionKind::kActivateRelease, EncodeBody(bad)).has_value());
  bad = Activation("1.0.0", ActivationTiming::kNext, 3);
  EXPECT_FALSE(DecodeBody(TransactionKind::kActivateRelease, EncodeBody(bad)).has_value());
  EXPECT_FALSE(DecodeBody(TransactionKind::kActivateRules,
                          EncodeBody(ActivateRules{.version = 0, .at_height = 3}))
                   .has_value());
  Bytes encoded = EncodeBody(body);
  encoded[encoded.size() - 1] = 9;  // on_missing 9
  auto unknown = DecodeBody(TransactionKind::kActivateRelease, encoded);
  ASSERT_FALSE(unknown.has_value());
  EXPECT_NE(unknown.error().message().find("on_missing"), std::string::npos);
}

}  // namespace
}  // namespace vigil::ledger
