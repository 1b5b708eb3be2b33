// The audit against real chains in real stores: a clean chain verifies completely, and every
// kind of tampering with the file (through raw SQL, since a BlockStore refuses most of it) is
// caught at the right height with a message that says what differs.
#include "audit/audit.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "audit/stored_chain.h"
#include "consensus/types.h"
#include "ledger/block.h"
#include "ledger/transaction.h"
#include "test_support/temporary_directory.h"

namespace vigil::audit {
namespace {

using testing::QueryBlob;
using testing::RunSql;
using testing::StoredChain;

// The mixed chain: 1 enrolments, 2 a release, 3 reports and a refused publish (position 2),
// 4 a publisher added, 5 removed, 6 empty, 7 a revocation, then restart reports.
constexpr uint64_t kHeight = 12;
constexpr uint64_t kRefusedHeight = 3;

std::string Where(const AuditReport& report) {
  std::string text;
  for (const Finding& finding : report.findings) {
    text += "\n  height " + std::to_string(finding.height) + " " + finding.subject + ": " +
            finding.message + (finding.fatal ? " [fatal]" : "");
  }
  return text;
}

class AuditTest : public ::testing::Test {
 protected:
  AuditTest() : stored_(temporary_.path()) {}

  AuditReport Audit() { return Audit(stored_.chain().genesis()); }
  AuditReport Audit(const ledger::Genesis& genesis, const AuditOptions& options = {}) {
    stored_.Close();
    auto store = store::BlockStore::Open(stored_.store_path(), {.read_only = true});
    EXPECT_TRUE(store.has_value()) << store.error().ToString();
    auto report = AuditChain(**store, genesis, options);
    EXPECT_TRUE(report.has_value()) << report.error().ToString();
    return std::move(*report);
  }

  // The only finding the audit may report, at `height`, about `subject`, saying `words`.
  void ExpectOnlyFinding(const AuditReport& report, uint64_t height, std::string_view subject,
                         std::string_view words) {
    ASSERT_EQ(report.findings.size(), 1u) << Where(report);
    ExpectFinding(report.findings[0], height, subject, words);
    EXPECT_EQ(report.verified_height, kHeight) << "a non-fatal finding must not stop the audit";
    EXPECT_TRUE(report.state_table_compared);
  }
  static void ExpectFinding(const Finding& finding, uint64_t height, std::string_view subject,
                            std::string_view words) {
    EXPECT_EQ(finding.height, height) << finding.message;
    EXPECT_EQ(finding.subject, subject) << finding.message;
    EXPECT_NE(finding.message.find(words), std::string::npos) << finding.message;
  }

  ledger::Block StoredBlock(uint64_t height) {
    stored_.Close();
    Bytes bytes = QueryBlob(stored_.store_path(),
                            "SELECT block FROM blocks WHERE height = " + std::to_string(height));
    return ledger::DecodeBlock(bytes).value();
  }
  // Raw SQL on the store file, once the writer is closed.
  void Tamper(std::string_view sql, std::optional<ByteSpan> blob = std::nullopt) {
    stored_.Close();
    RunSql(stored_.store_path(), sql, blob);
  }
  void ReplaceBlock(uint64_t height, ByteSpan bytes) {
    Tamper("UPDATE blocks SET block = ?1 WHERE height = " + std::to_string(height), bytes);
  }
  consensus::CommitCertificate StoredCertificate(uint64_t height) {
    stored_.Close();
    Bytes bytes = QueryBlob(stored_.store_path(),
                            "SELECT commit_certificate FROM blocks WHERE "
                            "height = " +
                                std::to_string(height));
    return consensus::DecodeCommitCertificate(bytes).value();
  }

  test_support::TemporaryDirectory temporary_{"vigil-audit"};
  StoredChain stored_;
};

TEST_F(AuditTest, ACleanChainVerifiesCompletely) {
  stored_.CommitMixedBlocks(kHeight);
  uint64_t transactions = 0;
  for (const ledger::Block& block : stored_.chain().blocks()) {
    transactions += block.transactions.size();
  }
  std::vector<uint64_t> progress;
  AuditReport report =
      Audit(stored_.chain().genesis(), {.progress = [&](uint64_t height, uint64_t last) {
              EXPECT_EQ(last, kHeight);
              progress.push_back(height);
            }});
  EXPECT_TRUE(report.ok()) << Where(report);
  EXPECT_EQ(report.last_height, kHeight);
  EXPECT_EQ(report.verified_height, kHeight);
  EXPECT_EQ(report.certificates_verified, kHeight);
  EXPECT_EQ(report.transactions, transactions);
  EXPECT_EQ(report.validators, 1u);
  EXPECT_EQ(report.total_voting_power, 1u);
  EXPECT_TRUE(report.state_table_compared);
  EXPECT_TRUE(report.integrity_check_passed);
  EXPECT_EQ(report.state_entries, stored_.chain().state().entries().size());
  EXPECT_EQ(report.tip, stored_.chain().state().tip());
  EXPECT_EQ(report.chain_id, stored_.chain().genesis().chain_id);
  EXPECT_EQ(report.genesis_hash, ledger::GenesisHash(stored_.chain().genesis()));
  EXPECT_EQ(progress.size(), kHeight);
  EXPECT_TRUE(std::ranges::is_sorted(progress));
}

TEST_F(AuditTest, AStoreWithoutBlocksVerifies) {
  AuditReport report = Audit();
  EXPECT_TRUE(report.ok()) << Where(report);
  EXPECT_EQ(report.verified_height, 0u);
  EXPECT_EQ(report.tip, ledger::GenesisState(stored_.chain().genesis()).tip());
}

TEST_F(AuditTest, AnEditedTransactionInAStoredBlockStopsTheAuditAtThatBlock) {
  stored_.CommitMixedBlocks(kHeight);
  ledger::Block block = StoredBlock(kRefusedHeight);
  Bytes encoded = ledger::EncodeBlock(block);
  // Flip the last byte of the first transaction (inside its signature) where it lies in the
  // stored bytes: the block still decodes, the header is untouched.
  const Bytes& transaction = block.transactions[0];
  auto found = std::ranges::search(encoded, transaction);
  ASSERT_FALSE(found.empty());
  encoded[static_cast<size_t>(found.end() - encoded.begin()) - 1] ^= 0x01;
  ReplaceBlock(kRefusedHeight, encoded);

  AuditReport report = Audit();
  ASSERT_FALSE(report.findings.empty());
  const Finding& finding = report.findings.back();
  ExpectFinding(finding, kRefusedHeight, "execution", "transactions root");
  EXPECT_TRUE(finding.fatal);
  EXPECT_EQ(report.verified_height, kRefusedHeight - 1);
  EXPECT_FALSE(report.state_table_compared);
}

TEST_F(AuditTest, AnEditedHeaderIsCaughtByItsHashAndCertificateAndBreaksTheNextLink) {
  stored_.CommitMixedBlocks(kHeight);
  ledger::Block block = StoredBlock(5);
  block.header.time_ms += 1;
  ReplaceBlock(5, ledger::EncodeBlock(block));

  AuditReport report = Audit();
  ASSERT_EQ(report.findings.size(), 3u) << Where(report);
  ExpectFinding(report.findings[0], 5, "block hash", "the header hashes to");
  ExpectFinding(report.findings[1], 5, "commit certificate", "is for value");
  ExpectFinding(report.findings[2], 6, "previous block hash", "block 5 hashes to");
  EXPECT_TRUE(report.findings[2].fatal);
  EXPECT_EQ(report.verified_height, 5u);
}

TEST_F(AuditTest, ABlockThatDoesNotDecodeStopsTheAudit) {
  stored_.CommitMixedBlocks(kHeight);
  stored_.Close();
  Bytes encoded = QueryBlob(stored_.store_path(), "SELECT block FROM blocks WHERE height = 8");
  encoded.push_back(0);  // trailing bytes
  ReplaceBlock(8, encoded);
  AuditReport report = Audit();
  ASSERT_EQ(report.findings.size(), 1u) << Where(report);
  ExpectFinding(report.findings[0], 8, "block", "does not decode");
  EXPECT_TRUE(report.findings[0].fatal);
}

TEST_F(AuditTest, AnEditedStoredBlockHashIsReportedAndTheAuditGoesOn) {
  stored_.CommitMixedBlocks(kHeight);
  Tamper("UPDATE blocks SET hash = ?1 WHERE height = 9",
         AsBytes("0123456789abcdef0123456789abcdef"));
  ExpectOnlyFinding(Audit(), 9, "block hash", "the store says 3031323334353637...");
}

TEST_F(AuditTest, AnEditedResultIsCaught) {
  stored_.CommitMixedBlocks(kHeight);
  // The refused publish claims it was applied.
  Tamper("UPDATE transactions SET result = ?1 WHERE height = 3 AND position = 2",
         ledger::EncodeResult(ledger::TransactionResult{}));
  AuditReport report = Audit();
  ExpectOnlyFinding(report, kRefusedHeight, "transaction 2", "the store says its result is \"ok\"");
  EXPECT_NE(report.findings[0].message.find("re-execution gives \"not-newer: publish refused"),
            std::string::npos)
      << report.findings[0].message;
}

TEST_F(AuditTest, AMissingTransactionRowIsCaught) {
  stored_.CommitMixedBlocks(kHeight);
  Tamper("DELETE FROM transactions WHERE height = 1 AND position = 1");
  AuditReport report = Audit();
  // The store's own integrity check notices too.
  ASSERT_EQ(report.findings.size(), 2u) << Where(report);
  EXPECT_FALSE(report.integrity_check_passed);
  ExpectFinding(report.findings[0], 0, "store integrity",
                "1 blocks whose transaction index does not match their transaction count");
  ExpectFinding(report.findings[1], 1, "transactions", "the store indexes 1, the block holds 2");
}

TEST_F(AuditTest, AnEditedStateHashIsCaught) {
  stored_.CommitMixedBlocks(kHeight);
  Tamper("UPDATE blocks SET state_hash = ?1 WHERE height = 7", Bytes(32, 0xee));
  ExpectOnlyFinding(Audit(), 7, "state hash", "the store says eeeeeeeeeeeeeeee...");
}

TEST_F(AuditTest, EditedAddedAndDeletedStateEntriesAreEachCaught) {
  stored_.CommitMixedBlocks(kHeight);
  const auto& entries = stored_.chain().state().entries();
  Bytes device_key;  // the first device row
  for (const auto& [key, value] : entries) {
    if (key[0] == static_cast<uint8_t>(ledger::Table::kDevice)) {
      device_key = key;
      break;
    }
  }
  ASSERT_FALSE(device_key.empty());
  Bytes admin_key = entries.upper_bound(Bytes{static_cast<uint8_t>(ledger::Table::kAdmin)})->first;
  Tamper("UPDATE state SET value = x'00' WHERE key = ?1", device_key);
  Tamper("DELETE FROM state WHERE key = ?1", admin_key);
  Tamper("INSERT INTO state (key, value, height) VALUES (?1, x'01', 3)", Bytes{0x05, 0xff});

  AuditReport report = Audit();
  ASSERT_EQ(report.findings.size(), 3u) << Where(report);
  // In key order: the admin row (table 2), then the device rows (table 5).
  ExpectFinding(report.findings[0], 0, "state table", "(admin table) is missing from the store");
  ExpectFinding(report.findings[1], 0, "state table",
                "(device table): the store holds 00 (1 bytes), re-execution gives");
  ExpectFinding(report.findings[2], 0, "state table",
                "state key 05ff (device table) is in the store (01 (1 bytes)) but not in the "
                "re-executed state");
}

TEST_F(AuditTest, AForgedCertificateSignatureIsCaught) {
  stored_.CommitMixedBlocks(kHeight);
  consensus::CommitCertificate certificate = StoredCertificate(6);
  certificate.signatures[0].signature[10] ^= 0x40;
  Tamper("UPDATE blocks SET commit_certificate = ?1 WHERE height = 6",
         consensus::EncodeCommitCertificate(certificate));
  AuditReport report = Audit();
  ExpectOnlyFinding(report, 6, "commit certificate", "invalid precommit signature");
  EXPECT_EQ(report.certificates_verified, kHeight - 1);
}

TEST_F(AuditTest, TheLastBlocksMissingCertificateIsCaughtAsItsOnlyProof) {
  stored_.CommitMixedBlocks(kHeight);
  Tamper("UPDATE blocks SET commit_certificate = x'' WHERE height = " + std::to_string(kHeight));
  ExpectOnlyFinding(Audit(), kHeight, "commit certificate",
                    "missing (the last block: nothing else proves it was committed)");
}

TEST_F(AuditTest, ACertificateForAnotherBlockIsCaught) {
  stored_.CommitMixedBlocks(kHeight);
  consensus::CommitCertificate other = StoredCertificate(4);
  Tamper("UPDATE blocks SET commit_certificate = ?1 WHERE height = 3",
         consensus::EncodeCommitCertificate(other));
  ExpectOnlyFinding(Audit(), 3, "commit certificate", "is for height 4, expected 3");
}

ledger::Genesis OtherGenesis(const ledger::Genesis& genesis) {
  ledger::Genesis other = genesis;
  other.genesis_time_ms += 1000;
  return other;
}

TEST_F(AuditTest, AnotherGenesisIsRefusedAtBlockOne) {
  stored_.CommitMixedBlocks(kHeight);
  AuditReport report = Audit(OtherGenesis(stored_.chain().genesis()));
  ASSERT_EQ(report.findings.size(), 2u) << Where(report);
  ExpectFinding(report.findings[0], 0, "metadata", "the stored \"genesis\" hashes to");
  ExpectFinding(report.findings[1], 1, "genesis", "this chain was started from another genesis");
  EXPECT_TRUE(report.findings[1].fatal);
  EXPECT_EQ(report.verified_height, 0u);
}

TEST_F(AuditTest, ChooseGenesisPrefersTheStoredOneAndRefusesAFileOfAnotherChain) {
  stored_.CommitMixedBlocks(2);
  stored_.Close();
  auto store = store::BlockStore::Open(stored_.store_path(), {.read_only = true}).value();
  const ledger::Genesis& genesis = stored_.chain().genesis();
  EXPECT_EQ(ChooseGenesis(*store, std::nullopt).value(), genesis);
  EXPECT_EQ(ChooseGenesis(*store, genesis).value(), genesis);
  auto refused = ChooseGenesis(*store, OtherGenesis(genesis));
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().code(), ErrorCode::kRefused);
  EXPECT_NE(refused.error().message().find("belongs to another chain"), std::string::npos)
      << refused.error().message();
}

TEST_F(AuditTest, ChooseGenesisAsksForAFileWhenTheStoreHasNone) {
  stored_.CommitMixedBlocks(2);
  Tamper("DELETE FROM metadata WHERE name = 'genesis'");
  auto store = store::BlockStore::Open(stored_.store_path(), {.read_only = true}).value();
  auto missing = ChooseGenesis(*store, std::nullopt);
  ASSERT_FALSE(missing.has_value());
  EXPECT_NE(missing.error().message().find("--genesis FILE"), std::string::npos);
  // With the file the audit runs, and reports the missing metadata.
  ledger::Genesis genesis = ChooseGenesis(*store, stored_.chain().genesis()).value();
  store.reset();
  AuditReport report = Audit(genesis);
  ASSERT_EQ(report.findings.size(), 1u) << Where(report);
  ExpectFinding(report.findings[0], 0, "metadata", "the store has no \"genesis\"");
}

TEST_F(AuditTest, AWrongChainIdInTheMetadataIsCaught) {
  stored_.CommitMixedBlocks(kHeight);
  Tamper("UPDATE metadata SET value = ?1 WHERE name = 'chain_id'", AsBytes("plant-b"));
  ExpectOnlyFinding(Audit(), 0, "metadata", "\"chain_id\" is \"plant-b\" but the genesis says");
}

TEST_F(AuditTest, FindingsBeyondTheLimitAreCountedNotKept) {
  stored_.CommitReportBlocks(/*devices=*/60, /*blocks=*/2);
  Tamper("UPDATE transactions SET result = x'00'");
  // 60 enrolments + 120 reports, each result now undecodable.
  AuditReport report = Audit();
  EXPECT_EQ(report.findings.size(), kAuditFindingsMax);
  EXPECT_EQ(report.findings_omitted, 180 - kAuditFindingsMax);
  EXPECT_FALSE(report.ok());
  EXPECT_EQ(report.verified_height, 3u);
}

// Not a unit test: the audit's speed on a larger chain, printed (docs/audit.md#speed).
//   build/<dir>/tests/audit/audit_test --gtest_also_run_disabled_tests --gtest_filter='*Speed*'
// VIGIL_AUDIT_BLOCKS and VIGIL_AUDIT_TRANSACTIONS change the shape (default 200 x 100); with
// VIGIL_AUDIT_CHAIN_DIR the chain is written there and kept, for timing `vigil audit --data`.
TEST(AuditSpeed, DISABLED_ReportBlocks) {
  auto from_environment = [](const char* name, uint64_t fallback) {
    const char* text = std::getenv(name);
    return text == nullptr ? fallback : std::strtoull(text, nullptr, 10);
  };
  const uint64_t blocks = from_environment("VIGIL_AUDIT_BLOCKS", 200);
  const size_t transactions = from_environment("VIGIL_AUDIT_TRANSACTIONS", 100);
  test_support::TemporaryDirectory temporary("vigil-audit-speed");
  const char* keep = std::getenv("VIGIL_AUDIT_CHAIN_DIR");
  const std::filesystem::path directory = keep != nullptr ? keep : temporary.path();
  StoredChain stored(directory);
  stored.CommitReportBlocks(transactions, blocks);
  stored.Close();
  auto store = store::BlockStore::Open(stored.store_path(), {.read_only = true}).value();
  const auto started = std::chrono::steady_clock::now();
  AuditReport report = AuditChain(*store, stored.chain().genesis()).value();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  ASSERT_TRUE(report.ok()) << Where(report);
  std::printf("audit: %llu blocks, %llu transactions in %.2f s: %.0f blocks/s, %.0f tx/s\n",
              static_cast<unsigned long long>(report.verified_height),
              static_cast<unsigned long long>(report.transactions), seconds,
              static_cast<double>(report.verified_height) / seconds,
              static_cast<double>(report.transactions) / seconds);
}

}  // namespace
}  // namespace vigil::audit
