// Compliance end to end (issue 6): a real peer in this process (its store, consensus, TLS client
// API), two enrolled devices whose own keys sign their reports, a published release with its
// manifest root, a group activation; then the compliance query over the client API and the
// `vigil compliance` core (report, text, JSON, exit code) at each step:
//   activated, no snapshot → unknown; snapshot = manifest root → compliant; tamper → tampered
//   since that block with what changed; repaired → compliant again, tamper count 1.
// Plus the report core on hand-made pages (worst app wins, no-app devices, truncation).
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "api/client.h"
#include "compliance/report.h"
#include "crypto/crypto.h"
#include "ledger/transaction.h"
#include "pki/pki.h"
#include "test_support/in_process_peer.h"
#include "test_support/temporary_directory.h"

namespace vigil {
namespace {

using namespace std::chrono_literals;
using ledger::ComplianceState;
using ledger::DeviceReportKind;

constexpr std::string_view kApp = "press";
constexpr std::string_view kGroup = "line-1";

bool Contains(const std::string& text, std::string_view part) {
  return text.find(part) != std::string::npos;
}

crypto::Sha256Digest ManifestRoot() { return crypto::Sha256(AsBytes("manifest of press 1.0.0")); }

class ComplianceEndToEndTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(peer_.Start(directory_.path() / "cluster", "compliance-test", 100ms));
    const peer::Cluster& cluster = peer_.cluster();
    auto admin = crypto::ReadPrivateKeyFile(cluster.admins.front() / "key.pem");
    auto publisher = crypto::ReadPrivateKeyFile(cluster.publisher / "key.pem");
    ASSERT_TRUE(admin.has_value() && publisher.has_value());
    admin_ = std::make_unique<crypto::PrivateKey>(std::move(*admin));
    publisher_ = std::make_unique<crypto::PrivateKey>(std::move(*publisher));
    for (int i = 0; i < 2; ++i) {
      auto device = crypto::PrivateKey::Generate();
      ASSERT_TRUE(device.has_value());
      devices_.push_back(std::make_unique<crypto::PrivateKey>(std::move(*device)));
    }
    auto credentials = pki::LoadNodeDirectory(cluster.admins.front());
    ASSERT_TRUE(credentials.has_value());
    auto client =
        api::ApiClient::Connect(*credentials, cluster.peers[0].host, cluster.peers[0].port, 5s);
    ASSERT_TRUE(client.has_value()) << client.error().message();
    client_ = std::move(*client);
  }

  void TearDown() override {
    client_.reset();
    peer_.Stop();
  }

  // Submits and waits for its block; returns that block's height. The rules must accept it.
  uint64_t Commit(const ledger::Body& body, const crypto::PrivateKey& signer, uint64_t& sequence) {
    Bytes transaction = ledger::SignTransaction(peer_.cluster().chain_id, body, ++sequence, signer);
    auto response = client_->Submit(transaction, true);
    EXPECT_TRUE(response.has_value()) << response.error().message();
    if (!response) return 0;
    EXPECT_EQ(response->outcome, api::SubmitOutcome::kCommitted) << response->result.reason;
    EXPECT_TRUE(response->result.ok()) << response->result.reason;
    return response->height;
  }

  uint64_t Report(size_t device, DeviceReportKind kind,
                  std::optional<crypto::Sha256Digest> root = std::nullopt,
                  uint32_t files_changed = 0, std::string detail = "", uint64_t duration_ms = 0) {
    ledger::DeviceReport body{.report_kind = kind,
                              .app = std::string(kApp),
                              .version = "1.0.0",
                              .observed_time_ms = 1,
                              .snapshot_root = root,
                              .files_changed = files_changed,
                              .duration_ms = duration_ms,
                              .detail = std::move(detail)};
    return Commit(body, *devices_[device], device_sequences_[device]);
  }

  // Both devices enrolled in line-1, press 1.0.0 published, installed and activated by both,
  // and the group's activation of 1.0.0 recorded.
  void Deploy() {
    for (const auto& device : devices_) {
      Commit(
          ledger::EnrollDevice{
              .device_key = device->public_key(), .group = std::string(kGroup), .labels = {}},
          *admin_, admin_sequence_);
    }
    Commit(ledger::PublishRelease{.app = std::string(kApp),
                                  .version = "1.0.0",
                                  .bundle_digest = crypto::Sha256(AsBytes("bundle")),
                                  .bundle_size_bytes = 1000,
                                  .manifest_root = ManifestRoot(),
                                  .notes = ""},
           *publisher_, publisher_sequence_);
    for (size_t i = 0; i < devices_.size(); ++i) Report(i, DeviceReportKind::kInstalled);
    Commit(ledger::ActivateRelease{.group = std::string(kGroup),
                                   .app = std::string(kApp),
                                   .version = "1.0.0",
                                   .timing = ledger::ActivationTiming::kNext,
                                   .at_height = 0,
                                   .at_time_ms = 0,
                                   .threshold_kind = ledger::InstalledThresholdKind::kPercent,
                                   .installed_threshold = 100,
                                   .on_missing = ledger::MissingVersionPolicy::kHalt},
           *admin_, admin_sequence_);
    for (size_t i = 0; i < devices_.size(); ++i) Report(i, DeviceReportKind::kActivated);
  }

  // What `vigil compliance --group line-1` computes: every page, then the report.
  compliance::ComplianceReport Query(const std::string& group = std::string(kGroup)) {
    std::vector<api::ComplianceResponse> pages;
    auto page = client_->GetCompliance(group, std::nullopt);
    EXPECT_TRUE(page.has_value()) << page.error().message();
    if (page) pages.push_back(std::move(*page));
    return compliance::BuildReport(group, pages);
  }

  const api::ComplianceApp* AppOf(const compliance::ComplianceReport& report, size_t device) {
    for (const auto& verdict : report.devices) {
      if (verdict.device_key != devices_[device]->public_key()) continue;
      for (const auto& app : verdict.apps) {
        if (app.app == kApp) return &app;
      }
    }
    ADD_FAILURE() << "device " << device << " has no row for " << kApp;
    return nullptr;
  }

  test_support::TemporaryDirectory directory_;
  test_support::InProcessPeer peer_;
  std::unique_ptr<crypto::PrivateKey> admin_;
  std::unique_ptr<crypto::PrivateKey> publisher_;
  std::vector<std::unique_ptr<crypto::PrivateKey>> devices_;
  uint64_t admin_sequence_ = 0;
  uint64_t publisher_sequence_ = 0;
  uint64_t device_sequences_[2] = {0, 0};
  std::unique_ptr<api::ApiClient> client_;
};

TEST_F(ComplianceEndToEndTest, SnapshotTamperAndRepairMoveTheVerdict) {
  Deploy();
  // Activated, no snapshot yet: unknown, and the command would exit 1.
  compliance::ComplianceReport report = Query();
  ASSERT_EQ(report.devices.size(), 2u);
  EXPECT_EQ(report.unknown, 2u);
  EXPECT_EQ(compliance::ExitCode(report), 1);
  ASSERT_NE(AppOf(report, 0), nullptr);
  EXPECT_EQ(AppOf(report, 0)->record.expected_version, "1.0.0");

  // Snapshots equal to the manifest root: compliant, exit 0.
  Report(0, DeviceReportKind::kIntegritySnapshot, ManifestRoot());
  uint64_t snapshot_height = Report(1, DeviceReportKind::kIntegritySnapshot, ManifestRoot());
  report = Query();
  EXPECT_EQ(report.compliant, 2u);
  EXPECT_GE(report.height, snapshot_height);
  EXPECT_EQ(compliance::ExitCode(report), 0);
  EXPECT_TRUE(Contains(compliance::FormatText(report), "summary: 2 of 2 device(s) compliant"))
      << compliance::FormatText(report);

  // Device 0 tampered: tampered since that block, with what changed.
  uint64_t tamper_height =
      Report(0, DeviceReportKind::kTamperDetected, crypto::Sha256(AsBytes("bin/app modified")), 1,
             "modified: bin/app");
  report = Query();
  const api::ComplianceApp* app = AppOf(report, 0);
  ASSERT_NE(app, nullptr);
  EXPECT_EQ(app->record.state, ComplianceState::kTampered);
  EXPECT_EQ(app->record.since_height, tamper_height);
  EXPECT_EQ(app->record.tamper_count, 1u);
  EXPECT_EQ(report.tampered, 1u);
  EXPECT_EQ(report.compliant, 1u);
  EXPECT_EQ(compliance::ExitCode(report), 1);
  std::string text = compliance::FormatText(report);
  EXPECT_TRUE(Contains(text, "tampered since " + std::to_string(tamper_height) +
                                 ": 1 file(s) changed: modified: bin/app"))
      << text;
  EXPECT_TRUE(Contains(text, "summary: 1 of 2 device(s) compliant; 1 tampered")) << text;
  nlohmann::json json = compliance::ToJson(report);
  EXPECT_EQ(json["compliant"], false);
  EXPECT_EQ(json["summary"]["tampered"], 1);

  // Repaired: compliant again, the tamper stays counted.
  uint64_t repair_height =
      Report(0, DeviceReportKind::kRepaired, ManifestRoot(), 1, "restored bin/app", 3);
  report = Query();
  app = AppOf(report, 0);
  ASSERT_NE(app, nullptr);
  EXPECT_EQ(app->record.state, ComplianceState::kCompliant);
  EXPECT_EQ(app->record.since_height, repair_height);
  EXPECT_EQ(app->record.tamper_count, 1u);
  EXPECT_EQ(app->record.repair_count, 1u);
  EXPECT_EQ(compliance::ExitCode(report), 0);
  EXPECT_TRUE(
      Contains(compliance::Explain(app->record),
               "repaired at " + std::to_string(repair_height) + " (1 file(s) restored in 3 ms)"))
      << compliance::Explain(app->record);
  EXPECT_TRUE(Contains(compliance::Explain(app->record), "tampered 1 time(s)"));

  // Every group: the same two devices; an unknown group: none.
  EXPECT_EQ(Query("").devices.size(), 2u);
  EXPECT_TRUE(Query("line-2").devices.empty());
}

// --- The report core on hand-made pages ---

api::ComplianceApp App(std::string name, ComplianceState state) {
  ledger::ComplianceRecord record;
  record.state = state;
  record.since_height = 5;
  record.reason = "because";
  return {.app = std::move(name), .record = record};
}

api::ComplianceDevice PageDevice(uint8_t byte, std::vector<api::ComplianceApp> apps) {
  api::ComplianceDevice device{
      .device_key = {}, .group = "g", .apps = std::move(apps), .apps_truncated = false};
  device.device_key.fill(byte);
  return device;
}

TEST(ComplianceReportTest, ADeviceTakesItsWorstAppAndPagesAddUp) {
  api::ComplianceResponse first{.request_id = 1,
                                .height = 9,
                                .block_time_ms = 0,
                                .block_hash = {},
                                .state_hash = {},
                                .devices = {PageDevice(1, {App("a", ComplianceState::kCompliant),
                                                           App("b", ComplianceState::kBehind)}),
                                            PageDevice(2, {})},
                                .devices_truncated = true};
  api::ComplianceResponse second = first;
  second.height = 10;
  second.devices = {PageDevice(3, {App("a", ComplianceState::kCompliant)})};
  second.devices_truncated = false;
  std::vector<api::ComplianceResponse> pages = {first, second};
  compliance::ComplianceReport report = compliance::BuildReport("g", pages);
  EXPECT_EQ(report.devices.size(), 3u);
  EXPECT_EQ(report.behind, 1u);
  EXPECT_EQ(report.compliant, 1u);
  EXPECT_EQ(report.without_apps, 1u);
  EXPECT_FALSE(report.truncated);
  EXPECT_EQ(compliance::ExitCode(report), 1);
  EXPECT_EQ(compliance::SummaryLine(report),
            "summary: 1 of 2 device(s) compliant; 0 tampered, 1 behind, 0 unknown, 1 with no "
            "app to judge at height 9-10");

  // Only compliant and no-app devices: exit 0; cut short by the page limit: exit 1.
  pages = {second};
  pages[0].devices.push_back(PageDevice(4, {}));
  EXPECT_EQ(compliance::ExitCode(compliance::BuildReport("g", pages)), 0);
  pages[0].devices_truncated = true;
  EXPECT_EQ(compliance::ExitCode(compliance::BuildReport("g", pages)), 1);
}

}  // namespace
}  // namespace vigil
