#include "audit/stored_chain.h"

#include <gtest/gtest.h>

#include <array>
#include <string>

#include "audit/audit.h"
#include "common/assert.h"
#include "ledger/block.h"
#include "ledger/transaction.h"
#include "store/sqlite.h"

namespace vigil::audit::testing {

using ledger::DeviceReport;
using ledger::DeviceReportKind;

store::BlockCommit MakeBlockCommit(const ledger::Block& block,
                                   const ledger::BlockExecution& execution,
                                   const consensus::CommitCertificate& certificate,
                                   const ledger::State* genesis_state) {
  const crypto::Sha256Digest hash = ledger::BlockHash(block.header);
  store::BlockCommit commit{
      .height = block.header.height,
      .block_hash = Bytes(hash.begin(), hash.end()),
      .previous_block_hash =
          Bytes(block.header.previous_block_hash.begin(), block.header.previous_block_hash.end()),
      .block = ledger::EncodeBlock(block),
      .commit_certificate = consensus::EncodeCommitCertificate(certificate),
      .transactions = {},
      .state_writes = {},
      .state_hash = Bytes(execution.tip.state_hash.begin(), execution.tip.state_hash.end()),
      .consensus_state = std::nullopt};
  for (size_t i = 0; i < execution.results.size(); ++i) {
    const ledger::TransactionId& id = execution.transaction_ids[i];
    commit.transactions.push_back(
        {Bytes(id.begin(), id.end()), ledger::EncodeResult(execution.results[i])});
  }
  if (genesis_state != nullptr) {
    for (const auto& [key, value] : genesis_state->entries()) {
      commit.state_writes.push_back({key, value});
    }
  }
  for (const auto& [key, value] : execution.writes) commit.state_writes.push_back({key, value});
  return commit;
}

Status WriteChainMetadata(store::BlockStore& store, const ledger::Genesis& genesis) {
  VIGIL_RETURN_IF_ERROR(store.SetMetadata(kChainIdMetadata, AsBytes(genesis.chain_id)));
  return store.SetMetadata(kGenesisMetadata, AsBytes(ledger::GenesisToJson(genesis)));
}

StoredChain::StoredChain(const std::filesystem::path& directory)
    : store_path_(directory / std::string(store::kStoreFileName)) {
  // kNormal: a test needs no power-loss durability, and fsyncs would dominate its run time.
  auto opened = store::BlockStore::Open(store_path_, {.synchronous = store::Synchronous::kNormal});
  VIGIL_ASSERT(opened.has_value());
  store_ = std::move(*opened);
  VIGIL_ASSERT(WriteChainMetadata(*store_, chain_.genesis()).has_value());
}

ledger::BlockExecution StoredChain::Commit(std::vector<Bytes> transactions) {
  VIGIL_ASSERT(store_ != nullptr);
  const bool first = height() == 0;
  const ledger::State genesis_state = first ? chain_.state() : ledger::State();
  ledger::BlockExecution execution = chain_.Commit(std::move(transactions));
  const consensus::CommitCertificate certificate =
      chain_.CertificateFor(execution.tip.height, execution.tip.block_hash);
  Status committed = store_->CommitBlock(MakeBlockCommit(
      chain_.blocks().back(), execution, certificate, first ? &genesis_state : nullptr));
  EXPECT_TRUE(committed.has_value()) << committed.error().ToString();
  return execution;
}

void StoredChain::CommitMixedBlocks(uint64_t target_height) {
  const ledger::testing::Keys& keys = chain_.keys();
  Commit({chain_.Govern(chain_.Enroll(keys.device1)), chain_.Govern(chain_.Enroll(keys.device2))});
  Commit({chain_.Sign(chain_.Release("press", "1.0.0"), keys.publisher)});
  Commit({chain_.Sign(
              DeviceReport{
                  .report_kind = DeviceReportKind::kInstalled, .app = "press", .version = "1.0.0"},
              keys.device1),
          chain_.Sign(DeviceReport{.report_kind = DeviceReportKind::kIntegritySnapshot,
                                   .app = "press",
                                   .snapshot_root = crypto::Sha256(AsBytes("clean"))},
                      keys.device2),
          // Refused (not newer) but included: a committed result that is not ok.
          chain_.Sign(chain_.Release("press", "0.9.0"), keys.publisher)});
  Commit({chain_.Govern(
      ledger::AddPublisher{.publisher_key = keys.outsider.public_key(), .name = "night-build"})});
  Commit({chain_.Govern(ledger::RemovePublisher{.publisher_key = keys.outsider.public_key(),
                                                .reason = "one night only"})});
  Commit({});
  Commit({chain_.Govern(
      ledger::RevokeDevice{.device_key = keys.device2.public_key(), .reason = "stolen"})});
  while (height() < target_height) {
    Commit(
        {chain_.Sign(DeviceReport{.report_kind = DeviceReportKind::kAppRestarted, .app = "press"},
                     keys.device1)});
  }
}

crypto::PrivateKey ReportingDeviceKey(size_t index) {
  std::array<uint8_t, limits::kEd25519SeedBytes> seed{};
  seed.fill(0xa5);
  for (size_t i = 0; i < sizeof(index); ++i) seed[i] = static_cast<uint8_t>(index >> (8 * i));
  return crypto::PrivateKey::FromSeed(seed).value();
}

void StoredChain::CommitReportBlocks(size_t devices, uint64_t blocks) {
  // BuildBlock defers what does not fit a block; enrol in batches well under the limits.
  constexpr size_t kEnrolmentsPerBlock = 200;
  std::vector<crypto::PrivateKey> keys;
  for (size_t i = 0; i < devices; ++i) keys.push_back(ReportingDeviceKey(i));
  for (size_t first = 0; first < devices; first += kEnrolmentsPerBlock) {
    std::vector<Bytes> enrolments;
    for (size_t i = first; i < std::min(devices, first + kEnrolmentsPerBlock); ++i) {
      enrolments.push_back(chain_.Govern(chain_.Enroll(keys[i], "presses")));
    }
    Commit(std::move(enrolments));
  }
  for (uint64_t block = 0; block < blocks; ++block) {
    std::vector<Bytes> reports;
    for (size_t i = 0; i < devices; ++i) {
      const std::string root = std::to_string(block) + "/" + std::to_string(i);
      reports.push_back(
          chain_.Sign(DeviceReport{.report_kind = DeviceReportKind::kIntegritySnapshot,
                                   .app = "press",
                                   .snapshot_root = crypto::Sha256(AsBytes(root))},
                      keys[i]));
    }
    Commit(std::move(reports));
  }
}

void RunSql(const std::filesystem::path& store_path, std::string_view sql,
            std::optional<ByteSpan> blob) {
  auto database = store::SqliteDatabase::Open(store_path, {});
  ASSERT_TRUE(database.has_value()) << database.error().ToString();
  auto statement = (*database)->Prepare(sql);
  ASSERT_TRUE(statement.has_value()) << statement.error().ToString();
  if (blob.has_value()) {
    ASSERT_TRUE((*statement)->BindBlob(1, *blob).has_value());
  }
  Status ran = (*statement)->Run();
  ASSERT_TRUE(ran.has_value()) << ran.error().ToString();
  // A tamper that changes nothing would leave its test unable to fail.
  EXPECT_GE((*statement)->ChangedRows(), 1) << sql;
}

Bytes QueryBlob(const std::filesystem::path& store_path, std::string_view sql) {
  auto database = store::SqliteDatabase::Open(store_path, {.read_only = true});
  VIGIL_ASSERT(database.has_value());
  auto statement = (*database)->Prepare(sql);
  VIGIL_ASSERT(statement.has_value());
  auto row = (*statement)->Step();
  VIGIL_ASSERT(row.has_value() && *row);
  Bytes bytes = (*statement)->ColumnBytes(0);
  (*statement)->Reset();
  return bytes;
}

}  // namespace vigil::audit::testing
