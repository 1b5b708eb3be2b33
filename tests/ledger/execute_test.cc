// One test (or more) per rule of execute.cc: each kind accepted, and refused for each reason,
// and a refusal changes nothing.
#include "ledger/execute.h"

#include <gtest/gtest.h>

#include "test_chain.h"

namespace vigil::ledger {
namespace {

using testing::TestChain;

// Expects a refusal with `code` whose reason contains `words`, and that the block holding it
// changed nothing: the same write set as an empty block (none), hence the same state hash.
void ExpectRefusedAndNothingChanged(TestChain& chain, const Bytes& transaction, ResultCode code,
                                    std::string_view words) {
  State before = chain.state();
  TestChain empty_twin = chain;  // the same chain, committing an empty block instead
  BlockExecution refused = chain.Commit({transaction});
  BlockExecution empty = empty_twin.Commit({});
  ASSERT_EQ(refused.results.size(), 1u);
  EXPECT_EQ(refused.results[0].code, code) << refused.results[0].reason;
  EXPECT_NE(refused.results[0].reason.find(words), std::string::npos) << refused.results[0].reason;
  EXPECT_TRUE(refused.writes.empty());
  EXPECT_EQ(chain.state().entries(), before.entries());
  EXPECT_EQ(refused.tip.state_hash, empty.tip.state_hash);
  EXPECT_EQ(chain.state().entries(), empty_twin.state().entries());
}

TEST(ExecuteTest, EnrollDeviceIsAcceptedWithEnoughAdmins) {
  TestChain chain;
  EXPECT_TRUE(chain.Submit(chain.Govern(chain.Enroll(chain.keys().device1))).ok());
  auto device = GetDevice(chain.state(), chain.keys().device1.public_key());
  ASSERT_TRUE(device.has_value());
  EXPECT_EQ(device->group, "presses");
  EXPECT_EQ(device->labels, (std::vector<std::string>{"line=3", "site=plant-a"}));
  EXPECT_EQ(device->status, DeviceStatus::kEnrolled);
  EXPECT_EQ(device->enrolled_height, 1u);
  EXPECT_EQ(GetSequence(chain.state(), chain.keys().admin1.public_key()), 1u);
  // Co-signers do not spend sequence numbers; only the envelope's signer does.
  EXPECT_EQ(GetSequence(chain.state(), chain.keys().admin2.public_key()), 0u);
}

TEST(ExecuteTest, GovernanceBelowThresholdIsRefused) {
  TestChain chain;
  const auto& keys = chain.keys();
  ExpectRefusedAndNothingChanged(chain, chain.Sign(chain.Enroll(keys.device1), keys.admin1),
                                 ResultCode::kBelowThreshold, "needs 2 admin signatures, has 1");
}

TEST(ExecuteTest, GovernanceWithANonAdminIsRefused) {
  TestChain chain;
  const auto& keys = chain.keys();
  ExpectRefusedAndNothingChanged(
      chain, chain.Sign(chain.Enroll(keys.device1), keys.admin1, {&keys.outsider}),
      ResultCode::kUnauthorized, "co-signer");
  ExpectRefusedAndNothingChanged(
      chain, chain.Sign(chain.Enroll(keys.device1), keys.publisher, {&keys.admin1, &keys.admin2}),
      ResultCode::kUnauthorized, "is not an admin");
}

TEST(ExecuteTest, EnrollTwiceIsRefused) {
  TestChain chain;
  const auto& keys = chain.keys();
  ASSERT_TRUE(chain.Submit(chain.Govern(chain.Enroll(keys.device1))).ok());
  ExpectRefusedAndNothingChanged(chain, chain.Govern(chain.Enroll(keys.device1, "welders")),
                                 ResultCode::kAlreadyExists, "already enrolled in group presses");
}

TEST(ExecuteTest, RevokeDeviceAndItsConsequences) {
  TestChain chain;
  const auto& keys = chain.keys();
  ASSERT_TRUE(chain.Submit(chain.Govern(chain.Enroll(keys.device1))).ok());
  ASSERT_TRUE(chain.Submit(chain.Govern(RevokeDevice{keys.device1.public_key(), "stolen"})).ok());
  auto device = GetDevice(chain.state(), keys.device1.public_key());
  EXPECT_EQ(device->status, DeviceStatus::kRevoked);
  EXPECT_EQ(device->revoked_height, 2u);
  ExpectRefusedAndNothingChanged(chain, chain.Govern(RevokeDevice{keys.device1.public_key(), ""}),
                                 ResultCode::kRevoked, "already revoked at height 2");
  ExpectRefusedAndNothingChanged(chain, chain.Govern(chain.Enroll(keys.device1)),
                                 ResultCode::kRevoked, "give the device a new key");
  DeviceReport report{.report_kind = DeviceReportKind::kAppRestarted, .app = "press"};
  ExpectRefusedAndNothingChanged(chain, chain.Sign(report, keys.device1), ResultCode::kRevoked,
                                 "was revoked at height 2");
}

TEST(ExecuteTest, RevokeUnknownDeviceIsRefused) {
  TestChain chain;
  ExpectRefusedAndNothingChanged(chain,
                                 chain.Govern(RevokeDevice{chain.keys().device2.public_key(), ""}),
                                 ResultCode::kNotFound, "is not enrolled");
}

TEST(ExecuteTest, AddAndRemovePublisher) {
  TestChain chain;
  const auto& keys = chain.keys();
  ASSERT_TRUE(chain.Submit(chain.Govern(AddPublisher{keys.outsider.public_key(), "ci-bot"})).ok());
  EXPECT_EQ(GetPublisher(chain.state(), keys.outsider.public_key())->name, "ci-bot");
  EXPECT_EQ(GetPublisherCount(chain.state()), 2u);
  ExpectRefusedAndNothingChanged(chain,
                                 chain.Govern(AddPublisher{keys.outsider.public_key(), "again"}),
                                 ResultCode::kAlreadyExists, "already publisher ci-bot");
  ASSERT_TRUE(
      chain.Submit(chain.Govern(RemovePublisher{keys.outsider.public_key(), "rotated"})).ok());
  EXPECT_FALSE(GetPublisher(chain.state(), keys.outsider.public_key()).has_value());
  EXPECT_EQ(GetPublisherCount(chain.state()), 1u);
  ExpectRefusedAndNothingChanged(chain,
                                 chain.Govern(RemovePublisher{keys.outsider.public_key(), ""}),
                                 ResultCode::kNotFound, "is not a publisher");
  // A removed publisher can no longer publish.
  ExpectRefusedAndNothingChanged(chain, chain.Sign(chain.Release("press", "1.0.0"), keys.outsider),
                                 ResultCode::kUnauthorized, "is not a publisher");
}

TEST(ExecuteTest, PublishRecordsTheReleaseAndTheLatestVersion) {
  TestChain chain;
  const auto& keys = chain.keys();
  ASSERT_TRUE(
      chain.Submit(chain.Sign(chain.Release("press-controller", "2.4.0"), keys.publisher)).ok());
  auto release = GetRelease(chain.state(), "press-controller", "2.4.0");
  ASSERT_TRUE(release.has_value());
  EXPECT_EQ(release->publisher, keys.publisher.public_key());
  EXPECT_EQ(release->bundle_size_bytes, 1234u);
  EXPECT_EQ(release->height, 1u);
  EXPECT_EQ(release->notes, "fixes the press timing");
  EXPECT_EQ(GetLatestVersion(chain.state(), "press-controller"), "2.4.0");
  ASSERT_TRUE(
      chain.Submit(chain.Sign(chain.Release("press-controller", "2.5.0-rc.1"), keys.publisher))
          .ok());
  ASSERT_TRUE(
      chain.Submit(chain.Sign(chain.Release("press-controller", "2.5.0"), keys.publisher)).ok());
  EXPECT_EQ(GetLatestVersion(chain.state(), "press-controller"), "2.5.0");
  // Another app has its own latest.
  ASSERT_TRUE(chain.Submit(chain.Sign(chain.Release("welder", "0.1.0"), keys.publisher)).ok());
  EXPECT_EQ(GetLatestVersion(chain.state(), "welder"), "0.1.0");
}

TEST(ExecuteTest, PublishRefusesExistingOlderAndEqualVersions) {
  TestChain chain;
  const auto& keys = chain.keys();
  ASSERT_TRUE(
      chain.Submit(chain.Sign(chain.Release("press-controller", "2.5.0"), keys.publisher)).ok());
  ExpectRefusedAndNothingChanged(
      chain, chain.Sign(chain.Release("press-controller", "2.5.0"), keys.publisher),
      ResultCode::kAlreadyExists, "press-controller 2.5.0 already exists (published at height 1)");
  ExpectRefusedAndNothingChanged(
      chain, chain.Sign(chain.Release("press-controller", "2.4.0"), keys.publisher),
      ResultCode::kNotNewer,
      "publish refused: press-controller 2.4.0 is not newer than the latest 2.5.0");
  ExpectRefusedAndNothingChanged(
      chain, chain.Sign(chain.Release("press-controller", "2.5.0+rebuild"), keys.publisher),
      ResultCode::kNotNewer, "not newer than the latest 2.5.0");
  ExpectRefusedAndNothingChanged(
      chain, chain.Sign(chain.Release("press-controller", "2.5.0-rc.9"), keys.publisher),
      ResultCode::kNotNewer, "not newer");
}

TEST(ExecuteTest, PublishByNonPublisherIsRefused) {
  TestChain chain;
  ExpectRefusedAndNothingChanged(chain,
                                 chain.Sign(chain.Release("press", "1.0.0"), chain.keys().admin1),
                                 ResultCode::kUnauthorized, "is not a publisher");
}

TEST(ExecuteTest, BadSemanticVersionNeverReachesABlock) {
  TestChain chain;
  Bytes transaction = chain.Sign(chain.Release("press", "1.0"), chain.keys().publisher);
  BlockExecution execution = chain.Commit({transaction});
  EXPECT_TRUE(execution.results.empty());  // dropped by BuildBlock: stateless failure
  Block forged = chain.ForgeBlock({});
  forged.transactions = {transaction};
  forged.header.transactions_root = TransactionsRoot(forged.transactions);
  auto executed = ExecuteBlock(chain.state(), forged);
  ASSERT_FALSE(executed.has_value());
  EXPECT_NE(executed.error().message().find("semantic version"), std::string::npos)
      << executed.error().message();
}

TEST(ExecuteTest, SequenceMustBeExactlyTheNext) {
  TestChain chain;
  const auto& keys = chain.keys();
  Bytes first = chain.SignWithSequence(chain.Release("press", "1.0.0"), keys.publisher, 1);
  ASSERT_TRUE(chain.Submit(first).ok());
  BlockContext context{.height = 2, .time_ms = chain.NextTimeMs(), .rules = FindRules(1)};
  // Replayed: the mempool refuses it, BuildBlock drops it, a forged block gets a refusal.
  auto replay = CheckTransactionStateless(first, testing::kChainId).value();
  TransactionResult replayed = CheckTransactionStateful(chain.state(), replay, context);
  EXPECT_EQ(replayed.code, ResultCode::kBadSequence);
  EXPECT_NE(replayed.reason.find("already used (replay); the next is 2"), std::string::npos)
      << replayed.reason;
  BuildOptions options{.time_ms = chain.NextTimeMs(),
                       .proposer = keys.validator.public_key(),
                       .last_commit = chain.CertificateFor(1, chain.state().tip().block_hash),
                       .execute = {}};
  Bytes skipped = chain.SignWithSequence(chain.Release("press", "2.0.0"), keys.publisher, 3);
  std::vector<Bytes> candidates = {first, skipped};
  BuiltBlock built = BuildBlock(chain.state(), candidates, options).value();
  EXPECT_TRUE(built.block.transactions.empty());
  ASSERT_EQ(built.dropped.size(), 1u);
  EXPECT_EQ(built.dropped[0].result.code, ResultCode::kBadSequence);
  ASSERT_EQ(built.deferred.size(), 1u);
  EXPECT_NE(built.deferred[0].result.reason.find("skips ahead; the next is 2"), std::string::npos);
}

TEST(ExecuteTest, AByzantineProposerMayIncludeReplaysButTheyChangeNothing) {
  TestChain chain;
  const auto& keys = chain.keys();
  Bytes first = chain.SignWithSequence(chain.Release("press", "1.0.0"), keys.publisher, 1);
  ASSERT_TRUE(chain.Submit(first).ok());
  Block forged = chain.ForgeBlock({first});
  BlockExecution execution = ExecuteBlock(chain.state(), forged).value();
  ASSERT_EQ(execution.results.size(), 1u);
  EXPECT_EQ(execution.results[0].code, ResultCode::kBadSequence);
  EXPECT_TRUE(execution.writes.empty());
}

TEST(ExecuteTest, SequencesWithinOneBlockChain) {
  TestChain chain;
  const auto& keys = chain.keys();
  std::vector<Bytes> transactions = {
      chain.Sign(chain.Release("press", "1.0.0"), keys.publisher),
      chain.Sign(chain.Release("press", "1.1.0"), keys.publisher),
      chain.Sign(chain.Release("press", "1.0.5"), keys.publisher),  // refused: not newer
      chain.Sign(chain.Release("press", "1.2.0"), keys.publisher),  // sequence 4 skips 3: deferred
  };
  BlockExecution execution = chain.Commit(transactions);
  ASSERT_EQ(execution.results.size(), 3u);
  EXPECT_TRUE(execution.results[0].ok());
  EXPECT_TRUE(execution.results[1].ok());
  EXPECT_EQ(execution.results[2].code, ResultCode::kNotNewer);
  EXPECT_EQ(GetSequence(chain.state(), keys.publisher.public_key()), 2u);
  EXPECT_EQ(GetLatestVersion(chain.state(), "press"), "1.1.0");
}

TEST(ExecuteTest, UnknownSignerIsRefusedForEveryKind) {
  TestChain chain;
  const auto& keys = chain.keys();
  DeviceReport report{.report_kind = DeviceReportKind::kAppRestarted, .app = "press"};
  ExpectRefusedAndNothingChanged(chain, chain.Sign(report, keys.outsider),
                                 ResultCode::kUnauthorized, "is not an enrolled device");
  ExpectRefusedAndNothingChanged(chain, chain.Sign(PeerReport{{1}}, keys.outsider),
                                 ResultCode::kUnauthorized, "is not a validator");
}

class DeviceReportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(chain_.Submit(chain_.Govern(chain_.Enroll(keys().device1))).ok());
    ASSERT_TRUE(
        chain_.Submit(chain_.Sign(chain_.Release("press", "1.0.0"), keys().publisher)).ok());
  }
  const testing::Keys& keys() const { return chain_.keys(); }
  TransactionResult Report(DeviceReport report) {
    return chain_.Submit(chain_.Sign(report, keys().device1));
  }
  DeviceAppRecord App() {
    return GetDeviceApp(chain_.state(), keys().device1.public_key(), "press").value();
  }
  TestChain chain_;
};

TEST_F(DeviceReportTest, InstalledActivatedRolledBackAndRestarted) {
  ASSERT_TRUE(Report({.report_kind = DeviceReportKind::kInstalled,
                      .app = "press",
                      .version = "1.0.0",
                      .duration_ms = 850})
                  .ok());
  EXPECT_EQ(App().installed_version, "1.0.0");
  EXPECT_EQ(GetInstallation(chain_.state(), "press", "1.0.0", keys().device1.public_key()), 3u);
  ASSERT_TRUE(
      Report({.report_kind = DeviceReportKind::kActivated, .app = "press", .version = "1.0.0"})
          .ok());
  EXPECT_EQ(App().active_version, "1.0.0");
  ASSERT_TRUE(
      Report({.report_kind = DeviceReportKind::kRolledBack, .app = "press", .version = "1.0.0"})
          .ok());
  EXPECT_EQ(App().active_version, "1.0.0");
  ASSERT_TRUE(Report({.report_kind = DeviceReportKind::kAppRestarted, .app = "press"}).ok());
  ASSERT_TRUE(Report({.report_kind = DeviceReportKind::kAppRestarted, .app = "press"}).ok());
  EXPECT_EQ(App().restarts, 2u);
  auto last =
      GetLastReport(chain_.state(), keys().device1.public_key(), DeviceReportKind::kInstalled);
  ASSERT_TRUE(last.has_value());
  EXPECT_EQ(last->height, 3u);
  EXPECT_EQ(last->report.duration_ms, 850u);
}

TEST_F(DeviceReportTest, ReportOnAnUnpublishedReleaseIsRefused) {
  ExpectRefusedAndNothingChanged(
      chain_,
      chain_.Sign(
          DeviceReport{
              .report_kind = DeviceReportKind::kInstalled, .app = "press", .version = "9.9.9"},
          keys().device1),
      ResultCode::kNotFound, "press 9.9.9 is not a published release");
}

TEST_F(DeviceReportTest, SnapshotTamperAndRepairTrackTheDevicesIntegrity) {
  Sha256Digest clean = crypto::Sha256(AsBytes("clean"));
  Sha256Digest dirty = crypto::Sha256(AsBytes("dirty"));
  ASSERT_TRUE(Report({.report_kind = DeviceReportKind::kIntegritySnapshot,
                      .app = "press",
                      .snapshot_root = clean})
                  .ok());
  auto device = GetDevice(chain_.state(), keys().device1.public_key()).value();
  EXPECT_EQ(device.snapshot_root, clean);
  EXPECT_FALSE(device.tampered);
  ASSERT_TRUE(Report({.report_kind = DeviceReportKind::kTamperDetected,
                      .app = "press",
                      .snapshot_root = dirty,
                      .files_changed = 1,
                      .detail = "bin/press"})
                  .ok());
  device = GetDevice(chain_.state(), keys().device1.public_key()).value();
  EXPECT_TRUE(device.tampered);
  EXPECT_EQ(device.snapshot_root, dirty);
  ASSERT_TRUE(Report({.report_kind = DeviceReportKind::kRepaired,
                      .app = "press",
                      .snapshot_root = clean,
                      .files_changed = 1,
                      .duration_ms = 40})
                  .ok());
  device = GetDevice(chain_.state(), keys().device1.public_key()).value();
  EXPECT_FALSE(device.tampered);
  EXPECT_EQ(device.snapshot_root, clean);
  EXPECT_EQ(device.snapshot_height, 5u);
}

TEST(ExecuteTest, PeerReportRecordsRulesSupport) {
  TestChain chain;
  ASSERT_TRUE(chain.Submit(chain.Sign(PeerReport{{1, 2}}, chain.keys().validator)).ok());
  auto support = GetRulesSupport(chain.state(), chain.keys().validator.public_key());
  ASSERT_TRUE(support.has_value());
  EXPECT_EQ(support->versions, (std::vector<uint32_t>{1, 2}));
  EXPECT_EQ(support->height, 1u);
}

TEST(ExecuteTest, ExecutionIsDeterministic) {
  TestChain chain;
  const auto& keys = chain.keys();
  std::vector<Bytes> transactions = {
      chain.Govern(chain.Enroll(keys.device1)),
      chain.Govern(chain.Enroll(keys.device2, "welders")),
      chain.Sign(chain.Release("press", "1.0.0"), keys.publisher),
      chain.Sign(chain.Release("press", "0.9.0"), keys.publisher),
      chain.Sign(PeerReport{{1}}, keys.validator),
  };
  Block block = chain.ForgeBlock(transactions);
  State copy = chain.state();
  BlockExecution first = ExecuteBlock(chain.state(), block).value();
  BlockExecution second = ExecuteBlock(chain.state(), block).value();
  BlockExecution on_copy = ExecuteBlock(copy, block).value();
  EXPECT_EQ(first.tip, second.tip);
  EXPECT_EQ(first.tip, on_copy.tip);
  EXPECT_EQ(first.writes, on_copy.writes);
  EXPECT_EQ(first.results, on_copy.results);
  ApplyBlock(copy, on_copy);
  State again = chain.state();
  ApplyBlock(again, first);
  EXPECT_EQ(copy, again);
  EXPECT_EQ(copy.ComputeDigest(), again.ComputeDigest());
  EXPECT_NE(copy.tip().state_hash, chain.state().tip().state_hash);
}

TEST(ExecuteTest, TheStateHashChainsEveryBlock) {
  TestChain chain;
  Sha256Digest genesis_hash = chain.state().tip().state_hash;
  BlockExecution empty = chain.Commit({});
  EXPECT_EQ(empty.tip.state_hash, NextStateHash(genesis_hash, {}));
  EXPECT_NE(empty.tip.state_hash, genesis_hash);
  BlockExecution second = chain.Commit({chain.Govern(chain.Enroll(chain.keys().device1))});
  EXPECT_EQ(second.tip.state_hash, NextStateHash(empty.tip.state_hash, second.writes));
}

}  // namespace
}  // namespace vigil::ledger
