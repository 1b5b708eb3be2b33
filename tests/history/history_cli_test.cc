// `vigil publish` and `vigil history` end to end: the real binary against a real one-peer
// cluster (`vigil cluster up`). A real bundle is published with `vigil publish`, a device is
// enrolled with `vigil tx submit`, the device's own key signs its reports (submitted through
// the client API as its gateway would relay them), and `vigil history --app` / `--device`
// must show exactly those rows, each block verified; `vigil compliance` judges the device's
// snapshot (its root is not the release's manifest root: tampered, exit status 1).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "api/client.h"
#include "common/bytes.h"
#include "crypto/crypto.h"
#include "ledger/transaction.h"
#include "peer/cluster.h"
#include "pki/pki.h"
#include "release/bundle.h"
#include "test_support/run_vigil.h"
#include "test_support/temporary_directory.h"

namespace vigil {
namespace {

using test_support::CommandResult;

constexpr int kCommandTimeLimitSeconds = 60;
constexpr std::string_view kApp = "press-control";

CommandResult Vigil(const std::string& arguments) {
  return test_support::RunVigil(arguments, kCommandTimeLimitSeconds);
}

bool Contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// Every line of the output that is a JSON object.
std::vector<nlohmann::json> JsonLines(const std::string& output) {
  std::vector<nlohmann::json> lines;
  std::istringstream stream(output);
  for (std::string line; std::getline(stream, line);) {
    if (!line.starts_with('{')) continue;
    auto json = nlohmann::json::parse(line, nullptr, false);
    if (!json.is_discarded()) lines.push_back(std::move(json));
  }
  return lines;
}

class HistoryCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cluster_ = (directory_.path() / "cluster").string();
    CommandResult up =
        Vigil("cluster up --dir " + cluster_ + " --peers 1 --empty-block-interval-ms 200");
    ASSERT_EQ(up.exit_code, 0) << up.output;
    started_ = true;
  }
  void TearDown() override {
    if (!started_) return;
    CommandResult down = Vigil("cluster down --dir " + cluster_ + " --purge");
    EXPECT_EQ(down.exit_code, 0) << down.output;
  }

  std::filesystem::path Bundle(const std::string& version) {
    auto source = directory_.path() / ("source-" + version);
    std::filesystem::create_directories(source / "bin");
    std::ofstream(source / "bin" / "app") << "#!/bin/sh\nexec sleep 1000 # " << version << "\n";
    std::filesystem::permissions(source / "bin" / "app", std::filesystem::perms(0755));
    auto output = directory_.path() / (std::string(kApp) + "-" + version + ".vigil");
    auto built = release::BuildBundle(
        source, {.app = std::string(kApp), .version = version, .entry = {"bin/app"}, .health = {},
                 .hooks = {}},
        output);
    EXPECT_TRUE(built.has_value()) << built.error().message();
    return output;
  }

  // A device report signed by the device, submitted as its gateway would relay it.
  uint64_t Report(const crypto::PrivateKey& device, uint64_t sequence,
                  ledger::DeviceReportKind kind, const std::string& version, uint64_t duration_ms,
                  const std::string& detail) {
    auto cluster = peer::ReadCluster(cluster_);
    EXPECT_TRUE(cluster.has_value());
    auto credentials = pki::LoadNodeDirectory(cluster->admins.front());
    EXPECT_TRUE(credentials.has_value());
    auto client = api::ApiClient::Connect(*credentials, cluster->peers[0].host,
                                          cluster->peers[0].port, std::chrono::seconds(10));
    EXPECT_TRUE(client.has_value()) << client.error().message();
    ledger::DeviceReport report{.report_kind = kind,
                                .app = std::string(kApp),
                                .version = version,
                                .observed_time_ms = 1'790'000'000'000,
                                .snapshot_root = std::nullopt,
                                .files_changed = 0,
                                .duration_ms = duration_ms,
                                .detail = detail};
    if (kind == ledger::DeviceReportKind::kIntegritySnapshot) {
      report.snapshot_root = crypto::Sha256(ToBytes("what is on disk"));
    }
    Bytes transaction = ledger::SignTransaction(cluster->chain_id, report, sequence, device);
    auto response = (*client)->Submit(transaction, true, std::chrono::seconds(20));
    EXPECT_TRUE(response.has_value()) << response.error().message();
    EXPECT_EQ(response->outcome, api::SubmitOutcome::kCommitted);
    EXPECT_TRUE(response->result.ok()) << response->result.reason;
    return response->height;
  }

  test_support::TemporaryDirectory directory_{"vigil-history-cli"};
  std::string cluster_;
  bool started_ = false;
};

TEST_F(HistoryCliTest, PublishEnrollReportThenTheHistoryShowsExactlyThoseRows) {
  // Publish a real bundle.
  const auto bundle = Bundle("1.0.0");
  CommandResult published =
      Vigil("publish " + bundle.string() + " --cluster " + cluster_ + " --notes first --json");
  ASSERT_EQ(published.exit_code, 0) << published.output;
  std::vector<nlohmann::json> outcome = JsonLines(published.output);
  ASSERT_EQ(outcome.size(), 1u) << published.output;
  EXPECT_EQ(outcome[0]["result"], "ok");
  EXPECT_EQ(outcome[0]["verified"], true);
  EXPECT_EQ(outcome[0]["app"], kApp);
  EXPECT_EQ(outcome[0]["bundle_digest"], ToHex(crypto::Sha256OfFile(bundle).value()));
  EXPECT_EQ(outcome[0]["uploads"][0]["stored"], true);
  const uint64_t publish_height = outcome[0]["height"];

  // The same bundle again: one sentence, exit status 1.
  CommandResult again = Vigil("publish " + bundle.string() + " --cluster " + cluster_);
  EXPECT_EQ(again.exit_code, 1) << again.output;
  EXPECT_TRUE(Contains(again.output, "vigil publish: the ledger refused the release: "
                                     "press-control 1.0.0 already exists"))
      << again.output;

  // Enroll a device, and let it report.
  auto device = crypto::PrivateKey::Generate();
  ASSERT_TRUE(device.has_value());
  const std::string device_hex = ToHex(device->public_key());
  CommandResult enrolled = Vigil("tx submit enroll-device --device-key " + device_hex +
                                 " --group presses --cluster " + cluster_ + " --json");
  ASSERT_EQ(enrolled.exit_code, 0) << enrolled.output;
  const uint64_t enroll_height = JsonLines(enrolled.output).at(0)["height"];
  const uint64_t installed_height =
      Report(*device, 1, ledger::DeviceReportKind::kInstalled, "1.0.0", 1500, "slot a");
  const uint64_t activated_height =
      Report(*device, 2, ledger::DeviceReportKind::kActivated, "1.0.0", 300, "");
  const uint64_t snapshot_height =
      Report(*device, 3, ledger::DeviceReportKind::kIntegritySnapshot, "1.0.0", 0, "");

  CommandResult by_app = Vigil("history --app " + std::string(kApp) + " --cluster " + cluster_ +
                               " --json");
  ASSERT_EQ(by_app.exit_code, 0) << by_app.output;
  std::vector<nlohmann::json> rows = JsonLines(by_app.output);
  ASSERT_EQ(rows.size(), 4u) << by_app.output;
  EXPECT_EQ(rows[0]["kind"], "publish");
  EXPECT_EQ(rows[0]["height"], publish_height);
  EXPECT_EQ(rows[0]["version"], "1.0.0");
  EXPECT_EQ(rows[0]["detail"], "first");
  EXPECT_EQ(rows[0]["transaction_id"], outcome[0]["transaction_id"]);
  EXPECT_EQ(rows[1]["kind"], "installed");
  EXPECT_EQ(rows[1]["height"], installed_height);
  EXPECT_EQ(rows[1]["device"], device_hex);
  EXPECT_EQ(rows[1]["duration_ms"], 1500);
  EXPECT_EQ(rows[1]["detail"], "slot a");
  EXPECT_EQ(rows[1]["observed_time_ms"], 1'790'000'000'000);
  EXPECT_EQ(rows[2]["kind"], "activated");
  EXPECT_EQ(rows[2]["height"], activated_height);
  EXPECT_EQ(rows[3]["kind"], "integrity snapshot");
  EXPECT_EQ(rows[3]["height"], snapshot_height);
  EXPECT_EQ(rows[3]["snapshot_root"], ToHex(crypto::Sha256(ToBytes("what is on disk"))));
  for (const auto& row : rows) EXPECT_EQ(row["result"], "ok");

  CommandResult by_device =
      Vigil("history --device " + device_hex + " --cluster " + cluster_ + " --json");
  ASSERT_EQ(by_device.exit_code, 0) << by_device.output;
  rows = JsonLines(by_device.output);
  ASSERT_EQ(rows.size(), 4u) << by_device.output;
  EXPECT_EQ(rows[0]["kind"], "enroll");
  EXPECT_EQ(rows[0]["height"], enroll_height);
  EXPECT_EQ(rows[0]["detail"], "group presses");
  EXPECT_EQ(rows[1]["kind"], "installed");
  EXPECT_EQ(rows[2]["kind"], "activated");
  EXPECT_EQ(rows[3]["kind"], "integrity snapshot");

  // `vigil compliance`: the snapshot's root is not the release's manifest root, so the device
  // is tampered since that block, and the exit status says not everything is compliant.
  CommandResult compliance = Vigil("compliance --group presses --cluster " + cluster_);
  EXPECT_EQ(compliance.exit_code, 1) << compliance.output;
  EXPECT_TRUE(Contains(compliance.output, "tampered since " + std::to_string(snapshot_height)))
      << compliance.output;
  EXPECT_TRUE(Contains(compliance.output, "summary: 0 of 1 device(s) compliant; 1 tampered"))
      << compliance.output;
  CommandResult compliance_json = Vigil("compliance --cluster " + cluster_ + " --json");
  EXPECT_EQ(compliance_json.exit_code, 1) << compliance_json.output;
  std::vector<nlohmann::json> verdicts = JsonLines(compliance_json.output);
  ASSERT_EQ(verdicts.size(), 1u) << compliance_json.output;
  EXPECT_EQ(verdicts[0]["compliant"], false);
  EXPECT_EQ(verdicts[0]["devices"].at(0)["device"], device_hex);
  EXPECT_EQ(verdicts[0]["devices"].at(0)["apps"].at(0)["state"], "tampered");

  // The table, by a prefix of the key, with the verification said; --limit bounds it.
  CommandResult table = Vigil("history --device " + device_hex.substr(0, 10) + " --cluster " +
                              cluster_ + " --limit 2");
  ASSERT_EQ(table.exit_code, 0) << table.output;
  EXPECT_TRUE(Contains(table.output, "enroll")) << table.output;
  EXPECT_TRUE(Contains(table.output, "took 1500 ms")) << table.output;
  EXPECT_FALSE(Contains(table.output, "integrity snapshot")) << table.output;
  EXPECT_TRUE(Contains(table.output, "2 rows from blocks 1 to")) << table.output;
  EXPECT_TRUE(Contains(table.output, "every block verified against the 1 validators"))
      << table.output;
  EXPECT_TRUE(Contains(table.output, "stopped at --limit 2 rows")) << table.output;

  // Another chain's validators: nothing is shown unverified.
  nlohmann::json genesis = nlohmann::json::parse(std::ifstream(cluster_ + "/genesis.json"));
  genesis["validators"][0]["public_key"] = ToHex(crypto::PrivateKey::Generate()->public_key());
  const std::string tampered = (directory_.path() / "tampered-genesis.json").string();
  std::ofstream(tampered) << genesis.dump(2);
  CommandResult refused = Vigil("history --app " + std::string(kApp) + " --cluster " + cluster_ +
                                " --genesis " + tampered);
  EXPECT_EQ(refused.exit_code, 1) << refused.output;
  EXPECT_TRUE(Contains(refused.output, "does NOT verify")) << refused.output;
  EXPECT_FALSE(Contains(refused.output, "publish ")) << refused.output;

  // A short prefix and no filter are refused with a sentence.
  CommandResult short_prefix = Vigil("history --device abc --cluster " + cluster_);
  EXPECT_EQ(short_prefix.exit_code, 1) << short_prefix.output;
  EXPECT_TRUE(Contains(short_prefix.output, "vigil history: device prefix 'abc' is too short"))
      << short_prefix.output;
  CommandResult nothing = Vigil("history --cluster " + cluster_);
  EXPECT_EQ(nothing.exit_code, 1) << nothing.output;
}

TEST_F(HistoryCliTest, PublishRefusalsAreOneSentenceAndExitStatusOne) {
  ASSERT_EQ(Vigil("publish " + Bundle("2.0.0").string() + " --cluster " + cluster_).exit_code, 0);
  CommandResult older = Vigil("publish " + Bundle("1.0.0").string() + " --cluster " + cluster_);
  EXPECT_EQ(older.exit_code, 1) << older.output;
  EXPECT_TRUE(Contains(older.output, "vigil publish: the ledger refused the release: "
                                     "press-control 1.0.0 is not newer than the latest 2.0.0"))
      << older.output;

  // An admin's key directory: a valid identity that is not a publisher.
  CommandResult outsider = Vigil("publish " + Bundle("3.0.0").string() + " --cluster " +
                                 cluster_ + " --key " + cluster_ + "/admin-1");
  EXPECT_EQ(outsider.exit_code, 1) << outsider.output;
  EXPECT_TRUE(Contains(outsider.output, "is not a publisher")) << outsider.output;

  // No store reachable: not submitted.
  CommandResult unreachable = Vigil("publish " + Bundle("3.0.0").string() + " --cluster " +
                                    cluster_ + " --artifacts https://127.0.0.1:1");
  EXPECT_EQ(unreachable.exit_code, 1) << unreachable.output;
  EXPECT_TRUE(Contains(unreachable.output, "the upload is incomplete")) << unreachable.output;

  // The text answer of a successful publish.
  CommandResult published = Vigil("publish " + Bundle("3.0.0").string() + " --cluster " + cluster_);
  ASSERT_EQ(published.exit_code, 0) << published.output;
  EXPECT_TRUE(Contains(published.output, "published press-control 3.0.0")) << published.output;
  EXPECT_TRUE(Contains(published.output, "verified: the transaction's proof checks against"))
      << published.output;
  // Piped, not a terminal: no progress bar.
  EXPECT_FALSE(Contains(published.output, "uploading to")) << published.output;
}

}  // namespace
}  // namespace vigil
