// Compliance state (issue 6, docs/ledger.md#compliance): one test per rule — a snapshot equal
// to the manifest root of the release the device should run is compliant, a differing one
// tampered, a repair restores compliance and the tamper count stays, another version is
// behind, no snapshot since activation is unknown, a group activation overrides the device's
// own, a report naming a version the device does not run is judged accordingly, and the state
// hash and re-execution cover it all.
#include "ledger/compliance.h"

#include <gtest/gtest.h>

#include "ledger/execute.h"
#include "test_chain.h"

namespace vigil::ledger {
namespace {

using testing::TestChain;

Sha256Digest ManifestOf(std::string_view version) {
  return crypto::Sha256(AsBytes("manifest of press " + std::string(version)));
}

PublishRelease PressRelease(std::string version) {
  return PublishRelease{.app = "press",
                        .version = version,
                        .bundle_digest = crypto::Sha256(AsBytes("bundle " + version)),
                        .bundle_size_bytes = 1234,
                        .manifest_root = ManifestOf(version),
                        .notes = ""};
}

DeviceReport Report(DeviceReportKind kind, std::string version,
                    std::optional<Sha256Digest> root = std::nullopt, uint32_t files_changed = 0,
                    std::string detail = "", uint64_t duration_ms = 0) {
  return DeviceReport{.report_kind = kind,
                      .app = "press",
                      .version = std::move(version),
                      .observed_time_ms = 1,
                      .snapshot_root = root,
                      .files_changed = files_changed,
                      .duration_ms = duration_ms,
                      .detail = std::move(detail)};
}

DeviceReport Snapshot(std::string version, const Sha256Digest& root) {
  return Report(DeviceReportKind::kIntegritySnapshot, std::move(version), root);
}

// device1 and device2 in group "presses"; press 1.0.0 and 2.0.0 published; device1 installed
// and activated 1.0.0.
TestChain FleetChain() {
  TestChain chain;
  const auto& keys = chain.keys();
  chain.Commit({chain.Govern(chain.Enroll(keys.device1)), chain.Govern(chain.Enroll(keys.device2)),
                chain.Sign(PressRelease("1.0.0"), keys.publisher)});
  chain.Commit({chain.Sign(PressRelease("2.0.0"), keys.publisher),
                chain.Sign(Report(DeviceReportKind::kInstalled, "1.0.0"), keys.device1)});
  chain.Commit({chain.Sign(Report(DeviceReportKind::kActivated, "1.0.0"), keys.device1)});
  return chain;
}

ComplianceRecord Stored(const TestChain& chain, const crypto::PrivateKey& device) {
  auto record = GetCompliance(chain.state(), device.public_key(), "press");
  EXPECT_TRUE(record.has_value());
  return record.value_or(ComplianceRecord{});
}

ComplianceRecord Now(const TestChain& chain, const crypto::PrivateKey& device) {
  const State& state = chain.state();
  return EvaluateCompliance(state, device.public_key(), "presses", "press", state.tip().height,
                            state.tip().time_ms);
}

void Accept(TestChain& chain, const DeviceReport& report, const crypto::PrivateKey& device) {
  TransactionResult result = chain.Submit(chain.Sign(report, device));
  ASSERT_TRUE(result.ok()) << result.reason;
}

TEST(ComplianceTest, ActivationWithoutSnapshotIsUnknownAndWritesNothing) {
  TestChain chain = FleetChain();
  // An `activated` report writes no record: older chains replay to the same state hashes.
  EXPECT_FALSE(GetCompliance(chain.state(), chain.keys().device1.public_key(), "press"));
  ComplianceRecord record = Now(chain, chain.keys().device1);
  EXPECT_EQ(record.state, ComplianceState::kUnknown);
  EXPECT_EQ(record.since_height, 3u);  // the activated report's block
  EXPECT_EQ(record.running_version, "1.0.0");
  EXPECT_EQ(record.expected_version, "1.0.0");
  EXPECT_NE(record.reason.find("no integrity snapshot since"), std::string::npos) << record.reason;
}

TEST(ComplianceTest, ActivatingAnotherVersionAfterASnapshotIsUnknownFromThatReport) {
  TestChain chain = FleetChain();
  const auto& device = chain.keys().device1;
  Accept(chain, Snapshot("1.0.0", ManifestOf("1.0.0")), device);
  Accept(chain, Report(DeviceReportKind::kInstalled, "2.0.0"), device);
  Accept(chain, Report(DeviceReportKind::kActivated, "2.0.0"), device);
  ComplianceRecord record = Now(chain, device);
  EXPECT_EQ(record.state, ComplianceState::kUnknown);
  EXPECT_EQ(record.since_height, chain.state().tip().height);
  EXPECT_EQ(record.expected_version, "2.0.0");
  Accept(chain, Snapshot("2.0.0", ManifestOf("2.0.0")), device);
  EXPECT_EQ(Now(chain, device).state, ComplianceState::kCompliant);
}

TEST(ComplianceTest, SnapshotEqualToTheManifestRootIsCompliant) {
  TestChain chain = FleetChain();
  Accept(chain, Snapshot("1.0.0", ManifestOf("1.0.0")), chain.keys().device1);
  ComplianceRecord record = Stored(chain, chain.keys().device1);
  EXPECT_EQ(record.state, ComplianceState::kCompliant);
  EXPECT_EQ(record.since_height, chain.state().tip().height);
  EXPECT_EQ(record.snapshot_root, ManifestOf("1.0.0"));
  EXPECT_EQ(record.tamper_count, 0u);
  EXPECT_NE(record.reason.find("matches press 1.0.0's manifest root"), std::string::npos)
      << record.reason;
  // A second snapshot keeps the state and its starting height.
  uint64_t since = record.since_height;
  Accept(chain, Snapshot("1.0.0", ManifestOf("1.0.0")), chain.keys().device1);
  EXPECT_EQ(Stored(chain, chain.keys().device1).since_height, since);
  EXPECT_EQ(Stored(chain, chain.keys().device1).snapshot_height, chain.state().tip().height);
}

TEST(ComplianceTest, TamperThenRepairCountsTheTamperAndIsCompliantAgain) {
  TestChain chain = FleetChain();
  const auto& device = chain.keys().device1;
  Accept(chain, Snapshot("1.0.0", ManifestOf("1.0.0")), device);
  Sha256Digest tampered_root = crypto::Sha256(AsBytes("bin/press modified"));
  Accept(
      chain,
      Report(DeviceReportKind::kTamperDetected, "1.0.0", tampered_root, 1, "modified: bin/press"),
      device);
  uint64_t tamper_height = chain.state().tip().height;
  ComplianceRecord tampered = Stored(chain, device);
  EXPECT_EQ(tampered.state, ComplianceState::kTampered);
  EXPECT_EQ(tampered.since_height, tamper_height);
  EXPECT_EQ(tampered.tamper_count, 1u);
  EXPECT_EQ(tampered.last_tamper_height, tamper_height);
  EXPECT_EQ(tampered.last_tamper_files_changed, 1u);
  EXPECT_EQ(tampered.last_tamper_detail, "modified: bin/press");
  EXPECT_NE(tampered.reason.find("differs from press 1.0.0's manifest root"), std::string::npos)
      << tampered.reason;

  Accept(chain, Report(DeviceReportKind::kRepaired, "1.0.0", ManifestOf("1.0.0"), 1, "restored", 4),
         device);
  ComplianceRecord repaired = Stored(chain, device);
  EXPECT_EQ(repaired.state, ComplianceState::kCompliant);
  EXPECT_EQ(repaired.since_height, chain.state().tip().height);
  EXPECT_EQ(repaired.tamper_count, 1u);
  EXPECT_EQ(repaired.repair_count, 1u);
  EXPECT_EQ(repaired.last_repair_height, chain.state().tip().height);
  EXPECT_EQ(repaired.last_repair_duration_ms, 4u);
  EXPECT_EQ(repaired.last_report_kind, DeviceReportKind::kRepaired);
  EXPECT_EQ(repaired.last_tamper_detail, "modified: bin/press");  // what happened stays visible

  // Repeated tampering accumulates.
  Accept(chain, Report(DeviceReportKind::kTamperDetected, "1.0.0", tampered_root, 1, "again"),
         device);
  EXPECT_EQ(Stored(chain, device).tamper_count, 2u);
}

TEST(ComplianceTest, ARepairThatDoesNotRestoreTheRootStaysTampered) {
  TestChain chain = FleetChain();
  const auto& device = chain.keys().device1;
  Sha256Digest other = crypto::Sha256(AsBytes("still wrong"));
  Accept(chain, Report(DeviceReportKind::kTamperDetected, "1.0.0", other, 2, "x"), device);
  uint64_t since = chain.state().tip().height;
  Accept(chain, Report(DeviceReportKind::kRepaired, "1.0.0", other, 2, "", 9), device);
  ComplianceRecord record = Stored(chain, device);
  EXPECT_EQ(record.state, ComplianceState::kTampered);
  EXPECT_EQ(record.since_height, since);
  EXPECT_NE(record.reason.find("the repair did not restore the release"), std::string::npos);
}

TEST(ComplianceTest, ASnapshotOfAnUnactivatedAppIsUnknown) {
  TestChain chain = FleetChain();
  Accept(chain, Snapshot("1.0.0", ManifestOf("1.0.0")), chain.keys().device2);
  ComplianceRecord record = Stored(chain, chain.keys().device2);
  EXPECT_EQ(record.state, ComplianceState::kUnknown);
  EXPECT_NE(record.reason.find("no release of press to compare with"), std::string::npos)
      << record.reason;
}

TEST(ComplianceTest, AReportNamingAnotherVersionThanTheRunningOneIsBehind) {
  TestChain chain = FleetChain();
  // device1 runs 1.0.0 but its snapshot names 2.0.0, with 2.0.0's root.
  Accept(chain, Snapshot("2.0.0", ManifestOf("2.0.0")), chain.keys().device1);
  ComplianceRecord record = Stored(chain, chain.keys().device1);
  EXPECT_EQ(record.state, ComplianceState::kBehind);
  EXPECT_EQ(record.reported_version, "2.0.0");
  EXPECT_NE(record.reason.find("names press 2.0.0 (it last reported activating 1.0.0)"),
            std::string::npos)
      << record.reason;
  // The report itself is on the ledger as any other.
  EXPECT_TRUE(GetLastReport(chain.state(), chain.keys().device1.public_key(),
                            DeviceReportKind::kIntegritySnapshot)
                  .has_value());
}

TEST(ComplianceTest, AGroupActivationDecidesWhatTheDeviceShouldRun) {
  TestChain chain = FleetChain();
  const auto& keys = chain.keys();
  Accept(chain, Snapshot("1.0.0", ManifestOf("1.0.0")), keys.device1);
  chain.Commit({chain.Sign(Report(DeviceReportKind::kInstalled, "2.0.0"), keys.device1),
                chain.Sign(Report(DeviceReportKind::kInstalled, "2.0.0"), keys.device2)});
  uint64_t effective = chain.state().tip().height + 3;
  ASSERT_TRUE(
      chain
          .Submit(chain.Govern(ActivateRelease{.group = "presses",
                                               .app = "press",
                                               .version = "2.0.0",
                                               .timing = ActivationTiming::kAtHeight,
                                               .at_height = effective,
                                               .at_time_ms = 0,
                                               .threshold_kind = InstalledThresholdKind::kPercent,
                                               .installed_threshold = 100,
                                               .on_missing = MissingVersionPolicy::kHalt}))
          .ok());
  // Pending: device1 still compliant with 1.0.0; device2 never activated anything.
  EXPECT_EQ(Now(chain, keys.device1).state, ComplianceState::kCompliant);
  while (chain.state().tip().height < effective) chain.Commit({});
  // Effective, with no transaction in between: both are behind from the effective height.
  ComplianceRecord device1 = Now(chain, keys.device1);
  EXPECT_EQ(device1.state, ComplianceState::kBehind);
  EXPECT_EQ(device1.since_height, effective);
  EXPECT_EQ(device1.expected_version, "2.0.0");
  EXPECT_NE(device1.reason.find("runs press 1.0.0; it should run 2.0.0"), std::string::npos)
      << device1.reason;
  ComplianceRecord device2 = Now(chain, keys.device2);
  EXPECT_EQ(device2.state, ComplianceState::kBehind);
  EXPECT_NE(device2.reason.find("never reported activating press"), std::string::npos);
  // A snapshot of 1.0.0 judged now is behind, stored.
  Accept(chain, Snapshot("1.0.0", ManifestOf("1.0.0")), keys.device1);
  EXPECT_EQ(Stored(chain, keys.device1).state, ComplianceState::kBehind);
  // device1 activates 2.0.0: unknown until its first snapshot, then compliant.
  Accept(chain, Report(DeviceReportKind::kActivated, "2.0.0"), keys.device1);
  EXPECT_EQ(Now(chain, keys.device1).state, ComplianceState::kUnknown);
  Accept(chain, Snapshot("2.0.0", ManifestOf("2.0.0")), keys.device1);
  EXPECT_EQ(Now(chain, keys.device1).state, ComplianceState::kCompliant);
  // The old release's root is not the new one's.
  Accept(chain, Snapshot("2.0.0", ManifestOf("1.0.0")), keys.device1);
  EXPECT_EQ(Now(chain, keys.device1).state, ComplianceState::kTampered);
}

TEST(ComplianceTest, ComplianceAppsListsActivatedAndReportedApps) {
  TestChain chain = FleetChain();
  EXPECT_EQ(ComplianceApps(chain.state(), chain.keys().device1.public_key(), "presses"),
            std::vector<std::string>{"press"});
  EXPECT_TRUE(ComplianceApps(chain.state(), chain.keys().device2.public_key(), "presses").empty());
}

TEST(ComplianceTest, RecordsAreInTheWriteSetAndReExecutionAgrees) {
  TestChain chain = FleetChain();
  State before = chain.state();
  BlockExecution execution =
      chain.Commit({chain.Sign(Snapshot("1.0.0", ManifestOf("1.0.0")), chain.keys().device1)});
  bool written = false;
  for (const auto& [key, value] : execution.writes) {
    if (!key.empty() && key[0] == static_cast<uint8_t>(Table::kCompliance)) written = true;
  }
  EXPECT_TRUE(written);
  // Another validator re-executing the committed block reaches the same state hash.
  auto replay = ExecuteBlock(before, chain.blocks().back());
  ASSERT_TRUE(replay.has_value()) << replay.error().message();
  EXPECT_EQ(replay->tip.state_hash, execution.tip.state_hash);
  EXPECT_EQ(replay->writes, execution.writes);
}

TEST(ComplianceTest, RecordEncodingRoundTripsAndRefusesBadStates) {
  ComplianceRecord record{.state = ComplianceState::kTampered,
                          .since_height = 7,
                          .expected_version = "1.0.0",
                          .running_version = "1.0.0",
                          .reported_version = "1.0.0",
                          .snapshot_root = ManifestOf("x"),
                          .snapshot_height = 7,
                          .last_report_kind = DeviceReportKind::kTamperDetected,
                          .tamper_count = 3,
                          .last_tamper_height = 7,
                          .last_tamper_files_changed = 2,
                          .last_tamper_detail = "modified: a",
                          .repair_count = 2,
                          .last_repair_height = 5,
                          .last_repair_files_changed = 1,
                          .last_repair_duration_ms = 3,
                          .reason = "because"};
  codec::Encoder encoder;
  EncodeComplianceRecord(encoder, record);
  Bytes bytes = std::move(encoder).Take();
  auto decoded = codec::DecodeExactly(bytes, DecodeComplianceRecord);
  ASSERT_TRUE(decoded.has_value());
  EXPECT_EQ(*decoded, record);
  bytes[0] = 9;
  EXPECT_FALSE(codec::DecodeExactly(bytes, DecodeComplianceRecord).has_value());
}

}  // namespace
}  // namespace vigil::ledger
