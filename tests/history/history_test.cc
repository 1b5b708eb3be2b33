// The history core over ledger test chains (tests/ledger/test_chain.h): blocks built and
// executed by the real rules, rows filtered by app, device (key or prefix) and height.
#include <gtest/gtest.h>

#include <array>
#include <cctype>
#include <cstring>
#include <map>
#include <optional>

#include "common/bytes.h"
#include "history/history.h"
#include "ledger/test_chain.h"

namespace vigil::history {
namespace {

using ledger::testing::TestChain;

ledger::DeviceReport Report(ledger::DeviceReportKind kind, std::string app, std::string version,
                            uint64_t duration_ms = 0, std::string detail = "") {
  return ledger::DeviceReport{.report_kind = kind,
                              .app = std::move(app),
                              .version = std::move(version),
                              .observed_time_ms = 1'790'000'000'500,
                              .snapshot_root = std::nullopt,
                              .files_changed = 0,
                              .duration_ms = duration_ms,
                              .detail = std::move(detail)};
}

// Publishes press 1.0.0 and dryer 2.0.0, enrolls two devices, and has them report.
class HistoryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto& keys = chain_.keys();
    Commit({chain_.Sign(chain_.Release("press", "1.0.0"), keys.publisher),
                   chain_.Govern(chain_.Enroll(keys.device1)),
                   chain_.Govern(chain_.Enroll(keys.device2, "dryers"))});  // height 1
    Commit({chain_.Sign(chain_.Release("dryer", "2.0.0"), keys.publisher)});  // 2
    Commit(
        {chain_.Sign(Report(ledger::DeviceReportKind::kInstalled, "press", "1.0.0", 1200,
                            "slot 7"),
                     keys.device1),
         chain_.Sign(Report(ledger::DeviceReportKind::kInstalled, "dryer", "2.0.0", 800),
                     keys.device2)});  // 3
    Commit({chain_.Sign(Report(ledger::DeviceReportKind::kActivated, "press", "1.0.0"),
                               keys.device1),
                   // A release nobody published: committed as a refusal, still history.
                   chain_.Sign(Report(ledger::DeviceReportKind::kInstalled, "press", "9.9.9"),
                               keys.device2)});  // 4
    Commit({chain_.Govern(ledger::RevokeDevice{.device_key = keys.device2.public_key(),
                                                      .reason = "stolen"})});  // 5
  }

  std::vector<Row> Query(Filter filter, size_t rows_max = 1000) {
    EXPECT_TRUE(ValidateFilter(filter).has_value());
    HistoryBuilder builder(std::move(filter), rows_max);
    for (size_t i = 0; i < chain_.blocks().size() && !builder.full(); ++i) {
      auto status = builder.AddBlock(chain_.blocks()[i], Results(i));
      EXPECT_TRUE(status.has_value()) << status.error().message();
    }
    EXPECT_TRUE(builder.Finish().has_value());
    return builder.rows();
  }

  // The results the chain committed for block `i`.
  const std::vector<ledger::TransactionResult>& Results(size_t i) const { return results_[i]; }

  void Commit(std::vector<Bytes> transactions) {
    results_.push_back(chain_.Commit(std::move(transactions)).results);
  }

  static std::vector<std::string> Kinds(const std::vector<Row>& rows) {
    std::vector<std::string> kinds;
    for (const Row& row : rows) {
      kinds.push_back(std::string(RowKindName(row.kind)) + "@" + std::to_string(row.height));
    }
    return kinds;
  }

  TestChain chain_;
  std::vector<std::vector<ledger::TransactionResult>> results_;
};

TEST_F(HistoryTest, AnAppsHistoryIsItsPublishAndEveryDeviceReportOnIt) {
  std::vector<Row> rows = Query({.device = "", .app = "press", .since_height = 0});
  EXPECT_EQ(Kinds(rows), (std::vector<std::string>{"publish@1", "installed@3", "activated@4",
                                                   "installed@4"}));
  const Row& publish = rows[0];
  EXPECT_EQ(publish.version, "1.0.0");
  EXPECT_FALSE(publish.device.has_value());
  EXPECT_EQ(publish.signer, chain_.keys().publisher.public_key());
  EXPECT_EQ(publish.bundle_size_bytes, 1234u);
  EXPECT_EQ(publish.detail, "fixes the press timing");
  EXPECT_TRUE(publish.result.ok());
  EXPECT_EQ(publish.block_time_ms, chain_.blocks()[0].header.time_ms);
  EXPECT_EQ(publish.transaction_id, ledger::ComputeTransactionId(chain_.blocks()[0].transactions[0]));

  const Row& installed = rows[1];
  EXPECT_EQ(installed.device, chain_.keys().device1.public_key());
  EXPECT_EQ(installed.duration_ms, 1200u);
  EXPECT_EQ(installed.observed_time_ms, 1'790'000'000'500);
  EXPECT_EQ(installed.detail, "slot 7");
  EXPECT_EQ(installed.index, 0u);

  const Row& refused = rows[3];
  EXPECT_EQ(refused.device, chain_.keys().device2.public_key());
  EXPECT_EQ(refused.version, "9.9.9");
  EXPECT_EQ(refused.result.code, ledger::ResultCode::kNotFound);
  EXPECT_NE(refused.result.reason.find("9.9.9"), std::string::npos) << refused.result.reason;
  EXPECT_EQ(refused.index, 1u);
}

TEST_F(HistoryTest, ADevicesHistoryIsItsEnrolmentReportsAndRevocation) {
  const std::string device2 = ToHex(chain_.keys().device2.public_key());
  std::vector<Row> rows = Query({.device = device2, .app = "", .since_height = 0});
  EXPECT_EQ(Kinds(rows), (std::vector<std::string>{"enroll@1", "installed@3", "installed@4",
                                                   "revoke@5"}));
  EXPECT_EQ(rows[0].detail, "group dryers, labels line=3 site=plant-a");
  EXPECT_EQ(rows[3].detail, "stolen");
  for (const Row& row : rows) EXPECT_EQ(row.device, chain_.keys().device2.public_key());

  // Both filters: AND.
  EXPECT_EQ(Kinds(Query({.device = device2, .app = "dryer", .since_height = 0})),
            (std::vector<std::string>{"installed@3"}));
}

TEST_F(HistoryTest, APrefixOfTheKeyInEitherCaseNamesTheDevice) {
  std::string prefix = ToHex(chain_.keys().device1.public_key()).substr(0, 8);
  for (char& c : prefix) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  EXPECT_EQ(Kinds(Query({.device = prefix, .app = "", .since_height = 0})),
            (std::vector<std::string>{"enroll@1", "installed@3", "activated@4"}));
}

TEST_F(HistoryTest, SinceAndTheRowLimitBoundTheAnswer) {
  EXPECT_EQ(Kinds(Query({.device = "", .app = "press", .since_height = 4})),
            (std::vector<std::string>{"activated@4", "installed@4"}));
  HistoryBuilder builder({.device = "", .app = "", .since_height = 0}, 2);
  ASSERT_TRUE(builder.AddBlock(chain_.blocks()[0], Results(0)).has_value());
  EXPECT_TRUE(builder.full());
  EXPECT_EQ(Kinds(builder.rows()), (std::vector<std::string>{"publish@1", "enroll@1"}));
}

TEST_F(HistoryTest, BlocksOutOfOrderOrWithoutTheirResultsAreRefused) {
  HistoryBuilder builder({.device = "", .app = "", .since_height = 0}, 100);
  ASSERT_TRUE(builder.AddBlock(chain_.blocks()[1], Results(1)).has_value());
  EXPECT_FALSE(builder.AddBlock(chain_.blocks()[0], Results(0)).has_value());
  EXPECT_FALSE(builder.AddBlock(chain_.blocks()[1], Results(1)).has_value());
  auto rows = RowsOfBlock(chain_.blocks()[2], std::vector<ledger::TransactionResult>(1));
  ASSERT_FALSE(rows.has_value());
  EXPECT_NE(rows.error().message().find("2 transactions but 1 results"), std::string::npos);
}

TEST(HistoryFilterTest, RefusesMalformedDevicesAndApps) {
  EXPECT_FALSE(ValidateFilter({.device = "abc", .app = "", .since_height = 0}).has_value());
  EXPECT_FALSE(ValidateFilter({.device = "zzzzzzzzzz", .app = "", .since_height = 0}).has_value());
  EXPECT_FALSE(ValidateFilter({.device = std::string(65, 'a'), .app = "", .since_height = 0})
                   .has_value());
  EXPECT_FALSE(ValidateFilter({.device = "", .app = "Press Control", .since_height = 0})
                   .has_value());
  EXPECT_TRUE(ValidateFilter({.device = "abcdef01", .app = "press", .since_height = 0})
                  .has_value());
}

// Two enrolled devices whose keys share their first 8 hex characters: a prefix of that length
// is ambiguous and must be refused, naming both, rather than mixing their histories.
TEST(HistoryAmbiguityTest, APrefixMatchingTwoDevicesIsRefused) {
  // Deterministic search over seeds for a 32-bit prefix collision (a birthday bound of ~2^16).
  std::map<std::string, uint32_t> seen;
  std::optional<std::pair<uint32_t, uint32_t>> pair;
  constexpr uint32_t kSeedsMax = 400'000;
  for (uint32_t counter = 1; counter < kSeedsMax && !pair; ++counter) {
    std::array<uint8_t, limits::kEd25519SeedBytes> seed{};
    std::memcpy(seed.data(), &counter, sizeof(counter));
    const std::string prefix =
        ToHex(crypto::PrivateKey::FromSeed(seed).value().public_key()).substr(0, 8);
    auto [at, inserted] = seen.emplace(prefix, counter);
    if (!inserted) pair = std::pair(at->second, counter);
  }
  ASSERT_TRUE(pair.has_value());
  auto key_of = [](uint32_t counter) {
    std::array<uint8_t, limits::kEd25519SeedBytes> seed{};
    std::memcpy(seed.data(), &counter, sizeof(counter));
    return crypto::PrivateKey::FromSeed(seed).value();
  };
  crypto::PrivateKey first = key_of(pair->first);
  crypto::PrivateKey second = key_of(pair->second);
  TestChain chain;
  auto execution = chain.Commit({chain.Govern(chain.Enroll(first)), chain.Govern(chain.Enroll(second))});
  const std::string prefix = ToHex(first.public_key()).substr(0, 8);
  HistoryBuilder builder({.device = prefix, .app = "", .since_height = 0}, 100);
  ASSERT_TRUE(builder.AddBlock(chain.blocks()[0], execution.results).has_value());
  auto finished = builder.Finish();
  ASSERT_FALSE(finished.has_value());
  EXPECT_NE(finished.error().message().find("matches 2 devices"), std::string::npos);
  EXPECT_NE(finished.error().message().find(ToHex(second.public_key())), std::string::npos);
  // The full key is not ambiguous.
  HistoryBuilder exact({.device = ToHex(first.public_key()), .app = "", .since_height = 0}, 100);
  ASSERT_TRUE(exact.AddBlock(chain.blocks()[0], execution.results).has_value());
  EXPECT_TRUE(exact.Finish().has_value());
  EXPECT_EQ(exact.rows().size(), 1u);
}

TEST_F(HistoryTest, IntegrityRowsNameTheManifestRootAndNumberTamperEvents) {
  const auto& keys = chain_.keys();
  const crypto::Sha256Digest manifest = crypto::Sha256(AsBytes("manifest"));  // TestChain's
  const crypto::Sha256Digest modified = crypto::Sha256(AsBytes("modified"));
  auto integrity = [](ledger::DeviceReportKind kind, const crypto::Sha256Digest& root,
                      uint32_t files_changed, uint64_t duration_ms, std::string detail) {
    ledger::DeviceReport report = Report(kind, "press", "1.0.0", duration_ms, std::move(detail));
    report.snapshot_root = root;
    report.files_changed = files_changed;
    return report;
  };
  Commit({chain_.Sign(integrity(ledger::DeviceReportKind::kIntegritySnapshot, manifest, 0, 0, ""),
                      keys.device1)});  // 6
  Commit({chain_.Sign(integrity(ledger::DeviceReportKind::kTamperDetected, modified, 1, 0,
                                "modified: bin/press"),
                      keys.device1)});  // 7
  Commit({chain_.Sign(integrity(ledger::DeviceReportKind::kRepaired, manifest, 1, 4, "restored"),
                      keys.device1)});  // 8
  Commit({chain_.Sign(integrity(ledger::DeviceReportKind::kTamperDetected, modified, 2, 0,
                                "modified: bin/press, etc/press.conf"),
                      keys.device1)});  // 9
  std::vector<Row> rows = Query({.device = ToHex(keys.device1.public_key()),
                                 .app = "press",
                                 .since_height = 6});
  ASSERT_EQ(Kinds(rows), (std::vector<std::string>{"integrity snapshot@6", "tamper@7",
                                                   "repaired@8", "tamper@9"}));
  EXPECT_EQ(rows[0].MatchesManifest(), true);
  EXPECT_EQ(rows[1].MatchesManifest(), false);
  EXPECT_EQ(rows[1].manifest_root, manifest);
  EXPECT_EQ(rows[1].tamper_number, 1u);
  EXPECT_EQ(rows[1].files_changed, 1u);
  EXPECT_EQ(rows[1].detail, "modified: bin/press");
  EXPECT_EQ(rows[2].MatchesManifest(), true);
  EXPECT_EQ(rows[2].duration_ms, 4u);
  EXPECT_EQ(rows[2].tamper_number, 0u);
  EXPECT_EQ(rows[3].tamper_number, 2u);  // repeated tampering is visible as such
  // A release the walk never saw published: unknown, not "differs".
  ledger::DeviceReport unpublished =
      integrity(ledger::DeviceReportKind::kIntegritySnapshot, manifest, 0, 0, "");
  unpublished.version = "7.0.0";
  Commit({chain_.Sign(unpublished, keys.device1)});  // 10
  rows = Query({.device = "", .app = "press", .since_height = 10});
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].MatchesManifest(), std::nullopt);
}

}  // namespace
}  // namespace vigil::history
